package mosaic_test

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
)

// randString returns strings with the characters JSON encoders get wrong: quotes,
// backslashes, control characters, HTML, U+2028, multi-byte and invalid UTF-8.
func randString(rng *rand.Rand) string {
	parts := []string{"a", "Zoë", "\"", "\\", "\n", "\t", "\x00", "\x1f", "<", ">", "&", "\u2028", "\u2029", "日本", "\xff", "\xe2\x82", "/", " ", "\u007f", "\b", "\f"}
	var b strings.Builder
	for range rng.IntN(8) {
		b.WriteString(parts[rng.IntN(len(parts))])
	}
	return b.String()
}

// randTime returns times from year 0 to 9999: whole seconds, milli- and microseconds, any
// nanosecond; mostly UTC, some in other zones.
func randTime(rng *rand.Rand) time.Time {
	t := time.Unix(rng.Int64N(315537897600)-62167219200, rng.Int64N(1e9)).UTC()
	switch rng.IntN(5) {
	case 0:
		t = t.Truncate(time.Second)
	case 1:
		t = t.Truncate(time.Millisecond)
	case 2:
		t = t.Truncate(time.Microsecond)
	}
	if rng.IntN(8) == 0 {
		t = t.In(time.FixedZone("", (rng.IntN(49)-24)*1800))
		if y := t.Year(); y < 0 || y > 9999 {
			t = t.UTC()
		}
	}
	return t
}

func TestEventAppendJSONDecodesAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	raws := []json.RawMessage{nil, json.RawMessage(`{}`), json.RawMessage(`{"a":[1,2,{"b":null}],"c":"\u00e9"}`), json.RawMessage(`{ "spaced" : true }`)}
	for i := range 2000 {
		e := &mosaic.Event{ID: rng.Int64(), SourceID: mosaic.SourceID(randString(rng)), MessageID: randString(rng), Type: mosaic.EventType(randString(rng)),
			Event: randString(rng), Name: randString(rng), Category: randString(rng), UserID: randString(rng), AnonymousID: randString(rng),
			GroupID: randString(rng), PreviousID: randString(rng), Timestamp: randTime(rng), ReceivedAt: randTime(rng),
			Properties: raws[rng.IntN(len(raws))], Traits: raws[rng.IntN(len(raws))], Context: raws[rng.IntN(len(raws))], Integrations: raws[rng.IntN(len(raws))],
			ProfileID: mosaic.ProfileID(randString(rng))}
		if i%2 == 0 {
			ot, sa := randTime(rng), randTime(rng)
			e.OriginalTimestamp, e.SentAt = &ot, &sa
		}
		if i%3 == 0 { // extras, with names of every kind, and one owned by a field (never written)
			e.Extra = map[string]json.RawMessage{randString(rng): raws[2], "channel": json.RawMessage(`"server"`), "UserID": json.RawMessage(`"x"`)}
			if i%2 == 0 {
				e.Extra["_metadata"] = nil
			}
		}
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(got) {
			t.Fatalf("invalid JSON: %s", got)
		}
		var a, b map[string]any
		if err := json.Unmarshal(want, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got, &b); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("event %d decodes differently (-encoding/json +AppendJSON):\n%s", i, diff)
		}
		// And it reads back whole, extras included.
		var back mosaic.Event
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		again, _ := back.AppendJSON(nil)
		var c map[string]any
		if err := json.Unmarshal(again, &c); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(b, c); diff != "" {
			t.Fatalf("event %d does not read back as written (-written +read back):\n%s", i, diff)
		}
		// The stored form leaves out what stores keep in columns, and with the columns set
		// back it reads as the event (but for its profile, which stores look up).
		stored, err := e.AppendStoredJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(stored, &members); err != nil {
			t.Fatalf("invalid stored JSON %s: %v", stored, err)
		}
		for _, name := range []string{"id", "source_id", "messageId", "type", "event", "userId", "anonymousId", "profile_id"} {
			if _, ok := members[name]; ok {
				t.Fatalf("event %d: stored form has %s: %s", i, name, stored)
			}
		}
		var read mosaic.Event
		if err := json.Unmarshal(stored, &read); err != nil {
			t.Fatal(err)
		}
		read.SetStoredColumns(e.ID, e.SourceID, e.MessageID, e.Type, e.Event, e.UserID, e.AnonymousID)
		read.ProfileID = e.ProfileID
		whole, _ := read.AppendJSON(nil)
		var d map[string]any
		if err := json.Unmarshal(whole, &d); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(b, d); diff != "" {
			t.Fatalf("event %d: stored form with its columns reads differently (-event +stored):\n%s", i, diff)
		}
	}
	// Out-of-range years fail as they do with encoding/json.
	bad := &mosaic.Event{Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := bad.AppendJSON(nil); err == nil {
		t.Fatal("year 10000 encoded")
	}
}

func TestMarshalTraitsDecodesAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	vals := []json.RawMessage{json.RawMessage(`"x"`), json.RawMessage(`12.5`), json.RawMessage(`null`), json.RawMessage(`[1,"a"]`), json.RawMessage(`{"k":{}}`), nil}
	for i := range 1000 {
		tr, src := map[string]json.RawMessage{}, map[string]mosaic.TraitSource{}
		for range rng.IntN(6) {
			k := randString(rng)
			tr[k] = vals[rng.IntN(len(vals))]
			src[k] = mosaic.TraitSource{SourceID: mosaic.SourceID(randString(rng)), MessageID: randString(rng), EventTime: randTime(rng), ReceivedAt: randTime(rng), Rule: randString(rng)}
		}
		if i == 0 {
			tr, src = nil, nil
		}
		for _, c := range []struct {
			v   any
			got []byte
		}{{tr, mosaic.MarshalTraits(tr)}, {src, mosaic.MarshalTraitSources(src)}} {
			want, err := json.Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(want) == "null" {
				want = []byte("{}") // a nil map is stored as {}
			}
			var a, b any
			if err := json.Unmarshal(want, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(c.got, &b); err != nil {
				t.Fatalf("%s: %v", c.got, err)
			}
			if diff := cmp.Diff(a, b); diff != "" {
				t.Fatalf("map %d decodes differently (-encoding/json +ours):\n%s", i, diff)
			}
		}
	}
}

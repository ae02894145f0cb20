package segment_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/segment"
)

func TestParseRequestErrors(t *testing.T) {
	big := `{"type":"track","event":"E","userId":"u","properties":{"pad":"` + strings.Repeat("x", segment.MaxEventBytes) + `"}}`
	var many strings.Builder
	many.WriteString(`{"batch":[`)
	for i := 0; i <= segment.MaxBatchEvents; i++ {
		if i > 0 {
			many.WriteByte(',')
		}
		many.WriteString(`{"type":"page","userId":1}`)
	}
	many.WriteString(`]}`)
	var huge strings.Builder
	huge.WriteString(`{"batch":[`)
	for i := 0; i < 20; i++ {
		if i > 0 {
			huge.WriteByte(',')
		}
		huge.WriteString(`{"type":"track","event":"E","userId":"u","properties":{"pad":"` + strings.Repeat("y", 30<<10) + `"}}`)
	}
	huge.WriteString(`]}`)
	for _, tc := range []struct {
		name, call, body, code, field string
	}{
		{"invalid JSON", "track", `{"type":`, mosaic.EINVALID, ""},
		{"trailing garbage", "track", `{"event":"E","userId":"u"} x`, mosaic.EINVALID, ""},
		{"empty body", "track", ``, mosaic.EINVALID, ""},
		{"array body", "track", `[1,2]`, mosaic.EINVALID, ""},
		{"string body", "batch", `"hello"`, mosaic.EINVALID, ""},
		{"invalid UTF-8", "track", "{\"event\":\"\xff\xfe\",\"userId\":\"u\"}", mosaic.EINVALID, ""},
		{"missing type in batch", "batch", `{"batch":[{"userId":"u"}]}`, mosaic.EINVALID, "batch[0].type"},
		{"unknown type", "batch", `{"batch":[{"type":"click","userId":"u"}]}`, mosaic.EINVALID, "batch[0].type"},
		{"type mismatch", "identify", `{"type":"track","event":"E","userId":"u"}`, mosaic.EINVALID, "type"},
		{"type not string", "batch", `{"batch":[{"type":7,"userId":"u"}]}`, mosaic.EINVALID, "batch[0].type"},
		{"userId object", "track", `{"event":"E","userId":{"id":1}}`, mosaic.EINVALID, "userId"},
		{"userId array", "track", `{"event":"E","userId":[1]}`, mosaic.EINVALID, "userId"},
		{"userId boolean", "track", `{"event":"E","userId":true}`, mosaic.EINVALID, "userId"},
		{"anonymousId object", "page", `{"anonymousId":{}}`, mosaic.EINVALID, "anonymousId"},
		{"track without event", "track", `{"userId":"u"}`, mosaic.EINVALID, "event"},
		{"track blank event", "track", `{"userId":"u","event":"  "}`, mosaic.EINVALID, "event"},
		{"event not string", "track", `{"userId":"u","event":5}`, mosaic.EINVALID, "event"},
		{"no user or anonymous id", "page", `{"name":"Home"}`, mosaic.EINVALID, "userId"},
		{"empty ids", "page", `{"userId":"","anonymousId":"  "}`, mosaic.EINVALID, "userId"},
		{"alias without previousId", "alias", `{"userId":"u"}`, mosaic.EINVALID, "previousId"},
		{"alias without userId", "alias", `{"previousId":"a","anonymousId":"x"}`, mosaic.EINVALID, "userId"},
		{"group without groupId", "group", `{"userId":"u"}`, mosaic.EINVALID, "groupId"},
		{"properties array", "track", `{"userId":"u","event":"E","properties":[1]}`, mosaic.EINVALID, "properties"},
		{"traits string", "identify", `{"userId":"u","traits":"x"}`, mosaic.EINVALID, "traits"},
		{"context number", "identify", `{"userId":"u","context":1}`, mosaic.EINVALID, "context"},
		{"bad timestamp", "track", `{"userId":"u","event":"E","timestamp":"yesterday"}`, mosaic.EINVALID, "timestamp"},
		{"timestamp number", "track", `{"userId":"u","event":"E","timestamp":12}`, mosaic.EINVALID, "timestamp"},
		{"messageId too long", "track", `{"userId":"u","event":"E","messageId":"` + strings.Repeat("m", 101) + `"}`, mosaic.EINVALID, "messageId"},
		{"messageId object", "track", `{"userId":"u","event":"E","messageId":{}}`, mosaic.EINVALID, "messageId"},
		{"writeKey number", "track", `{"userId":"u","event":"E","writeKey":5}`, mosaic.EINVALID, "writeKey"},
		{"empty batch", "batch", `{"batch":[]}`, mosaic.EINVALID, "batch"},
		{"no batch", "batch", `{"writeKey":"k"}`, mosaic.EINVALID, "batch"},
		{"batch not array", "batch", `{"batch":{"type":"track"}}`, mosaic.EINVALID, "batch"},
		{"batch member not object", "batch", `{"batch":[{"type":"page","userId":"u"},"x"]}`, mosaic.EINVALID, "batch[1]"},
		{"bad event names the index", "batch", `{"batch":[{"type":"page","userId":"u"},{"type":"page","userId":"u"},{"type":"track","userId":"u"}]}`, mosaic.EINVALID, "batch[2].event"},
		{"batch sentAt bad", "batch", `{"batch":[{"type":"page","userId":"u"}],"sentAt":"x"}`, mosaic.EINVALID, "sentAt"},
		{"batch context not object", "batch", `{"batch":[{"type":"page","userId":"u"}],"context":[]}`, mosaic.EINVALID, "context"},
		{"duplicate member", "track", `{"userId":"u","userId":"v","event":"E"}`, mosaic.EINVALID, ""},
		{"oversized event", "track", big, mosaic.ETOOLARGE, ""},
		{"oversized batch member", "batch", `{"batch":[` + big + `]}`, mosaic.ETOOLARGE, "batch[0]"},
		{"too many events", "batch", many.String(), mosaic.ETOOLARGE, "batch"},
		{"oversized batch", "batch", huge.String(), mosaic.ETOOLARGE, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := segment.ParseRequest([]byte(tc.body), tc.call)
			if got := mosaic.ErrorCode(err); got != tc.code {
				t.Fatalf("code=%q (%v), want %q", got, err, tc.code)
			}
			if got := mosaic.ErrorField(err); got != tc.field {
				t.Fatalf("field=%q (%v), want %q", got, err, tc.field)
			}
			if mosaic.ErrorMessage(err) == "" || mosaic.ErrorMessage(err) == "Internal error." {
				t.Fatalf("no useful message: %v", err)
			}
		})
	}
}

func TestParseRequestBatch(t *testing.T) {
	body := `{"writeKey":"wk_1","sentAt":"2026-11-26T10:00:05Z","context":{"library":{"name":"analytics-go"},"ip":"1.2.3.4"},
		"batch":[
		{"type":"track","event":"Order Completed","userId":12345,"messageId":"m1","properties":{"revenue":9.5},"context":{"ip":"5.6.7.8"}},
		{"type":"identify","anonymousId":"a1","traits":{"email":"ada@example.com"},"originalTimestamp":"2026-11-26T09:59:00.5Z"},
		{"type":"page","userId":"u","name":"Home","category":"Docs","timestamp":"2026-11-26T10:00:00"}]}`
	req, err := segment.ParseRequest([]byte(body), segment.Batch)
	if err != nil {
		t.Fatal(err)
	}
	if req.WriteKey != "wk_1" || req.SentAt == nil || !req.SentAt.Equal(time.Date(2026, 11, 26, 10, 0, 5, 0, time.UTC)) {
		t.Fatalf("writeKey=%q sentAt=%v", req.WriteKey, req.SentAt)
	}
	if len(req.Messages) != 3 || req.Messages[0].MessageID != "m1" || req.Messages[1].MessageID != "" {
		t.Fatalf("messages: %+v", req.Messages)
	}
	ev, err := segment.DecodeEvent(req.Messages[0].Raw, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if ev.UserID != "12345" || ev.Event != "Order Completed" || ev.Type != mosaic.EventTrack {
		t.Fatalf("event: %+v", ev)
	}
	var ctx map[string]any
	json.Unmarshal(ev.Context, &ctx)
	if ctx["ip"] != "5.6.7.8" || ctx["library"] == nil {
		t.Fatalf("batch context not merged under the event's: %s", ev.Context)
	}
	id, _ := segment.DecodeEvent(req.Messages[1].Raw, "", "")
	if id.OriginalTimestamp == nil || !id.OriginalTimestamp.Equal(time.Date(2026, 11, 26, 9, 59, 0, 5e8, time.UTC)) {
		t.Fatalf("originalTimestamp not used: %v", id.OriginalTimestamp)
	}
	pg, _ := segment.DecodeEvent(req.Messages[2].Raw, "", "")
	if pg.Name != "Home" || pg.Category != "Docs" || pg.OriginalTimestamp.Location() != time.UTC {
		t.Fatalf("page: %+v", pg)
	}
}

func TestParseRequestSingle(t *testing.T) {
	req, err := segment.ParseRequest([]byte(`{"userId":"u1","event":"Signed Up","writeKey":"wk_2","messageId":"abc"}`), "track")
	if err != nil {
		t.Fatal(err)
	}
	if req.WriteKey != "wk_2" || len(req.Messages) != 1 || req.Messages[0].MessageID != "abc" {
		t.Fatalf("request: %+v", req)
	}
	ev, err := segment.DecodeEvent(req.Messages[0].Raw, mosaic.EventTrack, "")
	if err != nil || ev.Type != mosaic.EventTrack {
		t.Fatalf("type from endpoint: %+v %v", ev, err)
	}
}

// TestNumericIDs: a numeric messageId is the message's id (a retry is a duplicate), in a
// single call and in a batch, and an integer id keeps every digit (trial 11: a numeric
// messageId was replaced by a generated one, and two user ids past 2^64 became one).
func TestNumericIDs(t *testing.T) {
	for _, call := range []string{"track", "batch"} {
		body := `{"userId":18446744073709551615,"event":"Order Completed","messageId":777}`
		if call == "batch" {
			body = `{"batch":[{"type":"track","userId":18446744073709551615,"event":"Order Completed","messageId":777}]}`
		}
		req, err := segment.ParseRequest([]byte(body), call)
		if err != nil || len(req.Messages) != 1 || req.Messages[0].MessageID != "777" {
			t.Fatalf("%s: %+v %v, want messageId 777", call, req, err)
		}
		ev, err := segment.DecodeEvent(req.Messages[0].Raw, "", "")
		if err != nil || ev.UserID != "18446744073709551615" || ev.MessageID != "777" {
			t.Fatalf("%s: %+v %v, want the user id's digits as sent", call, ev, err)
		}
	}
	for in, want := range map[string]string{`-42`: "-42", `12.0`: "12", `1e3`: "1000", `0.5`: "0.5"} {
		ev, err := segment.DecodeEvent([]byte(`{"type":"track","event":"E","userId":`+in+`}`), "", "")
		if err != nil || ev.UserID != want {
			t.Errorf("userId %s: %q %v, want %q", in, ev.UserID, err, want)
		}
	}
}

// TestLoneSurrogates: half of an emoji (a lone UTF-16 surrogate escape, as JSON.stringify
// writes a string cut inside one) is kept as the text of its escape instead of refusing the
// batch (trial 11: analytics-node lost five calls with one), so ids that differ in it stay
// apart (trial 13: U+FFFD made two user ids one); pairs and escaped backslashes stay as they
// are.
func TestLoneSurrogates(t *testing.T) {
	body := `{"batch":[{"type":"identify","userId":"sur\ud83d","messageId":"m-\ud83d"},` +
		`{"type":"track","userId":"sur\ud83e","event":"Sale \ud83d","messageId":"m-\ud83e","properties":{"t":"\uDE00 \ud83c\udf89 \\ud83d x\ud83d\u0041"}}]}`
	req, err := segment.ParseRequest([]byte(body), "batch")
	if err != nil || len(req.Messages) != 2 {
		t.Fatalf("%v %+v", err, req)
	}
	if req.Messages[0].MessageID == req.Messages[1].MessageID {
		t.Fatalf("two messageIds that differ in a half emoji are one: %q", req.Messages[0].MessageID)
	}
	first, err1 := segment.DecodeEvent(req.Messages[0].Raw, "", "")
	ev, err := segment.DecodeEvent(req.Messages[1].Raw, "", "")
	if err1 != nil || err != nil || first.UserID != `sur\ud83d` || ev.UserID != `sur\ud83e` {
		t.Fatalf("user ids %q %q (%v %v), want the escapes as text", first.UserID, ev.UserID, err1, err)
	}
	if ev.Event != `Sale \ud83d` || string(ev.Properties) != `{"t":"\\uDE00 \ud83c\udf89 \\ud83d x\\ud83d\u0041"}` {
		t.Fatalf("%q %s", ev.Event, ev.Properties)
	}
}

// TestTimestampForms: the ISO-8601 forms clients send are read (trial 11: +0530 offsets and
// times without seconds refused whole batches).
func TestTimestampForms(t *testing.T) {
	for in, want := range map[string]string{
		"2026-12-01T08:00:00Z": "2026-12-01T08:00:00Z", "2026-12-01T08:00:00.123+01:00": "2026-12-01T07:00:00.123Z",
		"2026-12-01T08:00:00+0530": "2026-12-01T02:30:00Z", "2026-12-01T08:00:00.5-0100": "2026-12-01T09:00:00.5Z",
		"2026-12-01T08:00Z": "2026-12-01T08:00:00Z", "2026-12-01T08:00+02:00": "2026-12-01T06:00:00Z", "2026-12-01T08:00": "2026-12-01T08:00:00Z",
		"2026-12-01 08:00:00+01:00": "2026-12-01T07:00:00Z", "2026-12-01 08:00:00": "2026-12-01T08:00:00Z", "2026-12-01": "2026-12-01T00:00:00Z",
	} {
		ev, err := segment.DecodeEvent([]byte(`{"type":"track","event":"E","userId":"u","timestamp":"`+in+`"}`), "", "")
		if err != nil || ev.OriginalTimestamp == nil || ev.OriginalTimestamp.Format(time.RFC3339Nano) != want {
			t.Errorf("%s: %v %v, want %s", in, ev, err, want)
		}
	}
	if _, err := segment.DecodeEvent([]byte(`{"type":"track","event":"E","userId":"u","timestamp":"yesterday"}`), "", ""); err == nil {
		t.Error("a timestamp that is no time was taken")
	}
}

// FuzzParseRequest checks that no input panics, that every failure is a coded error with a
// message, and that every accepted message decodes again on its own (as the processor does).
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"batch":[{"type":"track","event":"E","userId":"u","properties":{"a":[1,2,{"b":null}]}}]}`,
		`{"type":"identify","userId":42,"traits":{"email":"a@b.c"},"timestamp":"2026-01-02T03:04:05Z"}`,
		`{"batch":[{"type":"alias","previousId":"a","userId":"b"}],"context":{"x":1},"integrations":{"All":true}}`,
		`{"batch":[{"type":"group","groupId":"g","anonymousId":"a","sentAt":"2026-01-02"}],"sentAt":"2026-01-02T03:04:05.123+02:00"}`,
		`{"batch":"nope"}`, `[]`, `{"userId":1e400}`, "{\"userId\":\"\\ud800\"}",
	} {
		f.Add([]byte(s), "batch")
		f.Add([]byte(s), "track")
		f.Add([]byte(s), "identify")
	}
	f.Fuzz(func(t *testing.T, body []byte, call string) {
		if call != segment.Batch && !mosaic.EventType(call).Valid() {
			call = segment.Batch
		}
		req, err := segment.ParseRequest(body, call)
		if err != nil {
			if mosaic.ErrorCode(err) == mosaic.EINTERNAL || mosaic.ErrorMessage(err) == "" {
				t.Fatalf("uncoded error: %v", err)
			}
			return
		}
		for i, m := range req.Messages {
			want := mosaic.EventType("")
			if call != segment.Batch {
				want = mosaic.EventType(call)
			}
			ev, err := segment.DecodeEvent(m.Raw, want, "")
			if err != nil {
				t.Fatalf("message %d accepted but does not decode: %v", i, err)
			}
			if ev.UserID == "" && ev.AnonymousID == "" {
				t.Fatalf("message %d has no id", i)
			}
			if !bytes.HasPrefix(bytes.TrimSpace(m.Raw), []byte("{")) {
				t.Fatalf("message %d is not an object", i)
			}
		}
	})
}

func TestSingleCallPayloadCarriesType(t *testing.T) {
	for _, body := range []string{`{"userId":"u1","event":"E"}`, ` { "userId" : "u1" , "event":"E" } `, `{"type":null,"userId":"u1","event":"E"}`} {
		req, err := segment.ParseRequest([]byte(body), "track")
		if err != nil {
			t.Fatal(err)
		}
		ev, err := segment.DecodeEvent(req.Messages[0].Raw, "", "")
		if err != nil || ev.Type != mosaic.EventTrack {
			t.Fatalf("%s: stored payload %s does not name its type: %v", body, req.Messages[0].Raw, err)
		}
	}
}

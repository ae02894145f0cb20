package segment

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/mosaic-cdp/mosaic"
)

// FuzzParseFast checks the one-pass parser against the careful one: whatever parseFast
// accepts, parseCareful accepts with the same result, and wireEvent.read fills the same
// members as json.Unmarshal.
func FuzzParseFast(f *testing.F) {
	for _, s := range []string{
		`{"batch":[{"type":"track","event":"E","userId":"u","properties":{"a":[1,2,{"b":null}]}}]}`,
		`{"type":"identify","userId":42,"traits":{"email":"a@b.c"},"timestamp":"2026-01-02T03:04:05Z"}`,
		`{"batch":[{"type":"alias","previousId":"a","userId":"b"}],"context":{"x":1},"integrations":{"All":true}}`,
		`{"batch":[{"type":"group","groupId":"g","anonymousId":"a","sentAt":"2026-01-02"}],"sentAt":"2026-01-02T03:04:05.123+02:00"}`,
		`{"batch":[{"type":"page","userId":" u\t","messageId":" m ","name":"N\u00e9"}],"writeKey":"wk_\u0031"}`,
		`{"type":null,"userId":"u","event":"E","messageId":7}`, `{"userId":"u","event":"E","b\u0061tch":1}`,
		`{"batch":[{"type":"page","userId":"u"}]} `, `{"batch":[{"type":"page","userId":"u"}]} {}`,
		`{"batch":[{"type":"page","userId":"u","userId":"v"}]}`, `{"batch":[]}`, `{"batch":null}`,
	} {
		f.Add([]byte(s), "batch")
		f.Add([]byte(s), "track")
		f.Add([]byte(s), "page")
	}
	f.Fuzz(func(t *testing.T, body []byte, call string) {
		if call != Batch && !mosaic.EventType(call).Valid() {
			call = Batch
		}
		checkWire(t, body)
		if !utf8.Valid(body) {
			return
		}
		if k, err := topKind(body); err != nil || k != '{' {
			return // ParseRequest answers before either parser runs
		}
		fast := parseFast(body, call)
		if fast == nil {
			return
		}
		careful, err := parseCareful(body, call)
		if err != nil {
			t.Fatalf("parseFast accepted what parseCareful rejects: %v", err)
		}
		if fast.WriteKey != careful.WriteKey {
			t.Fatalf("writeKey %q, careful %q", fast.WriteKey, careful.WriteKey)
		}
		if (fast.SentAt == nil) != (careful.SentAt == nil) || fast.SentAt != nil && !fast.SentAt.Equal(*careful.SentAt) {
			t.Fatalf("sentAt %v, careful %v", fast.SentAt, careful.SentAt)
		}
		if len(fast.Messages) != len(careful.Messages) {
			t.Fatalf("%d messages, careful %d", len(fast.Messages), len(careful.Messages))
		}
		for i, m := range fast.Messages {
			c := careful.Messages[i]
			if m.MessageID != c.MessageID || !bytes.Equal(m.Raw, c.Raw) {
				t.Fatalf("message %d: %q %s, careful %q %s", i, m.MessageID, m.Raw, c.MessageID, c.Raw)
			}
		}
	})
}

// checkWire checks wireEvent.read against json.Unmarshal, and optString's shortcut against
// a full unquote.
func checkWire(t *testing.T, raw []byte) {
	t.Helper()
	var fast, slow wireEvent
	if !fast.read(raw) {
		return
	}
	if err := json.Unmarshal(raw, &slow); err != nil {
		t.Fatalf("read accepted what json.Unmarshal rejects: %v", err)
	}
	fv, sv := fast.values(), slow.values()
	for i := range fv {
		if (fv[i] == nil) != (sv[i] == nil) || !bytes.Equal(fv[i], sv[i]) {
			t.Fatalf("member %d: %q, json.Unmarshal %q", i, fv[i], sv[i])
		}
		if len(sv[i]) > 0 && sv[i].Kind() == '"' {
			got, err := optString(sv[i], "f")
			want, werr := jsontext.AppendUnquote(nil, sv[i])
			if err != nil || werr != nil || got != string(want) {
				t.Fatalf("optString(%s)=%q, %v; want %q, %v", sv[i], got, err, want, werr)
			}
		}
	}
}

func (w *wireEvent) values() []jsontext.Value {
	return []jsontext.Value{w.Type, w.MessageID, w.Event, w.Name, w.Category, w.UserID, w.AnonymousID, w.GroupID,
		w.PreviousID, w.Timestamp, w.OriginalTimestamp, w.SentAt, w.Properties, w.Traits, w.Context, w.Integrations}
}

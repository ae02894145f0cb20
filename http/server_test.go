package http_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
	mhttp "github.com/mosaic-cdp/mosaic/http"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/processor"
	"github.com/mosaic-cdp/mosaic/sqlite"
	"github.com/mosaic-cdp/mosaic/traits"
)

// testEnv is a running server on a fresh embedded store, with a processor.
type testEnv struct {
	t      *testing.T
	URL    string
	Store  *sqlite.DB
	Source *mosaic.Source
	Owner  string // owner token
	Proc   *processor.Processor
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return newIdentityEnv(t, nil)
}

// newIdentityEnv is newTestEnv with identity resolution by norm: the processor builds
// profiles and the server answers the profile routes (without norm, neither).
func newIdentityEnv(t *testing.T, norm *identity.Normalizer) *testEnv {
	t.Helper()
	db := sqlite.NewDB(t.TempDir())
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := &mosaic.Source{Name: "web"}
	if err := db.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	owner, err := db.CreateToken(ctx, &mosaic.Token{Role: mosaic.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	proc := &processor.Processor{Store: db, Poll: 10 * time.Millisecond}
	srv := &mhttp.Server{Addr: "127.0.0.1:0", Store: db, Appended: proc.Notify}
	if norm != nil {
		proc.Stages = []processor.Stage{&processor.Dedupe{Store: db}, &processor.Identity{Store: db, Normalizer: norm, Traits: &traits.Config{}}}
		srv.Identity = norm
	}
	proc.Open()
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close(context.Background())
		proc.Close()
		db.Close()
	})
	return &testEnv{t: t, URL: srv.URL(), Store: db, Source: src, Owner: owner, Proc: proc}
}

// do sends a request and returns the status and the decoded JSON body.
func (e *testEnv) do(method, path string, body io.Reader, hdr map[string]string) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	return resp.StatusCode, out, resp.Header
}

func (e *testEnv) api(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	st, out, _ := e.do(method, path, rd, map[string]string{"Authorization": "Bearer " + e.Owner, "Content-Type": "application/json"})
	return st, out
}

// waitEvents waits until the processor has caught up and returns the stored events.
func (e *testEnv) waitEvents(query string) []any {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Proc.Drain(ctx); err != nil {
		e.t.Fatal(err)
	}
	st, out := e.api("GET", "/api/v1/events"+query, nil)
	if st != 200 {
		e.t.Fatalf("GET events: %d %v", st, out)
	}
	evs, _ := out["events"].([]any)
	return evs
}

func gz(s string) io.Reader {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return &b
}

func errorCode(out map[string]any) (code, field string) {
	e, _ := out["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

func TestIngestRejects(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	disabled := &mosaic.Source{Name: "off"}
	env.Store.CreateSource(ctx, disabled)
	yes := true
	env.Store.UpdateSource(ctx, disabled.ID, mosaic.SourceUpdate{Disabled: &yes})
	key := string(env.Source.WriteKey)
	basic := func(k string) map[string]string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(k, "")
		return map[string]string{"Authorization": req.Header.Get("Authorization"), "Content-Type": "application/json"}
	}
	withHdr := func(h map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range h {
			out[a] = b
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		path   string
		body   io.Reader
		hdr    map[string]string
		status int
		code   string
		field  string
	}{
		{"invalid JSON", "/v1/track", strings.NewReader(`{"userId":`), basic(key), 400, "invalid", ""},
		{"non-object body", "/v1/batch", strings.NewReader(`[1]`), basic(key), 400, "invalid", ""},
		{"missing type", "/v1/batch", strings.NewReader(`{"batch":[{"userId":"u"}]}`), basic(key), 400, "invalid", "batch[0].type"},
		{"unknown type", "/v1/batch", strings.NewReader(`{"batch":[{"type":"x","userId":"u"}]}`), basic(key), 400, "invalid", "batch[0].type"},
		{"userId object", "/v1/track", strings.NewReader(`{"event":"E","userId":{}}`), basic(key), 400, "invalid", "userId"},
		{"userId boolean", "/v1/identify", strings.NewReader(`{"userId":false}`), basic(key), 400, "invalid", "userId"},
		{"track without event", "/v1/t", strings.NewReader(`{"userId":"u"}`), basic(key), 400, "invalid", "event"},
		{"no ids", "/v1/page", strings.NewReader(`{"name":"Home"}`), basic(key), 400, "invalid", "userId"},
		{"empty batch", "/v1/batch", strings.NewReader(`{"batch":[]}`), basic(key), 400, "invalid", "batch"},
		{"batch not array", "/v1/import", strings.NewReader(`{"batch":"x"}`), basic(key), 400, "invalid", "batch"},
		{"bad event in batch", "/v1/b", strings.NewReader(`{"batch":[{"type":"page","userId":"u"},{"type":"track","userId":"u"}]}`), basic(key), 400, "invalid", "batch[1].event"},
		{"invalid UTF-8", "/v1/track", strings.NewReader("{\"event\":\"\xff\",\"userId\":\"u\"}"), basic(key), 400, "invalid", ""},
		{"oversized event", "/v1/track", strings.NewReader(`{"event":"E","userId":"u","properties":{"p":"` + strings.Repeat("x", 33<<10) + `"}}`), basic(key), 413, "too_large", ""},
		{"oversized batch", "/v1/batch", strings.NewReader(`{"batch":[` + strings.Repeat(`{"type":"page","userId":"u","name":"`+strings.Repeat("n", 1000)+`"},`, 520) + `{"type":"page","userId":"u"}]}`), basic(key), 413, "too_large", ""},
		{"messageId too long", "/v1/track", strings.NewReader(`{"event":"E","userId":"u","messageId":"` + strings.Repeat("m", 101) + `"}`), basic(key), 400, "invalid", "messageId"},
		{"missing write key", "/v1/track", strings.NewReader(`{"event":"E","userId":"u"}`), nil, 401, "unauthorized", ""},
		{"unknown write key", "/v1/track", strings.NewReader(`{"event":"E","userId":"u"}`), basic("wk_nope"), 401, "unauthorized", ""},
		{"unknown write key in body", "/v1/track", strings.NewReader(`{"event":"E","userId":"u","writeKey":"wk_nope"}`), nil, 401, "unauthorized", ""},
		{"disabled source", "/v1/track", strings.NewReader(`{"event":"E","userId":"u"}`), basic(string(disabled.WriteKey)), 403, "forbidden", ""},
		{"bad gzip", "/v1/batch", strings.NewReader("not gzip at all"), withHdr(basic(key), "Content-Encoding", "gzip"), 400, "invalid", ""},
		{"truncated gzip", "/v1/batch", io.LimitReader(gz(`{"batch":[{"type":"page","userId":"u"}]}`), 20), withHdr(basic(key), "Content-Encoding", "gzip"), 400, "invalid", ""},
		{"unknown encoding", "/v1/batch", strings.NewReader(`{}`), withHdr(basic(key), "Content-Encoding", "br"), 415, "unsupported", ""},
		{"unknown endpoint", "/v1/click", strings.NewReader(`{}`), basic(key), 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out, _ := env.do("POST", tc.path, tc.body, tc.hdr)
			code, field := errorCode(out)
			if st != tc.status || code != tc.code || field != tc.field {
				t.Fatalf("got %d %s %q (%v), want %d %s %q", st, code, field, out, tc.status, tc.code, tc.field)
			}
			if out["success"] != false {
				t.Fatalf("success=%v, want false", out["success"])
			}
			msg, _ := out["error"].(map[string]any)["message"].(string)
			if msg == "" || msg == "Internal error." {
				t.Fatalf("no useful message: %v", out)
			}
		})
	}
	// An API token sent to the tracking API: the message says what it is.
	st, out, _ := env.do("POST", "/v1/track", strings.NewReader(`{"event":"E","userId":"u"}`), map[string]string{"Authorization": "Bearer " + env.Owner})
	if msg, _ := out["error"].(map[string]any)["message"].(string); st != 401 || !strings.Contains(msg, "API token") {
		t.Errorf("Bearer token on /v1/track: %d %v", st, out)
	}
	if evs := env.waitEvents(""); len(evs) != 0 {
		t.Fatalf("rejected requests stored %d events", len(evs))
	}
	// Refusals are counted under the source the write key names, even those refused before
	// the body is parsed (413, bad gzip).
	resp, err := http.Get(env.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`mosaic_events_rejected_total{reason="too_large",source="` + string(env.Source.ID) + `"} 2`,
		`mosaic_events_rejected_total{reason="invalid",source="` + string(env.Source.ID) + `"} `,
		`mosaic_events_rejected_total{reason="unauthorized",source="unknown"} `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestIngestAccepts(t *testing.T) {
	env := newTestEnv(t)
	key := string(env.Source.WriteKey)
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(key, "")
	auth := req.Header.Get("Authorization")
	sends := []struct {
		path string
		body io.Reader
		hdr  map[string]string
	}{
		{"/v1/track", strings.NewReader(`{"userId":12345,"event":"Order Completed","messageId":"m-1","properties":{"revenue":42},"timestamp":"2026-11-26T09:00:00Z","sentAt":"2026-11-26T09:00:10Z"}`), map[string]string{"Authorization": auth}},
		{"/v1/identify", strings.NewReader(`{"anonymousId":"a-1","traits":{"email":"ada@example.com"},"writeKey":"` + key + `"}`), map[string]string{"Content-Type": "text/plain"}},
		{"/v1/batch", gz(`{"batch":[{"type":"page","userId":"u-2","name":"Home","messageId":"m-2"},{"type":"screen","userId":"u-2","name":"Cart"},{"type":"group","userId":"u-2","groupId":"acme"},{"type":"alias","previousId":"a-1","userId":"u-2"}]}`), map[string]string{"Authorization": auth, "Content-Encoding": "gzip"}},
		{"/v1/t", strings.NewReader(`{"userId":"12345","event":"Order Completed","messageId":"m-1","writeKey":"` + key + `"}`), nil}, // duplicate messageId
	}
	for _, s := range sends {
		st, out, _ := env.do("POST", s.path, s.body, s.hdr)
		if st != 200 || out["success"] != true {
			t.Fatalf("POST %s: %d %v", s.path, st, out)
		}
	}
	evs := env.waitEvents("")
	if len(evs) != 6 {
		t.Fatalf("stored %d events, want 6 (one duplicate dropped)", len(evs))
	}
	track := env.waitEvents("?user_id=12345")
	if len(track) != 1 {
		t.Fatalf("events of user 12345: %d, want 1", len(track))
	}
	ev := track[0].(map[string]any)
	if ev["event"] != "Order Completed" || ev["messageId"] != "m-1" || ev["properties"].(map[string]any)["revenue"] != 42.0 {
		t.Fatalf("track event: %v", ev)
	}
	// Clock skew: sent 10 s after it happened, so it happened 10 s before it was received.
	ts, _ := time.Parse(time.RFC3339Nano, ev["timestamp"].(string))
	rcv, _ := time.Parse(time.RFC3339Nano, ev["receivedAt"].(string))
	if d := rcv.Sub(ts); d != 10*time.Second {
		t.Fatalf("receivedAt - timestamp = %v, want 10s (skew-corrected)", d)
	}
	id := env.waitEvents("?type=identify")[0].(map[string]any)
	if id["anonymousId"] != "a-1" || !strings.HasPrefix(id["messageId"].(string), "mosaic-") {
		t.Fatalf("identify: %v", id)
	}
	st, stats := env.api("GET", "/api/v1/stats", nil)
	if st != 200 || stats["events"] != 6.0 || stats["duplicates"] != 1.0 || stats["inbox_lag"] != 0.0 {
		t.Fatalf("stats: %d %v", st, stats)
	}
}

func TestCORS(t *testing.T) {
	env := newTestEnv(t)
	st, _, h := env.do("OPTIONS", "/v1/t", nil, map[string]string{"Origin": "https://shop.example",
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
	if st != 204 || h.Get("Access-Control-Allow-Origin") != "https://shop.example" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", st, h)
	}
	body := `{"userId":"u","event":"E","writeKey":"` + string(env.Source.WriteKey) + `"}`
	st, _, h = env.do("POST", "/v1/t", strings.NewReader(body), map[string]string{"Origin": "https://shop.example", "Content-Type": "text/plain"})
	if st != 200 || h.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Fatalf("cross-origin post: %d %v", st, h)
	}
	st, out := env.api("PATCH", "/api/v1/sources/"+string(env.Source.ID), map[string]any{"allowed_origins": []string{"https://www.example"}})
	if st != 200 {
		t.Fatalf("restrict origins: %d %v", st, out)
	}
	st, out, _ = env.do("POST", "/v1/t", strings.NewReader(body), map[string]string{"Origin": "https://evil.example"})
	if code, _ := errorCode(out); st != 403 || code != "forbidden" {
		t.Fatalf("other origin: %d %v, want 403", st, out)
	}
	st, _, _ = env.do("POST", "/v1/t", strings.NewReader(body), map[string]string{"Origin": "https://www.example"})
	if st != 200 {
		t.Fatalf("allowed origin: %d", st)
	}
}

func TestSettingsAndClientMetrics(t *testing.T) {
	env := newTestEnv(t)
	st, out, _ := env.do("GET", "/v1/projects/"+string(env.Source.WriteKey)+"/settings", nil, nil)
	if st != 200 {
		t.Fatalf("settings: %d %v", st, out)
	}
	seg := out["integrations"].(map[string]any)["Segment.io"].(map[string]any)
	host := strings.TrimPrefix(env.URL, "http://")
	if seg["apiHost"] != host+"/v1" || seg["apiKey"] != string(env.Source.WriteKey) || seg["protocol"] != "http" {
		t.Fatalf("Segment.io settings: %v", seg)
	}
	if m := out["metrics"].(map[string]any); m["sampleRate"] != 0.0 {
		t.Fatalf("plain-http settings ask for client metrics (analytics.js sends them over https only): %v", m)
	}
	// Behind a TLS proxy that speaks RFC 7239.
	st, out, h := env.do("GET", "/v1/projects/"+string(env.Source.WriteKey)+"/settings", nil, map[string]string{"Forwarded": `for=1.2.3.4;proto=https;host="cdp.example.com"`})
	seg = out["integrations"].(map[string]any)["Segment.io"].(map[string]any)
	if st != 200 || seg["apiHost"] != "cdp.example.com/v1" || seg["protocol"] != "https" || !strings.Contains(h.Get("Vary"), "Forwarded") {
		t.Fatalf("settings behind Forwarded proxy: %v %v", seg, h)
	}
	st, out, _ = env.do("GET", "/v1/projects/wk_nope/settings", nil, nil)
	if code, _ := errorCode(out); st != 404 || code != "not_found" {
		t.Fatalf("unknown key settings: %d %v", st, out)
	}
	st, _, _ = env.do("POST", "/v1/m", strings.NewReader(`{"series":[]}`), map[string]string{"Content-Type": "text/plain"})
	if st != 200 {
		t.Fatalf("client metrics: %d", st)
	}
}

func TestManagementAPI(t *testing.T) {
	env := newTestEnv(t)
	st, out, h := env.do("GET", "/api/v1/sources", nil, nil)
	if code, _ := errorCode(out); st != 401 || code != "unauthorized" || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d %v", st, out)
	}
	st, out, _ = env.do("GET", "/api/v1/sources", nil, map[string]string{"Authorization": "Bearer mt_wrong"})
	if st != 401 {
		t.Fatalf("wrong token: %d %v", st, out)
	}
	st, out = env.api("POST", "/api/v1/sources", map[string]any{"name": "crm"})
	if st != 201 || out["write_key"] == "" {
		t.Fatalf("create: %d %v", st, out)
	}
	id := out["id"].(string)
	oldKey := out["write_key"].(string)
	st, out = env.api("POST", "/api/v1/sources", map[string]any{"name": "crm"})
	if code, field := errorCode(out); st != 409 || code != "conflict" || field != "name" {
		t.Fatalf("duplicate: %d %v", st, out)
	}
	st, out = env.api("POST", "/api/v1/sources", map[string]any{"nme": "typo"})
	if st != 400 {
		t.Fatalf("unknown field: %d %v", st, out)
	}
	st, out, _ = env.do("POST", "/api/v1/sources", strings.NewReader(`{"name":"two"} {"name":"values"}`), map[string]string{"Authorization": "Bearer " + env.Owner})
	if code, _ := errorCode(out); st != 400 || code != "invalid" {
		t.Fatalf("a body with two JSON values: %d %v", st, out)
	}
	st, out = env.api("PATCH", "/api/v1/sources/"+id, map[string]any{"name": "salesforce"})
	if st != 200 || out["name"] != "salesforce" {
		t.Fatalf("rename: %d %v", st, out)
	}
	st, out = env.api("POST", "/api/v1/sources/"+id+"/rotate-key", nil)
	if st != 200 || out["write_key"] == oldKey {
		t.Fatalf("rotate: %d %v", st, out)
	}
	st, _, _ = env.do("POST", "/v1/track", strings.NewReader(`{"userId":"u","event":"E","writeKey":"`+oldKey+`"}`), nil)
	if st != 401 {
		t.Fatalf("old key after rotation: %d, want 401", st)
	}
	st, out = env.api("GET", "/api/v1/sources", nil)
	if st != 200 || len(out["sources"].([]any)) != 2 {
		t.Fatalf("list: %d %v", st, out)
	}
	st, out = env.api("GET", "/api/v1/sources/src_nope", nil)
	if st != 404 {
		t.Fatalf("missing source: %d %v", st, out)
	}
	reader, _ := env.Store.CreateToken(context.Background(), &mosaic.Token{Role: mosaic.RoleReadOnly})
	st, out, _ = env.do("POST", "/api/v1/sources", strings.NewReader(`{"name":"x"}`), map[string]string{"Authorization": "Bearer " + reader})
	if code, _ := errorCode(out); st != 403 || code != "forbidden" {
		t.Fatalf("read-only create: %d %v", st, out)
	}
	st, out = env.api("GET", "/api/v1/events?limit=0", nil)
	if st != 400 {
		t.Fatalf("bad limit: %d %v", st, out)
	}
	st, out = env.api("GET", "/api/v1/events?cursor=zzz", nil)
	if code, field := errorCode(out); st != 400 || field != "cursor" || code != "invalid" {
		t.Fatalf("bad cursor: %d %v", st, out)
	}
	// An unknown filter is refused, not ignored (trial 11: ?userId=ada listed every event).
	st, out = env.api("GET", "/api/v1/events?userId=ada", nil)
	if _, field := errorCode(out); st != 400 || field != "userId" || !strings.Contains(fmt.Sprint(out), "use user_id") {
		t.Fatalf("camelCase filter: %d %v", st, out)
	}
	st, out = env.api("GET", "/api/v1/events?colour=red", nil)
	if _, field := errorCode(out); st != 400 || field != "colour" {
		t.Fatalf("unknown filter: %d %v", st, out)
	}
	if st, out = env.api("GET", "/api/v1/events?_=1733100000", nil); st != 200 {
		t.Fatalf("cache buster: %d %v", st, out)
	}
	// So do the other lists, and a filter given twice (trial 13: only the first counted).
	for path, field := range map[string]string{"/api/v1/events?user_id=a&user_id=b": "user_id", "/api/v1/profiles?userId=a": "userId",
		"/api/v1/imports?foo=1": "foo", "/api/v1/matches?foo=1": "foo",
		// An empty filter is refused too (it listed every event).
		"/api/v1/events?user_id=": "user_id", "/api/v1/events?anonymous_id=%20": "anonymous_id", "/api/v1/events?source=": "source"} {
		st, out = env.api("GET", path, nil)
		if _, f := errorCode(out); st != 400 || f != field {
			t.Errorf("%s: %d %v, want 400 naming %s", path, st, out, field)
		}
	}
}

// TestTokenAPI: owners list, create and revoke API tokens; a revoked secret stops working at
// once; the last owner token cannot be revoked; other roles may do none of it.
func TestTokenAPI(t *testing.T) {
	env := newTestEnv(t)
	st, out := env.api("POST", "/api/v1/tokens", map[string]any{"role": "support", "name": "helpdesk"})
	if st != 201 || out["secret"] == nil || out["id"] == nil || out["role"] != "support" {
		t.Fatalf("create: %d %v", st, out)
	}
	id, secret := out["id"].(string), out["secret"].(string)
	bearer := map[string]string{"Authorization": "Bearer " + secret}
	if st, out, _ := env.do("GET", "/api/v1/sources", nil, bearer); st != 200 {
		t.Fatalf("the new token: %d %v", st, out)
	}
	if st, out, _ := env.do("GET", "/api/v1/tokens", nil, bearer); st != 403 {
		t.Fatalf("support lists tokens: %d %v", st, out)
	}
	st, out = env.api("GET", "/api/v1/tokens", nil)
	if toks, _ := out["tokens"].([]any); st != 200 || len(toks) != 2 || strings.Contains(fmt.Sprint(out), secret) {
		t.Fatalf("list: %d %v", st, out)
	}
	for _, tc := range []struct {
		body  any
		field string
		msg   string
	}{
		{map[string]any{"role": "king"}, "role", "Unknown role"},
		{map[string]any{"name": "no role"}, "role", "A role is required"},
		{map[string]any{"role": "owner", "scope": "all"}, "scope", `Unknown field "scope".`},
		{map[string]any{"role": 5}, "role", "role: a JSON number is not a valid value here (want a string)."},
		{[]string{"role"}, "", "The body is a JSON array; it must be an object."},
	} {
		st, out := env.api("POST", "/api/v1/tokens", tc.body)
		e, _ := out["error"].(map[string]any)
		if code, field := errorCode(out); st != 400 || code != "invalid" || field != tc.field || !strings.Contains(fmt.Sprint(e["message"]), tc.msg) {
			t.Errorf("create %v: %d %v, want field %q and %q", tc.body, st, out, tc.field, tc.msg)
		}
	}
	if st, out, _ := env.do("POST", "/api/v1/tokens", nil, map[string]string{"Authorization": "Bearer " + env.Owner}); st != 400 ||
		!strings.Contains(fmt.Sprint(out), "needs a JSON object") {
		t.Errorf("create without a body: %d %v", st, out)
	}
	// Roles that may not manage sources do not see write keys (they could send data with them).
	_, listed, _ := env.do("GET", "/api/v1/sources", nil, bearer)
	for _, src := range listed["sources"].([]any) {
		if k := src.(map[string]any)["write_key"]; k != "" {
			t.Errorf("a support token sees write key %v", k)
		}
	}
	if _, one, _ := env.do("GET", "/api/v1/sources/"+string(env.Source.ID), nil, bearer); one["write_key"] != "" {
		t.Errorf("a support token sees write key %v", one["write_key"])
	}
	if _, owned := env.api("GET", "/api/v1/sources/"+string(env.Source.ID), nil); owned["write_key"] != string(env.Source.WriteKey) {
		t.Errorf("the owner sees write key %v", owned["write_key"])
	}
	if st, out := env.api("DELETE", "/api/v1/tokens/"+id, nil); st != 204 {
		t.Fatalf("revoke: %d %v", st, out)
	}
	if st, out, _ := env.do("GET", "/api/v1/sources", nil, bearer); st != 401 || !strings.Contains(fmt.Sprint(out), "revoked") {
		t.Fatalf("a revoked token: %d %v (the message says it may be revoked)", st, out)
	}
	if st, out := env.api("DELETE", "/api/v1/tokens/"+id, nil); st != 404 {
		t.Fatalf("revoke again: %d %v", st, out)
	}
	if st, out = env.api("GET", "/api/v1/tokens", nil); st != 200 {
		t.Fatalf("list tokens: %d %v", st, out)
	}
	ownerID := out["tokens"].([]any)[0].(map[string]any)["id"].(string)
	if st, out := env.api("DELETE", "/api/v1/tokens/"+ownerID, nil); st != 409 {
		t.Fatalf("revoke the last owner token: %d %v", st, out)
	}
}

func TestHealth(t *testing.T) {
	env := newTestEnv(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if st, out, _ := env.do("GET", p, nil, nil); st != 200 {
			t.Fatalf("%s: %d %v", p, st, out)
		}
	}
	env.do("POST", "/v1/track", strings.NewReader(`{"userId":"u","event":"E","writeKey":"`+string(env.Source.WriteKey)+`"}`), nil)
	resp, err := http.Get(env.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"mosaic_events_accepted_total{source=\"" + string(env.Source.ID) + "\"} 1",
		"mosaic_http_request_duration_seconds_bucket", "mosaic_inbox_lag"} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
}

func TestTrackingCallWithTheWrongMethod(t *testing.T) {
	e := newTestEnv(t)
	code, body, hdr := e.do("GET", "/v1/track", nil, nil)
	if code != 405 || hdr.Get("Allow") != "POST, OPTIONS" || body["error"].(map[string]any)["code"] != "method_not_allowed" {
		t.Fatalf("GET /v1/track: %d %q %v", code, hdr.Get("Allow"), body)
	}
	if code, _, _ := e.do("GET", "/v1/nothing/here", nil, nil); code != 404 {
		t.Fatalf("GET /v1/nothing/here: %d", code)
	}
}

func TestAPICallWithTheWrongMethod(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		method, path, allow string
	}{
		{"GET", "/api/v1/profiles/prof_x/split", "POST"},
		{"DELETE", "/api/v1/profiles/prof_x", "GET, HEAD"},
		{"POST", "/api/v1/events", "GET, HEAD"},
		{"PUT", "/api/v1/sources/src_x", "GET, HEAD, PATCH"},
		{"DELETE", "/api/v1/sources", "GET, HEAD, POST"},
		{"POST", "/healthz", "GET, HEAD"},
		{"GET", "/api/v1/profiles/rebuild", "POST"}, // not a lookup of profile "rebuild"
		{"DELETE", "/api/v1/profiles/rebuild", "POST"},
	} {
		code, body, hdr := e.do(tc.method, tc.path, nil, map[string]string{"Authorization": "Bearer " + e.Owner})
		if c, _ := errorCode(body); code != 405 || hdr.Get("Allow") != tc.allow || c != "method_not_allowed" {
			t.Errorf("%s %s: %d Allow %q %v, want 405 Allow %q method_not_allowed", tc.method, tc.path, code, hdr.Get("Allow"), body, tc.allow)
		}
	}
	for _, path := range []string{"/api/v1/nothing", "/api/v1/profiles/prof_x/nothing", "/nothing"} {
		if code, body, _ := e.do("GET", path, nil, map[string]string{"Authorization": "Bearer " + e.Owner}); code != 404 {
			t.Errorf("GET %s: %d %v, want 404", path, code, body)
		} else if c, _ := errorCode(body); c != "not_found" {
			t.Errorf("GET %s: code %q, want not_found", path, c)
		}
	}
}

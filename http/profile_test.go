package http_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
)

func mustNormalizer(t *testing.T, cfg identity.Config) *identity.Normalizer {
	t.Helper()
	n, err := identity.NewNormalizer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// send posts a batch of calls with the source's write key and waits until it is processed.
func (e *testEnv) send(batch string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(string(e.Source.WriteKey), "")
	st, out, _ := e.do("POST", "/v1/batch", strings.NewReader(`{"batch":[`+batch+`]}`), map[string]string{"Authorization": req.Header.Get("Authorization")})
	if st != 200 {
		e.t.Fatalf("POST /v1/batch: %d %v", st, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Proc.Drain(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// profileOf returns the id of the live profile holding an identifier.
func (e *testEnv) profileOf(typ, value string) string {
	e.t.Helper()
	st, p := e.api("GET", "/api/v1/profiles/lookup?type="+typ+"&value="+url.QueryEscape(value), nil)
	if st != 200 {
		e.t.Fatalf("lookup %s %s: %d %v", typ, value, st, p)
	}
	return p["id"].(string)
}

func TestEventsShowTheCurrentProfile(t *testing.T) {
	e := newIdentityEnv(t, mustNormalizer(t, identity.DefaultConfig()))
	e.send(`{"type":"track","event":"Viewed","anonymousId":"a-1","timestamp":"2026-11-01T10:00:00Z"},
		{"type":"identify","userId":"bob","traits":{"name":"Bob"},"timestamp":"2026-11-01T10:01:00Z"},
		{"type":"track","event":"Ordered","userId":"bob","timestamp":"2026-11-01T10:02:00Z"}`)
	if e.profileOf("user_id", "bob") == e.profileOf("anonymous_id", "a-1") {
		t.Fatal("bob and a-1 are one profile before they are linked")
	}
	e.send(`{"type":"identify","userId":"bob","anonymousId":"a-1","timestamp":"2026-11-01T10:03:00Z"}`) // merges them
	live := e.profileOf("user_id", "bob")
	if got := e.profileOf("anonymous_id", "a-1"); got != live {
		t.Fatalf("a-1 is on %s, bob on %s: not merged", got, live)
	}
	st, p := e.api("GET", "/api/v1/profiles/"+live, nil)
	if st != 200 || len(p["merged_from"].([]any)) != 1 {
		t.Fatalf("survivor: %d %v", st, p)
	}
	for _, path := range []string{"/api/v1/events?user_id=bob", "/api/v1/events", "/api/v1/events?type=track", "/api/v1/profiles/" + live + "/events"} {
		st, out := e.api("GET", path, nil)
		evs, _ := out["events"].([]any)
		if st != 200 || len(evs) == 0 {
			t.Fatalf("GET %s: %d %v", path, st, out)
		}
		for _, ev := range evs {
			if ev := ev.(map[string]any); ev["profile_id"] != live {
				t.Errorf("GET %s: event %v %v has profile_id %v, want the survivor %s", path, ev["type"], ev["event"], ev["profile_id"], live)
			}
		}
	}
}

func TestProfileTimelineFilters(t *testing.T) {
	e := newIdentityEnv(t, mustNormalizer(t, identity.DefaultConfig()))
	e.send(`{"type":"identify","userId":"ada","traits":{"name":"Ada"},"timestamp":"2026-11-01T10:00:00Z"},
		{"type":"track","event":"Viewed","userId":"ada","timestamp":"2026-11-01T10:01:00Z"},
		{"type":"track","event":"Ordered","userId":"ada","timestamp":"2026-11-01T10:02:00Z"},
		{"type":"page","name":"Home","userId":"ada","timestamp":"2026-11-01T10:03:00Z"}`)
	id := e.profileOf("user_id", "ada")
	count := func(path string) int {
		t.Helper()
		st, out := e.api("GET", path, nil)
		if st != 200 {
			t.Fatalf("GET %s: %d %v", path, st, out)
		}
		return len(out["events"].([]any))
	}
	timeline := "/api/v1/profiles/" + id + "/events"
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", 4},
		{"?type=track", 2},
		{"?type=page", 1},
		{"?type=track&event=Ordered", 1},
		{"?event=Nothing", 0},
		{"?source=web&type=identify", 1},
		{"?limit=1", 1},
	} {
		if got := count(timeline + tc.query); got != tc.want {
			t.Errorf("timeline%s: %d events, want %d", tc.query, got, tc.want)
		}
		if got := count("/api/v1/events" + tc.query); got != tc.want {
			t.Errorf("events%s: %d events, want %d", tc.query, got, tc.want)
		}
	}
	for _, q := range []string{"?type=bogus", "?limit=0", "?cursor=garbage", "?source=nope"} {
		st1, want := e.api("GET", "/api/v1/events"+q, nil)
		st2, got := e.api("GET", timeline+q, nil)
		c1, f1 := errorCode(want)
		c2, f2 := errorCode(got)
		if st1 < 400 || st2 != st1 || c2 != c1 || f2 != f1 {
			t.Errorf("%s: timeline answers %d %s %s, events %d %s %s", q, st2, c2, f2, st1, c1, f1)
		}
	}
	if st, out := e.api("GET", timeline+"?type=bogus", nil); st != 400 {
		t.Errorf("timeline?type=bogus: %d %v", st, out)
	} else if c, f := errorCode(out); c != "invalid" || f != "type" {
		t.Errorf("timeline?type=bogus: code %q field %q", c, f)
	}
}

func TestProfileSearchFindsWhatLookupFinds(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.DefaultRegion = "DK"
	e := newIdentityEnv(t, mustNormalizer(t, cfg))
	e.send(`{"type":"identify","userId":"carl","traits":{"phone":"20 12 34 56","email":"Carl@Example.com"},"timestamp":"2026-11-01T10:00:00Z"},
		{"type":"identify","anonymousId":"a-9","traits":{"name":"Dora"},"timestamp":"2026-11-01T10:01:00Z"}`)
	carl := e.profileOf("phone", "20123456")
	dora := e.profileOf("anonymous_id", "a-9")
	e.send(`{"type":"identify","userId":"carl","anonymousId":"a-9","timestamp":"2026-11-01T10:02:00Z"}`) // merges dora into carl, or carl into dora
	live := e.profileOf("user_id", "carl")
	merged := carl
	if live == carl {
		merged = dora
	}
	for _, q := range []string{"20123456", "20 12 34 56", "+45 20 12 34 56", "+4520", "carl", "CARL@example.com", live, merged, " " + merged + " "} {
		st, out := e.api("GET", "/api/v1/profiles?q="+url.QueryEscape(q), nil)
		ps, _ := out["profiles"].([]any)
		if st != 200 || len(ps) != 1 || ps[0].(map[string]any)["id"] != live {
			t.Errorf("search %q: %d %v, want the one profile %s", q, st, out, live)
		}
	}
	for _, q := range []string{"2012345", "30123456", "prof_nope"} {
		if st, out := e.api("GET", "/api/v1/profiles?q="+url.QueryEscape(q), nil); st != 200 || len(out["profiles"].([]any)) != 0 {
			t.Errorf("search %q: %d %v, want none", q, st, out)
		}
	}
}

// TestSearchDoesNotReadWordsAsNumbers: a type normalised to digits (customer numbers) is
// searched with a query of digits and separators only: "X100" and "Mrs 100" are words, not
// customer number 100.
func TestSearchDoesNotReadWordsAsNumbers(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.Rules = append(cfg.Rules, identity.Rule{Type: "customer_number", Priority: 3, Limit: 1, Paths: []string{"traits.customer_number"}, Normalize: []string{"trim", "digits"}})
	e := newIdentityEnv(t, mustNormalizer(t, cfg))
	e.send(`{"type":"identify","userId":"u1","traits":{"customer_number":"1001"},"timestamp":"2026-11-01T10:00:00Z"}`)
	for q, want := range map[string]int{"1001": 1, "10-01": 1, " 100": 1, "X100": 0, "Mrs 100": 0, "K10": 0} {
		st, out := e.api("GET", "/api/v1/profiles?q="+url.QueryEscape(q), nil)
		if ps, _ := out["profiles"].([]any); st != 200 || len(ps) != want {
			t.Errorf("search %q: %d %v, want %d profiles", q, st, out, want)
		}
	}
}

// TestEventsByUserAndAnonymousIDThroughTheGraph: the embedded store finds events by userId
// and anonymousId through the identity graph (no index of every event's ids). The API's
// answers must be exactly what looking at every event gives (the store's path without
// identifier keys), for events filed under another identifier: an anonymous id seen with a
// user id, alias calls (previousId filed as a user id), a kiosk whose links were refused, a
// userId that is no identifier, padded values, pages of two.
func TestEventsByUserAndAnonymousIDThroughTheGraph(t *testing.T) {
	e := newIdentityEnv(t, mustNormalizer(t, identity.DefaultConfig()))
	var b strings.Builder
	add := func(body string) {
		if b.Len() > 0 {
			b.WriteString(",")
		}
		b.WriteString(body)
	}
	add(`{"type":"track","event":"Viewed","anonymousId":"a-1","timestamp":"2026-11-01T10:00:00Z"}`)
	add(`{"type":"identify","userId":"bob","anonymousId":"a-1","timestamp":"2026-11-01T10:01:00Z"}`)
	add(`{"type":"track","event":"Ordered","userId":"bob","anonymousId":"a-2","timestamp":"2026-11-01T10:02:00Z"}`)
	add(`{"type":"alias","previousId":"a-3","userId":"bob","timestamp":"2026-11-01T10:03:00Z"}`)
	add(`{"type":"alias","previousId":"old-bob","userId":"bob","timestamp":"2026-11-01T10:04:00Z"}`)
	add(`{"type":"track","event":"Old","userId":"old-bob","timestamp":"2026-10-01T10:00:00Z"}`)
	for i := range 14 { // a kiosk: more user ids than the hub threshold
		add(fmt.Sprintf(`{"type":"track","event":"Kiosk","userId":"k-user-%d","anonymousId":"kiosk","timestamp":"2026-11-01T11:%02d:00Z"}`, i, i))
	}
	add(`{"type":"track","event":"Junk","userId":"null","anonymousId":"a-9","timestamp":"2026-11-01T12:00:00Z"}`)
	add(`{"type":"track","event":"Padded","userId":" bob ","timestamp":"2026-11-01T12:01:00Z"}`)
	add(`{"type":"page","name":"Home","userId":"carol","timestamp":"2026-11-01T12:02:00Z"}`)
	e.send(b.String())

	ids := func(evs []*mosaic.Event) []string {
		var out []string
		for _, ev := range evs {
			out = append(out, ev.MessageID)
		}
		return out
	}
	for _, f := range []mosaic.EventFilter{
		{UserID: "bob"}, {UserID: " bob "}, {UserID: "old-bob"}, {UserID: "a-3"}, {UserID: "null"}, {UserID: "carol"}, {UserID: "k-user-3"}, {UserID: "k-user-13"},
		{AnonymousID: "a-1"}, {AnonymousID: "a-2"}, {AnonymousID: "a-3"}, {AnonymousID: "kiosk"}, {AnonymousID: "a-9"}, {AnonymousID: "nobody"},
		{UserID: "bob", AnonymousID: "a-2"}, {UserID: "bob", Type: mosaic.EventTrack},
	} {
		f.Limit = mosaic.MaxEventPage
		want, _, err := e.Store.FindEvents(context.Background(), f) // no keys: every event looked at
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{}
		if f.UserID != "" {
			q.Set("user_id", f.UserID)
		}
		if f.AnonymousID != "" {
			q.Set("anonymous_id", f.AnonymousID)
		}
		if f.Type != "" {
			q.Set("type", string(f.Type))
		}
		q.Set("limit", "2")
		var got []string
		for path := "/api/v1/events?" + q.Encode(); ; {
			st, out := e.api("GET", path, nil)
			if st != 200 {
				t.Fatalf("GET %s: %d %v", path, st, out)
			}
			for _, ev := range out["events"].([]any) {
				got = append(got, ev.(map[string]any)["messageId"].(string))
			}
			next, _ := out["next_cursor"].(string)
			if next == "" {
				break
			}
			q.Set("cursor", next)
			path = "/api/v1/events?" + q.Encode()
		}
		if !slices.Equal(got, ids(want)) {
			t.Errorf("%+v: the API found %v, every event holds %v", f, got, ids(want))
		}
	}
	if len(ids(mustFind(t, e, mosaic.EventFilter{AnonymousID: "kiosk", Limit: 50}))) != 14 {
		t.Error("kiosk: not every event found")
	}
}

func mustFind(t *testing.T, e *testEnv, f mosaic.EventFilter) []*mosaic.Event {
	t.Helper()
	evs, _, err := e.Store.FindEvents(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestProfileRebuildAPI: one profile or every one is queued for a rebuild from its events; the
// processor applies the queue (stats pending_rebuilds back to 0) and the profile is the same
// under unchanged rules. Only owners and stewards may; an empty POST rebuilds nothing.
func TestProfileRebuildAPI(t *testing.T) {
	e := newIdentityEnv(t, mustNormalizer(t, identity.DefaultConfig()))
	e.send(`{"type":"identify","userId":"u1","traits":{"email":"ada@example.com","plan":"pro"},"timestamp":"2026-11-01T10:00:00Z"},
		{"type":"identify","anonymousId":"a1","traits":{"email":"ada@example.com","city":"Oslo"},"timestamp":"2026-11-02T10:00:00Z"},
		{"type":"identify","userId":"u2","traits":{"plan":"free"},"timestamp":"2026-11-02T10:00:00Z"}`)
	id := e.profileOf("user_id", "u1")
	_, before := e.api("GET", "/api/v1/profiles/"+id, nil)

	st, out := e.api("POST", "/api/v1/profiles/"+id+"/rebuild", nil)
	if st != 202 || out["status"] != "queued" || out["profile_id"] != id || out["queued"] != 1.0 {
		t.Fatalf("rebuild one: %d %v", st, out)
	}
	st, out = e.api("POST", "/api/v1/profiles/rebuild", map[string]any{})
	if code, field := errorCode(out); st != 400 || code != "invalid" || field != "all" {
		t.Fatalf("rebuild without all: %d %v", st, out)
	}
	st, out = e.api("POST", "/api/v1/profiles/rebuild", map[string]any{"all": true})
	// u2's profile, and u1's unless the processor rebuilt it meanwhile (it runs beside).
	if q, _ := out["queued"].(float64); st != 202 || q != 1 && q != 2 {
		t.Fatalf("rebuild all: %d %v", st, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Proc.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	_, stats := e.api("GET", "/api/v1/stats", nil)
	if stats["pending_rebuilds"] != 0.0 || stats["profiles"] != 2.0 {
		t.Fatalf("stats after the rebuild: %v", stats)
	}
	_, after := e.api("GET", "/api/v1/profiles/"+id, nil)
	for _, k := range []string{"traits", "trait_sources", "identifiers", "created_at"} {
		if fmt.Sprint(before[k]) != fmt.Sprint(after[k]) {
			t.Errorf("%s changed by a rebuild under the same rules:\n before %v\n after  %v", k, before[k], after[k])
		}
	}

	st, out = e.api("POST", "/api/v1/profiles/prof_nope/rebuild", nil)
	if code, _ := errorCode(out); st != 404 || code != "not_found" {
		t.Errorf("rebuild of an unknown profile: %d %v", st, out)
	}
	analyst, err := e.Store.CreateToken(context.Background(), &mosaic.Token{Role: mosaic.RoleAnalyst})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/profiles/" + id + "/rebuild", "/api/v1/profiles/rebuild"} {
		st, out, _ := e.do("POST", path, strings.NewReader(`{"all":true}`), map[string]string{"Authorization": "Bearer " + analyst})
		if code, _ := errorCode(out); st != 403 || code != "forbidden" {
			t.Errorf("analyst POST %s: %d %v", path, st, out)
		}
	}
}

// TestLookupErrorsNameTheQueryParameter: a lookup's type and value are query parameters, and
// its errors name them as such.
func TestLookupErrorsNameTheQueryParameter(t *testing.T) {
	e := newIdentityEnv(t, mustNormalizer(t, identity.DefaultConfig()))
	for _, tc := range []struct{ query, field, why string }{
		{"type=email&value=test@test.com", "value", "on the blocklist"},
		{"type=email&value=noreply@shop.example", "value", "placeholder"},
		{"type=email&value=not-an-email", "value", "email"},
		{"type=phone&value=%2B1%20111-111-1111", "value", "placeholder phone"},
		{"type=email", "value", ""},
		{"value=ada@example.com", "type", ""},
		{"type=shoe_size&value=42", "type", ""},
	} {
		st, out := e.api("GET", "/api/v1/profiles/lookup?"+tc.query, nil)
		if code, field := errorCode(out); st != 400 || code != "invalid" || field != tc.field {
			t.Errorf("lookup?%s: %d %v, want 400 naming %q", tc.query, st, out, tc.field)
		}
		// The message says why the value cannot be one (trial 9: "is not a usable email" only).
		if msg := fmt.Sprint(out["error"].(map[string]any)["message"]); !strings.Contains(msg, tc.why) {
			t.Errorf("lookup?%s: message %q does not say %q", tc.query, msg, tc.why)
		}
	}
}

// TestGraphIsShownTheSameOnEveryStore: the graph lists identifiers and links in one order,
// each link from the profile's own identifier (or by type and value), whatever the keyed
// hash of the workspace (trial 8: the same links came out in other orders and directions on
// the two stores).
func TestGraphIsShownTheSameOnEveryStore(t *testing.T) {
	events := `{"type":"identify","userId":"ada","anonymousId":"a-2","traits":{"email":"ada@example.com","phone":"+4520123457"},"timestamp":"2026-11-01T10:00:00Z"},
		{"type":"identify","anonymousId":"a-1","traits":{"email":"ada@example.com"},"timestamp":"2026-11-01T10:01:00Z"},
		{"type":"identify","userId":"bea","traits":{"email":"ada@example.com"},"timestamp":"2026-11-01T10:02:00Z"}`
	shown := func() string {
		e := newIdentityEnv(t, mustNormalizer(t, identity.DefaultConfig()))
		e.send(events)
		ada := e.profileOf("user_id", "ada")
		if st, out := e.api("POST", "/api/v1/profiles/"+ada+"/split", map[string]any{"block": []map[string]string{{"type": "user_id", "value": "bea"}, {"type": "user_id", "value": "ada"}}, "reason": "two people"}); st != 202 {
			t.Fatalf("split: %d %v", st, out)
		}
		if err := e.Proc.Drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		st, g := e.api("GET", "/api/v1/profiles/"+ada+"/graph", nil)
		if st != 200 {
			t.Fatalf("graph: %d %v", st, g)
		}
		var out []string
		for _, id := range g["identifiers"].([]any) {
			m := id.(map[string]any)
			out = append(out, fmt.Sprint(m["type"], ":", m["value"]))
		}
		for _, ed := range g["edges"].([]any) {
			m := ed.(map[string]any)
			from, to := m["from"].(map[string]any), m["to"].(map[string]any)
			out = append(out, fmt.Sprint(from["type"], ":", from["value"], "-", to["type"], ":", to["value"], " ", m["kind"], " ", m["linked"]))
		}
		for _, sp := range g["splits"].([]any) {
			out = append(out, fmt.Sprint("split ", sp.(map[string]any)["block"]))
		}
		return strings.Join(out, "\n")
	}
	want := strings.Join([]string{"user_id:ada", "anonymous_id:a-1", "anonymous_id:a-2", "email:ada@example.com", "phone:+4520123457",
		"user_id:ada-anonymous_id:a-2 implicit true",
		"user_id:ada-email:ada@example.com implicit true",
		"user_id:ada-phone:+4520123457 implicit true",
		"anonymous_id:a-1-email:ada@example.com implicit true",
		"email:ada@example.com-user_id:bea implicit false",
		"split [map[type:user_id value:ada] map[type:user_id value:bea]]"}, "\n")
	for i := range 3 {
		if got := shown(); got != want {
			t.Fatalf("store %d shows the graph as\n%s\nwant\n%s", i, got, want)
		}
	}
}

// TestLookupNamesTheProfileALimitKeptItFrom: a customer's sixth email cannot join their
// profile (five is the limit) and is a profile of its own; a lookup by it says which profile
// refused it, so that a helpdesk looking up the customer's current email finds them (trial 8).
func TestLookupNamesTheProfileALimitKeptItFrom(t *testing.T) {
	e := newIdentityEnv(t, mustNormalizer(t, identity.DefaultConfig()))
	var calls []string
	for i := 1; i <= 6; i++ {
		calls = append(calls, fmt.Sprintf(`{"type":"identify","userId":"many","traits":{"email":"many%d@example.com"},"timestamp":"2026-11-01T10:0%d:00Z"}`, i, i))
	}
	e.send(strings.Join(calls, ","))
	many := e.profileOf("user_id", "many")
	st, p := e.api("GET", "/api/v1/profiles/lookup?type=email&value=many6@example.com", nil)
	if st != 200 || p["id"] == many {
		t.Fatalf("lookup of the sixth email: %d %v", st, p)
	}
	refused, _ := p["refused_links"].([]any)
	if len(refused) != 1 || refused[0].(map[string]any)["profile_id"] != many || refused[0].(map[string]any)["reason"] != "limit:email" {
		t.Errorf("refused_links of the sixth email: %v, want the customer's profile %s (limit:email)", p["refused_links"], many)
	}
	if st, p := e.api("GET", "/api/v1/profiles/lookup?type=email&value=many1@example.com", nil); st != 200 || p["refused_links"] != nil {
		t.Errorf("lookup of a linked email: %d refused_links %v, want none", st, p["refused_links"])
	}
}

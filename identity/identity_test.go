package identity_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
)

func mustNormalizer(t testing.TB, cfg identity.Config) *identity.Normalizer {
	t.Helper()
	n, err := identity.NewNormalizer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNormalize(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.DefaultRegion = "GB"
	cfg.Rules = append(cfg.Rules, identity.Rule{Type: "customer_number", Priority: 4, Limit: 1,
		Paths: []string{"traits.customer_number"}, Normalize: []string{identity.StepTrim, identity.StepDigits}})
	n := mustNormalizer(t, cfg)
	for _, tc := range []struct {
		name string
		typ  mosaic.IdentifierType
		in   string
		want string // "" means invalid
	}{
		{"email case and space", mosaic.IdentifierEmail, "  Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"},
		{"email mailto", mosaic.IdentifierEmail, "mailto:ada@example.com", "ada@example.com"},
		{"email without at", mosaic.IdentifierEmail, "ada.example.com", ""},
		{"email without tld", mosaic.IdentifierEmail, "ada@localhost", ""},
		{"email two ats", mosaic.IdentifierEmail, "a@b@c.com", ""},
		{"email blocklisted", mosaic.IdentifierEmail, "TEST@test.com", ""},
		{"phone national GB", mosaic.IdentifierPhone, "020 7946 0958", "+442079460958"},
		{"phone international", mosaic.IdentifierPhone, "+1 (415) 555-2671", "+14155552671"},
		{"phone zeros", mosaic.IdentifierPhone, "0000000000", ""},
		{"phone garbage", mosaic.IdentifierPhone, "call me", ""},
		{"user id trimmed", mosaic.IdentifierUserID, "  u-1 ", "u-1"},
		{"user id null string", mosaic.IdentifierUserID, "null", ""},
		{"user id undefined", mosaic.IdentifierUserID, "undefined", ""},
		// trial 11: these merged strangers
		{"user id NaN", mosaic.IdentifierUserID, "NaN", ""},
		{"user id dash", mosaic.IdentifierUserID, " - ", ""},
		{"user id guest", mosaic.IdentifierUserID, "Guest", ""},
		{"anonymous id empty", mosaic.IdentifierAnonymousID, "   ", ""},
		{"custom digits", "customer_number", " CN-00 123 ", "00123"},
		{"custom all junk", "customer_number", "N/A", ""},
		{"user id with NUL", mosaic.IdentifierUserID, "u\x001", ""},
		{"user id with newline", mosaic.IdentifierUserID, "u\n1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := n.Normalize(tc.typ, tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Normalize(%q)=%q, want invalid", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Normalize(%q)=%q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*identity.Config)
	}{
		{"bad type", func(c *identity.Config) { c.Rules[0].Type = "User ID" }},
		{"duplicate type", func(c *identity.Config) { c.Rules[1].Type = c.Rules[0].Type }},
		{"negative limit", func(c *identity.Config) { c.Rules[0].Limit = -1 }},
		{"no paths", func(c *identity.Config) { c.Rules[0].Paths = nil }},
		{"bad path", func(c *identity.Config) { c.Rules[0].Paths = []string{"payload.email"} }},
		{"bad step", func(c *identity.Config) { c.Rules[0].Normalize = []string{"soundex"} }},
		{"bad region", func(c *identity.Config) { c.DefaultRegion = "Denmark" }},
		{"unknown region", func(c *identity.Config) { c.DefaultRegion = "XX" }},
	} {
		cfg := identity.DefaultConfig()
		tc.edit(&cfg)
		if _, err := identity.NewNormalizer(cfg); mosaic.ErrorCode(err) != mosaic.EINVALID || mosaic.ErrorField(err) == "" {
			t.Errorf("%s: err=%v, want invalid with a field", tc.name, err)
		}
	}
}

func TestExtract(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.DefaultRegion = "DK"
	cfg.Rules = append(cfg.Rules, identity.Rule{Type: "card_token", Priority: 5, Paths: []string{"properties.card_token"}, Normalize: []string{identity.StepTrim}})
	n := mustNormalizer(t, cfg)
	e := &mosaic.Event{UserID: "u1", AnonymousID: "a1",
		Traits:     json.RawMessage(`{"email":"Ada@Example.com","phone":"20 12 34 56"}`),
		Context:    json.RawMessage(`{"traits":{"email":"ada@example.com ","phone":"not a phone"}}`),
		Properties: json.RawMessage(`{"card_token":12345}`)}
	got := n.Extract(e)
	want := []mosaic.Identifier{id("user_id", "u1"), id("anonymous_id", "a1"), id("email", "ada@example.com"), id("phone", "+4520123456"), id("card_token", "12345")}
	if diff := cmp.Diff(want, got.Identifiers); diff != "" || got.Invalid != 1 {
		t.Fatalf("identifiers (-want +got):\n%s\ninvalid=%d, want 1", diff, got.Invalid)
	}
}

// TestGroupTraitsAreTheGroups: a group call's traits describe the group (a company's billing
// email and phone), so they are no identifiers of the person sending it; its context.traits
// are the person's (trial 11: colleagues sending their company's email were merged).
func TestGroupTraitsAreTheGroups(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.Rules = append(cfg.Rules, identity.Rule{Type: "customer_number", Priority: 3, Limit: 1, Paths: []string{"traits.customer_number"}})
	n := mustNormalizer(t, cfg)
	e := &mosaic.Event{Type: mosaic.EventGroup, AnonymousID: "a1", GroupID: "acme",
		Traits:  json.RawMessage(`{"name":"Acme","email":"billing@acme.com","phone":"+4570101010","customer_number":"C-1"}`),
		Context: json.RawMessage(`{"traits":{"email":"ada@example.com"}}`)}
	got := n.Extract(e)
	if diff := cmp.Diff([]mosaic.Identifier{id("anonymous_id", "a1"), id("email", "ada@example.com")}, got.Identifiers); diff != "" {
		t.Fatalf("identifiers of a group call (-want +got):\n%s", diff)
	}
	e.Type = mosaic.EventIdentify
	if got := n.Extract(e); len(got.Identifiers) != 5 {
		t.Fatalf("identifiers of an identify call with the same traits: %v", got.Identifiers)
	}
}

// TestExtractSkipsObjectsOnlyByTheirText: Extract skips decoding an object that cannot hold a
// path's keys, so keys spelled with JSON escapes, nested and list values, and phone numbers
// it has seen before (cached) must give what a full decoding gives.
func TestExtractSkipsObjectsOnlyByTheirText(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.DefaultRegion = "DK"
	n := mustNormalizer(t, cfg)
	for i, tc := range []struct {
		traits, context string
		want            []mosaic.Identifier
		invalid         int
	}{
		{`{"\u0065mail":"Ada@Example.com"}`, ``, []mosaic.Identifier{id("email", "ada@example.com")}, 0},
		{`{"name":"email"}`, `{"ip":"10.0.0.1"}`, nil, 0},
		{``, `{"traits":{"phone":["20 12 34 56","+45 20 12 34 57"]}}`, []mosaic.Identifier{id("phone", "+4520123456"), id("phone", "+4520123457")}, 0},
		{`{"phone":"20 12 34 56"}`, `{"traits":{"phone":"bad"}}`, []mosaic.Identifier{id("phone", "+4520123456")}, 1},
		{`{"phone":"20 12 34 56"}`, `{"traits":{"phone":"bad"}}`, []mosaic.Identifier{id("phone", "+4520123456")}, 1}, // cached now
		{`{"traits":{"email":"x@y.z"}}`, `{"email":"x@y.z"}`, nil, 0},                                                 // wrong nesting
	} {
		e := &mosaic.Event{Traits: json.RawMessage(tc.traits), Context: json.RawMessage(tc.context)}
		got := n.Extract(e)
		if diff := cmp.Diff(tc.want, got.Identifiers); diff != "" || got.Invalid != tc.invalid {
			t.Errorf("case %d: identifiers (-want +got):\n%s\ninvalid=%d, want %d", i, diff, got.Invalid, tc.invalid)
		}
	}
}

// TestPlaceholders: values typed to get past a form identify nobody; look-alikes of real
// customers stay identifiers.
func TestPlaceholders(t *testing.T) {
	n := mustNormalizer(t, identity.DefaultConfig())
	for _, v := range []string{"a@a.com", "asdf@asdf.com", "email@email.com", "none@none.com", "noreply@shop.example", "no-reply@shop.example", "Do.Not.Reply@x.io"} {
		if got, err := n.Normalize("email", v); err == nil {
			t.Errorf("email %q = %q, want refused as a placeholder", v, got)
		}
	}
	for _, v := range []string{"+1 111-111-1111", "+12345678900", "(987) 654-3210", "+45 22 22 22 22"} {
		if got, err := n.Normalize("phone", v); err == nil {
			t.Errorf("phone %q = %q, want refused as a placeholder", v, got)
		}
	}
	if got, err := n.Normalize("anonymous_id", "00000000-0000-0000-0000-000000000000"); err == nil {
		t.Errorf("the nil UUID as an anonymous id = %q, want refused (trial 10: it linked strangers)", got)
	}
	for _, v := range []string{"ada@ada-lovelace.com", "anna@annanas.dk", "test.pilot@airline.example"} {
		if _, err := n.Normalize("email", v); err != nil {
			t.Errorf("email %q refused: %v", v, err)
		}
	}
	for _, v := range []string{"+1 415 555 0132", "+45 20 12 34 56", "+44 20 7946 0958"} {
		if _, err := n.Normalize("phone", v); err != nil {
			t.Errorf("phone %q refused: %v", v, err)
		}
	}
}

// ev describes an event for resolution tests: its identifiers and time.
type ev struct {
	ids  []mosaic.Identifier
	at   int // minutes
	kind identity.EdgeKind
}

func id(t, v string) mosaic.Identifier {
	return mosaic.Identifier{Type: mosaic.IdentifierType(t), Value: v}
}

func edgesOf(n *identity.Normalizer, evs []ev) ([]mosaic.Identifier, []identity.Edge) {
	var nodes []mosaic.Identifier
	var edges []identity.Edge
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, e := range evs {
		nodes = append(nodes, e.ids...)
		kind := e.kind
		if kind == "" {
			kind = identity.EdgeImplicit
		}
		edges = append(edges, n.EventEdges(e.ids, kind, base.Add(time.Duration(e.at)*time.Minute), fmt.Sprintf("m%03d", i), "src")...)
	}
	return nodes, edges
}

func groupsOf(r identity.Result) [][]string {
	var out [][]string
	for _, g := range r.Groups {
		var s []string
		for _, id := range g {
			s = append(s, id.String())
		}
		out = append(out, s)
	}
	return out
}

func TestResolveStories(t *testing.T) {
	n := mustNormalizer(t, identity.DefaultConfig())
	for _, tc := range []struct {
		name    string
		evs     []ev
		want    [][]string
		refused []string
		hubs    []string
	}{
		{
			name: "anonymous visit, sign-up, new device",
			evs: []ev{
				{ids: []mosaic.Identifier{id("anonymous_id", "web-1")}, at: 0},
				{ids: []mosaic.Identifier{id("user_id", "u1"), id("anonymous_id", "web-1"), id("email", "ada@example.com")}, at: 5},
				{ids: []mosaic.Identifier{id("user_id", "u1"), id("anonymous_id", "app-7")}, at: 60},
				{ids: []mosaic.Identifier{id("email", "ada@example.com"), id("phone", "+4520123456")}, at: 90},
			},
			want: [][]string{{"anonymous_id:app-7", "anonymous_id:web-1", "email:ada@example.com", "phone:+4520123456", "user_id:u1"}},
		},
		{
			name: "siblings sharing a family email stay two",
			evs: []ev{
				{ids: []mosaic.Identifier{id("user_id", "anna"), id("email", "family@example.com")}, at: 0},
				{ids: []mosaic.Identifier{id("user_id", "ben"), id("email", "family@example.com"), id("anonymous_id", "ben-phone")}, at: 10},
			},
			want:    [][]string{{"anonymous_id:ben-phone", "user_id:ben"}, {"email:family@example.com", "user_id:anna"}},
			refused: []string{"limit:user_id"},
		},
		{
			name: "alias merges past the user_id limit",
			evs: []ev{
				{ids: []mosaic.Identifier{id("user_id", "old-id"), id("email", "ada@example.com")}, at: 0},
				{ids: []mosaic.Identifier{id("user_id", "new-id"), id("user_id", "old-id")}, at: 10, kind: identity.EdgeAlias},
			},
			want: [][]string{{"email:ada@example.com", "user_id:new-id", "user_id:old-id"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes, edges := edgesOf(n, tc.evs)
			res := n.Resolve(nodes, edges, identity.Constraints{})
			if diff := cmp.Diff(tc.want, groupsOf(res)); diff != "" {
				t.Fatalf("groups (-want +got):\n%s", diff)
			}
			var reasons []string
			for _, r := range res.Refused {
				reasons = append(reasons, r.Reason)
			}
			if diff := cmp.Diff(tc.refused, reasons); diff != "" {
				t.Fatalf("refusals (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKioskIsAHub(t *testing.T) {
	n := mustNormalizer(t, identity.DefaultConfig())
	var evs []ev
	for i := 0; i < 50; i++ {
		evs = append(evs, ev{ids: []mosaic.Identifier{id("user_id", fmt.Sprintf("u%02d", i)), id("anonymous_id", "kiosk")}, at: i})
	}
	nodes, edges := edgesOf(n, evs)
	res := n.Resolve(nodes, edges, identity.Constraints{})
	if len(res.Groups) != 51 {
		t.Fatalf("%d groups, want 51 (no merges through the kiosk)", len(res.Groups))
	}
	if diff := cmp.Diff([]mosaic.Identifier{id("anonymous_id", "kiosk")}, res.Hubs); diff != "" {
		t.Fatalf("hubs (-want +got):\n%s", diff)
	}
}

// TestSharedEmailOfManyCustomerNumbersIsAHub: a declared type with a limit of 1 (a customer
// number) counts as user ids do, per type: a shop's email on the rows of more than 10
// customers merges nobody (trial 12: it went to one customer with the shop's orders), one on
// 10 is no hub, and an email seen with 6 user ids and the same 6 people's customer numbers is
// none either.
func TestSharedEmailOfManyCustomerNumbersIsAHub(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.Rules = append(cfg.Rules, identity.Rule{Type: "customer_number", Priority: 3, Limit: 1, Paths: []string{"traits.customer_number"}},
		identity.Rule{Type: "loyalty_id", Priority: 7, Limit: 3, Paths: []string{"traits.loyalty_id"}})
	n := mustNormalizer(t, cfg)
	shared := func(typ string, customers int) identity.Result {
		var evs []ev
		for i := range customers {
			evs = append(evs, ev{ids: []mosaic.Identifier{id(typ, fmt.Sprintf("%d", 5001+i)), id("email", "shop@example.com")}, at: i})
		}
		nodes, edges := edgesOf(n, evs)
		return n.Resolve(nodes, edges, identity.Constraints{})
	}
	if res := shared("customer_number", 11); !slices.Equal(res.Hubs, []mosaic.Identifier{id("email", "shop@example.com")}) || len(res.Groups) != 12 {
		t.Fatalf("email of 11 customer numbers: hubs %v, %d groups (want the email, 12)", res.Hubs, len(res.Groups))
	}
	if res := shared("customer_number", 10); len(res.Hubs) != 0 {
		t.Fatalf("email of 10 customer numbers: hubs %v, want none", res.Hubs)
	}
	if res := shared("loyalty_id", 11); len(res.Hubs) != 0 {
		t.Fatalf("email of 11 values of a type with limit 3: hubs %v, want none", res.Hubs)
	}
	var evs []ev
	for i := range 6 {
		evs = append(evs, ev{ids: []mosaic.Identifier{id("user_id", fmt.Sprintf("u%d", i)), id("customer_number", fmt.Sprintf("%d", 5001+i)), id("email", "family@example.com")}, at: i})
	}
	nodes, edges := edgesOf(n, evs)
	if res := n.Resolve(nodes, edges, identity.Constraints{}); len(res.Hubs) != 0 {
		t.Fatalf("email of 6 customers with a user id and a customer number each: hubs %v, want none", res.Hubs)
	}
}

func TestConstraints(t *testing.T) {
	n := mustNormalizer(t, identity.DefaultConfig())
	evs := []ev{
		{ids: []mosaic.Identifier{id("user_id", "u1"), id("email", "a@example.com")}, at: 0},
		{ids: []mosaic.Identifier{id("email", "a@example.com"), id("phone", "+4520123456")}, at: 1},
		{ids: []mosaic.Identifier{id("phone", "+4520123456"), id("anonymous_id", "x")}, at: 2},
	}
	nodes, edges := edgesOf(n, evs)
	// Blocking u1/phone keeps them apart even though a chain of links would join them.
	res := n.Resolve(nodes, edges, identity.Constraints{Blocked: map[identity.Pair]bool{
		identity.MakePair(id("user_id", "u1"), id("phone", "+4520123456")): true}})
	if len(res.Groups) != 2 {
		t.Fatalf("blocked pair: groups %v", groupsOf(res))
	}
	res = n.Resolve(nodes, edges, identity.Constraints{Removed: map[mosaic.Identifier]bool{id("email", "a@example.com"): true}})
	if diff := cmp.Diff([][]string{{"anonymous_id:x", "phone:+4520123456"}, {"email:a@example.com"}, {"user_id:u1"}}, groupsOf(res)); diff != "" {
		t.Fatalf("removed identifier (-want +got):\n%s", diff)
	}
}

func TestCaps(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.MaxIdentifiers = 5
	n := mustNormalizer(t, cfg)
	var evs []ev
	for i := 0; i < 10; i++ {
		evs = append(evs, ev{ids: []mosaic.Identifier{id("user_id", "u1"), id("anonymous_id", fmt.Sprint("a", i))}, at: i})
	}
	nodes, edges := edgesOf(n, evs)
	res := n.Resolve(nodes, edges, identity.Constraints{})
	if len(res.Groups) != 7 || len(res.Groups[0]) != 5 || !slices.Contains(res.Groups[0], id("user_id", "u1")) ||
		!cmp.Equal(res.Capped, []mosaic.Identifier{id("anonymous_id", "a0")}) {
		t.Fatalf("cap: groups %v capped %v", groupsOf(res), res.Capped)
	}
}

// TestResolveOrderIndependent: resolving the same random events in any order gives the same
// partition, refusals and hubs.
func TestResolveOrderIndependent(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.HubThreshold = 3
	n := mustNormalizer(t, cfg)
	for seed := uint64(0); seed < 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var evs []ev
		for i := 0; i < 40; i++ {
			var ids []mosaic.Identifier
			if rng.IntN(2) == 0 {
				ids = append(ids, id("user_id", fmt.Sprint("u", rng.IntN(8))))
			}
			ids = append(ids, id("anonymous_id", fmt.Sprint("a", rng.IntN(12))))
			if rng.IntN(3) == 0 {
				ids = append(ids, id("email", fmt.Sprintf("e%d@example.com", rng.IntN(6))))
			}
			if rng.IntN(4) == 0 {
				ids = append(ids, id("phone", fmt.Sprintf("+452012345%d", rng.IntN(5))))
			}
			kind := identity.EdgeImplicit
			if rng.IntN(10) == 0 && len(ids) > 1 {
				kind = identity.EdgeAlias
			}
			evs = append(evs, ev{ids: ids, at: rng.IntN(30), kind: kind})
		}
		nodes, edges := edgesOf(n, evs)
		want := n.Resolve(nodes, edges, identity.Constraints{})
		for p := 0; p < 5; p++ {
			rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
			rng.Shuffle(len(edges), func(i, j int) { edges[i], edges[j] = edges[j], edges[i] })
			got := n.Resolve(nodes, edges, identity.Constraints{})
			if !slices.EqualFunc(want.Groups, got.Groups, slices.Equal) || !cmp.Equal(want.Hubs, got.Hubs) || len(want.Refused) != len(got.Refused) {
				t.Fatalf("seed %d permutation %d: partition differs:\nwant %v\ngot  %v", seed, p, groupsOf(want), groupsOf(got))
			}
		}
	}
}

// A Keyer gives the documented HMAC-SHA256 key, whatever it computed before.
func TestKeyerMatchesHMAC(t *testing.T) {
	secret := []byte("workspace-secret")
	kr := identity.NewKeyer(secret)
	for _, id := range []mosaic.Identifier{
		{Type: "email", Value: "ada@example.com"},
		{Type: "user_id", Value: "u1"},
		{Type: "phone", Value: "+4520123456"},
		{Type: "email", Value: "ada@example.com"}, // again, after others
		{Type: "customer_number", Value: strings.Repeat("9", 300)},
	} {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(string(id.Type) + ":" + id.Value))
		want := mosaic.IdentifierKey(base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16]))
		if got := kr.Key(id); got != want {
			t.Errorf("Keyer.Key(%v) = %s, want %s", id, got, want)
		}
		if got := identity.Key(secret, id); got != want {
			t.Errorf("Key(%v) = %s, want %s", id, got, want)
		}
	}
}

// TestHintLeavesPlaceholdersAlone: the default-region advice is for numbers that did not
// parse, not for placeholders (trial 12: a lookup of phone n/a was told to add a country code).
func TestHintLeavesPlaceholdersAlone(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.DefaultRegion = "DK"
	n := mustNormalizer(t, cfg)
	for _, v := range []string{"n/a", " N/A ", "0000000000", "1111 1111"} {
		if h := n.Hint("phone", v); h != "" {
			t.Errorf("hint for %q: %q, want none", v, h)
		}
	}
	if h := n.Hint("phone", "30 11 22"); !strings.Contains(h, "DK number") {
		t.Errorf("hint for a short national number: %q", h)
	}
}

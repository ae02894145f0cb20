package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
)

// profileFixture is a small identity graph. Profile ids and identifier values mix cases so
// that byte order ("prof_B" < "prof_C" < "prof_a") differs from dictionary order.
type profileFixture struct {
	src    *mosaic.Source
	states map[mosaic.ProfileID]*mosaic.ProfileState
	ids    map[mosaic.IdentifierKey]*mosaic.IdentifierRecord
	edges  []*mosaic.IdentityEdge
}

func newProfileFixture(t *testing.T, s mosaic.Store) *profileFixture {
	t.Helper()
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	f := &profileFixture{src: MustCreateSource(t, s, "web"), states: map[mosaic.ProfileID]*mosaic.ProfileState{}, ids: map[mosaic.IdentifierKey]*mosaic.IdentifierRecord{}}
	state := func(id mosaic.ProfileID, terms ...string) *mosaic.ProfileState {
		p := &mosaic.ProfileState{ID: id, CreatedAt: at, UpdatedAt: at.Add(time.Hour), SearchTerms: terms}
		f.states[id] = p
		return p
	}
	b := state("prof_B", "bob", "bob@example.com", "50%off")
	b.Groups, b.Flags, b.MergedFrom = []string{"acme"}, []string{"capped"}, []mosaic.ProfileID{"prof_m"}
	b.Traits = map[string]json.RawMessage{"name": json.RawMessage(`"Bob"`), "plan": json.RawMessage(`{"tier":"pro","seats":3}`)}
	b.TraitSources = map[string]mosaic.TraitSource{"name": {SourceID: f.src.ID, MessageID: "m1", EventTime: at, ReceivedAt: at, Rule: "latest"}}
	b.State = json.RawMessage(`{"name":{"v":"Bob"}}`)
	state("prof_C", "annabel", "émile", "smith")
	state("prof_a", "ann", "ann@example.com", "ann lee", "lee")
	state("prof_d", "joann", "500", "axb")
	state("prof_e")
	m := state("prof_m", "ann-merged")
	m.MergedInto = "prof_B"
	id := func(key mosaic.IdentifierKey, typ mosaic.IdentifierType, value string, p mosaic.ProfileID) {
		f.ids[key] = Identifier(key, typ, value, p, at)
	}
	id("kb-user", mosaic.IdentifierUserID, "Bob", "prof_B")
	id("kb-email", mosaic.IdentifierEmail, "bob@example.com", "prof_B")
	id("kb-c1", "customer_number", "a1", "prof_B")
	id("kb-c2", "customer_number", "B-2", "prof_B")
	id("kb-c3", "customer_number", "B1", "prof_B")
	id("ka-user", mosaic.IdentifierUserID, "ann", "prof_a")
	id("ka-email", mosaic.IdentifierEmail, "ann@example.com", "prof_a")
	id("kd-c1", "customer_number", "Zed-42", "prof_d") // found by its value, not by a term
	f.edges = []*mosaic.IdentityEdge{
		Edge("kb-email", "kb-user", mosaic.EdgeImplicit, at, "m1", f.src.ID),
		Edge("kb-c1", "kb-user", mosaic.EdgeImplicit, at, "m2", f.src.ID),
		Edge("ka-user", "kb-user", mosaic.EdgeImplicit, at, "m3", f.src.ID), // refused: touches both profiles
		Edge("ka-email", "ka-user", mosaic.EdgeImplicit, at, "m4", f.src.ID),
	}
	f.edges[2].Refused = "limit:user_id"
	ch := &mosaic.IdentityChanges{Edges: f.edges}
	for _, r := range f.ids {
		ch.Identifiers = append(ch.Identifiers, r)
	}
	for _, p := range f.states {
		ch.Profiles = append(ch.Profiles, p)
	}
	CommitIdentity(t, s, ch)
	return f
}

func testProfiles(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("FindProfileByID", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		f := newProfileFixture(t, s)
		b := f.states["prof_B"]
		want := &mosaic.Profile{ID: b.ID, Traits: b.Traits, TraitSources: b.TraitSources, Groups: b.Groups,
			CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt, MergedFrom: b.MergedFrom, Flags: b.Flags,
			Identifiers: []mosaic.Identifier{ // by type, then value, byte for byte
				{Type: "customer_number", Value: "B-2"}, {Type: "customer_number", Value: "B1"}, {Type: "customer_number", Value: "a1"},
				{Type: mosaic.IdentifierEmail, Value: "bob@example.com"}, {Type: mosaic.IdentifierUserID, Value: "Bob"},
			}}
		got, err := s.FindProfileByID(ctx, "prof_B")
		must(t, err)
		if diff := cmp.Diff(want, got, jsonEqual); diff != "" {
			t.Fatalf("FindProfileByID (-want +got):\n%s", diff)
		}

		// A profile with nothing set reads back with empty lists and maps, never null.
		e := f.states["prof_e"]
		got, err = s.FindProfileByID(ctx, "prof_e")
		must(t, err)
		wantE := &mosaic.Profile{ID: e.ID, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Identifiers: []mosaic.Identifier{},
			Traits: map[string]json.RawMessage{}, TraitSources: map[string]mosaic.TraitSource{}, Groups: []string{},
			MergedFrom: []mosaic.ProfileID{}, Flags: []string{}}
		if diff := cmp.Diff(wantE, got); diff != "" {
			t.Fatalf("empty profile (-want +got):\n%s", diff)
		}

		// A merged-away id resolves to its profile with MergedInto set and no identifiers.
		got, err = s.FindProfileByID(ctx, "prof_m")
		must(t, err)
		if got.MergedInto != "prof_B" || got.Identifiers == nil || len(got.Identifiers) != 0 {
			t.Fatalf("merged profile: merged_into=%q identifiers=%v", got.MergedInto, got.Identifiers)
		}

		_, err = s.FindProfileByID(ctx, "prof_nope")
		wantCode(t, err, mosaic.ENOTFOUND)
	})
	t.Run("FindProfileByIdentifier", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		newProfileFixture(t, s)
		want, err := s.FindProfileByID(ctx, "prof_B")
		must(t, err)
		got, err := s.FindProfileByIdentifier(ctx, "kb-c2")
		must(t, err)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("FindProfileByIdentifier (-want +got):\n%s", diff)
		}
		_, err = s.FindProfileByIdentifier(ctx, "k-unknown")
		wantCode(t, err, mosaic.ENOTFOUND)
	})
	t.Run("FindProfiles", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		f := newProfileFixture(t, s)
		find := func(pf mosaic.ProfileFilter) ([]mosaic.ProfileID, string) {
			t.Helper()
			got, next, err := s.FindProfiles(ctx, pf)
			must(t, err)
			var ids []mosaic.ProfileID
			for _, p := range got {
				ids = append(ids, p.ID)
			}
			return ids, next
		}
		for _, tc := range []struct {
			name string
			q    string
			want []mosaic.ProfileID
		}{
			{"all live, by id", "", []mosaic.ProfileID{"prof_B", "prof_C", "prof_a", "prof_d", "prof_e"}},
			{"blank", "   ", []mosaic.ProfileID{"prof_B", "prof_C", "prof_a", "prof_d", "prof_e"}},
			{"prefix, case-insensitive, once per profile", " ANN ", []mosaic.ProfileID{"prof_C", "prof_a"}},
			{"email prefix", "ann@", []mosaic.ProfileID{"prof_a"}},
			{"whole term", "bob@example.com", []mosaic.ProfileID{"prof_B"}},
			{"word", "lee", []mosaic.ProfileID{"prof_a"}},
			{"identifier value", "zed-4", []mosaic.ProfileID{"prof_d"}},
			{"identifier or term", "b", []mosaic.ProfileID{"prof_B"}},
			{"not infix", "oann", nil},
			{"non-ASCII", "ÉM", []mosaic.ProfileID{"prof_C"}},
			{"percent is literal", "50%", []mosaic.ProfileID{"prof_B"}},
			{"underscore is literal", "a_b", nil},
			{"merged profiles left out", "ann-", nil},
			{"nothing", "zzz", nil},
			{"NUL", "a\x00", nil}, // odd input finds nothing, and is no error
			{"invalid UTF-8", "\xffa", nil},
		} {
			got, next := find(mosaic.ProfileFilter{Q: tc.q})
			if diff := cmp.Diff(tc.want, got); diff != "" || next != "" {
				t.Errorf("FindProfiles %s: next %q (-want +got):\n%s", tc.name, next, diff)
			}
		}

		// Terms are searched like Q, and IDs find profiles by id; a profile matching any is
		// found, once.
		for _, tc := range []struct {
			name string
			f    mosaic.ProfileFilter
			want []mosaic.ProfileID
		}{
			{"term", mosaic.ProfileFilter{Q: "nothing", Terms: []string{" ZED-4"}}, []mosaic.ProfileID{"prof_d"}},
			{"Q or a term", mosaic.ProfileFilter{Q: "lee", Terms: []string{"bob@", "", "lee"}}, []mosaic.ProfileID{"prof_B", "prof_a"}},
			{"terms alone", mosaic.ProfileFilter{Terms: []string{"joa"}}, []mosaic.ProfileID{"prof_d"}},
			{"id", mosaic.ProfileFilter{Q: "prof_e", IDs: []mosaic.ProfileID{"prof_e"}}, []mosaic.ProfileID{"prof_e"}},
			{"ids alone", mosaic.ProfileFilter{IDs: []mosaic.ProfileID{"prof_e", "prof_C"}}, []mosaic.ProfileID{"prof_C", "prof_e"}},
			{"id or Q", mosaic.ProfileFilter{Q: "ann", IDs: []mosaic.ProfileID{"prof_a", "prof_B"}}, []mosaic.ProfileID{"prof_B", "prof_C", "prof_a"}},
			{"merged-away id left out", mosaic.ProfileFilter{IDs: []mosaic.ProfileID{"prof_m"}}, nil},
			{"unknown id", mosaic.ProfileFilter{IDs: []mosaic.ProfileID{"prof_nope"}}, nil},
			{"id page", mosaic.ProfileFilter{Q: "ann", IDs: []mosaic.ProfileID{"prof_B"}, Limit: 2, Cursor: mosaic.ProfileCursor("prof_B")}, []mosaic.ProfileID{"prof_C", "prof_a"}},
		} {
			if got, _ := find(tc.f); !cmp.Equal(got, tc.want) {
				t.Errorf("FindProfiles %s finds %v, want %v", tc.name, got, tc.want)
			}
		}

		// Pages by id, with cursors.
		var pages [][]mosaic.ProfileID
		cursor := ""
		for i := 0; ; i++ {
			if i > 5 {
				t.Fatal("pagination does not end")
			}
			ids, next := find(mosaic.ProfileFilter{Limit: 2, Cursor: cursor})
			pages = append(pages, ids)
			if next == "" {
				break
			}
			if want := mosaic.ProfileCursor(ids[len(ids)-1]); next != want {
				t.Fatalf("next=%q, want %q", next, want)
			}
			cursor = next
		}
		if diff := cmp.Diff([][]mosaic.ProfileID{{"prof_B", "prof_C"}, {"prof_a", "prof_d"}, {"prof_e"}}, pages); diff != "" {
			t.Fatalf("pages (-want +got):\n%s", diff)
		}
		ids, next := find(mosaic.ProfileFilter{Q: "ann", Limit: 1})
		if diff := cmp.Diff([]mosaic.ProfileID{"prof_C"}, ids); diff != "" || next != mosaic.ProfileCursor("prof_C") {
			t.Fatalf("search page 1: next %q (-want +got):\n%s", next, diff)
		}
		ids, next = find(mosaic.ProfileFilter{Q: "ann", Limit: 1, Cursor: next})
		if diff := cmp.Diff([]mosaic.ProfileID{"prof_a"}, ids); diff != "" || next != "" {
			t.Fatalf("search page 2: next %q (-want +got):\n%s", next, diff)
		}

		// Results are whole profiles, as FindProfileByID returns them.
		got, _, err := s.FindProfiles(ctx, mosaic.ProfileFilter{Q: "bob"})
		must(t, err)
		want, err := s.FindProfileByID(ctx, "prof_B")
		must(t, err)
		if diff := cmp.Diff([]*mosaic.Profile{want}, got); diff != "" {
			t.Fatalf("FindProfiles result (-want +got):\n%s", diff)
		}

		// New terms replace the old, unless the terms are kept; a merged profile drops out;
		// an identifier is found on the profile that holds it now.
		a, c, d := *f.states["prof_a"], *f.states["prof_C"], *f.states["prof_d"]
		a.SearchTerms = []string{"lee"}
		c.MergedInto = "prof_a"
		d.SearchTerms, d.KeepSearchTerms = nil, true
		moved := *f.ids["kb-c2"]
		moved.ProfileID = "prof_d"
		CommitIdentity(t, s, &mosaic.IdentityChanges{Profiles: []*mosaic.ProfileState{&a, &c, &d}, Identifiers: []*mosaic.IdentifierRecord{&moved}})
		for _, tc := range []struct {
			q    string
			want []mosaic.ProfileID
		}{
			{"ann", []mosaic.ProfileID{"prof_a"}}, // by its identifiers; annabel merged away
			{"ann l", nil},                        // an old term
			{"le", []mosaic.ProfileID{"prof_a"}},  // the new term
			{"joa", []mosaic.ProfileID{"prof_d"}}, // a kept term
			{"b-2", []mosaic.ProfileID{"prof_d"}}, // a moved identifier
			{"", []mosaic.ProfileID{"prof_B", "prof_a", "prof_d", "prof_e"}},
		} {
			if got, _ := find(mosaic.ProfileFilter{Q: tc.q}); !cmp.Equal(got, tc.want) {
				t.Errorf("after an update, %q finds %v, want %v", tc.q, got, tc.want)
			}
		}

		for _, pf := range []mosaic.ProfileFilter{{Cursor: "garbage"}, {Cursor: "pr_"}, {Limit: -1}, {Limit: mosaic.MaxProfilePage + 1}} {
			_, _, err := s.FindProfiles(ctx, pf)
			wantCode(t, err, mosaic.EINVALID)
		}
	})
	t.Run("FindProfileGraph", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		f := newProfileFixture(t, s)
		ids, edges, err := s.FindProfileGraph(ctx, "prof_B")
		must(t, err)
		var keys []mosaic.IdentifierKey
		for _, r := range ids {
			keys = append(keys, r.Key)
		}
		if diff := cmp.Diff([]mosaic.IdentifierKey{"kb-c2", "kb-c3", "kb-c1", "kb-email", "kb-user"}, keys); diff != "" {
			t.Fatalf("graph identifiers by type and value (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(f.ids["kb-c2"], ids[0]); diff != "" {
			t.Fatalf("graph identifier (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(f.edges[:3], edges, sortEdges); diff != "" {
			t.Fatalf("graph edges (-want +got):\n%s", diff)
		}
		ids, edges, err = s.FindProfileGraph(ctx, "prof_m")
		must(t, err)
		if len(ids) != 0 || len(edges) != 0 {
			t.Fatalf("merged profile's graph: %d identifiers, %d edges", len(ids), len(edges))
		}
		_, _, err = s.FindProfileGraph(ctx, "prof_nope")
		wantCode(t, err, mosaic.ENOTFOUND)
	})
}

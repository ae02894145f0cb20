package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mosaic-cdp/mosaic"
)

// jsonEqual compares JSON by value: stores keep the JSON they are given, but need not keep
// its spacing or key order.
var jsonEqual = cmp.Comparer(func(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
})

// Sort options for results whose order the interface leaves open.
var (
	sortIdentifiers = cmpopts.SortSlices(func(a, b *mosaic.IdentifierRecord) bool { return a.Key < b.Key })
	sortEdges       = cmpopts.SortSlices(func(a, b *mosaic.IdentityEdge) bool {
		return a.A+"\x00"+a.B+"\x00"+mosaic.IdentifierKey(a.Kind) < b.A+"\x00"+b.B+"\x00"+mosaic.IdentifierKey(b.Kind)
	})
	sortStates = cmpopts.SortSlices(func(a, b *mosaic.ProfileState) bool { return a.ID < b.ID })
)

// CommitIdentity commits identity changes (and events) as the next processed inbox record.
func CommitIdentity(t testing.TB, s mosaic.Store, ch *mosaic.IdentityChanges, evs ...*mosaic.Event) {
	t.Helper()
	ctx := context.Background()
	off, err := s.ProcessorOffset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitEvents(ctx, &mosaic.EventCommit{From: off, Through: off + 1, Events: evs, Identity: ch}); err != nil {
		t.Fatal(err)
	}
}

// Identifier returns an identifier record.
func Identifier(key mosaic.IdentifierKey, typ mosaic.IdentifierType, value string, profile mosaic.ProfileID, first time.Time) *mosaic.IdentifierRecord {
	return &mosaic.IdentifierRecord{Key: key, Identifier: mosaic.Identifier{Type: typ, Value: value}, ProfileID: profile, FirstSeen: first}
}

// Edge returns an identity edge between a and b (a < b).
func Edge(a, b mosaic.IdentifierKey, kind mosaic.EdgeKind, at time.Time, evidence string, src mosaic.SourceID) *mosaic.IdentityEdge {
	return &mosaic.IdentityEdge{A: a, B: b, Kind: kind, EventTime: at, Evidence: evidence, SourceID: src}
}

func testIdentity(t *testing.T, open Opener) {
	ctx := context.Background()
	// Nanoseconds and a zone other than UTC: stores keep microseconds and return UTC.
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	t0us := t0.Truncate(time.Microsecond)
	t.Run("IdentitySecret", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		secrets := make([][]byte, 8)
		var wg sync.WaitGroup
		for i := range secrets {
			wg.Go(func() {
				var err error
				if secrets[i], err = s.IdentitySecret(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		again, err := s.IdentitySecret(ctx)
		must(t, err)
		if len(again) != 32 {
			t.Fatalf("secret is %d bytes, want 32", len(again))
		}
		for i, sec := range secrets {
			if !bytes.Equal(sec, again) {
				t.Fatalf("call %d got another secret: %x, then %x", i, sec, again)
			}
		}
	})
	t.Run("IdentifiersEdges", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src, other := MustCreateSource(t, s, "web"), MustCreateSource(t, s, "crm")
		// Mixed-case keys: stores compare keys as bytes.
		ann := Identifier("K-user-ann", mosaic.IdentifierUserID, "ann", "prof_a", t0)
		email := Identifier("k-email-ann", mosaic.IdentifierEmail, "ann@example.com", "prof_a", t0.Add(time.Second))
		anon := Identifier("k-anon-1", mosaic.IdentifierAnonymousID, "anon-1", "prof_a", t0.Add(2*time.Second))
		anon.Hub = true
		email.Origin = "prof_z" // it came from a profile since merged into prof_a
		bob := Identifier("k-user-bob", mosaic.IdentifierUserID, "bob", "prof_b", t0.Add(3*time.Second))
		edges := []*mosaic.IdentityEdge{
			Edge(ann.Key, anon.Key, mosaic.EdgeImplicit, t0, "m1", src.ID),
			Edge(ann.Key, email.Key, mosaic.EdgeAlias, t0.Add(time.Minute), "m2", src.ID),
			Edge(ann.Key, email.Key, mosaic.EdgeImplicit, t0.Add(2*time.Minute), "m3", src.ID), // same pair, other kind
			Edge(ann.Key, bob.Key, mosaic.EdgeImplicit, t0.Add(3*time.Minute), "m4", other.ID),
		}
		edges[3].Refused = "limit:user_id"
		CommitIdentity(t, s, &mosaic.IdentityChanges{Identifiers: []*mosaic.IdentifierRecord{ann, email, anon, bob}, Edges: edges})

		stored := func(r *mosaic.IdentifierRecord) *mosaic.IdentifierRecord {
			cp := *r
			cp.FirstSeen = cp.FirstSeen.Truncate(time.Microsecond)
			return &cp
		}
		storedEdge := func(e *mosaic.IdentityEdge) *mosaic.IdentityEdge {
			cp := *e
			cp.EventTime = cp.EventTime.Truncate(time.Microsecond)
			return &cp
		}
		got, err := s.FindIdentifiers(ctx, []mosaic.IdentifierKey{email.Key, ann.Key, "k-missing"})
		must(t, err)
		if diff := cmp.Diff([]*mosaic.IdentifierRecord{stored(ann), stored(email)}, got, sortIdentifiers); diff != "" {
			t.Fatalf("FindIdentifiers (-want +got):\n%s", diff)
		}
		if got[0].FirstSeen.Location() != time.UTC {
			t.Errorf("FirstSeen in %v, want UTC", got[0].FirstSeen.Location())
		}
		got, err = s.FindIdentifiers(ctx, nil)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("FindIdentifiers(nil) = %d records", len(got))
		}
		got, err = s.FindProfileIdentifiers(ctx, []mosaic.ProfileID{"prof_a", "prof_nope"})
		must(t, err)
		if diff := cmp.Diff([]*mosaic.IdentifierRecord{stored(ann), stored(email), stored(anon)}, got, sortIdentifiers); diff != "" {
			t.Fatalf("FindProfileIdentifiers (-want +got):\n%s", diff)
		}
		if got, err = s.FindProfileIdentifiers(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("FindProfileIdentifiers(nil) = %v, %v", got, err)
		}
		for _, tc := range []struct {
			name string
			keys []mosaic.IdentifierKey
			want []*mosaic.IdentityEdge
		}{
			{"b end", []mosaic.IdentifierKey{email.Key}, edges[1:3]},
			{"refused", []mosaic.IdentifierKey{bob.Key}, edges[3:]},
			{"both ends listed", []mosaic.IdentifierKey{ann.Key, anon.Key, email.Key}, edges},
			{"none", []mosaic.IdentifierKey{"k-missing"}, nil},
			{"no keys", nil, nil},
		} {
			var want []*mosaic.IdentityEdge
			for _, e := range tc.want {
				want = append(want, storedEdge(e))
			}
			got, err := s.FindIdentityEdges(ctx, tc.keys)
			must(t, err)
			if diff := cmp.Diff(want, got, sortEdges, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("FindIdentityEdges %s (-want +got):\n%s", tc.name, diff)
			}
		}

		// Upserts: an identifier keeps its value and first sighting and takes the new profile
		// and hub flag; an edge takes the new evidence and refusal.
		bob2 := Identifier(bob.Key, mosaic.IdentifierUserID, "BOB", "prof_a", t0.Add(time.Hour))
		bob2.Hub = true
		e3 := Edge(ann.Key, bob.Key, mosaic.EdgeImplicit, t0.Add(-time.Minute), "m0", src.ID)
		e1 := *edges[1]
		e1.Refused = "blocked"
		CommitIdentity(t, s, &mosaic.IdentityChanges{Identifiers: []*mosaic.IdentifierRecord{bob2}, Edges: []*mosaic.IdentityEdge{e3, &e1}})
		got, err = s.FindIdentifiers(ctx, []mosaic.IdentifierKey{bob.Key})
		must(t, err)
		want := stored(bob)
		want.ProfileID, want.Hub = "prof_a", true
		if diff := cmp.Diff([]*mosaic.IdentifierRecord{want}, got); diff != "" {
			t.Fatalf("upserted identifier (-want +got):\n%s", diff)
		}
		gotEdges, err := s.FindIdentityEdges(ctx, []mosaic.IdentifierKey{ann.Key})
		must(t, err)
		wantEdges := []*mosaic.IdentityEdge{storedEdge(edges[0]), storedEdge(&e1), storedEdge(edges[2]), storedEdge(e3)}
		if diff := cmp.Diff(wantEdges, gotEdges, sortEdges); diff != "" {
			t.Fatalf("upserted edges (-want +got):\n%s", diff)
		}
	})
	t.Run("ProfileStates", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "web")
		a := &mosaic.ProfileState{ID: "prof_a", CreatedAt: t0us, UpdatedAt: t0us.Add(time.Hour),
			MergedFrom: []mosaic.ProfileID{"prof_c", "prof_d"}, Flags: []string{"capped"}, Groups: []string{"g1", "g2"},
			State: json.RawMessage(`{"name":{"rule":"latest","obs":[{"v":"Ann","t":"2026-11-26T10:00:00Z"}]}}`),
			Traits: map[string]json.RawMessage{
				"name": json.RawMessage(`"Ann"`), "age": json.RawMessage(`41`), "vip": json.RawMessage(`true`),
				"tags": json.RawMessage(`["a","b"]`), "address": json.RawMessage(`{"city":"Oslo","zip":"0150"}`),
				"nul": json.RawMessage(`"a\u0000b"`),
			},
			TraitSources: map[string]mosaic.TraitSource{
				"name": {SourceID: src.ID, MessageID: "m1", EventTime: t0us, ReceivedAt: t0us.Add(time.Second), Rule: "latest"},
				"age":  {SourceID: src.ID, MessageID: "m2", EventTime: t0us.Add(time.Minute), ReceivedAt: t0us.Add(time.Minute), Rule: "earliest"},
			},
			SearchTerms: []string{"ann"}}
		c := &mosaic.ProfileState{ID: "prof_c", CreatedAt: t0us, UpdatedAt: t0us, MergedInto: "prof_a",
			State: json.RawMessage(`{}`), Traits: map[string]json.RawMessage{}, TraitSources: map[string]mosaic.TraitSource{}}
		e := &mosaic.ProfileState{ID: "prof_e", CreatedAt: t0us, UpdatedAt: t0us} // every list and map nil
		CommitIdentity(t, s, &mosaic.IdentityChanges{Profiles: []*mosaic.ProfileState{a, c, e}})

		// Nil lists and maps come back empty, so the read model never shows null.
		wantE := &mosaic.ProfileState{ID: "prof_e", CreatedAt: t0us, UpdatedAt: t0us, MergedFrom: []mosaic.ProfileID{},
			Flags: []string{}, Groups: []string{}, State: json.RawMessage(`{}`),
			Traits: map[string]json.RawMessage{}, TraitSources: map[string]mosaic.TraitSource{}}
		noTerms := cmpopts.IgnoreFields(mosaic.ProfileState{}, "SearchTerms")
		wantC := *c
		wantC.MergedFrom, wantC.Flags, wantC.Groups = []mosaic.ProfileID{}, []string{}, []string{}
		got, err := s.FindProfileStates(ctx, []mosaic.ProfileID{"prof_e", "prof_a", "prof_c", "prof_nope", "prof_a"})
		must(t, err)
		if diff := cmp.Diff([]*mosaic.ProfileState{a, &wantC, wantE}, got, sortStates, jsonEqual, noTerms); diff != "" {
			t.Fatalf("FindProfileStates (-want +got):\n%s", diff)
		}
		got, err = s.FindProfileStates(ctx, nil)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("FindProfileStates(nil) = %d states", len(got))
		}

		// An update keeps the creation time and replaces the rest.
		a2 := *a
		a2.CreatedAt, a2.UpdatedAt = t0us.Add(time.Hour), t0us.Add(2*time.Hour)
		a2.MergedInto, a2.Flags, a2.Groups = "prof_z", nil, []string{"g3"}
		a2.Traits = map[string]json.RawMessage{"name": json.RawMessage(`"Annie"`)}
		a2.State = json.RawMessage(`{"name":{"rule":"latest","obs":[{"v":"Annie"}]}}`)
		CommitIdentity(t, s, &mosaic.IdentityChanges{Profiles: []*mosaic.ProfileState{&a2}})
		got, err = s.FindProfileStates(ctx, []mosaic.ProfileID{"prof_a"})
		must(t, err)
		wantA := a2
		wantA.CreatedAt, wantA.Flags = t0us, []string{}
		if diff := cmp.Diff([]*mosaic.ProfileState{&wantA}, got, jsonEqual, noTerms); diff != "" {
			t.Fatalf("updated profile state (-want +got):\n%s", diff)
		}
	})
	t.Run("Events", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src, other := MustCreateSource(t, s, "web"), MustCreateSource(t, s, "crm")
		ts := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
		ann := Identifier("K-ann", mosaic.IdentifierUserID, "ann", "prof_a", ts)
		anon := Identifier("k-anon", mosaic.IdentifierAnonymousID, "anon-1", "prof_a", ts)
		bob := Identifier("k-bob", mosaic.IdentifierUserID, "bob", "prof_b", ts)
		ev := func(id string, typ mosaic.EventType, key mosaic.IdentifierKey, profile mosaic.ProfileID) *mosaic.Event {
			e := Event(src.ID, id, "", ts)
			e.Type, e.Identity, e.ProfileID = typ, key, profile
			if typ != mosaic.EventTrack {
				e.Event = ""
			}
			return e
		}
		evs := []*mosaic.Event{
			ev("m1", mosaic.EventIdentify, ann.Key, "prof_a"),
			ev("m2", mosaic.EventTrack, anon.Key, "prof_a"),
			ev("m3", mosaic.EventGroup, bob.Key, "prof_b"),
			ev("m4", mosaic.EventTrack, "", ""), // no identifier
			ev("m5", mosaic.EventGroup, anon.Key, "prof_a"),
		}
		CommitIdentity(t, s, &mosaic.IdentityChanges{Identifiers: []*mosaic.IdentifierRecord{ann, anon, bob}}, evs[:3]...)
		CommitIdentity(t, s, nil, evs[3:]...)
		ids := func(evs []*mosaic.Event) []string {
			var out []string
			for _, e := range evs {
				out = append(out, e.MessageID)
			}
			return out
		}
		got, err := s.FindEventsByIdentity(ctx, []mosaic.IdentifierKey{anon.Key, ann.Key, "k-none"}, nil)
		must(t, err)
		if diff := cmp.Diff([]*mosaic.Event{evs[0], evs[1], evs[4]}, got); diff != "" { // identity and profile round-trip
			t.Fatalf("FindEventsByIdentity (-want +got):\n%s", diff)
		}
		got, err = s.FindEventsByIdentity(ctx, []mosaic.IdentifierKey{anon.Key, ann.Key, bob.Key}, []mosaic.EventType{mosaic.EventIdentify, mosaic.EventGroup})
		must(t, err)
		if diff := cmp.Diff([]string{"m1", "m3", "m5"}, ids(got)); diff != "" {
			t.Fatalf("FindEventsByIdentity with types (-want +got):\n%s", diff)
		}
		got, err = s.FindEventsByIdentity(ctx, nil, nil)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("FindEventsByIdentity(nil) = %d events", len(got))
		}

		// FindEvents by profile follows the identifiers: bob's events move with bob.
		for _, tc := range []struct {
			name string
			f    mosaic.EventFilter
			ids  []string
		}{
			{"profile", mosaic.EventFilter{ProfileID: "prof_a"}, []string{"m5", "m2", "m1"}},
			{"profile and type", mosaic.EventFilter{ProfileID: "prof_a", Type: mosaic.EventTrack}, []string{"m2"}},
			{"profile page", mosaic.EventFilter{ProfileID: "prof_a", Limit: 2}, []string{"m5", "m2"}},
			{"other profile", mosaic.EventFilter{ProfileID: "prof_b"}, []string{"m3"}},
			{"no such profile", mosaic.EventFilter{ProfileID: "prof_nope"}, nil},
		} {
			got, next, err := s.FindEvents(ctx, tc.f)
			must(t, err)
			if diff := cmp.Diff(tc.ids, ids(got)); diff != "" {
				t.Errorf("FindEvents %s (-want +got):\n%s", tc.name, diff)
			}
			if tc.f.Limit == 2 {
				rest, next2, err := s.FindEvents(ctx, mosaic.EventFilter{ProfileID: "prof_a", Limit: 2, Cursor: next})
				must(t, err)
				if diff := cmp.Diff([]string{"m1"}, ids(rest)); diff != "" || next2 != "" {
					t.Errorf("FindEvents second page (next %q) (-want +got):\n%s", next2, diff)
				}
			}
		}
		got, _, err = s.FindEvents(ctx, mosaic.EventFilter{ProfileID: "prof_a", Limit: 1})
		must(t, err)
		if diff := cmp.Diff([]*mosaic.Event{evs[4]}, got); diff != "" {
			t.Fatalf("FindEvents keeps identity (-want +got):\n%s", diff)
		}
		bob.ProfileID = "prof_a"
		CommitIdentity(t, s, &mosaic.IdentityChanges{Identifiers: []*mosaic.IdentifierRecord{bob}})
		got, _, err = s.FindEvents(ctx, mosaic.EventFilter{ProfileID: "prof_a"})
		must(t, err)
		if diff := cmp.Diff([]string{"m5", "m3", "m2", "m1"}, ids(got)); diff != "" {
			t.Errorf("FindEvents after a merge (-want +got):\n%s", diff)
		}

		stored, err := s.FindStoredMessageIDs(ctx, src.ID, []string{"m1", "m4", "m9"})
		must(t, err)
		if diff := cmp.Diff(map[string]bool{"m1": true, "m4": true}, stored); diff != "" {
			t.Fatalf("FindStoredMessageIDs (-want +got):\n%s", diff)
		}
		stored, err = s.FindStoredMessageIDs(ctx, other.ID, []string{"m1"})
		must(t, err)
		if stored == nil || len(stored) != 0 {
			t.Fatalf("FindStoredMessageIDs of another source = %v, want an empty map", stored)
		}
		stored, err = s.FindStoredMessageIDs(ctx, src.ID, nil)
		must(t, err)
		if stored == nil || len(stored) != 0 {
			t.Fatalf("FindStoredMessageIDs(nil) = %v, want an empty map", stored)
		}
	})
	t.Run("Events/CurrentProfile", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "web")
		ts := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
		ann := Identifier("k-ann", mosaic.IdentifierUserID, "ann", "prof_a", ts)
		bob := Identifier("k-bob", mosaic.IdentifierUserID, "bob", "prof_b", ts)
		ev := func(id, user string, key mosaic.IdentifierKey, profile mosaic.ProfileID) *mosaic.Event {
			e := Event(src.ID, id, user, ts)
			e.Identity, e.ProfileID = key, profile
			return e
		}
		evs := []*mosaic.Event{
			ev("m1", "ann", ann.Key, "prof_a"),
			ev("m2", "bob", bob.Key, "prof_b"),
			ev("m3", "bob", "", "prof_b"), // no identity: belongs to no profile, whatever it was processed with
		}
		CommitIdentity(t, s, &mosaic.IdentityChanges{Identifiers: []*mosaic.IdentifierRecord{ann, bob}}, evs...)
		// bob's profile is merged into ann's: bob's identifier moves, bob's events follow it.
		bob.ProfileID = "prof_a"
		CommitIdentity(t, s, &mosaic.IdentityChanges{Identifiers: []*mosaic.IdentifierRecord{bob}})
		profiles := func(evs []*mosaic.Event) map[string]mosaic.ProfileID {
			out := map[string]mosaic.ProfileID{}
			for _, e := range evs {
				out[e.MessageID] = e.ProfileID
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    mosaic.EventFilter
			want map[string]mosaic.ProfileID
		}{
			{"user", mosaic.EventFilter{UserID: "bob"}, map[string]mosaic.ProfileID{"m2": "prof_a", "m3": ""}},
			{"all", mosaic.EventFilter{}, map[string]mosaic.ProfileID{"m1": "prof_a", "m2": "prof_a", "m3": ""}},
			{"type", mosaic.EventFilter{Type: mosaic.EventTrack, SourceID: src.ID}, map[string]mosaic.ProfileID{"m1": "prof_a", "m2": "prof_a", "m3": ""}},
			{"profile", mosaic.EventFilter{ProfileID: "prof_a"}, map[string]mosaic.ProfileID{"m1": "prof_a", "m2": "prof_a"}},
			{"old profile", mosaic.EventFilter{ProfileID: "prof_b"}, map[string]mosaic.ProfileID{}},
		} {
			got, _, err := s.FindEvents(ctx, tc.f)
			must(t, err)
			if diff := cmp.Diff(tc.want, profiles(got)); diff != "" {
				t.Errorf("FindEvents %s: profiles (-want +got):\n%s", tc.name, diff)
			}
		}
		got, err := s.FindEventsByIdentity(ctx, []mosaic.IdentifierKey{bob.Key}, nil)
		must(t, err)
		if diff := cmp.Diff(map[string]mosaic.ProfileID{"m2": "prof_a"}, profiles(got)); diff != "" {
			t.Errorf("FindEventsByIdentity: profiles (-want +got):\n%s", diff)
		}
	})
	t.Run("Events/Timeline", func(t *testing.T) {
		// A profile's timeline is by event time, newest first: a backfilled old order takes
		// its place in the history, pages of two included; ties go by id.
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "web")
		ann := Identifier("k-ann", mosaic.IdentifierUserID, "ann", "prof_a", t0us)
		anon := Identifier("k-anon", mosaic.IdentifierAnonymousID, "a1", "prof_a", t0us)
		day := func(d int) time.Time { return time.Date(2026, 11, d, 10, 0, 0, 0, time.UTC) }
		var evs []*mosaic.Event
		for i, at := range []struct {
			d   int
			key mosaic.IdentifierKey
		}{{20, ann.Key}, {10, anon.Key}, {25, ann.Key}, {1, ann.Key}, {10, ann.Key}} { // received in this order
			e := Event(src.ID, fmt.Sprintf("m%d", i), "ann", day(at.d))
			e.Identity = at.key
			evs = append(evs, e)
		}
		CommitIdentity(t, s, &mosaic.IdentityChanges{Identifiers: []*mosaic.IdentifierRecord{ann, anon}}, evs...)
		var got []string
		cursor := ""
		for range 5 {
			page, next, err := s.FindEvents(ctx, mosaic.EventFilter{ProfileID: "prof_a", Limit: 2, Cursor: cursor})
			must(t, err)
			for _, e := range page {
				got = append(got, e.MessageID)
			}
			if cursor = next; next == "" {
				break
			}
		}
		if diff := cmp.Diff([]string{"m2", "m0", "m4", "m1", "m3"}, got); diff != "" {
			t.Errorf("timeline, newest event first (-want +got):\n%s", diff)
		}
		if _, _, err := s.FindEvents(ctx, mosaic.EventFilter{ProfileID: "prof_a", Cursor: "ev_12"}); mosaic.ErrorCode(err) != mosaic.EINVALID {
			t.Errorf("a timeline with an id cursor: %v, want invalid", err)
		}
	})
	t.Run("ManyKeys", func(t *testing.T) {
		// More keys than one statement's worth of parameters in the sqlite store: results are
		// still sets (no edge twice) and events still come in processing order.
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "web")
		const n = 1200
		keys := make([]mosaic.IdentifierKey, n)
		ch := &mosaic.IdentityChanges{}
		var evs []*mosaic.Event
		for i := range keys {
			keys[i] = mosaic.IdentifierKey(fmt.Sprintf("k%05d", i))
			ch.Identifiers = append(ch.Identifiers, Identifier(keys[i], mosaic.IdentifierAnonymousID, fmt.Sprintf("anon-%05d", i), "prof_many", t0us))
			if i > 0 {
				ch.Edges = append(ch.Edges, Edge(keys[i-1], keys[i], mosaic.EdgeImplicit, t0us, fmt.Sprintf("m%05d", i), src.ID))
			}
			e := Event(src.ID, fmt.Sprintf("m%05d", i), "", t0us)
			e.Identity = keys[i]
			evs = append(evs, e)
		}
		ch.Profiles = []*mosaic.ProfileState{{ID: "prof_many", CreatedAt: t0us, UpdatedAt: t0us}}
		CommitIdentity(t, s, ch, evs...)
		reversed := slices.Clone(keys)
		slices.Reverse(reversed)
		withDup := append(slices.Clone(reversed), reversed[0])

		recs, err := s.FindIdentifiers(ctx, withDup)
		must(t, err)
		if len(recs) != n {
			t.Errorf("FindIdentifiers returned %d records for %d keys", len(recs), n)
		}
		edges, err := s.FindIdentityEdges(ctx, withDup)
		must(t, err)
		seen := map[[2]mosaic.IdentifierKey]int{}
		for _, e := range edges {
			seen[[2]mosaic.IdentifierKey{e.A, e.B}]++
		}
		if len(edges) != n-1 || len(seen) != n-1 {
			t.Errorf("FindIdentityEdges returned %d edges (%d distinct), want %d", len(edges), len(seen), n-1)
		}
		got, err := s.FindEventsByIdentity(ctx, withDup, nil)
		must(t, err)
		if len(got) != n || !slices.IsSortedFunc(got, func(a, b *mosaic.Event) int { return int(a.ID - b.ID) }) {
			t.Errorf("FindEventsByIdentity returned %d events (want %d), sorted by id: %v", len(got), n,
				slices.IsSortedFunc(got, func(a, b *mosaic.Event) int { return int(a.ID - b.ID) }))
		}
		var msgs []string
		for _, e := range evs {
			msgs = append(msgs, e.MessageID)
		}
		stored, err := s.FindStoredMessageIDs(ctx, src.ID, msgs)
		must(t, err)
		if len(stored) != n {
			t.Errorf("FindStoredMessageIDs found %d of %d", len(stored), n)
		}
		must(t, s.AddIdentityConstraint(ctx, &mosaic.IdentityConstraint{A: keys[499], B: keys[500], Reason: "split"}))
		cons, err := s.FindIdentityConstraints(ctx, keys)
		must(t, err)
		if len(cons) != 1 {
			t.Errorf("FindIdentityConstraints returned %d constraints, want 1", len(cons))
		}
		ids, graph, err := s.FindProfileGraph(ctx, "prof_many")
		must(t, err)
		if len(ids) != n || len(graph) != n-1 {
			t.Errorf("FindProfileGraph: %d identifiers and %d edges, want %d and %d", len(ids), len(graph), n, n-1)
		}
	})
	t.Run("Constraints", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		err := s.AddIdentityConstraint(ctx, &mosaic.IdentityConstraint{B: "k-b"})
		wantCode(t, err, mosaic.EINVALID)

		// Keys chosen so that byte order differs from dictionary order: "Zk" < "ak".
		blocked := &mosaic.IdentityConstraint{A: "ak", B: "Zk", Reason: "two people", By: "ann"}
		before := time.Now().Add(-time.Minute)
		must(t, s.AddIdentityConstraint(ctx, blocked))
		if blocked.A != "Zk" || blocked.B != "ak" {
			t.Fatalf("pair stored as (%s, %s), want (Zk, ak)", blocked.A, blocked.B)
		}
		if blocked.CreatedAt.Before(before) || blocked.CreatedAt.After(time.Now().Add(time.Minute)) {
			t.Fatalf("CreatedAt=%v, want about now", blocked.CreatedAt)
		}
		removed := &mosaic.IdentityConstraint{A: "k-shared", Reason: "shared device"}
		must(t, s.AddIdentityConstraint(ctx, removed))
		// The same pair again is no error and keeps the first record.
		must(t, s.AddIdentityConstraint(ctx, &mosaic.IdentityConstraint{A: "Zk", B: "ak", Reason: "again"}))

		sortCons := cmpopts.SortSlices(func(a, b *mosaic.IdentityConstraint) bool { return a.A+"\x00"+a.B < b.A+"\x00"+b.B })
		for _, tc := range []struct {
			name string
			keys []mosaic.IdentifierKey
			want []*mosaic.IdentityConstraint
		}{
			{"a end", []mosaic.IdentifierKey{"Zk"}, []*mosaic.IdentityConstraint{blocked}},
			{"b end", []mosaic.IdentifierKey{"ak"}, []*mosaic.IdentityConstraint{blocked}},
			{"both ends", []mosaic.IdentifierKey{"ak", "Zk", "k-shared"}, []*mosaic.IdentityConstraint{blocked, removed}},
			{"none", []mosaic.IdentifierKey{"k-other"}, nil},
		} {
			got, err := s.FindIdentityConstraints(ctx, tc.keys)
			must(t, err)
			if diff := cmp.Diff(tc.want, got, sortCons, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("FindIdentityConstraints %s (-want +got):\n%s", tc.name, diff)
			}
		}

		pending, err := s.PendingRecomputes(ctx, 10)
		must(t, err)
		if diff := cmp.Diff([]mosaic.IdentifierKey{"Zk", "ak", "k-shared"}, pending); diff != "" {
			t.Fatalf("PendingRecomputes (-want +got):\n%s", diff)
		}
		pending, err = s.PendingRecomputes(ctx, 1)
		must(t, err)
		if diff := cmp.Diff([]mosaic.IdentifierKey{"Zk"}, pending); diff != "" {
			t.Fatalf("PendingRecomputes limit 1 (-want +got):\n%s", diff)
		}
		CommitIdentity(t, s, &mosaic.IdentityChanges{Recomputed: []mosaic.IdentifierKey{"Zk", "k-shared", "k-never-queued"}})
		pending, err = s.PendingRecomputes(ctx, 10)
		must(t, err)
		if diff := cmp.Diff([]mosaic.IdentifierKey{"ak"}, pending); diff != "" {
			t.Fatalf("PendingRecomputes after a recompute (-want +got):\n%s", diff)
		}
		// Constraints stay after their recomputation.
		got, err := s.FindIdentityConstraints(ctx, []mosaic.IdentifierKey{"k-shared"})
		must(t, err)
		if len(got) != 1 {
			t.Fatalf("constraints after recompute: %d, want 1", len(got))
		}

		// A steward lifts them (a pair named in either order); each lift queues its
		// identifiers, and lifting what is not recorded is not_found.
		CommitIdentity(t, s, &mosaic.IdentityChanges{Recomputed: []mosaic.IdentifierKey{"ak"}})
		must(t, s.RemoveIdentityConstraint(ctx, "ak", "Zk"))
		wantCode(t, s.RemoveIdentityConstraint(ctx, "Zk", "ak"), mosaic.ENOTFOUND)
		wantCode(t, s.RemoveIdentityConstraint(ctx, "k-shared", "ak"), mosaic.ENOTFOUND)
		must(t, s.RemoveIdentityConstraint(ctx, "k-shared", ""))
		got, err = s.FindIdentityConstraints(ctx, []mosaic.IdentifierKey{"ak", "Zk", "k-shared"})
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("constraints after lifting them: %+v", got)
		}
		pending, err = s.PendingRecomputes(ctx, 10)
		must(t, err)
		if diff := cmp.Diff([]mosaic.IdentifierKey{"Zk", "ak", "k-shared"}, pending); diff != "" {
			t.Fatalf("PendingRecomputes after lifting (-want +got):\n%s", diff)
		}
	})
	t.Run("ProfileRebuild", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		live := func(id mosaic.ProfileID) *mosaic.ProfileState {
			return &mosaic.ProfileState{ID: id, CreatedAt: t0us, UpdatedAt: t0us}
		}
		merged := live("prof_c")
		merged.MergedInto = "prof_a"
		CommitIdentity(t, s, &mosaic.IdentityChanges{
			Identifiers: []*mosaic.IdentifierRecord{
				Identifier("kb", mosaic.IdentifierUserID, "u1", "prof_a", t0us), Identifier("ka", mosaic.IdentifierEmail, "a@example.com", "prof_a", t0us),
				Identifier("kd", mosaic.IdentifierUserID, "u2", "prof_b", t0us), Identifier("kc", mosaic.IdentifierAnonymousID, "a2", "prof_b", t0us),
				Identifier("ke", mosaic.IdentifierUserID, "u3", "prof_d", t0us),
			},
			Profiles: []*mosaic.ProfileState{live("prof_a"), live("prof_b"), merged, live("prof_d")},
		})
		// One profile (and ids that are no live profile: merged away, unknown).
		n, err := s.QueueProfileRebuild(ctx, []mosaic.ProfileID{"prof_b", "prof_c", "prof_nope", "prof_b"})
		must(t, err)
		if n != 1 {
			t.Fatalf("QueueProfileRebuild(prof_b …) = %d, want 1", n)
		}
		pending, err := s.PendingRebuilds(ctx, 10)
		must(t, err)
		if diff := cmp.Diff([]mosaic.IdentifierKey{"kc"}, pending); diff != "" {
			t.Fatalf("PendingRebuilds, by the least key of the profile (-want +got):\n%s", diff)
		}
		// Every live profile; prof_b is queued already.
		n, err = s.QueueProfileRebuild(ctx, nil)
		must(t, err)
		if n != 2 {
			t.Fatalf("QueueProfileRebuild(all) = %d, want 2 newly queued", n)
		}
		pending, err = s.PendingRebuilds(ctx, 2)
		must(t, err)
		if diff := cmp.Diff([]mosaic.IdentifierKey{"ka", "kc"}, pending); diff != "" {
			t.Fatalf("PendingRebuilds limit 2 (-want +got):\n%s", diff)
		}
		st, err := s.Stats(ctx)
		must(t, err)
		if st.PendingRebuilds != 3 {
			t.Fatalf("stats pending_rebuilds = %d, want 3", st.PendingRebuilds)
		}
		CommitIdentity(t, s, &mosaic.IdentityChanges{Rebuilt: []mosaic.IdentifierKey{"ka", "ke", "k-never-queued"}})
		pending, err = s.PendingRebuilds(ctx, 10)
		must(t, err)
		if diff := cmp.Diff([]mosaic.IdentifierKey{"kc"}, pending); diff != "" {
			t.Fatalf("PendingRebuilds after a commit (-want +got):\n%s", diff)
		}
		// A rebuild of every profile also rebuilds every group, from the group calls.
		if pg, err := s.PendingGroupRebuild(ctx); err != nil || !pg {
			t.Fatalf("PendingGroupRebuild after queueing every profile: %v, %v", pg, err)
		}
		src := MustCreateSource(t, s, "web")
		var evs []*mosaic.Event
		for i, typ := range []mosaic.EventType{mosaic.EventGroup, mosaic.EventTrack, mosaic.EventGroup, mosaic.EventIdentify, mosaic.EventGroup} {
			e := Event(src.ID, fmt.Sprintf("m%d", i), "", t0us)
			e.Type = typ
			if typ != mosaic.EventTrack {
				e.Event = ""
			}
			if typ == mosaic.EventGroup {
				e.GroupID = fmt.Sprintf("g%d", i)
				e.Traits = json.RawMessage(`{"employees":5}`)
			}
			evs = append(evs, e)
		}
		CommitIdentity(t, s, nil, evs...)
		page1, err := s.FindGroupCalls(ctx, 0, 2)
		must(t, err)
		if len(page1) != 2 || page1[0].GroupID != "g0" || page1[1].GroupID != "g2" || string(page1[0].Traits) != `{"employees":5}` {
			t.Fatalf("FindGroupCalls first page: %+v", page1)
		}
		page2, err := s.FindGroupCalls(ctx, page1[1].ID, 2)
		must(t, err)
		if len(page2) != 1 || page2[0].GroupID != "g4" {
			t.Fatalf("FindGroupCalls second page: %+v", page2)
		}
		CommitIdentity(t, s, &mosaic.IdentityChanges{GroupsRebuilt: true})
		if pg, err := s.PendingGroupRebuild(ctx); err != nil || pg {
			t.Fatalf("PendingGroupRebuild after the groups were rebuilt: %v, %v", pg, err)
		}
		// Queueing some profiles leaves the groups alone.
		_, err = s.QueueProfileRebuild(ctx, []mosaic.ProfileID{"prof_a"})
		must(t, err)
		if pg, _ := s.PendingGroupRebuild(ctx); pg {
			t.Fatal("queueing one profile queued the groups")
		}
	})
	t.Run("IdentityReplay", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if r, err := s.IdentityReplay(ctx); r != nil || err != nil {
			t.Fatalf("IdentityReplay on a new store: %+v, %v", r, err)
		}
		src := MustCreateSource(t, s, "web")
		var evs []*mosaic.Event
		for i := range 3 {
			e := Event(src.ID, fmt.Sprintf("m%d", i), "", t0us)
			e.Identity = mosaic.IdentifierKey(fmt.Sprintf("k%d", i))
			evs = append(evs, e)
		}
		edge := func(a, b mosaic.IdentifierKey, kind mosaic.EdgeKind) *mosaic.IdentityEdge {
			return &mosaic.IdentityEdge{A: a, B: b, Kind: kind, EventTime: t0us, Evidence: "m0", SourceID: src.ID}
		}
		CommitIdentity(t, s, &mosaic.IdentityChanges{
			Identifiers: []*mosaic.IdentifierRecord{Identifier("k0", mosaic.IdentifierAnonymousID, "a0", "prof_a", t0us),
				Identifier("k1", mosaic.IdentifierAnonymousID, "a1", "prof_a", t0us), Identifier("k2", mosaic.IdentifierAnonymousID, "a2", "prof_a", t0us),
				Identifier("k3", mosaic.IdentifierEmail, "e@example.com", "prof_a", t0us),
				Identifier("k9", mosaic.IdentifierEmail, "orders@shop.example", "prof_z", t0us)},
			Edges: []*mosaic.IdentityEdge{edge("k0", "k1", mosaic.EdgeImplicit), edge("k1", "k2", mosaic.EdgeAlias), edge("k0", "k3", mosaic.EdgeProbabilistic)},
			Profiles: []*mosaic.ProfileState{{ID: "prof_a", CreatedAt: t0us, UpdatedAt: t0us},
				{ID: "prof_z", CreatedAt: t0us, UpdatedAt: t0us, Traits: map[string]json.RawMessage{"plan": json.RawMessage(`"x"`)}, SearchTerms: []string{"x"}}},
		}, evs...)
		must(t, s.PutSetting(ctx, mosaic.SettingProcessorIdentityRules, `{"rules":"new"}`))
		must(t, s.PutSetting(ctx, mosaic.SettingProcessorTraitRules, `{"traits":"now"}`))
		must(t, s.PutSetting(ctx, mosaic.SettingMixedIdentityRules, `[{"rules":"meanwhile"}]`))
		r, err := s.QueueIdentityReplay(ctx)
		must(t, err)
		if r.After != 0 || r.Through != evs[2].ID {
			t.Fatalf("QueueIdentityReplay = %+v, want through the last event %d", r, evs[2].ID)
		}
		if got, err := s.IdentityReplay(ctx); err != nil || got == nil || *got != *r {
			t.Fatalf("IdentityReplay = %+v, %v; want %+v", got, err, r)
		}
		if rules, _, _ := s.Setting(ctx, mosaic.SettingGraphIdentityRules); rules != `{"rules":"new"}` {
			t.Errorf("graph identity rules after queueing = %q, want the lease holder's", rules)
		}
		if mixed, ok, _ := s.Setting(ctx, mosaic.SettingMixedIdentityRules); ok {
			t.Errorf("other rules events were resolved under, after queueing = %q, want none", mixed)
		}
		// The links events made are stale; matching's are not.
		stale := func() map[mosaic.EdgeKind]bool {
			t.Helper()
			es, err := s.FindIdentityEdges(ctx, []mosaic.IdentifierKey{"k0", "k1", "k2", "k3"})
			must(t, err)
			out := map[mosaic.EdgeKind]bool{}
			for _, e := range es {
				out[e.Kind] = e.Stale
			}
			return out
		}
		if diff := cmp.Diff(map[mosaic.EdgeKind]bool{mosaic.EdgeImplicit: true, mosaic.EdgeAlias: true, mosaic.EdgeProbabilistic: false}, stale()); diff != "" {
			t.Fatalf("stale links after queueing (-want +got):\n%s", diff)
		}
		page, err := s.FindStoredEvents(ctx, 0, r.Through, 2)
		must(t, err)
		if len(page) != 2 || page[0].ID != evs[0].ID || page[0].Identity != "k0" || page[1].ID != evs[1].ID || string(page[0].Properties) == "" {
			t.Fatalf("FindStoredEvents first page: %+v", page)
		}
		if rest, _ := s.FindStoredEvents(ctx, page[1].ID, evs[1].ID, 10); len(rest) != 0 {
			t.Fatalf("FindStoredEvents past through: %+v", rest)
		}
		if recs, _ := s.FindIdentifiers(ctx, []mosaic.IdentifierKey{"k0", "k9"}); len(recs) != 2 || !recs[0].Stale || !recs[1].Stale {
			t.Fatalf("identifiers after queueing: %+v, want stale", recs)
		}
		// A page replayed: progress, a re-filed event, identifiers and a link held again, a
		// rebuild queued.
		made := edge("k0", "k1", mosaic.EdgeImplicit)
		held := []*mosaic.IdentifierRecord{Identifier("k0", mosaic.IdentifierAnonymousID, "a0", "prof_a", t0us), Identifier("k1", mosaic.IdentifierAnonymousID, "a1", "prof_a", t0us)}
		next := &mosaic.IdentityReplay{After: page[1].ID, Through: r.Through}
		// k2 and its alias link are rewritten with no event holding them (their profile
		// changed): written with Stale set, they keep the mark.
		rewritten := Identifier("k2", mosaic.IdentifierAnonymousID, "a2", "prof_a", t0us)
		rewritten.Stale = true
		relinked := edge("k1", "k2", mosaic.EdgeAlias)
		relinked.Stale, relinked.Refused = true, "limit:anonymous_id"
		CommitIdentity(t, s, &mosaic.IdentityChanges{Replay: next, ReplayFrom: r, Edges: []*mosaic.IdentityEdge{made, relinked},
			Identifiers: append(slices.Clone(held), rewritten),
			Reanchored:  []mosaic.EventAnchor{{ID: evs[1].ID, Identity: "k3"}}, QueueRebuild: []mosaic.IdentifierKey{"k3"}})
		if got, _ := s.IdentityReplay(ctx); got == nil || *got != *next {
			t.Fatalf("IdentityReplay after a page = %+v, want %+v", got, next)
		}
		if diff := cmp.Diff(map[mosaic.EdgeKind]bool{mosaic.EdgeImplicit: false, mosaic.EdgeAlias: true, mosaic.EdgeProbabilistic: false}, stale()); diff != "" {
			t.Fatalf("stale links after a page (-want +got):\n%s", diff)
		}
		if filed, _ := s.FindEventsByIdentity(ctx, []mosaic.IdentifierKey{"k3"}, nil); len(filed) != 1 || filed[0].ID != evs[1].ID {
			t.Fatalf("events filed under k3 after the page: %+v", filed)
		}
		if pending, _ := s.PendingRebuilds(ctx, 10); !slices.Contains(pending, "k3") {
			t.Fatalf("PendingRebuilds after the page: %v", pending)
		}
		// Progress from a replay that was queued again meanwhile is not recorded.
		again, err := s.QueueIdentityReplay(ctx)
		must(t, err)
		CommitIdentity(t, s, &mosaic.IdentityChanges{Replay: &mosaic.IdentityReplay{After: r.Through, Through: r.Through}, ReplayFrom: next})
		if got, _ := s.IdentityReplay(ctx); got == nil || *got != *again {
			t.Fatalf("IdentityReplay after a stale page = %+v, want %+v", got, again)
		}
		// The end: links still stale go, and identifiers no event held (k2, k3, k9) with
		// every link they have (matching's too) and the profile left without one (prof_z);
		// the ends that stay are queued for a recompute, the replay is forgotten.
		CommitIdentity(t, s, &mosaic.IdentityChanges{Replay: &mosaic.IdentityReplay{After: again.Through, Through: again.Through}, ReplayFrom: again,
			Edges: []*mosaic.IdentityEdge{made}, Identifiers: held})
		if got, err := s.IdentityReplay(ctx); got != nil || err != nil {
			t.Fatalf("IdentityReplay after the end = %+v, %v", got, err)
		}
		if diff := cmp.Diff(map[mosaic.EdgeKind]bool{mosaic.EdgeImplicit: false}, stale()); diff != "" {
			t.Fatalf("links after the end (-want +got):\n%s", diff)
		}
		recs, err := s.FindIdentifiers(ctx, []mosaic.IdentifierKey{"k0", "k1", "k2", "k3", "k9"})
		must(t, err)
		var left []mosaic.IdentifierKey
		for _, r := range recs {
			if r.Stale {
				t.Errorf("identifier %s left stale", r.Key)
			}
			left = append(left, r.Key)
		}
		slices.Sort(left)
		if diff := cmp.Diff([]mosaic.IdentifierKey{"k0", "k1"}, left); diff != "" {
			t.Fatalf("identifiers after the end (-want +got):\n%s", diff)
		}
		if _, err := s.FindProfileByID(ctx, "prof_z"); mosaic.ErrorCode(err) != mosaic.ENOTFOUND {
			t.Errorf("the profile left without an identifier: %v, want not found", err)
		}
		if ps, _, err := s.FindProfiles(ctx, mosaic.ProfileFilter{Q: "x"}); err != nil || len(ps) != 0 {
			t.Errorf("search finds the gone profile: %v %v", ps, err)
		}
		if st, _ := s.Stats(ctx); st.Profiles != 1 || st.Identifiers != 2 {
			t.Errorf("stats after the end: %d profiles, %d identifiers; want 1, 2", st.Profiles, st.Identifiers)
		}
		recompute, err := s.PendingRecomputes(ctx, 10)
		must(t, err)
		if diff := cmp.Diff([]mosaic.IdentifierKey{"k0", "k1"}, recompute); diff != "" {
			t.Fatalf("recomputes queued at the end (-want +got):\n%s", diff)
		}
		// And every profile and group is rebuilt under the rules in force.
		if pending, _ := s.PendingRebuilds(ctx, 10); !slices.Contains(pending, "k0") || slices.Contains(pending, "k3") {
			t.Fatalf("PendingRebuilds after the end: %v, want prof_a's least key k0 and no gone identifier", pending)
		}
		if pg, err := s.PendingGroupRebuild(ctx); err != nil || !pg {
			t.Fatalf("PendingGroupRebuild after the end: %v %v", pg, err)
		}
		if rules, _, _ := s.Setting(ctx, mosaic.SettingProfileTraitRules); rules != `{"traits":"now"}` {
			t.Errorf("profile trait rules after the end = %q, want the lease holder's", rules)
		}
	})
	t.Run("Stats", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "web")
		st, err := s.Stats(ctx)
		must(t, err)
		if diff := cmp.Diff(mosaic.Stats{Sources: 1}, *st); diff != "" {
			t.Fatalf("empty store stats (-want +got):\n%s", diff)
		}
		live := func(id mosaic.ProfileID) *mosaic.ProfileState {
			return &mosaic.ProfileState{ID: id, CreatedAt: t0us, UpdatedAt: t0us}
		}
		merged := live("prof_c")
		merged.MergedInto = "prof_a"
		refused := Edge("k1", "k3", mosaic.EdgeImplicit, t0us, "m1", src.ID)
		refused.Refused = "limit:user_id"
		CommitIdentity(t, s, &mosaic.IdentityChanges{
			Identifiers: []*mosaic.IdentifierRecord{
				Identifier("k1", mosaic.IdentifierUserID, "u1", "prof_a", t0us), Identifier("k2", mosaic.IdentifierEmail, "a@example.com", "prof_a", t0us),
				Identifier("k3", mosaic.IdentifierUserID, "u3", "prof_b", t0us), Identifier("k4", mosaic.IdentifierUserID, "u4", "prof_d", t0us),
			},
			Edges:    []*mosaic.IdentityEdge{Edge("k1", "k2", mosaic.EdgeImplicit, t0us, "m1", src.ID), refused},
			Profiles: []*mosaic.ProfileState{live("prof_a"), live("prof_b"), merged, live("prof_d")},
			Merges:   1, InvalidIdentifiers: 2,
		})
		// Later: prof_d merges away, one refusal is lifted and another made.
		mergedD := live("prof_d")
		mergedD.MergedInto = "prof_a"
		lifted := *refused
		lifted.Refused = ""
		hub := Edge("k2", "k4", mosaic.EdgeImplicit, t0us, "m2", src.ID)
		hub.Refused = "hub"
		CommitIdentity(t, s, &mosaic.IdentityChanges{
			Identifiers: []*mosaic.IdentifierRecord{Identifier("k4", mosaic.IdentifierUserID, "u4", "prof_a", t0us)},
			Edges:       []*mosaic.IdentityEdge{&lifted, hub, Edge("k2", "k3", mosaic.EdgeAlias, t0us, "m3", src.ID)},
			Profiles:    []*mosaic.ProfileState{mergedD}, Merges: 2, InvalidIdentifiers: 3,
		})
		st, err = s.Stats(ctx)
		must(t, err)
		want := mosaic.Stats{Sources: 1, Profiles: 2, Identifiers: 4, Merges: 3, RefusedLinks: 1, InvalidIdentifiers: 5}
		if diff := cmp.Diff(want, *st, cmpopts.IgnoreFields(mosaic.Stats{}, "Processed", "InboxLag")); diff != "" {
			t.Fatalf("stats (-want +got):\n%s", diff)
		}
	})
}

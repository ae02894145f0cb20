package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mosaic-cdp/mosaic"
)

var sortGroups = cmpopts.SortSlices(func(a, b *mosaic.GroupState) bool { return a.ID < b.ID })

func testGroups(t *testing.T, open Opener) {
	ctx := context.Background()
	// Nanoseconds and a zone other than UTC: stores keep microseconds and return UTC.
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	t0us := t0.Truncate(time.Microsecond)
	t.Run("FindGroupStates", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "web")
		acme := &mosaic.GroupState{ID: "acme", CreatedAt: t0us, UpdatedAt: t0us.Add(time.Hour),
			State: json.RawMessage(`{"plan":{"v":"enterprise"}}`),
			Traits: map[string]json.RawMessage{
				"name": json.RawMessage(`"Acme Inc"`), "employees": json.RawMessage(`120`), "nul": json.RawMessage(`"a\u0000b"`),
				"address": json.RawMessage(`{"city":"Oslo"}`),
			},
			TraitSources: map[string]mosaic.TraitSource{
				"name": {SourceID: src.ID, MessageID: "m1", EventTime: t0us, ReceivedAt: t0us.Add(time.Second), Rule: "latest"},
			}}
		empty := &mosaic.GroupState{ID: "Acme", CreatedAt: t0us, UpdatedAt: t0us} // ids are case-sensitive; nil maps
		odd := &mosaic.GroupState{ID: "g/é\x00 1", CreatedAt: t0us, UpdatedAt: t0us, State: json.RawMessage(`{}`),
			Traits: map[string]json.RawMessage{}, TraitSources: map[string]mosaic.TraitSource{}} // any string a client sends
		CommitIdentity(t, s, &mosaic.IdentityChanges{Groups: []*mosaic.GroupState{acme, empty, odd}})

		wantEmpty := &mosaic.GroupState{ID: "Acme", CreatedAt: t0us, UpdatedAt: t0us, State: json.RawMessage(`{}`),
			Traits: map[string]json.RawMessage{}, TraitSources: map[string]mosaic.TraitSource{}}
		got, err := s.FindGroupStates(ctx, []string{odd.ID, "acme", "Acme", "nope", "acme"})
		must(t, err)
		if diff := cmp.Diff([]*mosaic.GroupState{acme, wantEmpty, odd}, got, sortGroups, jsonEqual); diff != "" {
			t.Fatalf("FindGroupStates (-want +got):\n%s", diff)
		}
		got, err = s.FindGroupStates(ctx, nil)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("FindGroupStates(nil) = %d states", len(got))
		}

		// An update keeps the creation time and replaces the rest.
		acme2 := *acme
		acme2.CreatedAt, acme2.UpdatedAt = t0us.Add(time.Hour), t0us.Add(2*time.Hour)
		acme2.State = json.RawMessage(`{"plan":{"v":"pro"}}`)
		acme2.Traits = map[string]json.RawMessage{"plan": json.RawMessage(`"pro"`)}
		acme2.TraitSources = nil
		CommitIdentity(t, s, &mosaic.IdentityChanges{Groups: []*mosaic.GroupState{&acme2}})
		got, err = s.FindGroupStates(ctx, []string{"acme"})
		must(t, err)
		want := acme2
		want.CreatedAt, want.TraitSources = t0us, map[string]mosaic.TraitSource{}
		if diff := cmp.Diff([]*mosaic.GroupState{&want}, got, jsonEqual); diff != "" {
			t.Fatalf("updated group state (-want +got):\n%s", diff)
		}
	})
	t.Run("FindGroupByID", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "web")
		acme := &mosaic.GroupState{ID: "acme", CreatedAt: t0us, UpdatedAt: t0us.Add(time.Hour), State: json.RawMessage(`{"name":{"v":"Acme Inc"}}`),
			Traits:       map[string]json.RawMessage{"name": json.RawMessage(`"Acme Inc"`), "employees": json.RawMessage(`120`)},
			TraitSources: map[string]mosaic.TraitSource{"name": {SourceID: src.ID, MessageID: "m1", EventTime: t0us, ReceivedAt: t0us, Rule: "latest"}}}
		CommitIdentity(t, s, &mosaic.IdentityChanges{Groups: []*mosaic.GroupState{acme, {ID: "bare", CreatedAt: t0us, UpdatedAt: t0us}}})
		got, err := s.FindGroupByID(ctx, "acme")
		must(t, err)
		want := &mosaic.Group{ID: "acme", Traits: acme.Traits, TraitSources: acme.TraitSources, CreatedAt: t0us, UpdatedAt: t0us.Add(time.Hour)}
		if diff := cmp.Diff(want, got, jsonEqual); diff != "" {
			t.Fatalf("FindGroupByID (-want +got):\n%s", diff)
		}
		// A group with no traits reads back with empty maps, never null.
		got, err = s.FindGroupByID(ctx, "bare")
		must(t, err)
		wantBare := &mosaic.Group{ID: "bare", Traits: map[string]json.RawMessage{}, TraitSources: map[string]mosaic.TraitSource{}, CreatedAt: t0us, UpdatedAt: t0us}
		if diff := cmp.Diff(wantBare, got); diff != "" {
			t.Fatalf("group without traits (-want +got):\n%s", diff)
		}
		for _, id := range []string{"nope", "ACME", ""} {
			_, err = s.FindGroupByID(ctx, id)
			wantCode(t, err, mosaic.ENOTFOUND)
		}
	})
	t.Run("FindGroupMembers", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		state := func(id mosaic.ProfileID, groups ...string) *mosaic.ProfileState {
			return &mosaic.ProfileState{ID: id, CreatedAt: t0us, UpdatedAt: t0us, Groups: groups}
		}
		// Profile ids mix cases so that byte order differs from dictionary order.
		CommitIdentity(t, s, &mosaic.IdentityChanges{Profiles: []*mosaic.ProfileState{
			state("prof_a", "acme", "globex"), state("prof_B", "acme"), state("prof_c", "globex"), state("prof_d"),
			state("prof_e", "g/é\x00 1"),
		}})
		members := func(group string, limit int, after ...mosaic.ProfileID) []mosaic.ProfileID {
			t.Helper()
			got, err := s.FindGroupMembers(ctx, group, append(after, "")[0], limit)
			must(t, err)
			return got
		}
		for _, tc := range []struct {
			name  string
			group string
			limit int
			want  []mosaic.ProfileID
		}{
			{"by id, byte order", "acme", 10, []mosaic.ProfileID{"prof_B", "prof_a"}},
			{"limit", "acme", 1, []mosaic.ProfileID{"prof_B"}},
			{"other group", "globex", 10, []mosaic.ProfileID{"prof_a", "prof_c"}},
			{"odd id", "g/é\x00 1", 10, []mosaic.ProfileID{"prof_e"}},
			{"case-sensitive", "ACME", 10, nil},
			{"unknown group", "nope", 10, nil},
		} {
			if diff := cmp.Diff(tc.want, members(tc.group, tc.limit), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("FindGroupMembers %s (-want +got):\n%s", tc.name, diff)
			}
		}
		// Pages: the members after the last one seen.
		if diff := cmp.Diff([]mosaic.ProfileID{"prof_a"}, members("acme", 10, "prof_B"), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("FindGroupMembers after prof_B (-want +got):\n%s", diff)
		}
		if got := members("acme", 10, "prof_a"); len(got) != 0 {
			t.Errorf("FindGroupMembers after the last: %v", got)
		}

		// A written profile's memberships are replaced by its groups, whether or not its
		// search terms are kept; a merged-away profile is a member of nothing; profiles not
		// written keep theirs.
		a, b, d := state("prof_a", "globex"), state("prof_B", "acme"), state("prof_d", "acme")
		a.KeepSearchTerms = true
		b.MergedInto = "prof_d"
		CommitIdentity(t, s, &mosaic.IdentityChanges{Profiles: []*mosaic.ProfileState{a, b, d}})
		if diff := cmp.Diff([]mosaic.ProfileID{"prof_d"}, members("acme", 10)); diff != "" {
			t.Errorf("acme after an update and a merge (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]mosaic.ProfileID{"prof_a", "prof_c"}, members("globex", 10)); diff != "" {
			t.Errorf("globex after an update (-want +got):\n%s", diff)
		}

		// Many members page by limit.
		var many []*mosaic.ProfileState
		var want []mosaic.ProfileID
		for i := range 250 {
			id := mosaic.ProfileID(fmt.Sprintf("prof_m%03d", i))
			many = append(many, state(id, "big"))
			want = append(want, id)
		}
		CommitIdentity(t, s, &mosaic.IdentityChanges{Profiles: many})
		if diff := cmp.Diff(want[:100], members("big", 100)); diff != "" {
			t.Errorf("first 100 of 250 members (-want +got):\n%s", diff)
		}
		if got := members("big", 1000); len(got) != 250 {
			t.Errorf("all members: %d, want 250", len(got))
		}

		for _, limit := range []int{0, -1} {
			_, err := s.FindGroupMembers(ctx, "acme", "", limit)
			wantCode(t, err, mosaic.EINVALID)
		}
	})
}

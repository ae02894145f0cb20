package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mosaic-cdp/mosaic"
)

func candidate(id string, a, b mosaic.IdentifierKey, p float64, status mosaic.MatchStatus) *mosaic.MatchCandidate {
	return &mosaic.MatchCandidate{ID: id, A: a, B: b, ProfileA: "prof_" + mosaic.ProfileID(a), ProfileB: "prof_" + mosaic.ProfileID(b),
		Probability: p, Status: status, Weights: []mosaic.MatchWeight{{Field: "surname", Level: "exact", Weight: 6.25}, {Field: "dob", Level: "missing", Weight: 0}}}
}

// ignoreTimes leaves out the times the store sets (checked separately).
var ignoreTimes = cmpopts.IgnoreFields(mosaic.MatchCandidate{}, "CreatedAt", "UpdatedAt")

func testMatches(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("RecordMatches", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		review := candidate("mc_review", "k-a", "k-b", 0.8, mosaic.MatchPending)
		auto := candidate("mc_auto", "k-c", "k-d", 0.999, mosaic.MatchLinked)
		res, err := s.RecordMatches(ctx, []*mosaic.MatchCandidate{review, auto})
		must(t, err)
		if *res != (mosaic.MatchRecordResult{Linked: 1, Queued: 1}) {
			t.Fatalf("RecordMatches = %+v", res)
		}
		got, err := s.FindMatchCandidateByID(ctx, "mc_review")
		must(t, err)
		if diff := cmp.Diff(review, got, ignoreTimes); diff != "" {
			t.Fatalf("stored candidate (-want +got):\n%s", diff)
		}
		if got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) || got.CreatedAt.Location() != nil && got.CreatedAt.Location().String() != "UTC" {
			t.Fatalf("times: created %v updated %v", got.CreatedAt, got.UpdatedAt)
		}
		// The automatic link is a probabilistic edge with the candidate as evidence, and its
		// ends wait for the processor; the pending one links nothing yet.
		edges, err := s.FindIdentityEdges(ctx, []mosaic.IdentifierKey{"k-a", "k-b", "k-c", "k-d"})
		must(t, err)
		if len(edges) != 1 || edges[0].A != "k-c" || edges[0].B != "k-d" || edges[0].Kind != mosaic.EdgeProbabilistic || edges[0].Evidence != "mc_auto" {
			t.Fatalf("edges after recording: %+v", edges)
		}
		pending, err := s.PendingRecomputes(ctx, 10)
		must(t, err)
		if !slices.Equal(pending, []mosaic.IdentifierKey{"k-c", "k-d"}) {
			t.Fatalf("recomputes queued: %v", pending)
		}

		// A later run: the pending pair is rescored under its id, and now links; a decided
		// pair keeps its decision; a new pair is added.
		must(t, deny(s.DecideMatch(ctx, "mc_auto", false, "steward@example.com")))
		again := []*mosaic.MatchCandidate{
			candidate("mc_other", "k-a", "k-b", 0.97, mosaic.MatchLinked),
			candidate("mc_auto2", "k-c", "k-d", 0.999, mosaic.MatchLinked),
			candidate("mc_new", "k-e", "k-f", 0.7, mosaic.MatchPending),
		}
		res, err = s.RecordMatches(ctx, again)
		must(t, err)
		if *res != (mosaic.MatchRecordResult{Linked: 1, Queued: 1, Decided: 1}) {
			t.Fatalf("second RecordMatches = %+v", res)
		}
		if again[0].ID != "mc_review" {
			t.Errorf("a rescored pair got id %q, want its old id", again[0].ID)
		}
		got, err = s.FindMatchCandidateByID(ctx, "mc_review")
		must(t, err)
		if got.Probability != 0.97 || got.Status != mosaic.MatchLinked {
			t.Errorf("rescored candidate: %+v", got)
		}
		if c, err := s.FindMatchCandidateByID(ctx, "mc_auto"); err != nil || c.Status != mosaic.MatchRejected {
			t.Errorf("rejected pair after a new run: %+v, %v", c, err)
		}
		wantCode(t, deny(s.FindMatchCandidateByID(ctx, "mc_auto2")), mosaic.ENOTFOUND)

		for _, bad := range []*mosaic.MatchCandidate{
			candidate("", "k-a", "k-b", 0.5, mosaic.MatchPending),
			candidate("mc_x", "k-b", "k-a", 0.5, mosaic.MatchPending),
			candidate("mc_x", "k-a", "k-a", 0.5, mosaic.MatchPending),
			candidate("mc_x", "k-a", "k-z", 1.5, mosaic.MatchPending),
			candidate("mc_x", "k-a", "k-z", 0.5, mosaic.MatchAccepted),
		} {
			wantCode(t, deny(s.RecordMatches(ctx, []*mosaic.MatchCandidate{bad})), mosaic.EINVALID)
		}
	})

	t.Run("FindMatchCandidates", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		var all []*mosaic.MatchCandidate
		for i, p := range []float64{0.5, 0.9, 0.7, 0.9, 0.95, 0.6, 0.9} {
			a := mosaic.IdentifierKey("k" + string(rune('a'+i)))
			status := mosaic.MatchPending
			if p > 0.92 {
				status = mosaic.MatchLinked
			}
			all = append(all, candidate("mc_"+string(rune('a'+i)), a, a+"z", p, status))
		}
		_, err := s.RecordMatches(ctx, all)
		must(t, err)
		ids := func(cs []*mosaic.MatchCandidate) (out []string) {
			for _, c := range cs {
				out = append(out, c.ID)
			}
			return out
		}
		var pages []string
		var seen []*mosaic.MatchCandidate
		for cursor := ""; ; {
			cs, next, err := s.FindMatchCandidates(ctx, mosaic.MatchFilter{Limit: 2, Cursor: cursor})
			must(t, err)
			seen = append(seen, cs...)
			pages = append(pages, next)
			if next == "" {
				break
			}
			cursor = next
		}
		if want := []string{"mc_e", "mc_b", "mc_d", "mc_g", "mc_c", "mc_f", "mc_a"}; !slices.Equal(ids(seen), want) {
			t.Fatalf("paged order %v, want %v (highest probability first, then id)", ids(seen), want)
		}
		if len(pages) != 4 {
			t.Fatalf("%d pages of 2 for 7 candidates", len(pages))
		}
		cs, next, err := s.FindMatchCandidates(ctx, mosaic.MatchFilter{Status: mosaic.MatchPending})
		must(t, err)
		if want := []string{"mc_b", "mc_d", "mc_g", "mc_c", "mc_f", "mc_a"}; !slices.Equal(ids(cs), want) || next != "" {
			t.Fatalf("pending: %v (next %q), want %v", ids(cs), next, want)
		}
		for _, f := range []mosaic.MatchFilter{{Limit: -1}, {Limit: mosaic.MaxMatchPage + 1}, {Cursor: "nope"}, {Cursor: "mp_x~mc_a"}, {Status: "maybe"}} {
			wantCode(t, deny2(s.FindMatchCandidates(ctx, f)), mosaic.EINVALID)
		}
	})

	t.Run("DecideMatch", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_, err := s.RecordMatches(ctx, []*mosaic.MatchCandidate{
			candidate("mc_p1", "k-a", "k-b", 0.8, mosaic.MatchPending),
			candidate("mc_p2", "k-c", "k-d", 0.8, mosaic.MatchPending),
			candidate("mc_l", "k-e", "k-f", 0.99, mosaic.MatchLinked),
		})
		must(t, err)
		clearRecomputes(t, s)

		// Accepting a pending pair links it.
		c, err := s.DecideMatch(ctx, "mc_p1", true, "ann@example.com")
		must(t, err)
		if c.Status != mosaic.MatchAccepted || c.DecidedBy != "ann@example.com" || !c.UpdatedAt.After(c.CreatedAt) && !c.UpdatedAt.Equal(c.CreatedAt) {
			t.Fatalf("accepted: %+v", c)
		}
		edges, _ := s.FindIdentityEdges(ctx, []mosaic.IdentifierKey{"k-a"})
		if len(edges) != 1 || edges[0].Kind != mosaic.EdgeProbabilistic || edges[0].Evidence != "mc_p1" {
			t.Fatalf("edges after accept: %+v", edges)
		}
		if pending, _ := s.PendingRecomputes(ctx, 10); !slices.Equal(pending, []mosaic.IdentifierKey{"k-a", "k-b"}) {
			t.Fatalf("recomputes after accept: %v", pending)
		}
		// Deciding the same again changes nothing; the contrary of a rejection conflicts.
		c, err = s.DecideMatch(ctx, "mc_p1", true, "bob@example.com")
		must(t, err)
		if c.Status != mosaic.MatchAccepted || c.DecidedBy != "ann@example.com" {
			t.Fatalf("accepted twice: %+v", c)
		}
		clearRecomputes(t, s)

		// Rejecting a pending pair only remembers it.
		c, err = s.DecideMatch(ctx, "mc_p2", false, "ann@example.com")
		must(t, err)
		if c.Status != mosaic.MatchRejected {
			t.Fatalf("rejected: %+v", c)
		}
		if cons, _ := s.FindIdentityConstraints(ctx, []mosaic.IdentifierKey{"k-c", "k-d"}); len(cons) != 0 {
			t.Fatalf("a rejected pending pair blocked something: %+v", cons)
		}
		// A steward may change their mind: accepting the rejected pair links it.
		c, err = s.DecideMatch(ctx, "mc_p2", true, "bob@example.com")
		must(t, err)
		if c.Status != mosaic.MatchAccepted || c.DecidedBy != "bob@example.com" {
			t.Fatalf("accepted after a rejection: %+v", c)
		}
		if edges, _ := s.FindIdentityEdges(ctx, []mosaic.IdentifierKey{"k-c"}); len(edges) != 1 || edges[0].Evidence != "mc_p2" {
			t.Fatalf("edges after accepting a rejected pair: %+v", edges)
		}
		clearRecomputes(t, s)

		// Rejecting a linked pair blocks the link, and its profiles are recomputed (split).
		c, err = s.DecideMatch(ctx, "mc_l", false, "ann@example.com")
		must(t, err)
		if c.Status != mosaic.MatchRejected {
			t.Fatalf("rejected link: %+v", c)
		}
		cons, err := s.FindIdentityConstraints(ctx, []mosaic.IdentifierKey{"k-e"})
		must(t, err)
		if len(cons) != 1 || cons[0].A != "k-e" || cons[0].B != "k-f" || cons[0].By != "ann@example.com" {
			t.Fatalf("constraints after rejecting a link: %+v", cons)
		}
		if pending, _ := s.PendingRecomputes(ctx, 10); !slices.Equal(pending, []mosaic.IdentifierKey{"k-e", "k-f"}) {
			t.Fatalf("recomputes after rejecting a link: %v", pending)
		}
		clearRecomputes(t, s)
		// Accepting it again lifts the block the rejection made and links the pair again.
		c, err = s.DecideMatch(ctx, "mc_l", true, "bob@example.com")
		must(t, err)
		if c.Status != mosaic.MatchAccepted {
			t.Fatalf("re-accepted link: %+v", c)
		}
		if cons, _ := s.FindIdentityConstraints(ctx, []mosaic.IdentifierKey{"k-e"}); len(cons) != 0 {
			t.Fatalf("constraints after re-accepting: %+v", cons)
		}
		if pending, _ := s.PendingRecomputes(ctx, 10); !slices.Equal(pending, []mosaic.IdentifierKey{"k-e", "k-f"}) {
			t.Fatalf("recomputes after re-accepting: %v", pending)
		}
		// While the match is rejected, its block cannot be lifted as a split; a steward's own
		// block of the pair is not lifted by accepting the match, and can be lifted after.
		must(t, deny(s.DecideMatch(ctx, "mc_l", false, "ann@example.com")))
		wantCode(t, s.RemoveIdentityConstraint(ctx, "k-f", "k-e"), mosaic.ECONFLICT)
		must(t, deny(s.DecideMatch(ctx, "mc_l", true, "bob@example.com")))
		must(t, s.AddIdentityConstraint(ctx, &mosaic.IdentityConstraint{A: "k-e", B: "k-f", Reason: "different people, checked by phone"}))
		must(t, deny(s.DecideMatch(ctx, "mc_l", false, "ann@example.com")))
		wantCode(t, s.RemoveIdentityConstraint(ctx, "k-e", "k-f"), mosaic.ECONFLICT)
		c, err = s.DecideMatch(ctx, "mc_l", true, "bob@example.com")
		must(t, err)
		if c.Status != mosaic.MatchAccepted {
			t.Fatalf("accepted beside a steward's block: %+v", c)
		}
		if cons, _ := s.FindIdentityConstraints(ctx, []mosaic.IdentifierKey{"k-e"}); len(cons) != 1 || cons[0].Reason != "different people, checked by phone" {
			t.Fatalf("the steward's block after accepting: %+v", cons)
		}
		must(t, s.RemoveIdentityConstraint(ctx, "k-e", "k-f"))
		wantCode(t, deny(s.DecideMatch(ctx, "mc_nope", true, "ann@example.com")), mosaic.ENOTFOUND)
	})
}

func testMatchProfiles(t *testing.T, open Opener) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	t.Run("SameProfiles", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ids := func(profile mosaic.ProfileID, keys ...mosaic.IdentifierKey) (out []*mosaic.IdentifierRecord) {
			for _, k := range keys {
				out = append(out, Identifier(k, mosaic.IdentifierEmail, string(k)+"@example.com", profile, t0))
			}
			return out
		}
		var recs []*mosaic.IdentifierRecord
		recs = append(recs, ids("prof_1", "k-a", "k-a2")...)
		recs = append(recs, ids("prof_2", "k-b", "k-b2")...)
		recs = append(recs, ids("prof_3", "k-c")...)
		recs = append(recs, ids("prof_9", "k-m1", "k-m2")...)
		recs = append(recs, ids("prof_4", "k-x")...)
		recs = append(recs, ids("prof_5", "k-y")...)
		CommitIdentity(t, s, &mosaic.IdentityChanges{Identifiers: recs})

		first := candidate("mc_ab", "k-a", "k-b", 0.8, mosaic.MatchPending)
		first.ProfileA, first.ProfileB = "prof_old1", "prof_old2"
		_, err := s.RecordMatches(ctx, []*mosaic.MatchCandidate{first, candidate("mc_xy", "k-x", "k-y", 0.7, mosaic.MatchPending),
			candidate("mc_ac", "k-a2", "k-c", 0.6, mosaic.MatchPending)})
		must(t, err)
		must(t, deny(s.DecideMatch(ctx, "mc_ab", false, "ann")))
		clearRecomputes(t, s)

		// The same two customers under other identifiers: the rejection holds; a pending pair
		// is rescored under its id; a pair already in one profile is left out.
		again := []*mosaic.MatchCandidate{
			candidate("mc_ab2", "k-a2", "k-b2", 0.99, mosaic.MatchLinked),
			candidate("mc_ac2", "k-a", "k-c", 0.65, mosaic.MatchPending),
			candidate("mc_mm", "k-m1", "k-m2", 0.99, mosaic.MatchLinked),
		}
		res, err := s.RecordMatches(ctx, again)
		must(t, err)
		if *res != (mosaic.MatchRecordResult{Queued: 1, Decided: 1, Merged: 1}) {
			t.Fatalf("RecordMatches = %+v", res)
		}
		if again[1].ID != "mc_ac" {
			t.Errorf("the pair between prof_1 and prof_3 got id %q, want mc_ac rescored", again[1].ID)
		}
		if edges, _ := s.FindIdentityEdges(ctx, []mosaic.IdentifierKey{"k-a2", "k-b2", "k-m1"}); len(edges) != 0 {
			t.Fatalf("links made for a rejected or merged pair: %+v", edges)
		}
		for _, id := range []string{"mc_ab2", "mc_mm"} {
			wantCode(t, deny(s.FindMatchCandidateByID(ctx, id)), mosaic.ENOTFOUND)
		}

		// Lists show the profiles that hold the identifiers now; Open leaves out pairs merged since.
		CommitIdentity(t, s, &mosaic.IdentityChanges{Identifiers: ids("prof_4", "k-y")})
		all, _, err := s.FindMatchCandidates(ctx, mosaic.MatchFilter{})
		must(t, err)
		got := map[string][2]mosaic.ProfileID{}
		for _, c := range all {
			got[c.ID] = [2]mosaic.ProfileID{c.ProfileA, c.ProfileB}
		}
		want := map[string][2]mosaic.ProfileID{"mc_ab": {"prof_1", "prof_2"}, "mc_xy": {"prof_4", "prof_4"}, "mc_ac": {"prof_1", "prof_3"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("current profiles (-want +got):\n%s", diff)
		}
		open, _, err := s.FindMatchCandidates(ctx, mosaic.MatchFilter{Status: mosaic.MatchPending, Open: true})
		must(t, err)
		if len(open) != 1 || open[0].ID != "mc_ac" {
			t.Fatalf("open pending pairs: %+v", open)
		}
	})
}

// clearRecomputes marks every queued recompute done, as a processor commit does.
func clearRecomputes(t *testing.T, s mosaic.Store) {
	t.Helper()
	pending, err := s.PendingRecomputes(context.Background(), 100)
	must(t, err)
	CommitIdentity(t, s, &mosaic.IdentityChanges{Recomputed: pending})
}

// deny returns only the error of a two-value call.
func deny[T any](_ T, err error) error { return err }

// deny2 returns only the error of a three-value call.
func deny2[T, U any](_ T, _ U, err error) error { return err }

package match_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mosaic-cdp/mosaic/match"
)

// checkWeights holds a trained model to the order of its levels: within a field, from exact
// down to different, the match weight never increases, exact never weighs less than 0 and
// different never more.
func checkWeights(t *testing.T, m *match.Model) {
	t.Helper()
	for _, f := range m.Params().Fields {
		lv := f.Levels
		const eps = 1e-9
		for i := 1; i < len(lv); i++ {
			if lv[i].Weight > lv[i-1].Weight+eps {
				t.Errorf("%s: %q weighs %+.2f, more than the closer %q (%+.2f)", f.Field, lv[i].Level, lv[i].Weight, lv[i-1].Level, lv[i-1].Weight)
			}
		}
		if w := lv[len(lv)-1].Weight; w > eps {
			t.Errorf("%s: %q weighs %+.2f, want <= 0", f.Field, lv[len(lv)-1].Level, w)
		}
		if w := lv[0].Weight; w < -eps {
			t.Errorf("%s: %q weighs %+.2f, want >= 0", f.Field, lv[0].Level, w)
		}
	}
}

// countAbove counts the pairs at or above a match probability.
func countAbove(res *match.Result, p float64) int {
	n := 0
	for _, pr := range res.Pairs {
		if pr.Probability >= p {
			n++
		}
	}
	return n
}

// TestNoDuplicates trains on records that hold no duplicates at all — a store that was just
// deduplicated — where EM, left alone, fits similar non-matches (namesakes whose emails differ
// by a character) as the match class. The model must propose (almost) nothing and its
// weights must keep the levels' order.
func TestNoDuplicates(t *testing.T) {
	type set struct {
		name    string
		s       match.Schema
		records []match.Record
	}
	var sets []set
	for _, seed := range []uint64{7, 14, 20, 30} {
		s, recs, ent := customers(300, 60, seed)
		sets = append(sets, set{fmt.Sprintf("customers/seed=%d", seed), s, originals(recs, ent)})
	}
	for _, n := range []int{1000, 3000} { // all pairs; blocked
		s, recs, ent := synthPeople(n, 3)
		sets = append(sets, set{fmt.Sprintf("people/records=%d", n/2), s, originals(recs, ent)})
	}
	for _, tc := range sets {
		t.Run(tc.name, func(t *testing.T) {
			m, res := mustMatch(t, tc.s, match.Options{}, tc.records)
			st := m.Stats()
			t.Logf("%d records, %d pairs compared, %d candidates, separation %.2f, no evidence %v, pooled %v, prior %.1f",
				len(tc.records), res.PairsCompared, len(res.Pairs), st.Separation, st.NoEvidence, st.Pooled, m.Params().Prior)
			if n := countAbove(res, 0.5); n > 2 {
				t.Errorf("%d pairs at or above 0.5 among records without duplicates, want at most 2", n)
			}
			if len(res.Clusters) > 1 {
				t.Errorf("%d clusters among records without duplicates", len(res.Clusters))
			}
			checkWeights(t, m)
		})
	}
}

// TestFewDuplicates is the other side of TestNoDuplicates: among records without duplicates,
// the few there are are still found, and when duplicates are common the fit is well
// separated.
func TestFewDuplicates(t *testing.T) {
	for _, tc := range []struct{ n, dups int }{{300, 1}, {300, 3}, {1000, 5}, {300, 60}} {
		t.Run(fmt.Sprintf("records=%d/dups=%d", tc.n, tc.dups), func(t *testing.T) {
			s, recs, ent := customers(tc.n, tc.dups, 1)
			m, res := mustMatch(t, s, match.Options{}, recs)
			mt := match.Evaluate(res.Labels, nil, truthOf(ent))
			st := m.Stats()
			t.Logf("P=%.4f R=%.4f separation %.2f no evidence %v pooled %v", mt.Precision, mt.Recall, st.Separation, st.NoEvidence, st.Pooled)
			if mt.Precision < 1 || mt.Recall < 1 {
				t.Errorf("precision %.4f recall %.4f, want 1 and 1", mt.Precision, mt.Recall)
			}
			if st.NoEvidence {
				t.Error("no evidence of duplicates reported")
			}
			checkWeights(t, m)
		})
	}
}

// TestWeightsMonotone checks the order of the weights on data with duplicates too, deduping
// and linking.
func TestWeightsMonotone(t *testing.T) {
	s, recs, _ := synthPeople(1000, 11)
	m, _ := mustMatch(t, s, match.Options{}, recs)
	checkWeights(t, m)
	for i := range recs {
		recs[i].Source = i % 2
	}
	m, _ = mustMatch(t, s, match.Options{Link: true}, recs)
	checkWeights(t, m)
}

// TestMonotone is the property of the pool-adjacent-violators step: on random m and u, the
// ratios m/u come out non-increasing, m keeps its sum, and ratios already in order are left
// as they are.
func TestMonotone(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := 1 + rng.IntN(7)
		m, u := make([]float64, n), make([]float64, n)
		sum := 0.0
		for i := range m {
			m[i], u[i] = rng.Float64(), 0.001+rng.Float64()
			sum += m[i]
		}
		got := match.Monotone(m, u)
		s := 0.0
		for i := range got {
			s += got[i]
			if i > 0 && got[i]/u[i] > got[i-1]/u[i-1]*(1+1e-12) {
				t.Fatalf("m=%v u=%v: ratios of %v increase at %d", m, u, got, i)
			}
		}
		if d := s - sum; d > 1e-12 || d < -1e-12 {
			t.Fatalf("m=%v u=%v: sum %v, want %v", m, u, s, sum)
		}
		for i, x := range match.Monotone(got, u) {
			if d := x - got[i]; d > 1e-12 || d < -1e-12 {
				t.Fatalf("not idempotent: %v, then %v at %d", got, x, i)
			}
		}
		if ordered := slices.IsSortedFunc(indices(n), func(i, j int) int { return cmp.Compare(m[j]/u[j], m[i]/u[i]) }); ordered {
			for i := range m {
				if got[i] != m[i] {
					t.Fatalf("m=%v u=%v in order, changed to %v", m, u, got)
				}
			}
		}
	}
}

func indices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

package match

import (
	"cmp"
	"math"
	"slices"
)

// Fellegi–Sunter treats fields as independent, so when one field nearly determines another
// (a suburb its postcode, a postcode its state) an agreement on both counts twice, and EM
// may even take "same suburb" for "same person". The dependence correction finds such
// pairs of fields from the records' values — not from pairs, so duplicates cannot pass for
// dependence — and, when both agree exactly, replaces the determined field's u by its
// u given the other's agreement: its weight becomes log2(m/u(g | f agrees)).
//
// g is taken to depend on f when, among the values of f that at least minGroup records
// share (more records than one person's duplicates), one value of g covers at least
// minPurity of each group's records on average.

// dependence is a correction for two fields agreeing exactly together.
type dependence struct {
	f, g   int     // g is (nearly) determined by f
	weight float64 // log2 weight added when both agree exactly; negative
}

// Thresholds of dependence detection.
const (
	minGroup        = 8    // records sharing a value of f, for its group to count
	minGroups       = 5    // groups needed
	minPurity       = 0.8  // share of a group's records with its most common value of g
	minDependenceUp = 4.0  // lift of g's agreement given f's below which nothing is done
	minGroupedShare = 0.02 // share of records in counted groups
)

// findDependences looks for fields determined by others among the records at idx, and
// returns a forest of corrections (a field is corrected at most once, no cycles), strongest
// first.
func findDependences(cols []*column, fields []fieldModel, idx []int) []dependence {
	type edge struct {
		f, g int
		lift float64
	}
	var edges []edge
	for f, cf := range cols {
		if cf == nil {
			continue
		}
		groups := map[string][]int{}
		for _, i := range idx {
			if v := cf.val[i]; v != "" {
				groups[v] = append(groups[v], i)
			}
		}
		for g, cg := range cols {
			if g == f || cg == nil || fields[g].uExact <= 0 {
				continue
			}
			var nGroups, grouped, top, covered int
			var agree, pairs float64
			counts := map[string]int{}
			for _, members := range groups {
				if len(members) < minGroup {
					continue
				}
				clear(counts)
				n := 0
				for _, i := range members {
					if v := cg.val[i]; v != "" {
						counts[v]++
						n++
					}
				}
				if n < minGroup {
					continue
				}
				nGroups++
				grouped += len(members)
				best := 0
				for _, c := range counts {
					best = max(best, c)
					agree += float64(c) * float64(c-1)
				}
				top += best
				covered += n
				pairs += float64(n) * float64(n-1)
			}
			if nGroups < minGroups || float64(grouped) < minGroupedShare*float64(len(idx)) || pairs == 0 {
				continue
			}
			if float64(top) < minPurity*float64(covered) {
				continue
			}
			lift := agree / pairs / fields[g].uExact
			if lift >= minDependenceUp {
				edges = append(edges, edge{f, g, lift})
			}
		}
	}
	slices.SortStableFunc(edges, func(a, b edge) int { return cmp.Compare(b.lift, a.lift) })
	root := make([]int, len(cols))
	for i := range root {
		root[i] = i
	}
	find := func(x int) int {
		for root[x] != x {
			x = root[x]
		}
		return x
	}
	var out []dependence
	for _, e := range edges {
		a, b := find(e.f), find(e.g)
		if a == b {
			continue
		}
		root[b] = a
		out = append(out, dependence{f: e.f, g: e.g, weight: -math.Log2(e.lift)})
	}
	return out
}

// dependenceWeight is the correction a pattern gets.
func (m *Model) dependenceWeight(levels []uint8) float64 {
	w := 0.0
	for _, d := range m.deps {
		if levels[d.f] == levelExact && levels[d.g] == levelExact {
			w += d.weight
		}
	}
	return w
}

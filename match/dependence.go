package match

import (
	"cmp"
	"math"
	"slices"
)

// Fellegi–Sunter treats fields as independent, so a suburb, its postcode and its state
// agreeing count three times over, as do an address and the phone of the business there.
// The dependence correction measures, for pairs of fields, how much more often they agree
// exactly together than apart among non-matches (random pairs, each weighted by the model's
// probability that it is not a match, so that the few true matches among them do not pass
// for dependence) and among matches (candidate pairs weighted by their match probability).
// For the strongest dependences — a forest, so that no agreement is discounted twice along
// a chain — pairs agreeing exactly on both get log2(lift among matches) − log2(lift among
// non-matches) added to their weight.

// jointCount counts pairs where two fields both have values, and how often each and both
// agree exactly.
type jointCount struct{ n, f, g, both float64 }

// lift is P(both)/(P(f)P(g)), or 1 when there is too little evidence to tell.
func (j jointCount) lift(minBoth float64) float64 {
	if j.both < minBoth || j.f == 0 || j.g == 0 {
		return 1
	}
	return j.both * j.n / (j.f * j.g)
}

// dependence is a correction for two fields agreeing exactly together.
type dependence struct {
	f, g   int
	weight float64 // added to the match weight when both agree exactly
}

// Thresholds of the dependence correction.
const (
	minDependentPairs = 20  // non-matching random pairs agreeing on both, to trust a lift
	minLift           = 4.0 // weaker dependence is left alone
)

// joint accumulates weighted field-pair counts over patterns.
func joint(nf int, pats [][]uint8, weight func(p int) float64) []jointCount {
	out := make([]jointCount, nf*nf)
	for p, levels := range pats {
		w := weight(p)
		if w <= 0 {
			continue
		}
		for f := 0; f < nf; f++ {
			if levels[f] == 0 {
				continue
			}
			ef := levels[f] == levelExact
			for g := f + 1; g < nf; g++ {
				if levels[g] == 0 {
					continue
				}
				j := &out[f*nf+g]
				eg := levels[g] == levelExact
				j.n += w
				if ef {
					j.f += w
				}
				if eg {
					j.g += w
				}
				if ef && eg {
					j.both += w
				}
			}
		}
	}
	return out
}

// dependencies finds the dependence corrections after EM.
func (m *Model) dependencies(pats [][]uint8, counts []float64, allPairs float64) []dependence {
	nf := len(m.fields)
	if m.uSample == nil || nf < 2 {
		return nil
	}
	post := func(levels []uint8) float64 {
		x := m.prior
		for f, l := range levels {
			x += m.fields[f].w[l]
		}
		return probability(x)
	}
	uJoint := joint(nf, m.uSample, func(p int) float64 { return m.uCounts[p] * (1 - post(m.uSample[p])) })
	mJoint := joint(nf, pats, func(p int) float64 { return counts[p] * post(pats[p]) })
	type edge struct {
		f, g         int
		liftU, liftM float64
	}
	var edges []edge
	for f := 0; f < nf; f++ {
		for g := f + 1; g < nf; g++ {
			if m.fields[f].counts == nil || m.fields[g].counts == nil {
				continue
			}
			lu := uJoint[f*nf+g].lift(minDependentPairs)
			if lu < minLift {
				continue
			}
			edges = append(edges, edge{f, g, lu, max(mJoint[f*nf+g].lift(1), 1)})
		}
	}
	slices.SortStableFunc(edges, func(a, b edge) int { return cmp.Compare(b.liftU, a.liftU) })
	root := make([]int, nf) // a maximum spanning forest by lift (Kruskal)
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
		if w := math.Log2(e.liftM) - math.Log2(e.liftU); w < 0 {
			out = append(out, dependence{e.f, e.g, w})
		}
	}
	return out
}

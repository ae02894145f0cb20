package match

import (
	"math"
	"slices"
)

// Learning m without labels fails in a known way: when the candidate pairs hold few or no
// true matches (a store that was just deduplicated, a file with no duplicates), EM, free to
// choose the share of matches and every m, fits the largest group of similar non-matches as
// the match class — neighbours sharing a street word and a city, namesakes whose emails
// differ by one character — and then proposes thousands of pairs, with weights that reward
// disagreement. fit guards against it with three rules, each a property every class of true
// duplicates has and such a class of look-alikes lacks; none has a tuning knob:
//
//  1. Monotone weights (monotone). A field's levels run from the most to the least similar,
//     so a match is never more likely, relative to a non-match, to be less similar: the
//     likelihood ratio m/u does not increase down the levels. The M-step estimates m under
//     this order (the maximum-likelihood estimate under it, by pooling adjacent violators).
//     As m and u both sum to one, "exact" then never weighs less than 0 and "different" never
//     more.
//  2. Copies are closer than look-alikes (peaksAtWeakest). Two records of one entity differ
//     on a field by error, and any one kind of error is rarer than no error: the match class
//     reaches the field's weakest agreement level ("one typo" of an email, "a quarter of
//     words shared" of an address) less often than some closer level. Look-alikes are the
//     other way round — they are mostly barely similar, which is what EM latched on to. When
//     the fitted class peaks at the weakest level, that level is taken as disagreement and
//     EM refits; this repeats up the levels while it holds. A true class is rarely touched
//     (at worst it loses a level that held little evidence); a class of look-alikes loses
//     what held it together and dissolves.
//  3. Separation. A class of duplicates consists mostly of pairs that look like duplicates:
//     most of the matches EM expects are pairs it finds more likely matches than not
//     (Stats().Separation; 0.9 to 1 on the development data). When fewer than half are, the
//     class is a blur of doubtful pairs, not duplicates: there is no evidence of a match
//     class, and the prior falls back to one match among all pairs, so that only pairs whose
//     agreement alone outweighs the size of the task are proposed (Stats().NoEvidence).

// fit estimates the m-probabilities under the rules above and returns the estimated number
// of matching pairs.
func (m *Model) fit(pats [][]uint8, counts []float64, allPairs float64) float64 {
	m.stats.NoEvidence, m.stats.Pooled = false, nil
	iterations := 0
	var expected, separation float64
	for {
		expected, separation = m.em(pats, counts, allPairs)
		iterations += m.stats.Iterations
		again := false
		for f := range m.fields {
			fm := &m.fields[f]
			if fm.counts != nil && peaksAtWeakest(fm.m, fm.floor) {
				fm.floor--
				m.stats.Pooled = append(m.stats.Pooled, m.schema.Fields[f].Name+": "+fm.levels[fm.floor])
				again = true
			}
		}
		if !again {
			break
		}
	}
	m.stats.Iterations = iterations
	m.stats.Separation = separation
	if separation < 0.5 {
		m.stats.NoEvidence = true
		return 1
	}
	return expected
}

// em estimates the m-probabilities and the prior by expectation maximisation over the
// candidate pairs' patterns (weighted by count), in the mixture model that scoring uses:
// fields conditionally independent, u fixed to the random-pair estimates, and the prior
// taken over every pair of the task, pairs that blocking does not propose counting as
// non-matches. m is kept monotone and pooled below each field's floor. It returns the
// estimated number of matching pairs and the share of them in pairs whose posterior is at
// least one half.
func (m *Model) em(pats [][]uint8, counts []float64, allPairs float64) (float64, float64) {
	nf := len(m.fields)
	mm := make([][]float64, nf)
	lu := make([][]float64, nf)
	for f := range m.fields {
		fm := &m.fields[f]
		L := len(fm.levels)
		mm[f] = make([]float64, L)
		lu[f] = make([]float64, L)
		if fm.counts == nil {
			continue
		}
		// Start: matches mostly agree exactly, then less and less.
		mm[f][levelExact] = 0.9
		rest := 0.1
		for l := 2; l < L; l++ {
			share := rest / 2
			if l == L-1 {
				share = rest
			}
			mm[f][l] = share
			rest -= share
		}
		for l := 1; l < L; l++ {
			lu[f][l] = math.Log(fm.u[l])
		}
	}
	total := 0.0
	for _, c := range counts {
		total += c
	}
	// Start the prior at one match per record among all pairs, at most a tenth of candidates.
	matches := min(float64(m.stats.Records)/2, total/10)
	accM := make([][]float64, nf)
	lm := make([][]float64, nf)
	for f := range accM {
		accM[f] = make([]float64, len(mm[f]))
		lm[f] = make([]float64, len(mm[f]))
	}
	depW := make([]float64, len(pats)) // dependence corrections, in natural log
	for p, pat := range pats {
		depW[p] = m.dependenceWeight(pat) * math.Ln2
	}
	m.stats.Converged = false
	iter := 0
	sure := 0.0 // expected matches in pairs with posterior ≥ 1/2, in the last E-step
	for iter = 1; iter <= m.opts.MaxIterations; iter++ {
		lambda := min(max(matches/allPairs, 1e-15), 0.5)
		for f := range mm {
			clear(accM[f])
			for l := 1; l < len(mm[f]); l++ {
				lm[f][l] = math.Log(max(mm[f][l], 1e-300))
			}
		}
		prior := math.Log(lambda) - math.Log(1-lambda)
		found := 0.0
		sure = 0
		for p, pat := range pats {
			x := prior + depW[p]
			for f, l := range pat {
				if l != 0 {
					x += lm[f][l] - lu[f][l]
				}
			}
			q := 1 / (1 + math.Exp(-x))
			c := counts[p] * q
			found += c
			if x >= 0 {
				sure += c
			}
			for f, l := range pat {
				if l != 0 {
					accM[f][l] += c
				}
			}
		}
		delta := math.Abs(found-matches) / max(matches, 1)
		matches = max(found, 1)
		for f := range mm {
			fm := &m.fields[f]
			if fm.counts == nil {
				continue
			}
			old := slices.Clone(mm[f])
			// One pseudo-match spread like u: a level nothing was seen at weighs nothing.
			u := fm.u
			s := 1.0
			for l := 1; l < len(mm[f]); l++ {
				s += accM[f][l]
			}
			for l := 1; l < len(mm[f]); l++ {
				mm[f][l] = (accM[f][l] + u[l]) / s
			}
			if fm.floor < len(mm[f])-1 {
				pool(mm[f][fm.floor:], u[fm.floor:])
			}
			monotone(mm[f][1:], u[1:])
			for l := range old {
				delta = max(delta, math.Abs(old[l]-mm[f][l]))
			}
		}
		if delta < 1e-6 {
			m.stats.Converged = true
			break
		}
	}
	m.stats.Iterations = min(iter, m.opts.MaxIterations)
	m.stats.MatchShare = matches / total
	for f := range m.fields {
		fm := &m.fields[f]
		for l := 1; l < len(fm.levels); l++ {
			fm.m[l] = mm[f][l]
			if fm.counts != nil {
				fm.w[l] = math.Log2(fm.m[l] / fm.u[l])
			}
		}
	}
	return matches, sure / matches
}

// monotone makes the likelihood ratios m[l]/u[l] non-increasing over the levels, ordered from
// the most to the least similar, by pooling adjacent violators: a run of levels out of order
// gets one ratio, its total m over its total u, so m keeps its sum. Applied to m estimated
// from counts, it gives their maximum-likelihood estimate under the order.
func monotone(m, u []float64) {
	type block struct {
		m, u float64
		n    int
	}
	st := make([]block, 0, len(m))
	for l := range m {
		b := block{m[l], u[l], 1}
		for len(st) > 0 {
			top := st[len(st)-1]
			if top.m*b.u >= b.m*top.u { // top's ratio is at least b's: in order
				break
			}
			b = block{top.m + b.m, top.u + b.u, top.n + b.n}
			st = st[:len(st)-1]
		}
		st = append(st, b)
	}
	if len(st) == len(m) {
		return
	}
	l := 0
	for _, b := range st {
		for range b.n {
			m[l] = u[l] * b.m / b.u
			l++
		}
	}
}

// pool gives levels one likelihood ratio, their total m over their total u: they weigh alike.
func pool(m, u []float64) {
	sm, su := 0.0, 0.0
	for l := range m {
		sm += m[l]
		su += u[l]
	}
	for l := range m {
		m[l] = u[l] * sm / su
	}
}

// peaksAtWeakest reports whether, under m, the weakest agreement level above floor (the
// first level that counts as disagreement) is more likely than every closer level.
func peaksAtWeakest(m []float64, floor int) bool {
	w := floor - 1
	if w <= levelExact {
		return false
	}
	for l := levelExact; l < w; l++ {
		if m[l] >= m[w] {
			return false
		}
	}
	return true
}

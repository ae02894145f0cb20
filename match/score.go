package match

import (
	"cmp"
	"math"
	"slices"
	"sync"

	"github.com/mosaic-cdp/mosaic"
)

// Pair is a scored candidate pair: positions A < B in the records given, the match weight
// (log2 Bayes factor plus prior) and the match probability.
type Pair struct {
	A, B        int
	Weight      float64
	Probability float64
}

// FieldWeight is one field's part of a pair's match weight.
type FieldWeight struct {
	Field         string  `json:"field"`
	Level         string  `json:"level"`  // e.g. "exact", "jaro-winkler >= 0.92", "missing"
	Weight        float64 `json:"weight"` // log2(m/u), adjustments included
	TermFrequency float64 `json:"term_frequency,omitempty"`
	// Dependence is the correction when another field that nearly determines this one
	// (a suburb its postcode) agrees too, included in Weight.
	Dependence float64 `json:"dependence,omitempty"`
}

// Explanation is why a pair scores what it does: the prior, each field's weight, their
// sum and the resulting match probability.
type Explanation struct {
	Probability float64       `json:"probability"`
	Weight      float64       `json:"weight"`
	Prior       float64       `json:"prior"`
	Fields      []FieldWeight `json:"fields"`
}

// Decision is what to do with a pair.
type Decision uint8

// The decisions, by the model's thresholds.
const (
	NonMatch Decision = iota // below the review threshold
	Review                   // between the thresholds: a steward decides
	Match                    // at or above the match threshold: merge
)

func (d Decision) String() string {
	return [...]string{"non-match", "review", "match"}[d]
}

// Decide maps a match probability to a decision with the model's thresholds.
func (m *Model) Decide(probability float64) Decision {
	switch {
	case probability >= m.opts.MatchThreshold:
		return Match
	case probability >= m.opts.ReviewThreshold:
		return Review
	}
	return NonMatch
}

func probability(weight float64) float64 { return 1 / (1 + math.Exp2(-weight)) }

// tfAdjust returns the term-frequency adjustment of an exact match on v.
func (fm *fieldModel) tfAdjust(v string) float64 {
	if !fm.tf || fm.n < 2 || fm.uExact <= 0 {
		return 0
	}
	c := max(float64(fm.counts[v]), 1)
	return math.Log2(fm.uExact * float64(fm.n) / c)
}

func errUntrained() error {
	return mosaic.Errorf(mosaic.EINVALID, "The match model is not trained yet.")
}

// Score compares two records (deduplicating or linking alike) and explains the result.
func (m *Model) Score(a, b Record) (Explanation, error) {
	if !m.ok {
		return Explanation{}, errUntrained()
	}
	d, err := m.prepare([]Record{a, b})
	if err != nil {
		return Explanation{}, err
	}
	e := Explanation{Prior: m.prior, Weight: m.prior}
	for f, c := range d.cols {
		fm := &m.fields[f]
		fw := FieldWeight{Field: m.schema.Fields[f].Name, Level: "ignored"}
		if c != nil {
			l := c.compare(0, 1)
			fw.Level = fm.levels[l]
			fw.Weight = fm.w[l]
			if l == levelExact {
				fw.TermFrequency = fm.tfAdjust(c.val[0])
				fw.Weight += fw.TermFrequency
			}
		}
		e.Weight += fw.Weight
		e.Fields = append(e.Fields, fw)
	}
	for _, dp := range m.deps {
		if d.cols[dp.f].compare(0, 1) == levelExact && d.cols[dp.g].compare(0, 1) == levelExact {
			fw := &e.Fields[dp.g]
			fw.Level += ", as implied by " + m.schema.Fields[dp.f].Name
			fw.Dependence += dp.weight
			fw.Weight += dp.weight - fw.TermFrequency // implied: its rarity is no evidence
			e.Weight += dp.weight - fw.TermFrequency
			fw.TermFrequency = 0
		}
	}
	e.Probability = probability(e.Weight)
	return e, nil
}

// Candidates blocks the records, scores every candidate pair and returns those at or above
// the review threshold, ordered by A then B. Blocking rules are chosen for these records
// (their number and value frequencies), as in training, so that the work stays within the
// pair budget whatever the model was trained on.
func (m *Model) Candidates(records []Record) ([]Pair, error) {
	if !m.ok {
		return nil, errUntrained()
	}
	d, err := m.prepare(records)
	if err != nil {
		return nil, err
	}
	pairs, _ := m.block(d, d.contentOrder())
	pat, pats := m.comparePairs(d, pairs)
	return m.scorePairs(d, pairs, pat, pats), nil
}

// scorePairs turns compared pairs into scored ones above the review threshold.
func (m *Model) scorePairs(d *data, pairs []pairIndex, pat []int32, pats [][]uint8) []Pair {
	base := make([]float64, len(pats))
	for p, levels := range pats {
		w := m.prior + m.dependenceWeight(levels)
		for f, l := range levels {
			w += m.fields[f].w[l]
		}
		base[p] = w
	}
	// Per record and field, the adjustment an exact match on its value gets.
	adj := make([][]float32, len(d.cols))
	for f, c := range d.cols {
		fm := &m.fields[f]
		if c == nil || !fm.tf {
			continue
		}
		adj[f] = make([]float32, d.n)
		for i, v := range c.val {
			if v != "" {
				adj[f][i] = float32(fm.tfAdjust(v))
			}
		}
	}
	// The lowest weight that can still reach the review threshold, and per pattern the most
	// its term-frequency adjustments can add, for a quick skip.
	minW := math.Log2(m.opts.ReviewThreshold / (1 - m.opts.ReviewThreshold))
	fieldMax := make([]float64, len(d.cols))
	for f, a := range adj {
		for _, x := range a {
			fieldMax[f] = max(fieldMax[f], float64(x))
		}
	}
	maxAdj := make([]float64, len(pats))
	hasTF := make([]bool, len(pats))
	for p, levels := range pats {
		for f, l := range levels {
			if l == levelExact && adj[f] != nil {
				maxAdj[p] += fieldMax[f]
				hasTF[p] = true
			}
		}
	}
	// A field whose agreement another implies gets no term-frequency adjustment: given the
	// suburb, agreeing on its postcode says nothing about how rare the postcode is.
	implied := make([][]bool, len(pats))
	for p, levels := range pats {
		for _, dp := range m.deps {
			if levels[dp.f] == levelExact && levels[dp.g] == levelExact {
				if implied[p] == nil {
					implied[p] = make([]bool, len(levels))
				}
				implied[p][dp.g] = true
			}
		}
	}
	workers := max(1, min(m.opts.Workers, len(pairs)/4096+1))
	chunk := (len(pairs) + workers - 1) / workers
	outs := make([][]Pair, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min(len(pairs), (w+1)*chunk)
		wg.Go(func() {
			var out []Pair
			for k := lo; k < hi; k++ {
				p := pat[k]
				if base[p]+maxAdj[p] < minW {
					continue
				}
				wt := base[p]
				a, b := int(pairs[k].a), int(pairs[k].b)
				if hasTF[p] {
					imp := implied[p]
					for f, l := range pats[p] {
						if l == levelExact && adj[f] != nil && (imp == nil || !imp[f]) {
							wt += float64(adj[f][a])
						}
					}
				}
				if wt < minW {
					continue
				}
				out = append(out, Pair{A: a, B: b, Weight: wt, Probability: probability(wt)})
			}
			outs[w] = out
		})
	}
	wg.Wait()
	var out []Pair
	for _, o := range outs {
		out = append(out, o...)
	}
	slices.SortFunc(out, func(x, y Pair) int {
		if c := cmp.Compare(x.A, y.A); c != 0 {
			return c
		}
		return cmp.Compare(x.B, y.B)
	})
	return out
}

// Result is the outcome of Match.
type Result struct {
	Pairs         []Pair  // candidate pairs at or above the review threshold, by A then B
	Labels        []int   // per record, its cluster: the smallest position in it
	Clusters      [][]int // clusters of two or more records, each sorted, by first record
	PairsCompared int     // candidate pairs blocking proposed
}

// Match trains the model on the records and then matches them: candidate pairs with their
// probabilities, and the clusters that pairs at or above the match threshold form.
func (m *Model) Match(records []Record) (*Result, error) {
	t, err := m.train(records)
	if err != nil {
		return nil, err
	}
	pairs := m.scorePairs(t.d, t.pairs, t.pat, t.pats)
	labels := ClusterMax(len(records), pairs, m.opts.MatchThreshold, m.opts.MaxClusterSize)
	return &Result{Pairs: pairs, Labels: labels, Clusters: Groups(labels), PairsCompared: len(t.pairs)}, nil
}

// LevelParams are the learned probabilities of one comparison level.
type LevelParams struct {
	Level  string  `json:"level"`
	M      float64 `json:"m"`      // P(level | match), by EM
	U      float64 `json:"u"`      // P(level | non-match), from random pairs
	Weight float64 `json:"weight"` // log2(m/u)
}

// FieldParams are one field's learned levels.
type FieldParams struct {
	Field         string        `json:"field"`
	Kind          Kind          `json:"kind"`
	TermFrequency bool          `json:"term_frequency"`
	Levels        []LevelParams `json:"levels"` // from "exact" down to "different"; "missing" weighs 0
}

// Params are a trained model's parameters: the prior and each field's levels.
type Params struct {
	Prior  float64       `json:"prior"` // log2 odds that two random records match
	Fields []FieldParams `json:"fields"`
	// Dependencies are fields nearly determined by another (a postcode by its suburb):
	// when both agree exactly, Weight is added so that the agreement counts once.
	Dependencies []DependenceParams `json:"dependencies,omitempty"`
}

// DependenceParams is one dependence correction: Field is nearly determined by On.
type DependenceParams struct {
	Field  string  `json:"field"`
	On     string  `json:"on"`
	Weight float64 `json:"weight"`
}

// Params returns the trained parameters, for display and review.
func (m *Model) Params() Params {
	p := Params{Prior: m.prior}
	for f, fm := range m.fields {
		if m.schema.Fields[f].Kind == Ignore {
			continue
		}
		fp := FieldParams{Field: m.schema.Fields[f].Name, Kind: fm.kind, TermFrequency: fm.tf}
		for l := 1; l < len(fm.levels); l++ {
			fp.Levels = append(fp.Levels, LevelParams{Level: fm.levels[l], M: fm.m[l], U: fm.u[l], Weight: fm.w[l]})
		}
		p.Fields = append(p.Fields, fp)
	}
	for _, d := range m.deps {
		p.Dependencies = append(p.Dependencies, DependenceParams{Field: m.schema.Fields[d.g].Name, On: m.schema.Fields[d.f].Name, Weight: d.weight})
	}
	return p
}

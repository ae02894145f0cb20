package match

// Metrics are a clustering's scores against known true pairs.
type Metrics struct {
	TruePairs      int     `json:"true_pairs"`
	PredictedPairs int     `json:"predicted_pairs"`
	TruePositives  int     `json:"true_positives"`
	Precision      float64 `json:"precision"`
	Recall         float64 `json:"recall"`
	F1             float64 `json:"f1"`
	// B-cubed scores, for deduplication only: per record, the share of its predicted cluster
	// that is truly its entity (precision) and of its entity that is in its cluster (recall).
	BCubedPrecision float64 `json:"bcubed_precision,omitempty"`
	BCubedRecall    float64 `json:"bcubed_recall,omitempty"`
	BCubedF1        float64 `json:"bcubed_f1,omitempty"`
}

// Evaluate scores predicted cluster labels (one per record) against true pairs of record
// positions. The predicted pairs are all pairs inside each predicted cluster — only pairs
// from different sources when sources is not nil (linking). A true pair inside no cluster
// is a miss, however it was lost. B-cubed is computed when deduplicating (sources nil),
// with true entities the connected components of the true pairs.
func Evaluate(labels []int, sources []int, truth [][2]int) Metrics {
	var mt Metrics
	type side struct{ a, b int }
	size := map[int]side{}
	for i, l := range labels {
		s := size[l]
		if sources != nil && sources[i] == 1 {
			s.b++
		} else {
			s.a++
		}
		size[l] = s
	}
	for _, s := range size {
		if sources != nil {
			mt.PredictedPairs += s.a * s.b
		} else {
			mt.PredictedPairs += s.a * (s.a - 1) / 2
		}
	}
	seen := map[[2]int]bool{}
	for _, p := range truth {
		a, b := p[0], p[1]
		if a > b {
			a, b = b, a
		}
		if a == b || seen[[2]int{a, b}] {
			continue
		}
		seen[[2]int{a, b}] = true
		mt.TruePairs++
		if labels[a] == labels[b] {
			mt.TruePositives++
		}
	}
	mt.Precision, mt.Recall, mt.F1 = prf(float64(mt.TruePositives), float64(mt.PredictedPairs), float64(mt.TruePairs))
	if sources == nil && len(labels) > 0 {
		entity := Cluster(len(labels), truthPairs(seen), 0)
		type key struct{ c, e int }
		inter := map[key]int{}
		csize, esize := map[int]int{}, map[int]int{}
		for i := range labels {
			inter[key{labels[i], entity[i]}]++
			csize[labels[i]]++
			esize[entity[i]]++
		}
		var p, r float64
		for i := range labels {
			k := inter[key{labels[i], entity[i]}]
			p += float64(k) / float64(csize[labels[i]])
			r += float64(k) / float64(esize[entity[i]])
		}
		n := float64(len(labels))
		mt.BCubedPrecision, mt.BCubedRecall = p/n, r/n
		if p+r > 0 {
			mt.BCubedF1 = 2 * mt.BCubedPrecision * mt.BCubedRecall / (mt.BCubedPrecision + mt.BCubedRecall)
		}
	}
	return mt
}

func truthPairs(seen map[[2]int]bool) []Pair {
	out := make([]Pair, 0, len(seen))
	for p := range seen {
		out = append(out, Pair{A: p[0], B: p[1], Probability: 1})
	}
	return out
}

func prf(tp, predicted, truth float64) (p, r, f float64) {
	if predicted > 0 {
		p = tp / predicted
	}
	if truth > 0 {
		r = tp / truth
	}
	if p+r > 0 {
		f = 2 * p * r / (p + r)
	}
	return p, r, f
}

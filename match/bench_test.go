package match_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/match"
)

// BenchmarkMatch trains and matches synthetic febrl-like people end to end: blocking, u
// sampling, EM, scoring and clustering. Run the 100k case with -benchtime=1x.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			s, records, entity := synthPeople(n, 1)
			truth := truthOf(entity)
			b.ReportAllocs()
			var res *match.Result
			start := time.Now()
			runs := 0
			for b.Loop() {
				m, err := match.NewModel(s, match.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if res, err = m.Match(records); err != nil {
					b.Fatal(err)
				}
				runs++
			}
			mt := match.Evaluate(res.Labels, nil, truth)
			b.ReportMetric(time.Since(start).Seconds()/float64(runs), "s/match")
			b.ReportMetric(float64(res.PairsCompared), "pairs")
			b.ReportMetric(mt.F1, "F1")
		})
	}
}

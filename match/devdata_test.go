package match_test

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mosaic-cdp/mosaic/internal/devdata"
	"github.com/mosaic-cdp/mosaic/match"
)

// TestNoDuplicatesDevData matches development files with their duplicates taken out (one
// record kept per true entity). Restaurant's addresses share street words within a city, so
// that EM, left alone, took "same city, an address word in common" for a match and proposed
// thousands of pairs.
func TestNoDuplicatesDevData(t *testing.T) {
	dir := devdata.Dir(t, "identity", filepath.Join("restaurant", "restaurant.csv"))
	for _, tc := range []struct{ name, file, truth, entity string }{
		{"restaurant", "restaurant/restaurant.csv", "restaurant/restaurant_true_pairs.csv", "entity_id"},
		{"RLdata500", "rldata/RLdata500.csv", "rldata/RLdata500_true_pairs.csv", "ent_id"},
		{"febrl1", "febrl/febrl1.csv", "febrl/febrl1_true_pairs.csv", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, truth := readCSV(t, filepath.Join(dir, tc.file)), readCSV(t, filepath.Join(dir, tc.truth))[1:]
			header := rows[0]
			// Entities are the connected components of the true pairs, by record id.
			root := map[string]string{}
			var find func(string) string
			find = func(x string) string {
				if r, ok := root[x]; ok && r != x {
					r = find(r)
					root[x] = r
					return r
				}
				return x
			}
			for _, p := range truth {
				if a, b := find(p[0]), find(p[1]); a != b {
					root[a] = b
				}
			}
			var keep []int
			var s match.Schema
			for c, h := range header {
				if c != 0 && h != tc.entity {
					keep = append(keep, c)
					s.Fields = append(s.Fields, match.Field{Name: h})
				}
			}
			seen := map[string]bool{}
			var records []match.Record
			var sample [][]string
			for _, r := range rows[1:] {
				if e := find(r[0]); !seen[e] {
					seen[e] = true
					v := make([]string, len(keep))
					for j, c := range keep {
						v[j] = r[c]
					}
					records = append(records, match.Record{ID: r[0], Values: v})
					sample = append(sample, v)
				}
			}
			names := make([]string, len(s.Fields))
			for i, f := range s.Fields {
				names[i] = f.Name
			}
			s = match.InferSchema(names, sample)
			m, res := mustMatch(t, s, match.Options{}, records)
			st := m.Stats()
			t.Logf("%d records, %d pairs compared, %d candidates, separation %.2f, no evidence %v, pooled %v",
				len(records), res.PairsCompared, len(res.Pairs), st.Separation, st.NoEvidence, st.Pooled)
			if n := countAbove(res, 0.5); n > 2 {
				t.Errorf("%d pairs at or above 0.5 among records without duplicates, want at most 2", n)
			}
			checkWeights(t, m)
		})
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clip(rows)
}

package match_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/match"
)

func mustMatch(t testing.TB, s match.Schema, o match.Options, records []match.Record) (*match.Model, *match.Result) {
	t.Helper()
	m, err := match.NewModel(s, o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Match(records)
	if err != nil {
		t.Fatal(err)
	}
	return m, res
}

// clustersByID renders a result's clusters as sorted lists of record IDs.
func clustersByID(records []match.Record, res *match.Result) [][]string {
	var out [][]string
	for _, g := range res.Clusters {
		ids := make([]string, len(g))
		for i, r := range g {
			ids[i] = records[r].ID
		}
		slices.Sort(ids)
		out = append(out, ids)
	}
	slices.SortFunc(out, func(a, b []string) int { return slices.Compare(a, b) })
	return out
}

func TestMatchSyntheticPeople(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		opts match.Options
	}{
		{"all pairs", 1000, match.Options{}},
		{"blocked", 2000, match.Options{MaxPairs: 300_000}},
		{"no term frequencies", 1000, match.Options{NoTermFrequency: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, records, entity := synthPeople(tc.n, 7)
			m, res := mustMatch(t, s, tc.opts, records)
			mt := match.Evaluate(res.Labels, nil, truthOf(entity))
			t.Logf("n=%d pairs=%d P=%.4f R=%.4f F1=%.4f rules=%v", tc.n, res.PairsCompared, mt.Precision, mt.Recall, mt.F1, m.Stats().Rules)
			if mt.F1 < 0.95 {
				t.Errorf("F1=%.4f, want >= 0.95", mt.F1)
			}
			if st := m.Stats(); !st.Converged {
				t.Errorf("EM did not converge in %d iterations", st.Iterations)
			}
		})
	}
}

// TestOrderIndependence is the property that matching does not depend on the order of the
// records nor on their IDs: shuffled and re-keyed, the learned parameters are the same and
// so are the clusters.
func TestOrderIndependence(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		opts match.Options
	}{
		{"all pairs", 800, match.Options{}},
		{"blocked with sampled u", 2000, match.Options{MaxPairs: 250_000, SamplePairs: 150_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, records, _ := synthPeople(tc.n, 3)
			m1, res1 := mustMatch(t, s, tc.opts, records)
			rng := rand.New(rand.NewPCG(9, 9))
			for trial := 0; trial < 1; trial++ {
				shuffled := slices.Clone(records)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				m2, res2 := mustMatch(t, s, tc.opts, shuffled)
				if diff := cmp.Diff(m1.Params(), m2.Params()); diff != "" {
					t.Fatalf("parameters depend on record order (-first +shuffled):\n%s", diff)
				}
				if diff := cmp.Diff(clustersByID(records, res1), clustersByID(shuffled, res2)); diff != "" {
					t.Fatalf("clusters depend on record order:\n%s", diff)
				}
				if res1.PairsCompared != res2.PairsCompared {
					t.Fatalf("pairs compared %d vs %d", res1.PairsCompared, res2.PairsCompared)
				}
			}
		})
	}
}

// TestScoreProperties: scoring is symmetric, its breakdown adds up, probabilities are in
// [0, 1], and Candidates agrees with Score.
func TestScoreProperties(t *testing.T) {
	s, records, _ := synthPeople(1000, 5)
	m, res := mustMatch(t, s, match.Options{}, records)
	rng := rand.New(rand.NewPCG(1, 1))
	check := func(a, b match.Record) match.Explanation {
		e1, err := m.Score(a, b)
		if err != nil {
			t.Fatal(err)
		}
		e2, _ := m.Score(b, a)
		if math.Abs(e1.Weight-e2.Weight) > 1e-9 || math.Abs(e1.Probability-e2.Probability) > 1e-12 {
			t.Fatalf("Score not symmetric: %v vs %v", e1, e2)
		}
		sum := e1.Prior
		for _, f := range e1.Fields {
			sum += f.Weight
		}
		if math.Abs(sum-e1.Weight) > 1e-9 {
			t.Fatalf("weights add to %v, total %v", sum, e1.Weight)
		}
		if e1.Probability < 0 || e1.Probability > 1 || math.IsNaN(e1.Probability) {
			t.Fatalf("probability %v", e1.Probability)
		}
		return e1
	}
	for i := 0; i < 300; i++ {
		check(records[rng.IntN(len(records))], records[rng.IntN(len(records))])
	}
	if len(res.Pairs) == 0 {
		t.Fatal("no candidate pairs")
	}
	for _, p := range res.Pairs[:min(200, len(res.Pairs))] {
		e := check(records[p.A], records[p.B])
		if math.Abs(e.Weight-p.Weight) > 1e-4 {
			t.Fatalf("pair %d~%d: Candidates weight %v, Score %v", p.A, p.B, p.Weight, e.Weight)
		}
	}
	// Candidates on the training records gives the same pairs as Match.
	pairs, err := m.Candidates(records)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != len(res.Pairs) {
		t.Fatalf("Candidates gave %d pairs, Match %d", len(pairs), len(res.Pairs))
	}
	// A record is a perfect match with itself but for missing fields.
	e := check(records[0], records[0])
	if e.Probability < 0.99 {
		t.Errorf("self-match probability %v", e.Probability)
	}
}

func TestLink(t *testing.T) {
	s, records, entity := synthPeople(2000, 11)
	// Side 0: the first record of each entity; side 1: the others, one per entity.
	firstOf := map[int]int{}
	var a, b []match.Record
	var ea, eb []int
	for i, r := range records {
		e := entity[i]
		if _, ok := firstOf[e]; !ok {
			firstOf[e] = i
			r.Source = 0
			a, ea = append(a, r), append(ea, e)
		} else if len(b) < len(a) {
			r.Source = 1
			b, eb = append(b, r), append(eb, e)
		}
	}
	all := append(slices.Clone(a), b...)
	ents := append(slices.Clone(ea), eb...)
	sources := make([]int, len(all))
	var truth [][2]int
	pos := map[int]int{}
	for i, r := range all {
		sources[i] = r.Source
		if r.Source == 0 {
			pos[ents[i]] = i
		} else {
			truth = append(truth, [2]int{pos[ents[i]], i})
		}
	}
	m, res := mustMatch(t, s, match.Options{Link: true}, all)
	for _, p := range res.Pairs {
		if sources[p.A] == sources[p.B] {
			t.Fatalf("linking compared two records of source %d", sources[p.A])
		}
	}
	mt := match.Evaluate(res.Labels, sources, truth)
	t.Logf("link %d × %d: P=%.4f R=%.4f F1=%.4f pairs=%d rules=%v", len(a), len(b), mt.Precision, mt.Recall, mt.F1, res.PairsCompared, m.Stats().Rules)
	if mt.F1 < 0.95 {
		t.Errorf("link F1=%.4f, want >= 0.95", mt.F1)
	}
}

func TestModelErrors(t *testing.T) {
	s := match.Schema{Fields: []match.Field{{"name", match.Name}}}
	if _, err := match.NewModel(match.Schema{}, match.Options{}); mosaic.ErrorCode(err) != mosaic.EINVALID {
		t.Errorf("empty schema: %v", err)
	}
	if _, err := match.NewModel(match.Schema{Fields: []match.Field{{"x", match.Ignore}}}, match.Options{}); mosaic.ErrorCode(err) != mosaic.EINVALID {
		t.Errorf("all ignored: %v", err)
	}
	if _, err := match.NewModel(s, match.Options{MatchThreshold: 0.5, ReviewThreshold: 0.9}); mosaic.ErrorCode(err) != mosaic.EINVALID {
		t.Errorf("review above match: %v", err)
	}
	m, _ := match.NewModel(s, match.Options{})
	if _, err := m.Score(match.Record{Values: []string{"a"}}, match.Record{Values: []string{"a"}}); mosaic.ErrorCode(err) != mosaic.EINVALID {
		t.Errorf("untrained score: %v", err)
	}
	if err := m.Train([]match.Record{{ID: "1", Values: []string{"a", "b"}}}); mosaic.ErrorCode(err) != mosaic.EINVALID {
		t.Errorf("wrong arity: %v", err)
	}
	if err := m.Train([]match.Record{{ID: "1", Values: []string{"a"}}}); mosaic.ErrorCode(err) != mosaic.EINVALID {
		t.Errorf("one record: %v", err)
	}
}

func TestClusterAndEvaluate(t *testing.T) {
	pairs := []match.Pair{
		{A: 0, B: 1, Probability: 0.9},
		{A: 1, B: 2, Probability: 0.6},
		{A: 3, B: 4, Probability: 0.4},
		{A: 4, B: 5, Probability: 0.99},
	}
	labels := match.Cluster(6, pairs, 0.5)
	if diff := cmp.Diff([]int{0, 0, 0, 3, 4, 4}, labels); diff != "" {
		t.Fatalf("labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]int{{0, 1, 2}, {4, 5}}, match.Groups(labels)); diff != "" {
		t.Fatalf("groups (-want +got):\n%s", diff)
	}
	// Capped at two records, the strongest pairs win: 0–1 joins, 1–2 would make three.
	if diff := cmp.Diff([]int{0, 0, 2, 3, 4, 4}, match.ClusterMax(6, pairs, 0.5, 2)); diff != "" {
		t.Fatalf("capped labels (-want +got):\n%s", diff)
	}
	// Truth: {0,1}, {2}, {3,4,5}. Predicted pairs: 01 02 12 45 → TP 01, 45.
	truth := [][2]int{{0, 1}, {3, 4}, {3, 5}, {5, 4}, {1, 0}}
	mt := match.Evaluate(labels, nil, truth)
	want := match.Metrics{TruePairs: 4, PredictedPairs: 4, TruePositives: 2, Precision: 0.5, Recall: 0.5, F1: 0.5}
	// B-cubed: precision per record 2/3 2/3 1/3 1 1 1 → 4.6667/6; recall 1 1 1 1/3 2/3 2/3 → 4.6667/6.
	want.BCubedPrecision, want.BCubedRecall, want.BCubedF1 = 14.0/18, 14.0/18, 14.0/18
	if diff := cmp.Diff(want, mt, cmp.Comparer(func(x, y float64) bool { return math.Abs(x-y) < 1e-9 })); diff != "" {
		t.Fatalf("metrics (-want +got):\n%s", diff)
	}
	// Linking counts only cross-source pairs.
	sources := []int{0, 1, 1, 0, 0, 1}
	mt = match.Evaluate(labels, sources, [][2]int{{0, 1}, {4, 5}, {3, 5}})
	if mt.PredictedPairs != 3 || mt.TruePositives != 2 || mt.BCubedF1 != 0 {
		t.Errorf("link metrics: %+v", mt)
	}
}

// TestCandidatesOnNewRecords trains on a small sample (compared pair by pair) and then
// proposes candidates among many more records: blocking is chosen for the larger set, so the
// pairs stay within budget, and the true pairs are still found.
func TestCandidatesOnNewRecords(t *testing.T) {
	s, records, entity := synthPeople(3000, 13)
	m, err := match.NewModel(s, match.Options{MaxPairs: 400_000})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Train(records[:400]); err != nil {
		t.Fatal(err)
	}
	pairs, err := m.Candidates(records)
	if err != nil {
		t.Fatal(err)
	}
	labels := match.Cluster(len(records), pairs, m.Options().MatchThreshold)
	mt := match.Evaluate(labels, nil, truthOf(entity))
	t.Logf("trained on 400, matched 3000: %d pairs reported, P=%.4f R=%.4f F1=%.4f", len(pairs), mt.Precision, mt.Recall, mt.F1)
	if mt.F1 < 0.9 {
		t.Errorf("F1=%.4f, want >= 0.9", mt.F1)
	}
}

// TestEdgeCases: tiny inputs, a column with no values, and data without any duplicate.
func TestEdgeCases(t *testing.T) {
	s := match.Schema{Fields: []match.Field{{"name", match.Name}, {"dob", match.Date}, {"empty", match.Email}}}
	two := []match.Record{{ID: "a", Values: []string{"ada", "18151210", ""}}, {ID: "b", Values: []string{"ada", "18151210", ""}}}
	_, res := mustMatch(t, s, match.Options{}, two)
	if len(res.Labels) != 2 {
		t.Fatalf("labels %v", res.Labels)
	}
	// Originals only: nothing should merge. (Without the dependence correction EM's match
	// class latched on to "same suburb and postcode" here and merged a seventh of them.)
	ps, people, entity := synthPeople(1500, 21)
	var originals []match.Record
	seen := map[int]bool{}
	for i, r := range people {
		if !seen[entity[i]] {
			seen[entity[i]] = true
			originals = append(originals, r)
		}
	}
	_, res = mustMatch(t, ps, match.Options{}, originals)
	if len(res.Clusters) > len(originals)/100 {
		t.Errorf("%d clusters among %d distinct people", len(res.Clusters), len(originals))
	}
}

// TestModelJSON: a model written and read back scores exactly as the original.
func TestModelJSON(t *testing.T) {
	s, records, _ := synthPeople(600, 23)
	m, _ := mustMatch(t, s, match.Options{MatchThreshold: 0.8, ReviewThreshold: 0.2}, records)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back match.Model
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m.Params(), back.Params()); diff != "" {
		t.Fatalf("params differ after a round trip:\n%s", diff)
	}
	for i := 0; i+1 < 100; i++ {
		e1, _ := m.Score(records[i], records[i+1])
		e2, err := back.Score(records[i], records[i+1])
		if err != nil || e1.Weight != e2.Weight {
			t.Fatalf("score %v vs %v (%v)", e1.Weight, e2.Weight, err)
		}
	}
	p1, _ := m.Candidates(records)
	p2, _ := back.Candidates(records)
	if diff := cmp.Diff(p1, p2); diff != "" {
		t.Fatalf("candidates differ:\n%s", diff)
	}
	if back.Options().MatchThreshold != 0.8 {
		t.Errorf("options not kept: %+v", back.Options())
	}
	var bad match.Model
	if err := json.Unmarshal([]byte(`{"version":99}`), &bad); mosaic.ErrorCode(err) != mosaic.EINVALID {
		t.Errorf("bad version: %v", err)
	}
	untrained, _ := match.NewModel(s, match.Options{})
	if _, err := json.Marshal(untrained); err == nil {
		t.Error("an untrained model marshalled")
	}
}

// TestDependenceCorrection: a field that copies another adds no evidence: the model finds
// the dependence, and a pair agreeing on both weighs about what it weighed with one.
func TestDependenceCorrection(t *testing.T) {
	s, records, _ := synthPeople(1000, 17)
	pc := s.Index("postcode")
	s2 := match.Schema{Fields: append(slices.Clone(s.Fields), match.Field{Name: "postcode_copy", Kind: match.Postcode})}
	var copied []match.Record
	for _, r := range records {
		copied = append(copied, match.Record{ID: r.ID, Values: append(slices.Clone(r.Values), r.Values[pc])})
	}
	m1, _ := mustMatch(t, s, match.Options{}, records)
	m2, _ := mustMatch(t, s2, match.Options{}, copied)
	found := false
	for _, d := range m2.Params().Dependencies {
		if (d.Field == "postcode_copy" && d.On == "postcode" || d.Field == "postcode" && d.On == "postcode_copy") && d.Weight < 0 {
			found = true
		}
	}
	if !found {
		t.Fatalf("no dependence found between a field and its copy: %+v", m2.Params().Dependencies)
	}
	e1, _ := m1.Score(records[0], records[0])
	e2, _ := m2.Score(copied[0], copied[0])
	if math.Abs(e2.Weight-e1.Weight) > 2 {
		t.Errorf("self-match weighs %.1f with the copy, %.1f without: the copy counts twice", e2.Weight, e1.Weight)
	}
}

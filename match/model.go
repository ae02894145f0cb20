package match

import (
	"cmp"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/mosaic-cdp/mosaic"
)

// Default option values.
const (
	DefaultMatchThreshold  = 0.5  // match probability at or above which a pair is a match
	DefaultReviewThreshold = 0.05 // match probability at or above which a pair is worth a look
	DefaultMaxBlockSize    = 1000
	DefaultSamplePairs     = 1_000_000
	DefaultMaxIterations   = 200
	minPairBudget          = 2_000_000
	pairsPerRecord         = 100
)

// Options tune a Model. The zero value gives the defaults.
type Options struct {
	// MatchThreshold is the match probability at or above which two records are the same
	// entity (merged automatically); default DefaultMatchThreshold.
	MatchThreshold float64
	// ReviewThreshold is the lower probability from which a pair is reported by Candidates
	// (the band up to MatchThreshold is for review); default DefaultReviewThreshold.
	ReviewThreshold float64
	// NoTermFrequency turns off the term-frequency adjustment of exact matches.
	NoTermFrequency bool
	// Link compares only pairs of records from different sources (Record.Source 0 and 1)
	// instead of deduplicating one set.
	Link bool
	// MaxPairs bounds the candidate pairs blocking proposes; default max(2M, 100 per record).
	// When all pairs fit in a quarter of it, every pair is compared.
	MaxPairs int
	// MaxBlockSize skips blocks with more records than this; default DefaultMaxBlockSize.
	MaxBlockSize int
	// SamplePairs is the number of random pairs u-probabilities are estimated from.
	SamplePairs int
	// MaxIterations bounds expectation maximisation; default DefaultMaxIterations.
	MaxIterations int
	// MaxClusterSize, when positive, caps the records Match puts in one cluster: pairs join
	// strongest first and a pair that would exceed the cap is left out (see ClusterMax).
	MaxClusterSize int
	// Seed makes the random pair sample reproducible (it never depends on record order).
	Seed uint64
	// Workers compare pairs in parallel; default GOMAXPROCS.
	Workers int
}

func (o Options) withDefaults() Options {
	if o.MatchThreshold <= 0 {
		o.MatchThreshold = DefaultMatchThreshold
	}
	if o.ReviewThreshold <= 0 {
		o.ReviewThreshold = min(DefaultReviewThreshold, o.MatchThreshold)
	}
	if o.MaxBlockSize <= 0 {
		o.MaxBlockSize = DefaultMaxBlockSize
	}
	if o.SamplePairs <= 0 {
		o.SamplePairs = DefaultSamplePairs
	}
	if o.MaxIterations <= 0 {
		o.MaxIterations = DefaultMaxIterations
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// Model is a Fellegi–Sunter matcher for one schema: Train learns its probabilities from
// unlabelled records, then Candidates, Score and Cluster use them. A trained Model is safe
// for concurrent use by Score; Train must not run concurrently with anything else.
type Model struct {
	schema Schema
	opts   Options
	fields []fieldModel
	prior  float64 // log2 odds that two records drawn at random match
	stats  TrainStats
	ok     bool
	deps   []dependence
}

// fieldModel is what the model knows about one field.
type fieldModel struct {
	kind   Kind
	levels []string
	m, u   []float64 // per level; level 0 (missing) unused
	w      []float64 // log2(m/u)
	counts map[string]int32
	n      int     // non-missing training values
	uExact float64 // P(two random records agree exactly)
	tf     bool
	spread float64
	// floor is the first level that weighs as "different": it and the levels below it are
	// pooled into one (see fit). Training starts it at the last level.
	floor int
}

// TrainStats describes a training run.
type TrainStats struct {
	Records        int      `json:"records"`
	CandidatePairs int      `json:"candidate_pairs"`
	SampledPairs   int      `json:"sampled_pairs"`
	Iterations     int      `json:"iterations"`
	Converged      bool     `json:"converged"`
	MatchShare     float64  `json:"match_share"` // estimated share of matches among candidates
	Rules          []string `json:"rules"`       // blocking rules, or "all pairs"
	// Separation is the share of the estimated matches that are pairs EM finds more likely
	// matches than not (see fit).
	Separation float64 `json:"separation"`
	// NoEvidence is set when EM found no match class it can tell from non-matches: the
	// prior then falls back to one match among all pairs, so that only pairs whose agreement
	// is overwhelming are proposed.
	NoEvidence bool `json:"no_evidence,omitempty"`
	// Pooled lists the comparison levels taken as disagreement because EM's match class
	// reached them more often than any closer level ("field: level", see fit).
	Pooled []string `json:"pooled,omitempty"`
}

// NewModel returns an untrained model for the schema.
func NewModel(s Schema, o Options) (*Model, error) {
	if len(s.Fields) == 0 {
		return nil, mosaic.Errorf(mosaic.EINVALID, "A match schema needs at least one field.")
	}
	compared := 0
	for i, f := range s.Fields {
		if _, ok := kindLevels[f.Kind]; !ok {
			return nil, mosaic.FieldErrorf(mosaic.EINVALID, f.Name, "Field %d has an unknown kind.", i)
		}
		if f.Kind != Ignore {
			compared++
		}
	}
	if compared == 0 {
		return nil, mosaic.Errorf(mosaic.EINVALID, "Every field is ignored: nothing to compare.")
	}
	if o.MatchThreshold < 0 || o.MatchThreshold > 1 || o.ReviewThreshold < 0 || o.ReviewThreshold > 1 {
		return nil, mosaic.Errorf(mosaic.EINVALID, "Thresholds are probabilities between 0 and 1.")
	}
	if o.ReviewThreshold > 0 && o.MatchThreshold > 0 && o.ReviewThreshold > o.MatchThreshold {
		return nil, mosaic.Errorf(mosaic.EINVALID, "The review threshold must not be above the match threshold.")
	}
	return &Model{schema: s, opts: o.withDefaults()}, nil
}

// Schema returns the model's schema.
func (m *Model) Schema() Schema { return m.schema }

// Options returns the model's options with defaults filled in.
func (m *Model) Options() Options { return m.opts }

// Stats describes the last training run.
func (m *Model) Stats() TrainStats { return m.stats }

// data is a set of records prepared for comparison.
type data struct {
	n       int
	cols    []*column // one per schema field; nil for ignored fields
	sources []int
}

func (m *Model) prepare(records []Record) (*data, error) {
	d := &data{n: len(records), cols: make([]*column, len(m.schema.Fields)), sources: make([]int, len(records))}
	for f, fd := range m.schema.Fields {
		if fd.Kind != Ignore {
			d.cols[f] = newColumn(fd.Kind, len(records))
		}
	}
	for i, r := range records {
		if len(r.Values) != len(m.schema.Fields) {
			return nil, mosaic.FieldErrorf(mosaic.EINVALID, "records["+itoa(i)+"]", "Record %q has %d values; the schema has %d fields.", r.ID, len(r.Values), len(m.schema.Fields))
		}
		if m.opts.Link && r.Source != 0 && r.Source != 1 {
			return nil, mosaic.FieldErrorf(mosaic.EINVALID, "records["+itoa(i)+"].Source", "Linking takes records from sources 0 and 1.")
		}
		d.sources[i] = r.Source
		for f, c := range d.cols {
			if c != nil {
				c.set(i, r.Values[f])
			}
		}
	}
	for f, c := range d.cols {
		if c == nil {
			continue
		}
		if c.kind == Text {
			c.rareWords()
		}
		if m.ok {
			c.spread = m.fields[f].spread
		}
	}
	return d, nil
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b [20]byte
	p := len(b)
	for i > 0 {
		p--
		b[p] = digits[i%10]
		i /= 10
	}
	return string(b[p:])
}

// totalPairs is the number of pairs the task compares without blocking.
func (d *data) totalPairs(link bool) float64 {
	if link {
		a := 0
		for _, s := range d.sources {
			if s == 0 {
				a++
			}
		}
		return float64(a) * float64(d.n-a)
	}
	return float64(d.n) * float64(d.n-1) / 2
}

// contentOrder returns record positions ordered by a hash of their normalised values, so that
// sampling depends on the records' content, never on their order or IDs.
func (d *data) contentOrder() []int {
	h := make([]uint64, d.n)
	for i := range h {
		x := uint64(fnvOffset)
		for _, c := range d.cols {
			if c != nil {
				x = hashString(x, c.val[i])
				x = hashString(x, "\x1f")
			}
		}
		h[i] = x ^ uint64(d.sources[i])
	}
	idx := make([]int, d.n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(h[a], h[b]) })
	return idx
}

// Train learns the model from unlabelled records: value frequencies, blocking rules,
// u-probabilities from random pairs and m-probabilities by expectation maximisation over
// the blocked candidate pairs. It returns invalid when records do not fit the schema or
// there are fewer than two to compare.
func (m *Model) Train(records []Record) error {
	_, err := m.train(records)
	return err
}

// trained is the training run's candidate pairs, kept for Match.
type trained struct {
	d     *data
	pairs []pairIndex
	pat   []int32
	pats  [][]uint8
}

func (m *Model) train(records []Record) (*trained, error) {
	m.ok = false
	d, err := m.prepare(records)
	if err != nil {
		return nil, err
	}
	if d.totalPairs(m.opts.Link) < 1 {
		return nil, mosaic.Errorf(mosaic.EINVALID, "Training needs at least two records to compare.")
	}
	m.fields = make([]fieldModel, len(d.cols))
	for f, c := range d.cols {
		fm := &m.fields[f]
		fm.kind = m.schema.Fields[f].Kind
		fm.levels = kindLevels[fm.kind]
		fm.floor = len(fm.levels) - 1
		if c == nil {
			continue
		}
		fm.counts = map[string]int32{}
		for _, v := range c.val {
			if v != "" {
				fm.counts[v]++
				fm.n++
			}
		}
		if fm.n > 1 {
			s := 0.0
			for _, k := range fm.counts {
				s += float64(k) * float64(k-1)
			}
			fm.uExact = s / (float64(fm.n) * float64(fm.n-1))
		}
		fm.tf = !m.opts.NoTermFrequency
		if c.num != nil && fm.kind == Numeric {
			fm.spread = spread(c.num)
			c.spread = fm.spread
		}
	}
	order := d.contentOrder()
	m.estimateU(d, order)
	m.deps = findDependences(d.cols, m.fields, sampleOf(order, 20000))

	pairs, rules := m.block(d, order)
	m.stats.Rules = describeRules(m.schema, rules)
	t := &trained{d: d, pairs: pairs}
	t.pat, t.pats = m.comparePairs(d, pairs)
	counts := make([]float64, len(t.pats))
	for _, p := range t.pat {
		counts[p]++
	}
	m.stats.Records = d.n
	m.stats.CandidatePairs = len(pairs)
	expected := m.fit(t.pats, counts, d.totalPairs(m.opts.Link))
	lambda := max(expected, 1) / d.totalPairs(m.opts.Link)
	lambda = min(lambda, 0.5)
	m.prior = math.Log2(lambda / (1 - lambda))
	m.ok = true
	return t, nil
}

// block proposes the candidate pairs of a prepared data set: every pair when they fit in a
// quarter of the pair budget, else the pairs of blocking rules chosen for this data (nil
// rules mean all pairs). order is the content order of the records.
func (m *Model) block(d *data, order []int) ([]pairIndex, []rule) {
	budget := float64(max(minPairBudget, pairsPerRecord*d.n))
	if m.opts.MaxPairs > 0 {
		budget = float64(m.opts.MaxPairs)
	}
	if d.totalPairs(m.opts.Link) <= budget/4 {
		return allPairs(d, m.opts.Link), nil
	}
	sample := sampleOf(order, 20000)
	rules := chooseRules(d.cols, sample, d.n, d.sources, m.opts.Link, budget/4, budget, m.opts.MaxBlockSize, 40)
	return blockPairs(d.cols, rules, d.n, d.sources, m.opts.Link, m.opts.MaxBlockSize), rules
}

// sampleOf takes at most n positions spread evenly over order, sorted.
func sampleOf(order []int, n int) []int {
	if len(order) <= n {
		return order
	}
	step := float64(len(order)) / float64(n)
	sample := make([]int, n)
	for i := range sample {
		sample[i] = order[int(float64(i)*step)]
	}
	slices.Sort(sample)
	return sample
}

func describeRules(s Schema, rules []rule) []string {
	if rules == nil {
		return []string{"all pairs"}
	}
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.describe(s)
	}
	return out
}

func spread(v []float64) float64 {
	var xs []float64
	for _, x := range v {
		if !math.IsNaN(x) {
			xs = append(xs, x)
		}
	}
	if len(xs) < 2 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)*95/100] - xs[len(xs)*5/100]
}

func allPairs(d *data, link bool) []pairIndex {
	var out []pairIndex
	for a := 0; a < d.n; a++ {
		for b := a + 1; b < d.n; b++ {
			if link && d.sources[a] == d.sources[b] {
				continue
			}
			out = append(out, pairIndex{int32(a), int32(b)})
		}
	}
	return out
}

// estimateU sets each field's u-probabilities from random pairs (every pair when there are
// few), and the exact level's from value frequencies.
func (m *Model) estimateU(d *data, order []int) {
	nf := len(d.cols)
	counts := make([][]float64, nf)
	for f, c := range d.cols {
		if c != nil {
			counts[f] = make([]float64, len(m.fields[f].levels))
		}
	}
	var sample []pairIndex
	if d.totalPairs(m.opts.Link) <= float64(m.opts.SamplePairs) {
		sample = allPairs(d, m.opts.Link)
	} else {
		rng := rand.New(rand.NewPCG(m.opts.Seed, 0x6d6f73616963))
		sample = make([]pairIndex, 0, m.opts.SamplePairs)
		for len(sample) < m.opts.SamplePairs {
			x, y := rng.IntN(d.n), rng.IntN(d.n)
			if x == y {
				continue
			}
			a, b := order[x], order[y]
			if m.opts.Link && d.sources[a] == d.sources[b] {
				continue
			}
			sample = append(sample, pairIndex{int32(a), int32(b)})
		}
	}
	sampled := len(sample)
	spat, spats := m.comparePairs(d, sample)
	scounts := make([]float64, len(spats))
	for _, p := range spat {
		scounts[p]++
	}
	for p, levels := range spats {
		for f, l := range levels {
			if counts[f] != nil {
				counts[f][l] += scounts[p]
			}
		}
	}
	m.stats.SampledPairs = sampled
	for f := range d.cols {
		fm := &m.fields[f]
		fm.u = make([]float64, len(fm.levels))
		fm.m = make([]float64, len(fm.levels))
		fm.w = make([]float64, len(fm.levels))
		if counts[f] == nil {
			continue
		}
		total := 0.0
		for l := 1; l < len(fm.levels); l++ {
			total += counts[f][l]
		}
		// Exact agreement from frequencies; the other levels share the rest in the sample's
		// proportions, each with a half-pair floor so that no level is impossible.
		uExact := fm.uExact
		if uExact <= 0 {
			uExact = 0.5 / max(total, 1)
		}
		rest := 0.0
		for l := 2; l < len(fm.levels); l++ {
			rest += counts[f][l] + 0.5
		}
		for l := 2; l < len(fm.levels); l++ {
			fm.u[l] = (1 - uExact) * (counts[f][l] + 0.5) / rest
		}
		fm.u[levelExact] = uExact
	}
}

// comparePairs compares every pair, in parallel, and returns each pair's pattern index and
// the distinct patterns (level per field).
func (m *Model) comparePairs(d *data, pairs []pairIndex) ([]int32, [][]uint8) {
	pat := make([]int32, len(pairs))
	workers := max(1, min(m.opts.Workers, len(pairs)/4096+1))
	type local struct {
		ids  map[string]int32
		pats [][]uint8
	}
	locals := make([]local, workers)
	var wg sync.WaitGroup
	chunk := (len(pairs) + workers - 1) / workers
	nf := len(d.cols)
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min(len(pairs), (w+1)*chunk)
		wg.Go(func() {
			l := local{ids: map[string]int32{}}
			buf := make([]uint8, nf)
			for k := lo; k < hi; k++ {
				p := pairs[k]
				for f, c := range d.cols {
					if c != nil {
						buf[f] = c.compare(int(p.a), int(p.b))
					}
				}
				id, ok := l.ids[string(buf)]
				if !ok {
					id = int32(len(l.pats))
					l.ids[string(buf)] = id
					l.pats = append(l.pats, slices.Clone(buf))
				}
				pat[k] = id
			}
			locals[w] = l
		})
	}
	wg.Wait()
	// Merge into one pattern list in a deterministic (sorted) order.
	global := map[string]int32{}
	var all [][]uint8
	for _, l := range locals {
		for _, p := range l.pats {
			if _, ok := global[string(p)]; !ok {
				global[string(p)] = 0
				all = append(all, p)
			}
		}
	}
	slices.SortFunc(all, func(a, b []uint8) int { return slices.Compare(a, b) })
	for i, p := range all {
		global[string(p)] = int32(i)
	}
	remap := make([][]int32, workers)
	for w, l := range locals {
		remap[w] = make([]int32, len(l.pats))
		for i, p := range l.pats {
			remap[w][i] = global[string(p)]
		}
	}
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min(len(pairs), (w+1)*chunk)
		for k := lo; k < hi; k++ {
			pat[k] = remap[w][pat[k]]
		}
	}
	return pat, all
}

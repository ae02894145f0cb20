package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/match"
	"go.yaml.in/yaml/v3"
)

// MatchCmd groups the probabilistic matching subcommands.
type MatchCmd struct {
	Run    MatchRunCmd    `cmd:"" help:"Find profiles that are one customer although they share no identifier: link the sure pairs, queue the likely ones for review."`
	Review MatchReviewCmd `cmd:"" help:"List the candidate pairs and accept or reject them."`
	Eval   MatchEvalCmd   `cmd:"" help:"Dedupe one CSV file (or link two) and score the result against known true pairs."`
}

// MatchEvalCmd runs the matcher on CSV files and scores it against true pairs.
type MatchEvalCmd struct {
	IDColumn   string   `name:"id-column" required:"" help:"Column holding each record's id (an opaque key, never compared)." placeholder:"COL"`
	TruthPairs string   `name:"truth-pairs" required:"" help:"CSV of true matching pairs: a header, then id,id per line (file 1 id, file 2 id when linking)." placeholder:"PAIRS.csv"`
	Ignore     []string `help:"Columns the matcher must not see (e.g. ground-truth columns)." sep:"," placeholder:"COL,..."`
	Mapping    string   `help:"Optional YAML or JSON object of column: kind (name, date, postcode, email, phone, numeric, id, category, text, ignore) overriding inference." placeholder:"FILE"`
	Threshold  float64  `help:"Match probability at or above which two records are the same entity." default:"0.5"`
	MaxCluster int      `name:"max-cluster-size" help:"Cap on records per cluster (a guard against chaining); 0 = no cap." default:"0" placeholder:"N"`
	Show       int      `help:"Print this many of the worst false matches and missed pairs, with their explanations." default:"0" placeholder:"N"`
	Verbose    bool     `short:"v" help:"Also print the learned m/u probabilities and weights of every comparison level."`
	Files      []string `arg:"" help:"One CSV file to dedupe, or two to link." placeholder:"FILE"`
}

// MatchEvalReport is the final JSON line of match eval.
type MatchEvalReport struct {
	Precision       float64 `json:"precision"`
	Recall          float64 `json:"recall"`
	F1              float64 `json:"f1"`
	PairsCompared   int     `json:"pairs_compared"`
	Seconds         float64 `json:"seconds"`
	BCubedPrecision float64 `json:"bcubed_precision,omitempty"`
	BCubedRecall    float64 `json:"bcubed_recall,omitempty"`
	BCubedF1        float64 `json:"bcubed_f1,omitempty"`
	TruePairs       int     `json:"true_pairs"`
	PredictedPairs  int     `json:"predicted_pairs"`
	TruePositives   int     `json:"true_positives"`
	Records         int     `json:"records"`
}

// csvTable is a CSV file read as text.
type csvTable struct {
	path   string
	header []string
	rows   [][]string
	lines  []int // line of each row in the file
}

func readCSV(path string) (*csvTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, mosaic.FieldErrorf(mosaic.EINVALID, path, "Cannot read the file: %v.", errors.Unwrap(err))
	}
	defer f.Close()
	r := csv.NewReader(f)
	t := &csvTable{path: path}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, mosaic.FieldErrorf(mosaic.EINVALID, fmt.Sprintf("%s:%d", path, pe.Line), "Bad CSV: %v.", pe.Err)
			}
			return nil, mosaic.FieldErrorf(mosaic.EINVALID, path, "Cannot read the file: %v.", err)
		}
		line, _ := r.FieldPos(0)
		if t.header == nil {
			t.header = slices.Clone(rec)
			if len(t.header) > 0 {
				t.header[0] = strings.TrimPrefix(t.header[0], "\ufeff")
			}
			continue
		}
		t.rows = append(t.rows, rec)
		t.lines = append(t.lines, line)
	}
	if t.header == nil {
		return nil, mosaic.FieldErrorf(mosaic.EINVALID, path, "The file is empty: a header row is needed.")
	}
	return t, nil
}

func (t *csvTable) column(name string) int { return slices.Index(t.header, name) }

// Run implements the command.
func (c *MatchEvalCmd) Run(env *Env) error {
	start := time.Now()
	if len(c.Files) == 0 || len(c.Files) > 2 {
		return mosaic.Errorf(mosaic.EINVALID, "Give one file to dedupe or two to link (got %d).", len(c.Files))
	}
	link := len(c.Files) == 2
	var tables []*csvTable
	for _, p := range c.Files {
		t, err := readCSV(p)
		if err != nil {
			return err
		}
		if t.column(c.IDColumn) < 0 {
			return mosaic.FieldErrorf(mosaic.EINVALID, p, "No id column %q (columns: %s).", c.IDColumn, strings.Join(t.header, ", "))
		}
		for _, ig := range c.Ignore {
			if t.column(ig) < 0 {
				return mosaic.FieldErrorf(mosaic.EINVALID, p, "No column %q to ignore (columns: %s).", ig, strings.Join(t.header, ", "))
			}
		}
		tables = append(tables, t)
	}
	mapping := map[string]match.Kind{}
	if c.Mapping != "" {
		b, err := os.ReadFile(c.Mapping)
		if err != nil {
			return mosaic.FieldErrorf(mosaic.EINVALID, c.Mapping, "Cannot read the mapping: %v.", errors.Unwrap(err))
		}
		var raw map[string]string
		if err := yaml.Unmarshal(b, &raw); err != nil {
			return mosaic.FieldErrorf(mosaic.EINVALID, c.Mapping, "The mapping is not a YAML/JSON object of column: kind: %v.", err)
		}
		for col, k := range raw {
			kind, err := match.ParseKind(k)
			if err != nil {
				return mosaic.FieldErrorf(mosaic.EINVALID, c.Mapping+": "+col, "%s", mosaic.ErrorMessage(err))
			}
			if tables[0].column(col) < 0 {
				return mosaic.FieldErrorf(mosaic.EINVALID, c.Mapping+": "+col, "No column %q in %s.", col, tables[0].path)
			}
			mapping[col] = kind
		}
	}

	// The compared columns: every column of the first file but the id and the ignored ones;
	// when linking, those the second file has too.
	var cols, oneSided []string
	for _, h := range tables[0].header {
		if h == c.IDColumn || slices.Contains(c.Ignore, h) || mapping[h] == match.Ignore && hasKey(mapping, h) {
			continue
		}
		if link && tables[1].column(h) < 0 {
			oneSided = append(oneSided, h)
			continue
		}
		cols = append(cols, h)
	}
	if len(cols) == 0 {
		return mosaic.FieldErrorf(mosaic.EINVALID, tables[0].path, "No column left to compare besides the id and the ignored ones.")
	}
	var records []match.Record
	pos := []map[string]int{{}, {}}
	for s, t := range tables {
		idx := make([]int, len(cols))
		for k, name := range cols {
			if idx[k] = t.column(name); idx[k] < 0 {
				return mosaic.FieldErrorf(mosaic.EINVALID, t.path, "No column %q, which %s has: linked files need the same columns.", name, tables[0].path)
			}
		}
		idc := t.column(c.IDColumn)
		for r, row := range t.rows {
			id := strings.TrimSpace(row[idc])
			where := fmt.Sprintf("%s:%d", t.path, t.lines[r])
			if strings.TrimSpace(id) == "" {
				return mosaic.FieldErrorf(mosaic.EINVALID, where, "Empty id in column %q.", c.IDColumn)
			}
			if _, dup := pos[s][id]; dup {
				return mosaic.FieldErrorf(mosaic.EINVALID, where, "Duplicate id %q in column %q.", id, c.IDColumn)
			}
			pos[s][id] = len(records)
			vals := make([]string, len(cols))
			for k, ci := range idx {
				vals[k] = row[ci]
			}
			records = append(records, match.Record{ID: id, Values: vals, Source: s})
		}
	}
	// Kinds: the mapping's, else inferred from names and a sample of values.
	sample := make([][]string, 0, min(len(records), 5000))
	for i := 0; i < len(records) && len(sample) < cap(sample); i += max(1, len(records)/5000) {
		sample = append(sample, records[i].Values)
	}
	schema := match.InferSchema(cols, sample)
	for i, f := range schema.Fields {
		if k, ok := mapping[f.Name]; ok {
			schema.Fields[i].Kind = k
		}
	}
	truth, err := readTruth(c.TruthPairs, pos, link)
	if err != nil {
		return err
	}

	model, err := match.NewModel(schema, match.Options{Link: link, MaxClusterSize: c.MaxCluster, MatchThreshold: c.Threshold, ReviewThreshold: min(c.Threshold, match.DefaultReviewThreshold)})
	if err != nil {
		return err
	}
	res, err := model.Match(records)
	if err != nil {
		return err
	}
	var sources []int
	if link {
		sources = make([]int, len(records))
		for i, r := range records {
			sources[i] = r.Source
		}
	}
	mt := match.Evaluate(res.Labels, sources, truth)
	secs := time.Since(start).Seconds()
	if c.Show > 0 {
		showErrors(env.Stdout, model, records, res, truth, c.Show)
	}

	w := env.Stdout
	mode := "dedupe"
	if link {
		mode = "link"
	}
	fmt.Fprintf(w, "%s: %d records", mode, len(records))
	if link {
		fmt.Fprintf(w, " (%d + %d)", len(tables[0].rows), len(tables[1].rows))
	}
	fmt.Fprintln(w)
	kinds := make([]string, len(schema.Fields))
	for i, f := range schema.Fields {
		kinds[i] = f.Name + "=" + f.Kind.String()
	}
	fmt.Fprintf(w, "fields: %s\n", strings.Join(kinds, " "))
	if len(oneSided) > 0 {
		fmt.Fprintf(w, "not compared (not in %s): %s\n", tables[1].path, strings.Join(oneSided, ", "))
	}
	st := model.Stats()
	fmt.Fprintf(w, "blocking: %d pairs compared (%s)\n", res.PairsCompared, strings.Join(st.Rules, "; "))
	fmt.Fprintf(w, "training: u from %d random pairs, EM %d iterations (converged %v), matches among candidates %.4f, separation %.2f\n",
		st.SampledPairs, st.Iterations, st.Converged, st.MatchShare, st.Separation)
	if len(st.Pooled) > 0 {
		fmt.Fprintf(w, "taken as disagreement (the match class reached them more often than closer levels): %s\n", strings.Join(st.Pooled, "; "))
	}
	if st.NoEvidence {
		fmt.Fprintln(w, "no evidence of duplicates: EM found no match class it can tell from non-matches (prior: one match among all pairs)")
	}
	if c.Verbose {
		params := model.Params()
		fmt.Fprintf(w, "prior: %.2f (log2 odds that two random records match)\n", params.Prior)
		for _, f := range params.Fields {
			fmt.Fprintf(w, "  %s (%s):", f.Field, f.Kind)
			for _, l := range f.Levels {
				fmt.Fprintf(w, "  %s m=%.3g u=%.3g w=%+.1f;", l.Level, l.M, l.U, l.Weight)
			}
			fmt.Fprintln(w)
		}
		for _, d := range params.Dependencies {
			fmt.Fprintf(w, "  %s is nearly determined by %s: %+.1f when both are exact\n", d.Field, d.On, d.Weight)
		}
	}
	fmt.Fprintf(w, "clusters: %d of two or more records; threshold %.2f\n", len(res.Clusters), c.Threshold)
	fmt.Fprintf(w, "pairwise: precision %.4f  recall %.4f  F1 %.4f  (true pairs %d, predicted %d, correct %d)\n",
		mt.Precision, mt.Recall, mt.F1, mt.TruePairs, mt.PredictedPairs, mt.TruePositives)
	if !link {
		fmt.Fprintf(w, "b-cubed:  precision %.4f  recall %.4f  F1 %.4f\n", mt.BCubedPrecision, mt.BCubedRecall, mt.BCubedF1)
	}
	fmt.Fprintf(w, "time: %.2f s\n", secs)
	rep := MatchEvalReport{Precision: round4(mt.Precision), Recall: round4(mt.Recall), F1: round4(mt.F1), PairsCompared: res.PairsCompared,
		Seconds: float64(int(secs*1000)) / 1000, BCubedPrecision: round4(mt.BCubedPrecision), BCubedRecall: round4(mt.BCubedRecall),
		BCubedF1: round4(mt.BCubedF1), TruePairs: mt.TruePairs, PredictedPairs: mt.PredictedPairs, TruePositives: mt.TruePositives, Records: len(records)}
	b, _ := json.Marshal(rep)
	fmt.Fprintln(w, string(b))
	return nil
}

func hasKey(m map[string]match.Kind, k string) bool { _, ok := m[k]; return ok }

func round4(x float64) float64 { return float64(int64(x*10000+0.5)) / 10000 }

func known(pos []map[string]int, id string) bool {
	_, a := pos[0][id]
	_, b := pos[1][id]
	return a || b
}

// readTruth reads the true pairs file: a header (optional), then two ids per line. When linking the
// first id is from the first file and the second from the second.
func readTruth(path string, pos []map[string]int, link bool) ([][2]int, error) {
	t, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	if len(t.header) < 2 {
		return nil, mosaic.FieldErrorf(mosaic.EINVALID, path, "A true-pairs file has two id columns.")
	}
	rows, lines := t.rows, t.lines
	// A file without a header row: its first line is a pair of known ids.
	if h0, h1 := strings.TrimSpace(t.header[0]), strings.TrimSpace(t.header[1]); known(pos, h0) && known(pos, h1) {
		rows = append([][]string{t.header}, rows...)
		lines = append([]int{1}, lines...)
	}
	var out [][2]int
	for r, row := range rows {
		where := fmt.Sprintf("%s:%d", path, lines[r])
		l, rr := strings.TrimSpace(row[0]), strings.TrimSpace(row[1])
		if !link {
			a, okA := pos[0][l]
			b, okB := pos[0][rr]
			switch {
			case !okA:
				return nil, mosaic.FieldErrorf(mosaic.EINVALID, where, "Unknown id %q in column %q.", l, t.header[0])
			case !okB:
				return nil, mosaic.FieldErrorf(mosaic.EINVALID, where, "Unknown id %q in column %q.", rr, t.header[1])
			}
			out = append(out, [2]int{a, b})
			continue
		}
		// Linking: the first id is from the first file, the second from the second; a file
		// listing them the other way round is read the other way round.
		if a, ok := pos[0][l]; ok {
			if b, ok := pos[1][rr]; ok {
				out = append(out, [2]int{a, b})
				continue
			}
		}
		if a, ok := pos[0][rr]; ok {
			if b, ok := pos[1][l]; ok {
				out = append(out, [2]int{a, b})
				continue
			}
		}
		return nil, mosaic.FieldErrorf(mosaic.EINVALID, where, "Ids %q and %q are not one from each file (%q in the first, %q in the second).", l, rr, t.header[0], t.header[1])
	}
	return out, nil
}

// showErrors prints the highest-scored false matches and the lowest-scored missed pairs.
func showErrors(w io.Writer, model *match.Model, records []match.Record, res *match.Result, truth [][2]int, n int) {
	isTrue := map[[2]int]bool{}
	for _, p := range truth {
		a, b := min(p[0], p[1]), max(p[0], p[1])
		isTrue[[2]int{a, b}] = true
	}
	type scored struct {
		a, b int
		e    match.Explanation
	}
	var fps, fns []scored
	for _, p := range res.Pairs {
		if res.Labels[p.A] == res.Labels[p.B] && !isTrue[[2]int{p.A, p.B}] {
			e, _ := model.Score(records[p.A], records[p.B])
			fps = append(fps, scored{p.A, p.B, e})
		}
	}
	for p := range isTrue {
		if res.Labels[p[0]] != res.Labels[p[1]] {
			e, _ := model.Score(records[p[0]], records[p[1]])
			fns = append(fns, scored{p[0], p[1], e})
		}
	}
	slices.SortFunc(fps, func(x, y scored) int { return cmpFloat(y.e.Weight, x.e.Weight) })
	slices.SortFunc(fns, func(x, y scored) int { return cmpFloat(y.e.Weight, x.e.Weight) })
	print := func(title string, list []scored) {
		fmt.Fprintf(w, "%s (%d):\n", title, len(list))
		for _, s := range list[:min(n, len(list))] {
			fmt.Fprintf(w, "  %s ~ %s  p=%.3f w=%+.1f\n", records[s.a].ID, records[s.b].ID, s.e.Probability, s.e.Weight)
			for k, f := range s.e.Fields {
				fmt.Fprintf(w, "      %-16s %-28q %-28q %-30s %+.1f\n", f.Field, records[s.a].Values[k], records[s.b].Values[k], f.Level, f.Weight)
			}
		}
	}
	print("false matches (pairs in a predicted cluster, not true)", fps)
	print("missed true pairs", fns)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

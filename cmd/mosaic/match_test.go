package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic/internal/devdata"
)

// identityData returns the identity development data folder (see package devdata).
func identityData(t *testing.T) string {
	t.Helper()
	return devdata.Dir(t, "identity", filepath.Join("febrl", "febrl1.csv"))
}

// runEval runs `mosaic match eval` in-process and decodes its final JSON line.
func runEval(t *testing.T, args ...string) (MatchEvalReport, string) {
	t.Helper()
	var out bytes.Buffer
	if err := (&Main{Stdout: &out}).Run(t.Context(), append([]string{"match", "eval"}, args...)); err != nil {
		t.Fatalf("match eval %v: %v", args, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rep MatchEvalReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("final line is not the JSON report: %q: %v", lines[len(lines)-1], err)
	}
	return rep, out.String()
}

// TestMatchEvalDevData runs the evaluation contract on the development data with default
// settings and holds the matcher to its targets (same defaults for every file).
func TestMatchEvalDevData(t *testing.T) {
	dir := identityData(t)
	tests := []struct {
		name, file, truth, id, ignore string
		minF1                         float64 // 0: reported only
		long                          bool
	}{
		{"febrl1", "febrl/febrl1.csv", "febrl/febrl1_true_pairs.csv", "rec_id", "", 0.99, false},
		{"febrl2", "febrl/febrl2.csv", "febrl/febrl2_true_pairs.csv", "rec_id", "", 0.99, false},
		{"febrl3", "febrl/febrl3.csv", "febrl/febrl3_true_pairs.csv", "rec_id", "", 0.993, false},
		{"RLdata500", "rldata/RLdata500.csv", "rldata/RLdata500_true_pairs.csv", "rec_id", "ent_id", 0, false},
		{"restaurant", "restaurant/restaurant.csv", "restaurant/restaurant_true_pairs.csv", "rec_id", "entity_id", 0, false},
		{"RLdata10000", "rldata/RLdata10000.csv", "rldata/RLdata10000_true_pairs.csv", "rec_id", "ent_id", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.long && testing.Short() {
				t.Skip("long dataset skipped in -short mode")
			}
			args := []string{"--id-column", tt.id, "--truth-pairs", filepath.Join(dir, tt.truth)}
			if tt.ignore != "" {
				args = append(args, "--ignore", tt.ignore)
			}
			rep, _ := runEval(t, append(args, filepath.Join(dir, tt.file))...)
			t.Logf("%s: precision %.4f recall %.4f F1 %.4f, b-cubed F1 %.4f, %d pairs compared, %.2f s",
				tt.name, rep.Precision, rep.Recall, rep.F1, rep.BCubedF1, rep.PairsCompared, rep.Seconds)
			if tt.minF1 > 0 && rep.F1 < tt.minF1 {
				t.Errorf("%s: F1 %.4f, want >= %.3f", tt.name, rep.F1, tt.minF1)
			}
			if rep.PairsCompared == 0 || rep.TruePairs == 0 {
				t.Errorf("report lacks counts: %+v", rep)
			}
		})
	}
}

// TestMatchEvalLink links two files: originals on one side, their duplicates on the other,
// made from febrl1.
func TestMatchEvalLink(t *testing.T) {
	dir := identityData(t)
	b, err := os.ReadFile(filepath.Join(dir, "febrl", "febrl1.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var orgs, dups []string
	truth := []string{"id_a,id_b"}
	for _, l := range lines[1:] {
		id, _, _ := strings.Cut(l, ",")
		if strings.HasSuffix(id, "-org") {
			orgs = append(orgs, l)
		} else {
			dups = append(dups, l)
			truth = append(truth, strings.TrimSuffix(id, "-dup-0")+"-org,"+id)
		}
	}
	tmp := t.TempDir()
	write := func(name string, rows []string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(strings.Join(rows, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The first file has an extra column the second lacks: it is left out, not an error.
	for i, l := range orgs {
		orgs[i] = l + ",extra"
	}
	a := write("a.csv", append([]string{lines[0] + ",note"}, orgs...))
	bb := write("b.csv", append([]string{lines[0]}, dups...))
	pairs := write("pairs.csv", truth)
	rep, out := runEval(t, "--id-column", "rec_id", "--truth-pairs", pairs, a, bb)
	t.Logf("link febrl1 orgs × dups: P %.4f R %.4f F1 %.4f, %d pairs", rep.Precision, rep.Recall, rep.F1, rep.PairsCompared)
	if rep.F1 < 0.99 {
		t.Errorf("link F1 %.4f, want >= 0.99\n%s", rep.F1, out)
	}
	if !strings.Contains(out, "not compared (not in "+bb+"): note") {
		t.Errorf("output does not say the one-sided column is left out:\n%s", out)
	}
	if strings.Contains(out, "b-cubed") || rep.BCubedF1 != 0 {
		t.Errorf("link output has b-cubed figures:\n%s", out)
	}
}

func TestMatchEvalErrors(t *testing.T) {
	tmp := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	data := write("d.csv", "id,name,dob\n1,ada,19151210\n2,ada,19151210\n3,bob,19700101\n")
	pairs := write("p.csv", "a,b\n1,2\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing id column", []string{"--id-column", "key", "--truth-pairs", pairs, data}, `d.csv: No id column "key"`},
		{"unknown ignore column", []string{"--id-column", "id", "--ignore", "nope", "--truth-pairs", pairs, data}, `No column "nope" to ignore`},
		{"unreadable file", []string{"--id-column", "id", "--truth-pairs", pairs, filepath.Join(tmp, "absent.csv")}, "absent.csv: Cannot read the file"},
		{"truth names unknown id", []string{"--id-column", "id", "--truth-pairs", write("bad.csv", "a,b\n1,2\n1,9\n"), data}, `bad.csv:3: Unknown id "9"`},
		{"ragged row", []string{"--id-column", "id", "--truth-pairs", pairs, write("r.csv", "id,name\n1,ada\n2,bob,extra\n")}, "r.csv:3: Bad CSV"},
		{"duplicate id", []string{"--id-column", "id", "--truth-pairs", pairs, write("dup.csv", "id,name\n1,ada\n1,bob\n")}, `dup.csv:3: Duplicate id "1"`},
		{"nothing to compare", []string{"--id-column", "id", "--ignore", "name,dob", "--truth-pairs", pairs, data}, "No column left to compare"},
		{"bad mapping kind", []string{"--id-column", "id", "--mapping", write("m.yaml", "name: colour\n"), "--truth-pairs", pairs, data}, `m.yaml: name: Unknown field kind "colour"`},
		{"three files", []string{"--id-column", "id", "--truth-pairs", pairs, data, data, data}, "Give one file to dedupe or two to link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Main{}).Run(t.Context(), append([]string{"match", "eval"}, tt.args...))
			if err == nil {
				t.Fatal("no error")
			}
			if got := cliMessage(err); !strings.Contains(got, tt.want) {
				t.Errorf("message %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestMatchEvalMapping(t *testing.T) {
	tmp := t.TempDir()
	data := filepath.Join(tmp, "d.csv")
	os.WriteFile(data, []byte("id,first,last,born,code\n1,ada,lovelace,19151210,x1\n2,ada,lovelace,19151210,x2\n3,bob,smith,19700101,x3\n4,carl,jones,19800101,x4\n"), 0o600)
	pairs := filepath.Join(tmp, "p.csv")
	os.WriteFile(pairs, []byte("1,2\n"), 0o600) // no header row
	mapping := filepath.Join(tmp, "m.json")
	os.WriteFile(mapping, []byte(`{"born": "date", "code": "ignore"}`), 0o600)
	rep, out := runEval(t, "--id-column", "id", "--mapping", mapping, "--truth-pairs", pairs, data)
	if !strings.Contains(out, "born=date") || strings.Contains(out, "code=") {
		t.Errorf("mapping not applied:\n%s", out)
	}
	if rep.Records != 4 || rep.TruePairs != 1 {
		t.Errorf("report %+v", rep)
	}
}

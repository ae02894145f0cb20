package traits_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/traits"
)

var base = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func obs(v string, minute int, src mosaic.SourceID, id string) traits.Observation {
	return traits.Observation{Value: json.RawMessage(v), SourceID: src, MessageID: id, EventTime: base.Add(time.Duration(minute) * time.Minute)}
}

func TestRules(t *testing.T) {
	cfg := &traits.Config{Rules: map[string]traits.Rule{
		"first_seen_plan": traits.Earliest, "signup_date": traits.Immutable, "ltv": traits.Max, "lowest_price": traits.Min,
		"last_order": traits.Max, "first_order": traits.Min,
		"city": traits.MostFrequent, "tags": traits.Union, "name": traits.SourcePriority,
	}, SourcePriority: []mosaic.SourceID{"crm", "web"}}
	for _, tc := range []struct {
		trait string
		obs   []traits.Observation
		want  string // "" means absent
	}{
		{"plan", []traits.Observation{obs(`"pro"`, 10, "web", "b"), obs(`"free"`, 5, "web", "a")}, `"pro"`}, // late old event loses
		{"plan", []traits.Observation{obs(`"pro"`, 10, "web", "b"), obs(`null`, 20, "web", "c")}, ""},       // explicit deletion
		{"plan", []traits.Observation{obs(`null`, 20, "web", "c"), obs(`"pro"`, 10, "web", "b")}, ""},       // an older value does not resurrect it
		{"first_seen_plan", []traits.Observation{obs(`"pro"`, 10, "web", "b"), obs(`"free"`, 5, "web", "a")}, `"free"`},
		{"first_seen_plan", []traits.Observation{obs(`"pro"`, 10, "web", "b"), obs(`null`, 20, "web", "c")}, `"pro"`}, // a null is no earliest value
		{"first_seen_plan", []traits.Observation{obs(`null`, 1, "web", "c"), obs(`"pro"`, 10, "web", "b")}, `"pro"`},  // nor hides a later one
		{"signup_date", []traits.Observation{obs(`"2026-01-02"`, 10, "web", "b"), obs(`"2026-01-01"`, 5, "web", "a"), obs(`null`, 30, "web", "z")}, `"2026-01-01"`},
		{"ltv", []traits.Observation{obs(`12.5`, 1, "web", "a"), obs(`100`, 2, "web", "b"), obs(`99`, 3, "web", "c")}, `100`},
		{"lowest_price", []traits.Observation{obs(`12.5`, 1, "web", "a"), obs(`100`, 2, "web", "b")}, `12.5`},
		// max and min: a plain decimal string is its number; anything else never beats a number.
		{"ltv", []traits.Observation{obs(`100`, 1, "web", "a"), obs(`"99"`, 2, "web", "b")}, `100`},
		{"ltv", []traits.Observation{obs(`"99"`, 2, "web", "b"), obs(`100`, 1, "web", "a")}, `100`},
		{"ltv", []traits.Observation{obs(`100`, 1, "web", "a"), obs(`"150.5"`, 2, "web", "b")}, `"150.5"`},
		{"ltv", []traits.Observation{obs(`100`, 1, "web", "a"), obs(`"abc"`, 2, "web", "b")}, `100`},
		{"ltv", []traits.Observation{obs(`"abc"`, 2, "web", "b"), obs(`100`, 1, "web", "a")}, `100`},
		{"ltv", []traits.Observation{obs(`-5`, 1, "web", "a"), obs(`{"v":9}`, 2, "web", "b"), obs(`true`, 3, "web", "c"), obs(`"2026-01-01"`, 4, "web", "d")}, `-5`},
		{"ltv", []traits.Observation{obs(`100`, 1, "web", "a"), obs(`"1e9"`, 2, "web", "b"), obs(`" 200"`, 3, "web", "c"), obs(`"1,000"`, 4, "web", "d")}, `100`}, // not plain decimal
		{"ltv", []traits.Observation{obs(`100`, 1, "web", "a"), obs(`"100"`, 2, "web", "b")}, `"100"`},                                                            // equal: the latest
		{"ltv", []traits.Observation{obs(`"zzz"`, 1, "web", "a"), obs(`"abc"`, 2, "web", "b"), obs(`false`, 0, "web", "c")}, `"abc"`},                             // no numbers: the latest
		{"lowest_price", []traits.Observation{obs(`3`, 1, "web", "a"), obs(`"1"`, 2, "web", "b")}, `"1"`},
		{"lowest_price", []traits.Observation{obs(`"1"`, 2, "web", "b"), obs(`3`, 1, "web", "a")}, `"1"`},
		{"lowest_price", []traits.Observation{obs(`3`, 1, "web", "a"), obs(`"abc"`, 2, "web", "b"), obs(`""`, 3, "web", "c"), obs(`"-"`, 4, "web", "d")}, `3`},
		{"lowest_price", []traits.Observation{obs(`"-2.5"`, 1, "web", "a"), obs(`-2`, 2, "web", "b")}, `"-2.5"`},
		// Dates and timestamps compare as times: a number still wins, other strings lose.
		{"last_order", []traits.Observation{obs(`"2024-03-01"`, 1, "web", "a"), obs(`"2024-02-15"`, 2, "web", "b"), obs(`"2023-12-31"`, 3, "web", "c")}, `"2024-03-01"`},
		{"first_order", []traits.Observation{obs(`"2024-03-01"`, 1, "web", "a"), obs(`"2024-02-15"`, 2, "web", "b"), obs(`"2024-12-31"`, 3, "web", "c")}, `"2024-02-15"`},
		{"last_order", []traits.Observation{obs(`"2024-02-29T22:00:00Z"`, 1, "web", "a"), obs(`"2024-03-01T01:00:00+05:00"`, 2, "web", "b")}, `"2024-02-29T22:00:00Z"`}, // 20:00Z
		{"last_order", []traits.Observation{obs(`"2024-03-01"`, 1, "web", "a"), obs(`"2024-03-01T00:00:00.5Z"`, 2, "web", "b"), obs(`"2024-13-01"`, 3, "web", "c"), obs(`"soon"`, 4, "web", "d")}, `"2024-03-01T00:00:00.5Z"`},
		{"city", []traits.Observation{obs(`"Oslo"`, 1, "web", "a"), obs(`"Bergen"`, 2, "web", "b"), obs(`"Oslo"`, 3, "web", "c")}, `"Oslo"`},
		{"tags", []traits.Observation{obs(`["vip","b2b"]`, 1, "web", "a"), obs(`"vip"`, 2, "web", "b"), obs(`["new"]`, 3, "web", "c")}, `["b2b","new","vip"]`},
		{"name", []traits.Observation{obs(`"Ada L."`, 9, "web", "b"), obs(`"Ada Lovelace"`, 1, "crm", "a")}, `"Ada Lovelace"`},
	} {
		st := traits.States{}
		for _, o := range tc.obs {
			cfg.Observe(st, tc.trait, o)
		}
		vals, srcs := st.Traits()
		got := string(vals[tc.trait])
		if got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.trait, got, tc.want)
		}
		if tc.want != "" && srcs[tc.trait].Rule == "" {
			t.Errorf("%s: provenance lacks the rule", tc.trait)
		}
	}
}

// TestOrderAndMergeIndependence: observing the same values in any order, or in two profiles
// that then merge, yields the same traits.
func TestOrderAndMergeIndependence(t *testing.T) {
	names := []string{"plan", "first", "ltv", "low", "city", "tags", "name", "born"}
	cfg := &traits.Config{Rules: map[string]traits.Rule{"first": traits.Earliest, "ltv": traits.Max, "low": traits.Min,
		"city": traits.MostFrequent, "tags": traits.Union, "name": traits.SourcePriority, "born": traits.Immutable},
		SourcePriority: []mosaic.SourceID{"crm"},
		Fallbacks:      map[string]int{"plan": 2, "first": 3, "ltv": 2, "low": 1, "name": 2, "born": 2, "city": 2}}
	values := []string{`"a"`, `"b"`, `"c"`, `1`, `2.5`, `["x","y"]`, `null`, `true`, // max and min over mixed kinds:
		`"99"`, `"2.5"`, `-1`, `{"k":1}`, `"2024-03-01"`, `"2024-02-29T22:00:00Z"`, `"2024-03-01T01:00:00+05:00"`}
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		type o struct {
			name string
			obs  traits.Observation
		}
		var all []o
		for i := 0; i < 40; i++ {
			src := mosaic.SourceID([]string{"crm", "web", "app"}[rng.IntN(3)])
			all = append(all, o{names[rng.IntN(len(names))], obs(values[rng.IntN(len(values))], rng.IntN(10), src, fmt.Sprintf("m%02d", i))})
		}
		one := traits.States{}
		for _, x := range all {
			cfg.Observe(one, x.name, x.obs)
		}
		want, wantSrc := one.Traits()
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		a, b := traits.States{}, traits.States{}
		for i, x := range all {
			if i%2 == 0 {
				cfg.Observe(a, x.name, x.obs)
			} else {
				cfg.Observe(b, x.name, x.obs)
			}
		}
		merged := cfg.Combine(b, a)
		got, gotSrc := merged.Traits()
		// The runners-up too: the same values with the same provenance.
		for _, name := range names {
			type cand struct {
				V string
				S mosaic.TraitSource
			}
			list := func(st traits.States) (out []cand) {
				for _, c := range cfg.Candidates(name, st[name]) {
					out = append(out, cand{string(c.Value), c.Source})
				}
				return out
			}
			if diff := cmp.Diff(list(one), list(merged)); diff != "" {
				t.Fatalf("seed %d: candidates of %s differ (-one profile +merged):\n%s", seed, name, diff)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("seed %d: traits differ (-one profile +merged):\n%s", seed, diff)
		}
		if diff := cmp.Diff(wantSrc, gotSrc); diff != "" {
			t.Fatalf("seed %d: provenance differs (-one profile +merged):\n%s", seed, diff)
		}
		// most_frequent cites an observation of the value it keeps.
		if v, ok := want["city"]; ok {
			var cited bool
			for _, x := range all {
				cited = cited || x.name == "city" && x.obs.MessageID == wantSrc["city"].MessageID && string(x.obs.Value) == string(v)
			}
			if !cited {
				t.Fatalf("seed %d: most_frequent kept %s but cites %+v", seed, v, wantSrc["city"])
			}
		}
	}
}

// TestMostFrequentProvenance: the provenance of a most_frequent value is the latest
// observation of that value (not the latest observation of any value), whatever the order
// and however the observations were split between two profiles that merge.
func TestMostFrequentProvenance(t *testing.T) {
	cfg := &traits.Config{Rules: map[string]traits.Rule{"color": traits.MostFrequent}}
	at := func(month int) time.Time { return time.Date(2024, time.Month(month), 1, 0, 0, 0, 0, time.UTC) }
	o := func(v string, month int, src mosaic.SourceID, id string) traits.Observation {
		return traits.Observation{Value: json.RawMessage(v), SourceID: src, MessageID: id, EventTime: at(month), ReceivedAt: at(month).Add(time.Hour)}
	}
	for _, tc := range []struct {
		name   string
		obs    []traits.Observation
		want   string
		wantID string
	}{
		{"user trial", []traits.Observation{o(`"green"`, 1, "web", "m1"), o(`"green"`, 2, "app", "m2"), o(`"pink"`, 3, "crm", "m3")}, `"green"`, "m2"},
		// Whichever profile holds which observations, green (latest at m5) ties pink and wins.
		{"winner of neither side", []traits.Observation{o(`"green"`, 5, "web", "m5"), o(`"pink"`, 1, "web", "m1"), o(`"pink"`, 2, "web", "m2"), o(`"green"`, 3, "app", "m3")}, `"green"`, "m5"},
		{"old event of the winner arrives last", []traits.Observation{o(`"pink"`, 4, "web", "m4"), o(`"green"`, 6, "web", "m6"), o(`"green"`, 3, "web", "m3"), o(`"green"`, 2, "web", "m2")}, `"green"`, "m6"},
	} {
		// Every order of the observations, and every split of each order into two profiles.
		for perm := range permutations(len(tc.obs)) {
			for mask := 0; mask < 1<<len(tc.obs); mask++ {
				a, b := traits.States{}, traits.States{}
				for i, j := range perm {
					if mask&(1<<i) != 0 {
						cfg.Observe(a, "color", tc.obs[j])
					} else {
						cfg.Observe(b, "color", tc.obs[j])
					}
				}
				for _, st := range []traits.States{cfg.Combine(a, b), cfg.Combine(b, a)} {
					vals, srcs := st.Traits()
					src := srcs["color"]
					if got := string(vals["color"]); got != tc.want || src.MessageID != tc.wantID {
						t.Fatalf("%s, order %v, split %b: %s from %s, want %s from %s", tc.name, perm, mask, got, src.MessageID, tc.want, tc.wantID)
					}
					var want traits.Observation
					for _, x := range tc.obs {
						if x.MessageID == tc.wantID {
							want = x
						}
					}
					if src.SourceID != want.SourceID || !src.EventTime.Equal(want.EventTime) || !src.ReceivedAt.Equal(want.ReceivedAt) || src.Rule != "most_frequent" {
						t.Fatalf("%s: provenance %+v, want that of %+v", tc.name, src, want)
					}
				}
			}
		}
	}
}

// TestMostFrequentOldState: a state stored before most_frequent kept each value's latest
// observation still combines, and takes the provenance from new observations of the winner.
func TestMostFrequentOldState(t *testing.T) {
	cfg := &traits.Config{Rules: map[string]traits.Rule{"color": traits.MostFrequent}}
	old := traits.States{}
	if err := json.Unmarshal([]byte(`{"color":{"v":"\"green\"","s":{"source_id":"web","message_id":"m3","event_time":"2024-03-01T00:00:00Z","received_at":"2024-03-01T00:00:00Z","rule":"most_frequent"},"c":{"\"green\"":2,"\"pink\"":1}}}`), &old); err != nil {
		t.Fatal(err)
	}
	cfg.Observe(old, "color", obs(`"green"`, 0, "app", "m9"))
	vals, srcs := old.Traits()
	if got, want := string(vals["color"])+" "+srcs["color"].MessageID, `"green" m9`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// permutations yields every order of 0..n-1.
func permutations(n int) func(func([]int) bool) {
	return func(yield func([]int) bool) {
		p := make([]int, n)
		for i := range p {
			p[i] = i
		}
		var gen func(k int) bool
		gen = func(k int) bool {
			if k == n {
				return yield(slices.Clone(p))
			}
			for i := k; i < n; i++ {
				p[k], p[i] = p[i], p[k]
				if !gen(k + 1) {
					return false
				}
				p[k], p[i] = p[i], p[k]
			}
			return true
		}
		gen(0)
	}
}

// TestAppendJSONDecodesAsMarshal: the fast encoding of states decodes to what json.Marshal's
// does, for states built by every rule.
func TestAppendJSONDecodesAsMarshal(t *testing.T) {
	c := &traits.Config{Rules: map[string]traits.Rule{"f": traits.MostFrequent, "u": traits.Union, "m": traits.Max, "e": traits.Earliest},
		Fallbacks: map[string]int{"m": 2, "plan": 3}}
	vals := []string{`"a<b>&c"`, `12`, `null`, `["x","y"]`, `{"k":[1,2]}`, `"Zoë\u2028"`, `true`}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 300 {
		st := traits.States{}
		for j := range rng.IntN(12) {
			name := []string{"f", "u", "m", "e", "plan", "a\"b", "\x01"}[rng.IntN(7)]
			c.Observe(st, name, traits.Observation{Value: json.RawMessage(vals[rng.IntN(len(vals))]), SourceID: "src",
				MessageID: fmt.Sprint("m", j), EventTime: time.Unix(int64(rng.IntN(1e9)), int64(rng.IntN(1e9))), ReceivedAt: time.Unix(int64(rng.IntN(1e9)), 0)})
		}
		want, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		got := st.AppendJSON(nil)
		var a, b any // raw values compare by meaning: encoding/json re-escapes <, > and & in them
		if err := json.Unmarshal(want, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got, &b); err != nil {
			t.Fatalf("states %d: %v\n%s", i, err, got)
		}
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("states %d decode differently (-Marshal +AppendJSON):\n%s", i, diff)
		}
	}
}

// TestSameEventTimeLaterReceiptWins: two observations at the same event time (a profile
// row imported again with a corrected mapping, its observation time from the same column)
// are ordered by when they were received, not by their messageIds: the re-statement wins
// under latest and the first statement stays under earliest and immutable.
func TestSameEventTimeLaterReceiptWins(t *testing.T) {
	cfg := &traits.Config{Rules: map[string]traits.Rule{"first": traits.Earliest, "fixed": traits.Immutable}}
	at := base.Add(time.Hour)
	for _, ids := range [][2]string{{"imp-a", "imp-b"}, {"imp-b", "imp-a"}} { // whichever messageId sorts first
		first := traits.Observation{Value: json.RawMessage(`"1.234"`), SourceID: "crm", MessageID: ids[0], EventTime: at, ReceivedAt: base.Add(2 * time.Hour)}
		again := first
		again.Value, again.MessageID, again.ReceivedAt = json.RawMessage(`"1234"`), ids[1], base.Add(3*time.Hour)
		for _, order := range [][]traits.Observation{{first, again}, {again, first}} {
			st := traits.States{}
			for _, o := range order {
				for _, name := range []string{"ltv", "first", "fixed"} {
					cfg.Observe(st, name, o)
				}
			}
			vals, _ := st.Traits()
			if got := string(vals["ltv"]); got != `"1234"` {
				t.Errorf("messageIds %v: latest kept %s, want the value received later", ids, got)
			}
			if got := string(vals["first"]) + string(vals["fixed"]); got != `"1.234""1.234"` {
				t.Errorf("messageIds %v: earliest and immutable kept %s, want the value received first", ids, got)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       traits.Config
		wantField string // "" means valid
	}{
		{"empty", traits.Config{}, ""},
		{"rules", traits.Config{Default: traits.Earliest, Rules: map[string]traits.Rule{"ltv": traits.Max}}, ""},
		{"source priority with order", traits.Config{Rules: map[string]traits.Rule{"tier": traits.SourcePriority}, SourcePriority: []mosaic.SourceID{"src_a", "src_b"}}, ""},
		{"unknown rule", traits.Config{Rules: map[string]traits.Rule{"ltv": "biggest"}}, "rules.ltv"},
		{"unknown default", traits.Config{Default: "newest"}, "default"},
		{"source priority without order", traits.Config{Rules: map[string]traits.Rule{"ltv": traits.Max, "tier": traits.SourcePriority}}, "rules.tier"},
		{"default source priority without order", traits.Config{Default: traits.SourcePriority}, "default"},
		{"empty source", traits.Config{SourcePriority: []mosaic.SourceID{"src_a", ""}}, "source_priority[1]"},
		{"source twice", traits.Config{SourcePriority: []mosaic.SourceID{"src_a", "src_b", "src_a"}}, "source_priority[2]"},
		{"nested trait", traits.Config{Rules: map[string]traits.Rule{"address.city": traits.Earliest}}, "rules.address.city"}, // it would be ignored
	} {
		err := tc.cfg.Validate()
		if got := mosaic.ErrorField(err); got != tc.wantField || (err == nil) != (tc.wantField == "") {
			t.Errorf("%s: Validate()=%v (field %q), want field %q", tc.name, err, got, tc.wantField)
		}
		if err != nil && mosaic.ErrorCode(err) != mosaic.EINVALID {
			t.Errorf("%s: code %s, want invalid", tc.name, mosaic.ErrorCode(err))
		}
	}
}

// TestMostFrequentTieGoesToTheLatest: of values seen as often, the one observed last wins
// (not the first in byte order), in any order of observation.
func TestMostFrequentTieGoesToTheLatest(t *testing.T) {
	cfg := &traits.Config{Rules: map[string]traits.Rule{"plan": traits.MostFrequent}}
	for _, o := range [][]traits.Observation{
		{obs(`"zeta"`, 1, "web", "a"), obs(`"alpha"`, 2, "crm", "b")},
		{obs(`"alpha"`, 2, "crm", "b"), obs(`"zeta"`, 1, "web", "a")},
	} {
		st := traits.States{}
		for _, x := range o {
			cfg.Observe(st, "plan", x)
		}
		if got := string(st["plan"].Value); got != `"alpha"` {
			t.Errorf("tie, alpha last: %s", got)
		}
	}
	st := traits.States{}
	for _, x := range []traits.Observation{obs(`"alpha"`, 1, "web", "a"), obs(`"b"`, 3, "web", "c"), obs(`"zeta"`, 2, "crm", "b")} {
		cfg.Observe(st, "plan", x)
	}
	if got := string(st["plan"].Value); got != `"b"` {
		t.Errorf("three-way tie, b last: %s", got)
	}
}

// TestChangedRuleJudgesTheKeptValue: a state kept under another rule is one observation of its
// value for the new rule (union keeps it among the items, most_frequent counts it once), and
// the surviving value cites the rule in force.
func TestChangedRuleJudgesTheKeptValue(t *testing.T) {
	before := &traits.Config{}
	st := traits.States{}
	before.Observe(st, "tags", obs(`["p"]`, 1, "web", "a"))
	before.Observe(st, "tags", obs(`["q"]`, 2, "web", "b"))
	before.Observe(st, "plan", obs(`"gold"`, 1, "web", "a"))
	before.Observe(st, "score", obs(`9`, 1, "web", "a"))

	after := &traits.Config{Rules: map[string]traits.Rule{"tags": traits.Union, "plan": traits.MostFrequent, "score": traits.Max}}
	after.Observe(st, "tags", obs(`["r"]`, 3, "web", "c"))
	after.Observe(st, "plan", obs(`"silver"`, 3, "web", "c"))
	after.Observe(st, "plan", obs(`"gold"`, 4, "web", "d"))
	after.Observe(st, "score", obs(`7`, 3, "web", "c"))
	vals, srcs := st.Traits()
	for name, want := range map[string]string{"tags": `["q","r"]`, "plan": `"gold"`, "score": `9`} {
		if got := string(vals[name]); got != want {
			t.Errorf("%s after the rule changed: %s, want %s", name, got, want)
		}
		if got := srcs[name].Rule; got != string(after.Rule(name)) {
			t.Errorf("%s cites rule %q, want %q", name, got, after.Rule(name))
		}
	}
	if st["plan"].Counts[`"gold"`] != 2 {
		t.Errorf("gold counted %d times, want 2 (the kept value and the new observation)", st["plan"].Counts[`"gold"`])
	}
}

// TestRunnersUp: a trait with fallbacks keeps the next distinct values in the order of its
// rule, each by its best observation, whatever the order of observations and however they
// were split between two profiles that merge; checked against sorting every observation.
func TestRunnersUp(t *testing.T) {
	for _, rule := range []traits.Rule{traits.Latest, traits.Earliest, traits.SourcePriority, traits.Max} {
		cfg := &traits.Config{Default: rule, SourcePriority: []mosaic.SourceID{"crm", "web"}, Fallbacks: map[string]int{"email": 3}}
		for seed := uint64(0); seed < 200; seed++ {
			rng := rand.New(rand.NewPCG(seed, 2))
			var all []traits.Observation
			for i := range 1 + rng.IntN(25) {
				src := mosaic.SourceID([]string{"crm", "web", "app"}[rng.IntN(3)])
				all = append(all, obs(fmt.Sprintf(`"v%d"`, rng.IntN(8)), rng.IntN(20), src, fmt.Sprintf("m%02d", i)))
			}
			// Brute force: each value's best observation, then the values best first.
			best := map[string]traits.Observation{}
			for _, o := range all {
				st := traits.States{}
				if b, ok := best[string(o.Value)]; ok {
					cfg.Observe(st, "email", b)
				}
				cfg.Observe(st, "email", o)
				if st["email"].Source.MessageID == o.MessageID {
					best[string(o.Value)] = o
				}
			}
			var order []traits.Observation
			for _, o := range best {
				order = append(order, o)
			}
			slices.SortFunc(order, func(x, y traits.Observation) int {
				st := traits.States{}
				cfg.Observe(st, "email", x)
				cfg.Observe(st, "email", y)
				if st["email"].Source.MessageID == x.MessageID {
					return -1
				}
				return 1
			})
			var want []string
			for _, o := range order[:min(4, len(order))] {
				want = append(want, string(o.Value)+"@"+o.MessageID)
			}
			rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			a, b := traits.States{}, traits.States{}
			for i, o := range all {
				if i%3 == 0 {
					cfg.Observe(a, "email", o)
				} else {
					cfg.Observe(b, "email", o)
				}
			}
			var got []string
			for _, c := range cfg.Candidates("email", cfg.Combine(a, b)["email"]) {
				got = append(got, string(c.Value)+"@"+c.Source.MessageID)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s, seed %d: candidates %v, want %v", rule, seed, got, want)
			}
		}
	}
}

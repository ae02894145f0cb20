// Package traits decides which value of each profile trait survives, by a rule per trait:
// latest or earliest by event time (never by arrival, which only breaks ties of event
// time), source priority, most frequent, immutable, max, min, or the union of all values.
// It is pure logic with no I/O.
//
// Every rule is a commutative, associative combination of observations, so the traits of a
// profile do not depend on the order its events arrive in, and two profiles that merge combine
// their states into exactly what one profile seeing all their events would hold.
package traits

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic"
)

// Rule is a survivorship rule.
type Rule string

// The rules.
const (
	Latest         Rule = "latest"          // the value with the latest event time (default)
	Earliest       Rule = "earliest"        // the value with the earliest event time
	SourcePriority Rule = "source_priority" // the value from the highest-priority source, then latest
	MostFrequent   Rule = "most_frequent"   // the value observed most often
	Immutable      Rule = "immutable"       // the same as earliest: the first value by event time (by arrival it would depend on order)
	Max            Rule = "max"             // the largest value: numbers (also "12.5"), then times, then the latest other value
	Min            Rule = "min"             // the smallest value: numbers (also "12.5"), then times, then the latest other value
	Union          Rule = "union"           // every value ever observed (lists are flattened)
)

// Valid reports whether r is a known rule.
func (r Rule) Valid() bool {
	switch r {
	case Latest, Earliest, SourcePriority, MostFrequent, Immutable, Max, Min, Union:
		return true
	}
	return false
}

// Config holds the rule of each trait.
type Config struct {
	Rules   map[string]Rule `json:"rules"`   // trait name → rule
	Default Rule            `json:"default"` // "" means Latest
	// SourcePriority is the order of sources for the SourcePriority rule, highest first; a
	// source not in it ranks below every listed one. The rule needs it (Validate).
	SourcePriority []mosaic.SourceID `json:"source_priority"`
	// Fallbacks says, by trait name, how many runner-up values to keep beside the winning
	// one (of distinct values, each by its best observation under the rule), so that a
	// reader who may not show the winner (the processor hides an email that is another
	// customer's) can show the next value instead of none. Only the rules that order
	// observations keep them (latest, earliest, immutable, source_priority, max, min);
	// most_frequent has every value's count already. Kept values are exact whatever the
	// order of observations: the best n+1 values of a union are among the best n+1 of each
	// part.
	Fallbacks map[string]int `json:"-"`
}

// Validate checks the rules, and that the source_priority rule has a source order.
func (c *Config) Validate() error {
	if c.Default != "" && !c.Default.Valid() {
		return mosaic.FieldErrorf(mosaic.EINVALID, "default", "Unknown survivorship rule %q.", c.Default)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Rules)) {
		if r := c.Rules[name]; !r.Valid() {
			return mosaic.FieldErrorf(mosaic.EINVALID, "rules."+name, "Unknown survivorship rule %q.", r)
		}
		if top, _, nested := strings.Cut(name, "."); nested {
			return mosaic.FieldErrorf(mosaic.EINVALID, "rules."+name,
				"Rules apply to top-level traits: %q is one trait, and its rule keeps or replaces the whole object (as Segment does), so send the whole object; give %q the rule.", top, top)
		}
	}
	for i, src := range c.SourcePriority {
		if src == "" {
			return mosaic.FieldErrorf(mosaic.EINVALID, fmt.Sprintf("source_priority[%d]", i), "Source required.")
		}
		if j := slices.Index(c.SourcePriority, src); j < i {
			return mosaic.FieldErrorf(mosaic.EINVALID, fmt.Sprintf("source_priority[%d]", i), "Source %q is listed twice.", src)
		}
	}
	if len(c.SourcePriority) == 0 {
		if c.Default == SourcePriority {
			return mosaic.FieldErrorf(mosaic.EINVALID, "default", "Rule source_priority needs the order of sources: list them, highest first, in source_priority.")
		}
		for _, name := range slices.Sorted(maps.Keys(c.Rules)) {
			if c.Rules[name] == SourcePriority {
				return mosaic.FieldErrorf(mosaic.EINVALID, "rules."+name, "Rule source_priority needs the order of sources: list them, highest first, in source_priority.")
			}
		}
	}
	return nil
}

// Rule returns the rule for a trait.
func (c *Config) Rule(name string) Rule {
	if r, ok := c.Rules[name]; ok {
		return r
	}
	return cmp.Or(c.Default, Latest)
}

// Observation is one value of a trait seen in an event. A JSON null deletes the trait under
// latest and source_priority (explicit deletion: the null is the newest value); the other
// rules ignore nulls (under earliest, a null would otherwise hide every later value).
type Observation struct {
	Value      json.RawMessage
	SourceID   mosaic.SourceID
	MessageID  string
	EventTime  time.Time
	ReceivedAt time.Time
}

// State is what survivorship keeps of one trait.
type State struct {
	Value  json.RawMessage    `json:"v"` // compact JSON; null when deleted
	Source mosaic.TraitSource `json:"s"`
	Counts map[string]int     `json:"c,omitempty"` // most_frequent: value → times seen
	// Seen is, for most_frequent, each value's latest observation: the provenance of the
	// value that wins. States written before it existed lack it (see combine).
	Seen  map[string]mosaic.TraitSource `json:"l,omitempty"`
	Items []json.RawMessage             `json:"u,omitempty"` // union: sorted distinct values
	// Alt are the runner-up values (Config.Fallbacks), best first: distinct, none equal to
	// Value, each its best observation; they carry no Alt of their own.
	Alt []*State `json:"a,omitempty"`
}

// States are the trait states of one profile (or group), by trait name.
type States map[string]*State

// Observe folds an observation of trait name into st.
func (c *Config) Observe(st States, name string, o Observation) {
	v := compact(o.Value)
	rule := c.Rule(name)
	isNull := string(v) == "null"
	if isNull && (rule == MostFrequent || rule == Earliest || rule == Immutable || rule == Max || rule == Min || rule == Union) {
		return
	}
	obs := &State{Value: v, Source: mosaic.TraitSource{SourceID: o.SourceID, MessageID: o.MessageID,
		EventTime: o.EventTime.UTC(), ReceivedAt: o.ReceivedAt.UTC(), Rule: string(rule)}}
	switch rule {
	case MostFrequent:
		obs.Counts = map[string]int{string(v): 1}
		obs.Seen = map[string]mosaic.TraitSource{string(v): obs.Source}
	case Union:
		obs.Items = flatten(v)
		obs.Value = unionValue(obs.Items)
	}
	st[name] = c.combine(name, st[name], obs)
}

// Combine merges the states of two profiles into the states of their union.
func (c *Config) Combine(a, b States) States {
	out := make(States, len(a)+len(b))
	for name, s := range a {
		out[name] = s
	}
	for name, s := range b {
		out[name] = c.combine(name, out[name], s)
	}
	return out
}

// newer reports whether a's evidence is later than b's: by event time, then by receipt
// (two statements of the same moment, such as a profile row imported again with a corrected
// mapping, are ordered by when they arrived, so the correction wins under latest), then by
// messageId and value, which only make the order total.
func newer(a, b *State) bool {
	if d := a.Source.EventTime.Compare(b.Source.EventTime); d != 0 {
		return d > 0
	}
	if d := a.Source.ReceivedAt.Compare(b.Source.ReceivedAt); d != 0 {
		return d > 0
	}
	if d := cmp.Compare(a.Source.MessageID, b.Source.MessageID); d != 0 {
		return d > 0
	}
	return bytes.Compare(a.Value, b.Value) > 0
}

// laterSource reports whether observation a of a value is later than observation b of the
// same value, in the order of newer.
func laterSource(a, b mosaic.TraitSource) bool {
	if d := a.EventTime.Compare(b.EventTime); d != 0 {
		return d > 0
	}
	if d := a.ReceivedAt.Compare(b.ReceivedAt); d != 0 {
		return d > 0
	}
	if d := cmp.Compare(a.MessageID, b.MessageID); d != 0 {
		return d > 0
	}
	return a.SourceID > b.SourceID
}

func (c *Config) rank(src mosaic.SourceID) int {
	if i := slices.Index(c.SourcePriority, src); i >= 0 {
		return i
	}
	return len(c.SourcePriority)
}

// combine merges two states of trait name under its rule. A state kept from before the trait's
// rule changed is taken for the value it holds: the new rule judges it with the new
// observations (a value kept under latest counts once for most_frequent, and is one of the
// union's items). The result cites the rule in force.
func (c *Config) combine(name string, a, b *State) *State {
	rule := c.Rule(name)
	var out *State
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil:
		out = adopt(b, rule)
	case b == nil:
		out = adopt(a, rule)
	default:
		a, b = adopt(a, rule), adopt(b, rule)
		out = c.combineRule(rule, a, b)
		if n := c.Fallbacks[name]; n > 0 && ordered(rule) {
			out = c.keepRunnersUp(rule, n, a, b)
		} else if out.Alt != nil {
			cp := *out
			cp.Alt = nil
			out = &cp
		}
	}
	if out.Source.Rule != string(rule) {
		cp := *out
		cp.Source.Rule = string(rule)
		out = &cp
	}
	return out
}

// ordered reports whether rule picks one observation by an order of observations (so its
// runner-up values are the next ones in that order).
func ordered(rule Rule) bool {
	switch rule {
	case Latest, Earliest, Immutable, SourcePriority, Max, Min:
		return true
	}
	return false
}

// keepRunnersUp combines a and b (with their runners-up) under an ordered rule: the best
// value wins and the next n distinct values are kept in Alt, each by its best observation.
func (c *Config) keepRunnersUp(rule Rule, n int, a, b *State) *State {
	if len(a.Alt) == 0 && len(b.Alt) == 0 && bytes.Equal(a.Value, b.Value) {
		return c.combineRule(rule, a, b) // the same value again (the common case): no runner-up
	}
	all := make([]*State, 0, 2+len(a.Alt)+len(b.Alt))
	for _, s := range [][]*State{{a, b}, a.Alt, b.Alt} {
		for _, x := range s {
			cp := *x
			cp.Alt, cp.Counts, cp.Seen, cp.Items = nil, nil, nil, nil
			all = append(all, &cp)
		}
	}
	// Best first; combineRule is a total order of observations for these rules.
	slices.SortFunc(all, func(x, y *State) int {
		switch {
		case x == y:
			return 0
		case c.combineRule(rule, x, y) == x:
			return -1
		}
		return 1
	})
	out := all[0]
	for _, x := range all[1:] {
		if len(out.Alt) == n {
			break
		}
		dup := bytes.Equal(x.Value, out.Value)
		for _, y := range out.Alt {
			dup = dup || bytes.Equal(x.Value, y.Value)
		}
		if !dup {
			out.Alt = append(out.Alt, x)
		}
	}
	return out
}

// Candidates returns the values st holds for trait name, best first: the winner, then its
// runners-up (Config.Fallbacks) or, under most_frequent, every other value counted, in
// the order of the rule. A reader that may not show a value shows the next.
func (c *Config) Candidates(name string, st *State) []*State {
	if st == nil {
		return nil
	}
	out := []*State{st}
	if c.Rule(name) == MostFrequent && len(st.Counts) > 1 {
		vals := slices.Collect(maps.Keys(st.Counts))
		slices.SortFunc(vals, func(x, y string) int {
			switch {
			case x == y:
				return 0
			case st.Counts[x] > st.Counts[y] || st.Counts[x] == st.Counts[y] && tieWins(x, y, st.Seen):
				return -1
			}
			return 1
		})
		for _, v := range vals {
			if v != string(st.Value) {
				out = append(out, &State{Value: json.RawMessage(v), Source: st.Seen[v]})
			}
		}
		return out
	}
	return append(out, st.Alt...)
}

// adopt returns s in the form rule keeps: a state made under another rule (no counts for
// most_frequent, no items for union) becomes one observation of the value it holds.
func adopt(s *State, rule Rule) *State {
	switch {
	case rule == MostFrequent && s.Counts == nil && string(s.Value) != "null":
		cp := *s
		cp.Counts = map[string]int{string(s.Value): 1}
		cp.Seen = map[string]mosaic.TraitSource{string(s.Value): s.Source}
		return &cp
	case rule == Union && s.Items == nil && string(s.Value) != "null":
		cp := *s
		cp.Items = flatten(s.Value)
		cp.Value = unionValue(cp.Items)
		return &cp
	}
	return s
}

func (c *Config) combineRule(rule Rule, a, b *State) *State {
	switch rule {
	case Earliest, Immutable:
		if newer(a, b) {
			return b
		}
		return a
	case SourcePriority:
		ra, rb := c.rank(a.Source.SourceID), c.rank(b.Source.SourceID)
		if ra != rb {
			if ra < rb {
				return a
			}
			return b
		}
		if newer(b, a) {
			return b
		}
		return a
	case Max, Min:
		// A number beats a time beats anything else; within a kind the largest (max) or
		// smallest (min) wins, and of equal or unordered values the latest observation.
		ka, kb := keyOf(a.Value), keyOf(b.Value)
		d := cmp.Compare(ka.kind, kb.kind)
		if d == 0 {
			d = compareKeys(ka, kb)
			if rule == Min {
				d = -d
			}
		}
		if d == 0 {
			if newer(b, a) {
				return b
			}
			return a
		}
		if d < 0 {
			return b
		}
		return a
	case MostFrequent:
		counts := maps.Clone(a.Counts)
		if counts == nil {
			counts = map[string]int{}
		}
		for v, n := range b.Counts {
			counts[v] += n
		}
		seen := maps.Clone(a.Seen)
		if seen == nil {
			seen = map[string]mosaic.TraitSource{}
		}
		for v, s := range b.Seen {
			if old, ok := seen[v]; !ok || laterSource(s, old) {
				seen[v] = s
			}
		}
		// The most frequent value wins; of equally frequent ones, the one observed last (as
		// latest orders observations), then the first in byte order (states from before
		// Seen).
		best, bestN := "", 0
		for v, n := range counts {
			if n > bestN || n == bestN && tieWins(v, best, seen) {
				best, bestN = v, n
			}
		}
		src, ok := seen[best]
		if !ok { // a state from before Seen: the latest observation of any value, as it was then
			src = a.Source
			if newer(b, a) {
				src = b.Source
			}
		}
		return &State{Value: json.RawMessage(best), Source: src, Counts: counts, Seen: seen}
	case Union:
		items := slices.Clone(a.Items)
		for _, it := range b.Items {
			if i, found := slices.BinarySearchFunc(items, it, func(x, y json.RawMessage) int { return bytes.Compare(x, y) }); !found {
				items = slices.Insert(items, i, it)
			}
		}
		src := a.Source
		if newer(b, a) {
			src = b.Source
		}
		return &State{Value: unionValue(items), Source: src, Items: items}
	default: // Latest
		if newer(b, a) {
			return b
		}
		return a
	}
}

// tieWins reports whether value v beats value best, seen as often: the later last observation
// wins, and without one for both, the first in byte order.
func tieWins(v, best string, seen map[string]mosaic.TraitSource) bool {
	sv, okv := seen[v]
	sb, okb := seen[best]
	if okv && okb {
		return laterSource(sv, sb)
	}
	return v < best
}

// Traits returns the current trait values and their provenance; deleted traits are left out.
func (st States) Traits() (map[string]json.RawMessage, map[string]mosaic.TraitSource) {
	vals := make(map[string]json.RawMessage, len(st))
	srcs := make(map[string]mosaic.TraitSource, len(st))
	for name, s := range st {
		if s == nil || string(s.Value) == "null" {
			continue
		}
		vals[name], srcs[name] = s.Value, s.Source
	}
	return vals, srcs
}

// ObserveObject observes every member of a JSON object (identify or group traits).
func (c *Config) ObserveObject(st States, obj json.RawMessage, o Observation) {
	if len(obj) == 0 {
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return
	}
	for name, v := range m {
		o.Value = v
		c.Observe(st, name, o)
	}
}

func compact(v json.RawMessage) json.RawMessage {
	if len(v) == 0 {
		return json.RawMessage("null")
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return json.RawMessage("null")
	}
	return b.Bytes()
}

func flatten(v json.RawMessage) []json.RawMessage {
	var arr []json.RawMessage
	if json.Unmarshal(v, &arr) != nil {
		return []json.RawMessage{v}
	}
	seen := map[string]bool{}
	var out []json.RawMessage
	for _, it := range arr {
		it = compact(it)
		if string(it) != "null" && !seen[string(it)] {
			seen[string(it)] = true
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(x, y json.RawMessage) int { return bytes.Compare(x, y) })
	return out
}

func unionValue(items []json.RawMessage) json.RawMessage {
	b, _ := json.Marshal(items)
	if items == nil {
		return json.RawMessage("[]")
	}
	return b
}

// The kinds of value max and min compare, in the order they win in: a number beats a time,
// which beats any other value, under max and min alike. Values of the same kind compare by
// magnitude (numbers) or chronologically (times); other values (non-numeric strings, objects,
// lists, booleans) have no order, so the latest observation of them wins.
const (
	kindOther = iota
	kindTime
	kindNumber
)

// orderKey is what max and min compare of a value: its kind, and its number or time.
type orderKey struct {
	kind int
	num  float64
	at   time.Time
}

// keyOf classifies a compact JSON value for max and min. A JSON number is a number; so is a
// string holding a number in plain decimal form ("99", "-3", "12.5": an optional minus,
// digits, an optional fraction; no exponent, sign, spaces or separators), as CSV imports and
// form fields send them. A string holding an RFC 3339 timestamp ("2024-03-01T10:00:00Z", any
// offset, optional fraction) or a date ("2024-03-01", midnight UTC) is a time.
func keyOf(v json.RawMessage) orderKey {
	if len(v) == 0 {
		return orderKey{}
	}
	switch c := v[0]; {
	case c == '-' || c >= '0' && c <= '9':
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			return orderKey{kind: kindNumber, num: f}
		}
	case c == '"':
		var s string
		if bytes.IndexByte(v, '\\') < 0 {
			s = string(v[1 : len(v)-1])
		} else if json.Unmarshal(v, &s) != nil {
			return orderKey{}
		}
		if plainDecimal(s) {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return orderKey{kind: kindNumber, num: f}
			}
		}
		if t, ok := parseTime(s); ok {
			return orderKey{kind: kindTime, at: t}
		}
	}
	return orderKey{}
}

// plainDecimal reports whether s is -?[0-9]+(\.[0-9]+)?.
func plainDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(s, ".")
	return allDigits(whole) && (!dot || allDigits(frac))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseTime reads an RFC 3339 timestamp or a date (YYYY-MM-DD).
func parseTime(s string) (time.Time, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	if len(s) == 10 {
		t, err := time.Parse(time.DateOnly, s)
		return t, err == nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// compareKeys orders two values of the same kind by magnitude or time; 0 for other values,
// which have no order.
func compareKeys(a, b orderKey) int {
	switch a.kind {
	case kindNumber:
		return cmp.Compare(a.num, b.num)
	case kindTime:
		return a.at.Compare(b.at)
	}
	return 0
}

// AppendJSON appends the JSON encoding of st, decoding as json.Marshal(st) does (traits
// and counted values in name order), several times faster: the processor encodes the
// states of every profile it changes.
func (st States) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	names := make([]string, 0, len(st))
	for name := range st {
		names = append(names, name)
	}
	slices.Sort(names)
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = mosaic.AppendJSONString(b, name)
		b = append(b, ':')
		s := st[name]
		if s == nil {
			b = append(b, "null"...)
			continue
		}
		b = append(b, `{"v":`...)
		b = appendRaw(b, s.Value)
		b = append(b, `,"s":`...)
		b = s.Source.AppendJSON(b)
		if len(s.Counts) > 0 {
			b = appendObject(append(b, `,"c":`...), s.Counts, func(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) })
		}
		if len(s.Seen) > 0 {
			b = appendObject(append(b, `,"l":`...), s.Seen, func(b []byte, src mosaic.TraitSource) []byte { return src.AppendJSON(b) })
		}
		if len(s.Items) > 0 {
			b = append(b, `,"u":[`...)
			for j, v := range s.Items {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendRaw(b, v)
			}
			b = append(b, ']')
		}
		if len(s.Alt) > 0 {
			b = append(b, `,"a":[`...)
			for j, alt := range s.Alt {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"v":`...)
				b = appendRaw(b, alt.Value)
				b = append(b, `,"s":`...)
				b = alt.Source.AppendJSON(b)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendObject appends m as a JSON object, keys in order (as json.Marshal writes a map), each
// value by appendValue.
func appendObject[V any](b []byte, m map[string]V, appendValue func([]byte, V) []byte) []byte {
	b = append(b, '{')
	for j, k := range slices.Sorted(maps.Keys(m)) {
		if j > 0 {
			b = append(b, ',')
		}
		b = mosaic.AppendJSONString(b, k)
		b = append(b, ':')
		b = appendValue(b, m[k])
	}
	return append(b, '}')
}

func appendRaw(b []byte, v json.RawMessage) []byte {
	if len(v) == 0 {
		return append(b, "null"...)
	}
	return append(b, v...)
}

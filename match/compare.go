package match

import (
	"math"
	"strings"
)

// Level labels per kind. Level 0 is always "missing" (one side has no value: neutral, weight
// 0); the last level is always "different". A pair's level for a field is the first one,
// from the top, whose test it passes.
var kindLevels = map[Kind][]string{
	Name:     {"missing", "exact", "jaro-winkler >= 0.92", "jaro-winkler >= 0.88", "sounds alike", "jaro-winkler >= 0.7", "different"},
	Text:     {"missing", "exact", "equal without spaces", "jaro-winkler >= 0.92 or 80% of words shared", "half of words shared", "a quarter of words shared or jaro-winkler >= 0.8", "different"},
	Date:     {"missing", "exact", "one typo or day/month swapped", "within a month", "within a year", "within ten years", "different"},
	Postcode: {"missing", "exact", "one typo", "same first three", "different"},
	Email:    {"missing", "exact", "same local part", "one typo", "different"},
	Phone:    {"missing", "exact", "same last seven digits", "one typo", "different"},
	Numeric:  {"missing", "exact", "within 2% of range", "one typo", "within 20% of range", "different"},
	ID:       {"missing", "exact", "one typo", "two typos", "different"},
	Category: {"missing", "exact", "one typo", "different"},
	Ignore:   {"missing", "different"},
}

const levelExact = 1

// maxValueBytes is how much of a normalised value is compared.
const maxValueBytes = 256

// column holds one field's normalised values for a set of records, with what the
// comparisons and blocking keys need precomputed.
type column struct {
	kind   Kind
	val    []string  // normalised value, "" = missing
	alt    []string  // Name: Soundex; Text: squashed; Email: local part; Phone: last 7 digits
	num    []float64 // Date: day number; Numeric: value; NaN when not available
	toks   [][]string
	rare   []string  // Text: the record's rarest word in this column (set by rareWords)
	sig    []charSig // Name: of the value; Text: of the squashed value
	spread float64   // Numeric: the column's p5–p95 range, set by training
}

func newColumn(k Kind, n int) *column {
	c := &column{kind: k, val: make([]string, n)}
	switch k {
	case Name, Text, Email, Phone:
		c.alt = make([]string, n)
	case Date, Numeric:
		c.num = make([]float64, n)
	}
	if k == Text {
		c.toks = make([][]string, n)
	}
	if k == Name || k == Text {
		c.sig = make([]charSig, n)
	}
	return c
}

// set normalises and stores record i's raw value.
func (c *column) set(i int, raw string) {
	v := Normalize(c.kind, raw)
	if len(v) > maxValueBytes { // comparisons are quadratic in length: bound the work
		v = strings.ToValidUTF8(v[:maxValueBytes], "")
	}
	c.val[i] = v
	switch c.kind {
	case Name:
		c.alt[i] = Soundex(v)
		c.sig[i] = signature(v)
	case Text:
		c.alt[i] = squash(v)
		c.toks[i] = tokens(v)
		c.sig[i] = signature(c.alt[i])
	case Email:
		if at := strings.IndexByte(v, '@'); at > 0 {
			c.alt[i] = v[:at]
		}
	case Phone:
		if len(v) >= 7 {
			c.alt[i] = v[len(v)-7:]
		}
	case Date:
		c.num[i] = math.NaN()
		if d, ok := dateDays(v); ok {
			c.num[i] = float64(d)
		}
	case Numeric:
		c.num[i] = parseNumber(v)
	}
}

func parseNumber(v string) float64 {
	if v == "" {
		return math.NaN()
	}
	f := 0.0
	dot := false
	scale := 1.0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '-' && i == 0:
		case c == '.' && !dot:
			dot = true
		case c >= '0' && c <= '9':
			if dot {
				scale /= 10
				f += float64(c-'0') * scale
			} else {
				f = f*10 + float64(c-'0')
			}
		default:
			return math.NaN()
		}
	}
	if v[0] == '-' {
		f = -f
	}
	return f
}

// compare returns the comparison level of records i and j.
func (c *column) compare(i, j int) uint8 {
	a, b := c.val[i], c.val[j]
	if a == "" || b == "" {
		return 0
	}
	if a == b {
		return levelExact
	}
	switch c.kind {
	case Name:
		jw := 0.0
		if jwUpper(a, b, c.sig[i], c.sig[j]) >= 0.7 {
			jw = JaroWinkler(a, b)
		}
		switch {
		case jw >= 0.92:
			return 2
		case jw >= 0.88:
			return 3
		case c.alt[i] == c.alt[j] && c.alt[i] != "":
			return 4
		case jw >= 0.7:
			return 5
		}
		return 6
	case Text:
		sa, sb := c.alt[i], c.alt[j]
		if sa == sb {
			return 2
		}
		// Jaro-Winkler only means something for short values; long ones compare by words.
		short := len(sa) <= 24 && len(sb) <= 24
		jw := 0.0
		if short && jwUpper(sa, sb, c.sig[i], c.sig[j]) >= 0.8 {
			jw = JaroWinkler(sa, sb)
		}
		shared := wordsShared(c.toks[i], c.toks[j])
		union := len(c.toks[i]) + len(c.toks[j]) - shared // Jaccard: shared/union
		switch {
		case jw >= 0.92 || 5*shared >= 4*union:
			return 3
		case 2*shared >= union:
			return 4
		case 4*shared >= union || jw >= 0.8:
			return 5
		}
		return 6
	case Date:
		if withinEdits(a, b, 1) || swappedDayMonth(a, b) {
			return 2
		}
		da, db := c.num[i], c.num[j]
		if !math.IsNaN(da) && !math.IsNaN(db) {
			d := math.Abs(da - db)
			switch {
			case d <= 31:
				return 3
			case d <= 366:
				return 4
			case d <= 3653:
				return 5
			}
		}
		return 6
	case Postcode:
		if withinEdits(a, b, 1) {
			return 2
		}
		if len(a) >= 4 && len(b) >= 4 && a[:3] == b[:3] {
			return 3
		}
		return 4
	case Email:
		if c.alt[i] != "" && c.alt[i] == c.alt[j] {
			return 2
		}
		if withinEdits(a, b, 1) {
			return 3
		}
		return 4
	case Phone:
		if c.alt[i] != "" && c.alt[i] == c.alt[j] {
			return 2
		}
		if withinEdits(a, b, 1) {
			return 3
		}
		return 4
	case Numeric:
		na, nb := c.num[i], c.num[j]
		numbers := !math.IsNaN(na) && !math.IsNaN(nb) && c.spread > 0
		d := math.Abs(na - nb)
		if numbers && d <= 0.02*c.spread {
			return 2
		}
		if withinEdits(a, b, 1) {
			return 3
		}
		if numbers && d <= 0.2*c.spread {
			return 4
		}
		return 5
	case ID:
		if withinEdits(a, b, 1) {
			return 2
		}
		if withinEdits(a, b, 2) {
			return 3
		}
		return 4
	case Category:
		if len(a) >= 3 && len(b) >= 3 && withinEdits(a, b, 1) {
			return 2
		}
		return 3
	}
	return uint8(len(kindLevels[c.kind]) - 1)
}

// swappedDayMonth reports YYYYMMDD values equal but for day and month swapped.
func swappedDayMonth(a, b string) bool {
	return len(a) == 8 && len(b) == 8 && a[:4] == b[:4] && a[4:6] == b[6:8] && a[6:8] == b[4:6]
}

// wordsShared counts the words a and b share, repeated words as often as both have them.
func wordsShared(a, b []string) int {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	var buf [16]bool
	var used []bool
	if len(b) <= len(buf) {
		used = buf[:len(b)]
	} else {
		used = make([]bool, len(b))
	}
	shared := 0
	for _, x := range a {
		for k, y := range b {
			if !used[k] && x == y {
				used[k] = true
				shared++
				break
			}
		}
	}
	return shared
}

// rareWords sets each record's rarest word: the word fewest records of the column have,
// the first in byte order on ties, so that it depends on the records' content only.
func (c *column) rareWords() {
	df := map[string]int32{}
	for _, ts := range c.toks {
		for k, t := range ts {
			if !slicesContains(ts[:k], t) {
				df[t]++
			}
		}
	}
	c.rare = make([]string, len(c.toks))
	for i, ts := range c.toks {
		best := ""
		for _, t := range ts {
			if best == "" || df[t] < df[best] || df[t] == df[best] && t < best {
				best = t
			}
		}
		c.rare[i] = best
	}
}

func slicesContains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

package match

import (
	"math"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Normalize returns the canonical form of a raw value for a field of the kind, "" when the
// value is missing or junk. Every comparison and blocking key works on normalised values.
//
//   - Name, Text, Category: lower case, accents removed (é → e, ß → ss), punctuation
//     dropped or turned into spaces, runs of spaces collapsed.
//   - Date: YYYYMMDD when the value reads as a date (20240131, 2024-01-31, 31/01/2024,
//     31.01.2024, 2024/1/31); otherwise its digits, so impossible dates still compare.
//   - Postcode, ID: upper-case letters and digits only.
//   - Email: trimmed and lower-cased.
//   - Phone: digits only, a leading 00 international prefix dropped.
//   - Numeric: the number in a canonical decimal form, or the trimmed text if not a number.
func Normalize(k Kind, raw string) string {
	n := normalize(k, raw)
	if isJunk(n) {
		return ""
	}
	return n
}

func normalize(k Kind, raw string) string {
	s := strings.TrimSpace(raw)
	if s == "" || isJunk(s) {
		return ""
	}
	switch k {
	case Date:
		return normalizeDate(s)
	case Postcode, ID:
		return alnumUpper(s)
	case Email:
		s = strings.ToLower(s)
		if strings.Count(s, "@") != 1 || strings.HasPrefix(s, "@") || strings.HasSuffix(s, "@") {
			return foldText(s)
		}
		return s
	case Phone:
		d := digits(s)
		for strings.HasPrefix(d, "00") {
			d = d[2:]
		}
		if len(d) < 4 {
			return ""
		}
		return d
	case Numeric:
		bare := strings.TrimSpace(strings.TrimRight(strings.TrimLeft(s, "$€£¥"), "%"))
		for _, t := range []string{strings.ReplaceAll(bare, ",", ""), foldText(s)} {
			if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return strconv.FormatFloat(f, 'f', -1, 64)
			}
		}
		return foldText(s)
	default:
		return foldText(s)
	}
}

// isJunk reports placeholders that mean "no value".
func isJunk(s string) bool {
	switch strings.ToLower(s) {
	case "null", "nil", "none", "n/a", "na", "nan", "undefined", "-", "--", "?", "unknown":
		return true
	}
	return false
}

// foldText lower-cases, strips accents, deletes apostrophes, turns other punctuation into
// spaces and collapses spaces.
func foldText(s string) string {
	if !isASCII(s) {
		s = stripAccents(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case r == '\'' || r == '’' || r == '`':
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(unicode.ToLower(r))
		default:
			space = true
		}
	}
	return b.String()
}

func stripAccents(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r == 'ß':
			b.WriteString("ss")
		case r == 'æ' || r == 'Æ':
			b.WriteString("ae")
		case r == 'ø' || r == 'Ø':
			b.WriteByte('o')
		case r == 'ł' || r == 'Ł':
			b.WriteByte('l')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func alnumUpper(s string) string {
	if !isASCII(s) {
		s = stripAccents(s)
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

func digits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// squash removes the spaces of a folded text: "pridham street" and "pridhamstreet" agree.
func squash(s string) string {
	if strings.IndexByte(s, ' ') < 0 {
		return s
	}
	return strings.ReplaceAll(s, " ", "")
}

// normalizeDate returns YYYYMMDD for a recognisable date, else the value's digits.
func normalizeDate(s string) string {
	d := digits(s)
	parts := strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if len(parts) > 3 && len(parts[0]) == 4 { // a timestamp: 1956-04-09T00:00:00Z
		parts = parts[:3]
		d = strings.Join(parts, "")
	}
	if len(parts) == 3 {
		a, b, c := parts[0], parts[1], parts[2]
		var y, m, dd string
		switch {
		case len(a) == 4: // Y-M-D
			y, m, dd = a, b, c
		case len(c) == 4: // D/M/Y (day first unless the first part cannot be a day's month)
			y, m, dd = c, b, a
			if atoi(b) > 12 && atoi(a) <= 12 {
				m, dd = a, b
			}
		}
		if y != "" && len(m) <= 2 && len(dd) <= 2 && m != "" && dd != "" {
			return y + pad2(m) + pad2(dd)
		}
	}
	if len(d) == 0 {
		return ""
	}
	return d
}

func pad2(s string) string {
	if len(s) == 1 {
		return "0" + s
	}
	return s
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// dateDays returns the day number (days since 0000-03-01 in the proleptic Gregorian
// calendar) of a YYYYMMDD value, and false when it is not a valid date.
func dateDays(s string) (int, bool) {
	if len(s) != 8 {
		return 0, false
	}
	y, m, d := atoi(s[:4]), atoi(s[4:6]), atoi(s[6:])
	if y < 0 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	if m <= 2 {
		y--
		m += 12
	}
	return 365*y + y/4 - y/100 + y/400 + (153*(m-3)+2)/5 + d - 1, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// Soundex returns the American Soundex code of a folded name ("robert" → "R163"), "" when
// it has no letter. Only ASCII letters count; the caller folds accents first.
func Soundex(s string) string {
	const codes = "01230120022455012623010202" // a..z
	var out [4]byte
	n := 0
	var last byte
	for i := 0; i < len(s) && n < 4; i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c < 'a' || c > 'z' {
			continue
		}
		code := codes[c-'a']
		if n == 0 {
			out[0] = c - 'a' + 'A'
			n = 1
			last = code
			continue
		}
		switch {
		case c == 'h' || c == 'w': // do not separate equal codes
		case code == '0':
			last = 0
		case code != last:
			out[n] = code
			n++
			last = code
		}
	}
	if n == 0 {
		return ""
	}
	for n < 4 {
		out[n] = '0'
		n++
	}
	return string(out[:])
}

// tokens splits a folded text on spaces.
func tokens(s string) []string { return strings.Fields(s) }

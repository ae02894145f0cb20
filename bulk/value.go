package bulk

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// timeParser reads times in one format.
type timeParser struct {
	kind   int // timeISO, timeLayout, timeUnix, timeUnixMS, timeExcel
	layout string
	loc    *time.Location
}

const (
	timeISO = iota
	timeLayout
	timeUnix
	timeUnixMS
	timeExcel
)

// isoLayouts are the forms iso8601 accepts, tried in order; without a zone the time is in
// the field's time zone.
var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999 Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05.999999999Z0700", // offsets without a colon (+0530), as the API takes them
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02T15:04Z0700",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// isoLayout guesses which of isoLayouts fits s by its shape.
func isoLayout(s string) string {
	if len(s) == 10 {
		return "2006-01-02"
	}
	if len(s) < 16 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') {
		return ""
	}
	rest := s[11:]
	zone := strings.HasSuffix(rest, "Z") || strings.ContainsAny(rest, "+-")
	seconds := strings.Count(rest, ":") >= 2 && (!zone || len(rest) > 8)
	switch {
	case s[10] == 'T' && zone && seconds:
		return time.RFC3339Nano
	case s[10] == 'T' && !zone && seconds:
		return "2006-01-02T15:04:05.999999999"
	case s[10] == ' ' && zone && seconds:
		return "2006-01-02 15:04:05.999999999Z07:00"
	case s[10] == ' ' && !zone && seconds:
		return "2006-01-02 15:04:05.999999999"
	case s[10] == 'T' && !zone:
		return "2006-01-02T15:04"
	case s[10] == ' ' && !zone:
		return "2006-01-02 15:04"
	}
	return ""
}

// newTimeParser compiles a format (see Mapping) and a time zone ("" is UTC).
func newTimeParser(format, tz string) (*timeParser, error) {
	p := &timeParser{loc: time.UTC}
	if tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("Unknown time zone %q.", tz)
		}
		p.loc = loc
	}
	switch f := strings.TrimSpace(format); strings.ToLower(f) {
	case "", "iso8601", "iso-8601", "rfc3339":
		p.kind = timeISO
	case "unix", "epoch":
		p.kind = timeUnix
	case "unix_ms", "unix-ms", "epoch_ms":
		p.kind = timeUnixMS
	case "excel":
		p.kind = timeExcel
	default:
		p.kind = timeLayout
		if strings.Contains(f, "%") {
			layout, err := strftimeLayout(f)
			if err != nil {
				return nil, err
			}
			p.layout = layout
		} else if strings.Contains(f, "2006") || strings.Contains(f, "06") && strings.Contains(f, "01") {
			p.layout = f // a Go layout
		} else {
			return nil, fmt.Errorf("Format %q is not a date format: use strftime directives (%%d.%%m.%%Y %%H:%%M), iso8601, unix, unix_ms or excel.", f)
		}
	}
	return p, nil
}

// strftimeLayout translates strftime directives to a Go layout.
func strftimeLayout(f string) (string, error) {
	var b strings.Builder
	lit := func(s string) error {
		for _, bad := range []string{"Jan", "Mon", "MST", "PM", "pm"} {
			if strings.Contains(s, bad) {
				return fmt.Errorf("Format %q: the text %q cannot be used literally in a date format.", f, bad)
			}
		}
		if strings.ContainsFunc(s, unicode.IsDigit) {
			return fmt.Errorf("Format %q: digits cannot be used literally in a date format.", f)
		}
		b.WriteString(s)
		return nil
	}
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			j := strings.IndexByte(f[i:], '%')
			if j < 0 {
				j = len(f) - i
			}
			if err := lit(f[i : i+j]); err != nil {
				return "", err
			}
			i += j - 1
			continue
		}
		if i+1 >= len(f) {
			return "", fmt.Errorf("Format %q ends with a lone %%.", f)
		}
		d := f[i+1 : i+2]
		if d == "-" && i+2 < len(f) { // %-d: no padding
			d = f[i+1 : i+3]
			i++
		} else if d == ":" && i+2 < len(f) && f[i+2] == 'z' {
			d = ":z"
			i++
		}
		i++
		var g string
		switch d {
		case "Y":
			g = "2006"
		case "y":
			g = "06"
		case "m":
			g = "01"
		case "-m":
			g = "1"
		case "d":
			g = "02"
		case "-d":
			g = "2"
		case "e":
			g = "_2"
		case "j":
			g = "002"
		case "H":
			g = "15"
		case "I":
			g = "03"
		case "-I", "l":
			g = "3"
		case "M":
			g = "04"
		case "S":
			g = "05"
			if strings.HasPrefix(f[i+1:], ".%f") || strings.HasPrefix(f[i+1:], ",%f") {
				g += f[i+1:i+2] + "999999999"
				i += 3
			}
		case "f":
			return "", fmt.Errorf("Format %q: %%f must follow %%S and a point (%%S.%%f).", f)
		case "b", "h":
			g = "Jan"
		case "B":
			g = "January"
		case "a":
			g = "Mon"
		case "A":
			g = "Monday"
		case "p":
			g = "PM"
		case "z":
			g = "-0700"
		case ":z":
			g = "-07:00"
		case "Z":
			g = "MST"
		case "T":
			g = "15:04:05"
		case "F":
			g = "2006-01-02"
		case "D":
			g = "01/02/06"
		case "R":
			g = "15:04"
		case "%":
			g = "%"
		default:
			return "", fmt.Errorf("Format %q: unknown directive %%%s.", f, d)
		}
		b.WriteString(g)
	}
	return b.String(), nil
}

// parse reads s. Numbers for unix, unix_ms and excel may be fractional.
func (p *timeParser) parse(s string) (time.Time, bool) {
	switch p.kind {
	case timeISO:
		if l := isoLayout(s); l != "" { // the likely layout first: failed attempts are costly
			if t, err := time.ParseInLocation(l, s, p.loc); err == nil {
				return t, true
			}
		}
		for _, l := range isoLayouts {
			if t, err := time.ParseInLocation(l, s, p.loc); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	case timeLayout:
		t, err := time.ParseInLocation(p.layout, s, p.loc)
		return t, err == nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || !isPlainNumber(s) {
		return time.Time{}, false
	}
	var t time.Time
	switch p.kind {
	case timeUnix, timeUnixMS:
		if p.kind == timeUnixMS {
			f /= 1000
		}
		if math.Abs(f) > 1e11 {
			return time.Time{}, false
		}
		sec, frac := math.Modf(f)
		t = time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000)
	case timeExcel: // days since 1899-12-30 (Excel's 1900 system, leap-year bug included)
		if f < 1 || f > 2958465 {
			return time.Time{}, false
		}
		days := math.Floor(f)
		frac := f - days
		t = time.Date(1899, 12, 30, 0, 0, 0, 0, p.loc).AddDate(0, 0, int(days)).Add(time.Duration(math.Round(frac*86400*1000)) * time.Millisecond)
		return t, true
	}
	if t.Year() < 1900 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// describe names the format in a message.
func (p *timeParser) describe(format string) string {
	if p.kind == timeISO {
		return "an ISO-8601 date-time (e.g. 2026-11-26T10:00:00Z or 2026-11-26)"
	}
	return "a date in the format " + format
}

// isPlainNumber reports whether s is a decimal number: an optional sign, digits with at
// most one point, an optional exponent (no hex, no underscores, no Inf or NaN).
func isPlainNumber(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits, point := 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point:
			point = true
		case (c == 'e' || c == 'E') && digits > 0:
			rest := s[i+1:]
			if len(rest) > 0 && (rest[0] == '-' || rest[0] == '+') {
				rest = rest[1:]
			}
			if rest == "" {
				return false
			}
			for _, r := range rest {
				if r < '0' || r > '9' {
					return false
				}
			}
			return true
		default:
			return false
		}
	}
	return digits > 0
}

// parseNumber reads a number written with the decimal and thousands separators given.
func parseNumber(s, decimal, thousands string) (float64, bool) {
	if thousands != "" {
		s = strings.ReplaceAll(s, thousands, "")
	}
	if decimal == "," {
		if strings.Contains(s, ".") {
			return 0, false
		}
		s = strings.Replace(s, ",", ".", 1)
	}
	if !isPlainNumber(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// thousandsSeparators are the thousands separators a mapping may give.
var thousandsSeparators = []string{",", ".", " ", "'", "_"}

// notNumber says why s is not a number (or integer) for field f, with the setting that
// would read it when there is one: "1.234,50" with decimal "," needs thousands: ".", "12,5"
// with the default decimal point needs decimal: ",". A thousands separator is suggested
// only where every group after one has three digits, so "1,5" is not taken for fifteen.
func notNumber(s string, f *Field, integer bool) string {
	what := "a number"
	if integer {
		what = "an integer"
	}
	dec := cmp.Or(f.Decimal, ".")
	var thousands, decimal string
	if f.Thousands == "" {
		for _, t := range thousandsSeparators {
			if t == f.Decimal || !integer && t == dec || !grouped(s, t, dec, integer) {
				continue
			}
			if x, ok := parseNumber(s, f.Decimal, t); ok && (!integer || x == math.Trunc(x)) {
				thousands = t
				break
			}
		}
		if !integer && f.Decimal == "" {
			if _, ok := parseNumber(s, ",", ""); ok {
				decimal = ","
			}
		}
	}
	msg := shown(s) + " is not " + what
	if !integer && (thousands != "" || decimal != "") {
		msg += fmt.Sprintf(" with decimal %q", dec)
	}
	switch {
	case thousands != "" && decimal != "":
		return msg + fmt.Sprintf("; add thousands: %q for a thousands separator, or decimal: %q for a decimal comma.", thousands, decimal)
	case thousands != "":
		return msg + fmt.Sprintf("; add thousands: %q for a thousands separator.", thousands)
	case decimal != "":
		return msg + fmt.Sprintf("; add decimal: %q for a decimal comma.", decimal)
	}
	return msg + "."
}

// grouped reports whether the integer part of s (before the decimal separator dec; all of
// s for an integer) is digits in groups of three separated by t, the first group 1–3 digits.
func grouped(s, t, dec string, integer bool) bool {
	s = strings.TrimLeft(s, "+-")
	if !integer {
		s, _, _ = strings.Cut(s, dec)
	}
	groups := strings.Split(s, t)
	if len(groups) < 2 {
		return false
	}
	for i, g := range groups {
		if g == "" || len(g) > 3 || i > 0 && len(g) != 3 || strings.Trim(g, "0123456789") != "" {
			return false
		}
	}
	return true
}

// appendNumber appends f as a JSON number.
func appendNumber(dst []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	if math.Abs(f) < 1e21 && math.Abs(f) >= 1e-6 {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// parseBool reads the usual spellings of yes and no.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "t", "yes", "y", "1", "on", "x":
		return true, true
	case "false", "f", "no", "n", "0", "off":
		return false, true
	}
	return false, false
}

// shown quotes a value for a message, cut to 40 characters.
func shown(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		s = string(r[:40]) + "…"
	}
	return strconv.Quote(s)
}

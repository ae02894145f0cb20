package match

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/mosaic-cdp/mosaic"
)

// Kind is what a field holds; it decides normalisation, comparison levels and blocking keys.
type Kind uint8

// The field kinds.
const (
	Text     Kind = iota // free text: addresses, business names
	Name                 // a person's or place's name: one or two words
	Date                 // a calendar date, e.g. a birth date
	Postcode             // a postal code
	Email                // an email address
	Phone                // a phone number
	Numeric              // a number: street number, birth year, amount
	ID                   // a code or identifier: national id, account number
	Category             // a value from a small set: state, gender, month
	Ignore               // not compared
)

var kindNames = [...]string{"text", "name", "date", "postcode", "email", "phone", "numeric", "id", "category", "ignore"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// ParseKind reads a kind's name as String writes it ("name", "date", …).
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Kind(i), nil
		}
	}
	return 0, mosaic.Errorf(mosaic.EINVALID, "Unknown field kind %q (one of %s).", s, strings.Join(kindNames[:], ", "))
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	*k = v
	return err
}

// Field is a named field of a record and its kind.
type Field struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
}

// Schema lists the fields every record has, in the order of Record.Values.
type Schema struct {
	Fields []Field `json:"fields"`
}

// Index returns the position of the named field, or -1.
func (s Schema) Index(name string) int {
	for i, f := range s.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// Record builds a record of this schema from named values; names not in the schema are
// ignored and fields without a value are missing.
func (s Schema) Record(id string, values map[string]string) Record {
	r := Record{ID: id, Values: make([]string, len(s.Fields))}
	for i, f := range s.Fields {
		r.Values[i] = values[f.Name]
	}
	return r
}

// Record is one record to match: an opaque ID, which the matcher never reads, and its
// field values in schema order ("" = missing). Source tells the two sides apart when
// linking (only pairs from different sources are compared); it is ignored when deduping.
type Record struct {
	ID     string
	Values []string
	Source int
}

var (
	emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	phoneRE = regexp.MustCompile(`^\+?[0-9 ()./-]{6,24}$`)
)

// InferSchema guesses each column's kind from its name and its values (rows are records in
// column order; a sample of a few thousand is plenty). The name gives a hint ("surname",
// "dob", "zip", "email"…) and the content confirms or overrides it: a column named "name"
// whose values have several words is Text, digit columns are Numeric, ID or Category by
// cardinality, values that look like emails, phones or dates are those.
func InferSchema(header []string, rows [][]string) Schema {
	s := Schema{Fields: make([]Field, len(header))}
	for c, h := range header {
		var col []string
		for _, r := range rows {
			if c < len(r) {
				col = append(col, r[c])
			}
		}
		s.Fields[c] = Field{Name: h, Kind: InferKind(h, col)}
	}
	return s
}

// columnStats summarises a column's non-missing values.
type columnStats struct {
	n, distinct                       int
	email, phone, date, digit, alphaN int
	number                            int // values that read as a number (12.99, -3, 1,500)
	phoneSep                          int
	words, length                     float64
	maxDigits                         int
}

func statsOf(values []string) columnStats {
	var st columnStats
	seen := map[string]bool{}
	for _, raw := range values {
		v := strings.TrimSpace(raw)
		if v == "" || isJunk(v) {
			continue
		}
		st.n++
		if !seen[v] {
			seen[v] = true
			st.distinct++
		}
		if emailRE.MatchString(v) {
			st.email++
		}
		d := digits(v)
		if phoneRE.MatchString(v) && len(d) >= 7 && len(d) <= 15 {
			st.phone++
			if strings.ContainsAny(strings.TrimPrefix(v, "+"), " ()./-") || strings.HasPrefix(v, "+") {
				st.phoneSep++
			}
		}
		if looksLikeDate(v) {
			st.date++
		}
		if _, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimLeft(v, "$€£"), ",", ""), 64); err == nil && len(d) > 0 {
			st.number++
		}
		if len(d) == len(v) {
			st.digit++
			st.maxDigits = max(st.maxDigits, len(d))
		}
		hasLetter := strings.IndexFunc(v, unicode.IsLetter) >= 0
		if hasLetter {
			st.alphaN++
		}
		st.words += float64(len(strings.Fields(foldText(v))))
		st.length += float64(len(v))
	}
	if st.n > 0 {
		st.words /= float64(st.n)
		st.length /= float64(st.n)
	}
	return st
}

// looksLikeDate accepts YYYYMMDD with a plausible year and month, and separated dates.
func looksLikeDate(v string) bool {
	d := digits(v)
	if len(d) == len(v) {
		if len(d) != 8 {
			return false
		}
		y, m := atoi(d[:4]), atoi(d[4:6])
		return y >= 1800 && y <= 2100 && m >= 0 && m <= 19 // corrupted months still count
	}
	n := normalizeDate(v)
	if len(n) != 8 || len(d) < 6 || len(d) > 8 {
		return false
	}
	_, ok := dateDays(n)
	return ok
}

// nameHint maps words found in column names to kinds.
func nameHint(name string) (Kind, bool) {
	words := splitName(name)
	has := func(ws ...string) bool {
		for _, w := range words {
			for _, x := range ws {
				if w == x {
					return true
				}
			}
		}
		return false
	}
	joined := strings.Join(words, "")
	switch {
	case has("email", "mail", "e-mail") || strings.Contains(joined, "email"):
		return Email, true
	case has("phone", "tel", "telephone", "mobile", "cell", "fax") || strings.Contains(joined, "phone"):
		return Phone, true
	case has("zip", "zipcode", "postcode", "postal", "plz", "postalcode") || strings.Contains(joined, "postcode"):
		return Postcode, true
	case has("dob", "birthdate", "birthday", "date") || strings.Contains(joined, "dateofbirth") || strings.Contains(joined, "birthdate"):
		return Date, true
	case has("ssn", "id", "number", "no", "num", "code", "nr", "nino", "passport", "account") || strings.Contains(joined, "socsec"):
		return ID, true
	case has("state", "country", "gender", "sex", "type", "status", "category", "title", "class", "region", "province", "county"):
		return Category, true
	case has("address", "addr", "street", "line", "road", "description", "text", "comment", "company", "organisation", "organization"):
		return Text, true
	case has("city", "suburb", "town", "locality", "place", "municipality"):
		return Name, true
	case has("name", "first", "given", "fname", "forename", "last", "surname", "lname", "family", "middle", "maiden", "nickname") ||
		strings.HasSuffix(joined, "name"):
		return Name, true
	}
	return Text, false
}

func splitName(name string) []string {
	var words []string
	var cur []rune
	prevLower := false
	for _, r := range name {
		switch {
		case unicode.IsUpper(r) && prevLower:
			words = append(words, strings.ToLower(string(cur)))
			cur = []rune{r}
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			cur = append(cur, r)
		default:
			if len(cur) > 0 {
				words = append(words, strings.ToLower(string(cur)))
			}
			cur = nil
		}
		prevLower = unicode.IsLower(r)
	}
	if len(cur) > 0 {
		words = append(words, strings.ToLower(string(cur)))
	}
	// "fname_c1" → "fname", "c1"; also strip trailing digits: "name2" → "name".
	for i, w := range words {
		words[i] = strings.TrimRight(w, "0123456789")
	}
	return words
}

// InferKind guesses one column's kind from its name and values.
func InferKind(name string, values []string) Kind {
	hint, hinted := nameHint(name)
	st := statsOf(values)
	if st.n == 0 {
		if hinted {
			return hint
		}
		return Text
	}
	frac := func(k int) float64 { return float64(k) / float64(st.n) }
	distinctRatio := float64(st.distinct) / float64(st.n)
	repeats := 2*st.distinct <= st.n // values recur: a set, not free values
	lowCard := repeats && (st.distinct <= 40 || (distinctRatio < 0.01 && st.distinct <= 200))
	digitLowCard := repeats && st.distinct <= 40
	switch {
	case frac(st.email) >= 0.8:
		return Email
	case hint == Phone && frac(st.phone) >= 0.5:
		return Phone
	case frac(st.date) >= 0.8 && (hint == Date || st.digit < st.n || !lowCard) && (hint == Date || hint == Text || !hinted):
		return Date
	case frac(st.phone) >= 0.8 && frac(st.phoneSep) >= 0.5:
		return Phone
	}
	if frac(st.digit) >= 0.8 {
		switch {
		case hint == Postcode:
			return Postcode
		case hint == Date:
			return Date
		case digitLowCard:
			return Category
		case hint == ID && st.maxDigits >= 4 && distinctRatio >= 0.3, distinctRatio >= 0.5 && st.maxDigits >= 5:
			return ID
		default:
			return Numeric
		}
	}
	if frac(st.number) >= 0.8 && hint != ID && hint != Postcode && hint != Phone {
		if lowCard {
			return Category
		}
		return Numeric
	}
	switch hint {
	case Email, Phone, Date:
		// The content did not confirm the name: fall through to the content's guess.
	case Postcode, ID:
		if lowCard {
			return Category
		}
		return hint
	case Category:
		if lowCard || st.words < 1.5 {
			return Category
		}
		return Text
	case Name:
		if lowCard {
			return Category
		}
		if st.words >= 1.8 {
			return Text
		}
		return Name
	case Text:
		if hinted {
			if lowCard {
				return Category
			}
			return Text
		}
	}
	switch {
	case lowCard:
		return Category
	case st.alphaN < st.n/2 && distinctRatio >= 0.5:
		return ID
	case st.words < 1.8 && st.length <= 20:
		return Name
	}
	return Text
}

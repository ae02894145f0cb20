package match

import (
	"fmt"
	"strings"
	"testing"
)

func TestInferKind(t *testing.T) {
	seq := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	tests := []struct {
		name   string
		column string
		values []string
		want   Kind
	}{
		{"given name", "given_name", []string{"mitchell", "harley", "madeline", "isabelle", ""}, Name},
		{"surname camel case", "lastName", []string{"green", "mccarthy", "mason"}, Name},
		{"business name is text", "name", []string{"arnie morton's of chicago", "art's delicatessen", "fenix at the argyle"}, Text},
		{"date of birth compact", "date_of_birth", []string{"19560409", "19080419", "19081128"}, Date},
		{"dates without a hint", "when", []string{"2024-01-31", "2023-12-01", "1999-07-04"}, Date},
		{"postcode", "postcode", []string{"2119", "3165", "4881"}, Postcode},
		{"zip", "ZIP", []string{"02139", "10001", "94105"}, Postcode},
		{"email by content", "contact", []string{"ada@example.com", "bob@example.org"}, Email},
		{"phone with separators", "tel", []string{"310/246-1501", "310-246-1501"}, Phone},
		{"phones without a hint", "x", []string{"+44 20 7946 0000", "(415) 555-0100", "020 7946 0001"}, Phone},
		{"social security id", "soc_sec_id", seq(200, func(i int) string { return fmt.Sprintf("%07d", 1804974+i*7919) }), ID},
		{"state", "state", []string{"nsw", "vic", "qld", "nsw", "wa"}, Category},
		{"street number", "street_number", seq(300, func(i int) string { return fmt.Sprint(1 + i%97) }), Numeric},
		{"birth year", "by", seq(500, func(i int) string { return fmt.Sprint(1920 + i%80) }), Numeric},
		{"birth month", "bm", seq(500, func(i int) string { return fmt.Sprint(1 + i%12) }), Category},
		{"address", "address_1", []string{"wallaby place", "pridhamstreet", "hoseason street"}, Text},
		{"suburb", "suburb", seq(300, func(i int) string { return fmt.Sprintf("town%c%c", 'a'+i%26, 'a'+i/26) }), Name},
		{"prices", "price", seq(300, func(i int) string { return fmt.Sprintf("$%d.%02d", 10+i*7%400, i%100) }), Numeric},
		{"empty column keeps the hint", "email", []string{"", ""}, Email},
		{"phone hint but not phones", "phone_type", []string{"mobile", "home", "work", "mobile", "home", "mobile", "work"}, Category},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InferKind(tt.column, tt.values); got != tt.want {
				t.Errorf("InferKind(%q)=%v, want %v", tt.column, got, tt.want)
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range append(allKinds, Ignore) {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q)=%v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseKind("colour"); err == nil {
		t.Error("ParseKind accepted an unknown kind")
	}
}

func TestCompareLevels(t *testing.T) {
	tests := []struct {
		kind Kind
		a, b string
		want string
	}{
		{Name, "smith", "smith", "exact"},
		{Name, "smith", "smyth", "jaro-winkler >= 0.88"},
		{Name, "catherine", "katherine", "jaro-winkler >= 0.92"},
		{Name, "thompson", "tomson", "jaro-winkler >= 0.92"},
		{Name, "jon", "jonathan", "jaro-winkler >= 0.7"},
		{Name, "rupert", "robert", "sounds alike"},
		{Name, "smith", "", "missing"},
		{Name, "smith", "jones", "different"},
		{Text, "pridham street", "pridhamstreet", "equal without spaces"},
		{Text, "art's delicatessen", "art's deli", "a quarter of words shared or jaro-winkler >= 0.8"},
		{Text, "wallaby place", "walaby place", "jaro-winkler >= 0.92 or 80% of words shared"},
		{Text, "wallaby place", "wallaby street", "a quarter of words shared or jaro-winkler >= 0.8"},
		{Text, "8 wallaby place", "8 wallaby street", "half of words shared"},
		{Text, "kent road", "wallaby place", "different"},
		{Text, "cafe ritz-carlton buckhead", "ritz-carlton dining room", "a quarter of words shared or jaro-winkler >= 0.8"},
		{Text, "the art of computer programming", "art of computer programming the", "jaro-winkler >= 0.92 or 80% of words shared"},
		{Date, "19560409", "19560409", "exact"},
		{Date, "19560409", "19560904", "one typo or day/month swapped"},
		{Date, "19560409", "19560419", "one typo or day/month swapped"},
		{Date, "19560409", "19560428", "within a month"},
		{Date, "19560409", "19551201", "within a year"},
		{Date, "19560409", "19620101", "within ten years"},
		{Date, "19560409", "19800101", "different"},
		{Postcode, "2119", "2118", "one typo"},
		{Postcode, "SW1A 1AA", "SW1B 2BB", "same first three"},
		{Email, "ada@example.com", "ada@example.org", "same local part"},
		{Email, "ada.l@example.com", "ada.m@example.com", "one typo"},
		{Email, "jack.clark84@yahoo.co.uk", "jack.clark3@yahoo.co.uk", "different"},
		{Phone, "310/246-1501", "310-246-1501", "exact"},
		{Phone, "+1 310 246 1501", "(310) 246-1501", "same last seven digits"},
		{Phone, "310 246 1501", "310 246 1051", "one typo"},
		{ID, "1804974", "1804947", "one typo"},
		{ID, "1804974", "1809447", "two typos"},
		{ID, "1804974", "2185997", "different"},
		{Numeric, "1956", "1957", "within 2% of range"},
		{Numeric, "1956", "1936", "one typo"},
		{Numeric, "1956", "1964", "within 20% of range"},
		{Category, "nsw", "vic", "different"},
		{Category, "nsw", "nsx", "one typo"},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String()+"/"+tt.a+"~"+tt.b, func(t *testing.T) {
			c := newColumn(tt.kind, 2)
			c.spread = 60
			c.set(0, tt.a)
			c.set(1, tt.b)
			if got := kindLevels[tt.kind][c.compare(0, 1)]; got != tt.want {
				t.Errorf("level=%q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzInferKind: any column name and values give a kind, without panicking.
func FuzzInferKind(f *testing.F) {
	f.Add("date_of_birth", "19560409\n19080419\n")
	f.Add("email", "ada@example.com\n\nbob@")
	f.Add("x", "+44 20 7946 0000\n(415) 555-0100")
	f.Fuzz(func(t *testing.T, name, values string) {
		vals := strings.Split(values, "\n")
		k := InferKind(name, vals)
		if _, ok := kindLevels[k]; !ok || k == Ignore {
			t.Fatalf("InferKind(%q, %q)=%v", name, vals, k)
		}
	})
}

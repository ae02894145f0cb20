package match

import (
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		in   string
		want string
	}{
		{"name folds case and accents", Name, "  José  O'Brien ", "jose obrien"},
		{"name german sharp s", Name, "Großmann", "grossmann"},
		{"text punctuation becomes space", Text, "435 S. La Cienega Blvd.", "435 s la cienega blvd"},
		{"junk is missing", Name, "NULL", ""},
		{"blank is missing", Text, "   ", ""},
		{"date compact", Date, "19560409", "19560409"},
		{"date iso", Date, "1956-04-09", "19560409"},
		{"date day first", Date, "9/4/1956", "19560409"},
		{"date month first when day > 12", Date, "04/29/1956", "19560429"},
		{"timestamp", Date, "1956-04-09T00:00:00Z", "19560409"},
		{"impossible date keeps digits", Date, "19561345", "19561345"},
		{"postcode", Postcode, "sw1a 1aa", "SW1A1AA"},
		{"id keeps leading zeros", ID, "007-123", "007123"},
		{"email", Email, " Ada@Example.COM ", "ada@example.com"},
		{"phone formats agree", Phone, "310/246-1501", "3102461501"},
		{"phone international prefix", Phone, "0044 20 7946 0000", "442079460000"},
		{"phone too short", Phone, "12", ""},
		{"numeric canonical", Numeric, "007", "7"},
		{"numeric thousands", Numeric, "1,500.50", "1500.5"},
		{"numeric currency", Numeric, "$1,299.00", "1299"},
		{"numeric text stays text", Numeric, "12a", "12a"},
		{"category", Category, "NSW", "nsw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.kind, tt.in); got != tt.want {
				t.Errorf("Normalize(%v, %q)=%q, want %q", tt.kind, tt.in, got, tt.want)
			}
		})
	}
}

func TestSoundex(t *testing.T) {
	for in, want := range map[string]string{
		"robert": "R163", "rupert": "R163", "ashcraft": "A261", "tymczak": "T522",
		"pfister": "P236", "honeyman": "H555", "lee": "L000", "": "", "123": "",
	} {
		if got := Soundex(in); got != want {
			t.Errorf("Soundex(%q)=%q, want %q", in, got, want)
		}
	}
}

func TestDateDays(t *testing.T) {
	a, ok1 := dateDays("20240228")
	b, ok2 := dateDays("20240301")
	if !ok1 || !ok2 || b-a != 2 {
		t.Errorf("2024-02-28 to 2024-03-01: %d days (%v %v), want 2 (leap year)", b-a, ok1, ok2)
	}
	for _, bad := range []string{"20230229", "19561345", "1956040", "abcdefgh"} {
		if _, ok := dateDays(bad); ok {
			t.Errorf("dateDays(%q) accepted an invalid date", bad)
		}
	}
}

var allKinds = []Kind{Text, Name, Date, Postcode, Email, Phone, Numeric, ID, Category}

// FuzzNormalize: never panics, gives valid UTF-8 without surrounding spaces, and is
// idempotent (normalising a normalised value changes nothing), so stored normalised values
// can be normalised again safely.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"José O'Brien", "19560409", "9/4/1956", "310/246-1501", "Ada@Example.COM",
		"1,500.50", "sw1a 1aa", "ǅemal İstanbul", "\xff\xfe", "0000", "--", "ﬁnance", "Ⅻ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range allKinds {
			n := Normalize(k, s)
			if !utf8.ValidString(n) && utf8.ValidString(s) {
				t.Fatalf("Normalize(%v, %q)=%q is not valid UTF-8", k, s, n)
			}
			if again := Normalize(k, n); again != n {
				t.Fatalf("Normalize(%v) not idempotent: %q → %q → %q", k, s, n, again)
			}
			Soundex(n)
		}
	})
}

// FuzzCompare: comparing any two values of any kind never panics, is symmetric and gives a
// level the kind has; equal non-missing values are exact.
func FuzzCompare(f *testing.F) {
	f.Add("smith", "smyth")
	f.Add("19560409", "19560904")
	f.Add("ada@example.com", "ada@example.org")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, k := range allKinds {
			c := newColumn(k, 2)
			c.spread = 100
			c.set(0, a)
			c.set(1, b)
			l1, l2 := c.compare(0, 1), c.compare(1, 0)
			if l1 != l2 {
				t.Fatalf("%v: compare(%q, %q)=%d but reversed %d", k, a, b, l1, l2)
			}
			if int(l1) >= len(kindLevels[k]) {
				t.Fatalf("%v: level %d out of range", k, l1)
			}
			if c.val[0] != "" && c.val[0] == c.val[1] && l1 != levelExact {
				t.Fatalf("%v: equal values %q not exact", k, c.val[0])
			}
			if (c.val[0] == "" || c.val[1] == "") != (l1 == 0) {
				t.Fatalf("%v: missing level wrong for %q, %q", k, a, b)
			}
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	for _, tc := range []struct {
		kind Kind
		in   string
	}{{Name, "  José O'Brien "}, {Text, "435 S. La Cienega Blvd."}, {Date, "9/4/1956"}, {Phone, "+44 20 7946 0000"}} {
		b.Run("kind="+tc.kind.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Normalize(tc.kind, tc.in)
			}
		})
	}
}

func BenchmarkCompare(b *testing.B) {
	for _, tc := range []struct {
		kind Kind
		a, b string
	}{{Name, "christensen", "kristiansen"}, {Name, "smith", "jones"}, {Text, "pridham street", "pridhamstreet"}, {Date, "19560409", "19650409"}, {ID, "1804974", "1809474"}} {
		b.Run("kind="+tc.kind.String(), func(b *testing.B) {
			c := newColumn(tc.kind, 2)
			c.set(0, tc.a)
			c.set(1, tc.b)
			b.ReportAllocs()
			for b.Loop() {
				c.compare(0, 1)
			}
		})
	}
}

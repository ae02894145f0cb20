package match

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestJaroWinkler(t *testing.T) {
	tests := []struct {
		name, a, b string
		want       float64
	}{
		{"identical", "martha", "martha", 1},
		{"transposition", "MARTHA", "MARHTA", 0.961},
		{"classic dwayne", "DWAYNE", "DUANE", 0.840},
		{"classic dixon", "DIXON", "DICKSONX", 0.813},
		{"no boost below 0.7", "SN", "STFN", 0.583},
		{"nothing shared", "abc", "xyz", 0},
		{"one empty", "", "abc", 0},
		{"both empty", "", "", 1},
		{"runes, not bytes", "zoë", "zoe", 0.822},
		{"prefix boost capped at four", "jonathan", "jonathon", 0.95},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := JaroWinkler(tt.a, tt.b); math.Abs(got-tt.want) > 0.001 {
				t.Errorf("JaroWinkler(%q, %q)=%.4f, want %.3f", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestEditDistances(t *testing.T) {
	tests := []struct {
		name, a, b string
		lev, osa   int
	}{
		{"equal", "smith", "smith", 0, 0},
		{"substitution", "smith", "smyth", 1, 1},
		{"insertion", "smith", "smiths", 1, 1},
		{"deletion", "smith", "smth", 1, 1},
		{"transposition", "smith", "smtih", 2, 1},
		{"empty", "", "abc", 3, 3},
		{"kitten", "kitten", "sitting", 3, 3},
		{"runes", "jönsson", "jonsson", 1, 1},
		{"osa is not full damerau", "ca", "abc", 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Levenshtein(tt.a, tt.b); got != tt.lev {
				t.Errorf("Levenshtein=%d, want %d", got, tt.lev)
			}
			if got := DamerauLevenshtein(tt.a, tt.b); got != tt.osa {
				t.Errorf("DamerauLevenshtein=%d, want %d", got, tt.osa)
			}
		})
	}
}

func randWord(rng *rand.Rand, alphabet string, maxLen int) string {
	n := rng.IntN(maxLen + 1)
	b := make([]rune, n)
	letters := []rune(alphabet)
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	return string(b)
}

// TestBoundsAgree checks the fast paths against the plain computations on random strings:
// withinEdits equals DamerauLevenshtein <= k, jwUpper never falls below JaroWinkler, and
// both measures are symmetric.
func TestBoundsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, alphabet := range []string{"ab", "abcde", "abcdefghijklmnopqrstuvwxyz", "aéöü1 "} {
		for i := 0; i < 20000; i++ {
			a, b := randWord(rng, alphabet, 9), randWord(rng, alphabet, 9)
			if rng.IntN(3) == 0 { // near misses are where the bounds matter
				b = a
				if len(b) > 0 {
					r := []rune(b)
					r[rng.IntN(len(r))] = []rune(alphabet)[0]
					b = string(r)
				}
			}
			d := DamerauLevenshtein(a, b)
			for k := 1; k <= 2; k++ {
				if got := withinEdits(a, b, k); got != (d <= k) {
					t.Fatalf("withinEdits(%q, %q, %d)=%v, distance %d", a, b, k, got, d)
				}
			}
			jw := JaroWinkler(a, b)
			if ub := jwUpper(a, b, signature(a), signature(b)); ub < jw-1e-12 {
				t.Fatalf("jwUpper(%q, %q)=%v below JaroWinkler %v", a, b, ub, jw)
			}
			if jw2 := JaroWinkler(b, a); math.Abs(jw-jw2) > 1e-12 {
				t.Fatalf("JaroWinkler not symmetric on %q, %q: %v vs %v", a, b, jw, jw2)
			}
			if d != DamerauLevenshtein(b, a) {
				t.Fatalf("DamerauLevenshtein not symmetric on %q, %q", a, b)
			}
		}
	}
}

func BenchmarkJaroWinkler(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		JaroWinkler("christensen", "kristiansen")
	}
}

func BenchmarkWithinEdits(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		withinEdits("19560409", "19650409", 1)
		withinEdits("1804974", "1809474", 2)
	}
}

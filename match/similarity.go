package match

import "unicode/utf8"

// JaroWinkler returns the Jaro-Winkler similarity of a and b in [0, 1], compared by rune:
// the Jaro similarity boosted by up to four common leading characters (scale 0.1) when the
// Jaro similarity is above 0.7, as Winkler defined it.
func JaroWinkler(a, b string) float64 {
	if a == b {
		return 1
	}
	if isASCII(a) && isASCII(b) {
		return jaroWinkler([]byte(a), []byte(b))
	}
	return jaroWinkler([]rune(a), []rune(b))
}

// Jaro returns the Jaro similarity of a and b in [0, 1].
func Jaro(a, b string) float64 {
	if a == b {
		return 1
	}
	if isASCII(a) && isASCII(b) {
		return jaro([]byte(a), []byte(b))
	}
	return jaro([]rune(a), []rune(b))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func jaroWinkler[T byte | rune](a, b []T) float64 {
	j := jaro(a, b)
	if j <= 0.7 {
		return j
	}
	l := 0
	for l < 4 && l < len(a) && l < len(b) && a[l] == b[l] {
		l++
	}
	return j + float64(l)*0.1*(1-j)
}

func jaro[T byte | rune](a, b []T) float64 {
	la, lb := len(a), len(b)
	if la == 0 && lb == 0 {
		return 1
	}
	if la == 0 || lb == 0 {
		return 0
	}
	window := max(la, lb)/2 - 1
	if window < 0 {
		window = 0
	}
	var bufA, bufB [64]bool
	var ma, mb []bool
	if la <= 64 && lb <= 64 {
		ma, mb = bufA[:la], bufB[:lb]
	} else {
		ma, mb = make([]bool, la), make([]bool, lb)
	}
	matches := 0
	for i := 0; i < la; i++ {
		lo, hi := max(0, i-window), min(lb, i+window+1)
		for k := lo; k < hi; k++ {
			if !mb[k] && a[i] == b[k] {
				ma[i], mb[k] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	transpositions, k := 0, 0
	for i := 0; i < la; i++ {
		if !ma[i] {
			continue
		}
		for !mb[k] {
			k++
		}
		if a[i] != b[k] {
			transpositions++
		}
		k++
	}
	m := float64(matches)
	return (m/float64(la) + m/float64(lb) + (m-float64(transpositions/2))/m) / 3
}

// Levenshtein returns the edit distance between a and b by rune: insertions, deletions and
// substitutions each cost one.
func Levenshtein(a, b string) int {
	if isASCII(a) && isASCII(b) {
		return editDistance([]byte(a), []byte(b), false)
	}
	return editDistance([]rune(a), []rune(b), false)
}

// DamerauLevenshtein returns the optimal-string-alignment distance between a and b by rune:
// Levenshtein plus the transposition of two adjacent characters at cost one.
func DamerauLevenshtein(a, b string) int {
	if isASCII(a) && isASCII(b) {
		return editDistance([]byte(a), []byte(b), true)
	}
	return editDistance([]rune(a), []rune(b), true)
}

func editDistance[T byte | rune](a, b []T, transpose bool) int {
	la, lb := len(a), len(b)
	if la == 0 {
		return lb
	}
	if lb == 0 {
		return la
	}
	var buf [3 * 65]int
	var prev2, prev, cur []int
	if lb < 65 {
		prev2, prev, cur = buf[0:lb+1], buf[65:65+lb+1], buf[130:130+lb+1]
	} else {
		prev2, prev, cur = make([]int, lb+1), make([]int, lb+1), make([]int, lb+1)
	}
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= la; i++ {
		cur[0] = i
		for j := 1; j <= lb; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if transpose && i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[lb]
}

// withinEdits reports whether the optimal-string-alignment distance of a and b is at most k,
// skipping the full computation when the lengths alone rule it out.
func withinEdits(a, b string, k int) bool {
	d := len(a) - len(b)
	if d < 0 {
		d = -d
	}
	if d > k*utf8.UTFMax {
		return false
	}
	if isASCII(a) && isASCII(b) && d > k {
		return false
	}
	return DamerauLevenshtein(a, b) <= k
}

package match

import (
	"math/bits"
	"unicode/utf8"
)

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
// without computing the distance when it can stop early.
func withinEdits(a, b string, k int) bool {
	if isASCII(a) && isASCII(b) {
		if k == 1 {
			return within1(a, b)
		}
		return boundedDistance([]byte(a), []byte(b), k)
	}
	return boundedDistance([]rune(a), []rune(b), k)
}

// within1 is withinEdits(a, b, 1) for bytes, in one pass.
func within1(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	la, lb := len(a), len(b)
	if lb-la > 1 {
		return false
	}
	i := 0
	for i < la && a[i] == b[i] {
		i++
	}
	if i == la {
		return true
	}
	if la == lb {
		if a[i+1:] == b[i+1:] {
			return true
		}
		return i+1 < la && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
	}
	return a[i:] == b[i+1:]
}

// boundedDistance reports whether the optimal-string-alignment distance is at most k,
// stopping as soon as a whole row of the table exceeds k.
func boundedDistance[T byte | rune](a, b []T, k int) bool {
	la, lb := len(a), len(b)
	if d := la - lb; d > k || -d > k {
		return false
	}
	if la == 0 || lb == 0 {
		return true
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
		rowMin := i
		for j := 1; j <= lb; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
			rowMin = min(rowMin, d)
		}
		if rowMin > k {
			return false
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[lb] <= k
}

// charSig summarises a string's characters for a quick upper bound on Jaro-Winkler: bit b
// of mask k is set when at least k+1 characters fall in bucket b (letters have their own
// bucket; other characters share the rest). n is the length in runes.
type charSig struct {
	mask [4]uint32
	n    int
}

func signature(s string) charSig {
	var cnt [32]uint8
	var sg charSig
	for _, r := range s {
		sg.n++
		var b int
		switch {
		case r >= 'a' && r <= 'z':
			b = int(r - 'a')
		default:
			b = 26 + int(r)%6
		}
		if cnt[b] < 255 {
			cnt[b]++
		}
	}
	for b, c := range cnt {
		if c > 4 { // counts past four are not tracked: give up on bounding this one
			return charSig{mask: [4]uint32{^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0)}, n: sg.n}
		}
		for k := 0; k < int(c); k++ {
			sg.mask[k] |= 1 << b
		}
	}
	return sg
}

// jwUpper bounds JaroWinkler(a, b) from above using the signatures: the Jaro matches are at
// most the characters the two have in common.
func jwUpper(a, b string, sa, sb charSig) float64 {
	if a == b {
		return 1
	}
	if sa.n == 0 || sb.n == 0 {
		return 0
	}
	common := 0
	for k := range sa.mask {
		common += bits.OnesCount32(sa.mask[k] & sb.mask[k])
	}
	m := float64(min(common, sa.n, sb.n))
	if m == 0 {
		return 0
	}
	j := (m/float64(sa.n) + m/float64(sb.n) + 1) / 3
	if j <= 0.7 {
		return j
	}
	l := 0
	for l < 4 && l < len(a) && l < len(b) && a[l] == b[l] {
		l++
	}
	return j + float64(l)*0.1*(1-j)
}

package match

import (
	"cmp"
	"slices"
	"strings"
)

// keyKind is a blocking key derived from one field's normalised value.
type keyKind uint8

const (
	keyExact     keyKind = iota // the normalised value
	keyPhonetic                 // Name: Soundex
	keySquashed                 // Text: without spaces
	keyFirstWord                // Text: the first word
	keyYear                     // Date: the year
	keyMonthDay                 // Date: month and day
	keyLocal                    // Email: the local part
	keyLast7                    // Phone: the last seven digits
	keyRareWord                 // Text: the word fewest records of the column have
)

var keyNames = [...]string{"exact", "sounds alike", "without spaces", "first word", "year", "month and day", "local part", "last 7 digits", "rarest word"}

// keysFor lists the blocking keys a kind offers, finest first.
func keysFor(k Kind) []keyKind {
	switch k {
	case Name:
		return []keyKind{keyExact, keyPhonetic}
	case Text:
		return []keyKind{keySquashed, keyFirstWord, keyRareWord}
	case Date:
		return []keyKind{keyExact, keyYear, keyMonthDay}
	case Email:
		return []keyKind{keyExact, keyLocal}
	case Phone:
		return []keyKind{keyLast7}
	case Postcode, Numeric, ID, Category:
		return []keyKind{keyExact}
	}
	return nil
}

// implies reports whether agreeing on key a always means agreeing on key b.
func implies(a, b keySpec) bool {
	if a.field != b.field {
		return false
	}
	return a.kind == b.kind || a.kind == keyExact || (a.kind == keySquashed && b.kind == keyExact)
}

// keySpec is a key of one field.
type keySpec struct {
	field int
	kind  keyKind
}

// value returns record i's key, "" when it has none.
func (c *column) key(k keyKind, i int) string {
	v := c.val[i]
	if v == "" {
		return ""
	}
	switch k {
	case keyPhonetic, keyLocal, keyLast7, keySquashed:
		return c.alt[i]
	case keyRareWord:
		return c.rare[i]
	case keyFirstWord:
		if sp := strings.IndexByte(v, ' '); sp > 0 {
			return v[:sp]
		}
		return v
	case keyYear:
		if len(v) == 8 {
			return v[:4]
		}
		return ""
	case keyMonthDay:
		if len(v) == 8 {
			return v[4:]
		}
		return ""
	}
	return v
}

// Rule is a blocking rule: records agreeing on every key are compared.
type rule struct {
	keys  []keySpec
	pairs float64 // estimated pairs it proposes
}

func (r rule) describe(s Schema) string {
	parts := make([]string, len(r.keys))
	for i, k := range r.keys {
		parts[i] = s.Fields[k.field].Name + " " + keyNames[k.kind]
	}
	return strings.Join(parts, " & ")
}

const fnvOffset, fnvPrime = 14695981039346656037, 1099511628211

func hashString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// ruleHashes returns each record's block hash under the rule (0 = not blocked).
func ruleHashes(cols []*column, r rule, idx []int, out []uint64) {
	for o, i := range idx {
		h := uint64(fnvOffset)
		for _, k := range r.keys {
			v := cols[k.field].key(k.kind, i)
			if v == "" {
				h = 0
				break
			}
			h = hashString(h^uint64(k.field)<<8^uint64(k.kind), v)
			h = hashString(h, "\x00")
		}
		out[o] = h
	}
}

// blockSizes groups hashes (0 excluded) and returns the estimated pairs of blocks no
// larger than maxBlock, and the share of keyed records that sat in larger blocks.
func blockStats(hashes []uint64, sources []int, link bool, scale float64, maxBlock int) (pairs, dropped float64) {
	type cnt struct{ a, b int }
	counts := make(map[uint64]cnt, len(hashes))
	keyed := 0
	for i, h := range hashes {
		if h == 0 {
			continue
		}
		keyed++
		c := counts[h]
		if link && sources[i] == 1 {
			c.b++
		} else {
			c.a++
		}
		counts[h] = c
	}
	droppedN := 0
	for _, c := range counts {
		size := float64(c.a+c.b) * scale
		if size > float64(maxBlock) {
			droppedN += c.a + c.b
			continue
		}
		if link {
			pairs += float64(c.a) * float64(c.b) * scale * scale
		} else {
			pairs += float64(c.a) * float64(c.a-1) / 2 * scale * scale
		}
	}
	if keyed > 0 {
		dropped = float64(droppedN) / float64(keyed)
	}
	return pairs, dropped
}

// chooseRules picks blocking rules for the data: single keys and pairs of keys from two
// fields, each proposing at most ruleBudget pairs, coarsest first, skipping a rule that an
// accepted one already covers, until the total budget or maxRules is reached. Counting uses
// the records in idx (a sample), scaled to n.
func chooseRules(cols []*column, idx []int, n int, sources []int, link bool, ruleBudget, totalBudget float64, maxBlock, maxRules int) []rule {
	var keys []keySpec
	for f, c := range cols {
		for _, k := range keysFor(c.kind) {
			keys = append(keys, keySpec{f, k})
		}
	}
	scale := float64(n) / float64(len(idx))
	sampleSources := make([]int, len(idx))
	if link {
		for o, i := range idx {
			sampleSources[o] = sources[i]
		}
	}
	var cands []rule
	hashes := make([]uint64, len(idx))
	try := func(r rule) {
		ruleHashes(cols, r, idx, hashes)
		p, dropped := blockStats(hashes, sampleSources, link, scale, maxBlock)
		if p >= 1 && p <= ruleBudget && dropped <= 0.05 {
			r.pairs = p
			cands = append(cands, r)
		}
	}
	for _, k := range keys {
		try(rule{keys: []keySpec{k}})
	}
	for a := range keys {
		for b := a + 1; b < len(keys); b++ {
			if keys[a].field != keys[b].field {
				try(rule{keys: []keySpec{keys[a], keys[b]}})
			}
		}
	}
	// Coarsest first; ties by fewer keys, then by position, for a deterministic choice.
	slices.SortStableFunc(cands, func(x, y rule) int {
		if c := cmp.Compare(y.pairs, x.pairs); c != 0 {
			return c
		}
		return cmp.Compare(len(x.keys), len(y.keys))
	})
	// First the cheapest rules, within a fifth of the budget: they cost little and catch
	// pairs that agree on a rare value (an id, a birth date) whatever else went wrong. Then
	// the coarsest rules that are not covered yet, until the budget or maxRules is reached.
	var chosen []rule
	taken := make([]bool, len(cands))
	total := 0.0
	cheap := totalBudget / 5
	for k := len(cands) - 1; k >= 0 && len(chosen) < maxRules/2; k-- {
		c := cands[k]
		if total+c.pairs > cheap {
			break
		}
		if covered(c, chosen) || coarserCheap(c, cands, cheap) {
			continue
		}
		chosen = append(chosen, c)
		taken[k] = true
		total += c.pairs
	}
	for k, c := range cands {
		if len(chosen) >= maxRules {
			break
		}
		if taken[k] || total+c.pairs > totalBudget || covered(c, chosen) {
			continue
		}
		chosen = append(chosen, c)
		total += c.pairs
	}
	return chosen
}

// coarserCheap reports whether another candidate rule, itself within the cheap budget,
// proposes every pair that r does: then that one is worth taking instead.
func coarserCheap(r rule, cands []rule, cheap float64) bool {
	for _, c := range cands {
		if c.pairs <= cheap && c.pairs > r.pairs && covered(r, []rule{c}) {
			return true
		}
	}
	return false
}

// covered reports whether an accepted rule proposes every pair that r would.
func covered(r rule, accepted []rule) bool {
	for _, a := range accepted {
		all := true
		for _, ak := range a.keys {
			found := false
			for _, rk := range r.keys {
				if implies(rk, ak) {
					found = true
					break
				}
			}
			if !found {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// pairIndex is a candidate pair of record positions, A < B.
type pairIndex struct{ a, b int32 }

// blockPairs enumerates the distinct pairs the rules propose, each once, in a deterministic
// order: by rule, then by block hash, then by position. Blocks larger than maxBlock are
// skipped. When linking, only pairs from different sources are proposed.
func blockPairs(cols []*column, rules []rule, n int, sources []int, link bool, maxBlock int) []pairIndex {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	hashes := make([][]uint64, len(rules))
	type hi struct {
		h uint64
		i int32
	}
	orders := make([][]hi, len(rules))
	for r := range rules {
		hs := make([]uint64, n)
		ruleHashes(cols, rules[r], idx, hs)
		order := make([]hi, 0, n)
		for i, h := range hs {
			if h != 0 {
				order = append(order, hi{h, int32(i)})
			}
		}
		slices.SortFunc(order, func(x, y hi) int {
			if c := cmp.Compare(x.h, y.h); c != 0 {
				return c
			}
			return cmp.Compare(x.i, y.i)
		})
		// Records in oversized blocks have no key under this rule.
		for s := 0; s < len(order); {
			e := s + 1
			for e < len(order) && order[e].h == order[s].h {
				e++
			}
			if e-s > maxBlock {
				for k := s; k < e; k++ {
					hs[order[k].i] = 0
				}
			}
			s = e
		}
		hashes[r] = hs
		orders[r] = order
	}
	var out []pairIndex
	for r, order := range orders {
		hs := hashes[r]
		for s := 0; s < len(order); {
			e := s + 1
			for e < len(order) && order[e].h == order[s].h {
				e++
			}
			if e-s > maxBlock || e-s < 2 {
				s = e
				continue
			}
			for x := s; x < e; x++ {
				a := order[x].i
				for y := x + 1; y < e; y++ {
					b := order[y].i
					if link && sources[a] == sources[b] {
						continue
					}
					dup := false
					for q := 0; q < r; q++ {
						if h := hashes[q][a]; h != 0 && h == hashes[q][b] {
							dup = true
							break
						}
					}
					if !dup {
						out = append(out, pairIndex{a, b})
					}
				}
			}
			_ = hs
			s = e
		}
	}
	return out
}

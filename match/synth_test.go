package match_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/mosaic-cdp/mosaic/match"
)

// synthPeople generates febrl-like person records: originals drawn from skewed (Zipf) name,
// street and suburb tables, and duplicates of some of them corrupted with typos, missing
// values, swapped names and changed addresses. It returns the records (IDs are opaque and
// carry no entity) and each record's entity.
func synthPeople(n int, seed uint64) (match.Schema, []match.Record, []int) {
	rng := rand.New(rand.NewPCG(seed, 42))
	word := func(minSyl, maxSyl int) string {
		const cons = "bcdfghjklmnprstvwyz"
		const vows = "aeiou"
		var b strings.Builder
		syl := minSyl + rng.IntN(maxSyl-minSyl+1)
		for i := 0; i < syl; i++ {
			b.WriteByte(cons[rng.IntN(len(cons))])
			b.WriteByte(vows[rng.IntN(len(vows))])
			if rng.IntN(3) == 0 {
				b.WriteByte(cons[rng.IntN(len(cons))])
			}
		}
		return b.String()
	}
	table := func(size, minSyl, maxSyl int) []string {
		seen := map[string]bool{}
		out := make([]string, 0, size)
		for len(out) < size {
			w := word(minSyl, maxSyl)
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
		return out
	}
	scale := max(1, n/5000)
	givens := table(800*int(math.Sqrt(float64(scale))), 1, 3)
	surnames := table(2000*int(math.Sqrt(float64(scale))), 2, 3)
	streets := table(1500*scale, 2, 3)
	suburbs := table(400*scale, 2, 3)
	postcodes := make([]string, len(suburbs))
	for i := range postcodes {
		postcodes[i] = fmt.Sprintf("%04d", 1000+rng.IntN(8999))
	}
	states := []string{"nsw", "vic", "qld", "wa", "sa", "tas", "act", "nt"}
	kinds := []string{"street", "road", "place", "avenue", "crescent", "close"}
	zipf := func(size int) int {
		// P(k) ∝ 1/(k+1): a few very common values, a long tail of rare ones.
		u := rng.Float64()
		return min(size-1, int(math.Exp(u*math.Log(float64(size+1))))-1)
	}
	type person struct{ v [10]string }
	newPerson := func() person {
		var p person
		sub := zipf(len(suburbs))
		p.v = [10]string{
			givens[zipf(len(givens))],
			surnames[zipf(len(surnames))],
			fmt.Sprint(1 + zipf(400)),
			streets[rng.IntN(len(streets))] + " " + kinds[rng.IntN(len(kinds))],
			"",
			suburbs[sub],
			postcodes[sub],
			states[zipf(len(states))],
			fmt.Sprintf("%04d%02d%02d", 1920+rng.IntN(90), 1+rng.IntN(12), 1+rng.IntN(28)),
			fmt.Sprintf("%07d", rng.IntN(10_000_000)),
		}
		if rng.IntN(3) == 0 {
			p.v[4] = word(2, 3) + " " + []string{"house", "villa", "estate", "farm"}[rng.IntN(4)]
		}
		return p
	}
	typo := func(s string) string {
		if len(s) < 2 {
			return s
		}
		b := []byte(s)
		i := rng.IntN(len(b))
		switch rng.IntN(4) {
		case 0: // substitute
			b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
			if s[i] >= '0' && s[i] <= '9' {
				b[i] = byte('0' + rng.IntN(10))
			}
		case 1: // delete
			b = append(b[:i], b[i+1:]...)
		case 2: // insert
			b = append(b[:i], append([]byte{b[i]}, b[i:]...)...)
		case 3: // transpose
			if i+1 < len(b) {
				b[i], b[i+1] = b[i+1], b[i]
			}
		}
		return string(b)
	}
	originals := n / 2
	var records []match.Record
	var entity []int
	people := make([]person, originals)
	for i := range people {
		people[i] = newPerson()
		records = append(records, match.Record{Values: people[i].v[:]})
		entity = append(entity, i)
	}
	dups := make([]int, originals)
	for len(records) < n {
		e := rng.IntN(originals)
		if dups[e] >= 5 { // at most five duplicates per person, as in febrl
			continue
		}
		if dups[e] == 0 && rng.IntN(3) > 0 { // a person seen again is likely seen more
			continue
		}
		dups[e]++
		p := people[e]
		mods := 1 + rng.IntN(4)
		for k := 0; k < mods; k++ {
			f := rng.IntN(10)
			switch r := rng.IntN(10); {
			case r < 6:
				p.v[f] = typo(p.v[f])
			case r < 8:
				p.v[f] = ""
			case r < 9 && f <= 1:
				p.v[0], p.v[1] = p.v[1], p.v[0]
			default:
				p.v[f] = newPerson().v[f]
			}
		}
		v := p.v
		records = append(records, match.Record{Values: v[:]})
		entity = append(entity, e)
	}
	// Shuffle so that position says nothing about entity, then give opaque IDs.
	rng.Shuffle(len(records), func(i, j int) {
		records[i], records[j] = records[j], records[i]
		entity[i], entity[j] = entity[j], entity[i]
	})
	for i := range records {
		records[i].ID = fmt.Sprintf("r%d", i)
	}
	s := match.Schema{Fields: []match.Field{
		{"given_name", match.Name}, {"surname", match.Name}, {"street_number", match.Numeric},
		{"address_1", match.Text}, {"address_2", match.Text}, {"suburb", match.Name},
		{"postcode", match.Postcode}, {"state", match.Category}, {"date_of_birth", match.Date},
		{"soc_sec_id", match.ID},
	}}
	return s, records, entity
}

// truthOf lists every pair of records of the same entity.
func truthOf(entity []int) [][2]int {
	by := map[int][]int{}
	for i, e := range entity {
		by[e] = append(by[e], i)
	}
	var out [][2]int
	for _, g := range by {
		for a := 0; a < len(g); a++ {
			for b := a + 1; b < len(g); b++ {
				out = append(out, [2]int{g[a], g[b]})
			}
		}
	}
	return out
}

// customers generates CRM-like customer records, as a store's profiles give them: first and
// last names from short lists (so that many customers share one), birthday, postcode, city,
// street and an email made of the names and a number (so that namesakes' emails differ by
// a character or two). The first dups customers have a second record with a typo in the
// last name, the street in capitals or no city, and another email. Each record's entity is
// its customer's position.
func customers(n, dups int, seed uint64) (match.Schema, []match.Record, []int) {
	rng := rand.New(rand.NewPCG(seed, 8))
	first := []string{"ada", "alan", "grace", "edsger", "barbara", "donald", "frances", "john", "margaret", "dennis", "ken", "radia", "tim", "sophie", "karen", "leslie", "niklaus", "guido", "bjarne", "anita"}
	last := []string{"lovelace", "turing", "hopper", "dijkstra", "liskov", "knuth", "allen", "backus", "hamilton", "ritchie", "thompson", "perlman", "berners", "wilson", "jones", "lamport", "wirth", "rossum", "stroustrup", "borg"}
	cities := []string{"copenhagen", "aarhus", "odense", "aalborg", "esbjerg", "randers", "kolding", "horsens", "vejle", "roskilde"}
	s := match.Schema{Fields: []match.Field{
		{"first_name", match.Name}, {"last_name", match.Name}, {"birthday", match.Date}, {"postcode", match.Postcode},
		{"city", match.Category}, {"street", match.Text}, {"email", match.Email},
	}}
	var records []match.Record
	var entity []int
	for i := range n {
		v := []string{first[rng.IntN(len(first))], last[rng.IntN(len(last))],
			fmt.Sprintf("19%02d-%02d-%02d", 40+rng.IntN(60), 1+rng.IntN(12), 1+rng.IntN(28)),
			fmt.Sprintf("%04d", 1000+rng.IntN(9000)), cities[rng.IntN(len(cities))],
			fmt.Sprintf("%d %s street", 1+rng.IntN(200), last[rng.IntN(len(last))]), ""}
		v[6] = fmt.Sprintf("%s.%s%d@example.com", v[0], v[1], i)
		records = append(records, match.Record{ID: fmt.Sprintf("crm-%d", i), Values: v})
		entity = append(entity, i)
		if i < dups {
			d := slices.Clone(v)
			d[6] = fmt.Sprintf("%s%d@mail.example", v[0], rng.IntN(1000))
			switch i % 3 {
			case 0:
				if l := d[1]; len(l) >= 3 {
					j := 1 + rng.IntN(len(l)-2)
					d[1] = l[:j] + l[j+1:j+2] + l[j:j+1] + l[j+2:]
				}
			case 1:
				d[5] = strings.ToUpper(d[5])
			default:
				d[4] = ""
			}
			records = append(records, match.Record{ID: fmt.Sprintf("web-%d", i), Values: d})
			entity = append(entity, i)
		}
	}
	return s, records, entity
}

// originals keeps the first record of each entity: a data set without duplicates.
func originals(records []match.Record, entity []int) []match.Record {
	seen := map[int]bool{}
	var out []match.Record
	for i, r := range records {
		if !seen[entity[i]] {
			seen[entity[i]] = true
			out = append(out, r)
		}
	}
	return out
}

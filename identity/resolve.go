package identity

import (
	"cmp"
	"slices"
	"time"

	"github.com/mosaic-cdp/mosaic"
)

// EdgeKind says how a link was established (see mosaic.EdgeKind).
type EdgeKind = mosaic.EdgeKind

// Edge kinds, in the order they are applied: explicit links first.
const (
	EdgeAlias         = mosaic.EdgeAlias
	EdgeImplicit      = mosaic.EdgeImplicit
	EdgeProbabilistic = mosaic.EdgeProbabilistic
)

func rank(k EdgeKind) int {
	switch k {
	case EdgeAlias:
		return 0
	case EdgeImplicit:
		return 1
	}
	return 2
}

// Edge links two identifiers, with its evidence.
type Edge struct {
	A, B      mosaic.Identifier
	Kind      EdgeKind
	EventTime time.Time       // when the evidence happened (event time, not arrival)
	Evidence  string          // messageId or record id
	SourceID  mosaic.SourceID // where the evidence came from
}

// Pair is an unordered pair of identifiers (A sorts before B).
type Pair struct{ A, B mosaic.Identifier }

// MakePair returns the canonical pair of a and b.
func MakePair(a, b mosaic.Identifier) Pair {
	if identLess(b, a) {
		a, b = b, a
	}
	return Pair{a, b}
}

func identLess(a, b mosaic.Identifier) bool {
	if a.Type != b.Type {
		return a.Type < b.Type
	}
	return a.Value < b.Value
}

func identCompare(a, b mosaic.Identifier) int {
	return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Value, b.Value))
}

// EventEdges returns the edges one event establishes among its identifiers: a star around
// its highest-priority identifier (the anchor), so that a refused link of the anchor does not
// drag the event's other identifiers into someone else's profile. An alias call links
// previousId to userId explicitly.
func (n *Normalizer) EventEdges(ids []mosaic.Identifier, kind EdgeKind, at time.Time, evidence string, src mosaic.SourceID) []Edge {
	if len(ids) < 2 {
		return nil
	}
	anchor, _ := n.Anchor(ids)
	edges := make([]Edge, 0, len(ids)-1)
	for _, id := range ids {
		if id != anchor {
			edges = append(edges, Edge{A: anchor, B: id, Kind: kind, EventTime: at, Evidence: evidence, SourceID: src})
		}
	}
	return edges
}

// Priority returns the priority of an identifier type (lower wins; undeclared types last).
func (n *Normalizer) Priority(t mosaic.IdentifierType) int { return n.priority(t) }

func (n *Normalizer) priority(t mosaic.IdentifierType) int {
	if r, ok := n.rules[t]; ok {
		return r.Priority
	}
	return 1 << 30
}

// Constraints are a steward's corrections, which resolution always honours.
type Constraints struct {
	Blocked map[Pair]bool              // these two identifiers are never in one profile
	Removed map[mosaic.Identifier]bool // these identifiers merge with nothing
	Hubs    map[mosaic.Identifier]bool // known hubs (also detected from the edges)
}

// Refusal is a link that was not made, and why.
type Refusal struct {
	Edge   Edge
	Reason string // "limit:<type>", "blocked", "removed", "hub", "max_identifiers", "max_merges"
}

// Result is the partition of a set of identifiers into profiles.
type Result struct {
	// Groups are the profiles: each sorted, and the groups sorted by their first identifier.
	Groups [][]mosaic.Identifier
	// Refused lists the links not made, in the order they were considered.
	Refused []Refusal
	// Hubs are identifiers seen with more distinct values of one person key (user ids, or
	// another type with a limit of 1) than the hub threshold; they stop merging and are
	// flagged.
	Hubs []mosaic.Identifier
	// Capped lists groups (by first identifier) that hit MaxIdentifiers or MaxMerges and are
	// flagged for review.
	Capped []mosaic.Identifier
}

// personKey reports whether a profile holds at most one value of type t: user ids, and the
// declared types with a limit of 1 (a customer number). A value seen with many of them is
// shared by many people.
func (n *Normalizer) personKey(t mosaic.IdentifierType) bool {
	if t == mosaic.IdentifierUserID {
		return true
	}
	r := n.rules[t]
	return r != nil && r.Limit == 1
}

// Resolve partitions nodes (plus every identifier the edges mention) into profiles. It is a
// pure function of its inputs' contents: the order of nodes and edges does not matter.
func (n *Normalizer) Resolve(nodes []mosaic.Identifier, edges []Edge, c Constraints) Result {
	hubThreshold := cmp.Or(n.cfg.HubThreshold, DefaultHubThreshold)
	maxIDs := cmp.Or(n.cfg.MaxIdentifiers, DefaultMaxIdentifiers)
	maxMerges := cmp.Or(n.cfg.MaxMerges, DefaultMaxMerges)

	// Hubs: values seen with too many distinct values of one person key, a type a profile
	// holds one of (user ids, and declared types such as a customer number with limit 1),
	// counted per type up to one past the threshold.
	type keyOf struct {
		id  mosaic.Identifier
		typ mosaic.IdentifierType
	}
	users := map[keyOf][]string{}
	for _, e := range edges {
		for _, p := range [2][2]mosaic.Identifier{{e.A, e.B}, {e.B, e.A}} {
			if p[1].Type != p[0].Type && n.personKey(p[1].Type) {
				k := keyOf{p[0], p[1].Type}
				if us := users[k]; len(us) <= hubThreshold && !slices.Contains(us, p[1].Value) {
					users[k] = append(us, p[1].Value)
				}
			}
		}
	}
	hubs := map[mosaic.Identifier]bool{}
	for id := range c.Hubs {
		hubs[id] = true
	}
	for k, us := range users {
		if len(us) > hubThreshold {
			hubs[k.id] = true
		}
	}

	// Union-find over every identifier, with per-group state.
	index := map[mosaic.Identifier]int{}
	var ids []mosaic.Identifier
	add := func(id mosaic.Identifier) int {
		if i, ok := index[id]; ok {
			return i
		}
		index[id] = len(ids)
		ids = append(ids, id)
		return len(ids) - 1
	}
	for _, id := range nodes {
		add(id)
	}
	sorted := slices.Clone(edges)
	for _, e := range sorted {
		add(e.A)
		add(e.B)
	}
	slices.SortFunc(sorted, func(a, b Edge) int {
		return cmp.Or(cmp.Compare(rank(a.Kind), rank(b.Kind)), a.EventTime.Compare(b.EventTime),
			cmp.Compare(a.Evidence, b.Evidence), identCompare(MakePair(a.A, a.B).A, MakePair(b.A, b.B).A),
			identCompare(MakePair(a.A, a.B).B, MakePair(b.A, b.B).B), cmp.Compare(a.SourceID, b.SourceID))
	})
	type group struct {
		members []int
		counts  typeCounts
		merges  int
		capped  bool
	}
	parent := make([]int, len(ids))
	groups := make([]*group, len(ids))
	all := make([]group, len(ids)) // one allocation for the groups, one for their first members
	first := make([]int, len(ids))
	for i, id := range ids {
		parent[i], first[i] = i, i
		all[i] = group{members: first[i : i+1 : i+1], counts: typeCounts{{id.Type, 1}}}
		groups[i] = &all[i]
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	blockedAcross := func(a, b *group) bool {
		if len(c.Blocked) == 0 {
			return false
		}
		small, large := a, b
		if len(small.members) > len(large.members) {
			small, large = large, small
		}
		in := make(map[mosaic.Identifier]bool, len(large.members))
		for _, m := range large.members {
			in[ids[m]] = true
		}
		for p := range c.Blocked {
			for _, m := range small.members {
				if id := ids[m]; id == p.A && in[p.B] || id == p.B && in[p.A] {
					return true
				}
			}
		}
		return false
	}
	var res Result
	for _, e := range sorted {
		refuse := func(reason string) { res.Refused = append(res.Refused, Refusal{Edge: e, Reason: reason}) }
		if e.A == e.B {
			continue
		}
		switch {
		case c.Removed[e.A] || c.Removed[e.B]:
			refuse("removed")
			continue
		case hubs[e.A] || hubs[e.B]:
			refuse("hub")
			continue
		case c.Blocked[MakePair(e.A, e.B)]:
			refuse("blocked")
			continue
		}
		ra, rb := find(index[e.A]), find(index[e.B])
		if ra == rb {
			continue
		}
		ga, gb := groups[ra], groups[rb]
		if e.Kind != EdgeAlias {
			if t, over := n.overLimit(ga.counts, gb.counts); over {
				refuse("limit:" + string(t))
				continue
			}
		}
		big := ga
		if len(gb.members) > len(ga.members) || len(gb.members) == len(ga.members) && gb.merges > ga.merges {
			big = gb
		}
		if len(ga.members)+len(gb.members) > maxIDs {
			big.capped = true
			refuse("max_identifiers")
			continue
		}
		if ga.merges+gb.merges+1 > maxMerges {
			big.capped = true
			refuse("max_merges")
			continue
		}
		if blockedAcross(ga, gb) {
			refuse("blocked")
			continue
		}
		// Union: the larger group absorbs the smaller.
		if len(ga.members) < len(gb.members) {
			ra, rb, ga, gb = rb, ra, gb, ga
		}
		parent[rb] = ra
		ga.members = append(ga.members, gb.members...)
		for _, tc := range gb.counts {
			ga.counts = ga.counts.add(tc.t, tc.n)
		}
		ga.merges += gb.merges + 1
		ga.capped = ga.capped || gb.capped
		groups[rb] = nil
	}
	for i := range ids {
		if find(i) != i {
			continue
		}
		g := groups[i]
		members := make([]mosaic.Identifier, len(g.members))
		for k, m := range g.members {
			members[k] = ids[m]
		}
		slices.SortFunc(members, identCompare)
		res.Groups = append(res.Groups, members)
		if g.capped {
			res.Capped = append(res.Capped, members[0])
		}
	}
	slices.SortFunc(res.Groups, func(a, b []mosaic.Identifier) int { return identCompare(a[0], b[0]) })
	slices.SortFunc(res.Capped, identCompare)
	for id := range hubs {
		if _, ok := index[id]; ok {
			res.Hubs = append(res.Hubs, id)
		}
	}
	slices.SortFunc(res.Hubs, identCompare)
	return res
}

// overLimit reports the first limited type (by priority) that two groups together would hold
// more of than the limit allows. A group may already be over a limit through explicit (alias)
// links; an implicit link may join it as long as it adds no further values of that type.
func (n *Normalizer) overLimit(a, b typeCounts) (mosaic.IdentifierType, bool) {
	for _, r := range n.cfg.Rules {
		if r.Limit > 0 {
			ka, kb := a.get(r.Type), b.get(r.Type)
			if ka+kb > max(r.Limit, ka, kb) {
				return r.Type, true
			}
		}
	}
	return "", false
}

// typeCounts counts a group's identifiers by type: a handful of types, so a list.
type typeCounts []struct {
	t mosaic.IdentifierType
	n int
}

func (c typeCounts) get(t mosaic.IdentifierType) int {
	for _, x := range c {
		if x.t == t {
			return x.n
		}
	}
	return 0
}

func (c typeCounts) add(t mosaic.IdentifierType, n int) typeCounts {
	for i := range c {
		if c[i].t == t {
			c[i].n += n
			return c
		}
	}
	return append(c, struct {
		t mosaic.IdentifierType
		n int
	}{t, n})
}

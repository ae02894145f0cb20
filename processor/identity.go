package processor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/traits"
)

// DefaultMaxComponent bounds how many identifiers one recomputation loads.
const DefaultMaxComponent = 5000

// Identity is the identity-resolution stage: it extracts each event's identifiers, links them
// in the identity graph, recomputes the profiles of every component the batch touched (a pure
// function of the component's links, so arrival order does not matter), files each event
// under its anchor identifier, folds identify traits into profiles by survivorship, and
// group traits into groups by the same rules.
type Identity struct {
	Store        mosaic.IdentityService
	Normalizer   *identity.Normalizer
	Traits       *traits.Config
	MaxComponent int
	// CacheSize bounds the identifiers and the links kept in memory (each); 0 means
	// DefaultCacheSize. Only this stage writes the graph, so cached committed state is exact.
	CacheSize int
	// ReplayPage is how many stored events a batch replays while an identity replay runs; 0
	// means DefaultReplayPage.
	ReplayPage int
	Now        func() time.Time

	secret    []byte
	keyer     *identity.Keyer
	profRules *traits.Config // Traits with runners-up kept for traits that hold identifiers
	idCache   genCache[mosaic.IdentifierKey, *mosaic.IdentifierRecord]
	edgeCache genCache[edgeKey, *mosaic.IdentityEdge]
	pending   []*pendingBatch // processed batches not yet committed, oldest first (overlay.go)
}

// Name implements Stage.
func (s *Identity) Name() string { return "identity" }

// eventIDs is what one event contributes to the graph.
type eventIDs struct {
	ev     *mosaic.Event
	anchor mosaic.IdentifierKey
	edges  []*mosaic.IdentityEdge // in stored form
	// replayed marks a stored event resolved again (an identity replay), whose traits its
	// profile holds already; stored is the anchor it was filed under.
	replayed bool
	stored   mosaic.IdentifierKey
}

// seenID is an identifier of a batch and the earliest event time it has there.
type seenID struct {
	id        mosaic.Identifier
	firstSeen time.Time
}

// component is the part of the graph a batch recomputes.
type component struct {
	records map[mosaic.IdentifierKey]*mosaic.IdentifierRecord // stored or new
	edges   map[edgeKey]*mosaic.IdentityEdge
	dirty   map[edgeKey]bool // edges to write
	// rebuild are identifiers whose profiles are rebuilt from their events (QueueProfileRebuild).
	rebuild map[mosaic.IdentifierKey]bool
	// whole makes every recomputation load each profile it touches whole, however small the
	// component (an identity replay: it also repairs a profile whose identifiers fell apart).
	whole bool
}

type edgeKey struct {
	a, b mosaic.IdentifierKey
	kind mosaic.EdgeKind
}

func keyOf(e *mosaic.IdentityEdge) edgeKey { return edgeKey{e.A, e.B, e.Kind} }

// earlier reports whether evidence a precedes b (event time, then messageId).
func earlier(a, b *mosaic.IdentityEdge) bool {
	return a.EventTime.Before(b.EventTime) || a.EventTime.Equal(b.EventTime) && a.Evidence < b.Evidence
}

// Process implements Stage.
func (s *Identity) Process(ctx context.Context, b *Batch) error {
	if s.secret == nil {
		sec, err := s.Store.IdentitySecret(ctx)
		if err != nil {
			return err
		}
		s.secret = sec
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	s.initCache()
	if s.profRules == nil {
		s.profRules = profileRules(s.Traits, s.Normalizer)
	}
	now := s.Now().UTC().Truncate(time.Microsecond)
	ch := &mosaic.IdentityChanges{}
	replayed, err := s.replayPage(ctx, ch)
	if err != nil {
		return err
	}
	comp := &component{records: map[mosaic.IdentifierKey]*mosaic.IdentifierRecord{}, edges: map[edgeKey]*mosaic.IdentityEdge{}, dirty: map[edgeKey]bool{},
		whole: ch.Replay != nil}

	// 1. Identifiers and links of every event. Each identifier's key is computed once, and
	// each link is put in its stored form (keys, ends ordered) once.
	infos := make([]eventIDs, 0, len(b.Events)+len(replayed))
	seen := make(map[mosaic.IdentifierKey]seenID, len(b.Events))
	all := b.Events
	if len(replayed) > 0 {
		all = slices.Concat(b.Events, replayed)
	}
	extracted := s.extractAll(all, len(b.Events), workersFor(len(all), extractParallel))
	for i, x := range extracted {
		if i < len(b.Events) { // a replayed event's were counted when it was first processed
			ch.InvalidIdentifiers += int64(x.invalid)
		}
		for j, id := range x.ids {
			k := x.keys[j]
			if sid, ok := seen[k]; !ok || all[i].Timestamp.Before(sid.firstSeen) {
				seen[k] = seenID{id, all[i].Timestamp}
			}
		}
		infos = append(infos, x.info)
	}
	// 2. What is already stored about these identifiers and links: from the cache (which holds
	// only committed state), else from the store.
	batchKeys := slices.Sorted(maps.Keys(seen))
	comp.records = make(map[mosaic.IdentifierKey]*mosaic.IdentifierRecord, len(batchKeys))
	var missIDs []mosaic.IdentifierKey
	for _, k := range batchKeys {
		if r, ok := s.cachedRecord(k); ok {
			comp.records[k] = r
		} else {
			missIDs = append(missIDs, k)
		}
	}
	// fresh are the identifiers the store does not have: they have no stored links either,
	// since a link is stored only together with both its ends.
	fresh := map[mosaic.IdentifierKey]bool{}
	if len(missIDs) > 0 {
		stored, err := s.Store.FindIdentifiers(ctx, missIDs)
		if err != nil {
			return err
		}
		for _, r := range stored {
			comp.records[r.Key] = r
		}
		for _, k := range missIDs {
			if comp.records[k] == nil {
				fresh[k] = true
			}
		}
	}
	missEdgeEnds := map[mosaic.IdentifierKey]bool{}
	for _, info := range infos {
		for _, se := range info.edges {
			if fresh[se.A] || fresh[se.B] {
				continue
			}
			k := keyOf(se)
			if _, ok := comp.edges[k]; ok {
				continue
			}
			if cached, ok := s.cachedEdge(k); ok {
				comp.edges[k] = cached
			} else {
				missEdgeEnds[se.A], missEdgeEnds[se.B] = true, true
			}
		}
	}
	if len(missEdgeEnds) > 0 {
		storedEdges, err := s.findEdges(ctx, slices.Sorted(maps.Keys(missEdgeEnds)))
		if err != nil {
			return err
		}
		for _, e := range storedEdges {
			comp.edges[keyOf(e)] = e
		}
	}
	seeds := map[mosaic.IdentifierKey]bool{}
	var seenEarlier []mosaic.IdentifierKey // stored identifiers to write again: seen before their first_seen, or stale
	for k, sid := range seen {
		if r, ok := comp.records[k]; !ok {
			comp.records[k] = &mosaic.IdentifierRecord{Key: k, Identifier: sid.id, FirstSeen: sid.firstSeen}
			seeds[k] = true
		} else if sid.firstSeen.Before(r.FirstSeen) || r.Stale {
			// A late, older event (first seen is the earliest event time), or an identifier an
			// event holds again during an identity replay: it stays.
			cp := *r
			cp.FirstSeen, cp.Stale = minTime(r.FirstSeen, sid.firstSeen), false
			comp.records[k] = &cp
			seenEarlier = append(seenEarlier, k)
		}
	}
	made := map[edgeKey]bool{} // links an event of the batch made (written with their evidence)
	for _, info := range infos {
		for _, se := range info.edges {
			k := keyOf(se)
			old, ok := comp.edges[k]
			if ok && !old.Stale && !earlier(se, old) { // a stale link is made again, with this evidence
				continue
			}
			if ok {
				se.Refused = old.Refused
			}
			comp.edges[k] = se
			comp.dirty[k] = true
			made[k] = true
			seeds[se.A], seeds[se.B] = true, true
		}
	}
	pending, err := s.Store.PendingRecomputes(ctx, 100)
	if err != nil {
		return err
	}
	for _, k := range pending {
		seeds[k] = true
	}
	ch.Recomputed = pending
	rebuild, err := s.pendingRebuilds(ctx)
	if err != nil {
		return err
	}
	if len(rebuild) > 0 {
		comp.rebuild = make(map[mosaic.IdentifierKey]bool, len(rebuild))
		for _, k := range rebuild {
			seeds[k], comp.rebuild[k] = true, true
		}
	}
	ch.Rebuilt = rebuild

	// 3. Recompute the components the batch changed.
	states := map[mosaic.ProfileID]*mosaic.ProfileState{}
	if len(seeds) > 0 {
		if err := s.recompute(ctx, comp, seeds, fresh, states, ch, now); err != nil {
			return err
		}
	}
	if len(seenEarlier) > 0 {
		written := make(map[mosaic.IdentifierKey]bool, len(ch.Identifiers))
		for _, r := range ch.Identifiers {
			written[r.Key] = true
		}
		for _, k := range seenEarlier {
			if r := comp.records[k]; !written[k] && r.ProfileID != "" {
				ch.Identifiers = append(ch.Identifiers, r)
			}
		}
		slices.SortFunc(ch.Identifiers, func(a, b *mosaic.IdentifierRecord) int { return cmp.Compare(a.Key, b.Key) })
	}
	// A written identifier no event of the batch holds keeps the store's stale mark (an
	// identity replay's): its copy here may predate the replay (stores AND the marks).
	for i, r := range ch.Identifiers {
		if _, held := seen[r.Key]; !held && !r.Stale {
			cp := *r
			cp.Stale = true
			ch.Identifiers[i] = &cp
		}
	}
	profileOf := func(k mosaic.IdentifierKey) mosaic.ProfileID {
		if r := comp.records[k]; r != nil {
			return r.ProfileID
		}
		return ""
	}

	// 4. File events and fold their traits into their profiles. A replayed event filed
	// under another anchor is filed again; its traits are its old profile's, so when that
	// is not its new one both are rebuilt from their events.
	for _, info := range infos {
		if !info.replayed || info.anchor == info.stored {
			continue
		}
		ch.Reanchored = append(ch.Reanchored, mosaic.EventAnchor{ID: info.ev.ID, Identity: info.anchor})
		var before mosaic.ProfileID
		if r, ok := comp.records[info.stored]; ok {
			before = r.ProfileID
		} else if r, ok := s.cachedRecord(info.stored); ok {
			before = r.ProfileID
		}
		if info.ev.Type == mosaic.EventIdentify || info.ev.Type == mosaic.EventGroup {
			if before == "" || before != profileOf(info.anchor) {
				for _, k := range []mosaic.IdentifierKey{info.stored, info.anchor} {
					if k != "" {
						ch.QueueRebuild = append(ch.QueueRebuild, k)
					}
				}
			}
		}
	}
	var need []mosaic.ProfileID
	for _, info := range infos {
		if p := profileOf(info.anchor); p != "" && states[p] == nil && s.observes(info.ev) && !info.replayed {
			need = append(need, p)
		}
	}
	if len(need) > 0 {
		loaded, err := s.findProfileStates(ctx, dedupe(need))
		if err != nil {
			return err
		}
		for _, p := range loaded {
			states[p.ID] = p
		}
	}
	// Search terms as stored, for profiles only this batch's traits change (recomputed ones
	// are always rewritten).
	recomputed := map[mosaic.ProfileID]bool{}
	for _, p := range ch.Profiles {
		recomputed[p.ID] = true
	}
	oldTerms := map[mosaic.ProfileID][]string{}
	for id, st := range states {
		if st != nil && st.MergedInto == "" && len(st.Traits) > 0 && !recomputed[id] {
			oldTerms[id] = searchTerms(st)
		}
	}
	touched := map[mosaic.ProfileID]bool{}
	for _, p := range ch.Profiles {
		touched[p.ID] = true
	}
	trStates := map[mosaic.ProfileID]traits.States{}
	for _, info := range infos {
		pid := profileOf(info.anchor)
		info.ev.ProfileID = pid
		st := states[pid]
		if st == nil || !s.observes(info.ev) || info.replayed {
			continue
		}
		ts, ok := trStates[pid]
		if !ok {
			ts = decodeStates(st.State)
			trStates[pid] = ts
		}
		s.observe(ts, st, info.ev)
		touched[pid] = true
	}
	for pid, ts := range trStates {
		setStates(states[pid], ts)
	}
	// Profiles written: every touched one, once, with fresh search terms.
	written := map[mosaic.ProfileID]bool{}
	var profiles []*mosaic.ProfileState
	for _, p := range ch.Profiles {
		if !written[p.ID] {
			written[p.ID] = true
			profiles = append(profiles, p)
		}
	}
	for pid := range touched {
		if !written[pid] && states[pid] != nil {
			written[pid] = true
			profiles = append(profiles, states[pid])
		}
	}
	if err := s.hideForeignIdentifiers(ctx, profiles, comp); err != nil {
		return err
	}
	for _, p := range profiles {
		p.UpdatedAt = now
		p.SearchTerms = searchTerms(p)
		if slices.Equal(p.SearchTerms, oldTerms[p.ID]) && p.MergedInto == "" && oldTerms[p.ID] != nil {
			p.SearchTerms = nil
			p.KeepSearchTerms = true // unchanged: the store leaves them
		}
	}
	ch.Profiles = profiles
	for k := range comp.dirty {
		e := comp.edges[k]
		if !made[k] && !e.Stale { // rewritten for its refusal: it keeps the store's stale mark, as identifiers do
			cp := *e
			cp.Stale = true
			e = &cp
		}
		ch.Edges = append(ch.Edges, e)
	}
	slices.SortFunc(ch.Edges, func(a, b *mosaic.IdentityEdge) int {
		return cmp.Or(cmp.Compare(a.A, b.A), cmp.Compare(a.B, b.B), cmp.Compare(a.Kind, b.Kind))
	})
	if err := s.foldGroups(ctx, b.Events, ch, now); err != nil {
		return err
	}
	b.Identity = ch
	s.pending = append(s.pending, newPendingBatch(b, comp, ch))
	return nil
}

// extracted is what one event holds for the graph (extractAll).
type extracted struct {
	info    eventIDs
	ids     []mosaic.Identifier
	keys    []mosaic.IdentifierKey // of ids
	invalid int
}

// extractParallel is the batch size from which extractAll splits the work between
// goroutines: normalising (a phone number's parse) and keying (an HMAC per identifier and
// link end) are a sixth of the identity stage's time, and need nothing but the event.
const extractParallel = 2000

// extractAll extracts every event's identifiers and links, in stored form, and files each
// event under its anchor (Event.Identity), on workers goroutines; events from index
// replayedFrom on are replayed ones, whose stored anchor is kept in their eventIDs.
func (s *Identity) extractAll(all []*mosaic.Event, replayedFrom, workers int) []extracted {
	out := make([]extracted, len(all))
	one := func(keyer *identity.Keyer, i int) {
		e := all[i]
		key := keyer.Key
		ext := s.Normalizer.Extract(e)
		ids := ext.Identifiers
		edges := s.Normalizer.EventEdges(ids, identity.EdgeImplicit, e.Timestamp, e.MessageID, e.SourceID)
		for _, a := range s.Normalizer.AliasEdges(e) {
			ids = appendUnique(ids, a.B)
			edges = append(edges, a)
		}
		x := extracted{info: eventIDs{ev: e, replayed: i >= replayedFrom, stored: e.Identity}, ids: ids, invalid: ext.Invalid}
		if anchor, ok := s.Normalizer.Anchor(ids); ok {
			x.info.anchor = key(anchor)
		}
		e.Identity = x.info.anchor
		x.keys = make([]mosaic.IdentifierKey, len(ids))
		for j, id := range ids {
			x.keys[j] = key(id)
		}
		if len(edges) > 0 {
			x.info.edges = make([]*mosaic.IdentityEdge, len(edges))
			for j, ed := range edges {
				x.info.edges[j] = storedEdge(key, ed)
			}
		}
		out[i] = x
	}
	inParallel(len(all), workers, func(lo, hi int) {
		keyer := identity.NewKeyer(s.secret) // an HMAC state per goroutine
		for i := lo; i < hi; i++ {
			one(keyer, i)
		}
	})
	return out
}

// AfterCommit implements CommitHook: what the batch loaded and changed is now committed
// state and may be cached; after a failed commit the caches are dropped.
func (s *Identity) AfterCommit(b *Batch, err error) {
	i := slices.IndexFunc(s.pending, func(pb *pendingBatch) bool { return pb.b == b })
	if i < 0 {
		return // not processed here (a stage before failed), or already dropped
	}
	if err != nil { // the batches after it were built on it: they go too
		s.pending = s.pending[:i]
		s.idCache.reset()
		s.edgeCache.reset()
		return
	}
	comp := s.pending[i].comp
	s.pending = slices.Delete(s.pending, i, i+1)
	if ch := b.Identity; ch != nil && ch.Replay != nil && ch.Replay.Done() {
		// The store dropped the identifiers and links no event holds or made again.
		s.idCache.reset()
		s.edgeCache.reset()
		return
	}
	for k, r := range comp.records {
		if r.ProfileID != "" {
			s.idCache.put(k, r)
		}
	}
	for k, e := range comp.edges {
		s.edgeCache.put(k, e)
	}
}

// DefaultCacheSize is how many identifiers and links the identity stage keeps in memory.
const DefaultCacheSize = 200_000

func (s *Identity) initCache() {
	if s.idCache.max == 0 {
		n := cmp.Or(s.CacheSize, DefaultCacheSize)
		s.idCache.max, s.edgeCache.max = n, n
	}
}

// genCache is a bounded cache with two generations: when the current one is full it becomes
// the previous one, and entries found there move back; memory stays under max entries.
type genCache[K comparable, V any] struct {
	cur, prev map[K]V
	max       int
}

func (c *genCache[K, V]) get(k K) (V, bool) {
	if v, ok := c.cur[k]; ok {
		return v, true
	}
	if v, ok := c.prev[k]; ok {
		c.put(k, v)
		return v, true
	}
	var zero V
	return zero, false
}

func (c *genCache[K, V]) put(k K, v V) {
	if c.cur == nil || len(c.cur) >= max(c.max/2, 1) {
		c.prev, c.cur = c.cur, make(map[K]V)
	}
	c.cur[k] = v
}

func (c *genCache[K, V]) reset() { c.cur, c.prev = nil, nil }

// key returns an identifier's key. A reused HMAC takes ~0.25 µs, about what a lookup in a
// cache of a few hundred thousand keys costs, so keys are not cached.
func (s *Identity) key(id mosaic.Identifier) mosaic.IdentifierKey {
	if s.keyer == nil {
		s.keyer = identity.NewKeyer(s.secret)
	}
	return s.keyer.Key(id)
}

func (s *Identity) storedEdge(e identity.Edge) *mosaic.IdentityEdge { return storedEdge(s.key, e) }

// storedEdge returns a link in stored form: its ends by key, in order.
func storedEdge(key func(mosaic.Identifier) mosaic.IdentifierKey, e identity.Edge) *mosaic.IdentityEdge {
	a, b := key(e.A), key(e.B)
	if b < a {
		a, b = b, a
	}
	return &mosaic.IdentityEdge{A: a, B: b, Kind: e.Kind, EventTime: e.EventTime.UTC(), Evidence: e.Evidence, SourceID: e.SourceID}
}

// recompute loads the raw connected components around seeds (stopping at hubs and at
// MaxComponent identifiers), resolves them, and records every change in ch. Identifiers in
// fresh are new to the store, so it holds no links of theirs to load.
func (s *Identity) recompute(ctx context.Context, comp *component, seeds, fresh map[mosaic.IdentifierKey]bool,
	states map[mosaic.ProfileID]*mosaic.ProfileState, ch *mosaic.IdentityChanges, now time.Time) error {
	maxNodes := cmp.Or(s.MaxComponent, DefaultMaxComponent)
	visited := map[mosaic.IdentifierKey]bool{}
	// The links of each identifier: those of the batch, and those loaded on the way.
	adj := make(map[mosaic.IdentifierKey][]*mosaic.IdentityEdge, len(comp.records))
	for _, e := range comp.edges {
		adj[e.A], adj[e.B] = append(adj[e.A], e), append(adj[e.B], e)
	}
	// loadEdges adds the stored links of keys the component does not hold yet.
	loadEdges := func(keys []mosaic.IdentifierKey) error {
		edges, err := s.findEdges(ctx, keys)
		if err != nil {
			return err
		}
		for _, e := range edges {
			if _, ok := comp.edges[keyOf(e)]; !ok {
				comp.edges[keyOf(e)] = e
				adj[e.A], adj[e.B] = append(adj[e.A], e), append(adj[e.B], e)
			}
		}
		return nil
	}
	frontier := slices.Sorted(maps.Keys(seeds))
	for len(frontier) > 0 && len(visited) < maxNodes {
		var load []mosaic.IdentifierKey
		for _, k := range frontier {
			if !visited[k] {
				visited[k] = true
				if _, ok := comp.records[k]; !ok {
					load = append(load, k)
				}
			}
		}
		if len(load) > 0 {
			recs, err := s.findIdentifiers(ctx, load)
			if err != nil {
				return err
			}
			for _, r := range recs {
				comp.records[r.Key] = r
			}
		}
		if stored := slices.DeleteFunc(slices.Clone(frontier), func(k mosaic.IdentifierKey) bool { return fresh[k] }); len(stored) > 0 {
			if err := loadEdges(stored); err != nil {
				return err
			}
		}
		next := map[mosaic.IdentifierKey]bool{}
		for _, k := range frontier {
			if r := comp.records[k]; r != nil && r.Hub {
				continue // a hub links nothing, so its neighbours are not this component
			}
			for _, e := range adj[k] {
				other := e.A
				if other == k {
					other = e.B
				}
				if !visited[other] {
					next[other] = true
				}
			}
		}
		frontier = slices.Sorted(maps.Keys(next))
	}
	if len(frontier) > 0 || comp.whole {
		// The component is larger than MaxComponent: only part of it is resolved. Every
		// profile with an identifier in that part comes whole (a visitor's profile with its
		// user id), so the rules see what each profile holds: resolving a shop's shared email
		// with 5,000 visitors but not their user ids would merge 5,000 customers into one.
		// Links from the part to identifiers of profiles it does not touch are left as they
		// are (those profiles neither merge nor split now).
		var pids []mosaic.ProfileID
		for k := range visited {
			if r := comp.records[k]; r != nil && r.ProfileID != "" {
				pids = append(pids, r.ProfileID)
			}
		}
		recs, err := s.findProfileIdentifiers(ctx, dedupe(pids))
		if err != nil {
			return err
		}
		var added []mosaic.IdentifierKey
		for _, r := range recs {
			if !visited[r.Key] {
				visited[r.Key] = true
				if _, ok := comp.records[r.Key]; !ok {
					comp.records[r.Key] = r
				}
				added = append(added, r.Key)
			}
		}
		if len(added) > 0 {
			if err := loadEdges(added); err != nil {
				return err
			}
		}
	}
	// Make sure every edge end is a known record (edges loaded at the rim may point outside).
	var missing []mosaic.IdentifierKey
	for _, e := range comp.edges {
		for _, k := range []mosaic.IdentifierKey{e.A, e.B} {
			if _, ok := comp.records[k]; !ok {
				missing = append(missing, k)
			}
		}
	}
	if len(missing) > 0 {
		recs, err := s.findIdentifiers(ctx, dedupe(missing))
		if err != nil {
			return err
		}
		for _, r := range recs {
			comp.records[r.Key] = r
		}
	}
	// Resolve the visited part: nodes, edges among them, constraints.
	cons, err := s.Store.FindIdentityConstraints(ctx, slices.Sorted(maps.Keys(visited)))
	if err != nil {
		return err
	}
	ident := func(k mosaic.IdentifierKey) mosaic.Identifier { return comp.records[k].Identifier }
	byIdent := map[mosaic.Identifier]mosaic.IdentifierKey{}
	var nodes []mosaic.Identifier
	for k := range visited {
		if r := comp.records[k]; r != nil {
			nodes = append(nodes, r.Identifier)
			byIdent[r.Identifier] = k
		}
	}
	var edges []identity.Edge
	for _, e := range comp.edges {
		if visited[e.A] && visited[e.B] && comp.records[e.A] != nil && comp.records[e.B] != nil {
			edges = append(edges, identity.Edge{A: ident(e.A), B: ident(e.B), Kind: e.Kind, EventTime: e.EventTime, Evidence: e.Evidence, SourceID: e.SourceID})
		}
	}
	c := identity.Constraints{Blocked: map[identity.Pair]bool{}, Removed: map[mosaic.Identifier]bool{}, Hubs: map[mosaic.Identifier]bool{}}
	for k := range visited {
		if r := comp.records[k]; r != nil && r.Hub {
			c.Hubs[r.Identifier] = true // once a hub, always a hub: more links only add users
		}
	}
	for _, x := range cons {
		ra, ok := comp.records[x.A]
		if !ok {
			continue
		}
		if x.B == "" {
			c.Removed[ra.Identifier] = true
		} else if rb, ok := comp.records[x.B]; ok {
			c.Blocked[identity.MakePair(ra.Identifier, rb.Identifier)] = true
		}
	}
	res := s.Normalizer.Resolve(nodes, edges, c)

	// Refusals and hubs.
	refused := map[edgeKey]string{}
	for _, r := range res.Refused {
		se := s.storedEdge(r.Edge)
		se.A, se.B = byIdent[r.Edge.A], byIdent[r.Edge.B]
		if se.B < se.A {
			se.A, se.B = se.B, se.A
		}
		refused[edgeKey{se.A, se.B, r.Edge.Kind}] = r.Reason
	}
	for k, e := range comp.edges {
		if !visited[e.A] || !visited[e.B] {
			continue
		}
		if e.Refused != refused[k] {
			cp := *e
			cp.Refused = refused[k]
			comp.edges[k] = &cp
			comp.dirty[k] = true
		}
	}
	hubs := map[mosaic.IdentifierKey]bool{}
	for _, h := range res.Hubs {
		hubs[byIdent[h]] = true
	}

	// Old profiles of the component, with their states.
	var oldIDs []mosaic.ProfileID
	for k := range visited {
		if r := comp.records[k]; r != nil && r.ProfileID != "" {
			oldIDs = append(oldIDs, r.ProfileID)
		}
	}
	oldIDs = dedupe(oldIDs)
	if len(oldIDs) > 0 {
		loaded, err := s.findProfileStates(ctx, oldIDs)
		if err != nil {
			return err
		}
		for _, p := range loaded {
			states[p.ID] = p
		}
	}
	oldMembers := map[mosaic.ProfileID]int{}
	origProfile := map[mosaic.IdentifierKey]mosaic.ProfileID{}
	for k := range visited {
		if r := comp.records[k]; r != nil && r.ProfileID != "" {
			oldMembers[r.ProfileID]++
			origProfile[k] = r.ProfileID
		}
	}

	// Each group keeps the oldest profile among its members' (not taken by an earlier group).
	taken := map[mosaic.ProfileID]mosaic.ProfileID{} // old id → group's id
	capped := map[mosaic.Identifier]bool{}
	for _, id := range res.Capped {
		capped[id] = true
	}
	// Larger groups choose first, so after a split the profile id stays with the larger part;
	// of two parts as large, the one holding the higher-priority identifier (the user id
	// rather than an email) keeps it.
	groups := slices.Clone(res.Groups)
	best := func(g []mosaic.Identifier) int {
		a, _ := s.Normalizer.Anchor(g)
		return s.Normalizer.Priority(a.Type)
	}
	slices.SortStableFunc(groups, func(a, b []mosaic.Identifier) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), cmp.Compare(best(a), best(b)))
	})
	// A split (an old profile's identifiers end in more than one group) gives each group the
	// profile its identifiers came from: true unmerge, so a merged-away id resolves to its
	// own customer again and merged_from lists only the profiles a group holds.
	splitComp := false
	groupsOf := map[mosaic.ProfileID]map[int]bool{}
	for gi, g := range groups {
		for _, id := range g {
			if pid := comp.records[byIdent[id]].ProfileID; pid != "" {
				if groupsOf[pid] == nil {
					groupsOf[pid] = map[int]bool{}
				}
				groupsOf[pid][gi] = true
			}
		}
	}
	// The groups of a split profile (splitGroup) choose by origin; the others keep the
	// oldest of their profiles as a merge does, also when another customer's profile in the
	// same recomputation splits (a replay recomputes many customers at once).
	splitGroup := make([]bool, len(groups))
	for _, gs := range groupsOf {
		if len(gs) > 1 {
			splitComp = true
			for gi := range gs {
				splitGroup[gi] = true
			}
		}
	}
	var survivorOf []*mosaic.ProfileState // by group, when splitComp
	chosen := map[mosaic.ProfileID]bool{} // survivors of survivorOf, and the profiles of unsplit groups
	if splitComp {
		for gi, g := range groups {
			if !splitGroup[gi] {
				for _, id := range g {
					if pid := comp.records[byIdent[id]].ProfileID; pid != "" {
						chosen[pid] = true
					}
				}
			}
		}
		var missing []mosaic.ProfileID
		for _, g := range groups {
			for _, id := range g {
				if o := comp.records[byIdent[id]].OriginOf(); o != "" && states[o] == nil {
					missing = append(missing, o)
				}
			}
		}
		if len(missing) > 0 {
			loaded, err := s.findProfileStates(ctx, dedupe(missing))
			if err != nil {
				return err
			}
			for _, p := range loaded {
				states[p.ID] = p
			}
		}
		// Each group takes a profile its identifiers came from, groups with the best
		// identifier first (the user id's part before the anonymous visitor's), then larger
		// ones: of the free origins of its best identifiers (all its user ids, say) the
		// oldest profile, else the same one type down, else its current profile, else a new
		// one. The order rests on identifiers and creation times, never on the random ids,
		// so both stores and every run choose alike.
		//
		// A previousId an alias read as a user id beside the anonymous id of the same value
		// is the visitor's, not an account: its origin is the profile the alias merged into,
		// so it does not choose (else the visitor's part would take the account's id, or a
		// part of the previousId reading alone the visitor's).
		survivorOf = make([]*mosaic.ProfileState, len(groups))
		choosers := make([][]mosaic.Identifier, len(groups))
		for gi, g := range groups {
			choosers[gi] = withoutPreviousIDReadings(g)
		}
		order := make([]int, len(groups))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			return cmp.Or(cmp.Compare(best(choosers[a]), best(choosers[b])), cmp.Compare(len(groups[b]), len(groups[a])))
		})
		for _, gi := range order {
			if !splitGroup[gi] {
				continue
			}
			members := slices.Clone(choosers[gi])
			slices.SortFunc(members, func(a, b mosaic.Identifier) int {
				return cmp.Compare(anchorKey(s.Normalizer, a), anchorKey(s.Normalizer, b))
			})
			// pick takes the oldest free profile id gives among members of one priority, the
			// best priority first.
			pick := func(id func(*mosaic.IdentifierRecord) mosaic.ProfileID) bool {
				for start := 0; start < len(members); {
					prio := s.Normalizer.Priority(members[start].Type)
					end := start
					var found *mosaic.ProfileState
					for ; end < len(members) && s.Normalizer.Priority(members[end].Type) == prio; end++ {
						o := id(comp.records[byIdent[members[end]]])
						// Free: not chosen here, and merged away or a profile of this
						// component (a live profile elsewhere holds other customers).
						free := o != "" && states[o] != nil && !chosen[o] && (states[o].MergedInto != "" || oldMembers[o] > 0)
						if st := states[o]; free && (found == nil || st.CreatedAt.Before(found.CreatedAt)) {
							found = st
						}
					}
					if found != nil {
						survivorOf[gi], chosen[found.ID] = found, true
						return true
					}
					start = end
				}
				return false
			}
			if !pick((*mosaic.IdentifierRecord).OriginOf) {
				pick(func(r *mosaic.IdentifierRecord) mosaic.ProfileID { return r.ProfileID })
			}
		}
	}
	for gi, g := range groups {
		var cands []*mosaic.ProfileState
		inGroup := map[mosaic.ProfileID]int{}
		for _, id := range g {
			if r := comp.records[byIdent[id]]; r.ProfileID != "" {
				inGroup[r.ProfileID]++
			}
		}
		for pid := range inGroup {
			if st := states[pid]; st != nil && st.MergedInto == "" {
				if _, used := taken[pid]; !used {
					cands = append(cands, st)
				}
			}
		}
		if len(cands) > 1 {
			// The oldest profile survives; of profiles as old (made in one batch), the one
			// with the best identifier, so that the choice does not rest on random ids.
			anchor := map[mosaic.ProfileID]string{}
			for _, id := range g {
				if pid := comp.records[byIdent[id]].ProfileID; pid != "" {
					if a := anchorKey(s.Normalizer, id); anchor[pid] == "" || a < anchor[pid] {
						anchor[pid] = a
					}
				}
			}
			slices.SortFunc(cands, func(a, b *mosaic.ProfileState) int {
				return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(anchor[a.ID], anchor[b.ID]), cmp.Compare(a.ID, b.ID))
			})
		}
		var survivor *mosaic.ProfileState
		switch {
		case splitGroup[gi] && survivorOf[gi] != nil:
			survivor = survivorOf[gi]
		case !splitGroup[gi] && len(cands) > 0:
			survivor = cands[0]
		default:
			survivor = &mosaic.ProfileState{ID: mosaic.NewProfileID(now), CreatedAt: now, New: true}
			states[survivor.ID] = survivor
		}
		taken[survivor.ID] = survivor.ID
		if survivor.MergedInto != "" { // a merged-away origin comes back to life
			survivor.MergedInto = ""
			survivor.UpdatedAt = now
		}
		// Whole old profiles fold in by combining states; a profile that lost members
		// (a split), or one queued for a rebuild, is rebuilt from its events.
		split := inGroup[survivor.ID] > 0 && inGroup[survivor.ID] < oldMembers[survivor.ID]
		for pid := range inGroup {
			if pid != survivor.ID && inGroup[pid] < oldMembers[pid] {
				split = true
			}
		}
		for _, id := range g {
			if comp.rebuild[byIdent[id]] {
				split = true
			}
		}
		split = split || splitComp
		ts := decodeStates(survivor.State)
		if split {
			keys := make([]mosaic.IdentifierKey, len(g))
			for i, id := range g {
				keys[i] = byIdent[id]
			}
			evs, err := s.findEventsByIdentity(ctx, keys, []mosaic.EventType{mosaic.EventIdentify, mosaic.EventGroup})
			if err != nil {
				return err
			}
			ts = traits.States{}
			survivor.Groups = nil
			for _, e := range evs {
				s.observe(ts, survivor, e)
			}
		}
		merged := slices.Sorted(maps.Keys(inGroup))
		if splitGroup[gi] {
			// The other profiles its identifiers came from are merged into it (set below,
			// with every profile of the component that no group kept).
			merged = nil
			survivor.MergedFrom = nil
			for _, o := range groupOrigins(g, comp, byIdent) {
				if o != survivor.ID && !chosen[o] { // another group's profile is no merged-away id
					survivor.MergedFrom = append(survivor.MergedFrom, o)
				}
			}
		}
		for _, pid := range merged {
			old := states[pid]
			if pid == survivor.ID || old == nil || old.MergedInto != "" {
				continue
			}
			if _, used := taken[pid]; used {
				continue
			}
			if !split {
				ts = s.profRules.Combine(ts, decodeStates(old.State))
				survivor.Groups = unionStrings(survivor.Groups, old.Groups)
			}
			taken[pid] = survivor.ID
			old.MergedInto = survivor.ID
			old.UpdatedAt = now
			survivor.MergedFrom = appendUniqueID(survivor.MergedFrom, pid)
			survivor.MergedFrom = append(survivor.MergedFrom, old.MergedFrom...)
			ch.Merges++
			ch.Profiles = append(ch.Profiles, old)
		}
		setStates(survivor, ts)
		survivor.Flags = nil
		if capped[g[0]] {
			survivor.Flags = []string{"capped"}
		}
		ch.Profiles = append(ch.Profiles, survivor)
		for _, id := range g {
			k := byIdent[id]
			r := comp.records[k]
			if r.ProfileID != survivor.ID || r.Hub != hubs[k] || seedNew(r) {
				cp := *r
				cp.Origin = cmp.Or(r.OriginOf(), survivor.ID) // a new identifier comes from its first profile
				if splitGroup[gi] && survivor.New {
					// Split off into a profile of its own: that is where it comes from now, so
					// the next split gives it this id again and the id follows it.
					cp.Origin = survivor.ID
				}
				cp.ProfileID, cp.Hub = survivor.ID, hubs[k]
				comp.records[k] = &cp
				ch.Identifiers = append(ch.Identifiers, &cp)
			}
		}
	}
	if splitComp {
		// Every other profile of the component (old ones, and those its identifiers came
		// from) points at the group holding most of its identifiers now.
		votes := map[mosaic.ProfileID]map[mosaic.ProfileID]int{}
		vote := func(pid, to mosaic.ProfileID) {
			if votes[pid] == nil {
				votes[pid] = map[mosaic.ProfileID]int{}
			}
			votes[pid][to]++
		}
		for k := range visited {
			r := comp.records[k]
			if r == nil || r.ProfileID == "" {
				continue
			}
			if o := r.Origin; o != "" {
				vote(o, r.ProfileID)
			}
			if old := origProfile[k]; old != "" {
				vote(old, r.ProfileID)
			}
		}
		for _, pid := range slices.Sorted(maps.Keys(votes)) {
			old := states[pid]
			if _, kept := taken[pid]; kept || old == nil {
				continue
			}
			if old.MergedInto == "" && oldMembers[pid] == 0 {
				continue // an origin that is a live profile elsewhere: it holds other customers
			}
			var target mosaic.ProfileID
			for _, cand := range slices.Sorted(maps.Keys(votes[pid])) {
				if target == "" || votes[pid][cand] > votes[pid][target] {
					target = cand
				}
			}
			if target == "" || old.MergedInto == target {
				continue
			}
			// No merge is counted: a split only says where an id of the component resolves.
			old.MergedInto, old.UpdatedAt = target, now
			ch.Profiles = append(ch.Profiles, old)
		}
		slices.SortFunc(ch.Identifiers, func(a, b *mosaic.IdentifierRecord) int { return cmp.Compare(a.Key, b.Key) })
		return nil
	}
	// Old profiles left without any identifier (all their members went to groups that kept
	// another profile) merge into the profile that received most of their identifiers.
	for _, pid := range oldIDs {
		old := states[pid]
		if _, ok := taken[pid]; ok || old == nil || old.MergedInto != "" {
			continue
		}
		votes := map[mosaic.ProfileID]int{}
		for k, orig := range origProfile {
			if orig == pid {
				votes[comp.records[k].ProfileID]++
			}
		}
		var target mosaic.ProfileID
		for _, cand := range slices.Sorted(maps.Keys(votes)) {
			if cand != "" && (target == "" || votes[cand] > votes[target]) {
				target = cand
			}
		}
		if target == "" {
			continue
		}
		old.MergedInto, old.UpdatedAt = target, now
		ch.Merges++
		ch.Profiles = append(ch.Profiles, old)
	}
	slices.SortFunc(ch.Identifiers, func(a, b *mosaic.IdentifierRecord) int { return cmp.Compare(a.Key, b.Key) })
	return nil
}

func seedNew(r *mosaic.IdentifierRecord) bool { return r.ProfileID == "" }

// anchorKey orders identifiers by type priority, then by type and value: the first is a
// withoutPreviousIDReadings returns the identifiers of g less the user ids whose value is also
// an anonymous id of g (the user-id reading of an alias's previousId, AliasEdges), unless
// that leaves none.
func withoutPreviousIDReadings(g []mosaic.Identifier) []mosaic.Identifier {
	anon := map[string]bool{}
	for _, id := range g {
		if id.Type == mosaic.IdentifierAnonymousID {
			anon[id.Value] = true
		}
	}
	if len(anon) == 0 {
		return g
	}
	out := make([]mosaic.Identifier, 0, len(g))
	for _, id := range g {
		if id.Type != mosaic.IdentifierUserID || !anon[id.Value] {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return g
	}
	return out
}

// group's best identifier, the same in every store (keys are not: each store has its secret).
func anchorKey(n *identity.Normalizer, id mosaic.Identifier) string {
	return fmt.Sprintf("%04d %s", n.Priority(id.Type), id)
}

// groupOrigins returns the profiles the identifiers of group g came from, sorted.
func groupOrigins(g []mosaic.Identifier, comp *component, byIdent map[mosaic.Identifier]mosaic.IdentifierKey) []mosaic.ProfileID {
	var out []mosaic.ProfileID
	for _, id := range g {
		if o := comp.records[byIdent[id]].OriginOf(); o != "" {
			out = append(out, o)
		}
	}
	return dedupe(out)
}

// hideForeignIdentifiers keeps out of each profile's traits the values that hold an
// identifier of another profile: an event anchored here may carry an email whose link was
// refused (a shared kiosk, a user-id limit) or split off by a steward, and the profile must
// not show another customer's email. The trait then shows the next value the survivorship
// state keeps (its runners-up, profileRules) that is the profile's own, and is left out only
// if there is none. The state keeps every observation it kept before, so a hidden value
// shows again if its identifier joins the profile later; which value shows is a function of
// the state and the partition only, so arrival order does not matter.
func (s *Identity) hideForeignIdentifiers(ctx context.Context, profiles []*mosaic.ProfileState, comp *component) error {
	var checks []traitCheck
	for _, p := range profiles {
		if p.MergedInto != "" {
			continue
		}
		for name, raw := range p.Traits {
			if c, ok := s.traitIdentifier(p, name, raw); ok {
				checks = append(checks, c)
			}
		}
	}
	foreign, err := s.foreignValues(ctx, checks, comp)
	if err != nil || len(foreign) == 0 {
		return err
	}
	// The runners-up of each hidden trait, judged the same way.
	type hidden struct {
		traitCheck
		cands []*traits.State // after the winner, best first
	}
	var hid []hidden
	var next []traitCheck
	decoded := map[*mosaic.ProfileState]traits.States{}
	for _, c := range foreign {
		ts, ok := decoded[c.p]
		if !ok {
			ts = decodeStates(c.p.State)
			decoded[c.p] = ts
		}
		h := hidden{c, nil}
		if cands := s.profRules.Candidates(c.name, ts[c.name]); len(cands) > 1 {
			h.cands = cands[1:]
		}
		for _, cand := range h.cands {
			if nc, ok := s.traitIdentifier(c.p, c.name, cand.Value); ok {
				next = append(next, nc)
			}
		}
		hid = append(hid, h)
	}
	foreignNext, err := s.foreignValues(ctx, next, comp)
	if err != nil {
		return err
	}
	notOwn := map[[2]string]bool{}
	for _, c := range foreignNext {
		notOwn[[2]string{c.name + "\x00" + string(c.key), string(c.p.ID)}] = true
	}
	for _, h := range hid {
		delete(h.p.Traits, h.name)
		delete(h.p.TraitSources, h.name)
		for _, cand := range h.cands {
			if string(cand.Value) == "null" { // deleted after the values before it: nothing shows
				break
			}
			if nc, ok := s.traitIdentifier(h.p, h.name, cand.Value); ok && notOwn[[2]string{h.name + "\x00" + string(nc.key), string(h.p.ID)}] {
				continue
			}
			h.p.Traits[h.name], h.p.TraitSources[h.name] = cand.Value, cand.Source
			break
		}
	}
	return nil
}

// traitCheck is a trait value of a profile that holds an identifier, or (blocked) a value
// the rules say identifies no one (the blocklist, a placeholder address).
type traitCheck struct {
	p       *mosaic.ProfileState
	name    string
	key     mosaic.IdentifierKey
	typ     mosaic.IdentifierType
	blocked bool
}

// traitIdentifier reports the identifier that value raw of trait name holds, if the rules
// read one from the trait and the value is one (junk and malformed values are ordinary
// trait values).
func (s *Identity) traitIdentifier(p *mosaic.ProfileState, name string, raw json.RawMessage) (traitCheck, bool) {
	typ, ok := s.Normalizer.TraitIdentifier(name)
	if !ok {
		return traitCheck{}, false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return traitCheck{}, false
	}
	var str string
	switch x := v.(type) {
	case string:
		str = x
	case float64:
		str = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return traitCheck{}, false
	}
	norm, err := s.Normalizer.Normalize(typ, str)
	if errors.Is(err, identity.ErrBlocked) {
		return traitCheck{p: p, name: name, typ: typ, blocked: true}, true // no one's: it does not show
	} else if err != nil {
		return traitCheck{}, false
	}
	return traitCheck{p, name, s.key(mosaic.Identifier{Type: typ, Value: norm}), typ, false}, true
}

// foreignValues returns the checks whose identifier is another profile's. A value the
// profile could not link only because it holds as many of that type as the rules allow (a
// sixth email) is still its own: it is not foreign. Any other reason (the value is another
// customer's, a hub's, or a steward took it away) makes it foreign.
func (s *Identity) foreignValues(ctx context.Context, checks []traitCheck, comp *component) ([]traitCheck, error) {
	var unknown []mosaic.IdentifierKey
	owner := map[mosaic.IdentifierKey]mosaic.ProfileID{}
	var blocked []traitCheck
	for _, c := range checks {
		if c.blocked {
			blocked = append(blocked, c)
			continue
		}
		if r, ok := comp.records[c.key]; ok {
			owner[c.key] = r.ProfileID
		} else if r, ok := s.cachedRecord(c.key); ok {
			owner[c.key] = r.ProfileID
		} else {
			unknown = append(unknown, c.key)
		}
	}
	if len(unknown) > 0 {
		recs, err := s.Store.FindIdentifiers(ctx, dedupe(unknown))
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			owner[r.Key] = r.ProfileID
		}
	}
	var foreign []traitCheck
	for _, c := range checks {
		if o, ok := owner[c.key]; ok && o != c.p.ID && !c.blocked {
			foreign = append(foreign, c)
		}
	}
	if len(foreign) == 0 {
		return blocked, nil
	}
	overLimit, err := s.overLimitLinks(ctx, foreign, comp)
	if err != nil {
		return nil, err
	}
	out := blocked
	for _, c := range foreign {
		if !overLimit[[2]string{string(c.key), string(c.p.ID)}] {
			out = append(out, c)
		}
	}
	return out, nil
}

// overLimitLinks reports, for each check, whether a link between its identifier and an
// identifier of its profile was refused for the limit of the identifier's own type
// (limit:email for an email), keyed by identifier and profile. Links are looked for in the
// batch's component, then among pending and stored ones.
func (s *Identity) overLimitLinks(ctx context.Context, checks []traitCheck, comp *component) (map[[2]string]bool, error) {
	want := map[mosaic.IdentifierKey][]traitCheck{}
	for _, c := range checks {
		want[c.key] = append(want[c.key], c)
	}
	edgesOf := map[mosaic.IdentifierKey][]*mosaic.IdentityEdge{}
	add := func(e *mosaic.IdentityEdge) {
		for _, k := range []mosaic.IdentifierKey{e.A, e.B} {
			if _, ok := want[k]; ok {
				edgesOf[k] = append(edgesOf[k], e)
			}
		}
	}
	for _, e := range comp.edges {
		add(e)
	}
	stored, err := s.findEdges(ctx, slices.Sorted(maps.Keys(want)))
	if err != nil {
		return nil, err
	}
	for _, e := range stored {
		if _, ok := comp.edges[keyOf(e)]; !ok { // the component's version is newer
			add(e)
		}
	}
	profileOf := func(k mosaic.IdentifierKey) (mosaic.ProfileID, error) {
		if r, ok := comp.records[k]; ok {
			return r.ProfileID, nil
		}
		if r, ok := s.cachedRecord(k); ok {
			return r.ProfileID, nil
		}
		recs, err := s.Store.FindIdentifiers(ctx, []mosaic.IdentifierKey{k})
		if err != nil || len(recs) == 0 {
			return "", err
		}
		return recs[0].ProfileID, nil
	}
	out := map[[2]string]bool{}
	for k, cs := range want {
		for _, e := range edgesOf[k] {
			other := e.A
			if other == k {
				other = e.B
			}
			for _, c := range cs {
				if e.Refused != "limit:"+string(c.typ) {
					continue
				}
				p, err := profileOf(other)
				if err != nil {
					return nil, err
				}
				if p == c.p.ID {
					out[[2]string{string(k), string(p)}] = true
				}
			}
		}
	}
	return out, nil
}

// observes reports whether an event carries profile traits or group membership.
func (s *Identity) observes(e *mosaic.Event) bool {
	return e.Type == mosaic.EventIdentify && len(e.Traits) > 0 || s.groupID(e) != ""
}

// groupID returns the group a group call is about: none for other calls, and none for a
// placeholder ("undefined", "NaN": the blocklist), which would make one company of every
// account whose tracking code failed to set it. The call stays on the timeline.
func (s *Identity) groupID(e *mosaic.Event) string {
	if e.Type != mosaic.EventGroup || e.GroupID == "" || s.Normalizer.Placeholder(e.GroupID) {
		return ""
	}
	return e.GroupID
}

// observe folds an event's traits (identify) or group membership (group) into a profile.
func (s *Identity) observe(ts traits.States, p *mosaic.ProfileState, e *mosaic.Event) {
	switch e.Type {
	case mosaic.EventIdentify:
		s.profRules.ObserveObject(ts, e.Traits, traits.Observation{SourceID: e.SourceID, MessageID: e.MessageID, EventTime: e.Timestamp, ReceivedAt: e.ReceivedAt})
	case mosaic.EventGroup:
		if g := s.groupID(e); g != "" {
			p.Groups = unionStrings(p.Groups, []string{g})
		}
	}
}

// DefaultReplayPage is how many stored events a batch replays (mosaic.IdentityReplay).
const DefaultReplayPage = 5000

// replayPage returns the next page of stored events an identity replay resolves again, with
// the batch's own events, and records the replay's progress in ch; none while no replay is
// queued. A replay goes on from the stored progress, so it needs every earlier batch
// committed.
func (s *Identity) replayPage(ctx context.Context, ch *mosaic.IdentityChanges) ([]*mosaic.Event, error) {
	for _, pb := range s.pending {
		if pb.b.Identity != nil && pb.b.Identity.Replay != nil {
			// Its commit records the progress, and at the end drops links the cache holds.
			return nil, ErrNeedCommitted
		}
	}
	r, err := s.Store.IdentityReplay(ctx)
	if err != nil || r == nil {
		return nil, err
	}
	if len(s.pending) > 0 {
		return nil, ErrNeedCommitted
	}
	if r.After == 0 {
		// Queueing marked the stored identifiers and links stale: cached copies of them from
		// before say otherwise, and a replayed event that holds one again must write it.
		s.edgeCache.reset()
		s.idCache.reset()
	}
	page := cmp.Or(s.ReplayPage, DefaultReplayPage)
	evs, err := s.Store.FindStoredEvents(ctx, r.After, r.Through, page)
	if err != nil {
		return nil, err
	}
	next := *r
	if len(evs) < page {
		next.After = r.Through
	} else {
		next.After = evs[len(evs)-1].ID
	}
	ch.Replay, ch.ReplayFrom = &next, r
	return evs, nil
}

// identifierFallbacks is how many runner-up values a profile keeps of a trait that holds
// an identifier, to show when the winner is another customer's (hideForeignIdentifiers).
const identifierFallbacks = 4

// profileRules returns the profiles' survivorship rules: cfg, with runners-up kept for the
// traits an identifier is read from.
func profileRules(cfg *traits.Config, norm *identity.Normalizer) *traits.Config {
	out := *cfg
	out.Fallbacks = map[string]int{}
	for _, name := range norm.IdentifierTraits() {
		out.Fallbacks[name] = identifierFallbacks
	}
	return &out
}

func decodeStates(raw json.RawMessage) traits.States {
	st := traits.States{}
	if len(raw) > 0 {
		json.Unmarshal(raw, &st)
	}
	return st
}

func setStates(p *mosaic.ProfileState, ts traits.States) {
	p.State = ts.AppendJSON(nil)
	p.Traits, p.TraitSources = ts.Traits()
}

// searchTerms are the lower-cased string trait values of a profile (strings in a list, and in
// an object one level down, as Segment's address.city), and the words of name-like traits,
// so FindProfiles can match a name or any trait value by prefix. Traits that are also
// identifiers (email, phone) are searched as identifiers by the store, not stored twice.
func searchTerms(p *mosaic.ProfileState) []string {
	if p.MergedInto != "" {
		return nil
	}
	terms := map[string]bool{}
	add := func(name, str string) {
		if str == "" || len(str) > 200 {
			return
		}
		str = strings.ToLower(str)
		terms[str] = true
		if strings.Contains(name, "name") || name == "company" || name == "title" {
			for _, w := range strings.Fields(str) {
				terms[w] = true
			}
		}
	}
	for name, v := range p.Traits {
		if name == "email" || name == "phone" {
			continue
		}
		var x any
		if json.Unmarshal(v, &x) != nil {
			continue
		}
		switch x := x.(type) {
		case string:
			add(name, x)
		case []any: // tags: each string in the list
			for _, e := range x {
				if s, ok := e.(string); ok {
					add(name, s)
				}
			}
		case map[string]any: // Segment's address, company, …: their strings, one level down
			for k, e := range x {
				if s, ok := e.(string); ok {
					add(name+"."+k, s)
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(terms))
}

func dedupe[T cmp.Ordered](xs []T) []T {
	slices.Sort(xs)
	return slices.Compact(xs)
}

func appendUnique(ids []mosaic.Identifier, id mosaic.Identifier) []mosaic.Identifier {
	if slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

func appendUniqueID(ids []mosaic.ProfileID, id mosaic.ProfileID) []mosaic.ProfileID {
	if slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

func unionStrings(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

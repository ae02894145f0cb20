package processor

import (
	"context"
	"maps"
	"slices"

	"github.com/mosaic-cdp/mosaic"
)

// The identity stage prepares a batch while the one before it is still being committed, so
// the store does not yet show what that batch changed. Each processed batch stays in
// Identity.pending until AfterCommit: its records, links, profiles and groups. Every read of
// the stage goes through the find* helpers here, which look in the pending batches first
// (newest first), then in the caches of committed state, then in the store. What they return
// is the stage's own copy: the pending batch is being written by the store meanwhile.

// pendingBatch is what one processed, not yet committed batch changed or loaded.
type pendingBatch struct {
	b        *Batch
	comp     *component
	byEnd    map[mosaic.IdentifierKey][]*mosaic.IdentityEdge // comp.edges by each end
	profiles map[mosaic.ProfileID]*mosaic.ProfileState
	groups   map[string]*mosaic.GroupState
}

func newPendingBatch(b *Batch, comp *component, ch *mosaic.IdentityChanges) *pendingBatch {
	pb := &pendingBatch{b: b, comp: comp, byEnd: map[mosaic.IdentifierKey][]*mosaic.IdentityEdge{},
		profiles: map[mosaic.ProfileID]*mosaic.ProfileState{}, groups: map[string]*mosaic.GroupState{}}
	for _, e := range comp.edges {
		pb.byEnd[e.A] = append(pb.byEnd[e.A], e)
		pb.byEnd[e.B] = append(pb.byEnd[e.B], e)
	}
	for _, p := range ch.Profiles {
		pb.profiles[p.ID] = p
	}
	for _, g := range ch.Groups {
		pb.groups[g.ID] = g
	}
	return pb
}

// pendingRecord returns a copy of the newest pending version of an identifier.
func (s *Identity) pendingRecord(k mosaic.IdentifierKey) (*mosaic.IdentifierRecord, bool) {
	for i := len(s.pending) - 1; i >= 0; i-- {
		if r, ok := s.pending[i].comp.records[k]; ok {
			cp := *r
			return &cp, true
		}
	}
	return nil, false
}

// cachedRecord returns a copy of an identifier from the pending batches or the cache.
func (s *Identity) cachedRecord(k mosaic.IdentifierKey) (*mosaic.IdentifierRecord, bool) {
	if r, ok := s.pendingRecord(k); ok {
		return r, true
	}
	if r, ok := s.idCache.get(k); ok {
		cp := *r
		return &cp, true
	}
	return nil, false
}

// cachedEdge returns a copy of a link from the pending batches or the cache.
func (s *Identity) cachedEdge(k edgeKey) (*mosaic.IdentityEdge, bool) {
	for i := len(s.pending) - 1; i >= 0; i-- {
		if e, ok := s.pending[i].comp.edges[k]; ok {
			cp := *e
			return &cp, true
		}
	}
	if e, ok := s.edgeCache.get(k); ok {
		cp := *e
		return &cp, true
	}
	return nil, false
}

// findIdentifiers returns the identifiers among keys that exist, pending or stored.
func (s *Identity) findIdentifiers(ctx context.Context, keys []mosaic.IdentifierKey) ([]*mosaic.IdentifierRecord, error) {
	var out []*mosaic.IdentifierRecord
	var miss []mosaic.IdentifierKey
	for _, k := range keys {
		if r, ok := s.cachedRecord(k); ok {
			out = append(out, r)
		} else {
			miss = append(miss, k)
		}
	}
	if len(miss) == 0 {
		return out, nil
	}
	stored, err := s.Store.FindIdentifiers(ctx, miss)
	return append(out, stored...), err
}

// findProfileIdentifiers returns the identifiers of the given profiles, pending or stored:
// a pending version of a record wins over the stored one, wherever it moved.
func (s *Identity) findProfileIdentifiers(ctx context.Context, ids []mosaic.ProfileID) ([]*mosaic.IdentifierRecord, error) {
	stored, err := s.Store.FindProfileIdentifiers(ctx, ids)
	if err != nil {
		return nil, err
	}
	want := make(map[mosaic.ProfileID]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	byKey := map[mosaic.IdentifierKey]*mosaic.IdentifierRecord{}
	for _, r := range stored {
		byKey[r.Key] = r
	}
	for _, pb := range s.pending { // oldest first, so newer versions win
		for k, r := range pb.comp.records {
			if _, ok := byKey[k]; ok || want[r.ProfileID] {
				cp := *r
				byKey[k] = &cp
			}
		}
	}
	out := make([]*mosaic.IdentifierRecord, 0, len(byKey))
	for _, r := range byKey {
		if want[r.ProfileID] {
			out = append(out, r)
		}
	}
	return out, nil
}

// findEdges returns every link with an end among keys, pending or stored.
func (s *Identity) findEdges(ctx context.Context, keys []mosaic.IdentifierKey) ([]*mosaic.IdentityEdge, error) {
	stored, err := s.Store.FindIdentityEdges(ctx, keys)
	if err != nil || len(s.pending) == 0 {
		return stored, err
	}
	byKey := make(map[edgeKey]*mosaic.IdentityEdge, len(stored))
	for _, e := range stored {
		byKey[keyOf(e)] = e
	}
	for _, pb := range s.pending { // oldest first, so newer versions win
		for _, k := range keys {
			for _, e := range pb.byEnd[k] {
				cp := *e
				byKey[keyOf(e)] = &cp
			}
		}
	}
	return slices.Collect(maps.Values(byKey)), nil
}

// findProfileStates returns the states of the given profiles, pending or stored.
func (s *Identity) findProfileStates(ctx context.Context, ids []mosaic.ProfileID) ([]*mosaic.ProfileState, error) {
	var out []*mosaic.ProfileState
	var miss []mosaic.ProfileID
	for _, id := range ids {
		if p := s.pendingProfile(id); p != nil {
			out = append(out, p)
		} else {
			miss = append(miss, id)
		}
	}
	if len(miss) == 0 {
		return out, nil
	}
	stored, err := s.Store.FindProfileStates(ctx, miss)
	return append(out, stored...), err
}

func (s *Identity) pendingProfile(id mosaic.ProfileID) *mosaic.ProfileState {
	for i := len(s.pending) - 1; i >= 0; i-- {
		if p, ok := s.pending[i].profiles[id]; ok {
			cp := *p
			cp.MergedFrom = slices.Clone(p.MergedFrom)
			cp.Flags = slices.Clone(p.Flags)
			cp.Groups = slices.Clone(p.Groups)
			cp.SearchTerms = slices.Clone(p.SearchTerms)
			cp.State = slices.Clone(p.State)
			cp.Traits = maps.Clone(p.Traits)
			cp.TraitSources = maps.Clone(p.TraitSources)
			cp.New, cp.KeepSearchTerms = false, false // the store will have it by the next write
			return &cp
		}
	}
	return nil
}

// findGroupStates returns the states of the given groups that exist, pending or stored.
func (s *Identity) findGroupStates(ctx context.Context, ids []string) ([]*mosaic.GroupState, error) {
	var out []*mosaic.GroupState
	var miss []string
	for _, id := range ids {
		if g := s.pendingGroup(id); g != nil {
			out = append(out, g)
		} else {
			miss = append(miss, id)
		}
	}
	if len(miss) == 0 {
		return out, nil
	}
	stored, err := s.Store.FindGroupStates(ctx, miss)
	return append(out, stored...), err
}

func (s *Identity) pendingGroup(id string) *mosaic.GroupState {
	for i := len(s.pending) - 1; i >= 0; i-- {
		if g, ok := s.pending[i].groups[id]; ok {
			cp := *g
			cp.State = slices.Clone(g.State)
			cp.Traits = maps.Clone(g.Traits)
			cp.TraitSources = maps.Clone(g.TraitSources)
			return &cp
		}
	}
	return nil
}

// rebuildsPerBatch is how many queued profile rebuilds a batch takes: each reads the
// profile's identify and group events.
const rebuildsPerBatch = 200

// pendingRebuilds returns queued profile rebuilds that no pending batch is applying already.
func (s *Identity) pendingRebuilds(ctx context.Context) ([]mosaic.IdentifierKey, error) {
	if len(s.pending) == 0 {
		return s.Store.PendingRebuilds(ctx, rebuildsPerBatch)
	}
	inFlight := map[mosaic.IdentifierKey]bool{}
	for _, pb := range s.pending {
		if pb.b.Identity != nil {
			for _, k := range pb.b.Identity.Rebuilt {
				inFlight[k] = true
			}
		}
	}
	keys, err := s.Store.PendingRebuilds(ctx, rebuildsPerBatch+len(inFlight))
	keys = slices.DeleteFunc(keys, func(k mosaic.IdentifierKey) bool { return inFlight[k] })
	return keys[:min(len(keys), rebuildsPerBatch)], err
}

// findEventsByIdentity reads stored events, which needs every earlier batch committed.
func (s *Identity) findEventsByIdentity(ctx context.Context, keys []mosaic.IdentifierKey, types []mosaic.EventType) ([]*mosaic.Event, error) {
	if len(s.pending) > 0 {
		return nil, ErrNeedCommitted
	}
	return s.Store.FindEventsByIdentity(ctx, keys, types)
}

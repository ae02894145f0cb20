package processor

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/traits"
)

// foldGroups folds the traits of the batch's group calls into their groups' states by the
// profile survivorship rules (so by event time, whatever order the calls arrive in), and puts
// every group it creates or changes into ch.Groups, by id. A group call without traits still
// makes its group known. Membership is the profile's side (observe).
//
// When a rebuild of every group is queued (mosaic.IdentityService.PendingGroupRebuild), every
// group's traits are first rebuilt from the stored group calls under the rules in force.
func (s *Identity) foldGroups(ctx context.Context, events []*mosaic.Event, ch *mosaic.IdentityChanges, now time.Time) error {
	rebuilt, err := s.rebuildGroups(ctx)
	if err != nil {
		return err
	}
	if rebuilt != nil {
		ch.GroupsRebuilt = true
	}
	ids := slices.Collect(maps.Keys(rebuilt))
	for _, e := range events {
		if g := s.groupID(e); g != "" {
			ids = append(ids, g)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ids = dedupe(ids)
	stored, err := s.findGroupStates(ctx, ids)
	if err != nil {
		return err
	}
	groups := make(map[string]*mosaic.GroupState, len(ids))
	before := make(map[string]string, len(stored)) // stored state, to skip unchanged groups
	for _, g := range stored {
		groups[g.ID], before[g.ID] = g, string(g.State)
	}
	states := map[string]traits.States{}
	for id, ts := range rebuilt {
		states[id] = ts
		if groups[id] == nil {
			groups[id] = &mosaic.GroupState{ID: id, CreatedAt: now}
		}
	}
	for _, e := range events {
		gid := s.groupID(e)
		if gid == "" {
			continue
		}
		if groups[gid] == nil {
			groups[gid] = &mosaic.GroupState{ID: gid, CreatedAt: now}
		}
		if len(e.Traits) == 0 {
			continue
		}
		ts, ok := states[gid]
		if !ok {
			ts = decodeStates(groups[gid].State)
			states[gid] = ts
		}
		s.Traits.ObserveObject(ts, e.Traits, traits.Observation{SourceID: e.SourceID, MessageID: e.MessageID, EventTime: e.Timestamp, ReceivedAt: e.ReceivedAt})
	}
	for _, id := range ids { // sorted
		g := groups[id]
		if ts, ok := states[id]; ok {
			g.State = ts.AppendJSON(nil)
			g.Traits, g.TraitSources = ts.Traits()
		}
		if old, ok := before[id]; ok && old == string(g.State) {
			continue
		}
		g.UpdatedAt = now
		ch.Groups = append(ch.Groups, g)
	}
	return nil
}

// groupCallsPage is how many stored group calls a group rebuild reads at a time.
const groupCallsPage = 5000

// rebuildGroups returns, when a rebuild of every group is queued, the traits of each group
// rebuilt from its stored group calls (nil when none is queued). The calls are stored only
// once every earlier batch is committed (ErrNeedCommitted).
func (s *Identity) rebuildGroups(ctx context.Context) (map[string]traits.States, error) {
	pending, err := s.Store.PendingGroupRebuild(ctx)
	if err != nil || !pending {
		return nil, err
	}
	if len(s.pending) > 0 {
		return nil, ErrNeedCommitted
	}
	out := map[string]traits.States{}
	for after := int64(0); ; {
		calls, err := s.Store.FindGroupCalls(ctx, after, groupCallsPage)
		if err != nil {
			return nil, err
		}
		for _, e := range calls {
			gid := s.groupID(e)
			if gid == "" {
				continue
			}
			ts := out[gid]
			if ts == nil {
				ts = traits.States{}
				out[gid] = ts
			}
			if len(e.Traits) > 0 {
				s.Traits.ObserveObject(ts, e.Traits, traits.Observation{SourceID: e.SourceID, MessageID: e.MessageID, EventTime: e.Timestamp, ReceivedAt: e.ReceivedAt})
			}
		}
		if len(calls) < groupCallsPage {
			return out, nil
		}
		after = calls[len(calls)-1].ID
	}
}

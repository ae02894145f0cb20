package processor

import (
	"context"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/traits"
)

// foldGroups folds the traits of the batch's group calls into their groups' states by the
// profile survivorship rules (so by event time, whatever order the calls arrive in), and puts
// every group it creates or changes into ch.Groups, by id. A group call without traits still
// makes its group known. Membership is the profile's side (observe).
func (s *Identity) foldGroups(ctx context.Context, events []*mosaic.Event, ch *mosaic.IdentityChanges, now time.Time) error {
	var ids []string
	for _, e := range events {
		if e.Type == mosaic.EventGroup && e.GroupID != "" {
			ids = append(ids, e.GroupID)
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
	for _, e := range events {
		if e.Type != mosaic.EventGroup || e.GroupID == "" {
			continue
		}
		if groups[e.GroupID] == nil {
			groups[e.GroupID] = &mosaic.GroupState{ID: e.GroupID, CreatedAt: now}
		}
		if len(e.Traits) == 0 {
			continue
		}
		ts, ok := states[e.GroupID]
		if !ok {
			ts = decodeStates(groups[e.GroupID].State)
			states[e.GroupID] = ts
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

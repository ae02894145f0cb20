package processor

import (
	"context"

	"github.com/mosaic-cdp/mosaic"
)

// Dedupe drops events whose messageId is already stored for their source, or seen earlier in
// the batch, before any later stage sees them: a retried call must not count twice in a
// profile's traits. (The store's unique key is the last line of defence.)
type Dedupe struct {
	Store interface {
		FindStoredMessageIDs(ctx context.Context, src mosaic.SourceID, ids []string) (map[string]bool, error)
	}
}

// Name implements Stage.
func (d *Dedupe) Name() string { return "dedupe" }

// Process implements Stage.
func (d *Dedupe) Process(ctx context.Context, b *Batch) error {
	bySource := map[mosaic.SourceID][]string{}
	for _, e := range b.Events {
		bySource[e.SourceID] = append(bySource[e.SourceID], e.MessageID)
	}
	stored := map[mosaic.SourceID]map[string]bool{}
	for src, ids := range bySource {
		m, err := d.Store.FindStoredMessageIDs(ctx, src, ids)
		if err != nil {
			return err
		}
		stored[src] = m
	}
	type ref struct {
		src mosaic.SourceID
		id  string
	}
	seen := map[ref]bool{}
	kept := b.Events[:0]
	for _, e := range b.Events {
		r := ref{e.SourceID, e.MessageID}
		if stored[e.SourceID][e.MessageID] || seen[r] {
			if b.Duplicates == nil {
				b.Duplicates = map[mosaic.SourceID]int64{}
			}
			b.Duplicates[e.SourceID]++
			continue
		}
		seen[r] = true
		kept = append(kept, e)
	}
	b.Events = kept
	return nil
}

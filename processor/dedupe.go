package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"

	"github.com/mosaic-cdp/mosaic"
)

// Dedupe drops events whose messageId is already stored for their source, or seen earlier in
// the batch, before any later stage sees them: a retried call must not count twice in a
// profile's traits. (The store's unique key is the last line of defence.) The messageIds of
// batches processed but not yet committed count as stored. A dropped call that a bulk import
// made (context.import.id) is also counted for that import (Batch.ImportDuplicates).
type Dedupe struct {
	Store interface {
		FindStoredMessageIDs(ctx context.Context, src mosaic.SourceID, ids []string) (map[string]bool, error)
	}

	pending []pendingIDs // oldest first
}

type msgRef struct {
	src mosaic.SourceID
	id  string
}

// pendingIDs are the messageIds a processed batch keeps, until its commit ends.
type pendingIDs struct {
	b   *Batch
	ids map[msgRef]bool
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
	seen := map[msgRef]bool{}
	kept := b.Events[:0]
	for _, e := range b.Events {
		r := msgRef{e.SourceID, e.MessageID}
		if stored[e.SourceID][e.MessageID] || seen[r] || d.isPending(r) {
			if b.Duplicates == nil {
				b.Duplicates = map[mosaic.SourceID]int64{}
			}
			b.Duplicates[e.SourceID]++
			if imp := importOf(e); imp != "" {
				if b.ImportDuplicates == nil {
					b.ImportDuplicates = map[mosaic.ImportRef]int64{}
				}
				b.ImportDuplicates[mosaic.ImportRef{SourceID: e.SourceID, ImportID: imp}]++
			}
			continue
		}
		seen[r] = true
		kept = append(kept, e)
	}
	b.Events = kept
	d.pending = append(d.pending, pendingIDs{b, seen})
	return nil
}

// importOf returns the import whose row e is (its context.import.id, which package bulk
// writes), or "".
func importOf(e *mosaic.Event) mosaic.ImportID {
	if !bytes.Contains(e.Context, []byte(`"import"`)) {
		return ""
	}
	var c struct {
		Import struct {
			ID mosaic.ImportID `json:"id"`
		} `json:"import"`
	}
	if json.Unmarshal(e.Context, &c) != nil {
		return ""
	}
	return c.Import.ID
}

func (d *Dedupe) isPending(r msgRef) bool {
	for _, p := range d.pending {
		if p.ids[r] {
			return true
		}
	}
	return false
}

// AfterCommit implements CommitHook: once a batch's commit ended, its messageIds are stored
// (or, after a failure, not, and the batches prepared after it are dropped too).
func (d *Dedupe) AfterCommit(b *Batch, err error) {
	i := slices.IndexFunc(d.pending, func(p pendingIDs) bool { return p.b == b })
	if i < 0 {
		return
	}
	if err != nil {
		d.pending = d.pending[:i]
		return
	}
	d.pending = slices.Delete(d.pending, i, i+1)
}

package processor_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/processor"
)

// TestBusyStillProcesses checks that a processor yielding to a busy gateway still processes
// every record, and asks after each batch.
func TestBusyStillProcesses(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	src := &mosaic.Source{Name: "web"}
	if err := db.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var recs []*mosaic.InboxRecord
	for i := range 50 {
		recs = append(recs, &mosaic.InboxRecord{SourceID: src.ID, MessageID: fmt.Sprintf("m%d", i), ReceivedAt: now,
			Payload: []byte(`{"type":"track","event":"E","userId":"u"}`)})
	}
	if err := db.AppendInbox(ctx, recs); err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int64
	p := &processor.Processor{Store: db, BatchSize: 10, Busy: func() bool { asked.Add(1); return true }}
	if err := p.Open(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	drainCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Drain(drainCtx); err != nil {
		t.Fatal(err)
	}
	stats, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.InboxLag != 0 || stats.Events != 50 {
		t.Fatalf("lag=%d events=%d, want 0 and 50", stats.InboxLag, stats.Events)
	}
	if got := asked.Load(); got < 5 {
		t.Fatalf("Busy asked %d times for 5 batches", got)
	}
}

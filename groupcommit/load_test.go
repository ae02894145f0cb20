package groupcommit

import (
	"context"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
)

func TestLoad(t *testing.T) {
	var clock time.Time // moved by hand: writes take 30 ms of every 100 ms
	c := New(func(ctx context.Context, recs []*mosaic.InboxRecord) error {
		clock = clock.Add(30 * time.Millisecond)
		return nil
	}, 0)
	defer c.Close()
	c.now = func() time.Time { return clock } // before any write, which the Append below orders
	c.loadAt = clock
	if got := c.Load(); got != 0 {
		t.Fatalf("Load()=%v with no time passed, want 0", got)
	}
	for range 3 {
		if err := c.Append(context.Background(), make([]*mosaic.InboxRecord, 2)); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(70 * time.Millisecond)
	}
	if got := c.Load(); got < 0.299 || got > 0.301 {
		t.Fatalf("Load()=%v, want 0.3", got)
	}
	clock = clock.Add(time.Second)
	if got := c.Load(); got != 0 {
		t.Fatalf("Load()=%v after an idle second, want 0", got)
	}
}

package groupcommit_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/groupcommit"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGroupsConcurrentAppends(t *testing.T) {
	var mu sync.Mutex
	var writes, total int
	release := make(chan struct{})
	first := true
	c := groupcommit.New(func(ctx context.Context, recs []*mosaic.InboxRecord) error {
		mu.Lock()
		wait := first
		first = false
		writes++
		total += len(recs)
		mu.Unlock()
		if wait {
			<-release // hold the first write so the others queue up behind it
		}
		return nil
	}, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 51)
	wg.Add(1)
	go func() { defer wg.Done(); errs <- c.Append(context.Background(), make([]*mosaic.InboxRecord, 3)) }()
	for {
		mu.Lock()
		started := writes == 1
		mu.Unlock()
		if started {
			break
		}
	}
	var queued sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		queued.Add(1)
		go func() {
			defer wg.Done()
			queued.Done()
			errs <- c.Append(context.Background(), make([]*mosaic.InboxRecord, 2))
		}()
	}
	queued.Wait()
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if total != 103 {
		t.Fatalf("wrote %d records, want 103", total)
	}
	if writes >= 51 {
		t.Fatalf("%d writes for 51 appends: nothing was grouped", writes)
	}
}

func TestErrorReachesEveryWaiter(t *testing.T) {
	boom := errors.New("disk full")
	c := groupcommit.New(func(context.Context, []*mosaic.InboxRecord) error { return boom }, 0)
	defer c.Close()
	if err := c.Append(context.Background(), make([]*mosaic.InboxRecord, 1)); !errors.Is(err, boom) {
		t.Fatalf("err=%v, want %v", err, boom)
	}
}

func TestClosedRefuses(t *testing.T) {
	c := groupcommit.New(func(context.Context, []*mosaic.InboxRecord) error { return nil }, 0)
	c.Close()
	if got := mosaic.ErrorCode(c.Append(context.Background(), nil)); got != mosaic.EUNAVAILABLE {
		t.Fatalf("code=%q, want unavailable", got)
	}
}

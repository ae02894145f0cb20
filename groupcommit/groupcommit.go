// Package groupcommit coalesces concurrent inbox appends into one durable write.
//
// Every ingestion request waits for its events to be durable before it is acknowledged. Making
// each request pay for its own fsync would cap throughput at the disk's sync rate, so requests
// that arrive while a write is in flight are queued and written together by the next one:
// the classic group commit. There is no timer: under low load a request is written at once;
// under high load the batch grows by itself while the previous write syncs.
package groupcommit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosaic-cdp/mosaic"
)

// AppendFunc durably appends records, as mosaic.InboxService.AppendInbox does.
type AppendFunc func(ctx context.Context, recs []*mosaic.InboxRecord) error

// DefaultMaxBatch bounds how many records one write carries.
const DefaultMaxBatch = 20000

// Committer groups appends. Create it with New and stop it with Close.
type Committer struct {
	append   AppendFunc
	maxBatch int
	now      func() time.Time

	mu      sync.Mutex
	pending []*waiter
	closed  bool
	kick    chan struct{}
	done    chan struct{}

	busy     atomic.Int64 // nanoseconds spent writing since New
	loadMu   sync.Mutex
	loadAt   time.Time // the previous Load call (or New)
	loadBusy int64     // busy at loadAt
}

type waiter struct {
	recs []*mosaic.InboxRecord
	err  chan error
}

// New starts a committer writing through fn; maxBatch ≤ 0 means DefaultMaxBatch.
func New(fn AppendFunc, maxBatch int) *Committer {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	c := &Committer{append: fn, maxBatch: maxBatch, now: time.Now, kick: make(chan struct{}, 1), done: make(chan struct{})}
	c.loadAt = c.now()
	go c.loop()
	return c
}

// Load returns the fraction of the time since the previous call (or New) that the committer
// spent writing, from 0 (idle) to 1 (writing all the time: ingestion is as fast as the
// store takes it). A write still in progress counts when it ends.
func (c *Committer) Load() float64 {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	now, busy := c.now(), c.busy.Load()
	elapsed, spent := now.Sub(c.loadAt), busy-c.loadBusy
	c.loadAt, c.loadBusy = now, busy
	if elapsed <= 0 {
		return 0
	}
	return min(float64(spent)/float64(elapsed), 1)
}

// Append queues recs and returns when they are durable (nil) or failed. If ctx ends first the
// records may still be written; the caller must then not acknowledge them.
func (c *Committer) Append(ctx context.Context, recs []*mosaic.InboxRecord) error {
	w := &waiter{recs: recs, err: make(chan error, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return mosaic.Errorf(mosaic.EUNAVAILABLE, "Shutting down; retry.")
	}
	c.pending = append(c.pending, w)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-w.err:
		return err
	case <-ctx.Done():
		return &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Request ended before the events were stored; retry.", Err: ctx.Err()}
	}
}

func (c *Committer) loop() {
	defer close(c.done)
	for range c.kick {
		for {
			c.mu.Lock()
			var group []*waiter
			n := 0
			for len(c.pending) > 0 && (n == 0 || n+len(c.pending[0].recs) <= c.maxBatch) {
				n += len(c.pending[0].recs)
				group = append(group, c.pending[0])
				c.pending = c.pending[1:]
			}
			closed := c.closed
			c.mu.Unlock()
			if len(group) == 0 {
				if closed {
					return
				}
				break
			}
			recs := make([]*mosaic.InboxRecord, 0, n)
			for _, w := range group {
				recs = append(recs, w.recs...)
			}
			// The write is not tied to any one request's context: others share it.
			start := c.now()
			err := c.append(context.Background(), recs)
			c.busy.Add(int64(c.now().Sub(start)))
			for _, w := range group {
				w.err <- err
			}
		}
	}
}

// Close writes what is queued, refuses new appends and waits for the writer to stop.
func (c *Committer) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.kick)
	}
	c.mu.Unlock()
	<-c.done
	return nil
}

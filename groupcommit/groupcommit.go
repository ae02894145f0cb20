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

	mu      sync.Mutex
	pending []*waiter
	closed  bool
	kick    chan struct{}
	done    chan struct{}
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
	c := &Committer{append: fn, maxBatch: maxBatch, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go c.loop()
	return c
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
			err := c.append(context.Background(), recs)
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

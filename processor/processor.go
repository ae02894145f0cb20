// Package processor turns the inbox into stored events: it reads inbox records in order, runs
// them through a pipeline of stages and commits the result together with the new inbox offset
// in one transaction, so every record is applied exactly once even across crashes.
//
// The pipeline is the processor half of the data flow in DESIGN.md:
//
//	decode (parse, normalise, clock-skew correction) → [tracking plan] → [suppression]
//	→ [consent] → [identity resolution] → [profile traits] → store (dedupe by messageId)
//
// Stages in brackets come with later work; each is a Stage added to Processor.Stages.
package processor

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/segment"
)

// Store is what the processor needs of a mosaic.Store.
type Store interface {
	mosaic.InboxService
	mosaic.EventService
}

// Batch is one inbox range on its way through the stages.
type Batch struct {
	Records []*mosaic.InboxRecord // the inbox range, in order
	// Events are the records that survived the stages so far, in inbox order. A stage may
	// change, drop or (rarely) add events.
	Events []*mosaic.Event
	// Rejected counts records that could not be processed, by source.
	Rejected map[mosaic.SourceID]int64
	// Duplicates counts events dropped as already processed, by source.
	Duplicates map[mosaic.SourceID]int64
	// Identity holds the identity stage's writes, committed with the events.
	Identity *mosaic.IdentityChanges
}

// Reject counts a record that cannot be processed.
func (b *Batch) Reject(src mosaic.SourceID) {
	if b.Rejected == nil {
		b.Rejected = map[mosaic.SourceID]int64{}
	}
	b.Rejected[src]++
}

// A Stage is one step of the pipeline. Process must be deterministic for a given batch and
// store state, since a crash replays the batch.
type Stage interface {
	Name() string
	Process(ctx context.Context, b *Batch) error
}

// CommitHook is implemented by stages that keep state in memory: AfterCommit is told whether
// the batch they processed was committed.
type CommitHook interface {
	AfterCommit(b *Batch, err error)
}

// Defaults.
const (
	DefaultBatchSize = 2000
	DefaultPoll      = time.Second
	maxBackoff       = 30 * time.Second
)

// Processor consumes the inbox. Set the fields, then call Open; Close stops it.
type Processor struct {
	Store     Store
	Stages    []Stage // run after Decode, in order
	BatchSize int
	Poll      time.Duration // how often to look for work without a Notify
	Logger    *slog.Logger
	// Committed, if set, is called after each committed batch (for metrics).
	Committed func(b *Batch, res *mosaic.CommitResult)
	// Busy, if set, is asked after each batch whether ingestion is busy. While it is, the
	// processor rests as long as the batch took before taking the next, leaving most of the
	// CPU to acknowledging events, which clients wait for; the inbox holds the rest, and the
	// processor catches up at full speed when the load drops.
	Busy func() bool

	kick   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	offset int64
}

// Open starts the processor's worker.
func (p *Processor) Open() error {
	if p.BatchSize <= 0 {
		p.BatchSize = DefaultBatchSize
	}
	if p.Poll <= 0 {
		p.Poll = DefaultPoll
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	p.kick = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.run(ctx)
	}()
	return nil
}

// Close stops the worker after the batch in flight; unprocessed records stay in the inbox.
func (p *Processor) Close() error {
	if p.cancel != nil {
		p.cancel()
		p.wg.Wait()
	}
	return nil
}

// Notify tells the processor there is new work (the gateway calls it after each append).
func (p *Processor) Notify() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Drain processes until the inbox head seen at the call is committed and no steward change
// waits, or ctx ends.
func (p *Processor) Drain(ctx context.Context) error {
	head, err := p.Store.InboxHead(ctx)
	if err != nil {
		return err
	}
	for {
		p.mu.Lock()
		off := p.offset
		p.mu.Unlock()
		if off >= head {
			pending, err := p.pendingWork(ctx)
			if err != nil {
				return err
			}
			if !pending {
				return nil
			}
		}
		p.Notify()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (p *Processor) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	var lastErrLog time.Time
	for {
		start := time.Now()
		n, err := p.step(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if time.Since(lastErrLog) > 10*time.Second { // rate-limited error log
				p.Logger.Error("processor step failed; retrying", "err", err, "backoff", backoff)
				lastErrLog = time.Now()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = 100 * time.Millisecond
		if n > 0 && p.Busy != nil && p.Busy() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Since(start)): // yield to ingestion
			}
		}
		if n > 0 {
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		case <-time.After(p.Poll):
		}
	}
}

// step processes one batch and returns how many records it consumed.
func (p *Processor) step(ctx context.Context) (int, error) {
	from, err := p.Store.ProcessorOffset(ctx)
	if err != nil {
		return 0, err
	}
	p.setOffset(from)
	recs, err := p.Store.ReadInbox(ctx, from, p.BatchSize)
	if err != nil {
		return 0, err
	}
	through := from
	if len(recs) > 0 {
		through = recs[len(recs)-1].Seq
	} else if pending, err := p.pendingWork(ctx); err != nil || !pending {
		return 0, err
	}
	b := &Batch{Records: recs}
	if err := Decode(b); err != nil {
		return 0, err
	}
	for _, s := range p.Stages {
		if err := s.Process(ctx, b); err != nil {
			return 0, err
		}
	}
	res, err := p.Store.CommitEvents(ctx, &mosaic.EventCommit{From: from, Through: through, Events: b.Events, Rejected: b.Rejected, Duplicates: b.Duplicates, Identity: b.Identity})
	for _, s := range p.Stages {
		if h, ok := s.(CommitHook); ok {
			h.AfterCommit(b, err)
		}
	}
	if err != nil {
		return 0, err
	}
	p.setOffset(through)
	if p.Committed != nil {
		p.Committed(b, res)
	}
	return max(len(recs), 1), nil
}

// pendingWork reports whether a steward's change waits to be applied (identity recomputes),
// which the processor runs even when the inbox is empty.
func (p *Processor) pendingWork(ctx context.Context) (bool, error) {
	var pr interface {
		PendingRecomputes(ctx context.Context, limit int) ([]mosaic.IdentifierKey, error)
	}
	for _, s := range p.Stages {
		if id, ok := s.(*Identity); ok {
			pr = id.Store
		}
	}
	if pr == nil {
		return false, nil
	}
	keys, err := pr.PendingRecomputes(ctx, 1)
	return len(keys) > 0, err
}

func (p *Processor) setOffset(off int64) {
	p.mu.Lock()
	p.offset = off
	p.mu.Unlock()
}

// Decode is the first stage: it parses each record's payload into a normalised event with its
// source, receive time, messageId and clock-skew-corrected timestamp. A record that no longer
// parses (it passed the gateway, so only a schema change could cause this) is counted as
// rejected and logged by id, never silently dropped.
func Decode(b *Batch) error {
	b.Events = make([]*mosaic.Event, 0, len(b.Records))
	for _, r := range b.Records {
		e, err := segment.DecodeEvent(r.Payload, "", "")
		if err != nil {
			b.Reject(r.SourceID)
			continue
		}
		e.SourceID, e.MessageID, e.ReceivedAt = r.SourceID, r.MessageID, r.ReceivedAt
		if e.SentAt == nil {
			e.SentAt = r.SentAt
		}
		e.Timestamp = mosaic.CorrectTimestamp(e.OriginalTimestamp, e.SentAt, r.ReceivedAt)
		b.Events = append(b.Events, e)
	}
	return nil
}

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
	"errors"
	"log/slog"
	"runtime"
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
	Records []*mosaic.InboxRecord // the inbox range, in order (payloads dropped once decoded)
	// Events are the records that survived the stages so far, in inbox order. A stage may
	// change, drop or (rarely) add events.
	Events []*mosaic.Event
	// Rejected counts records that could not be processed, by source.
	Rejected map[mosaic.SourceID]int64
	// Duplicates counts events dropped as already processed, by source.
	Duplicates map[mosaic.SourceID]int64
	// ImportDuplicates counts, of Duplicates, the rows of bulk imports, by import.
	ImportDuplicates map[mosaic.ImportRef]int64
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

// CommitHook is implemented by stages that keep state in memory. AfterCommit is told, for
// every batch the stage processed and in the same order, whether it was committed (err nil)
// or not. The processor prepares a batch while the one before it commits, so a stage sees
// Process(n+1) before AfterCommit(n): it must read through what batch n changed.
type CommitHook interface {
	AfterCommit(b *Batch, err error)
}

// Defaults. Each commit rewrites every index and profile page it touches, so the more events
// share a page, the less each costs: batches of 20k events resolved ~13 % more events a
// second end to end than 10k, and 50k another 6 % over 20k (segload defaults, two runs each:
// 14.3k and 15.4k events/s against 13.9k and 14.1k; 105–114 µs of CPU an event against
// 119), for ~300 MB more memory at the peak (two batches in flight: 1.3–1.4 GB RSS
// against 1.05). Larger batches (mosaic serve --batch-events) write less again: 5.8 KB an
// event at 100k and 5.0 KB at 150k against 7.3 KB (bytes written while draining segload's
// backlog), for 1.85 and 2.1 GB of peak RSS against 1.2-1.3; the events resolved a second
// did not rise beyond the machine's run-to-run spread, so the default stays.
const (
	DefaultBatchSize = 50000
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

// run is the worker loop. It is a two-stage pipeline: while the store commits one batch, the
// stages prepare the next one, so the CPU work of decoding and resolving overlaps the store's
// writes. Stages keep what the batch in flight changed (see CommitHook) and read through it,
// so the next batch sees the same state as if the first were committed. If a commit fails,
// the batch prepared behind it is discarded too and both are redone from the stored offset.
func (p *Processor) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	var lastErrLog time.Time
	// fail logs err (rate-limited) and backs off; it returns false when ctx ended.
	fail := func(err error) bool {
		if ctx.Err() != nil {
			return false
		}
		if time.Since(lastErrLog) > 10*time.Second {
			p.Logger.Error("processor step failed; retrying", "err", err, "backoff", backoff)
			lastErrLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
		return true
	}
	var fl *flight // the batch being committed
	// settle waits for the batch in flight, if any, and tells the stages how its commit ended.
	settle := func() (settled bool, err error) {
		if fl == nil {
			return false, nil
		}
		res := <-fl.done
		p.afterCommit(fl.b, res.err)
		if res.err == nil {
			p.setOffset(fl.through)
			if p.Committed != nil {
				p.Committed(fl.b, res.res)
			}
		}
		fl = nil
		return true, res.err
	}
	defer settle()
	from := int64(-1) // where the next batch starts; -1: read the stored offset
	for {
		if from < 0 {
			off, err := p.Store.ProcessorOffset(ctx)
			if err != nil {
				if !fail(err) {
					return
				}
				continue
			}
			from = off
			p.setOffset(off)
		}
		start := time.Now()
		b, through, err := p.prepare(ctx, from)
		if err != nil {
			waited := fl != nil
			if _, cerr := settle(); cerr != nil {
				from, err = -1, cerr
			} else if errors.Is(err, ErrNeedCommitted) && waited {
				continue // a stage needed the batch in flight committed: it is, so try again
			}
			if !fail(err) {
				return
			}
			continue
		}
		if b == nil { // nothing to do
			settled, cerr := settle()
			if cerr != nil {
				from = -1
				if !fail(cerr) {
					return
				}
				continue
			}
			if settled {
				continue // look again now that the batch in flight is done
			}
			select {
			case <-ctx.Done():
				return
			case <-p.kick:
			case <-time.After(p.Poll):
			}
			continue
		}
		// The batch before must be committed before this one's commit starts.
		if _, cerr := settle(); cerr != nil {
			p.afterCommit(b, errDiscarded) // prepared on top of a batch that did not commit
			from = -1
			if !fail(cerr) {
				return
			}
			continue
		}
		backoff = 100 * time.Millisecond
		fl = p.commit(b, from, through)
		from = through
		if p.Busy != nil && p.Busy() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Since(start)): // yield to ingestion
			}
		}
	}
}

// ErrNeedCommitted is returned by a stage's Process when it can only go on with every earlier
// batch committed (for instance to read stored events); the processor then waits for the
// batch in flight and runs the stages on the batch again.
var ErrNeedCommitted = errors.New("processor: stage needs earlier batches committed")

// errDiscarded is what stages are told of a batch prepared behind one whose commit failed.
var errDiscarded = errors.New("processor: batch discarded after a failed commit")

// flight is a batch being committed in the background.
type flight struct {
	b       *Batch
	through int64
	done    chan commitResult
}

type commitResult struct {
	res *mosaic.CommitResult
	err error
}

// commit starts committing b (the inbox range (from, through]) in the background.
func (p *Processor) commit(b *Batch, from, through int64) *flight {
	fl := &flight{b: b, through: through, done: make(chan commitResult, 1)}
	go func() {
		// Shutdown does not cut the commit short: the worker waits for it anyway.
		res, err := p.Store.CommitEvents(context.Background(), &mosaic.EventCommit{From: from, Through: through,
			Events: b.Events, Rejected: b.Rejected, Duplicates: b.Duplicates, ImportDuplicates: b.ImportDuplicates, Identity: b.Identity})
		fl.done <- commitResult{res, err}
	}()
	return fl
}

// prepare reads the batch after from and runs it through the stages. It returns a nil batch
// when there is nothing to do.
func (p *Processor) prepare(ctx context.Context, from int64) (*Batch, int64, error) {
	recs, err := p.Store.ReadInbox(ctx, from, p.BatchSize)
	if err != nil {
		return nil, from, err
	}
	through := from
	if len(recs) > 0 {
		through = recs[len(recs)-1].Seq
	} else if pending, err := p.pendingWork(ctx); err != nil || !pending {
		return nil, from, err
	}
	b := &Batch{Records: recs}
	if err := Decode(b); err != nil {
		return nil, from, err
	}
	for i, s := range p.Stages {
		if err := s.Process(ctx, b); err != nil {
			// The stages before this one took the batch in; tell them it is not going on.
			for _, done := range p.Stages[:i] {
				if h, ok := done.(CommitHook); ok {
					h.AfterCommit(b, errDiscarded)
				}
			}
			return nil, from, err
		}
	}
	return b, through, nil
}

// afterCommit tells the stages how the commit of b ended.
func (p *Processor) afterCommit(b *Batch, err error) {
	if b == nil {
		return
	}
	for _, s := range p.Stages {
		if h, ok := s.(CommitHook); ok {
			h.AfterCommit(b, err)
		}
	}
}

// pendingWork reports whether a steward's change waits to be applied (identity recomputes,
// profile rebuilds, an identity replay), which the processor runs even when the inbox is
// empty.
func (p *Processor) pendingWork(ctx context.Context) (bool, error) {
	var pr interface {
		PendingRecomputes(ctx context.Context, limit int) ([]mosaic.IdentifierKey, error)
		PendingRebuilds(ctx context.Context, limit int) ([]mosaic.IdentifierKey, error)
		PendingGroupRebuild(ctx context.Context) (bool, error)
		IdentityReplay(ctx context.Context) (*mosaic.IdentityReplay, error)
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
	if err != nil || len(keys) > 0 {
		return len(keys) > 0, err
	}
	if keys, err = pr.PendingRebuilds(ctx, 1); err != nil || len(keys) > 0 {
		return len(keys) > 0, err
	}
	if r, err := pr.IdentityReplay(ctx); err != nil || r != nil {
		return r != nil, err
	}
	return pr.PendingGroupRebuild(ctx)
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
//
// A large batch is decoded on up to four goroutines (records need nothing but themselves).
func Decode(b *Batch) error {
	decoded := make([]*mosaic.Event, len(b.Records))
	one := func(i int) {
		r := b.Records[i]
		e, err := segment.DecodeEvent(r.Payload, "", "")
		if err != nil {
			return // rejected below
		}
		e.SourceID, e.MessageID, e.ReceivedAt = r.SourceID, r.MessageID, r.ReceivedAt
		if e.SentAt == nil {
			e.SentAt = r.SentAt
		}
		e.Timestamp = mosaic.CorrectTimestamp(e.OriginalTimestamp, e.SentAt, r.ReceivedAt)
		decoded[i] = e
	}
	inParallel(len(b.Records), workersFor(len(b.Records), decodeParallel), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			one(i)
		}
	})
	b.Events = make([]*mosaic.Event, 0, len(b.Records))
	for i, e := range decoded {
		if e == nil {
			b.Reject(b.Records[i].SourceID)
			continue
		}
		b.Events = append(b.Events, e)
	}
	// The events share no memory with the payloads, which nothing reads again: let them go
	// now rather than with the batch (a fifth of a batch's memory; two are in flight).
	for _, r := range b.Records {
		r.Payload = nil
	}
	return nil
}

// decodeParallel is the batch size from which Decode splits the work between goroutines.
const decodeParallel = 2000

// workersFor is how many goroutines share n items of work: one for each perWorker items, at
// most four and at most GOMAXPROCS.
func workersFor(n, perWorker int) int { return min(runtime.GOMAXPROCS(0), 4, max(n/perWorker, 1)) }

// inParallel calls fn for workers contiguous parts of [0, n), each on its own goroutine (on
// this one when workers is 1), and returns when all are done.
func inParallel(n, workers int, fn func(lo, hi int)) {
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for w := range workers {
		wg.Go(func() { fn(min(w*per, n), min((w+1)*per, n)) })
	}
	wg.Wait()
}

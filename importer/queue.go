package importer

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/bulk"
)

// Queue runs uploaded imports (origin api) in the background, Workers at a time, oldest
// first. Imports wait in the store with status queued, so they survive a restart; an import
// a shutdown interrupts is queued again by the next Open and resumes at its checkpoint. A
// worker only takes imports whose uploaded file is on this machine.
type Queue struct {
	Importer *Importer
	Workers  int           // 1 when 0: an import already keeps a core busy
	Poll     time.Duration // how often to look for queued imports without a Submit; 5s when 0
	Logger   *slog.Logger

	kick   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open requeues this store's interrupted uploads and starts the workers.
func (q *Queue) Open() error {
	if q.Workers <= 0 {
		q.Workers = 1
	}
	if q.Poll <= 0 {
		q.Poll = 5 * time.Second
	}
	if q.Logger == nil {
		q.Logger = slog.New(slog.DiscardHandler)
	}
	store := q.Importer.Store
	ctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	q.kick = make(chan struct{}, 1)
	origin := mosaic.ImportOriginAPI
	for _, st := range []mosaic.ImportStatus{mosaic.ImportRunning, mosaic.ImportInterrupted} {
		imps, err := store.FindImports(ctx, mosaic.ImportFilter{Status: &st, Origin: &origin, Limit: 1000})
		if err != nil {
			cancel()
			return err
		}
		for _, imp := range imps {
			if !fileExists(imp.FilePath) {
				continue // another server's upload
			}
			queued := mosaic.ImportQueued
			if _, err := store.UpdateImport(ctx, imp.ID, mosaic.ImportUpdate{IfStatus: &st, Status: &queued}); err != nil && mosaic.ErrorCode(err) != mosaic.ECONFLICT {
				cancel()
				return err
			}
			q.Logger.Info("import queued again after a restart", "import", imp.ID)
		}
	}
	for range q.Workers {
		q.wg.Go(func() { q.work(ctx) })
	}
	q.Submit()
	return nil
}

// Close stops the workers: a running import saves its checkpoint and is interrupted.
func (q *Queue) Close() error {
	if q.cancel != nil {
		q.cancel()
		q.wg.Wait()
	}
	return nil
}

// Submit tells the workers that an import was queued.
func (q *Queue) Submit() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

func (q *Queue) work(ctx context.Context) {
	backoff := time.Second
	for {
		ran, err := q.runOne(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			q.Logger.Error("import queue", "err", err, "backoff", backoff)
			backoff = min(2*backoff, maxBackoff)
		} else {
			backoff = time.Second
		}
		if ran && err == nil {
			continue
		}
		wait := q.Poll
		if err != nil {
			wait = backoff
		}
		select {
		case <-ctx.Done():
			return
		case <-q.kick:
		case <-time.After(wait):
		}
	}
}

// runOne claims the oldest queued upload found on this machine and runs it.
func (q *Queue) runOne(ctx context.Context) (bool, error) {
	store := q.Importer.Store
	queued, origin := mosaic.ImportQueued, mosaic.ImportOriginAPI
	imps, err := store.FindImports(ctx, mosaic.ImportFilter{Status: &queued, Origin: &origin, Limit: 1000})
	if err != nil {
		return false, err
	}
	for i := len(imps) - 1; i >= 0; i-- { // newest first: the oldest is last
		imp := imps[i]
		if !fileExists(imp.FilePath) {
			continue
		}
		running := mosaic.ImportRunning
		claimed, err := store.UpdateImport(ctx, imp.ID, mosaic.ImportUpdate{IfStatus: &queued, Status: &running})
		if mosaic.ErrorCode(err) == mosaic.ECONFLICT {
			continue // another worker took it
		} else if err != nil {
			return false, err
		}
		return true, q.run(ctx, claimed)
	}
	return false, nil
}

func (q *Queue) run(ctx context.Context, imp *mosaic.Import) error {
	log := q.Logger.With("import", imp.ID)
	m, err := bulk.ParseMapping(imp.Mapping)
	if err == nil {
		_, err = q.Importer.Run(ctx, Job{Import: imp, Mapping: m, Options: m.ReadOptions(bulk.Format(imp.Format))})
	} else {
		msg, failed := mosaic.ErrorMessage(err), mosaic.ImportFailed
		_, err = q.Importer.Store.UpdateImport(context.WithoutCancel(ctx), imp.ID, mosaic.ImportUpdate{Status: &failed, Error: &msg})
	}
	got, ferr := q.Importer.Store.FindImportByID(context.WithoutCancel(ctx), imp.ID)
	if ferr != nil {
		return errors.Join(err, ferr)
	}
	switch got.Status {
	case mosaic.ImportDone, mosaic.ImportFailed:
		// The upload has served its purpose; the error report stays for download.
		if rerr := os.Remove(got.FilePath); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			log.Warn("removing an uploaded file failed", "err", rerr)
		}
		log.Info("import finished", "status", got.Status, "rows", got.RowsRead, "bad", got.RowsBad)
		return nil
	case mosaic.ImportInterrupted:
		if ctx.Err() != nil {
			return nil // shutting down: the next Open queues it again
		}
		queued := mosaic.ImportQueued // a store or read error: try again later
		if _, uerr := q.Importer.Store.UpdateImport(ctx, imp.ID, mosaic.ImportUpdate{Status: &queued}); uerr != nil {
			return errors.Join(err, uerr)
		}
		return err
	}
	return err
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

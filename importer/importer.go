// Package importer runs bulk imports: it reads a CSV or JSONL file through package bulk,
// appends the calls to the durable inbox in large batches (bypassing HTTP but not the
// gateway's validation), writes bad rows to an error report, and checkpoints its progress in
// the store, so that an interrupted import resumes where it stopped and a finished one is
// not repeated. Imported calls then flow through the processor like API data.
//
// # Why hash the whole file first
//
// A row's messageId is derived from the file's SHA-256 and the row's number (and, for
// profile rows, the mapping: see bulk.Target), so the hash must be known before the first
// row is appended. Hashing costs one extra sequential read of the file (about 1 s per GB
// here, and it leaves the file in the page cache for the real read), and in return the
// checkpoint can name the file by its content: a re-run of the same bytes finds its
// checkpoint and seeks straight to its byte offset, whatever the file is called or wherever
// it was copied, while a changed file is a new import. Hashing in chunks as the import goes
// would save the read but make messageIds depend on chunking and leave an interrupted
// import unable to tell an unchanged file from one whose tail was edited.
//
// # Exactly once
//
// The checkpoint (rows read, byte offset, line, last inbox sequence) is written after each
// appended batch, in the main store, which is not the inbox's transaction. A crash between
// the two re-appends at most one batch on resume; its messageIds are the same, so the
// processor's per-source dedupe drops them. The checkpoint makes resuming fast; the
// messageIds make it correct. (The processor counts those second copies in the import's
// RowsDuplicate too, which then overstates the rows stored before the import by at most
// that one batch.)
//
// # New or already stored
//
// RowsImported counts the rows appended to the inbox; whether each was new is known only
// once the processor has seen it. Its Dedupe stage counts the dropped rows of each import
// (by the context.import.id of the calls), committed with the processor offset, so once the
// offset reaches the import's LastSeq, RowsDuplicate is final and the rest were new,
// however much other traffic the source had meanwhile.
package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/bulk"
)

// Store is what an import needs of a mosaic.Store.
type Store interface {
	mosaic.InboxService
	mosaic.ImportService
}

// Defaults.
const (
	DefaultBatchSize = 5000
	maxBatchBytes    = 16 << 20 // payload bytes per append, whatever the rows' size
	maxBackoff       = 30 * time.Second
)

// Importer runs imports. Set the fields, then call Run; it may run several imports at once.
type Importer struct {
	Store Store
	// Append durably appends records (a group committer in a server); Store.AppendInbox when nil.
	Append func(ctx context.Context, recs []*mosaic.InboxRecord) error
	// Appended, if set, is called after each append (to wake the processor).
	Appended func()
	// BatchSize is how many rows go into one append; 0 means DefaultBatchSize.
	BatchSize int
	// Identity, if set, is the identity configuration: a mapping must write only identifiers
	// it reads, and a row whose identifiers it all rejects is bad.
	Identity *Identity
	// Progress, if set, is called after each checkpoint with the import's state.
	Progress func(imp *mosaic.Import)
	Now      func() time.Time
	Logger   *slog.Logger
}

// Job is one run of an import: the stored import (a new one, or one to resume at its
// checkpoint), its mapping and how to read the file (Format and the CSV settings).
type Job struct {
	Import  *mosaic.Import
	Mapping *bulk.Mapping
	Options bulk.Options
}

// HashFile returns the hex SHA-256 of a file's bytes and its size.
func HashFile(ctx context.Context, path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// batch is one append's worth of rows and the checkpoint after them.
type batch struct {
	recs        []*mosaic.InboxRecord
	end         bulk.Position
	imported    int64 // totals through end
	bad         int64
	reportBytes int64
}

// Run imports job.Import's file from its checkpoint to the end and returns the import's
// final state: done, or interrupted (ctx ended; the checkpoint is saved), or failed (the
// header or a column of the mapping does not fit the file: an invalid error). An error
// reading the file or writing the store also stops the import, leaving it interrupted.
func (im *Importer) Run(ctx context.Context, job Job) (*mosaic.Import, error) {
	if im.Now == nil {
		im.Now = time.Now
	}
	if im.Logger == nil {
		im.Logger = slog.New(slog.DiscardHandler)
	}
	appendFn := im.Append
	if appendFn == nil {
		appendFn = im.Store.AppendInbox
	}
	size := im.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	imp := job.Import
	log := im.Logger.With("import", imp.ID, "source", imp.SourceID)
	// Updates outlive ctx: an interrupted import must still save its checkpoint.
	bg := context.WithoutCancel(ctx)
	fail := func(err error) (*mosaic.Import, error) {
		msg := mosaic.ErrorMessage(err)
		if mosaic.ErrorCode(err) == mosaic.EINVALID {
			if f := mosaic.ErrorField(err); f != "" {
				msg = f + ": " + msg
			}
		}
		st := mosaic.ImportFailed
		if got, uerr := im.Store.UpdateImport(bg, imp.ID, mosaic.ImportUpdate{Status: &st, Error: &msg}); uerr == nil {
			*imp = *got
		}
		return imp, err
	}

	f, err := os.Open(imp.FilePath)
	if err != nil {
		return fail(&mosaic.Error{Code: mosaic.EINVALID, Message: fmt.Sprintf("The file %s cannot be read.", imp.FileName), Err: err})
	}
	defer f.Close()
	opts := job.Options
	opts.Format = bulk.Format(imp.Format)
	rd, err := bulk.NewReader(f, opts)
	if err != nil {
		if mosaic.ErrorCode(err) == mosaic.EINTERNAL {
			err = &mosaic.Error{Code: mosaic.EINVALID, Message: fmt.Sprintf("The file %s cannot be read.", imp.FileName), Err: err}
		}
		return fail(err)
	}
	var check func(path, value string) error
	if im.Identity != nil {
		if check, err = im.Identity.Check(job.Mapping); err != nil {
			return fail(err)
		}
	}
	// Rows without a time are stated as of the file's first import into the source, whatever
	// the mapping: reading the file again states nothing newer than it did then.
	asOf := imp.CreatedAt
	same, err := im.Store.FindImports(ctx, mosaic.ImportFilter{SourceID: &imp.SourceID, FileHash: &imp.FileHash, Limit: 1000})
	if err != nil {
		return fail(err)
	}
	for _, o := range same {
		if o.CreatedAt.Before(asOf) {
			asOf = o.CreatedAt
		}
	}
	mp, err := job.Mapping.Compile(bulk.CompileOptions{
		Target:  bulk.Target{SourceID: imp.SourceID, FileHash: imp.FileHash, MappingHash: job.Mapping.Digest(opts), ImportID: imp.ID, AsOf: asOf},
		Format:  opts.Format,
		Columns: rd.Columns(), Delimiter: rd.Delimiter(), CheckIdentifier: check,
	})
	if err != nil {
		return fail(err)
	}
	resumed := imp.RowsRead > 0
	if resumed {
		if err := rd.Seek(bulk.Position{Offset: imp.Offset, Line: imp.Line, Row: imp.RowsRead}); err != nil {
			return fail(&mosaic.Error{Code: mosaic.EINVALID, Message: "The file no longer matches its checkpoint.", Err: err})
		}
		log.Info("resuming import", "rows_done", imp.RowsRead, "offset", imp.Offset)
	}
	rep, err := openReport(imp.ReportPath, imp.ReportBytes, resumed)
	if err != nil {
		return fail(&mosaic.Error{Code: mosaic.EINVALID, Message: fmt.Sprintf("The error report %s cannot be written.", imp.ReportPath), Err: err})
	}
	defer rep.close()
	if resumed && imp.ReportBytes > 0 && rep.restarted {
		log.Warn("the error report of the interrupted run is gone; bad rows before the checkpoint are not in the new one", "report", imp.ReportPath)
	}
	running := mosaic.ImportRunning
	skipped := imp.RowsSkipped
	if resumed {
		skipped = imp.RowsRead // rows an earlier run appended, not sent again
	}
	if got, err := im.Store.UpdateImport(bg, imp.ID, mosaic.ImportUpdate{Status: &running, RowsSkipped: &skipped, Error: new(string)}); err != nil {
		return imp, err
	} else {
		*imp = *got
	}

	// The file is read and mapped here, and appended by a second goroutine, so that parsing
	// and the store's writes overlap; two batches in flight bound the memory.
	batches := make(chan *batch, 1)
	failed := make(chan struct{}) // closed when an append fails
	var appendErr error
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for b := range batches {
			if appendErr != nil {
				continue // drain after a failure
			}
			if appendErr = im.appendBatch(ctx, appendFn, imp, b); appendErr != nil {
				close(failed)
			} else if im.Progress != nil {
				snapshot := *imp
				im.Progress(&snapshot)
			}
		}
	}()
	// From here until the appender is done, imp is the appender's: read only these copies.
	imported, bad, srcID, fileName := imp.RowsImported, imp.RowsBad, imp.SourceID, imp.FileName
	cur := &batch{recs: make([]*mosaic.InboxRecord, 0, size)}
	curBytes, rowsInBatch := 0, 0
	now := im.Now().UTC()
	send := func(end bulk.Position) error {
		if err := rep.flush(); err != nil {
			return err
		}
		cur.end, cur.imported, cur.bad, cur.reportBytes = end, imported, bad, rep.size
		select {
		case batches <- cur:
		case <-failed:
			return errAppendFailed
		}
		cur = &batch{recs: make([]*mosaic.InboxRecord, 0, size)}
		curBytes, rowsInBatch = 0, 0
		now = im.Now().UTC()
		return nil
	}
	var readErr error
	interrupted := false
	for {
		if ctx.Err() != nil {
			interrupted = true
			break
		}
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: fmt.Sprintf("Reading %s failed.", fileName), Err: err}
			break
		}
		payload, id, probs := mp.Map(rec)
		if probs != nil {
			bad++
			if err := rep.write(probs); err != nil {
				readErr = &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Writing the error report failed.", Err: err}
				break
			}
		} else {
			imported++
			cur.recs = append(cur.recs, &mosaic.InboxRecord{SourceID: srcID, MessageID: id, ReceivedAt: now, Payload: payload})
			curBytes += len(payload)
		}
		rowsInBatch++
		if rowsInBatch >= size || curBytes >= maxBatchBytes {
			if err := send(rec.End); err != nil {
				readErr = err
				break
			}
		}
	}
	if readErr == nil && rowsInBatch > 0 {
		readErr = send(rd.Position())
	}
	close(batches)
	<-appended
	if errors.Is(readErr, errAppendFailed) {
		readErr = nil
	}
	err = errors.Join(readErr, appendErr)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			log.Error("import stopped; run it again to resume", "err", err)
		}
		st, msg := mosaic.ImportInterrupted, mosaic.ErrorMessage(err)
		if got, uerr := im.Store.UpdateImport(bg, imp.ID, mosaic.ImportUpdate{Status: &st, Error: &msg}); uerr == nil {
			*imp = *got
		}
		return imp, err
	case interrupted:
		st := mosaic.ImportInterrupted
		if got, uerr := im.Store.UpdateImport(bg, imp.ID, mosaic.ImportUpdate{Status: &st}); uerr == nil {
			*imp = *got
		}
		return imp, ctx.Err()
	}
	done := mosaic.ImportDone
	got, err := im.Store.UpdateImport(bg, imp.ID, mosaic.ImportUpdate{Status: &done})
	if err != nil {
		return imp, err
	}
	*imp = *got
	if im.Progress != nil {
		im.Progress(imp)
	}
	log.Info("import done", "rows", imp.RowsRead, "imported", imp.RowsImported, "bad", imp.RowsBad)
	return imp, nil
}

var errAppendFailed = errors.New("append failed")

// appendBatch appends a batch, retrying while the store is unavailable (until ctx ends),
// and saves the checkpoint after it. The append itself is not cancelled by ctx: a batch
// read before an interruption is still stored and checkpointed.
func (im *Importer) appendBatch(ctx context.Context, appendFn func(context.Context, []*mosaic.InboxRecord) error, imp *mosaic.Import, b *batch) error {
	bg := context.WithoutCancel(ctx)
	lastSeq := imp.LastSeq
	if len(b.recs) > 0 {
		backoff := 100 * time.Millisecond
		for attempt := 0; ; attempt++ {
			err := appendFn(bg, b.recs)
			if err == nil {
				break
			}
			if mosaic.ErrorCode(err) != mosaic.EUNAVAILABLE || attempt >= 8 {
				return err
			}
			im.Logger.Warn("inbox append failed; retrying", "import", imp.ID, "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return err
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
		}
		lastSeq = b.recs[len(b.recs)-1].Seq
		if im.Appended != nil {
			im.Appended()
		}
	}
	got, err := im.Store.UpdateImport(bg, imp.ID, mosaic.ImportUpdate{
		RowsRead: &b.end.Row, Offset: &b.end.Offset, Line: &b.end.Line, RowsImported: &b.imported, RowsBad: &b.bad,
		LastSeq: &lastSeq, ReportBytes: &b.reportBytes,
	})
	if err != nil {
		return err
	}
	*imp = *got
	return nil
}

// report is the error report file, created at the first bad row.
type report struct {
	path      string
	f         *os.File
	w         *bulk.ReportWriter
	size      int64 // bytes written and flushed
	restarted bool  // a resumed import's report was missing and is started again
	cw        *countingWriter
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// openReport prepares the report: a resumed import continues its report from the
// checkpoint's size (dropping lines written after it); a new one removes an old report.
func openReport(path string, size int64, resumed bool) (*report, error) {
	r := &report{path: path}
	if !resumed || size == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return r, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		r.restarted = true
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || st.Size() < size {
		f.Close()
		r.restarted = true
		return r, os.Remove(path)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	r.f, r.size = f, size
	r.cw = &countingWriter{w: f, n: size}
	r.w, _ = bulk.NewReportWriter(r.cw, false)
	return r, nil
}

func (r *report) write(probs []bulk.Problem) error {
	if r.w == nil {
		f, err := os.OpenFile(r.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		r.f = f
		r.cw = &countingWriter{w: f}
		if r.w, err = bulk.NewReportWriter(r.cw, true); err != nil {
			return err
		}
	}
	return r.w.Write(probs)
}

func (r *report) flush() error {
	if r.w == nil {
		return nil
	}
	if err := r.w.Flush(); err != nil {
		return err
	}
	r.size = r.cw.n
	return nil
}

func (r *report) close() {
	if r.f != nil {
		r.flush()
		r.f.Close()
	}
}

// Prepare returns the import of imp's file with imp's mapping into imp's source: the stored
// one if there is one (created false; its file and report paths are updated to imp's when
// they moved), or imp, stored as new.
func Prepare(ctx context.Context, store mosaic.ImportService, imp *mosaic.Import) (*mosaic.Import, bool, error) {
	for range 2 {
		found, err := store.FindImports(ctx, mosaic.ImportFilter{SourceID: &imp.SourceID, FileHash: &imp.FileHash, MappingHash: &imp.MappingHash, Limit: 1})
		if err != nil {
			return nil, false, err
		}
		if len(found) > 0 {
			got := found[0]
			if imp.FilePath != "" && (got.FilePath != imp.FilePath || got.ReportPath != imp.ReportPath) && got.Status != mosaic.ImportDone {
				if got, err = store.UpdateImport(ctx, got.ID, mosaic.ImportUpdate{FilePath: &imp.FilePath, ReportPath: &imp.ReportPath}); err != nil {
					return nil, false, err
				}
			}
			return got, false, nil
		}
		err = store.CreateImport(ctx, imp)
		if err == nil {
			return imp, true, nil
		}
		if mosaic.ErrorCode(err) != mosaic.ECONFLICT { // conflict: created meanwhile; find it
			return nil, false, err
		}
	}
	return nil, false, mosaic.Errorf(mosaic.ECONFLICT, "The import is being created by someone else; retry.")
}

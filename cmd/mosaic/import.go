package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/bulk"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/importer"
	"github.com/mosaic-cdp/mosaic/processor"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// ImportCmd imports a CSV or JSONL file.
type ImportCmd struct {
	Source    string        `required:"" help:"Source (id or name) the rows come from, e.g. crm."`
	File      string        `required:"" help:"The CSV or JSONL file." placeholder:"FILE"`
	Mapping   string        `required:"" help:"Mapping file (YAML or JSON): which columns are identifiers, traits or event properties." placeholder:"FILE"`
	Format    string        `help:"csv or jsonl (default: the mapping's format, else by the file name)." enum:",csv,jsonl" default:""`
	Delimiter string        `help:"CSV delimiter (default: the mapping's, else guessed): a character, or tab." placeholder:"CHAR"`
	Encoding  string        `help:"Text encoding: auto (UTF-8, Windows-1252 where bytes are not UTF-8), utf-8, latin-1, windows-1252." placeholder:"ENC"`
	Errors    string        `help:"Error report file (default: FILE.errors.csv)." placeholder:"FILE"`
	NoWait    bool          `help:"Only append the rows to the inbox; do not wait until they are resolved into profiles."`
	RetryBad  bool          `help:"Read a finished import's file again for the rows that were bad (after the rules that refused them changed): the rows stored before count as already stored, nothing is stored twice." name:"retry-bad"`
	BatchSize int           `help:"Rows per inbox append." default:"5000" hidden:""`
	Progress  string        `help:"Progress display: auto (a bar on a terminal, log lines otherwise), bar, log, none." enum:"auto,bar,log,none" default:"auto"`
	Every     time.Duration `help:"Interval of progress log lines." default:"5s" hidden:""`
}

// Run implements the command.
func (c *ImportCmd) Run(env *Env) error {
	ctx := env.Ctx
	log := env.Logger
	rawMapping, err := os.ReadFile(c.Mapping)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Mapping, unwrapPathError(err))
	}
	m, err := bulk.ParseMapping(rawMapping)
	if err != nil {
		return mappingErr(c.Mapping, err)
	}
	opts := m.ReadOptions(bulk.Format(c.Format))
	if opts.Format == "" {
		opts.Format = m.Format
	}
	if opts.Format == "" {
		opts.Format = bulk.FormatOf(c.File)
	}
	if c.Delimiter != "" {
		if opts.Delimiter, err = bulk.ParseDelimiter(c.Delimiter); err != nil {
			return fmt.Errorf("--delimiter: %s", err.Error())
		}
	}
	if c.Encoding != "" {
		if opts.Encoding, err = bulk.ParseEncoding(c.Encoding); err != nil {
			return fmt.Errorf("--encoding: %s", err.Error())
		}
	}
	file, err := filepath.Abs(c.File)
	if err != nil {
		return err
	}
	st, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("%s: %w", c.File, unwrapPathError(err))
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", c.File)
	}
	report := c.Errors
	if report == "" {
		report = file + ".errors.csv"
	}
	if report, err = filepath.Abs(report); err != nil {
		return err
	}

	fileCfg, norm, err := env.Config()
	if err != nil {
		return err
	}
	store, _, err := env.OpenStore()
	if err != nil {
		return err
	}
	defer store.Close()
	src, err := findSource(env, store, c.Source)
	if mosaic.ErrorCode(err) == mosaic.ENOTFOUND {
		return fmt.Errorf("no source %q; create it first with: mosaic source create %s", c.Source, c.Source)
	} else if err != nil {
		return err
	}
	if src.Disabled {
		return fmt.Errorf("source %q is disabled; enable it with: mosaic source enable %s", src.Name, src.Name)
	}
	stages, err := pipelineStages(env, store, norm, fileCfg)
	if err != nil {
		return err
	}

	// Process here unless a server (or another import) holds the processor lease.
	// While rows are being appended, the processor yields half of its time to the import, as
	// it yields to a busy gateway in a server: rows are durable (and checkpointed) sooner, and
	// the processor catches up at full speed afterwards.
	var proc *leasedProcessor
	var appending atomic.Bool
	if !c.NoWait {
		lp := &leasedProcessor{Store: store, Logger: log, Identity: &fileCfg.Identity, Proc: &processor.Processor{Store: store,
			Stages: stages, BatchSize: env.CLI.BatchEvents, Poll: 200 * time.Millisecond, Logger: log.With("component", "processor"),
			Busy: appending.Load},
			// Processing here, the rows are checked under this command's rules: refused, it
			// takes no part in processing (the store's record of the rules stays).
			Check: func() error {
				own := &importer.Identity{Config: fileCfg.Identity, Normalizer: norm}
				if _, err := own.Check(m); err != nil {
					return mappingErr(c.Mapping, err)
				}
				return nil
			}}
		switch err := lp.Open(ctx); {
		case err == nil:
			proc = lp
			defer proc.Close()
		case mosaic.ErrorCode(err) == mosaic.ECONFLICT:
			log.Info("a server is processing this store; the import appends and waits for it")
		default:
			return err
		}
	}
	// Rows are checked under the identity rules that will resolve them: this command's own
	// when it processes, else those of the process holding the lease (recorded by it).
	ident := &importer.Identity{Config: fileCfg.Identity, Normalizer: norm}
	if proc == nil {
		if cfg, ok, err := processorIdentityRules(ctx, store); err != nil {
			return err
		} else if ok {
			if ident.Normalizer, err = identity.NewNormalizer(cfg); err != nil {
				return err
			}
			ident.Config = cfg
			log.Info("checking rows under the identity rules of the process that resolves them")
		} else if err := checkProcessorReads(ctx, store, m); err != nil {
			return err
		}
	}
	if _, err := ident.Check(m); err != nil {
		if proc == nil {
			return fmt.Errorf("%w (this is checked under the identity rules of the server processing this store, which resolves the rows: change its --config and restart it; this command's --config does not apply)", mappingErr(c.Mapping, err))
		}
		return mappingErr(c.Mapping, err)
	}

	log.Info("hashing the file", "file", c.File, "bytes", st.Size())
	hash, size, err := importer.HashFile(ctx, file)
	if err != nil {
		return fmt.Errorf("%s: %w", c.File, unwrapPathError(err))
	}
	imp, created, err := importer.Prepare(ctx, store, &mosaic.Import{
		SourceID: src.ID, Origin: mosaic.ImportOriginCLI, FileName: filepath.Base(file), FileHash: hash, FileSize: size,
		MappingHash: bulk.MappingHash(rawMapping, opts), Format: string(opts.Format), Status: mosaic.ImportQueued,
		Mapping: rawMapping, FilePath: file, ReportPath: report,
	})
	if err != nil {
		return err
	}
	alreadyDone := !created && imp.Status == mosaic.ImportDone
	if alreadyDone && imp.RowsBad > 0 && c.RetryBad {
		// Its bad rows may be good now (the rules that refused them changed): read the file
		// again. The rows stored then come back as duplicates (same messageIds), counted as
		// already stored; nothing is stored twice.
		fmt.Fprintf(env.Stdout, "%s was imported into source %q with this mapping before, with %d bad rows (import %s): reading it again; the rows stored then count as already stored.\n",
			c.File, src.Name, imp.RowsBad, imp.ID)
		done, queued, zero := mosaic.ImportDone, mosaic.ImportQueued, int64(0)
		imp, err = store.UpdateImport(ctx, imp.ID, mosaic.ImportUpdate{IfStatus: &done, Status: &queued, RowsRead: &zero, RowsImported: &zero,
			RowsBad: &zero, RowsSkipped: &zero, RowsDuplicate: &zero, Offset: &zero, Line: &zero, ReportBytes: &zero, FilePath: &file, ReportPath: &report})
		if err != nil {
			return err
		}
		alreadyDone = false
	}

	prog := newProgress(env, c.Progress, c.Every, imp)
	sum := importSummary{w: env.Stdout, store: store, call: m.Type, refused: -1}
	if st, err := store.Stats(ctx); err == nil {
		sum.refused = st.RefusedLinks
	}
	if alreadyDone {
		fmt.Fprintf(env.Stdout, "%s was already imported into source %q with this mapping (import %s, %s): nothing to add.\n",
			c.File, src.Name, imp.ID, imp.FinishedAt.Local().Format(time.DateTime))
		if imp.RowsBad > 0 {
			fmt.Fprintf(env.Stdout, "  %d of its rows were bad; if what refused them has changed (the server's identity rules, say), add them with --retry-bad.\n", imp.RowsBad)
		}
		if !c.NoWait && imp.LastSeq > 0 { // an earlier --no-wait run may have left its rows unresolved
			if err := waitResolved(ctx, store, imp.LastSeq, prog); err != nil {
				fmt.Fprintf(env.Stdout, "  stopped waiting before every row was resolved; %s\n", processingHint(proc))
			}
		}
		sum.print(ctx, imp, 0, 0)
		return nil
	}
	im := &importer.Importer{Store: store, BatchSize: c.BatchSize, Identity: ident, Logger: log, Progress: prog.update}
	if proc != nil {
		im.Appended = proc.Notify
	}
	start := time.Now()
	appending.Store(true)
	imp, err = im.Run(ctx, importer.Job{Import: imp, Mapping: m, Options: opts})
	appending.Store(false)
	prog.done()
	appendTime := time.Since(start)
	if err != nil {
		switch {
		case imp != nil && imp.Status == mosaic.ImportFailed:
			var me *bulk.MappingError
			if errors.As(err, &me) {
				return mappingErr(c.Mapping, err)
			}
			return fmt.Errorf("%s: %s", c.File, cliMessage(err))
		case imp != nil && imp.Status == mosaic.ImportInterrupted:
			return fmt.Errorf("import interrupted after %d of the file's rows (checkpoint saved): %s; run the same command again to resume", imp.RowsRead, strings.TrimSuffix(cliMessage(err), "."))
		}
		return err
	}
	if c.NoWait || imp.LastSeq == 0 {
		sum.print(ctx, imp, appendTime, 0)
		if c.NoWait {
			fmt.Fprintln(env.Stdout, "  (not waiting for the rows to be resolved: --no-wait)")
		}
		return nil
	}
	resolveStart := time.Now()
	if err := waitResolved(ctx, store, imp.LastSeq, prog); err != nil {
		sum.print(ctx, imp, appendTime, 0)
		fmt.Fprintf(env.Stdout, "  stopped waiting before every row was resolved; %s\n", processingHint(proc))
		return nil
	}
	sum.print(ctx, imp, appendTime, time.Since(resolveStart))
	return nil
}

func processingHint(proc *leasedProcessor) string {
	if proc != nil {
		return "the rest stays in the inbox and is resolved by the next processor (mosaic serve)."
	}
	return "the server goes on resolving them."
}

// waitResolved waits until the processor has processed the inbox through seq.
func waitResolved(ctx context.Context, store mosaic.Store, seq int64, prog *progress) error {
	first := int64(-1)
	for {
		off, err := store.ProcessorOffset(ctx)
		if err != nil {
			return err
		}
		if first < 0 {
			first = off
		}
		prog.resolving(off-first, seq-first)
		if off >= seq {
			prog.done()
			return nil
		}
		select {
		case <-ctx.Done():
			prog.done()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// importSummary prints what an import did.
type importSummary struct {
	w     io.Writer
	store mosaic.Store
	call  mosaic.EventType // the mapping's: identify or track
	// refused is the store's count of refused links before the rows were appended (-1 when
	// unknown), so the summary can say how many the import's rows added.
	refused int64
}

// print prints the summary of imp. Once the processor has processed every appended row, it
// also says how many were new and how many it dropped as already stored.
func (s *importSummary) print(ctx context.Context, imp *mosaic.Import, appendTime, resolveTime time.Duration) {
	w := s.w
	ctx = context.WithoutCancel(ctx) // a summary after Ctrl-C too
	// The offset first: an import's duplicate count is committed with the offset it reaches.
	resolved := false
	if off, err := s.store.ProcessorOffset(ctx); err == nil && off >= imp.LastSeq {
		if got, err := s.store.FindImportByID(ctx, imp.ID); err == nil {
			imp, resolved = got, true
		}
	}
	fmt.Fprintf(w, "import %s of %s:\n", imp.ID, imp.FileName)
	fmt.Fprintf(w, "  rows read         %10d\n", imp.RowsRead)
	fmt.Fprintf(w, "  imported          %10d   (appended to the inbox)\n", imp.RowsImported)
	switch {
	case resolved:
		// A batch appended twice around a crash counts its second copies too: stay within bounds.
		dups := min(imp.RowsDuplicate, imp.RowsImported)
		fmt.Fprintf(w, "    new             %10d\n", imp.RowsImported-dups)
		switch {
		case dups == 0:
			fmt.Fprintf(w, "    already stored  %10d\n", 0)
		case s.call == mosaic.EventTrack:
			fmt.Fprintf(w, "    already stored  %10d   (events stored before, or twice in this file: dropped as duplicates; an event is never sent twice, even with a changed mapping)\n", dups)
		default:
			fmt.Fprintf(w, "    already stored  %10d   (imported before with the same mapping: dropped as duplicates)\n", dups)
		}
	case imp.RowsImported > 0:
		fmt.Fprintln(w, "    new or already stored: known once the processor has resolved every row")
	}
	if imp.RowsBad > 0 {
		fmt.Fprintf(w, "  bad rows          %10d   (not an error: see %s for line, column and reason)\n", imp.RowsBad, imp.ReportPath)
	} else {
		fmt.Fprintf(w, "  bad rows          %10d\n", 0)
	}
	fmt.Fprintf(w, "  skipped (resumed) %10d   (appended by an earlier, interrupted run of this import; not sent again)\n", imp.RowsSkipped)
	if appendTime > 0 {
		sent := imp.RowsRead - imp.RowsSkipped
		fmt.Fprintf(w, "  read and appended in %s (%.0f rows/s)\n", appendTime.Round(time.Millisecond), float64(sent)/appendTime.Seconds())
	}
	if resolveTime > 0 {
		fmt.Fprintf(w, "  resolved into profiles %s after the last append\n", resolveTime.Round(time.Millisecond))
	}
	if st, err := s.store.Stats(ctx); resolved && s.refused >= 0 && err == nil && st.RefusedLinks > s.refused {
		fmt.Fprintf(w, "  links refused     %10d   (while importing: links the identity rules refused, such as a row's email held by a\n"+
			"                                 profile with another user id, so the row stays a profile apart; mosaic profile explain shows why)\n", st.RefusedLinks-s.refused)
	}
}

// mappingErr prints a mapping problem as FILE:LINE: SETTING: MESSAGE.
func mappingErr(file string, err error) error {
	var me *bulk.MappingError
	if !errors.As(err, &me) {
		return fmt.Errorf("%s: %s", file, cliMessage(err))
	}
	loc := file
	if me.Line > 0 {
		loc = fmt.Sprintf("%s:%d", file, me.Line)
	}
	if me.Field != "" {
		return fmt.Errorf("%s: %s: %s", loc, me.Field, me.Message)
	}
	return fmt.Errorf("%s: %s", loc, me.Message)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// progress shows an import's progress: a bar on a terminal, log lines every few seconds
// otherwise.
type progress struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	log   *slog.Logger
	every time.Duration
	size  int64
	start time.Time
	last  time.Time
	rows0 int64 // rows read when this run started
	off0  int64 // and bytes
	phase string
}

func newProgress(env *Env, mode string, every time.Duration, imp *mosaic.Import) *progress {
	p := &progress{log: env.Logger.With("import", imp.ID), every: every, size: imp.FileSize, start: time.Now(), rows0: imp.RowsRead, off0: imp.Offset, phase: "import", w: env.Stderr}
	p.last = p.start
	if mode == "auto" {
		mode = "log"
		if f, ok := env.Stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	switch mode {
	case "bar":
		p.bar = progressbar.NewOptions64(imp.FileSize, progressbar.OptionSetWriter(env.Stderr), progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetElapsedTime(true), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetDescription("importing"), progressbar.OptionFullWidth(), progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(env.Stderr) }))
		p.bar.Set64(imp.Offset)
	case "none":
		p.log = nil
	}
	return p
}

func (p *progress) update(imp *mosaic.Import) {
	rows := imp.RowsRead - p.rows0
	rate := float64(rows) / max(time.Since(p.start).Seconds(), 1e-3)
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%d rows, %.0f rows/s, %d bad", imp.RowsRead, rate, imp.RowsBad))
		p.bar.Set64(imp.Offset)
		return
	}
	if p.log == nil || time.Since(p.last) < p.every && imp.Status != mosaic.ImportDone {
		return
	}
	p.last = time.Now()
	pct := 100.0
	if p.size > 0 {
		pct = 100 * float64(imp.Offset) / float64(p.size)
	}
	var eta time.Duration
	if done := imp.Offset - p.off0; done > 0 && p.size > imp.Offset {
		eta = time.Duration(float64(time.Since(p.start)) * float64(p.size-imp.Offset) / float64(done)).Round(time.Second)
	}
	p.log.Info("import progress", "rows", imp.RowsRead, "imported", imp.RowsImported, "bad", imp.RowsBad,
		"rows_per_s", int64(rate), "percent", fmt.Sprintf("%.1f", pct), "eta", eta.String())
}

// resolving shows the processor's progress through the import's records.
func (p *progress) resolving(done, total int64) {
	if p.phase != "resolve" {
		p.phase, p.last = "resolve", time.Time{}
		if p.bar != nil {
			p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription("resolving"),
				progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionShowCount(),
				progressbar.OptionFullWidth())
		}
	}
	if p.bar != nil {
		p.bar.Set64(done)
		return
	}
	if p.log == nil || time.Since(p.last) < p.every {
		return
	}
	p.last = time.Now()
	p.log.Info("resolving imported rows", "records_processed", done, "of", total)
}

func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

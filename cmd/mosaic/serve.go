package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/bulk"
	"github.com/mosaic-cdp/mosaic/groupcommit"
	mhttp "github.com/mosaic-cdp/mosaic/http"
	"github.com/mosaic-cdp/mosaic/linkage"
	"github.com/mosaic-cdp/mosaic/processor"
)

// ServeCmd runs the server.
type ServeCmd struct {
	Addr            string        `help:"Listen address." default:"127.0.0.1:8080" env:"MOSAIC_ADDR"`
	ShutdownTimeout time.Duration `help:"How long to wait for requests in flight on shutdown." default:"30s" env:"MOSAIC_SHUTDOWN_TIMEOUT"`
	ImportDir       string        `help:"Where uploaded imports are kept while they run (default: DATA/imports, or a temporary directory with PostgreSQL)." env:"MOSAIC_IMPORT_DIR" placeholder:"DIR"`
	PprofAddr       string        `help:"Serve Go profiling (net/http/pprof under /debug/pprof/) on this address, e.g. 127.0.0.1:6060; off when empty. For performance work only: never expose it." env:"MOSAIC_PPROF_ADDR" placeholder:"ADDR"`
}

// Run starts everything and blocks until the context ends, then shuts down in order:
// stop accepting HTTP → finish requests in flight → flush the inbox writer → let the
// processor catch up (bounded) → close the store.
func (c *ServeCmd) Run(env *Env) error {
	log := env.Logger
	store, kind, err := env.OpenStore()
	if err != nil {
		return err
	}
	defer store.Close()

	fileCfg, norm, err := env.Config()
	if err != nil {
		return err
	}
	// The first start's source exists before the configuration's source names are resolved
	// (traits.source_priority may name it); it is shown once the server listens.
	first, err := firstStart(env, store)
	if err != nil {
		log.Error("first-start set-up failed", "err", err)
	}
	stages, err := pipelineStages(env, store, norm, fileCfg)
	if err != nil {
		first.printFailed(env, "http://"+c.Addr) // the token is shown once: even now
		return err
	}
	if err != nil {
		return err
	}
	metrics := mhttp.NewMetrics(store)
	committer := groupcommit.New(store.AppendInbox, 0)
	proc := &processor.Processor{Store: store, Stages: stages, BatchSize: env.CLI.BatchEvents, Logger: log.With("component", "processor"),
		// Acknowledgements first: the processor yields while the inbox writer is busy more
		// than half of the time.
		Busy: func() bool { return committer.Load() > 0.5 },
		Committed: func(b *processor.Batch, res *mosaic.CommitResult) {
			metrics.Processed.WithLabelValues("stored").Add(float64(res.Inserted))
			metrics.Processed.WithLabelValues("duplicate").Add(float64(res.Duplicates))
			var rej int64
			for _, n := range b.Rejected {
				rej += n
			}
			metrics.Processed.WithLabelValues("rejected").Add(float64(rej))
		}}
	// The processor runs only while this process holds the store's processor lease.
	leased := &leasedProcessor{Proc: proc, Store: store, Logger: log.With("component", "processor"), Wait: true, Identity: &fileCfg.Identity}
	if err := leased.Open(env.Ctx); err != nil {
		committer.Close()
		return err
	}
	imports, importDir, err := c.openImports(env, store, kind, committer, leased, norm, fileCfg)
	if err != nil {
		leased.Close()
		committer.Close()
		return err
	}
	srv := &mhttp.Server{Addr: c.Addr, Store: store, Inbox: committer, Appended: leased.Notify, Logger: log, Metrics: metrics, Identity: norm,
		Imports: imports, ImportDir: importDir, CheckMapping: func(m *bulk.Mapping) error { _, err := imports.Importer.Identity.Check(m); return err },
		Matcher: func(ctx context.Context, dryRun bool) (any, error) {
			run := &linkage.Run{Store: store, Normalizer: norm, DryRun: dryRun, AutoThreshold: fileCfg.Matching.AutoThreshold,
				ReviewThreshold: fileCfg.Matching.ReviewThreshold, MaxClusterSize: fileCfg.Matching.MaxClusterSize}
			return run.Do(ctx)
		}}
	if err := srv.Open(); err != nil {
		imports.Close()
		leased.Close()
		committer.Close()
		first.printFailed(env, "http://"+c.Addr) // the token is shown once: even now
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	url := srv.URL()
	first.print(env, url)
	log.Info("mosaic listening", "url", url, "store", kind, "data", dataLocation(env, kind))
	if env.OnServe != nil {
		env.OnServe(url)
	}
	if c.PprofAddr != "" {
		stop, err := servePprof(c.PprofAddr)
		if err != nil {
			log.Error("pprof listener failed", "addr", c.PprofAddr, "err", err)
		} else {
			log.Warn("serving pprof; do not expose it", "url", "http://"+c.PprofAddr+"/debug/pprof/")
			defer stop()
		}
	}

	<-env.Ctx.Done()
	log.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		log.Warn("HTTP shutdown incomplete", "err", err)
	}
	imports.Close()
	committer.Close()
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelDrain()
	if err := leased.Drain(drainCtx); err != nil {
		log.Warn("processor did not catch up before shutdown; the rest stays in the inbox", "err", err)
	}
	leased.Close()
	log.Info("stopped")
	return nil
}

// servePprof serves net/http/pprof on its own listener and mux, so nothing of it is reachable
// through the API address; stop closes it.
func servePprof(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}

func dataLocation(env *Env, kind string) string {
	if kind == "postgres" {
		return "postgres"
	}
	return env.CLI.Data
}

// firstStartInfo is what the first start created.
type firstStartInfo struct {
	src    *mosaic.Source // nil if sources existed already
	secret string
	shown  bool
}

// firstStart creates, on a store without API tokens, an owner token and (if the store has no
// source yet either) the default source, for print to show once with ready-to-paste
// examples. A store that has tokens gets nothing (nil).
func firstStart(env *Env, store mosaic.Store) (*firstStartInfo, error) {
	ctx := env.Ctx
	n, err := store.CountTokens(ctx)
	if err != nil || n > 0 {
		return nil, err
	}
	srcs, err := store.FindSources(ctx, mosaic.SourceFilter{})
	if err != nil {
		return nil, err
	}
	f := &firstStartInfo{}
	if len(srcs) == 0 {
		f.src = &mosaic.Source{Name: mosaic.DefaultSourceName}
		if err := store.CreateSource(ctx, f.src); err != nil {
			return nil, err
		}
	}
	if f.secret, err = store.CreateToken(ctx, &mosaic.Token{Name: "first owner", Role: mosaic.RoleOwner}); err != nil {
		return nil, err
	}
	return f, nil
}

// print shows what the first start created (nothing if it created nothing), once.
func (f *firstStartInfo) print(env *Env, url string) { f.show(env, url, "Mosaic is ready.") }

// printFailed shows it when the server then cannot start: the token exists and is shown only
// this once.
func (f *firstStartInfo) printFailed(env *Env, url string) {
	f.show(env, url, "Mosaic did not start (the error follows), but the store is set up and keeps what it made.")
}

func (f *firstStartInfo) show(env *Env, url, heading string) {
	if f == nil || f.shown {
		return
	}
	f.shown = true
	var b strings.Builder
	if f.src == nil {
		fmt.Fprintf(&b, "\n%s The store had no API token, so it created one:\n\n", heading)
		fmt.Fprintf(&b, "  owner API token:     %s   (shown once; keep it)\n\n", f.secret)
		fmt.Fprintf(&b, "See the sources and their write keys:\n  curl -H 'Authorization: Bearer %s' '%s/api/v1/sources'\n\n", f.secret, url)
		fmt.Fprint(env.Stdout, b.String())
		return
	}
	src, secret := f.src, f.secret
	fmt.Fprintf(&b, "\n%s This is the first start, so it created:\n\n", heading)
	fmt.Fprintf(&b, "  source %q   write key: %s\n", src.Name, src.WriteKey)
	fmt.Fprintf(&b, "  owner API token:     %s   (shown once; keep it)\n\n", secret)
	fmt.Fprintf(&b, "Send an event:\n  curl -u %s: %s/v1/track -H 'Content-Type: application/json' \\\n    -d '{\"userId\":\"ada\",\"event\":\"Signed Up\",\"properties\":{\"plan\":\"pro\"}}'\n\n", src.WriteKey, url)
	fmt.Fprintf(&b, "Read it back:\n  curl -H 'Authorization: Bearer %s' '%s/api/v1/events?user_id=ada'\n\n", secret, url)
	fmt.Fprint(env.Stdout, b.String())
}

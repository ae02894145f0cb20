// Command mosaic is the Mosaic Customer Data Platform in one binary: `mosaic serve` runs the
// API, gateway and processor; the other subcommands manage a store directly (no server needed).
//
// This package is the only one that knows every adapter: it reads configuration (defaults →
// MOSAIC_* environment → flags), opens the store, and wires the gateway, inbox group commit,
// processor and HTTP server together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/postgres"
	"github.com/mosaic-cdp/mosaic/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	if err := m.Run(ctx, os.Args[1:]); err != nil {
		var exit exitCode
		if errors.As(err, &exit) {
			os.Exit(int(exit))
		}
		fmt.Fprintln(os.Stderr, "mosaic:", cliMessage(err))
		os.Exit(1)
	}
}

// cliMessage is what the CLI prints for an error: the safe message and the field.
func cliMessage(err error) string {
	var me *mosaic.Error
	if errors.As(err, &me) {
		msg := mosaic.ErrorMessage(err)
		if me.Code == mosaic.EINTERNAL || me.Code == mosaic.EUNAVAILABLE {
			msg = err.Error()
		}
		if me.Field != "" {
			return me.Field + ": " + msg
		}
		return msg
	}
	return err.Error()
}

type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// Main runs the CLI. Tests drive it in-process; OnServe reports the server's URL once it listens.
type Main struct {
	Stdout, Stderr io.Writer
	OnServe        func(url string)
}

// CLI is the command line: global flags and the subcommands.
type CLI struct {
	Data      string `help:"Data directory of the embedded store." default:"./mosaic-data" env:"MOSAIC_DATA" placeholder:"DIR"`
	Database  string `help:"PostgreSQL URL (postgres://…); selects the PostgreSQL store instead of the embedded one." env:"MOSAIC_DATABASE" placeholder:"URL"`
	LogFormat string `help:"Log format: text or json." default:"text" enum:"text,json" env:"MOSAIC_LOG_FORMAT"`
	LogLevel  string `help:"Log level: debug, info, warn, error." default:"info" enum:"debug,info,warn,error" env:"MOSAIC_LOG_LEVEL"`
	Config    string `help:"Configuration file (YAML or JSON): identity rules, trait survivorship and matching thresholds." env:"MOSAIC_CONFIG" placeholder:"FILE" type:"existingfile"`
	CacheMB   int    `help:"Memory for the processor's caches, in MiB: a quarter for the embedded store's write page cache, the rest for identifiers and links kept in memory." default:"256" env:"MOSAIC_CACHE_MB" placeholder:"MIB"`
	// BatchEvents is processor.Processor.BatchSize; the default is processor.DefaultBatchSize.
	BatchEvents int `help:"Most inbox events the processor resolves and commits at once (1000 to 1000000). Larger batches write fewer bytes an event (each index page a commit writes serves more events) and hold more memory: two batches are in flight, and peak memory grows by about 6 KB for each event added here." default:"50000" env:"MOSAIC_BATCH_EVENTS" placeholder:"N"`

	Serve    ServeCmd    `cmd:"" help:"Run the API, ingestion gateway and processor."`
	Source   SourceCmd   `cmd:"" help:"Manage sources (works on the store directly)."`
	Token    TokenCmd    `cmd:"" help:"Manage API tokens (works on the store directly)."`
	Migrate  MigrateCmd  `cmd:"" help:"Apply pending schema migrations and exit."`
	Profile  ProfileCmd  `cmd:"" help:"Look at profiles (works on the store directly)."`
	Identity IdentityCmd `cmd:"" help:"Identity rules: try a rule set against history (dry-run), and apply changed rules to it (replay)."`
	Import   ImportCmd   `cmd:"" help:"Import a CSV or JSONL file (CRM export, order history…) into a source (works on the store directly)."`
	Match    MatchCmd    `cmd:"" help:"Probabilistic matching: link profiles that share no identifier, review the candidates, evaluate the matcher on CSV files."`
}

// Run parses args and runs the chosen subcommand until it ends or ctx is cancelled.
func (m *Main) Run(ctx context.Context, args []string) (err error) {
	if m.Stdout == nil {
		m.Stdout = io.Discard
	}
	if m.Stderr == nil {
		m.Stderr = io.Discard
	}
	var cli CLI
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(exitCode); ok {
				err = e
				return
			}
			panic(p)
		}
	}()
	parser, err := kong.New(&cli, kong.Name("mosaic"),
		kong.Description("Mosaic: an open-source Customer Data Platform."),
		kong.Writers(m.Stdout, m.Stderr),
		kong.Exit(func(code int) { panic(exitCode(code)) }),
		kong.UsageOnError())
	if err != nil {
		return err
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		return err
	}
	env := &Env{Main: m, CLI: &cli, Ctx: ctx, Logger: newLogger(m.Stderr, cli.LogFormat, cli.LogLevel)}
	return kctx.Run(env)
}

// Validate checks the global flags (kong calls it after parsing).
func (c *CLI) Validate() error {
	if c.BatchEvents < 1000 || c.BatchEvents > 1000000 {
		return fmt.Errorf("--batch-events must be between 1000 and 1000000, not %d", c.BatchEvents)
	}
	return nil
}

// Env is what every subcommand gets.
type Env struct {
	*Main
	CLI    *CLI
	Ctx    context.Context
	Logger *slog.Logger
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// OpenStore opens the configured store: PostgreSQL when --database is set, else the embedded one.
func (e *Env) OpenStore() (mosaic.Store, string, error) {
	if dsn := strings.TrimSpace(e.CLI.Database); dsn != "" {
		db := postgres.NewDB(dsn)
		db.Logger = e.Logger
		if err := db.Open(); err != nil {
			return nil, "", fmt.Errorf("open PostgreSQL store: %w", err)
		}
		return db, "postgres", nil
	}
	db := sqlite.NewDB(e.CLI.Data)
	db.Logger = e.Logger
	db.WriteCacheMB = e.CLI.CacheMB / 4
	if err := db.Open(); err != nil {
		return nil, "", fmt.Errorf("open embedded store in %s: %w", e.CLI.Data, err)
	}
	return db, "sqlite", nil
}

// OpenExistingStore is OpenStore for commands that look at what a store holds: an embedded
// store that does not exist yet is an error (a mistyped --data), not a new empty store.
func (e *Env) OpenExistingStore() (mosaic.Store, string, error) {
	if strings.TrimSpace(e.CLI.Database) == "" {
		if _, err := os.Stat(filepath.Join(e.CLI.Data, "mosaic.db")); errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("no store in %s: check --data (or MOSAIC_DATA); `mosaic serve --data %s` creates one", e.CLI.Data, e.CLI.Data)
		}
	}
	return e.OpenStore()
}

// MigrateCmd applies migrations (opening a store does so) and exits.
type MigrateCmd struct{}

// Run implements the command.
func (c *MigrateCmd) Run(env *Env) error {
	store, kind, err := env.OpenStore()
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintf(env.Stdout, "%s store is up to date\n", kind)
	return nil
}

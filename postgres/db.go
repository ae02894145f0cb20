// Package postgres is Mosaic's production store on PostgreSQL (pgx v5 and pgxpool).
//
// It implements mosaic.Store with the same behaviour as the embedded sqlite store, which the
// conformance suite in package storetest checks against both. The SQL is hand-written for
// PostgreSQL next to the code that runs it; migrations are embedded, numbered, applied at
// Open under an advisory lock and recorded in schema_migrations.
//
// # One schema
//
// All tables, the inbox included, live in one schema: the server's default search_path, or
// DB.Schema, which Open creates if missing and sets as every connection's search_path (tests
// use a fresh schema each). Times are timestamptz (microseconds, as the store truncates
// them), payloads bytea, kept byte for byte.
//
// # Byte order
//
// SQLite compares text as bytes. Columns the identity tables order or range-scan by (profile
// ids, identifier keys, types and values) are therefore COLLATE "C", and profile search
// terms are bytea, so pages, sorted identifiers and prefix search come out the same on a
// database whose default collation is a language's (en_US, ICU).
//
// # Inbox order
//
// AppendInbox takes an EXCLUSIVE lock on the inbox table for the length of its transaction,
// reads max(seq) and writes explicit sequence numbers with COPY. Appends therefore commit in
// sequence order and the processor, which reads seq > offset, can never pass over a record
// that commits later with a lower seq — which an identity column would allow. A returned nil
// means a committed transaction (synchronous_commit=on, the server default).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mosaic-cdp/mosaic"
)

// schemaName matches a plain schema name given as search_path in the DSN.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// DB is the PostgreSQL store. Set the fields, then call Open.
type DB struct {
	DSN    string           // connection string, URL or key=value (pool_max_conns etc. allowed)
	Schema string           // schema to keep the tables in, created if missing; "" uses search_path
	Now    func() time.Time // clock; time.Now if nil
	Logger *slog.Logger

	pool *pgxpool.Pool
}

var _ mosaic.Store = (*DB)(nil)

// NewDB returns a store for the connection string dsn.
func NewDB(dsn string) *DB { return &DB{DSN: dsn} }

// Open connects, creates the schema if one is set and applies migrations. It returns an
// unavailable error when the server cannot be reached.
func (db *DB) Open() error {
	if db.DSN == "" {
		return fmt.Errorf("postgres: DSN required")
	}
	if db.Now == nil {
		db.Now = time.Now
	}
	if db.Logger == nil {
		db.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(db.DSN)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if sp := cfg.ConnConfig.RuntimeParams["search_path"]; db.Schema == "" && schemaName.MatchString(sp) {
		db.Schema = sp // postgres://…?search_path=mosaic keeps Mosaic in its own schema, created if missing
	}
	if db.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{db.Schema}.Sanitize()
	}
	ctx := context.Background()
	if err := migrate(ctx, cfg.ConnConfig, db.Schema, db.now(), db.Logger); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// Close closes the connection pool.
func (db *DB) Close() error {
	if db.pool != nil {
		db.pool.Close()
	}
	return nil
}

// Ping checks that the server answers and takes writes (it is not a read-only standby).
func (db *DB) Ping(ctx context.Context) error {
	var readOnly string
	if err := db.pool.QueryRow(ctx, `SHOW transaction_read_only`).Scan(&readOnly); err != nil {
		return &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Store unavailable.", Err: err}
	}
	if readOnly != "off" {
		return &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Store unavailable.", Err: errors.New("server is read-only")}
	}
	return nil
}

func (db *DB) now() time.Time { return db.Now().UTC().Truncate(time.Microsecond) }

// tx runs fn in a transaction; fn's errors are returned as they are.
func (db *DB) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return storeErr(err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return storeErr(tx.Commit(ctx))
}

// storeErr turns a driver error into a mosaic error by SQLSTATE code or error type.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &mosaic.Error{Code: mosaic.ENOTFOUND, Message: "Not found.", Err: err}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return &mosaic.Error{Code: mosaic.ECONFLICT, Message: "Already exists.", Err: err}
		case pe.Code == "22021", pe.Code == "22P05": // character_not_in_repertoire, untranslatable_character
			// PostgreSQL text cannot hold NUL or invalid UTF-8 (SQLite stores both).
			return &mosaic.Error{Code: mosaic.EINVALID, Message: "Text must be valid UTF-8 without NUL characters.", Err: err}
		case unavailableCode(pe.Code):
			return &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Store unavailable.", Err: err}
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err // the caller gave up; not the store's fault
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.SafeToRetry(err) {
		return &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Store unavailable.", Err: err}
	}
	return err
}

// unavailableCode reports whether a SQLSTATE means "the server cannot do this now; retry":
// connection exceptions, insufficient resources, shutdowns, system errors, lock conflicts
// and read-only servers (the counterparts of SQLite's BUSY, FULL, IOERR and READONLY).
func unavailableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection_exception
		strings.HasPrefix(code, "53"), // insufficient_resources: disk full, too many connections
		strings.HasPrefix(code, "58"): // system_error: I/O error
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
		"40001", "40P01", // serialization_failure, deadlock_detected
		"55P03", // lock_not_available
		"25006": // read_only_sql_transaction
		return true
	}
	return false
}

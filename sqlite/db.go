// Package sqlite is Mosaic's embedded default store: zero set-up, one data directory.
//
// # Why SQLite (modernc.org/sqlite, pure Go)
//
// The default store must run from `go run` with no service and no C toolchain, and must give
// durable acknowledgements. SQLite in WAL mode gives transactions, indexes and SQL (so the
// same queries as the PostgreSQL store, checked by one conformance suite) in a single file.
// modernc.org/sqlite is the pure-Go build: a static CGO_ENABLED=0 binary, at about 80 % of
// the cgo driver's insert rate (42k vs 53k indexed rows/s on the 2-core reference machine,
// shared/notes/dependencies.md). Pebble would insert 5× faster but has no SQL; that speed is
// not needed because ingestion is decoupled from processing by the inbox below.
//
// # The inbox and the database
//
// The data directory holds the inbox, an append-only log of segment files in inbox/ that
// the gateway writes (package inboxlog: every group commit is fsync'd before the 200), and
// mosaic.db, everything else (synchronous=NORMAL: a power cut can lose the last processor
// commit, which is then replayed from the inbox because the processor offset lives in the
// same transaction). Ingestion never waits for the processor's writes. Data directories of
// versions that kept the inbox in a database (inbox.db) are moved into the log by Open.
//
// mosaic.db has one write connection (SQLite allows one writer) and a small pool of read
// connections. Times are stored as Unix microseconds, the precision PostgreSQL keeps.
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/inboxlog"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DB is the embedded store rooted at a data directory. Set the fields, then call Open.
type DB struct {
	Dir    string           // data directory, created if missing
	Now    func() time.Time // clock; time.Now if nil
	Logger *slog.Logger
	// WriteCacheMB is the page cache of the connection that writes mosaic.db, in MiB; 0
	// keeps SQLite's 2 MiB. The processor's commits touch index pages all over the store, and
	// with a small cache SQLite spills and rereads them within each commit. Readers keep
	// the default.
	WriteCacheMB int
	// WALRestartMB is the size of mosaic.db's WAL past which a write that finds it grown
	// (readers kept it from starting again) first waits for them and empties it (the
	// background checkpoint never waits, and readers that keep the WAL in use would let it
	// grow without end; see restartWAL); 0 means 128. A processor commit of 50k events
	// writes about 200 MiB of WAL.
	WALRestartMB int

	write, read *sql.DB       // mosaic.db
	inbox       *inboxlog.Log // DATA/inbox

	// mosaic.db's WAL is copied into the database file by a goroutine of its own (the write
	// connection runs with wal_autocheckpoint 0), so a commit does not wait for the copy and
	// its fsyncs: measured, the checkpoint was a fifth of the processor's commit time.
	checkpoint     *sql.DB       // one connection, only for checkpoints
	checkpointKick chan struct{} // a commit happened
	checkpointStop chan struct{}
	checkpointDone chan struct{}
	walPath        string
	walRestart     int64 // WALRestartMB in bytes
	walMu          sync.Mutex
	walSize        int64 // the WAL's file size before the last write (restartWAL)
	walEmptied     int   // times restartWAL emptied the WAL (tests)
	partBits       int   // eventPartBits, or fewer in tests
}

// inboxDir is the inbox log's directory in the data directory.
const inboxDir = "inbox"

var _ mosaic.Store = (*DB)(nil)

// NewDB returns a store for the data directory dir.
func NewDB(dir string) *DB { return &DB{Dir: dir} }

func dsn(path, sync string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(" + sync + ")&_pragma=foreign_keys(1)&_txlock=immediate"
}

// Open creates the data directory and databases if needed and applies migrations.
func (db *DB) Open() error {
	if db.Dir == "" {
		return fmt.Errorf("sqlite: data directory required")
	}
	if db.Now == nil {
		db.Now = time.Now
	}
	if db.Logger == nil {
		db.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(db.Dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	open := func(name, sync string, conns int, extra ...string) (*sql.DB, error) {
		d, err := sql.Open("sqlite", dsn(filepath.Join(db.Dir, name), sync)+strings.Join(extra, ""))
		if err != nil {
			return nil, err
		}
		d.SetMaxOpenConns(conns)
		d.SetMaxIdleConns(conns)
		d.SetConnMaxLifetime(0)
		return d, nil
	}
	var err error
	var cache []string
	if db.WriteCacheMB > 0 {
		cache = append(cache, fmt.Sprintf("&_pragma=cache_size(-%d)", db.WriteCacheMB*1024))
	}
	if db.write, err = open("mosaic.db", "NORMAL", 1, append(cache, "&_pragma=wal_autocheckpoint(0)")...); err != nil {
		return err
	}
	if db.checkpoint, err = open("mosaic.db", "NORMAL", 1); err != nil {
		return err
	}
	if db.read, err = open("mosaic.db", "NORMAL", 4); err != nil {
		return err
	}
	ctx := context.Background()
	now := db.now()
	if err := migrate(ctx, db.write, "main", now); err != nil {
		db.Close()
		return fmt.Errorf("migrate mosaic.db: %w", err)
	}
	db.inbox = &inboxlog.Log{Dir: filepath.Join(db.Dir, inboxDir)}
	if err := db.inbox.Open(); err != nil {
		db.inbox = nil
		db.Close()
		return err
	}
	if err := db.moveOldInbox(ctx); err != nil {
		db.Close()
		return err
	}
	if db.partBits == 0 {
		db.partBits = eventPartBits
	}
	db.walPath = filepath.Join(db.Dir, "mosaic.db-wal")
	db.walRestart = int64(cmp.Or(db.WALRestartMB, 128)) << 20
	db.checkpointKick = make(chan struct{}, 1)
	db.checkpointStop = make(chan struct{})
	db.checkpointDone = make(chan struct{})
	go db.checkpoints()
	return nil
}

// checkpoints copies mosaic.db's WAL into the database file after each commit, until Close.
func (db *DB) checkpoints() {
	defer close(db.checkpointDone)
	for {
		select {
		case <-db.checkpointStop:
			return
		case <-db.checkpointKick:
		}
		if err := db.checkpointWAL("PASSIVE"); err != nil {
			db.Logger.Warn("checkpoint of mosaic.db failed; the next commit retries it", "err", err)
		}
	}
}

// checkpointWAL runs a checkpoint of mosaic.db in mode (PASSIVE: copy what no reader needs;
// TRUNCATE: wait for readers and writers, copy all and empty the WAL).
func (db *DB) checkpointWAL(mode string) error {
	var busy, frames, copied int64
	return db.checkpoint.QueryRow(`PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &frames, &copied)
}

// kickCheckpoint tells the checkpointer a commit happened.
func (db *DB) kickCheckpoint() {
	select {
	case db.checkpointKick <- struct{}{}:
	default:
	}
}

// Close closes the databases.
func (db *DB) Close() error {
	if db.checkpointStop != nil {
		close(db.checkpointStop)
		<-db.checkpointDone
		db.checkpointStop = nil
	}
	var errs []error
	for _, d := range []*sql.DB{db.checkpoint, db.write, db.read} {
		if d != nil {
			errs = append(errs, d.Close())
		}
	}
	if db.inbox != nil {
		errs = append(errs, db.inbox.Close())
	}
	return errors.Join(errs...)
}

// Ping checks that the database answers and the inbox is open.
func (db *DB) Ping(ctx context.Context) error {
	if _, err := db.read.ExecContext(ctx, `SELECT 1`); err != nil {
		return &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Store unavailable.", Err: err}
	}
	if _, err := db.inbox.Head(); err != nil {
		return &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Store unavailable.", Err: err}
	}
	return nil
}

func (db *DB) now() time.Time { return db.Now().UTC().Truncate(time.Microsecond) }

// tx runs fn in a write transaction on mosaic.db.
func (db *DB) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	db.restartWAL()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return storeErr(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return storeErr(err)
	}
	db.kickCheckpoint()
	return nil
}

// restartWAL empties mosaic.db's WAL when readers kept it from starting again at its
// beginning: it waits for them and copies what is left (the checkpointer has copied most of
// it already) before the next write.
//
// A WAL that starts again is written from its beginning, so its file keeps the size of the
// largest commit since it was last emptied; one that cannot start again grows by every
// commit. So the WAL is emptied when its file is past WALRestartMB and grew during the last
// write (from a size other than empty). Judging by the size alone would empty it before
// every write once single commits pass WALRestartMB (a processor batch of 50k events writes
// about 200 MiB), and each write would wait for the checkpoint of the one before: measured,
// a quarter of the processor's commit time.
func (db *DB) restartWAL() {
	if db.walRestart <= 0 {
		return
	}
	db.walMu.Lock()
	defer db.walMu.Unlock()
	fi, err := os.Stat(db.walPath)
	if err != nil {
		return
	}
	size, before := fi.Size(), db.walSize
	db.walSize = size
	if size <= db.walRestart || before == 0 || size <= before {
		return
	}
	db.walEmptied++
	if err := db.checkpointWAL("TRUNCATE"); err != nil {
		db.Logger.Warn("checkpoint of mosaic.db failed", "err", err)
		return
	}
	if fi, err := os.Stat(db.walPath); err == nil {
		db.walSize = fi.Size()
	}
}

// storeErr turns a driver error into a mosaic error by SQLite result code.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &mosaic.Error{Code: mosaic.ENOTFOUND, Message: "Not found.", Err: err}
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &mosaic.Error{Code: mosaic.ECONFLICT, Message: "Already exists.", Err: err}
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN:
			return &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Store unavailable.", Err: err}
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
			return &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Store unavailable.", Err: err}
		}
	}
	return err
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/sqlite"
	"github.com/mosaic-cdp/mosaic/storetest"
)

// MustOpenDB opens a store in a fresh temporary directory, closed when the test ends.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db := mustOpenDir(tb, tb.TempDir())
	tb.Cleanup(func() { db.Close() })
	return db
}

// mustOpenDir opens the store in dir, after configure (if any) sets its fields; the caller
// closes it.
func mustOpenDir(tb testing.TB, dir string, configure ...func(*sqlite.DB)) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(dir)
	for _, c := range configure {
		c(db)
	}
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mosaic.Store { return MustOpenDB(t) })
}

// TestConformanceSmallParts runs the conformance suite with the events' identity index in
// parts of two event ids, so that every lookup of events by identifier spans many parts.
func TestConformanceSmallParts(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mosaic.Store {
		db := mustOpenDir(t, t.TempDir(), func(db *sqlite.DB) { db.SetEventParts(1) })
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	db := mustOpenDir(t, dir)
	src := storetest.MustCreateSource(t, db, "web")
	db.Close()
	db = mustOpenDir(t, dir)
	defer db.Close()
	if _, err := db.FindSourceByWriteKey(context.Background(), src.WriteKey); err != nil {
		t.Fatal(err)
	}
}

// TestWALStaysBounded: mosaic.db's WAL is checkpointed in the background; with readers at
// work all the time it still starts again from its beginning once it passes WALRestartMB,
// and everything written is there after a reopen.
func TestWALStaysBounded(t *testing.T) {
	dir := t.TempDir()
	db := mustOpenDir(t, dir, func(db *sqlite.DB) { db.WALRestartMB = 1 })
	ctx := context.Background()
	src := storetest.MustCreateSource(t, db, "web")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a reader that is always at work
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			db.FindSourceByWriteKey(ctx, src.WriteKey)
		}
	}()
	value := strings.Repeat("x", 200<<10)
	var largest int64
	for i := range 60 {
		if err := db.PutSetting(ctx, fmt.Sprint("k", i), value); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(filepath.Join(dir, "mosaic.db-wal")); err == nil {
			largest = max(largest, fi.Size())
		}
	}
	close(stop)
	<-done
	// 60 writes of 200 KiB make 12 MiB of WAL without a restart; past 1 MiB the WAL starts
	// again (the next write empties it).
	if largest > 3<<20 {
		t.Errorf("WAL grew to %d bytes, want it restarted past 1 MiB (a WAL that never restarts makes 12 MiB)", largest)
	}
	if db.WALEmptied() == 0 {
		t.Error("the WAL was never emptied")
	}
	db.Close()
	db = mustOpenDir(t, dir)
	defer db.Close()
	for i := range 60 {
		if v, ok, err := db.Setting(ctx, fmt.Sprint("k", i)); err != nil || !ok || v != value {
			t.Fatalf("setting k%d after reopen: %d bytes, %v, %v", i, len(v), ok, err)
		}
	}
}

// TestWALNotEmptiedEveryWrite: writes larger than WALRestartMB each, with no reader in the
// way, let the WAL start again by itself; a write does not first wait to empty it (that would
// make every processor commit wait for the checkpoint of the one before).
func TestWALNotEmptiedEveryWrite(t *testing.T) {
	db := mustOpenDir(t, t.TempDir(), func(db *sqlite.DB) { db.WALRestartMB = 1 })
	defer db.Close()
	ctx := context.Background()
	value := strings.Repeat("y", 3<<20)
	for i := range 12 {
		if err := db.PutSetting(ctx, fmt.Sprint("k", i), value); err != nil {
			t.Fatal(err)
		}
		db.CheckpointForTest()
	}
	if n := db.WALEmptied(); n > 1 {
		t.Errorf("the WAL was emptied before %d of 12 writes of 3 MiB, want it to start again by itself", n)
	}
}

package sqlite_test

import (
	"context"
	"testing"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/sqlite"
	"github.com/mosaic-cdp/mosaic/storetest"
)

// MustOpenDB opens a store in a fresh temporary directory, closed when the test ends.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(tb.TempDir())
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mosaic.Store { return MustOpenDB(t) })
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	db := sqlite.NewDB(dir)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	src := storetest.MustCreateSource(t, db, "web")
	db.Close()
	db = sqlite.NewDB(dir)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.FindSourceByWriteKey(context.Background(), src.WriteKey); err != nil {
		t.Fatal(err)
	}
}

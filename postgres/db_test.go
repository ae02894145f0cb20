package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/postgres"
	"github.com/mosaic-cdp/mosaic/postgres/pgtest"
	"github.com/mosaic-cdp/mosaic/storetest"
)

// MustOpenDB opens a store in a fresh schema, closed and dropped when the test ends.
func MustOpenDB(tb testing.TB) *postgres.DB {
	tb.Helper()
	return pgtest.Open(tb)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mosaic.Store { return MustOpenDB(t) })
}

func TestMigrateTwice(t *testing.T) {
	dsn, schema := pgtest.DSN(t)
	db := postgres.NewDB(dsn)
	db.Schema = schema
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	src := storetest.MustCreateSource(t, db, "web")
	db.Close()

	db = postgres.NewDB(dsn)
	db.Schema = schema
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.FindSourceByWriteKey(context.Background(), src.WriteKey); err != nil {
		t.Fatal(err)
	}
}

func TestOpenConcurrent(t *testing.T) {
	dsn, schema := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db := postgres.NewDB(dsn)
			db.Schema = schema
			if errs[i] = db.Open(); errs[i] == nil {
				db.Close()
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
}

func TestOpen_ErrNewerSchema(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO `+pgx.Identifier{db.Schema, "schema_migrations"}.Sanitize()+
		` (version, name, applied_at) VALUES (9999, '9999_future.sql', now())`); err != nil {
		t.Fatal(err)
	}
	again := postgres.NewDB(db.DSN)
	again.Schema = db.Schema
	err = again.Open()
	if err == nil {
		again.Close()
		t.Fatal("Open accepted a schema newer than the binary")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("err=%v, want a newer-schema error", err)
	}
}

// TestAppendInboxConcurrent checks the property the processor relies on: a reader that
// follows the inbox with "seq > offset" sees every record, because appends commit in
// sequence order.
func TestAppendInboxConcurrent(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	const writers, batches, size = 4, 25, 20
	now := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				var recs []*mosaic.InboxRecord
				for i := range size {
					recs = append(recs, storetest.Record("src_a", fmt.Sprintf("m-%d-%d-%d", w, b, i), now))
				}
				if err := db.AppendInbox(ctx, recs); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	seen, offset := map[string]bool{}, int64(0)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		recs, err := db.ReadInbox(ctx, offset, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Seq != offset+1 {
				t.Fatalf("read seq %d after %d", r.Seq, offset)
			}
			seen[r.MessageID], offset = true, r.Seq
		}
		if finished && len(recs) == 0 {
			break
		}
	}
	if got, want := len(seen), writers*batches*size; got != want {
		t.Fatalf("reader saw %d records, want %d", got, want)
	}
}

func TestCommitEvents_OnlyRejected(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	a := storetest.MustCreateSource(t, db, "a")
	res, err := db.CommitEvents(ctx, &mosaic.EventCommit{Through: 3, Rejected: map[mosaic.SourceID]int64{a.ID: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 0 || res.Duplicates != 0 {
		t.Fatalf("result=%+v, want nothing inserted", res)
	}
	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rejected != 3 || st.Processed != 3 {
		t.Fatalf("stats=%+v, want 3 rejected, processed through 3", st)
	}
}

package sqlite_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
)

// TestOldInboxMoved: a data directory of a version that kept the inbox in inbox.db opens
// with every record in the log under its own seq (the processor's offset counts them); the
// database is gone and appends go on after its last record.
func TestOldInboxMoved(t *testing.T) {
	dir := t.TempDir()
	old, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "inbox.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE inbox (seq INTEGER PRIMARY KEY, source_id TEXT NOT NULL, message_id TEXT NOT NULL,
		received_at INTEGER NOT NULL, sent_at INTEGER, payload BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	const n = 25000 // more than one chunk of the move
	tx, err := old.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		var sent any
		if i%2 == 0 {
			sent = at.Add(-time.Second).UnixMicro()
		}
		if _, err := tx.Exec(`INSERT INTO inbox VALUES (?, ?, ?, ?, ?, ?)`, i, "src_web", fmt.Sprintf("m%d", i),
			at.Add(time.Duration(i)*time.Microsecond).UnixMicro(), sent, fmt.Sprintf(`{"type":"track","event":"E%d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db := mustOpenDir(t, dir)
	defer db.Close()
	ctx := t.Context()
	if head, err := db.InboxHead(ctx); err != nil || head != n {
		t.Fatalf("head %d (%v), want %d", head, err, n)
	}
	recs, err := db.ReadInbox(ctx, 12344, 2)
	if err != nil || len(recs) != 2 {
		t.Fatalf("read: %v %d", err, len(recs))
	}
	r := recs[0]
	if r.Seq != 12345 || r.SourceID != "src_web" || r.MessageID != "m12345" || string(r.Payload) != `{"type":"track","event":"E12345"}` ||
		!r.ReceivedAt.Equal(at.Add(12345*time.Microsecond)) || r.SentAt != nil || recs[1].SentAt == nil || !recs[1].SentAt.Equal(at.Add(-time.Second)) {
		t.Fatalf("moved records %+v %+v", *recs[0], *recs[1])
	}
	for _, f := range []string{"inbox.db", "inbox.db-wal", "inbox.db-shm"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Fatalf("%s is still there: %v", f, err)
		}
	}
	next := []*mosaic.InboxRecord{{SourceID: "src_web", MessageID: "new", ReceivedAt: at, Payload: []byte(`{}`)}}
	if err := db.AppendInbox(ctx, next); err != nil || next[0].Seq != n+1 {
		t.Fatalf("append after the move: seq %d, %v", next[0].Seq, err)
	}
	db.Close()
	db = mustOpenDir(t, dir)
	if head, err := db.InboxHead(ctx); err != nil || head != n+1 {
		t.Fatalf("head after reopening %d (%v)", head, err)
	}
}

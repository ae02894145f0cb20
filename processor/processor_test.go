package processor_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/processor"
	"github.com/mosaic-cdp/mosaic/sqlite"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db := sqlite.NewDB(t.TempDir())
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ts(s string) *time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return &t
}

func TestDecode(t *testing.T) {
	received := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	b := &processor.Batch{Records: []*mosaic.InboxRecord{
		// Client clock 1 h fast: happened 5 s before it was sent.
		{Seq: 1, SourceID: "s", MessageID: "m1", ReceivedAt: received,
			Payload: []byte(`{"type":"track","event":"E","userId":"u","timestamp":"2026-11-26T12:59:55Z","sentAt":"2026-11-26T13:00:00Z"}`)},
		// Batch-level sentAt applies when the event has none.
		{Seq: 2, SourceID: "s", MessageID: "m2", ReceivedAt: received, SentAt: ts("2026-11-26T13:00:00Z"),
			Payload: []byte(`{"type":"page","userId":"u","originalTimestamp":"2026-11-26T12:59:00Z"}`)},
		// No client time at all: it happened when received.
		{Seq: 3, SourceID: "s", MessageID: "m3", ReceivedAt: received, Payload: []byte(`{"type":"identify","userId":"u"}`)},
		// Unreadable (only a schema change could do this): counted, not stored, not fatal.
		{Seq: 4, SourceID: "s", MessageID: "m4", ReceivedAt: received, Payload: []byte(`{"type":"track"}`)},
	}}
	if err := processor.Decode(b); err != nil {
		t.Fatal(err)
	}
	if len(b.Events) != 3 || b.Rejected["s"] != 1 {
		t.Fatalf("events=%d rejected=%v", len(b.Events), b.Rejected)
	}
	for i, want := range []time.Time{received.Add(-5 * time.Second), received.Add(-time.Minute), received} {
		if got := b.Events[i].Timestamp; !got.Equal(want) {
			t.Errorf("event %d timestamp=%v, want %v", i, got, want)
		}
		if b.Events[i].MessageID != fmt.Sprintf("m%d", i+1) || b.Events[i].SourceID != "s" || !b.Events[i].ReceivedAt.Equal(received) {
			t.Errorf("event %d envelope: %+v", i, b.Events[i])
		}
	}
	// A batch large enough to be decoded on several goroutines keeps inbox order, and counts
	// its unreadable records by source.
	big := &processor.Batch{}
	for i := range 10000 {
		rec := &mosaic.InboxRecord{Seq: int64(i + 1), SourceID: "s", MessageID: fmt.Sprint("m", i), ReceivedAt: received,
			Payload: fmt.Appendf(nil, `{"type":"track","event":"E%d","userId":"u"}`, i)}
		if i%1000 == 999 {
			rec.SourceID, rec.Payload = "t", []byte(`{"type":"track"}`)
		}
		big.Records = append(big.Records, rec)
	}
	if err := processor.Decode(big); err != nil {
		t.Fatal(err)
	}
	if len(big.Events) != 9990 || big.Rejected["t"] != 10 || big.Rejected["s"] != 0 {
		t.Fatalf("large batch: events=%d rejected=%v", len(big.Events), big.Rejected)
	}
	for i, e := range big.Events {
		if n := i + i/999; e.MessageID != fmt.Sprint("m", n) || e.Event != fmt.Sprint("E", n) {
			t.Fatalf("large batch event %d is %s %s, want m%d", i, e.MessageID, e.Event, n)
		}
	}

	// Decode lets the payloads go, so the events must share no memory with them: one
	// buffer, as the inbox reads them, overwritten after decoding changes no event.
	buf := []byte(`{"type":"track","event":"Order Completed","userId":"u1","properties":{"sku":"a1"},"context":{"ip":"10.0.0.1"},"traits":{"plan":"pro"},"x_extra":{"k":"v"}}`)
	shared := &processor.Batch{Records: []*mosaic.InboxRecord{{Seq: 1, SourceID: "s", MessageID: "m1", ReceivedAt: received, Payload: buf}}}
	if err := processor.Decode(shared); err != nil || len(shared.Events) != 1 {
		t.Fatalf("decode: %v, %d events", err, len(shared.Events))
	}
	if shared.Records[0].Payload != nil {
		t.Error("a decoded record keeps its payload")
	}
	before, err := shared.Events[0].AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = ' '
	}
	if after, _ := shared.Events[0].AppendJSON(nil); string(after) != string(before) {
		t.Errorf("overwriting the payload changed the event:\n%s\nwas\n%s", after, before)
	}
}

// failingStore fails CommitEvents a few times, as a store outage would.
type failingStore struct {
	processor.Store
	failures int
}

func (f *failingStore) CommitEvents(ctx context.Context, c *mosaic.EventCommit) (*mosaic.CommitResult, error) {
	if f.failures > 0 {
		f.failures--
		return nil, errors.New("disk on fire")
	}
	return f.Store.CommitEvents(ctx, c)
}

// stage counts what passes through it, to check that stages run in order on every batch.
type stage struct{ seen int }

func (s *stage) Name() string { return "count" }
func (s *stage) Process(_ context.Context, b *processor.Batch) error {
	s.seen += len(b.Events)
	return nil
}

func TestProcessesInboxExactlyOnce(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	src := &mosaic.Source{Name: "web"}
	db.CreateSource(ctx, src)
	var recs []*mosaic.InboxRecord
	for i := 0; i < 2500; i++ {
		id := fmt.Sprintf("m%d", i%2000) // 500 duplicates
		recs = append(recs, &mosaic.InboxRecord{SourceID: src.ID, MessageID: id, ReceivedAt: time.Now(),
			Payload: []byte(`{"type":"track","event":"E","userId":"u"}`)})
	}
	if err := db.AppendInbox(ctx, recs); err != nil {
		t.Fatal(err)
	}
	fs := &failingStore{Store: db, failures: 2}
	st := &stage{}
	p := &processor.Processor{Store: fs, Stages: []processor.Stage{st}, BatchSize: 300, Poll: time.Millisecond}
	p.Open()
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := p.Drain(dctx); err != nil {
		t.Fatal(err)
	}
	p.Close()
	stats, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events != 2000 || stats.Duplicates != 500 || stats.InboxLag != 0 {
		t.Fatalf("stats after retries: %+v", stats)
	}
	if st.seen < 2500 {
		t.Fatalf("stage saw %d events, want every one", st.seen)
	}
	// A second processor on the same store finds nothing left to do.
	p2 := &processor.Processor{Store: db, Poll: time.Millisecond}
	p2.Open()
	p2.Drain(dctx)
	p2.Close()
	if again, _ := db.Stats(ctx); again.Events != 2000 || again.Duplicates != 500 {
		t.Fatalf("reprocessed: %+v", again)
	}
}

// TestDedupeCountsImportDuplicates: the rows of an import that the processor drops as
// duplicates are counted for that import (named by the call's context.import.id), so that
// the import can say how many of its rows were new.
func TestDedupeCountsImportDuplicates(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	crm, web := &mosaic.Source{Name: "crm"}, &mosaic.Source{Name: "web"}
	db.CreateSource(ctx, crm)
	db.CreateSource(ctx, web)
	var imps []*mosaic.Import
	for _, h := range []string{"h1", "h2"} {
		imp := &mosaic.Import{SourceID: crm.ID, Origin: mosaic.ImportOriginCLI, FileName: "c.csv", FileHash: h, MappingHash: "m",
			Format: "csv", Status: mosaic.ImportRunning}
		if err := db.CreateImport(ctx, imp); err != nil {
			t.Fatal(err)
		}
		imps = append(imps, imp)
	}
	call := func(src *mosaic.Source, id string, imp mosaic.ImportID) *mosaic.InboxRecord {
		payload := `{"type":"identify","userId":"u-` + id + `"}`
		if imp != "" {
			payload = `{"type":"identify","userId":"u-` + id + `","context":{"library":{"name":"mosaic-import"},"import":{"id":"` + string(imp) + `","row":1}}}`
		}
		return &mosaic.InboxRecord{SourceID: src.ID, MessageID: id, ReceivedAt: time.Now(), Payload: []byte(payload)}
	}
	first := []*mosaic.InboxRecord{call(crm, "r1", imps[0].ID), call(crm, "r2", imps[0].ID), call(crm, "r3", imps[0].ID), call(web, "w1", "")}
	again := []*mosaic.InboxRecord{
		call(crm, "r1", imps[1].ID), call(crm, "r2", imps[1].ID), call(crm, "r4", imps[1].ID), // two rows imported before
		call(crm, "r4", imps[1].ID), // and one twice in this import
		call(web, "w1", imps[1].ID), // a duplicate of another source that names the import: not its row
		call(crm, "r3", ""),         // a duplicate from the API
	}
	p := &processor.Processor{Store: db, Stages: []processor.Stage{&processor.Dedupe{Store: db}}, BatchSize: 2, Poll: time.Millisecond}
	p.Open()
	defer p.Close()
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for _, recs := range [][]*mosaic.InboxRecord{first, again} {
		if err := db.AppendInbox(ctx, recs); err != nil {
			t.Fatal(err)
		}
		p.Notify()
		if err := p.Drain(dctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []int64{0, 3} {
		got, err := db.FindImportByID(ctx, imps[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RowsDuplicate != want {
			t.Errorf("import %d: rows_duplicate=%d, want %d", i, got.RowsDuplicate, want)
		}
	}
	if st, _ := db.Stats(ctx); st.Duplicates != 5 || st.Events != 5 {
		t.Fatalf("stats %+v, want 5 events and 5 duplicates", st)
	}
}

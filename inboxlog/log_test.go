package inboxlog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
)

func open(t *testing.T, dir string, segBytes int64) *Log {
	t.Helper()
	l := &Log{Dir: dir, SegmentBytes: segBytes}
	if err := l.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// records makes n records numbered from i, of varying size, some with a sent time.
func records(i, n int) []*mosaic.InboxRecord {
	base := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var out []*mosaic.InboxRecord
	for k := i; k < i+n; k++ {
		r := &mosaic.InboxRecord{SourceID: mosaic.SourceID(fmt.Sprintf("src_%d", k%3)), MessageID: fmt.Sprintf("m-%d", k),
			ReceivedAt: base.Add(time.Duration(k) * time.Microsecond),
			Payload:    []byte(fmt.Sprintf(`{"type":"track","event":"E%d","pad":%q}`, k, strings.Repeat("x", k%300)))}
		if k%2 == 0 {
			sent := base.Add(-time.Duration(k) * time.Second)
			r.SentAt = &sent
		}
		out = append(out, r)
	}
	return out
}

// diffRecords compares two record lists record by record (cmp.Diff of whole lists of
// thousands takes a minute) and reports the first difference.
func diffRecords(want, got []*mosaic.InboxRecord) string {
	for i := range min(len(want), len(got)) {
		w, g := want[i], got[i]
		sameSent := (w.SentAt == nil) == (g.SentAt == nil) && (w.SentAt == nil || w.SentAt.Equal(*g.SentAt))
		if w.Seq != g.Seq || w.SourceID != g.SourceID || w.MessageID != g.MessageID || !w.ReceivedAt.Equal(g.ReceivedAt) ||
			!sameSent || string(w.Payload) != string(g.Payload) {
			return fmt.Sprintf("record %d:\n%s", i, cmp.Diff(w, g))
		}
	}
	if len(want) != len(got) {
		return fmt.Sprintf("%d records, want %d", len(got), len(want))
	}
	return ""
}

func mustAppend(t *testing.T, l *Log, recs []*mosaic.InboxRecord) {
	t.Helper()
	if err := l.Append(recs); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, l *Log, after int64, limit int) []*mosaic.InboxRecord {
	t.Helper()
	recs, err := l.Read(after, limit)
	if err != nil {
		t.Fatalf("Read(%d, %d): %v", after, limit, err)
	}
	return recs
}

func mustHead(t *testing.T, l *Log) int64 {
	t.Helper()
	h, err := l.Head()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestAppendRead appends batches of random sizes across many small segments and reads them
// back from random points, before and after reopening (which reads sealed segments lazily).
func TestAppendRead(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, 4<<10)
	if h := mustHead(t, l); h != 0 {
		t.Fatalf("empty head %d", h)
	}
	if got := mustRead(t, l, 0, 10); len(got) != 0 {
		t.Fatalf("read of an empty log: %d records", len(got))
	}
	mustAppend(t, l, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	var all []*mosaic.InboxRecord
	for len(all) < 3000 {
		recs := records(len(all)+1, 1+rng.IntN(300))
		mustAppend(t, l, recs)
		for i, r := range recs {
			if want := int64(len(all) + i + 1); r.Seq != want {
				t.Fatalf("seq %d, want %d", r.Seq, want)
			}
		}
		all = append(all, recs...)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(segs) < 10 {
		t.Fatalf("%d segments; the test wants many", len(segs))
	}
	check := func(l *Log) {
		t.Helper()
		if h := mustHead(t, l); h != int64(len(all)) {
			t.Fatalf("head %d, want %d", h, len(all))
		}
		for range 200 {
			after, limit := rng.IntN(len(all)+2), 1+rng.IntN(700)
			got := mustRead(t, l, int64(after), limit)
			want := all[min(after, len(all)):min(after+limit, len(all))]
			if diff := diffRecords(want, got); diff != "" {
				t.Fatalf("Read(%d, %d) (-want +got):\n%s", after, limit, diff)
			}
		}
		// Sequential reads, as the processor does them.
		var got []*mosaic.InboxRecord
		for {
			recs := mustRead(t, l, int64(len(got)), 257)
			if len(recs) == 0 {
				break
			}
			got = append(got, recs...)
		}
		if diff := diffRecords(all, got); diff != "" {
			t.Fatalf("sequential reads (-want +got):\n%s", diff)
		}
	}
	check(l)
	l.Close()
	l = open(t, dir, 4<<10)
	check(l)
	more := records(len(all)+1, 5)
	mustAppend(t, l, more)
	all = append(all, more...)
	check(l)
}

// TestTornTail: a crash in the middle of an append leaves part of a record at the end. It is
// not read, and the next append cuts it off and writes after the last whole record.
func TestTornTail(t *testing.T) {
	for _, tail := range []struct {
		name string
		fn   func(whole []byte) []byte
	}{
		{"header only", func(b []byte) []byte { return b[:5] }},
		{"half a record", func(b []byte) []byte { return b[:len(b)/2] }},
		{"bad checksum", func(b []byte) []byte { c := append([]byte(nil), b...); c[len(c)-1] ^= 1; return c }},
		{"zeros", func(b []byte) []byte { return make([]byte, 4096) }},
	} {
		t.Run(tail.name, func(t *testing.T) {
			dir := t.TempDir()
			l := open(t, dir, 0)
			all := records(1, 10)
			mustAppend(t, l, all)
			l.Close()
			segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
			f, err := os.OpenFile(segs[0], os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			whole := appendRecord(nil, 11, records(11, 1)[0])
			f.Write(tail.fn(whole))
			f.Close()
			before, _ := os.Stat(segs[0])

			l = open(t, dir, 0)
			if h := mustHead(t, l); h != 10 {
				t.Fatalf("head %d past a torn record", h)
			}
			if diff := diffRecords(all, mustRead(t, l, 0, 100)); diff != "" {
				t.Fatalf("read (-want +got):\n%s", diff)
			}
			more := records(11, 3)
			mustAppend(t, l, more)
			all = append(all, more...)
			if diff := diffRecords(all, mustRead(t, l, 0, 100)); diff != "" {
				t.Fatalf("read after append (-want +got):\n%s", diff)
			}
			after, _ := os.Stat(segs[0])
			if want := before.Size() - int64(len(tail.fn(whole))) + int64(len(appendRecords(11, more))); after.Size() != want {
				t.Fatalf("segment is %d bytes, want %d: the torn record was not cut off", after.Size(), want)
			}
			l.Close()
			l = open(t, dir, 0)
			if diff := diffRecords(all, mustRead(t, l, 0, 100)); diff != "" {
				t.Fatalf("read after reopening (-want +got):\n%s", diff)
			}
		})
	}
}

func appendRecords(first int64, recs []*mosaic.InboxRecord) []byte {
	var b []byte
	for i, r := range recs {
		b = appendRecord(b, first+int64(i), r)
	}
	return b
}

// TestDamagedSealedSegment: a record damaged in the middle of the log is an error naming the
// segment, not a silent end of the inbox.
func TestDamagedSealedSegment(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, 2<<10)
	for i := 0; i < 50; i++ {
		mustAppend(t, l, records(i*10+1, 10))
	}
	l.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	b, _ := os.ReadFile(segs[1])
	b[len(b)/2] ^= 0xff
	os.WriteFile(segs[1], b, 0o600)
	l = open(t, dir, 2<<10)
	if _, err := l.Read(0, 1000); err == nil || !strings.Contains(err.Error(), filepath.Base(segs[1])) {
		t.Fatalf("read across a damaged segment: %v", err)
	}
	// What lies before it still reads.
	if got := mustRead(t, l, 0, 5); len(got) != 5 {
		t.Fatalf("%d records before the damage", len(got))
	}
}

// TestTwoProcesses: two logs on one directory (as mosaic serve and mosaic import are) see
// each other's appends, across segment changes, and never hand out a seq twice.
func TestTwoProcesses(t *testing.T) {
	dir := t.TempDir()
	a, b := open(t, dir, 4<<10), open(t, dir, 4<<10)
	var all []*mosaic.InboxRecord
	for i := range 40 {
		w := a
		if i%3 == 0 {
			w = b
		}
		recs := records(len(all)+1, 1+i%17)
		mustAppend(t, w, recs)
		if recs[0].Seq != int64(len(all)+1) {
			t.Fatalf("append %d got seq %d, want %d", i, recs[0].Seq, len(all)+1)
		}
		all = append(all, recs...)
		for _, r := range []*Log{a, b} {
			if h := mustHead(t, r); h != int64(len(all)) {
				t.Fatalf("after append %d: head %d, want %d", i, h, len(all))
			}
		}
	}
	for _, r := range []*Log{a, b} {
		if diff := diffRecords(all, mustRead(t, r, 0, len(all)+10)); diff != "" {
			t.Fatalf("read (-want +got):\n%s", diff)
		}
	}
}

// TestConcurrent appends from several goroutines, and from a second log on the directory,
// while a reader follows the head; every record is read once, in seq order.
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	a, b := open(t, dir, 64<<10), open(t, dir, 64<<10)
	const writers, appends, per = 4, 50, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			l := a
			if w == 0 {
				l = b
			}
			for i := range appends {
				if err := l.Append(records(w*appends*per+i*per, per)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	total := writers * appends * per
	seen := map[string]bool{}
	var last int64
	deadline := time.Now().Add(time.Minute)
	for len(seen) < total && time.Now().Before(deadline) {
		recs, err := a.Read(last, 333)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Seq != last+1 {
				t.Fatalf("seq %d after %d", r.Seq, last)
			}
			if seen[r.MessageID] {
				t.Fatalf("%s read twice", r.MessageID)
			}
			seen[r.MessageID], last = true, r.Seq
		}
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("read %d of %d records", len(seen), total)
	}
}

// BenchmarkAppend measures one durable append of a batch of track calls (about 400 bytes
// each), as the gateway's group commit makes it.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			l := &Log{Dir: b.TempDir()}
			if err := l.Open(); err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			recs := records(0, size)
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Append(recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkRead measures sequential reads of 50,000 records, the processor's batch.
func BenchmarkRead(b *testing.B) {
	l := &Log{Dir: b.TempDir()}
	if err := l.Open(); err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const n = 200000
	for i := 0; i < n; i += 1000 {
		if err := l.Append(records(i, 1000)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	var after int64
	for b.Loop() {
		recs, err := l.Read(after, 50000)
		if err != nil {
			b.Fatal(err)
		}
		after = recs[len(recs)-1].Seq % n
	}
	b.ReportMetric(float64(b.N*50000)/b.Elapsed().Seconds(), "records/s")
}

// TestEmptyLastSegment: a crash right after a new segment was created (before its first
// records were synced) leaves it empty or torn; the log opens, reads and appends into it.
func TestEmptyLastSegment(t *testing.T) {
	for _, c := range []struct {
		name   string
		before int // records appended before the crash
		tail   []byte
	}{
		{"fresh directory", 0, nil},
		{"after a full segment", 40, nil},
		{"torn first record", 40, []byte{200, 1, 0, 0, 9, 9}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			l := open(t, dir, 1<<10)
			var all []*mosaic.InboxRecord
			for len(all) < c.before {
				recs := records(len(all)+1, 10)
				mustAppend(t, l, recs)
				all = append(all, recs...)
			}
			l.Close()
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.log", len(all)+1)), c.tail, 0o600)

			done := make(chan struct{})
			go func() {
				defer close(done)
				l = &Log{Dir: dir, SegmentBytes: 1 << 10}
				if err := l.Open(); err != nil {
					t.Error(err)
					return
				}
				defer l.Close()
				if h, err := l.Head(); err != nil || h != int64(len(all)) {
					t.Errorf("head %d (%v), want %d", h, err, len(all))
				}
				more := records(len(all)+1, 3)
				if err := l.Append(more); err != nil {
					t.Error(err)
					return
				}
				got, err := l.Read(0, 1000)
				if err != nil {
					t.Error(err)
				} else if diff := diffRecords(append(all, more...), got); diff != "" {
					t.Error(diff)
				}
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the log hangs on an empty last segment")
			}
		})
	}
}

// TestReadHugeLimit: a limit larger than the log reads what there is.
func TestReadHugeLimit(t *testing.T) {
	l := open(t, t.TempDir(), 2<<10)
	all := records(1, 300)
	mustAppend(t, l, all[:150])
	mustAppend(t, l, all[150:])
	for _, after := range []int64{0, 200} {
		if diff := diffRecords(all[after:], mustRead(t, l, after, math.MaxInt)); diff != "" {
			t.Fatalf("Read(%d, MaxInt): %s", after, diff)
		}
	}
}

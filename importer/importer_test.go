package importer_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/bulk"
	"github.com/mosaic-cdp/mosaic/importer"
	"github.com/mosaic-cdp/mosaic/sqlite"
)

const mapping = "identifiers: {userId: id, email: email}\ntraits:\n  n: {column: n, type: integer}\n"

func setup(t *testing.T, rows int) (*sqlite.DB, *mosaic.Source, string, map[int64]bool) {
	t.Helper()
	db := sqlite.NewDB(t.TempDir())
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	src := &mosaic.Source{Name: "crm"}
	if err := db.CreateSource(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("id,email,n\n")
	bad := map[int64]bool{} // physical lines of bad rows
	line := int64(2)
	for i := range rows {
		switch {
		case i%5 == 3:
			fmt.Fprintf(&b, "u%d,u%d@example.com,not-a-number\n", i, i)
			bad[line] = true
		case i%7 == 0:
			fmt.Fprintf(&b, "u%d,\"multi\nline\",%d\n", i, i) // a cell over two lines
			line++
		default:
			fmt.Fprintf(&b, "u%d,u%d@example.com,%d\n", i, i, i)
		}
		line++
	}
	path := filepath.Join(t.TempDir(), "customers.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return db, src, path, bad
}

func newJob(t *testing.T, db *sqlite.DB, src *mosaic.Source, path string) importer.Job {
	t.Helper()
	m, err := bulk.ParseMapping([]byte(mapping))
	if err != nil {
		t.Fatal(err)
	}
	hash, size, err := importer.HashFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	opts := m.ReadOptions(bulk.CSV)
	imp, _, err := importer.Prepare(context.Background(), db, &mosaic.Import{SourceID: src.ID, Origin: mosaic.ImportOriginCLI,
		FileName: filepath.Base(path), FileHash: hash, FileSize: size, MappingHash: bulk.MappingHash([]byte(mapping), opts),
		Format: "csv", Status: mosaic.ImportQueued, Mapping: []byte(mapping), FilePath: path, ReportPath: path + ".errors.csv"})
	if err != nil {
		t.Fatal(err)
	}
	return importer.Job{Import: imp, Mapping: m, Options: opts}
}

func inboxIDs(t *testing.T, db *sqlite.DB) map[string]int {
	t.Helper()
	recs, err := db.ReadInbox(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, r := range recs {
		ids[r.MessageID]++
	}
	return ids
}

func TestRunResumeAndRerun(t *testing.T) {
	const rows = 1000
	db, src, path, bad := setup(t, rows)
	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	im := &importer.Importer{Store: db, BatchSize: 100, Progress: func(imp *mosaic.Import) {
		if batches++; batches == 3 {
			cancel() // interrupted after the third checkpoint
		}
	}}
	job := newJob(t, db, src, path)
	imp, err := im.Run(ctx, job)
	if err == nil || imp.Status != mosaic.ImportInterrupted || imp.RowsRead == 0 || imp.RowsRead >= rows {
		t.Fatalf("interrupted run: err=%v %+v", err, imp)
	}
	firstIDs := inboxIDs(t, db)
	if int64(len(firstIDs)) != imp.RowsImported {
		t.Fatalf("%d records in the inbox, checkpoint says %d", len(firstIDs), imp.RowsImported)
	}

	// The same command again resumes from the checkpoint.
	im.Progress = nil
	job = newJob(t, db, src, path)
	if job.Import.ID != imp.ID {
		t.Fatalf("re-run made a new import %s, want %s", job.Import.ID, imp.ID)
	}
	imp, err = im.Run(context.Background(), job)
	if err != nil || imp.Status != mosaic.ImportDone {
		t.Fatalf("resumed run: %v %+v", err, imp)
	}
	ids := inboxIDs(t, db)
	wantGood := int64(rows - len(bad))
	if int64(len(ids)) != wantGood || imp.RowsImported != wantGood || imp.RowsBad != int64(len(bad)) || imp.RowsRead != rows ||
		imp.RowsSkipped == 0 {
		t.Fatalf("inbox has %d ids; import %+v; want %d good, %d bad", len(ids), imp, wantGood, len(bad))
	}
	for id, n := range ids {
		if n != 1 {
			t.Fatalf("messageId %s appended %d times", id, n)
		}
	}
	// The report has every bad row once, at its line, even across the interruption.
	f, err := os.Open(path + ".errors.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines)-1 != len(bad) || strings.Join(lines[0], ",") != "line,row,column,reason" {
		t.Fatalf("report has %d rows, want %d: %v", len(lines)-1, len(bad), lines[:min(3, len(lines))])
	}
	for _, l := range lines[1:] {
		var line int64
		fmt.Sscan(l[0], &line)
		if !bad[line] || l[2] != "n" || !strings.Contains(l[3], "not an integer") {
			t.Fatalf("report line %v is not a bad row", l)
		}
		delete(bad, line)
	}

	// A finished import is found as done; running it adds nothing.
	job = newJob(t, db, src, path)
	if job.Import.Status != mosaic.ImportDone {
		t.Fatalf("third run found %s", job.Import.Status)
	}
}

func TestRunFailsOnMissingColumn(t *testing.T) {
	db, src, path, _ := setup(t, 10)
	job := newJob(t, db, src, path)
	m, _ := bulk.ParseMapping([]byte("identifiers: {userId: customer_id}\n"))
	job.Mapping = m
	imp, err := (&importer.Importer{Store: db}).Run(context.Background(), job)
	if mosaic.ErrorCode(err) != mosaic.EINVALID || imp.Status != mosaic.ImportFailed || !strings.Contains(imp.Error, `identifiers.userId: Line 1: Column "customer_id" is not in the file's header`) {
		t.Fatalf("err=%v import=%+v", err, imp)
	}
}

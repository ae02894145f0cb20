package importer_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/bulk"
	"github.com/mosaic-cdp/mosaic/importer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// upload stores an API import of path as the server's upload handler does.
func upload(t *testing.T, db mosaic.ImportService, src mosaic.SourceID, path string, status mosaic.ImportStatus) *mosaic.Import {
	t.Helper()
	hash, size, err := importer.HashFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	imp := &mosaic.Import{SourceID: src, Origin: mosaic.ImportOriginAPI, FileName: "customers.csv", FileHash: hash, FileSize: size,
		MappingHash: bulk.MappingHash([]byte(mapping), bulk.Options{Format: bulk.CSV}), Format: "csv", Status: status,
		Mapping: []byte(mapping), FilePath: path, ReportPath: path + ".errors.csv"}
	if err := db.CreateImport(context.Background(), imp); err != nil {
		t.Fatal(err)
	}
	return imp
}

func waitStatus(t *testing.T, db mosaic.ImportService, id mosaic.ImportID, want mosaic.ImportStatus) *mosaic.Import {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		imp, err := db.FindImportByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if imp.Status == want {
			return imp
		}
		if time.Now().After(deadline) {
			t.Fatalf("import %s is %s, want %s", id, imp.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestQueue(t *testing.T) {
	db, src, path, bad := setup(t, 300)
	// An upload a crashed server was running, and one that is queued.
	other := filepath.Join(t.TempDir(), "other.csv")
	data, _ := os.ReadFile(path)
	os.WriteFile(other, append(data, "u-last,last@example.com,1\n"...), 0o600)
	stale := upload(t, db, src.ID, path, mosaic.ImportRunning)
	queued := upload(t, db, src.ID, other, mosaic.ImportQueued)
	q := &importer.Queue{Importer: &importer.Importer{Store: db, BatchSize: 50}, Poll: 10 * time.Millisecond}
	if err := q.Open(); err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for _, imp := range []*mosaic.Import{stale, queued} {
		done := waitStatus(t, db, imp.ID, mosaic.ImportDone)
		if done.RowsBad != int64(len(bad)) || done.RowsRead < 300 {
			t.Fatalf("import %s: %+v", imp.ID, done)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) { // removed once done
			if _, err := os.Stat(imp.FilePath); os.IsNotExist(err) {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("upload %s kept after its import: %v", imp.FilePath, err)
			}
		}
		if _, err := os.Stat(imp.ReportPath); err != nil {
			t.Fatalf("report: %v", err)
		}
	}
	// An upload whose file is not on this machine waits for the server that has it.
	elsewhere := &mosaic.Import{SourceID: src.ID, Origin: mosaic.ImportOriginAPI, FileName: "gone.csv", FileHash: "0123456789abcdef0123",
		MappingHash: "m", Format: "csv", Status: mosaic.ImportQueued, Mapping: []byte(mapping), FilePath: filepath.Join(t.TempDir(), "gone.csv")}
	if err := db.CreateImport(context.Background(), elsewhere); err != nil {
		t.Fatal(err)
	}
	q.Submit()
	time.Sleep(50 * time.Millisecond)
	if imp, _ := db.FindImportByID(context.Background(), elsewhere.ID); imp.Status != mosaic.ImportQueued {
		t.Fatalf("an upload from elsewhere is %s", imp.Status)
	}
}

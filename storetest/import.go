package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
)

// newImport returns a valid queued import of src.
func newImport(src mosaic.SourceID, fileHash string) *mosaic.Import {
	return &mosaic.Import{SourceID: src, Origin: mosaic.ImportOriginCLI, FileName: "customers.csv", FileHash: fileHash,
		FileSize: 1234, MappingHash: "m1", Format: "csv", Status: mosaic.ImportQueued,
		Mapping: []byte("type: identify\n"), FilePath: "/tmp/customers.csv", ReportPath: "/tmp/customers.csv.errors.csv"}
}

func ptr[T any](v T) *T { return &v }

func testImports(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("Create", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "crm")
		imp := newImport(src.ID, "h1")
		must(t, s.CreateImport(ctx, imp))
		if imp.ID == "" || imp.CreatedAt.IsZero() || imp.UpdatedAt.IsZero() || imp.FinishedAt != nil {
			t.Fatalf("created import lacks id or times: %+v", imp)
		}
		got, err := s.FindImportByID(ctx, imp.ID)
		must(t, err)
		if diff := cmp.Diff(imp, got); diff != "" {
			t.Fatalf("FindImportByID mismatch (-want +got):\n%s", diff)
		}
		// A caller may choose the id; a finished import gets its finish time.
		done := newImport(src.ID, "h2")
		done.ID, done.Status, done.Mapping = "imp_chosen", mosaic.ImportDone, nil
		must(t, s.CreateImport(ctx, done))
		got, err = s.FindImportByID(ctx, "imp_chosen")
		must(t, err)
		if got.FinishedAt == nil || got.Mapping == nil || len(got.Mapping) != 0 {
			t.Fatalf("done import: finished_at=%v mapping=%q", got.FinishedAt, got.Mapping)
		}
	})
	t.Run("Create/ErrConflict", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "crm")
		other := MustCreateSource(t, s, "shop")
		must(t, s.CreateImport(ctx, newImport(src.ID, "h1")))
		wantCode(t, s.CreateImport(ctx, newImport(src.ID, "h1")), mosaic.ECONFLICT)
		// Another mapping of the same file, or the same file into another source, is another import.
		remapped := newImport(src.ID, "h1")
		remapped.MappingHash = "m2"
		must(t, s.CreateImport(ctx, remapped))
		must(t, s.CreateImport(ctx, newImport(other.ID, "h1")))
	})
	t.Run("Create/ErrInvalid", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "crm")
		for _, mod := range []func(*mosaic.Import){
			func(i *mosaic.Import) { i.Format = "xlsx" },
			func(i *mosaic.Import) { i.Status = "paused" },
			func(i *mosaic.Import) { i.Origin = "" },
			func(i *mosaic.Import) { i.FileHash = "" },
			func(i *mosaic.Import) { i.SourceID = "" },
		} {
			imp := newImport(src.ID, "h1")
			mod(imp)
			wantCode(t, s.CreateImport(ctx, imp), mosaic.EINVALID)
		}
		wantCode(t, s.CreateImport(ctx, newImport("src_nope", "h1")), mosaic.ENOTFOUND)
	})
	t.Run("Find/ErrNotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_, err := s.FindImportByID(ctx, "imp_nope")
		wantCode(t, err, mosaic.ENOTFOUND)
		_, err = s.UpdateImport(ctx, "imp_nope", mosaic.ImportUpdate{Status: ptr(mosaic.ImportDone)})
		wantCode(t, err, mosaic.ENOTFOUND)
	})
	t.Run("FindImports", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		crm := MustCreateSource(t, s, "crm")
		shop := MustCreateSource(t, s, "shop")
		var ids []mosaic.ImportID
		for i, src := range []mosaic.SourceID{crm.ID, crm.ID, shop.ID} {
			imp := newImport(src, string(rune('a'+i)))
			if i == 2 {
				imp.Origin = mosaic.ImportOriginAPI
			}
			must(t, s.CreateImport(ctx, imp))
			ids = append(ids, imp.ID)
		}
		_, err := s.UpdateImport(ctx, ids[1], mosaic.ImportUpdate{Status: ptr(mosaic.ImportRunning)})
		must(t, err)
		idsOf := func(imps []*mosaic.Import) []mosaic.ImportID {
			var out []mosaic.ImportID
			for _, i := range imps {
				out = append(out, i.ID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    mosaic.ImportFilter
			want []mosaic.ImportID
		}{
			{"all, newest first", mosaic.ImportFilter{}, []mosaic.ImportID{ids[2], ids[1], ids[0]}},
			{"source", mosaic.ImportFilter{SourceID: &crm.ID}, []mosaic.ImportID{ids[1], ids[0]}},
			{"file and mapping", mosaic.ImportFilter{SourceID: &crm.ID, FileHash: ptr("a"), MappingHash: ptr("m1")}, []mosaic.ImportID{ids[0]}},
			{"other mapping", mosaic.ImportFilter{FileHash: ptr("a"), MappingHash: ptr("m2")}, nil},
			{"status", mosaic.ImportFilter{Status: ptr(mosaic.ImportRunning)}, []mosaic.ImportID{ids[1]}},
			{"origin", mosaic.ImportFilter{Origin: ptr(mosaic.ImportOriginAPI)}, []mosaic.ImportID{ids[2]}},
			{"limit", mosaic.ImportFilter{Limit: 1}, []mosaic.ImportID{ids[2]}},
		} {
			got, err := s.FindImports(ctx, tc.f)
			must(t, err)
			if diff := cmp.Diff(tc.want, idsOf(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, diff)
			}
		}
	})
	t.Run("Update", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "crm")
		imp := newImport(src.ID, "h1")
		must(t, s.CreateImport(ctx, imp))
		time.Sleep(2 * time.Millisecond) // updated_at must move on (stores keep microseconds)
		// A worker claims the queued import; a second claim is refused.
		got, err := s.UpdateImport(ctx, imp.ID, mosaic.ImportUpdate{IfStatus: ptr(mosaic.ImportQueued), Status: ptr(mosaic.ImportRunning)})
		must(t, err)
		if got.Status != mosaic.ImportRunning || !got.UpdatedAt.After(imp.UpdatedAt) || got.FinishedAt != nil {
			t.Fatalf("claimed: %+v", got)
		}
		_, err = s.UpdateImport(ctx, imp.ID, mosaic.ImportUpdate{IfStatus: ptr(mosaic.ImportQueued), Status: ptr(mosaic.ImportRunning)})
		wantCode(t, err, mosaic.ECONFLICT)
		// A checkpoint changes only the fields it sets.
		got, err = s.UpdateImport(ctx, imp.ID, mosaic.ImportUpdate{RowsRead: ptr[int64](5000), RowsImported: ptr[int64](4000),
			RowsBad: ptr[int64](1000), Offset: ptr[int64](1 << 33), Line: ptr[int64](5003), LastSeq: ptr[int64](4000), ReportBytes: ptr[int64](77),
			RowsDuplicate: ptr[int64](12)})
		must(t, err)
		want := *imp
		want.Status, want.RowsRead, want.RowsImported, want.RowsBad, want.RowsDuplicate = mosaic.ImportRunning, 5000, 4000, 1000, 12
		want.Offset, want.Line, want.LastSeq, want.ReportBytes, want.UpdatedAt = 1<<33, 5003, 4000, 77, got.UpdatedAt
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Fatalf("after checkpoint (-want +got):\n%s", diff)
		}
		stored, err := s.FindImportByID(ctx, imp.ID)
		must(t, err)
		if diff := cmp.Diff(got, stored); diff != "" {
			t.Fatalf("stored differs from returned (-returned +stored):\n%s", diff)
		}
		// Finishing sets the finish time; a failure keeps its message; resuming clears the time.
		got, err = s.UpdateImport(ctx, imp.ID, mosaic.ImportUpdate{Status: ptr(mosaic.ImportFailed), Error: ptr("Column \"email\" is not in the header."),
			RowsSkipped: ptr[int64](3), FilePath: ptr(""), ReportPath: ptr("/r.csv")})
		must(t, err)
		if got.FinishedAt == nil || got.Error == "" || got.RowsSkipped != 3 || got.FilePath != "" || got.ReportPath != "/r.csv" {
			t.Fatalf("failed: %+v", got)
		}
		got, err = s.UpdateImport(ctx, imp.ID, mosaic.ImportUpdate{Status: ptr(mosaic.ImportRunning)})
		must(t, err)
		if got.FinishedAt != nil {
			t.Fatalf("running again but finished_at=%v", got.FinishedAt)
		}
		_, err = s.UpdateImport(ctx, imp.ID, mosaic.ImportUpdate{Status: ptr(mosaic.ImportStatus("paused"))})
		wantCode(t, err, mosaic.EINVALID)
	})
	t.Run("Duplicates", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		crm := MustCreateSource(t, s, "crm")
		shop := MustCreateSource(t, s, "shop")
		imp := newImport(crm.ID, "h1")
		must(t, s.CreateImport(ctx, imp))
		// The processor counts an import's rows it dropped as duplicates with the commit; a
		// count for the import under another source (a forged context.import) is not added.
		ts := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
		_, err := s.CommitEvents(ctx, &mosaic.EventCommit{Through: 10, Events: []*mosaic.Event{Event(crm.ID, "m1", "u1", ts)},
			Duplicates: map[mosaic.SourceID]int64{crm.ID: 7, shop.ID: 2},
			ImportDuplicates: map[mosaic.ImportRef]int64{{SourceID: crm.ID, ImportID: imp.ID}: 5, {SourceID: shop.ID, ImportID: imp.ID}: 2,
				{SourceID: crm.ID, ImportID: "imp_gone"}: 2}})
		must(t, err)
		_, err = s.CommitEvents(ctx, &mosaic.EventCommit{From: 10, Through: 11, Duplicates: map[mosaic.SourceID]int64{crm.ID: 1},
			ImportDuplicates: map[mosaic.ImportRef]int64{{SourceID: crm.ID, ImportID: imp.ID}: 1}})
		must(t, err)
		got, err := s.FindImportByID(ctx, imp.ID)
		must(t, err)
		if got.RowsDuplicate != 6 {
			t.Fatalf("rows_duplicate=%d, want 6", got.RowsDuplicate)
		}
		// A checkpoint leaves the count alone.
		got, err = s.UpdateImport(ctx, imp.ID, mosaic.ImportUpdate{RowsImported: ptr[int64](9)})
		must(t, err)
		if got.RowsDuplicate != 6 || got.RowsImported != 9 {
			t.Fatalf("after a checkpoint: rows_duplicate=%d rows_imported=%d", got.RowsDuplicate, got.RowsImported)
		}
		if src, err := s.FindSourceByID(ctx, crm.ID); err != nil || src.Duplicates != 8 {
			t.Fatalf("source duplicates %v %v, want 8", src, err)
		}
	})
	t.Run("ProcessorLocker", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		lk, ok := s.(mosaic.ProcessorLocker)
		if !ok {
			t.Fatalf("%T does not implement mosaic.ProcessorLocker", s)
		}
		release, err := lk.LockProcessor(ctx)
		must(t, err)
		_, err = lk.LockProcessor(ctx)
		wantCode(t, err, mosaic.ECONFLICT)
		must(t, release())
		must(t, release()) // twice is harmless
		again, err := lk.LockProcessor(ctx)
		must(t, err)
		must(t, again())
	})
}

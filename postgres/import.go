package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic"
)

const importColumns = `id, source_id, origin, file_name, file_hash, file_size, mapping_hash, format, status, mapping,
	file_path, report_path, rows_read, rows_imported, rows_bad, rows_skipped, offset_, line, last_seq, report_bytes,
	error, created_at, updated_at, finished_at, rows_duplicate`

func scanImport(row pgx.Row) (*mosaic.Import, error) {
	var imp mosaic.Import
	var finished *time.Time
	if err := row.Scan(&imp.ID, &imp.SourceID, &imp.Origin, &imp.FileName, &imp.FileHash, &imp.FileSize, &imp.MappingHash,
		&imp.Format, &imp.Status, &imp.Mapping, &imp.FilePath, &imp.ReportPath, &imp.RowsRead, &imp.RowsImported,
		&imp.RowsBad, &imp.RowsSkipped, &imp.Offset, &imp.Line, &imp.LastSeq, &imp.ReportBytes, &imp.Error,
		&imp.CreatedAt, &imp.UpdatedAt, &finished, &imp.RowsDuplicate); err != nil {
		return nil, err
	}
	imp.CreatedAt, imp.UpdatedAt = imp.CreatedAt.UTC(), imp.UpdatedAt.UTC()
	if finished != nil {
		t := finished.UTC()
		imp.FinishedAt = &t
	}
	if imp.Mapping == nil {
		imp.Mapping = []byte{}
	}
	return &imp, nil
}

// CreateImport implements mosaic.ImportService.
func (db *DB) CreateImport(ctx context.Context, imp *mosaic.Import) error {
	if err := imp.Validate(); err != nil {
		return err
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM sources WHERE id = $1`, imp.SourceID).Scan(&n); err != nil {
			return storeErr(err)
		}
		if n == 0 {
			return mosaic.FieldErrorf(mosaic.ENOTFOUND, "source_id", "Source not found.")
		}
		now := db.now()
		id := imp.ID
		if id == "" {
			id = mosaic.NewImportID()
		}
		var finished *time.Time
		if imp.Status == mosaic.ImportDone || imp.Status == mosaic.ImportFailed {
			finished = &now
		}
		mapping := imp.Mapping
		if mapping == nil {
			mapping = []byte{}
		}
		_, err := tx.Exec(ctx, `INSERT INTO imports (`+importColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)`,
			id, imp.SourceID, imp.Origin, imp.FileName, imp.FileHash, imp.FileSize, imp.MappingHash, imp.Format, imp.Status,
			mapping, imp.FilePath, imp.ReportPath, imp.RowsRead, imp.RowsImported, imp.RowsBad, imp.RowsSkipped,
			imp.Offset, imp.Line, imp.LastSeq, imp.ReportBytes, imp.Error, now, now, finished, imp.RowsDuplicate)
		if mosaic.ErrorCode(storeErr(err)) == mosaic.ECONFLICT {
			return mosaic.Errorf(mosaic.ECONFLICT, "This file was already imported into this source with this mapping.")
		} else if err != nil {
			return storeErr(err)
		}
		imp.ID, imp.CreatedAt, imp.UpdatedAt, imp.FinishedAt = id, now, now, finished
		return nil
	})
}

// FindImportByID implements mosaic.ImportService.
func (db *DB) FindImportByID(ctx context.Context, id mosaic.ImportID) (*mosaic.Import, error) {
	imp, err := scanImport(db.pool.QueryRow(ctx, `SELECT `+importColumns+` FROM imports WHERE id = $1`, id))
	if mosaic.ErrorCode(storeErr(err)) == mosaic.ENOTFOUND {
		return nil, mosaic.Errorf(mosaic.ENOTFOUND, "Import not found.")
	}
	return imp, storeErr(err)
}

// FindImports implements mosaic.ImportService.
func (db *DB) FindImports(ctx context.Context, f mosaic.ImportFilter) ([]*mosaic.Import, error) {
	where, args := []string{"true"}, []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+" = $"+strconv.Itoa(len(args)))
	}
	if f.SourceID != nil {
		add("source_id", *f.SourceID)
	}
	if f.FileHash != nil {
		add("file_hash", *f.FileHash)
	}
	if f.MappingHash != nil {
		add("mapping_hash", *f.MappingHash)
	}
	if f.Status != nil {
		add("status", *f.Status)
	}
	if f.Origin != nil {
		add("origin", *f.Origin)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.pool.Query(ctx, `SELECT `+importColumns+` FROM imports WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id DESC LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*mosaic.Import, error) { return scanImport(row) })
	return out, storeErr(err)
}

// UpdateImport implements mosaic.ImportService.
func (db *DB) UpdateImport(ctx context.Context, id mosaic.ImportID, upd mosaic.ImportUpdate) (*mosaic.Import, error) {
	if upd.Status != nil && !upd.Status.Valid() {
		return nil, mosaic.FieldErrorf(mosaic.EINVALID, "status", "Unknown import status %q.", *upd.Status)
	}
	var out *mosaic.Import
	err := db.tx(ctx, func(tx pgx.Tx) error {
		imp, err := scanImport(tx.QueryRow(ctx, `SELECT `+importColumns+` FROM imports WHERE id = $1 FOR UPDATE`, id))
		if mosaic.ErrorCode(storeErr(err)) == mosaic.ENOTFOUND {
			return mosaic.Errorf(mosaic.ENOTFOUND, "Import not found.")
		} else if err != nil {
			return storeErr(err)
		}
		if upd.IfStatus != nil && imp.Status != *upd.IfStatus {
			return mosaic.Errorf(mosaic.ECONFLICT, "Import %s is %s, not %s.", id, imp.Status, *upd.IfStatus)
		}
		mosaic.ApplyImportUpdate(imp, upd, db.now())
		_, err = tx.Exec(ctx, `UPDATE imports SET status = $1, rows_read = $2, rows_imported = $3, rows_bad = $4,
			rows_skipped = $5, offset_ = $6, line = $7, last_seq = $8, report_bytes = $9, error = $10, file_path = $11,
			report_path = $12, updated_at = $13, finished_at = $14, rows_duplicate = $16 WHERE id = $15`,
			imp.Status, imp.RowsRead, imp.RowsImported, imp.RowsBad, imp.RowsSkipped, imp.Offset, imp.Line, imp.LastSeq,
			imp.ReportBytes, imp.Error, imp.FilePath, imp.ReportPath, imp.UpdatedAt, imp.FinishedAt, id, imp.RowsDuplicate)
		if err != nil {
			return storeErr(err)
		}
		out = imp
		return nil
	})
	return out, err
}

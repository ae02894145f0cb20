package sqlite

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

const importColumns = `id, source_id, origin, file_name, file_hash, file_size, mapping_hash, format, status, mapping,
	file_path, report_path, rows_read, rows_imported, rows_bad, rows_skipped, offset_, line, last_seq, report_bytes,
	error, created_at, updated_at, finished_at, rows_duplicate`

func scanImport(row interface{ Scan(...any) error }) (*mosaic.Import, error) {
	var imp mosaic.Import
	var created, updated int64
	var finished sql.NullInt64
	if err := row.Scan(&imp.ID, &imp.SourceID, &imp.Origin, &imp.FileName, &imp.FileHash, &imp.FileSize, &imp.MappingHash,
		&imp.Format, &imp.Status, &imp.Mapping, &imp.FilePath, &imp.ReportPath, &imp.RowsRead, &imp.RowsImported,
		&imp.RowsBad, &imp.RowsSkipped, &imp.Offset, &imp.Line, &imp.LastSeq, &imp.ReportBytes, &imp.Error,
		&created, &updated, &finished, &imp.RowsDuplicate); err != nil {
		return nil, err
	}
	imp.CreatedAt, imp.UpdatedAt = fromMicros(created), fromMicros(updated)
	if finished.Valid {
		t := fromMicros(finished.Int64)
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
	return db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sources WHERE id = ?`, imp.SourceID).Scan(&n); err != nil {
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
		var finished any
		if imp.Status == mosaic.ImportDone || imp.Status == mosaic.ImportFailed {
			finished = micros(now)
		}
		mapping := imp.Mapping
		if mapping == nil {
			mapping = []byte{}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO imports (`+importColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, imp.SourceID, imp.Origin, imp.FileName, imp.FileHash, imp.FileSize, imp.MappingHash, imp.Format, imp.Status,
			mapping, imp.FilePath, imp.ReportPath, imp.RowsRead, imp.RowsImported, imp.RowsBad, imp.RowsSkipped,
			imp.Offset, imp.Line, imp.LastSeq, imp.ReportBytes, imp.Error, micros(now), micros(now), finished, imp.RowsDuplicate)
		if mosaic.ErrorCode(storeErr(err)) == mosaic.ECONFLICT {
			return mosaic.Errorf(mosaic.ECONFLICT, "This file was already imported into this source with this mapping.")
		} else if err != nil {
			return storeErr(err)
		}
		imp.ID, imp.CreatedAt, imp.UpdatedAt = id, now, now
		if finished != nil {
			imp.FinishedAt = &now
		}
		return nil
	})
}

// FindImportByID implements mosaic.ImportService.
func (db *DB) FindImportByID(ctx context.Context, id mosaic.ImportID) (*mosaic.Import, error) {
	imp, err := scanImport(db.read.QueryRowContext(ctx, `SELECT `+importColumns+` FROM imports WHERE id = ?`, id))
	if mosaic.ErrorCode(storeErr(err)) == mosaic.ENOTFOUND {
		return nil, mosaic.Errorf(mosaic.ENOTFOUND, "Import not found.")
	}
	return imp, storeErr(err)
}

// FindImports implements mosaic.ImportService.
func (db *DB) FindImports(ctx context.Context, f mosaic.ImportFilter) ([]*mosaic.Import, error) {
	where, args := []string{"1 = 1"}, []any{}
	if f.SourceID != nil {
		where, args = append(where, "source_id = ?"), append(args, *f.SourceID)
	}
	if f.FileHash != nil {
		where, args = append(where, "file_hash = ?"), append(args, *f.FileHash)
	}
	if f.MappingHash != nil {
		where, args = append(where, "mapping_hash = ?"), append(args, *f.MappingHash)
	}
	if f.Status != nil {
		where, args = append(where, "status = ?"), append(args, *f.Status)
	}
	if f.Origin != nil {
		where, args = append(where, "origin = ?"), append(args, *f.Origin)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+importColumns+` FROM imports WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id DESC LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	var out []*mosaic.Import
	for rows.Next() {
		imp, err := scanImport(rows)
		if err != nil {
			return nil, storeErr(err)
		}
		out = append(out, imp)
	}
	return out, storeErr(rows.Err())
}

// UpdateImport implements mosaic.ImportService.
func (db *DB) UpdateImport(ctx context.Context, id mosaic.ImportID, upd mosaic.ImportUpdate) (*mosaic.Import, error) {
	if upd.Status != nil && !upd.Status.Valid() {
		return nil, mosaic.FieldErrorf(mosaic.EINVALID, "status", "Unknown import status %q.", *upd.Status)
	}
	var out *mosaic.Import
	err := db.tx(ctx, func(tx *sql.Tx) error {
		imp, err := scanImport(tx.QueryRowContext(ctx, `SELECT `+importColumns+` FROM imports WHERE id = ?`, id))
		if mosaic.ErrorCode(storeErr(err)) == mosaic.ENOTFOUND {
			return mosaic.Errorf(mosaic.ENOTFOUND, "Import not found.")
		} else if err != nil {
			return storeErr(err)
		}
		if upd.IfStatus != nil && imp.Status != *upd.IfStatus {
			return mosaic.Errorf(mosaic.ECONFLICT, "Import %s is %s, not %s.", id, imp.Status, *upd.IfStatus)
		}
		now := db.now()
		mosaic.ApplyImportUpdate(imp, upd, now)
		var finished any
		if imp.FinishedAt != nil {
			finished = micros(*imp.FinishedAt)
		}
		_, err = tx.ExecContext(ctx, `UPDATE imports SET status = ?, rows_read = ?, rows_imported = ?, rows_bad = ?,
			rows_skipped = ?, rows_duplicate = ?, offset_ = ?, line = ?, last_seq = ?, report_bytes = ?, error = ?, file_path = ?, report_path = ?,
			updated_at = ?, finished_at = ? WHERE id = ?`,
			imp.Status, imp.RowsRead, imp.RowsImported, imp.RowsBad, imp.RowsSkipped, imp.RowsDuplicate, imp.Offset, imp.Line, imp.LastSeq,
			imp.ReportBytes, imp.Error, imp.FilePath, imp.ReportPath, micros(imp.UpdatedAt), finished, id)
		if err != nil {
			return storeErr(err)
		}
		out = imp
		return nil
	})
	return out, err
}

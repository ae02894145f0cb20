package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

const sourceColumns = `id, name, write_key, disabled, allowed_origins, events, duplicates, created_at, updated_at`

func scanSource(row interface{ Scan(...any) error }) (*mosaic.Source, error) {
	var s mosaic.Source
	var origins string
	var created, updated int64
	if err := row.Scan(&s.ID, &s.Name, &s.WriteKey, &s.Disabled, &origins, &s.Events, &s.Duplicates, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(origins), &s.AllowedOrigins); err != nil {
		return nil, err
	}
	s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &s, nil
}

func originsJSON(o []string) string {
	if o == nil {
		o = []string{}
	}
	b, _ := json.Marshal(o)
	return string(b)
}

// CreateSource implements mosaic.SourceService.
func (db *DB) CreateSource(ctx context.Context, s *mosaic.Source) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		id, key := mosaic.NewSourceID(), mosaic.NewWriteKey()
		if s.AllowedOrigins == nil {
			s.AllowedOrigins = []string{}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sources (id, name, write_key, disabled, allowed_origins, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id, s.Name, key, s.Disabled, originsJSON(s.AllowedOrigins), micros(now), micros(now))
		if mosaic.ErrorCode(storeErr(err)) == mosaic.ECONFLICT {
			return mosaic.FieldErrorf(mosaic.ECONFLICT, "name", "A source named %q already exists.", s.Name)
		} else if err != nil {
			return storeErr(err)
		}
		s.ID, s.WriteKey, s.CreatedAt, s.UpdatedAt = id, key, now, now
		return nil
	})
}

// FindSourceByID implements mosaic.SourceService.
func (db *DB) FindSourceByID(ctx context.Context, id mosaic.SourceID) (*mosaic.Source, error) {
	return db.findOneSource(ctx, mosaic.SourceFilter{ID: &id})
}

// FindSourceByWriteKey implements mosaic.SourceService.
func (db *DB) FindSourceByWriteKey(ctx context.Context, key mosaic.WriteKey) (*mosaic.Source, error) {
	return db.findOneSource(ctx, mosaic.SourceFilter{WriteKey: &key})
}

func (db *DB) findOneSource(ctx context.Context, f mosaic.SourceFilter) (*mosaic.Source, error) {
	ss, err := findSources(ctx, db.read, f)
	if err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return nil, mosaic.Errorf(mosaic.ENOTFOUND, "Source not found.")
	}
	return ss[0], nil
}

// FindSources implements mosaic.SourceService.
func (db *DB) FindSources(ctx context.Context, f mosaic.SourceFilter) ([]*mosaic.Source, error) {
	return findSources(ctx, db.read, f)
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func findSources(ctx context.Context, q querier, f mosaic.SourceFilter) ([]*mosaic.Source, error) {
	where, args := []string{"1 = 1"}, []any{}
	if f.ID != nil {
		where, args = append(where, "id = ?"), append(args, *f.ID)
	}
	if f.Name != nil {
		where, args = append(where, "name = ?"), append(args, *f.Name)
	}
	if f.WriteKey != nil {
		where, args = append(where, "write_key = ?"), append(args, *f.WriteKey)
	}
	rows, err := q.QueryContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE `+strings.Join(where, " AND ")+` ORDER BY name`, args...)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	var out []*mosaic.Source
	for rows.Next() {
		s, err := scanSource(rows)
		if err != nil {
			return nil, storeErr(err)
		}
		out = append(out, s)
	}
	return out, storeErr(rows.Err())
}

// UpdateSource implements mosaic.SourceService.
func (db *DB) UpdateSource(ctx context.Context, id mosaic.SourceID, upd mosaic.SourceUpdate) (*mosaic.Source, error) {
	var out *mosaic.Source
	err := db.tx(ctx, func(tx *sql.Tx) error {
		ss, err := findSources(ctx, tx, mosaic.SourceFilter{ID: &id})
		if err != nil {
			return err
		}
		if len(ss) == 0 {
			return mosaic.Errorf(mosaic.ENOTFOUND, "Source not found.")
		}
		s := ss[0]
		if upd.Name != nil {
			s.Name = *upd.Name
		}
		if upd.Disabled != nil {
			s.Disabled = *upd.Disabled
		}
		if upd.AllowedOrigins != nil {
			s.AllowedOrigins = *upd.AllowedOrigins
		}
		if err := s.Validate(); err != nil {
			return err
		}
		s.UpdatedAt = db.now()
		_, err = tx.ExecContext(ctx, `UPDATE sources SET name = ?, disabled = ?, allowed_origins = ?, updated_at = ? WHERE id = ?`,
			s.Name, s.Disabled, originsJSON(s.AllowedOrigins), micros(s.UpdatedAt), id)
		if mosaic.ErrorCode(storeErr(err)) == mosaic.ECONFLICT {
			return mosaic.FieldErrorf(mosaic.ECONFLICT, "name", "A source named %q already exists.", s.Name)
		} else if err != nil {
			return storeErr(err)
		}
		out = s
		return nil
	})
	return out, err
}

// RotateWriteKey implements mosaic.SourceService.
func (db *DB) RotateWriteKey(ctx context.Context, id mosaic.SourceID) (*mosaic.Source, error) {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sources SET write_key = ?, updated_at = ? WHERE id = ?`,
			mosaic.NewWriteKey(), micros(db.now()), id)
		if err != nil {
			return storeErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mosaic.Errorf(mosaic.ENOTFOUND, "Source not found.")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.FindSourceByID(ctx, id)
}

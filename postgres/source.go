package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic"
)

const sourceColumns = `id, name, write_key, disabled, allowed_origins, events, duplicates, created_at, updated_at`

func scanSource(row pgx.Row) (*mosaic.Source, error) {
	var s mosaic.Source
	var created, updated time.Time
	if err := row.Scan(&s.ID, &s.Name, &s.WriteKey, &s.Disabled, &s.AllowedOrigins, &s.Events, &s.Duplicates, &created, &updated); err != nil {
		return nil, err
	}
	if s.AllowedOrigins == nil {
		s.AllowedOrigins = []string{}
	}
	s.CreatedAt, s.UpdatedAt = created.UTC(), updated.UTC()
	return &s, nil
}

// origins is o as a text[] argument: never NULL.
func origins(o []string) []string {
	if o == nil {
		return []string{}
	}
	return o
}

// CreateSource implements mosaic.SourceService.
func (db *DB) CreateSource(ctx context.Context, s *mosaic.Source) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		now := db.now()
		id, key := mosaic.NewSourceID(), mosaic.NewWriteKey()
		if s.AllowedOrigins == nil {
			s.AllowedOrigins = []string{}
		}
		_, err := tx.Exec(ctx, `INSERT INTO sources (id, name, write_key, disabled, allowed_origins, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, s.Name, key, s.Disabled, s.AllowedOrigins, now, now)
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
	ss, err := findSources(ctx, db.pool, f)
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
	return findSources(ctx, db.pool, f)
}

// querier is what the pool and a transaction share.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func findSources(ctx context.Context, q querier, f mosaic.SourceFilter) ([]*mosaic.Source, error) {
	where, args := []string{"TRUE"}, []any{}
	add := func(col string, v any) {
		args = append(args, v)
		where = append(where, col+" = $"+strconv.Itoa(len(args)))
	}
	if f.ID != nil {
		add("id", *f.ID)
	}
	if f.Name != nil {
		add("name", *f.Name)
	}
	if f.WriteKey != nil {
		add("write_key", *f.WriteKey)
	}
	rows, err := q.Query(ctx, `SELECT `+sourceColumns+` FROM sources WHERE `+strings.Join(where, " AND ")+` ORDER BY name COLLATE "C"`, args...)
	if err != nil {
		return nil, storeErr(err)
	}
	// AppendRows onto nil gives nil for no rows, as the sqlite store does.
	ss, err := pgx.AppendRows([]*mosaic.Source(nil), rows, func(row pgx.CollectableRow) (*mosaic.Source, error) { return scanSource(row) })
	return ss, storeErr(err)
}

// UpdateSource implements mosaic.SourceService.
func (db *DB) UpdateSource(ctx context.Context, id mosaic.SourceID, upd mosaic.SourceUpdate) (*mosaic.Source, error) {
	var out *mosaic.Source
	err := db.tx(ctx, func(tx pgx.Tx) error {
		s, err := scanSource(tx.QueryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return mosaic.Errorf(mosaic.ENOTFOUND, "Source not found.")
		} else if err != nil {
			return storeErr(err)
		}
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
		_, err = tx.Exec(ctx, `UPDATE sources SET name = $1, disabled = $2, allowed_origins = $3, updated_at = $4 WHERE id = $5`,
			s.Name, s.Disabled, origins(s.AllowedOrigins), s.UpdatedAt, id)
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
	s, err := scanSource(db.pool.QueryRow(ctx, `UPDATE sources SET write_key = $1, updated_at = $2 WHERE id = $3
		RETURNING `+sourceColumns, mosaic.NewWriteKey(), db.now(), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mosaic.Errorf(mosaic.ENOTFOUND, "Source not found.")
	} else if err != nil {
		return nil, storeErr(err)
	}
	return s, nil
}

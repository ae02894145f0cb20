package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic"
)

// CreateToken implements mosaic.TokenService.
func (db *DB) CreateToken(ctx context.Context, t *mosaic.Token) (string, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	secret := mosaic.NewTokenSecret()
	id, now := "tok_"+mosaic.RandomString(10), db.now()
	_, err := db.pool.Exec(ctx, `INSERT INTO tokens (id, name, role, digest, created_at) VALUES ($1, $2, $3, $4, $5)`,
		id, t.Name, t.Role, mosaic.TokenDigest(secret), now)
	if err != nil {
		return "", storeErr(err)
	}
	t.ID, t.CreatedAt = id, now
	return secret, nil
}

// FindTokenBySecret implements mosaic.TokenService.
func (db *DB) FindTokenBySecret(ctx context.Context, secret string) (*mosaic.Token, error) {
	var t mosaic.Token
	var created time.Time
	err := db.pool.QueryRow(ctx, `SELECT id, name, role, created_at FROM tokens WHERE digest = $1`,
		mosaic.TokenDigest(secret)).Scan(&t.ID, &t.Name, &t.Role, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mosaic.Errorf(mosaic.EUNAUTHORIZED, "Unknown or revoked API token: ask an owner for a token (mosaic token create).")
	} else if err != nil {
		return nil, storeErr(err)
	}
	t.CreatedAt = created.UTC()
	return &t, nil
}

// CountTokens implements mosaic.TokenService.
func (db *DB) CountTokens(ctx context.Context) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM tokens`).Scan(&n)
	return n, storeErr(err)
}

// FindTokens implements mosaic.TokenService.
func (db *DB) FindTokens(ctx context.Context) ([]*mosaic.Token, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, name, role, created_at FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	out := []*mosaic.Token{}
	for rows.Next() {
		var t mosaic.Token
		var created time.Time
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &created); err != nil {
			return nil, storeErr(err)
		}
		t.CreatedAt = created.UTC()
		out = append(out, &t)
	}
	return out, storeErr(rows.Err())
}

// RevokeToken implements mosaic.TokenService.
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return storeErr(err)
	}
	defer tx.Rollback(ctx)
	// The owner tokens are locked so two revocations cannot each leave the other as the last.
	var role mosaic.Role
	err = tx.QueryRow(ctx, `SELECT role FROM tokens WHERE id = $1 FOR UPDATE`, id).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return mosaic.Errorf(mosaic.ENOTFOUND, "No API token %q.", id)
	} else if err != nil {
		return storeErr(err)
	}
	if role == mosaic.RoleOwner {
		rows, err := tx.Query(ctx, `SELECT id FROM tokens WHERE role = $1 FOR UPDATE`, mosaic.RoleOwner)
		if err != nil {
			return storeErr(err)
		}
		owners := 0
		for rows.Next() {
			owners++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return storeErr(err)
		}
		if owners <= 1 {
			return mosaic.Errorf(mosaic.ECONFLICT, "%s is the last owner token: create another owner token first (mosaic token create --role owner).", id)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM tokens WHERE id = $1`, id); err != nil {
		return storeErr(err)
	}
	return storeErr(tx.Commit(ctx))
}

// Setting implements mosaic.SettingService.
func (db *DB) Setting(ctx context.Context, key string) (string, bool, error) {
	var v []byte
	err := db.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return string(v), err == nil, storeErr(err)
}

// PutSetting implements mosaic.SettingService.
func (db *DB) PutSetting(ctx context.Context, key, value string) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, []byte(value))
	return storeErr(err)
}

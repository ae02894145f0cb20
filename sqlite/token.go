package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/mosaic-cdp/mosaic"
)

// CreateToken implements mosaic.TokenService.
func (db *DB) CreateToken(ctx context.Context, t *mosaic.Token) (string, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	secret := mosaic.NewTokenSecret()
	err := db.tx(ctx, func(tx *sql.Tx) error {
		t.ID, t.CreatedAt = "tok_"+mosaic.RandomString(10), db.now()
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, name, role, digest, created_at) VALUES (?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.Role, mosaic.TokenDigest(secret), micros(t.CreatedAt))
		return storeErr(err)
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// FindTokenBySecret implements mosaic.TokenService.
func (db *DB) FindTokenBySecret(ctx context.Context, secret string) (*mosaic.Token, error) {
	var t mosaic.Token
	var created int64
	err := db.read.QueryRowContext(ctx, `SELECT id, name, role, created_at FROM tokens WHERE digest = ?`,
		mosaic.TokenDigest(secret)).Scan(&t.ID, &t.Name, &t.Role, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mosaic.Errorf(mosaic.EUNAUTHORIZED, "Unknown or revoked API token: ask an owner for a token (mosaic token create).")
	} else if err != nil {
		return nil, storeErr(err)
	}
	t.CreatedAt = fromMicros(created)
	return &t, nil
}

// CountTokens implements mosaic.TokenService.
func (db *DB) CountTokens(ctx context.Context) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens`).Scan(&n)
	return n, storeErr(err)
}

// FindTokens implements mosaic.TokenService.
func (db *DB) FindTokens(ctx context.Context) ([]*mosaic.Token, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, name, role, created_at FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	out := []*mosaic.Token{}
	for rows.Next() {
		var t mosaic.Token
		var created int64
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &created); err != nil {
			return nil, storeErr(err)
		}
		t.CreatedAt = fromMicros(created)
		out = append(out, &t)
	}
	return out, storeErr(rows.Err())
}

// RevokeToken implements mosaic.TokenService.
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var role mosaic.Role
		err := tx.QueryRowContext(ctx, `SELECT role FROM tokens WHERE id = ?`, id).Scan(&role)
		if errors.Is(err, sql.ErrNoRows) {
			return mosaic.Errorf(mosaic.ENOTFOUND, "No API token %q.", id)
		} else if err != nil {
			return storeErr(err)
		}
		if role == mosaic.RoleOwner {
			var owners int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens WHERE role = ?`, mosaic.RoleOwner).Scan(&owners); err != nil {
				return storeErr(err)
			}
			if owners <= 1 {
				return mosaic.Errorf(mosaic.ECONFLICT, "%s is the last owner token: create another owner token first (mosaic token create --role owner).", id)
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM tokens WHERE id = ?`, id)
		return storeErr(err)
	})
}

// Setting implements mosaic.SettingService.
func (db *DB) Setting(ctx context.Context, key string) (string, bool, error) {
	var v []byte
	err := db.read.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return string(v), err == nil, storeErr(err)
}

// PutSetting implements mosaic.SettingService.
func (db *DB) PutSetting(ctx context.Context, key, value string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, []byte(value))
		return storeErr(err)
	})
}

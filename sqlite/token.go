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
		return nil, mosaic.Errorf(mosaic.EUNAUTHORIZED, "Unknown API token.")
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

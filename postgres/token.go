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
		return nil, mosaic.Errorf(mosaic.EUNAUTHORIZED, "Unknown API token.")
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

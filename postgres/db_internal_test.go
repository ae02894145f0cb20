package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mosaic-cdp/mosaic"
)

func TestPing_ErrUnavailable(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	db := &DB{pool: pool}
	defer db.Close()
	if got, want := mosaic.ErrorCode(db.Ping(context.Background())), mosaic.EUNAVAILABLE; got != want {
		t.Fatalf("Ping code=%q, want %q", got, want)
	}
}

func TestOpen_ErrUnavailable(t *testing.T) {
	db := NewDB("postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if got, want := mosaic.ErrorCode(db.Open()), mosaic.EUNAVAILABLE; got != want {
		t.Fatalf("Open code=%q, want %q", got, want)
	}
}

func TestStoreErr(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"no rows", pgx.ErrNoRows, mosaic.ENOTFOUND},
		{"unique", &pgconn.PgError{Code: "23505"}, mosaic.ECONFLICT},
		{"too many connections", &pgconn.PgError{Code: "53300"}, mosaic.EUNAVAILABLE},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, mosaic.EUNAVAILABLE},
		{"read only", &pgconn.PgError{Code: "25006"}, mosaic.EUNAVAILABLE},
		{"NUL in text", &pgconn.PgError{Code: "22021"}, mosaic.EINVALID},
		{"syntax", &pgconn.PgError{Code: "42601"}, mosaic.EINTERNAL},
		{"canceled", context.Canceled, mosaic.EINTERNAL},
	} {
		if got := mosaic.ErrorCode(storeErr(tc.err)); got != tc.code {
			t.Errorf("%s: code=%q, want %q", tc.name, got, tc.code)
		}
	}
}

// Package pgtest gives tests a PostgreSQL store of their own: a fresh schema per test,
// dropped when the test ends.
//
// The server is MOSAIC_TEST_POSTGRES, or DefaultDSN. When it cannot be reached, tests are
// skipped with a message naming the DSN — unless the CI environment variable is set, when
// they fail, so a CI job without its database never passes by skipping everything. Pointing
// MOSAIC_TEST_POSTGRES at a database created with a language collation (for example
// LOCALE_PROVIDER icu ICU_LOCALE 'en-US') checks that results do not depend on it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic/postgres"
)

// DefaultDSN is the test server used when MOSAIC_TEST_POSTGRES is not set.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Open returns an opened store in a fresh schema; it is closed and the schema dropped when
// the test ends.
func Open(tb testing.TB) *postgres.DB {
	tb.Helper()
	dsn, schema := DSN(tb)
	db := postgres.NewDB(dsn)
	db.Schema = schema
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// DSN returns the test server's connection string and the name of a new schema, unique to
// this test, that is dropped (with everything in it) when the test ends. It does not create
// the schema: postgres.DB.Open does. It skips or fails tb if the server is unreachable.
func DSN(tb testing.TB) (dsn, schema string) {
	tb.Helper()
	dsn = os.Getenv("MOSAIC_TEST_POSTGRES")
	if dsn == "" {
		dsn = DefaultDSN
	}
	if err := probe(dsn); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("PostgreSQL at %s is unreachable and CI is set: %v", redact(dsn), err)
		}
		tb.Skipf("PostgreSQL at %s is unreachable (set MOSAIC_TEST_POSTGRES to test against another server): %v", redact(dsn), err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema = "mosaic_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	return dsn, schema
}

// probes remembers, per DSN, whether the server answered, so only the first test waits for
// an unreachable one.
var probes sync.Map // DSN → func() error

func probe(dsn string) error {
	f, _ := probes.LoadOrStore(dsn, sync.OnceValue(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		return conn.Ping(ctx)
	}))
	return f.(func() error)()
}

// redact hides a password in a URL-form DSN.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}

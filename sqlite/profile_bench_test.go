package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
)

// BenchmarkProfileLookup measures looking up a profile by an identifier (HMAC key → identifier
// → profile with its identifiers) in a store holding MOSAIC_BENCH_PROFILES profiles (default
// 100k; the target is p99 < 5 ms at 1M), each with a user id, an anonymous id and an
// email. It reports p50/p99 latency.
func BenchmarkProfileLookup(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("MOSAIC_BENCH_PROFILES")); err == nil && v > 0 {
		n = v
	}
	db := MustOpenDB(b)
	ctx := context.Background()
	secret, err := db.IdentitySecret(ctx)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	key := func(t mosaic.IdentifierType, v string) mosaic.IdentifierKey {
		return identity.Key(secret, mosaic.Identifier{Type: t, Value: v})
	}
	const chunk = 5000
	for start, seq := 0, int64(0); start < n; start += chunk {
		ch := &mosaic.IdentityChanges{}
		for i := start; i < min(start+chunk, n); i++ {
			pid := mosaic.ProfileID(fmt.Sprintf("prof_%09d", i))
			ch.Profiles = append(ch.Profiles, &mosaic.ProfileState{ID: pid, CreatedAt: now, UpdatedAt: now})
			for _, id := range []mosaic.Identifier{{Type: "user_id", Value: fmt.Sprint("user-", i)}, {Type: "anonymous_id", Value: fmt.Sprint("anon-", i)},
				{Type: "email", Value: fmt.Sprintf("customer.%d@example.com", i)}} {
				ch.Identifiers = append(ch.Identifiers, &mosaic.IdentifierRecord{Key: identity.Key(secret, id), Identifier: id, ProfileID: pid, FirstSeen: now})
			}
		}
		if _, err := db.CommitEvents(ctx, &mosaic.EventCommit{From: seq, Through: seq, Identity: ch}); err != nil {
			b.Fatal(err)
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	i := 0
	for b.Loop() {
		u := (i * 7919) % n
		i++
		t0 := time.Now()
		p, err := db.FindProfileByIdentifier(ctx, key("email", fmt.Sprintf("customer.%d@example.com", u)))
		lat = append(lat, time.Since(t0))
		if err != nil || len(p.Identifiers) != 3 {
			b.Fatalf("lookup %d: %v", u, err)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(n), "profiles")
}

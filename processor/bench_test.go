package processor_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/postgres/pgtest"
	"github.com/mosaic-cdp/mosaic/processor"
	"github.com/mosaic-cdp/mosaic/sqlite"
	"github.com/mosaic-cdp/mosaic/traits"
)

// segloadEvents makes n events shaped like shared/tools/segload's (10 % identify with email
// and phone, 20 % page, 70 % track) over a population of users customers.
func segloadEvents(src mosaic.SourceID, n, users int, seed uint64) []*mosaic.InboxRecord {
	rng := rand.New(rand.NewPCG(seed, 3))
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).Add(time.Duration(seed) * time.Hour) // later rounds happen later
	recs := make([]*mosaic.InboxRecord, n)
	ctx := `"context":{"library":{"name":"segload","version":"1.0"},"ip":"10.1.2.3","locale":"en-US"}`
	for i := range recs {
		u := rng.IntN(users)
		anon := fmt.Sprintf("anon-%08x", u*2654435761%4294967296)
		ts := now.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
		var body string
		switch r := rng.IntN(10); {
		case r == 0:
			body = fmt.Sprintf(`{"type":"identify","anonymousId":%q,"userId":"user-%d","traits":{"email":"Customer.%d@Example.com","phone":"+45 20 %02d %02d %02d","first_name":"Ada","plan":"pro"},%s,"timestamp":%q}`,
				anon, u, u, u%100, (u/100)%100, (u/10000)%100, ctx, ts)
		case r <= 2:
			body = fmt.Sprintf(`{"type":"page","anonymousId":%q,"name":"Page","properties":{"path":"/pricing"},%s,"timestamp":%q}`, anon, ctx, ts)
		default:
			body = fmt.Sprintf(`{"type":"track","anonymousId":%q,"userId":"user-%d","event":"Product Viewed","properties":{"product_id":"sku-%d","price":12.5},%s,"timestamp":%q}`,
				anon, u, rng.IntN(5000), ctx, ts)
		}
		recs[i] = &mosaic.InboxRecord{SourceID: src, MessageID: fmt.Sprintf("m-%d-%d", seed, i), ReceivedAt: now, Payload: []byte(body)}
	}
	return recs
}

// crmEvents makes n identify calls like a CRM export's rows, one new customer each: a
// customer number as userId, email, phone and six traits.
func crmEvents(src mosaic.SourceID, n int, seed uint64) []*mosaic.InboxRecord {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	recs := make([]*mosaic.InboxRecord, n)
	cities := []string{"Copenhagen", "Aarhus", "Odense", "Aalborg", "Esbjerg"}
	for i := range recs {
		u := int(seed)*n + i
		body := fmt.Sprintf(`{"type":"identify","userId":"C%07d","traits":{"email":"customer.%d@example.com","phone":"+45 %08d","first_name":"Ada%d","last_name":"Lovelace%d","city":%q,"postcode":"%04d","birthday":"19%02d-%02d-%02d","plan":"gold"},"timestamp":"2024-01-01T00:00:00Z"}`,
			u, u, 20000000+u, u%997, u%1999, cities[u%5], 1000+u%8999, 40+u%60, 1+u%12, 1+u%28)
		recs[i] = &mosaic.InboxRecord{SourceID: src, MessageID: fmt.Sprintf("crm-%d-%d", seed, i), ReceivedAt: now, Payload: []byte(body)}
	}
	return recs
}

// cpuTime is the CPU time the process has used (user and system), which other load on the
// machine disturbs less than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bytesWritten is what this process has written through write calls so far (wchar of
// /proc/self/io: the stores' WAL, checkpoints and files), or -1 where it cannot be read.
func bytesWritten() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}

// benchStore is what the pipeline benchmark needs of a store.
type benchStore interface {
	processor.Store
	mosaic.IdentityService
	mosaic.SourceService
}

// BenchmarkPipeline measures events/s from the inbox to stored events resolved into
// profiles, on both stores, with events shaped like segload's: over its default
// population of 100k customers (most events in a round show a customer for the first time)
// and over 5k customers (after the first round every customer is known: the steady state).
func BenchmarkPipeline(b *testing.B) {
	for _, tc := range []struct {
		store    string
		identity bool
		users    int // 0: CRM rows (crmEvents), else segload's mix over this many customers
	}{{"sqlite", false, 100000}, {"sqlite", true, 100000}, {"sqlite", true, 5000}, {"sqlite", true, 0},
		{"postgres", true, 100000}, {"postgres", true, 5000}, {"postgres", true, 0}} {
		withIdentity, users := tc.identity, tc.users
		name := fmt.Sprintf("store=%s/identity=%v/users=%d", tc.store, withIdentity, users)
		if users == 0 {
			name = fmt.Sprintf("store=%s/identity=%v/crm", tc.store, withIdentity)
		}
		b.Run(name, func(b *testing.B) {
			var db benchStore
			if tc.store == "postgres" {
				db = pgtest.Open(b)
			} else {
				sq := sqlite.NewDB(b.TempDir())
				sq.WriteCacheMB = 64 // as mosaic serve's default --cache-mb 256
				if err := sq.Open(); err != nil {
					b.Fatal(err)
				}
				defer sq.Close()
				db = sq
			}
			ctx := context.Background()
			src := &mosaic.Source{Name: "web"}
			db.CreateSource(ctx, src)
			norm, _ := identity.NewNormalizer(identity.DefaultConfig())
			var stages []processor.Stage
			if withIdentity {
				stages = []processor.Stage{&processor.Dedupe{Store: db}, &processor.Identity{Store: db, Normalizer: norm, Traits: &traits.Config{}, CacheSize: cmp.Or(benchEnv("MOSAIC_BENCH_CACHE"), serveCacheEntries)}}
			}
			perRound := cmp.Or(benchEnv("MOSAIC_BENCH_ROUND"), 20000)
			var total int
			var cpu time.Duration
			var written int64
			b.ReportAllocs()
			for round := uint64(0); b.Loop(); round++ {
				b.StopTimer()
				recs := crmEvents(src.ID, perRound, round)
				if users > 0 {
					recs = segloadEvents(src.ID, perRound, users, round)
				}
				if err := db.AppendInbox(ctx, recs); err != nil {
					b.Fatal(err)
				}
				p := &processor.Processor{Store: db, Stages: stages, Poll: time.Millisecond, BatchSize: benchEnv("MOSAIC_BENCH_BATCH")}
				p.Open()
				b.StartTimer()
				c0, w0 := cpuTime(), bytesWritten()
				if err := p.Drain(ctx); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c0
				written += bytesWritten() - w0
				b.StopTimer()
				p.Close()
				total += perRound
				b.StartTimer()
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-µs/event")
			if written >= 0 && bytesWritten() >= 0 {
				b.ReportMetric(float64(written)/float64(total), "written-B/event")
			}
		})
	}
}

// benchEnv reads a benchmark setting: MOSAIC_BENCH_ROUND, events appended before each drain
// (20000; rounds of 100000 let the two-stage pipeline overlap as under steady load, where
// 20000 is only two batches); MOSAIC_BENCH_BATCH, the processor's batch size;
// MOSAIC_BENCH_CACHE, the identity stage's cache size (default: mosaic serve's).
func benchEnv(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}

// serveCacheEntries is the identity cache of mosaic serve's default --cache-mb 256 (three
// quarters of it at ~490 bytes an identifier and link, cmd/mosaic identityCacheEntries).
const serveCacheEntries = 256 * 3 / 4 << 20 / 490

// BenchmarkProfileRebuild measures how fast every profile is rebuilt from its events (after a
// survivorship rule changed): segload's mix over 20k customers (MOSAIC_BENCH_ROUND events,
// 100k by default), then each round queues every live profile and drains the queue.
func BenchmarkProfileRebuild(b *testing.B) {
	sq := sqlite.NewDB(b.TempDir())
	sq.WriteCacheMB = 64
	if err := sq.Open(); err != nil {
		b.Fatal(err)
	}
	defer sq.Close()
	ctx := context.Background()
	src := &mosaic.Source{Name: "web"}
	sq.CreateSource(ctx, src)
	norm, _ := identity.NewNormalizer(identity.DefaultConfig())
	stages := []processor.Stage{&processor.Dedupe{Store: sq}, &processor.Identity{Store: sq, Normalizer: norm, Traits: &traits.Config{}, CacheSize: serveCacheEntries}}
	if err := sq.AppendInbox(ctx, segloadEvents(src.ID, cmp.Or(benchEnv("MOSAIC_BENCH_ROUND"), 100000), 20000, 1)); err != nil {
		b.Fatal(err)
	}
	drain := func() {
		p := &processor.Processor{Store: sq, Stages: stages, Poll: time.Millisecond}
		p.Open()
		defer p.Close()
		if err := p.Drain(ctx); err != nil {
			b.Fatal(err)
		}
	}
	drain()
	var profiles int64
	for b.Loop() {
		n, err := sq.QueueProfileRebuild(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		profiles += n
		drain()
	}
	b.ReportMetric(float64(profiles)/b.Elapsed().Seconds(), "profiles/s")
}

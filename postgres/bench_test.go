package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
)

// trackPayload is a realistic Segment track call as the gateway stores it (about 400 bytes).
const trackPayload = `{"type":"track","event":"Order Completed","userId":"user_4f2a9c17",` +
	`"anonymousId":"a3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d","messageId":%q,"timestamp":"2026-11-26T10:00:00.123Z",` +
	`"properties":{"order_id":"ord_50314b8e","revenue":42.5,"currency":"EUR","products":[{"sku":"SKU-1042","price":21.25,"quantity":2}]},` +
	`"context":{"library":{"name":"analytics.js","version":"5.2.0"},"ip":"203.0.113.7"}}`

// BenchmarkAppendInbox measures one durable group commit of a batch of track calls.
func BenchmarkAppendInbox(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{100, 500} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := MustOpenDB(b)
			now, sent := time.Now(), time.Now().Add(-time.Second)
			recs := make([]*mosaic.InboxRecord, size)
			for i := range recs {
				id := fmt.Sprintf("bench-%08d", i)
				recs[i] = &mosaic.InboxRecord{SourceID: "src_bench", MessageID: id, ReceivedAt: now, SentAt: &sent,
					Payload: []byte(fmt.Sprintf(trackPayload, id))}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := db.AppendInbox(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkCommitIdentity measures a processor commit carrying identity writes: per event an
// identifier, an edge and (every third) a profile with search terms — a batch of new
// customers, the heaviest case.
func BenchmarkCommitIdentity(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{500, 2000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := MustOpenDB(b)
			now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			var off int64
			for b.Loop() {
				c := &mosaic.EventCommit{From: off, Through: off + 1, Identity: &mosaic.IdentityChanges{Merges: 1}}
				for i := range size {
					n := int(off)*size + i
					key := mosaic.IdentifierKey(fmt.Sprintf("key-%09d", n))
					pid := mosaic.ProfileID(fmt.Sprintf("prof_%09d", n/3))
					e := &mosaic.Event{SourceID: "src_bench", MessageID: fmt.Sprintf("m-%09d", n), Type: mosaic.EventTrack, Event: "Viewed",
						AnonymousID: fmt.Sprintf("anon-%09d", n), Timestamp: now, ReceivedAt: now, Identity: key, ProfileID: pid}
					c.Events = append(c.Events, e)
					ch := c.Identity
					ch.Identifiers = append(ch.Identifiers, &mosaic.IdentifierRecord{Key: key,
						Identifier: mosaic.Identifier{Type: mosaic.IdentifierAnonymousID, Value: e.AnonymousID}, ProfileID: pid, FirstSeen: now})
					if i%3 == 0 {
						ch.Profiles = append(ch.Profiles, &mosaic.ProfileState{ID: pid, CreatedAt: now, UpdatedAt: now,
							State: []byte(`{"plan":{"v":"pro"}}`), Traits: map[string]json.RawMessage{"plan": json.RawMessage(`"pro"`)},
							SearchTerms: []string{"pro", fmt.Sprintf("name %d", n)}})
					} else {
						ch.Edges = append(ch.Edges, &mosaic.IdentityEdge{A: mosaic.IdentifierKey(fmt.Sprintf("key-%09d", n-1)), B: key,
							Kind: mosaic.EdgeImplicit, EventTime: now, Evidence: e.MessageID, SourceID: "src_bench"})
					}
				}
				if _, err := db.CommitEvents(ctx, c); err != nil {
					b.Fatal(err)
				}
				off++
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

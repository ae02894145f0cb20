package sqlite_test

import (
	"context"
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

package segment_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/segment"
)

// segloadBatch builds a /v1/batch body like shared/tools/segload sends: 70 % track, 20 % page,
// 10 % identify, each about 400–600 bytes with a library context.
func segloadBatch(size int) []byte {
	now := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC).Format(time.RFC3339Nano)
	ctx := `"context":{"library":{"name":"segload","version":"1.0"},"ip":"10.1.2.3","userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.36","locale":"en-US"}`
	var b bytes.Buffer
	b.WriteString(`{"batch":[`)
	for i := range size {
		if i > 0 {
			b.WriteByte(',')
		}
		id := fmt.Sprintf("segload-3-1764151200123456789-%d", i)
		anon := fmt.Sprintf("anon-%08x", i*2654435761%4294967296)
		switch i % 10 {
		case 0:
			fmt.Fprintf(&b, `{"type":"identify","messageId":%q,"anonymousId":%q,"userId":"user-%d","traits":{"email":"Customer.%d@Example.com","phone":"+45 20 %02d %02d %02d","first_name":"Ada","last_name":"Lovelace","plan":"pro"},%s,"timestamp":%q,"sentAt":%q}`,
				id, anon, i, i, i%100, i%7, i%13, ctx, now, now)
		case 1, 2:
			fmt.Fprintf(&b, `{"type":"page","messageId":%q,"anonymousId":%q,"name":"Page","properties":{"path":"/products/espresso-machine","title":"Mosaic shop","referrer":"https://search.example/"},%s,"timestamp":%q,"sentAt":%q}`,
				id, anon, ctx, now, now)
		default:
			fmt.Fprintf(&b, `{"type":"track","messageId":%q,"anonymousId":%q,"userId":"user-%d","event":"Product Added","properties":{"product_id":"sku-%d","price":%d.%02d,"currency":"EUR","quantity":%d},%s,"timestamp":%q,"sentAt":%q}`,
				id, anon, i, i*37%5000, i%300, i%100, 1+i%3, ctx, now, now)
		}
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkParseRequest measures the gateway's validation of one batch body.
func BenchmarkParseRequest(b *testing.B) {
	for _, size := range []int{100} {
		body := segloadBatch(size)
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req, err := segment.ParseRequest(body, segment.Batch)
				if err != nil {
					b.Fatal(err)
				}
				if len(req.Messages) != size {
					b.Fatalf("%d messages, want %d", len(req.Messages), size)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDecodeEvent measures the processor's decoding of one stored event.
func BenchmarkDecodeEvent(b *testing.B) {
	req, err := segment.ParseRequest(segloadBatch(10), segment.Batch)
	if err != nil {
		b.Fatal(err)
	}
	raw := req.Messages[3].Raw // a track call
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := segment.DecodeEvent(raw, "", ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

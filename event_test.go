package mosaic_test

import (
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
)

func TestCorrectTimestamp(t *testing.T) {
	recv := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	for _, tc := range []struct {
		ts, sent *time.Time
		want     time.Time
	}{
		{nil, nil, recv},
		{at("2026-11-30T08:00:00Z"), nil, *at("2026-11-30T08:00:00Z")},                        // believed
		{at("2026-12-01T12:30:00Z"), nil, *at("2026-12-01T12:30:00Z")},                        // a clock a little ahead
		{at("2099-01-01T00:00:00Z"), nil, recv},                                               // no event comes from 2099
		{at("2026-12-01T23:00:00Z"), nil, recv},                                               // local time sent as UTC
		{at("2099-01-01T00:00:00Z"), at("2099-01-01T00:00:05Z"), recv.Add(-5 * time.Second)},  // skew corrected by sentAt
		{at("2026-12-01T10:00:00Z"), at("2026-12-01T09:00:00Z"), *at("2026-12-01T13:00:00Z")}, // sent "before" it happened: ahead by 1h, kept
		{at("2026-12-01T10:00:00Z"), at("2026-12-01T07:00:00Z"), recv},                        // 3h ahead after correction
		{at("0001-01-01T00:00:00Z"), nil, recv},                                               // never set (Go's zero time)
		{at("0001-01-01T00:00:00Z"), at("2026-12-01T11:59:00Z"), recv},                        // never set, whatever sentAt says
		{at("2026-11-30T08:00:00Z"), at("0001-01-01T00:00:00Z"), *at("2026-11-30T08:00:00Z")}, // sentAt never set: nothing to correct with
		{at("0001-01-01T00:00:01Z"), nil, *at("0001-01-01T00:00:01Z")},                        // a time that was set, however old
	} {
		if got := mosaic.CorrectTimestamp(tc.ts, tc.sent, recv); !got.Equal(tc.want) {
			t.Errorf("CorrectTimestamp(%v, %v) = %v, want %v", tc.ts, tc.sent, got, tc.want)
		}
	}
}

package main

import (
	"io"
	"log"
	"strings"
	"sync"
	"testing"
	"time"

	rudder "github.com/rudderlabs/analytics-go/v4"
	segment "github.com/segmentio/analytics-go/v3"

	"github.com/mosaic-cdp/mosaic/postgres/pgtest"
)

// sdkCallback records what an SDK reports about each message it sent.
type sdkCallback struct {
	mu       sync.Mutex
	ok, fail int
	errs     []error
}

func (c *sdkCallback) success() { c.mu.Lock(); c.ok++; c.mu.Unlock() }
func (c *sdkCallback) failure(err error) {
	c.mu.Lock()
	c.fail++
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

type segmentCallback struct{ *sdkCallback }

func (c segmentCallback) Success(segment.Message)            { c.success() }
func (c segmentCallback) Failure(_ segment.Message, e error) { c.failure(e) }

type rudderCallback struct{ *sdkCallback }

func (c rudderCallback) Success(rudder.Message)            { c.success() }
func (c rudderCallback) Failure(_ rudder.Message, e error) { c.failure(e) }

// TestSDKClients sends every call type with Segment's and RudderStack's official Go SDKs
// (RudderStack's gzips its bodies and sends originalTimestamp) and finds each event stored
// exactly once with the fields it was sent with.
func TestSDKClients(t *testing.T) {
	t.Run("store=sqlite", func(t *testing.T) { testSDKClients(t, "--data", t.TempDir()) })
	t.Run("store=postgres", func(t *testing.T) {
		dsn, schema := pgtest.DSN(t)
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		testSDKClients(t, "--database", dsn+sep+"search_path="+schema)
	})
}

func testSDKClients(t *testing.T, storeArgs ...string) {
	inst := startServe(t, storeArgs...)
	at := time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC)
	quiet := log.New(io.Discard, "", 0)

	segCB := &sdkCallback{}
	sc, err := segment.NewWithConfig(inst.WriteKey, segment.Config{Endpoint: inst.URL, Interval: 50 * time.Millisecond,
		BatchSize: 4, Callback: segmentCallback{segCB}, Logger: segment.StdLogger(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []segment.Message{
		segment.Track{MessageId: "seg-track", UserId: "seg-user", Event: "Order Completed", Timestamp: at,
			Properties: segment.NewProperties().SetRevenue(42.5).SetCurrency("EUR")},
		segment.Identify{MessageId: "seg-identify", UserId: "seg-user", AnonymousId: "seg-anon", Timestamp: at,
			Traits: segment.NewTraits().SetEmail("ada@example.com").SetName("Ada Lovelace")},
		segment.Page{MessageId: "seg-page", AnonymousId: "seg-anon", Name: "Pricing", Timestamp: at,
			Properties: segment.NewProperties().SetURL("https://shop.example/pricing")},
		segment.Screen{MessageId: "seg-screen", UserId: "seg-user", Name: "Basket", Timestamp: at},
		segment.Group{MessageId: "seg-group", UserId: "seg-user", GroupId: "acme", Timestamp: at,
			Traits: segment.NewTraits().Set("plan", "enterprise")},
		segment.Alias{MessageId: "seg-alias", PreviousId: "seg-anon", UserId: "seg-user", Timestamp: at},
	} {
		if err := sc.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}

	rudCB := &sdkCallback{}
	rc, err := rudder.NewWithConfig(inst.WriteKey, rudder.Config{DataPlaneUrl: inst.URL, Interval: 50 * time.Millisecond,
		BatchSize: 4, Callback: rudderCallback{rudCB}, Logger: rudder.StdLogger(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []rudder.Message{
		rudder.Track{MessageId: "rud-track", UserId: "rud-user", Event: "Order Completed", OriginalTimestamp: at,
			Properties: rudder.NewProperties().SetRevenue(42.5).SetCurrency("EUR")},
		rudder.Identify{MessageId: "rud-identify", UserId: "rud-user", AnonymousId: "rud-anon", OriginalTimestamp: at,
			Traits: rudder.NewTraits().SetEmail("ada@example.com").SetName("Ada Lovelace")},
		rudder.Page{MessageId: "rud-page", AnonymousId: "rud-anon", Name: "Pricing", OriginalTimestamp: at,
			Properties: rudder.NewProperties().SetURL("https://shop.example/pricing")},
		rudder.Screen{MessageId: "rud-screen", UserId: "rud-user", Name: "Basket", OriginalTimestamp: at},
		rudder.Group{MessageId: "rud-group", UserId: "rud-user", GroupId: "acme", OriginalTimestamp: at,
			Traits: rudder.NewTraits().Set("plan", "enterprise")},
		rudder.Alias{MessageId: "rud-alias", PreviousId: "rud-anon", UserId: "rud-user", OriginalTimestamp: at},
	} {
		if err := rc.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}

	for name, cb := range map[string]*sdkCallback{"segment": segCB, "rudder": rudCB} {
		if cb.ok != 6 || cb.fail != 0 {
			t.Errorf("%s SDK: %d sent, %d failed %v", name, cb.ok, cb.fail, cb.errs)
		}
	}
	waitProcessed(t, inst.URL, inst.Token)
	byID := map[string][]storedEvent{}
	for _, e := range allEvents(t, inst.URL, inst.Token, "") {
		byID[e.MessageID] = append(byID[e.MessageID], e)
	}
	for _, p := range []string{"seg", "rud"} {
		one := func(id string) storedEvent {
			t.Helper()
			evs := byID[p+"-"+id]
			if len(evs) != 1 {
				t.Fatalf("%s-%s stored %d times, want once", p, id, len(evs))
			}
			e := evs[0]
			if e.OriginalTimestamp == nil || !e.OriginalTimestamp.Equal(at) {
				t.Errorf("%s-%s originalTimestamp=%v, want %v", p, id, e.OriginalTimestamp, at)
			}
			// Sent and received within moments on one clock: the corrected time stays close.
			if d := e.Timestamp.Sub(at); d < -5*time.Second || d > 5*time.Second {
				t.Errorf("%s-%s timestamp=%v, want about %v", p, id, e.Timestamp, at)
			}
			if lib, _ := e.Context["library"].(map[string]any); lib == nil || lib["name"] == nil {
				t.Errorf("%s-%s context.library missing: %v", p, id, e.Context)
			}
			return e
		}
		user, anon := p+"-user", p+"-anon"
		if e := one("track"); e.Type != "track" || e.UserID != user || e.Event != "Order Completed" ||
			e.Properties["revenue"] != 42.5 || e.Properties["currency"] != "EUR" {
			t.Errorf("%s track: %+v", p, e)
		}
		if e := one("identify"); e.Type != "identify" || e.UserID != user || e.AnonymousID != anon ||
			e.Traits["email"] != "ada@example.com" || e.Traits["name"] != "Ada Lovelace" {
			t.Errorf("%s identify: %+v", p, e)
		}
		if e := one("page"); e.Type != "page" || e.AnonymousID != anon || e.Name != "Pricing" ||
			e.Properties["url"] != "https://shop.example/pricing" {
			t.Errorf("%s page: %+v", p, e)
		}
		if e := one("screen"); e.Type != "screen" || e.UserID != user || e.Name != "Basket" {
			t.Errorf("%s screen: %+v", p, e)
		}
		if e := one("group"); e.Type != "group" || e.GroupID != "acme" || e.Traits["plan"] != "enterprise" {
			t.Errorf("%s group: %+v", p, e)
		}
		if e := one("alias"); e.Type != "alias" || e.PreviousID != anon || e.UserID != user {
			t.Errorf("%s alias: %+v", p, e)
		}
	}
	if n := len(byID); n != 12 {
		t.Errorf("stored %d distinct events, want 12", n)
	}
}

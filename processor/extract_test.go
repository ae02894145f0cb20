package processor

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/segment"
)

// TestExtractAllInParallel: a large batch's identifiers, keys, links and anchors are the same
// whether extracted by one goroutine or by several (each with its own HMAC state), replayed
// events keep their stored anchor, and invalid values are counted per event.
func TestExtractAllInParallel(t *testing.T) {
	norm, err := identity.NewNormalizer(identity.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := &Identity{Normalizer: norm, secret: []byte("0123456789abcdef0123456789abcdef")}
	events := func() []*mosaic.Event {
		var evs []*mosaic.Event
		for i := range 3 * extractParallel {
			var body string
			switch i % 4 {
			case 0:
				body = fmt.Sprintf(`{"type":"identify","userId":"u%d","anonymousId":"a%d","traits":{"email":" Ada%d@Example.com","phone":"+4520%06d"}}`, i, i, i, 120000+i)
			case 1:
				body = fmt.Sprintf(`{"type":"alias","previousId":"a%d","userId":"u%d"}`, i-1, i)
			case 2:
				body = fmt.Sprintf(`{"type":"track","event":"E","anonymousId":"a%d","context":{"traits":{"email":"not an email","phone":"12"}}}`, i)
			default:
				body = fmt.Sprintf(`{"type":"page","userId":"u%d"}`, i/2)
			}
			e, err := segment.DecodeEvent([]byte(body), "", "")
			if err != nil {
				t.Fatal(err)
			}
			e.MessageID, e.Timestamp = fmt.Sprint("m", i), time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC)
			if i >= 2*extractParallel {
				e.Identity = mosaic.IdentifierKey(fmt.Sprint("stored-", i)) // replayed: filed before
			}
			evs = append(evs, e)
		}
		return evs
	}
	one, many := events(), events()
	want := s.extractAll(one, 2*extractParallel, 1)
	got := s.extractAll(many, 2*extractParallel, 4)
	opts := cmp.Comparer(func(a, b *mosaic.Event) bool { return a.MessageID == b.MessageID && a.Identity == b.Identity })
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(extracted{}, eventIDs{}), opts); diff != "" {
		t.Fatalf("parallel extraction differs (-one goroutine +four):\n%s", diff)
	}
	var invalid, anchored, edges int
	for i, x := range got {
		invalid += x.invalid
		if x.info.anchor != "" && many[i].Identity == x.info.anchor {
			anchored++
		}
		edges += len(x.info.edges)
		if x.info.replayed != (i >= 2*extractParallel) || x.info.replayed && x.info.stored != mosaic.IdentifierKey(fmt.Sprint("stored-", i)) {
			t.Fatalf("event %d: replayed %v, stored anchor %q", i, x.info.replayed, x.info.stored)
		}
	}
	if n := len(got); invalid != n/4*2 || anchored != n || edges == 0 {
		t.Fatalf("%d events: %d invalid values (want %d), %d anchored, %d links", n, invalid, n/4*2, anchored, edges)
	}
}

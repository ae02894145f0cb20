package mosaic_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
)

func TestNewProfileIDSortsByTime(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	prev := mosaic.NewProfileID(t0)
	seen := map[mosaic.ProfileID]bool{prev: true}
	for i := 1; i < 2000; i++ {
		id := mosaic.NewProfileID(t0.Add(time.Duration(i) * time.Millisecond))
		if !strings.HasPrefix(string(id), "prof_") || len(id) != len("prof_")+21 {
			t.Fatalf("malformed id %q", id)
		}
		if id <= prev {
			t.Fatalf("%q made after %q sorts before it", id, prev)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id], prev = true, id
	}
	// Within one millisecond the random part keeps ids apart.
	same := map[mosaic.ProfileID]bool{}
	for range 1000 {
		same[mosaic.NewProfileID(t0)] = true
	}
	if len(same) != 1000 {
		t.Fatalf("%d distinct ids of 1000 made in one millisecond", len(same))
	}
}

package storetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/postgres/pgtest"
	"github.com/mosaic-cdp/mosaic/processor"
	"github.com/mosaic-cdp/mosaic/sqlite"
	"github.com/mosaic-cdp/mosaic/traits"
)

// TestPipelineSameOnBothStores runs the processor's identity stage over the same inbox on
// the embedded and the PostgreSQL store, and checks that they end with the same profiles,
// timelines, search results and counts: the conformance suite checks each method, this the
// way the processor combines them (merges across batches, refusals, hubs, a steward's split).
func TestPipelineSameOnBothStores(t *testing.T) {
	lite := sqlite.NewDB(t.TempDir())
	if err := lite.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	pg := pgtest.Open(t)

	rng := rand.New(rand.NewPCG(7, 11))
	var bodies []string
	for i := range 600 {
		user := rng.IntN(40)
		anon := user*3 + rng.IntN(3) // each user's own devices, and now and then a shared one
		if rng.IntN(20) == 0 {
			anon = rng.IntN(120)
		}
		fields := []string{fmt.Sprintf(`"anonymousId":"a%d"`, anon)}
		if rng.IntN(2) == 0 {
			fields = append(fields, fmt.Sprintf(`"userId":"u%d"`, user))
		}
		if i%50 == 0 {
			fields = []string{fmt.Sprintf(`"userId":"u%d"`, user), `"anonymousId":"kiosk"`} // a hub
		}
		tr := []string{fmt.Sprintf(`"plan":"p%d"`, rng.IntN(3)), fmt.Sprintf(`"name":"Name%d Family%d"`, user, user%7)}
		if rng.IntN(3) == 0 {
			tr = append(tr, fmt.Sprintf(`"email":"E%d@Example.com"`, (user+rng.IntN(2))%40))
		}
		ts := fmt.Sprintf(`"timestamp":"2026-11-01T%02d:%02d:%02dZ"`, rng.IntN(24), rng.IntN(60), rng.IntN(60))
		typ := `"type":"identify"`
		switch r := rng.IntN(10); {
		case r == 0 && strings.Contains(strings.Join(fields, ","), "userId"):
			typ = fmt.Sprintf(`"type":"alias","previousId":"u%d"`, rng.IntN(40))
		case r == 1:
			typ = fmt.Sprintf(`"type":"group","groupId":"g%d"`, rng.IntN(4))
		case r <= 4:
			typ = `"type":"track","event":"Viewed"`
		}
		bodies = append(bodies, "{"+strings.Join(append([]string{typ, ts, `"traits":{` + strings.Join(tr, ",") + `}`}, fields...), ",")+"}")
	}
	duplicate := bodies[10] // sent again under the same messageId below

	var want *storeView
	for _, s := range []mosaic.Store{lite, pg} {
		ctx := context.Background()
		norm, err := identity.NewNormalizer(identity.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		src := &mosaic.Source{Name: "web"}
		if err := s.CreateSource(ctx, src); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
		send := func(batch int, msgs map[string]string) {
			t.Helper()
			var recs []*mosaic.InboxRecord
			for _, id := range slices.Sorted(maps.Keys(msgs)) {
				recs = append(recs, &mosaic.InboxRecord{SourceID: src.ID, MessageID: id, ReceivedAt: at, Payload: []byte(msgs[id])})
			}
			if err := s.AppendInbox(ctx, recs); err != nil {
				t.Fatal(err)
			}
			proc := &processor.Processor{Store: s, BatchSize: batch, Poll: time.Millisecond, Stages: []processor.Stage{
				&processor.Dedupe{Store: s},
				&processor.Identity{Store: s, Normalizer: norm, Traits: &traits.Config{Rules: map[string]traits.Rule{"plan": traits.Earliest}},
					Now: func() time.Time { return at }},
			}}
			proc.Open()
			defer proc.Close()
			dctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := proc.Drain(dctx); err != nil {
				t.Fatal(err)
			}
		}
		for start := 0; start < len(bodies); start += 100 {
			msgs := map[string]string{}
			for i := start; i < min(start+100, len(bodies)); i++ {
				msgs[fmt.Sprintf("m%04d", i)] = bodies[i]
			}
			send(7, msgs)
		}
		send(7, map[string]string{"m0010": duplicate})
		// A steward removes an email from merging, and the processor splits its profile.
		secret, err := s.IdentitySecret(ctx)
		if err != nil {
			t.Fatal(err)
		}
		removed := identity.Key(secret, mosaic.Identifier{Type: mosaic.IdentifierEmail, Value: "e3@example.com"})
		if err := s.AddIdentityConstraint(ctx, &mosaic.IdentityConstraint{A: removed, Reason: "shared"}); err != nil {
			t.Fatal(err)
		}
		send(7, nil)

		got := view(t, s)
		if want == nil {
			want = got
			t.Logf("sqlite: %d profiles, %+v", len(got.Profiles), got.Stats)
			if len(got.Profiles) < 10 || got.Stats.Merges == 0 || got.Stats.RefusedLinks == 0 || got.Stats.Duplicates == 0 {
				t.Fatalf("workload too tame to compare stores: %+v", got.Stats)
			}
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("postgres differs from sqlite (-sqlite +postgres):\n%s", diff)
		}
	}
}

// storeView is what a store shows, without its random profile ids and identifier keys.
type storeView struct {
	Profiles []string            // identifiers, traits, groups, flags, timeline length
	Searches map[string][]string // query → first identifier of each profile found
	Stats    mosaic.Stats
}

func view(t *testing.T, s mosaic.Store) *storeView {
	t.Helper()
	ctx := context.Background()
	v := &storeView{Searches: map[string][]string{}}
	first := map[mosaic.ProfileID]string{}
	for cursor := ""; ; {
		ps, next, err := s.FindProfiles(ctx, mosaic.ProfileFilter{Limit: 7, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			var ids []string
			for _, id := range p.Identifiers {
				ids = append(ids, id.String())
			}
			evs, _, err := s.FindEvents(ctx, mosaic.EventFilter{ProfileID: p.ID, Limit: mosaic.MaxEventPage})
			if err != nil {
				t.Fatal(err)
			}
			tr, _ := json.Marshal(p.Traits)
			v.Profiles = append(v.Profiles, fmt.Sprintf("%s traits=%s groups=%v flags=%v merged_from=%d events=%d",
				strings.Join(ids, " "), tr, p.Groups, p.Flags, len(p.MergedFrom), len(evs)))
			if len(ids) > 0 {
				first[p.ID] = ids[0]
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	slices.Sort(v.Profiles)
	for _, q := range []string{"u1", "A", "e2", "name3", "family2", "KIOSK", "nobody"} {
		ps, _, err := s.FindProfiles(ctx, mosaic.ProfileFilter{Q: q, Limit: mosaic.MaxProfilePage})
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		for _, p := range ps {
			found = append(found, first[p.ID])
		}
		slices.Sort(found)
		v.Searches[q] = found
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v.Stats = *st
	return v
}

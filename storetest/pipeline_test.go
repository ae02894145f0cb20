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
// way the processor combines them (merges across batches, refusals, hubs, a steward's split,
// an identity replay under other rules).
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
		// The shop ranks emails above devices now and finds e7@example.com is a shop
		// address, and replays its history under those rules: events with an email are filed
		// under it, the links are made anew, and e7's go.
		ranked := identity.DefaultConfig()
		ranked.Rules[1].Priority, ranked.Rules[2].Priority = 5, 2
		ranked.Blocklist = append(ranked.Blocklist, "e7@example.com")
		if norm, err = identity.NewNormalizer(ranked); err != nil {
			t.Fatal(err)
		}
		if _, err := s.QueueIdentityReplay(ctx); err != nil {
			t.Fatal(err)
		}
		send(7, nil)
		if r, err := s.IdentityReplay(ctx); r != nil || err != nil {
			t.Fatalf("replay still queued: %+v %v", r, err)
		}

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
	Groups   []string            // traits and members (by first identifier) of each group
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
	for _, id := range []string{"g0", "g1", "g2", "g3"} {
		g, err := s.FindGroupByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		members, err := s.FindGroupMembers(ctx, id, "", mosaic.MaxProfilePage)
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		for _, m := range members {
			found = append(found, first[m])
		}
		slices.Sort(found)
		tr, _ := json.Marshal(g.Traits)
		v.Groups = append(v.Groups, fmt.Sprintf("%s traits=%s members=%v", id, tr, found))
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v.Stats = *st
	return v
}

// TestGroupTraits runs group calls through the identity stage on both stores: a group's
// traits survive by event time whatever order the calls arrive in, every profile that
// joined lists the group and is one of its members, and a profile merged away is a member
// no more.
func TestGroupTraits(t *testing.T) {
	stores := bothStores()
	current := []string{ // u1, u2 and an anonymous visitor a3 join Acme
		`{"type":"group","groupId":"acme","userId":"u1","traits":{"name":"Acme Inc","plan":"enterprise","employees":120},"timestamp":"2026-11-02T10:00:00Z"}`,
		`{"type":"group","groupId":"acme","userId":"u2","traits":{"employees":150},"timestamp":"2026-11-03T10:00:00Z"}`,
		`{"type":"group","groupId":"acme","anonymousId":"a3","timestamp":"2026-11-02T11:00:00Z"}`,
		`{"type":"group","groupId":"globex","userId":"u1","traits":{"name":"Globex"},"timestamp":"2026-11-02T10:00:00Z"}`,
	}
	late := []string{ // an old call, delivered late: it adds a trait but overwrites none
		`{"type":"group","groupId":"acme","userId":"u2","traits":{"plan":"free","name":"Acme","industry":"rockets"},"timestamp":"2026-11-01T10:00:00Z"}`,
	}
	wantTraits := map[string]json.RawMessage{"name": json.RawMessage(`"Acme Inc"`), "plan": json.RawMessage(`"enterprise"`),
		"employees": json.RawMessage(`150`), "industry": json.RawMessage(`"rockets"`)}
	for _, name := range []string{"sqlite", "postgres"} {
		for _, order := range []string{"in order", "late first"} {
			t.Run(name+"/"+order, func(t *testing.T) {
				s := stores[name](t)
				ctx := context.Background()
				at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
				p := newTestPipeline(t, s, at)
				if order == "in order" {
					p.send("current", current...)
					p.send("late", late...)
				} else {
					p.send("late", late...)
					p.send("current", current...)
				}
				g, err := s.FindGroupByID(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(wantTraits, g.Traits); diff != "" {
					t.Errorf("acme traits (-want +got):\n%s", diff)
				}
				if src := g.TraitSources["plan"]; src.MessageID != "current-0" || !src.EventTime.Equal(time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)) {
					t.Errorf("plan comes from %+v, want the call of 2026-11-02", src)
				}
				if !g.CreatedAt.Equal(at) || !g.UpdatedAt.Equal(at) {
					t.Errorf("acme created %v, updated %v, want %v", g.CreatedAt, g.UpdatedAt, at)
				}

				u1, u2, a3 := p.profile("user_id", "u1"), p.profile("user_id", "u2"), p.profile("anonymous_id", "a3")
				if diff := cmp.Diff([]string{"acme", "globex"}, u1.Groups); diff != "" {
					t.Errorf("u1's groups (-want +got):\n%s", diff)
				}
				for _, prof := range []*mosaic.Profile{u2, a3} {
					if diff := cmp.Diff([]string{"acme"}, prof.Groups); diff != "" {
						t.Errorf("%s's groups (-want +got):\n%s", prof.Identifiers[0], diff)
					}
				}
				members, err := s.FindGroupMembers(ctx, "acme", "", 100)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(sortedIDs(u1.ID, u2.ID, a3.ID), members); diff != "" {
					t.Errorf("acme members (-want +got):\n%s", diff)
				}

				// u2 identifies on a3's device: one profile survives and stays a member.
				p.send("merge", `{"type":"identify","userId":"u2","anonymousId":"a3","timestamp":"2026-11-04T10:00:00Z"}`)
				survivor := p.profile("user_id", "u2")
				if survivor.ID != p.profile("anonymous_id", "a3").ID || len(survivor.MergedFrom) != 1 {
					t.Fatalf("u2 and a3 not merged: %+v", survivor)
				}
				members, err = s.FindGroupMembers(ctx, "acme", "", 100)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(sortedIDs(u1.ID, survivor.ID), members); diff != "" {
					t.Errorf("acme members after the merge of %s (-want +got):\n%s", survivor.MergedFrom[0], diff)
				}
				if diff := cmp.Diff([]string{"acme"}, survivor.Groups); diff != "" {
					t.Errorf("survivor's groups (-want +got):\n%s", diff)
				}
				// The merge changed no group, and its traits are as before.
				g2, err := s.FindGroupByID(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(g, g2); diff != "" {
					t.Errorf("acme after the merge (-before +after):\n%s", diff)
				}
			})
		}
	}
}

func sortedIDs(ids ...mosaic.ProfileID) []mosaic.ProfileID {
	slices.Sort(ids)
	return ids
}

// testPipeline processes Segment calls from one source with the dedupe and identity stages.
type testPipeline struct {
	t    *testing.T
	s    mosaic.Store
	norm *identity.Normalizer
	src  *mosaic.Source
	at   time.Time
}

func newTestPipeline(t *testing.T, s mosaic.Store, at time.Time) *testPipeline {
	t.Helper()
	norm, err := identity.NewNormalizer(identity.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	src := &mosaic.Source{Name: "web"}
	if err := s.CreateSource(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return &testPipeline{t: t, s: s, norm: norm, src: src, at: at}
}

// send appends bodies to the inbox, with messageIds prefix-0, prefix-1, …, and processes them
// as one batch.
func (p *testPipeline) send(prefix string, bodies ...string) {
	p.t.Helper()
	ctx := context.Background()
	var recs []*mosaic.InboxRecord
	for i, b := range bodies {
		id := fmt.Sprintf("%s-%d", prefix, i)
		recs = append(recs, &mosaic.InboxRecord{SourceID: p.src.ID, MessageID: id, ReceivedAt: p.at, Payload: []byte(b)})
	}
	if err := p.s.AppendInbox(ctx, recs); err != nil {
		p.t.Fatal(err)
	}
	proc := &processor.Processor{Store: p.s, BatchSize: 100, Poll: time.Millisecond, Stages: []processor.Stage{
		&processor.Dedupe{Store: p.s},
		&processor.Identity{Store: p.s, Normalizer: p.norm, Traits: &traits.Config{}, Now: func() time.Time { return p.at }},
	}}
	proc.Open()
	defer proc.Close()
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := proc.Drain(dctx); err != nil {
		p.t.Fatal(err)
	}
	if st, err := p.s.Stats(ctx); err != nil || st.InboxLag != 0 {
		p.t.Fatalf("inbox lag after drain: %+v, %v", st, err)
	}
}

// profile returns the live profile holding an identifier.
func (p *testPipeline) profile(typ mosaic.IdentifierType, value string) *mosaic.Profile {
	p.t.Helper()
	ctx := context.Background()
	secret, err := p.s.IdentitySecret(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	prof, err := p.s.FindProfileByIdentifier(ctx, identity.Key(secret, mosaic.Identifier{Type: typ, Value: value}))
	if err != nil {
		p.t.Fatalf("%s:%s: %v", typ, value, err)
	}
	return prof
}

// TestEventExtrasKept: a call's top-level members that Mosaic does not read (Segment's
// channel and version, a library's _metadata) are stored and read back as sent, on both
// stores, through the processor and the store's reads (timeline and stored-event replay);
// writeKey and members named like the stored form's own (receivedAt, id) are not.
func TestEventExtrasKept(t *testing.T) {
	stores := bothStores()
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
			p := newTestPipeline(t, s, at)
			p.send("x", `{"type":"track","userId":"u1","event":"Order Completed","channel":"server","version":2,`+
				`"_metadata":{"bundled":["Segment.io"],"unbundled":[]},"writeKey":"secret","receivedAt":"2020-01-01T00:00:00Z","id":"mine","UserID":"other",`+
				`"timestamp":"2026-11-20T11:00:00Z"}`)
			evs, _, err := s.FindEvents(context.Background(), mosaic.EventFilter{})
			if err != nil || len(evs) != 1 {
				t.Fatalf("events: %v %v", evs, err)
			}
			e := evs[0]
			got := map[string]string{}
			for k, v := range e.Extra {
				var x any
				json.Unmarshal(v, &x) // PostgreSQL's jsonb re-spaces values: compare what they hold
				b, _ := json.Marshal(x)
				got[k] = string(b)
			}
			want := map[string]string{"channel": `"server"`, "version": `2`, "_metadata": `{"bundled":["Segment.io"],"unbundled":[]}`}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("extras (-want +got):\n%s", diff)
			}
			if e.UserID != "u1" || !e.ReceivedAt.Equal(at) {
				t.Fatalf("a member named like a field changed it: userId %q, receivedAt %v", e.UserID, e.ReceivedAt)
			}
			out, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var top map[string]any
			json.Unmarshal(out, &top)
			if top["channel"] != "server" || top["version"] != 2.0 || top["writeKey"] != nil || top["UserID"] != nil {
				t.Fatalf("API form: %s", out)
			}
			stored, err := s.FindStoredEvents(context.Background(), 0, 1<<62, 10)
			if err != nil || len(stored) != 1 || len(stored[0].Extra) != 3 {
				t.Fatalf("stored events for a replay: %v %v", stored, err)
			}
		})
	}
}

// bothStores opens a new, empty store of each kind, by name.
func bothStores() map[string]func(t *testing.T) mosaic.Store {
	return map[string]func(t *testing.T) mosaic.Store{
		"sqlite": func(t *testing.T) mosaic.Store {
			db := sqlite.NewDB(t.TempDir())
			if err := db.Open(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
		"postgres": func(t *testing.T) mosaic.Store { return pgtest.Open(t) },
	}
}

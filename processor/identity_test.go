package processor_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/processor"
	"github.com/mosaic-cdp/mosaic/sqlite"
	"github.com/mosaic-cdp/mosaic/traits"
)

// pipeline is a store with a processor running the dedupe and identity stages.
type pipeline struct {
	t    *testing.T
	db   *sqlite.DB
	norm *identity.Normalizer
	src  map[string]mosaic.SourceID
	seq  int
	// traits are the survivorship rules the processor runs with (signup_source earliest if nil).
	traits *traits.Config
	// replayPage and maxComponent are the identity stage's ReplayPage and MaxComponent.
	replayPage, maxComponent int
}

func newPipeline(t *testing.T, cfg identity.Config) *pipeline {
	t.Helper()
	n, err := identity.NewNormalizer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline{t: t, db: openDB(t), norm: n, src: map[string]mosaic.SourceID{}}
}

func (p *pipeline) source(name string) mosaic.SourceID {
	if id, ok := p.src[name]; ok {
		return id
	}
	s := &mosaic.Source{Name: name}
	if err := p.db.CreateSource(context.Background(), s); err != nil {
		p.t.Fatal(err)
	}
	p.src[name] = s.ID
	return s.ID
}

// send appends raw Segment events (from source src) to the inbox and processes them in
// batches of batchSize.
func (p *pipeline) send(batchSize int, evs ...sent) {
	p.t.Helper()
	ctx := context.Background()
	var recs []*mosaic.InboxRecord
	for _, e := range evs {
		p.seq++
		id := e.id
		if id == "" {
			id = fmt.Sprintf("msg-%d", p.seq)
		}
		recs = append(recs, &mosaic.InboxRecord{SourceID: p.source(e.src), MessageID: id, ReceivedAt: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), Payload: []byte(e.body)})
	}
	if err := p.db.AppendInbox(ctx, recs); err != nil {
		p.t.Fatal(err)
	}
	proc := &processor.Processor{Store: p.db, BatchSize: batchSize, Poll: time.Millisecond, Stages: []processor.Stage{
		&processor.Dedupe{Store: p.db},
		&processor.Identity{Store: p.db, Normalizer: p.norm, Traits: cmp.Or(p.traits, &traits.Config{Rules: map[string]traits.Rule{"signup_source": traits.Earliest}}),
			ReplayPage: p.replayPage, MaxComponent: p.maxComponent},
	}}
	proc.Open()
	defer proc.Close()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := proc.Drain(dctx); err != nil {
		p.t.Fatal(err)
	}
	if st, _ := p.db.Stats(ctx); st.InboxLag != 0 {
		p.t.Fatalf("inbox lag %d after drain (processing failed?)", st.InboxLag)
	}
}

type sent struct{ src, id, body string }

// block records a steward's block of two identifiers (as POST …/split does); the next send
// applies it.
func (p *pipeline) block(a, b mosaic.Identifier, reason string) {
	p.t.Helper()
	ctx := context.Background()
	secret, _ := p.db.IdentitySecret(ctx)
	ka, kb := identity.Key(secret, a), identity.Key(secret, b)
	if kb < ka {
		ka, kb = kb, ka
	}
	if err := p.db.AddIdentityConstraint(ctx, &mosaic.IdentityConstraint{A: ka, B: kb, Reason: reason}); err != nil {
		p.t.Fatal(err)
	}
}

// replayUnder switches the processor to the identity rules cfg and replays every stored
// event under them, in batches of batchSize.
func (p *pipeline) replayUnder(cfg identity.Config, batchSize int) {
	p.t.Helper()
	n, err := identity.NewNormalizer(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	p.norm = n
	if _, err := p.db.QueueIdentityReplay(context.Background()); err != nil {
		p.t.Fatal(err)
	}
	p.send(batchSize)
}

func (p *pipeline) lookup(typ mosaic.IdentifierType, raw string) *mosaic.Profile {
	p.t.Helper()
	ctx := context.Background()
	v, err := p.norm.Normalize(typ, raw)
	if err != nil {
		p.t.Fatal(err)
	}
	secret, _ := p.db.IdentitySecret(ctx)
	prof, err := p.db.FindProfileByIdentifier(ctx, identity.Key(secret, mosaic.Identifier{Type: typ, Value: v}))
	if err != nil {
		p.t.Fatalf("lookup %s %s: %v", typ, raw, err)
	}
	return prof
}

// partition returns every live profile as its sorted identifiers plus its traits.
func (p *pipeline) partition() []string {
	p.t.Helper()
	var out []string
	cursor := ""
	for {
		ps, next, err := p.db.FindProfiles(context.Background(), mosaic.ProfileFilter{Limit: 500, Cursor: cursor})
		if err != nil {
			p.t.Fatal(err)
		}
		for _, pr := range ps {
			var ids []string
			for _, id := range pr.Identifiers {
				ids = append(ids, id.String())
			}
			tr, _ := json.Marshal(pr.Traits)
			out = append(out, strings.Join(ids, " ")+" "+string(tr)+" groups="+strings.Join(pr.Groups, ","))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	slices.Sort(out)
	return out
}

func TestCustomerJourneyIsOneProfile(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.DefaultRegion = "DK"
	p := newPipeline(t, cfg)
	// The CRM export and the till arrive first; the web journey later links them all.
	// One event per batch, so separate profiles form first and merge later.
	p.send(1,
		sent{"crm", "", `{"type":"identify","anonymousId":"crm-4711","traits":{"email":"  ADA@Example.COM ","phone":"20 12 34 56","plan":"pro","signup_source":"crm"},"timestamp":"2026-10-15T00:00:00Z"}`},
		sent{"till", "", `{"type":"track","event":"Order Completed","anonymousId":"till-card-33","context":{"traits":{"phone":"+45 20 12 34 56"}},"properties":{"revenue":120},"timestamp":"2026-11-03T15:00:00Z"}`},
		sent{"web", "", `{"type":"page","anonymousId":"web-anon-1","name":"Pricing","timestamp":"2026-11-01T10:00:00Z"}`},
		sent{"app", "", `{"type":"track","event":"App Opened","userId":"ada-1","anonymousId":"ios-device-9","timestamp":"2026-11-02T08:00:00Z"}`},
		sent{"web", "", `{"type":"identify","userId":"ada-1","anonymousId":"web-anon-1","traits":{"email":"ada@example.com","name":"Ada Lovelace","plan":"free","signup_source":"web"},"timestamp":"2026-11-01T10:05:00Z"}`},
		sent{"helpdesk", "", `{"type":"track","event":"Ticket Opened","anonymousId":"zendesk-77","context":{"traits":{"email":"ada@example.com"}},"timestamp":"2026-11-04T09:00:00Z"}`},
		// A late event from before the sign-up must not overwrite newer traits.
		sent{"web", "", `{"type":"identify","userId":"ada-1","traits":{"plan":"trial"},"timestamp":"2026-10-01T00:00:00Z"}`},
	)
	prof := p.lookup(mosaic.IdentifierEmail, "Ada@Example.com")
	for _, id := range []struct {
		t mosaic.IdentifierType
		v string
	}{{"user_id", "ada-1"}, {"anonymous_id", "web-anon-1"}, {"anonymous_id", "ios-device-9"}, {"anonymous_id", "crm-4711"},
		{"phone", "20123456"}, {"anonymous_id", "till-card-33"}, {"anonymous_id", "zendesk-77"}} {
		if got := p.lookup(id.t, id.v); got.ID != prof.ID {
			t.Errorf("%s %s is in profile %s, want %s", id.t, id.v, got.ID, prof.ID)
		}
	}
	if got := string(prof.Traits["plan"]); got != `"free"` {
		// identify 2026-11-01 said free, the CRM (2026-10-15) pro, the late event (2026-10-01) trial.
		t.Errorf("plan=%s, want the latest by event time (\"free\")", got)
	}
	if got := string(prof.Traits["signup_source"]); got != `"crm"` {
		t.Errorf("signup_source=%s, want the earliest (\"crm\")", got)
	}
	if src := prof.TraitSources["plan"]; src.SourceID != p.src["web"] || src.Rule != "latest" {
		t.Errorf("plan provenance: %+v", src)
	}
	evs, _, err := p.db.FindEvents(context.Background(), mosaic.EventFilter{ProfileID: prof.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 7 {
		t.Errorf("timeline has %d events, want all 7 from 5 sources", len(evs))
	}
	st, _ := p.db.Stats(context.Background())
	if st.Profiles != 1 || st.Merges < 2 {
		t.Errorf("stats: %d live profiles, %d merges; want 1 profile", st.Profiles, st.Merges)
	}
}

func TestTraps(t *testing.T) {
	p := newPipeline(t, identity.DefaultConfig())
	var kiosk []sent
	for i := 0; i < 50; i++ {
		kiosk = append(kiosk, sent{"store", "", fmt.Sprintf(`{"type":"track","event":"Checked In","userId":"member-%02d","anonymousId":"kiosk-1","timestamp":"2026-11-01T10:%02d:00Z"}`, i, i)})
	}
	p.send(20, kiosk...)
	p.send(100,
		sent{"app", "", `{"type":"identify","userId":"anna","traits":{"email":"family@example.com"},"timestamp":"2026-11-01T10:00:00Z"}`},
		sent{"app", "", `{"type":"identify","userId":"ben","traits":{"email":"family@example.com"},"timestamp":"2026-11-01T11:00:00Z"}`},
		sent{"web", "", `{"type":"identify","userId":"carl","traits":{"email":"test@test.com"}}`},
		sent{"web", "", `{"type":"identify","userId":"dora","traits":{"email":"TEST@test.com"}}`},
	)
	if a, b := p.lookup("user_id", "anna"), p.lookup("user_id", "ben"); a.ID == b.ID {
		t.Errorf("siblings sharing a family email were merged into %s", a.ID)
	}
	if c, d := p.lookup("user_id", "carl"), p.lookup("user_id", "dora"); c.ID == d.ID {
		t.Errorf("a test@test.com placeholder merged carl and dora")
	}
	seen := map[mosaic.ProfileID]bool{}
	for i := 0; i < 50; i++ {
		seen[p.lookup("user_id", fmt.Sprintf("member-%02d", i)).ID] = true
	}
	if len(seen) != 50 {
		t.Errorf("kiosk members ended in %d profiles, want 50", len(seen))
	}
	ctx := context.Background()
	secret, _ := p.db.IdentitySecret(ctx)
	recs, _ := p.db.FindIdentifiers(ctx, []mosaic.IdentifierKey{identity.Key(secret, mosaic.Identifier{Type: "anonymous_id", Value: "kiosk-1"})})
	if len(recs) != 1 || !recs[0].Hub {
		t.Errorf("kiosk anonymousId not flagged as a hub: %+v", recs)
	}
	st, _ := p.db.Stats(ctx)
	if st.RefusedLinks == 0 || st.InvalidIdentifiers < 2 {
		t.Errorf("stats: refused=%d invalid=%d", st.RefusedLinks, st.InvalidIdentifiers)
	}
}

// TestOrderIndependence resolves the same events in random orders and batch sizes and finds
// the same profiles with the same traits every time.
func TestOrderIndependence(t *testing.T) {
	seeds := 8
	if testing.Short() {
		seeds = 3
	}
	for seed := uint64(0); seed < uint64(seeds); seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		var evs []sent
		for i := 0; i < 80; i++ {
			var fields []string
			if rng.IntN(2) == 0 {
				fields = append(fields, fmt.Sprintf(`"userId":"u%d"`, rng.IntN(6)))
			}
			fields = append(fields, fmt.Sprintf(`"anonymousId":"a%d"`, rng.IntN(15)))
			tr := []string{fmt.Sprintf(`"plan":"p%d"`, rng.IntN(3))}
			if rng.IntN(3) == 0 {
				tr = append(tr, fmt.Sprintf(`"email":"e%d@example.com"`, rng.IntN(5)))
			}
			if rng.IntN(4) == 0 {
				tr = append(tr, fmt.Sprintf(`"signup_source":"s%d"`, rng.IntN(3)))
			}
			ts := fmt.Sprintf(`"timestamp":"2026-11-01T10:%02d:%02dZ"`, rng.IntN(60), rng.IntN(60))
			typ := `"type":"identify"`
			if rng.IntN(8) == 0 && strings.Contains(fields[0], "userId") {
				typ = `"type":"alias","previousId":"u` + fmt.Sprint(rng.IntN(6)) + `"`
			} else if rng.IntN(8) == 0 {
				typ = `"type":"group","groupId":"g` + fmt.Sprint(rng.IntN(3)) + `"`
			}
			body := "{" + strings.Join(append([]string{typ, ts, `"traits":{` + strings.Join(tr, ",") + `}`}, fields...), ",") + "}"
			evs = append(evs, sent{"web", fmt.Sprintf("m%03d", i), body})
		}
		var want []string
		for run := 0; run < 3; run++ {
			order := slices.Clone(evs)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			p := newPipeline(t, identity.DefaultConfig())
			for start := 0; start < len(order); {
				n := 1 + rng.IntN(25)
				end := min(start+n, len(order))
				p.send(1+rng.IntN(10), order[start:end]...)
				start = end
			}
			got := p.partition()
			if run == 0 {
				want = got
				continue
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Fatalf("seed %d run %d: profiles differ by arrival order (-first +this):\n%s", seed, run, diff)
			}
		}
	}
}

func TestSplitUndoesAWrongMergeAndStays(t *testing.T) {
	p := newPipeline(t, identity.DefaultConfig())
	p.send(1,
		sent{"app", "", `{"type":"identify","userId":"u1","traits":{"email":"shared@example.com","plan":"pro"},"timestamp":"2026-11-01T10:00:00Z"}`},
		sent{"helpdesk", "", `{"type":"identify","anonymousId":"h1","traits":{"email":"shared@example.com","plan":"free","city":"Oslo"},"timestamp":"2026-11-02T10:00:00Z"}`},
	)
	merged := p.lookup("user_id", "u1")
	if p.lookup("anonymous_id", "h1").ID != merged.ID || string(merged.Traits["city"]) != `"Oslo"` {
		t.Fatalf("setup: not merged: %+v", merged)
	}
	ctx := context.Background()
	secret, _ := p.db.IdentitySecret(ctx)
	key := func(t mosaic.IdentifierType, v string) mosaic.IdentifierKey {
		return identity.Key(secret, mosaic.Identifier{Type: t, Value: v})
	}
	// The steward removes the shared email from merging.
	if err := p.db.AddIdentityConstraint(ctx, &mosaic.IdentityConstraint{A: key("email", "shared@example.com"), Reason: "shared inbox"}); err != nil {
		t.Fatal(err)
	}
	p.send(1)
	u1, h1 := p.lookup("user_id", "u1"), p.lookup("anonymous_id", "h1")
	if u1.ID == h1.ID {
		t.Fatalf("still one profile after the split: %s", u1.ID)
	}
	if string(u1.Traits["plan"]) != `"pro"` || u1.Traits["city"] != nil || u1.Traits["email"] != nil {
		t.Errorf("u1 traits after split: %s (the email, removed from merging, is no longer its)", mustJSON(u1.Traits))
	}
	if string(h1.Traits["city"]) != `"Oslo"` {
		t.Errorf("h1 traits after split: %s", mustJSON(h1.Traits))
	}
	evs, _, _ := p.db.FindEvents(ctx, mosaic.EventFilter{ProfileID: h1.ID})
	if len(evs) != 1 || evs[0].AnonymousID != "h1" {
		t.Errorf("h1's timeline: %d events", len(evs))
	}
	// New evidence of the same link (a replay, a new event) does not undo the split.
	p.send(5, sent{"helpdesk", "", `{"type":"identify","anonymousId":"h1","userId":"","traits":{"email":"shared@example.com"},"timestamp":"2026-11-05T10:00:00Z"}`},
		sent{"app", "", `{"type":"identify","userId":"u1","traits":{"email":"shared@example.com"},"timestamp":"2026-11-06T10:00:00Z"}`})
	if p.lookup("user_id", "u1").ID == p.lookup("anonymous_id", "h1").ID {
		t.Fatal("the split did not stay split")
	}
	// The steward lifts the split: the links join the two again, under the first id, with
	// both sides' traits.
	if err := p.db.RemoveIdentityConstraint(ctx, key("email", "shared@example.com"), ""); err != nil {
		t.Fatal(err)
	}
	p.send(1)
	u1, h1 = p.lookup("user_id", "u1"), p.lookup("anonymous_id", "h1")
	if u1.ID != h1.ID || u1.ID != merged.ID {
		t.Fatalf("after lifting the split: u1 in %s, h1 in %s, want both in %s", u1.ID, h1.ID, merged.ID)
	}
	if string(u1.Traits["city"]) != `"Oslo"` || string(u1.Traits["email"]) != `"shared@example.com"` {
		t.Errorf("traits after lifting the split: %s", mustJSON(u1.Traits))
	}
}

// TestAliasJoinsAnonymousHistory: an alias call whose previousId is a visitor's anonymous id
// joins that visitor's history to the user even when the call carries no anonymousId (a
// server-side call), and one whose previousId is an earlier user id merges that user.
func TestAliasJoinsAnonymousHistory(t *testing.T) {
	p := newPipeline(t, identity.DefaultConfig())
	p.send(1,
		sent{"web", "", `{"type":"track","anonymousId":"anon-erin","event":"Viewed Product","timestamp":"2026-11-01T10:00:00Z"}`},
		sent{"crm", "", `{"type":"identify","userId":"old-42","traits":{"plan":"pro"},"timestamp":"2026-11-01T10:00:00Z"}`},
	)
	p.send(1,
		sent{"api", "", `{"type":"alias","previousId":"anon-erin","userId":"erin","timestamp":"2026-11-01T11:00:00Z"}`},
		sent{"api", "", `{"type":"alias","previousId":"old-42","userId":"new-42","timestamp":"2026-11-01T11:00:00Z"}`},
	)
	if a, u := p.lookup("anonymous_id", "anon-erin"), p.lookup("user_id", "erin"); a.ID != u.ID {
		t.Errorf("anon-erin is %s, erin is %s: the alias did not join the anonymous history", a.ID, u.ID)
	}
	old, nw := p.lookup("user_id", "old-42"), p.lookup("user_id", "new-42")
	if old.ID != nw.ID || string(nw.Traits["plan"]) != `"pro"` {
		t.Errorf("old-42 is %s, new-42 is %s (traits %s): the alias did not merge the earlier user", old.ID, nw.ID, mustJSON(nw.Traits))
	}
}

// TestBlockedPairKeepsTheIDWithTheUser: blocking the link of a one-customer profile between
// its user id and its email splits it in two parts as large; the profile id (and so every
// reference to it) stays with the user id, which holds the events and traits, not with the
// email.
func TestBlockedPairKeepsTheIDWithTheUser(t *testing.T) {
	p := newPipeline(t, identity.DefaultConfig())
	p.send(1, sent{"app", "", `{"type":"identify","userId":"zed","traits":{"email":"zed@example.com","name":"Zed"},"timestamp":"2026-11-01T10:00:00Z"}`})
	before := p.lookup("user_id", "zed")
	p.block(mosaic.Identifier{Type: "user_id", Value: "zed"}, mosaic.Identifier{Type: "email", Value: "zed@example.com"}, "wrong link")
	p.send(1)
	user, email := p.lookup("user_id", "zed"), p.lookup("email", "zed@example.com")
	if user.ID == email.ID {
		t.Fatal("not split")
	}
	if user.ID != before.ID || string(user.Traits["name"]) != `"Zed"` {
		t.Errorf("user side: id %s (was %s), traits %s; want the id kept with the user", user.ID, before.ID, mustJSON(user.Traits))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// flakyStore fails every third commit, as a store outage would.
type flakyStore struct {
	*sqlite.DB
	commits int
}

func (f *flakyStore) CommitEvents(ctx context.Context, c *mosaic.EventCommit) (*mosaic.CommitResult, error) {
	f.commits++
	if f.commits%3 == 0 {
		return nil, errors.New("disk on fire")
	}
	return f.DB.CommitEvents(ctx, c)
}

// TestFailedCommitsRedoTheirBatches runs batches that build on each other (later events
// merge profiles earlier ones created) through a store whose commits fail now and then: the
// batch prepared behind a failed one is redone too, and the profiles are those of a run
// without failures.
func TestFailedCommitsRedoTheirBatches(t *testing.T) {
	var evs []sent
	for i := 0; i < 120; i++ {
		u := i % 17
		body := fmt.Sprintf(`{"type":"identify","anonymousId":"a%d","traits":{"email":"c%d@example.com","n":%d},"timestamp":"2026-11-01T10:%02d:%02dZ"}`, i%29, u, i, i/60, i%60)
		if i%4 == 0 {
			body = fmt.Sprintf(`{"type":"identify","userId":"u%d","anonymousId":"a%d","traits":{"n":%d},"timestamp":"2026-11-01T10:%02d:%02dZ"}`, u, i%29, i, i/60, i%60)
		}
		evs = append(evs, sent{"web", fmt.Sprintf("m%03d", i), body})
	}
	clean := newPipeline(t, identity.DefaultConfig())
	clean.send(7, evs...)

	p := newPipeline(t, identity.DefaultConfig())
	ctx := context.Background()
	var recs []*mosaic.InboxRecord
	for _, e := range evs {
		recs = append(recs, &mosaic.InboxRecord{SourceID: p.source(e.src), MessageID: e.id, ReceivedAt: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), Payload: []byte(e.body)})
	}
	if err := p.db.AppendInbox(ctx, recs); err != nil {
		t.Fatal(err)
	}
	fs := &flakyStore{DB: p.db}
	proc := &processor.Processor{Store: fs, BatchSize: 7, Poll: time.Millisecond, Stages: []processor.Stage{
		&processor.Dedupe{Store: p.db},
		&processor.Identity{Store: p.db, Normalizer: p.norm, Traits: &traits.Config{Rules: map[string]traits.Rule{"signup_source": traits.Earliest}}},
	}}
	proc.Open()
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := proc.Drain(dctx)
	proc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if fs.commits < 20 {
		t.Fatalf("only %d commits: the failures were not exercised", fs.commits)
	}
	if diff := gocmp.Diff(clean.partition(), p.partition()); diff != "" {
		t.Errorf("profiles after failed commits differ (-clean +flaky):\n%s", diff)
	}
	want, _ := clean.db.Stats(ctx)
	got, _ := p.db.Stats(ctx)
	if got.Events != want.Events || got.Duplicates != 0 || got.Profiles != want.Profiles || got.Merges != want.Merges {
		t.Errorf("stats: %+v, want as clean %+v", got, want)
	}
}

// TestAnotherCustomersEmailIsNotShown: an event on a shared device carries someone else's
// email; the link is refused (it would give one profile two user ids), and the device's
// profile takes the event's other traits but does not show the email, which stays with its
// owner. Sent in either order, the profiles are the same.
func TestAnotherCustomersEmailIsNotShown(t *testing.T) {
	evs := []sent{
		{"web", "m1", `{"type":"identify","userId":"dan","anonymousId":"kiosk-1","traits":{"first_name":"Dan"},"timestamp":"2026-11-01T10:00:00Z"}`},
		{"app", "m2", `{"type":"identify","userId":"eve","traits":{"email":"Eve@Example.com","first_name":"Eve"},"timestamp":"2026-11-01T11:00:00Z"}`},
		{"web", "m3", `{"type":"identify","anonymousId":"kiosk-1","traits":{"email":"eve@example.com","plan":"pro"},"timestamp":"2026-11-01T12:00:00Z"}`},
	}
	var want []string
	for run, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
		p := newPipeline(t, identity.DefaultConfig())
		for _, i := range order {
			p.send(1, evs[i])
		}
		dan, eve := p.lookup("user_id", "dan"), p.lookup("user_id", "eve")
		if dan.ID == eve.ID {
			t.Fatalf("order %v: dan and eve merged", order)
		}
		if dan.Traits["email"] != nil || string(dan.Traits["plan"]) != `"pro"` {
			t.Errorf("order %v: dan's traits %s, want plan but not eve's email", order, mustJSON(dan.Traits))
		}
		if _, ok := dan.TraitSources["email"]; ok {
			t.Errorf("order %v: dan keeps a source for the hidden email", order)
		}
		if string(eve.Traits["email"]) != `"Eve@Example.com"` {
			t.Errorf("order %v: eve's traits %s", order, mustJSON(eve.Traits))
		}
		got := p.partition()
		if run == 0 {
			want = got
		} else if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("order %v: profiles differ (-first +this):\n%s", order, diff)
		}
	}
}

// TestHiddenEmailFallsBackToTheProfilesOwn: two siblings give their own email, then the
// family's. The family email belongs to the one who gave it first (Anna); Ben's latest
// email is hers, so his profile shows the email he gave before it, his own, with its
// provenance, in any order and batch size. A deletion after his own email leaves none.
func TestHiddenEmailFallsBackToTheProfilesOwn(t *testing.T) {
	evs := []sent{
		{"app", "m1", `{"type":"identify","userId":"anna","traits":{"email":"anna@example.com"},"timestamp":"2026-11-01T09:00:00Z"}`},
		{"app", "m2", `{"type":"identify","userId":"ben","traits":{"email":"ben@example.com"},"timestamp":"2026-11-01T09:30:00Z"}`},
		{"app", "m3", `{"type":"identify","userId":"anna","traits":{"email":"family@example.com"},"timestamp":"2026-11-02T10:00:00Z"}`},
		{"app", "m4", `{"type":"identify","userId":"ben","traits":{"email":"Family@Example.com"},"timestamp":"2026-11-03T10:00:00Z"}`},
		{"web", "m5", `{"type":"identify","userId":"ben","traits":{"email":"kiosk@shop.example"},"timestamp":"2026-11-04T10:00:00Z"}`},
		{"web", "m6", `{"type":"identify","userId":"kiosk","traits":{"email":"kiosk@shop.example"},"timestamp":"2026-10-01T10:00:00Z"}`},
	}
	for _, tc := range []struct {
		order []int
		batch int
	}{{[]int{0, 1, 2, 3, 4, 5}, 6}, {[]int{5, 4, 3, 2, 1, 0}, 1}, {[]int{3, 0, 4, 2, 5, 1}, 2}} {
		p := newPipeline(t, identity.DefaultConfig())
		var in []sent
		for _, i := range tc.order {
			in = append(in, evs[i])
		}
		p.send(tc.batch, in...)
		anna, ben := p.lookup("user_id", "anna"), p.lookup("user_id", "ben")
		if anna.ID == ben.ID {
			t.Fatalf("order %v: siblings merged", tc.order)
		}
		if got := string(anna.Traits["email"]); got != `"family@example.com"` {
			t.Errorf("order %v: anna's email %s, want the family's", tc.order, got)
		}
		// Ben's two latest emails are the kiosk's and Anna's: his own shows.
		if got := string(ben.Traits["email"]); got != `"ben@example.com"` {
			t.Errorf("order %v: ben's email %s, want his own (traits %s)", tc.order, got, mustJSON(ben.Traits))
		}
		if src := ben.TraitSources["email"]; src.MessageID != "m2" {
			t.Errorf("order %v: ben's email cites %+v, want m2", tc.order, src)
		}
	}

	// A deletion after his own email: nothing shows.
	p := newPipeline(t, identity.DefaultConfig())
	p.send(10, evs[0], evs[1], evs[2], evs[3],
		sent{"app", "m7", `{"type":"identify","userId":"ben","traits":{"email":null},"timestamp":"2026-11-02T09:00:00Z"}`})
	if ben := p.lookup("user_id", "ben"); ben.Traits["email"] != nil {
		t.Errorf("ben deleted his email before giving the family's: traits %s", mustJSON(ben.Traits))
	}
}

// TestSearchFindsNestedTraits: profile search finds values inside Segment's nested traits
// (address.city, company.name and its words) and in lists (tags).
func TestSearchFindsNestedTraits(t *testing.T) {
	p := newPipeline(t, identity.DefaultConfig())
	p.send(10, sent{"web", "", `{"type":"identify","userId":"u1","traits":{"address":{"city":"Aalborg","postalCode":"9000"},"tags":["vip","beta"],"company":{"name":"Acme Rockets"},"plan":"pro"}}`},
		sent{"web", "", `{"type":"identify","userId":"u2","traits":{"plan":"free"}}`})
	u1 := p.lookup("user_id", "u1")
	for _, q := range []string{"aalb", "9000", "vip", "beta", "acme rockets", "rockets", "pro"} {
		ps, _, err := p.db.FindProfiles(context.Background(), mosaic.ProfileFilter{Q: q})
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || ps[0].ID != u1.ID {
			t.Errorf("search %q: %d profiles, want u1's", q, len(ps))
		}
	}
}

// TestEmailOverTheLimitIsStillShown: a customer's sixth email cannot be linked (five is the
// limit), but it is still the email they gave last: the profile shows it, in any order and
// batch size. (Another customer's email stays hidden: TestAnotherCustomersEmailIsNotShown.)
func TestEmailOverTheLimitIsStillShown(t *testing.T) {
	var evs []sent
	for i := 1; i <= 7; i++ {
		evs = append(evs, sent{"web", fmt.Sprintf("m%d", i), fmt.Sprintf(`{"type":"identify","userId":"multi","traits":{"email":"m%d@example.org","name":"Multi"},"timestamp":"2026-11-0%dT10:00:00Z"}`, i, i)})
	}
	for _, tc := range []struct {
		order []int
		batch int
	}{{[]int{0, 1, 2, 3, 4, 5, 6}, 7}, {[]int{6, 5, 4, 3, 2, 1, 0}, 1}, {[]int{3, 6, 0, 5, 1, 4, 2}, 2}} {
		p := newPipeline(t, identity.DefaultConfig())
		var in []sent
		for _, i := range tc.order {
			in = append(in, evs[i])
		}
		p.send(tc.batch, in...)
		multi := p.lookup("user_id", "multi")
		if got := string(multi.Traits["email"]); got != `"m7@example.org"` {
			t.Errorf("order %v: email trait %s, want the latest, m7 (traits %s)", tc.order, got, mustJSON(multi.Traits))
		}
		if src, ok := multi.TraitSources["email"]; !ok || src.MessageID != "m7" {
			t.Errorf("order %v: email source %+v", tc.order, src)
		}
		emails := 0
		for _, id := range multi.Identifiers {
			if id.Type == mosaic.IdentifierEmail {
				emails++
			}
		}
		if emails != 5 {
			t.Errorf("order %v: %d emails linked, want the limit, 5", tc.order, emails)
		}
	}
}

// TestRebuildAppliesChangedRules: profiles built under one survivorship rule keep their values
// when the rule changes (a rule applies from the next observation) until they are rebuilt
// from their events, which a queued rebuild does: for every profile, or for one, alongside
// new events, and whatever the batch size.
func TestRebuildAppliesChangedRules(t *testing.T) {
	for _, batch := range []int{1, 3, 100} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			ctx := context.Background()
			p := newPipeline(t, identity.DefaultConfig())
			p.traits = &traits.Config{}
			p.send(batch,
				sent{"crm", "crm-1", `{"type":"identify","userId":"u1","traits":{"plan":"free","email":"ada@example.com"},"timestamp":"2026-01-01T10:00:00Z"}`},
				sent{"web", "", `{"type":"identify","anonymousId":"a1","traits":{"email":"ada@example.com","city":"Oslo"},"timestamp":"2026-02-01T10:00:00Z"}`},
				sent{"app", "", `{"type":"identify","userId":"u1","traits":{"plan":"pro"},"timestamp":"2026-03-01T10:00:00Z"}`},
				sent{"crm", "crm-2", `{"type":"identify","userId":"u2","traits":{"plan":"basic"},"timestamp":"2026-01-01T10:00:00Z"}`},
				sent{"app", "", `{"type":"identify","userId":"u2","traits":{"plan":"team"},"timestamp":"2026-04-01T10:00:00Z"}`},
				sent{"crm", "grp-1", `{"type":"group","userId":"u1","groupId":"g1","traits":{"employees":50,"industry":"games"},"timestamp":"2026-02-01T10:00:00Z"}`},
				sent{"crm", "grp-2", `{"type":"group","userId":"u2","groupId":"g1","traits":{"employees":5,"industry":"toys"},"timestamp":"2026-01-01T10:00:00Z"}`},
			)
			u1 := p.lookup("user_id", "u1")
			if p.lookup("anonymous_id", "a1").ID != u1.ID || string(u1.Traits["plan"]) != `"pro"` {
				t.Fatalf("setup: %s %s", u1.ID, mustJSON(u1.Traits))
			}
			// The rule changes; new events follow it, the stored profiles do not yet.
			if g, err := p.db.FindGroupByID(ctx, "g1"); err != nil || string(g.Traits["employees"]) != `50` {
				t.Fatalf("setup: group g1 %+v, %v", g, err)
			}
			p.traits = &traits.Config{Rules: map[string]traits.Rule{"plan": traits.Earliest, "employees": traits.Max, "industry": traits.Earliest}}
			p.send(batch, sent{"web", "", `{"type":"identify","userId":"u3","traits":{"plan":"x"},"timestamp":"2026-01-01T10:00:00Z"}`})
			if got := p.lookup("user_id", "u1").Traits["plan"]; string(got) != `"pro"` {
				t.Fatalf("u1's plan changed without a rebuild: %s", got)
			}
			n, err := p.db.QueueProfileRebuild(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n != 3 {
				t.Fatalf("queued %d profiles, want 3 (u1 with a1, u2, u3)", n)
			}
			if again, _ := p.db.QueueProfileRebuild(ctx, nil); again != 0 {
				t.Errorf("queueing again queued %d more", again)
			}
			if st, _ := p.db.Stats(ctx); st.PendingRebuilds != 3 {
				t.Errorf("stats pending_rebuilds %d, want 3", st.PendingRebuilds)
			}
			before := p.partition()
			p.send(batch)
			u1 = p.lookup("user_id", "u1")
			if string(u1.Traits["plan"]) != `"free"` || string(u1.Traits["city"]) != `"Oslo"` || string(u1.Traits["email"]) != `"ada@example.com"` {
				t.Errorf("u1 after the rebuild: %s, want the earliest plan and the other traits kept", mustJSON(u1.Traits))
			}
			if src := u1.TraitSources["plan"]; src.MessageID != "crm-1" || src.SourceID != p.source("crm") {
				t.Errorf("u1's plan cites %+v, want crm-1 from crm", src)
			}
			if p.lookup("anonymous_id", "a1").ID != u1.ID {
				t.Error("the rebuild split u1 from a1")
			}
			if got := p.lookup("user_id", "u2").Traits["plan"]; string(got) != `"basic"` {
				t.Errorf("u2's plan after the rebuild: %s", got)
			}
			g, err := p.db.FindGroupByID(ctx, "g1")
			if err != nil || string(g.Traits["employees"]) != `50` || string(g.Traits["industry"]) != `"toys"` || g.TraitSources["industry"].MessageID != "grp-2" {
				t.Errorf("group g1 after the rebuild: %+v, %v (want max employees 50, earliest industry toys from grp-2)", g, err)
			}
			if pending, _ := p.db.PendingGroupRebuild(ctx); pending {
				t.Error("the group rebuild is still pending")
			}
			if st, _ := p.db.Stats(ctx); st.PendingRebuilds != 0 || st.Profiles != 3 {
				t.Errorf("after the rebuild: pending %d, profiles %d", st.PendingRebuilds, st.Profiles)
			}
			after := p.partition()
			if diff := gocmp.Diff(len(before), len(after)); diff != "" {
				t.Errorf("profiles changed in number: %s", diff)
			}

			// One profile, queued beside new events for it: the rebuild reads the stored
			// events and the batch's own are folded in after.
			p.traits = &traits.Config{} // back to latest
			u2 := p.lookup("user_id", "u2")
			if n, err := p.db.QueueProfileRebuild(ctx, []mosaic.ProfileID{u2.ID, "prof_none"}); err != nil || n != 1 {
				t.Fatalf("queue one: %d, %v", n, err)
			}
			p.send(batch, sent{"web", "", `{"type":"identify","userId":"u2","traits":{"city":"Bergen"},"timestamp":"2026-05-01T10:00:00Z"}`})
			u2 = p.lookup("user_id", "u2")
			if string(u2.Traits["plan"]) != `"team"` || string(u2.Traits["city"]) != `"Bergen"` {
				t.Errorf("u2 after its rebuild: %s, want the latest plan and the new city", mustJSON(u2.Traits))
			}
			if got := p.lookup("user_id", "u1").Traits["plan"]; string(got) != `"free"` {
				t.Errorf("u1 was not queued but changed: %s", got)
			}
		})
	}
}

// TestSplitGivesEachPartItsOwnProfileBack: undoing a merge is a true unmerge. Each part keeps
// the profile its identifiers came from (a merged-away id comes back to life for its own
// customer), merged_from lists only what a part holds, and lifting the split merges again.
func TestSplitGivesEachPartItsOwnProfileBack(t *testing.T) {
	for _, batch := range []int{1, 10} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			ctx := context.Background()
			p := newPipeline(t, identity.DefaultConfig())
			p.send(batch, sent{"app", "", `{"type":"identify","userId":"q1","traits":{"email":"q@example.com","plan":"pro"},"timestamp":"2026-11-01T10:00:00Z"}`})
			p.send(batch, sent{"web", "", `{"type":"identify","anonymousId":"qa","traits":{"city":"Odense"},"timestamp":"2026-11-02T10:00:00Z"}`})
			p.send(batch, sent{"web", "", `{"type":"identify","userId":"ada","traits":{"name":"Ada"},"timestamp":"2026-11-02T11:00:00Z"}`})
			p1, p2, pAda := p.lookup("user_id", "q1").ID, p.lookup("anonymous_id", "qa").ID, p.lookup("user_id", "ada").ID
			// The visitor gives the email (one profile), and ada's device is seen with it too.
			p.send(batch, sent{"web", "", `{"type":"identify","anonymousId":"qa","traits":{"email":"q@example.com"},"timestamp":"2026-11-03T10:00:00Z"}`},
				sent{"web", "", `{"type":"track","event":"Seen","anonymousId":"qa","userId":"ada","timestamp":"2026-11-03T11:00:00Z"}`})
			if id := p.lookup("user_id", "q1").ID; id != p.lookup("anonymous_id", "qa").ID {
				t.Fatalf("setup: not merged")
			}
			secret, _ := p.db.IdentitySecret(ctx)
			key := func(t mosaic.IdentifierType, v string) mosaic.IdentifierKey {
				return identity.Key(secret, mosaic.Identifier{Type: t, Value: v})
			}
			check := func(step string, want map[string]mosaic.ProfileID) {
				t.Helper()
				for ref, id := range want {
					typ, val, _ := strings.Cut(ref, ":")
					if got := p.lookup(mosaic.IdentifierType(typ), val).ID; got != id {
						t.Errorf("%s: %s in %s, want %s", step, ref, got, id)
					}
				}
			}
			// The visitor's device was wrongly joined to the user: block it.
			if err := p.db.AddIdentityConstraint(ctx, &mosaic.IdentityConstraint{A: key("anonymous_id", "qa"), B: key("email", "q@example.com")}); err != nil {
				t.Fatal(err)
			}
			if err := p.db.AddIdentityConstraint(ctx, &mosaic.IdentityConstraint{A: key("anonymous_id", "qa"), B: key("user_id", "ada")}); err != nil {
				t.Fatal(err)
			}
			p.send(batch)
			check("after the split", map[string]mosaic.ProfileID{"user_id:q1": p1, "email:q@example.com": p1, "anonymous_id:qa": p2, "user_id:ada": pAda})
			for _, id := range []mosaic.ProfileID{p1, p2, pAda} {
				prof, err := p.db.FindProfileByID(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if prof.MergedInto != "" || len(prof.MergedFrom) != 0 {
					t.Errorf("after the split, %s: merged_into %q, merged_from %v", id, prof.MergedInto, prof.MergedFrom)
				}
			}
			if got := p.lookup("anonymous_id", "qa"); string(got.Traits["city"]) != `"Odense"` || got.Traits["plan"] != nil {
				t.Errorf("the visitor's traits after the split: %s", mustJSON(got.Traits))
			}
			if st, _ := p.db.Stats(ctx); st.Profiles != 3 {
				t.Errorf("%d live profiles after the split, want 3", st.Profiles)
			}
			// Lifting one block joins the visitor to the user again, under the older id.
			if err := p.db.RemoveIdentityConstraint(ctx, key("email", "q@example.com"), key("anonymous_id", "qa")); err != nil {
				t.Fatal(err)
			}
			p.send(batch)
			check("after lifting the block", map[string]mosaic.ProfileID{"user_id:q1": p1, "anonymous_id:qa": p1, "user_id:ada": pAda})
			if gone, _ := p.db.FindProfileByID(ctx, p2); gone.MergedInto != p1 {
				t.Errorf("the visitor's id after lifting: merged into %q, want %s", gone.MergedInto, p1)
			}
			if prof, _ := p.db.FindProfileByID(ctx, p1); !slices.Equal(prof.MergedFrom, []mosaic.ProfileID{p2}) {
				t.Errorf("merged_from after lifting: %v, want [%s]", prof.MergedFrom, p2)
			}
		})
	}
}

// TestSplitIDsFollowTheirCustomers: the trial's cases of profile ids after splits. A part keeps
// its current id when no origin is free (it is not renumbered by a split of its neighbour),
// the user id's part keeps the id when one email is removed, and an id a split made follows
// its identifier through an unsplit and the next split.
func TestSplitIDsFollowTheirCustomers(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, identity.DefaultConfig())
	secret, _ := p.db.IdentitySecret(ctx)
	key := func(t mosaic.IdentifierType, v string) mosaic.IdentifierKey {
		return identity.Key(secret, mosaic.Identifier{Type: t, Value: v})
	}
	constrain := func(a, b mosaic.IdentifierKey) {
		t.Helper()
		if err := p.db.AddIdentityConstraint(ctx, &mosaic.IdentityConstraint{A: a, B: b}); err != nil {
			t.Fatal(err)
		}
		p.send(1)
	}
	resolve := func(id mosaic.ProfileID) mosaic.ProfileID {
		t.Helper()
		prof, err := p.db.FindProfileByID(ctx, id)
		for hops := 0; err == nil && prof.MergedInto != "" && hops < 32; hops++ {
			prof, err = p.db.FindProfileByID(ctx, prof.MergedInto)
		}
		if err != nil {
			t.Fatal(err)
		}
		return prof.ID
	}

	// 1. A split-off email keeps its profile when the rest splits again.
	p.send(1, sent{"app", "", `{"type":"identify","userId":"alice","anonymousId":"dev-1","traits":{"email":"alice@x.org"},"timestamp":"2026-11-01T10:00:00Z"}`})
	constrain(key("email", "alice@x.org"), "")
	emailID := p.lookup("email", "alice@x.org").ID
	before, _ := p.db.Stats(ctx)
	constrain(key("user_id", "alice"), key("anonymous_id", "dev-1"))
	if got := p.lookup("email", "alice@x.org").ID; got != emailID {
		t.Errorf("the split-off email was renumbered by the next split: %s, want %s", got, emailID)
	}
	if after, _ := p.db.Stats(ctx); after.Merges != before.Merges {
		t.Errorf("a split counted %d merges", after.Merges-before.Merges)
	}

	// 2. Removing the user's own email leaves the profile with the user id.
	p.send(1, sent{"crm", "", `{"type":"identify","userId":"bea","traits":{"email":"bea@x.org"},"timestamp":"2026-11-01T10:00:00Z"}`})
	bea := p.lookup("user_id", "bea").ID
	p.send(1, sent{"web", "", `{"type":"identify","anonymousId":"dev-b","traits":{"email":"b@x.org","phone":"+45 20 30 40 52"},"timestamp":"2026-11-02T10:00:00Z"}`})
	p.send(1, sent{"web", "", `{"type":"identify","userId":"bea","anonymousId":"dev-b","timestamp":"2026-11-03T10:00:00Z"}`})
	constrain(key("email", "bea@x.org"), "")
	if got := p.lookup("user_id", "bea").ID; got != bea {
		t.Errorf("after removing bea's email, her user id is in %s, want %s", got, bea)
	}

	// 3. An id a split made follows its identifier: unsplit, then split the customer off.
	p.send(1, sent{"crm", "", `{"type":"identify","userId":"cy","traits":{"email":"cy@x.org"},"timestamp":"2026-11-01T10:00:00Z"}`})
	p.send(1, sent{"web", "", `{"type":"identify","anonymousId":"anon-c","traits":{"email":"carol@x.org"},"timestamp":"2026-11-02T10:00:00Z"}`})
	carol := p.lookup("anonymous_id", "anon-c").ID
	p.send(1, sent{"web", "", `{"type":"identify","userId":"cy","anonymousId":"anon-c","timestamp":"2026-11-03T10:00:00Z"}`},
		sent{"web", "", `{"type":"identify","anonymousId":"anon-c","traits":{"email":"carol.work@x.org"},"timestamp":"2026-11-04T10:00:00Z"}`})
	constrain(key("email", "carol.work@x.org"), "")
	work := p.lookup("email", "carol.work@x.org").ID
	if err := p.db.RemoveIdentityConstraint(ctx, key("email", "carol.work@x.org"), ""); err != nil {
		t.Fatal(err)
	}
	p.send(1)
	constrain(key("user_id", "cy"), key("anonymous_id", "anon-c"))
	if got := p.lookup("anonymous_id", "anon-c").ID; got != carol {
		t.Errorf("carol's part is %s, want her own id %s", got, carol)
	}
	if got := resolve(work); got != carol {
		t.Errorf("the id made for carol's work email resolves to %s, want carol's %s", got, carol)
	}

	// 4. A visitor logs in: the user id joins the visitor's profile. Split apart, the user's
	// part keeps the profile and the visitor's gets a new one.
	p.send(1, sent{"web", "", `{"type":"identify","anonymousId":"d1","traits":{"email":"visitor@x.org"},"timestamp":"2026-11-01T10:00:00Z"}`})
	visit := p.lookup("anonymous_id", "d1").ID
	p.send(1, sent{"web", "", `{"type":"identify","userId":"u","anonymousId":"d1","traits":{"plan":"gold"},"timestamp":"2026-11-02T10:00:00Z"}`})
	constrain(key("user_id", "u"), key("anonymous_id", "d1"))
	if got := p.lookup("user_id", "u"); got.ID != visit || string(got.Traits["plan"]) != `"gold"` {
		t.Errorf("after the login is split: the user is in %s (%s), want %s", got.ID, mustJSON(got.Traits), visit)
	}

	// 5. Of two visitors merged into one, the older profile stays with them when a user (with
	// a profile of their own before) is split off, whatever their anonymous ids are called.
	for _, names := range [][2]string{{"zc", "zb"}, {"yb", "yz"}} {
		older, newer := names[0], names[1]
		p.send(1, sent{"web", "", fmt.Sprintf(`{"type":"identify","anonymousId":%q,"traits":{"email":"%s@x.org"},"timestamp":"2026-11-01T10:00:00Z"}`, older, older)})
		old := p.lookup("anonymous_id", older).ID
		p.send(1, sent{"web", "", fmt.Sprintf(`{"type":"identify","anonymousId":%q,"traits":{"email":"%s@x.org"},"timestamp":"2026-11-01T11:00:00Z"}`, newer, newer)})
		p.send(1, sent{"web", "", fmt.Sprintf(`{"type":"identify","anonymousId":%q,"traits":{"email":"%s@x.org"},"timestamp":"2026-11-01T12:00:00Z"}`, newer, older)})
		p.send(1, sent{"app", "", fmt.Sprintf(`{"type":"identify","userId":"user-%s","traits":{"email":"user-%s@x.org"},"timestamp":"2026-11-01T13:00:00Z"}`, older, older)})
		p.send(1, sent{"web", "", fmt.Sprintf(`{"type":"identify","userId":"user-%s","anonymousId":%q,"timestamp":"2026-11-01T14:00:00Z"}`, older, newer)})
		before, _ := p.db.Stats(ctx)
		constrain(key("user_id", "user-"+older), key("anonymous_id", newer))
		if got := p.lookup("anonymous_id", newer).ID; got != old {
			t.Errorf("visitors %s (older) and %s: their part is %s, want the older profile %s", older, newer, got, old)
		}
		if after, _ := p.db.Stats(ctx); after.Merges != before.Merges {
			t.Errorf("the split counted %d merges", after.Merges-before.Merges)
		}
	}
}

// TestReplayAppliesNewRulesToHistory: a shop declares loyalty_id (read from traits and
// properties, ranked above the anonymous id) after months of events, and blocks an email. A replay of the
// stored events under the new rules must leave exactly the profiles and traits that resolving
// the same history from scratch under them gives (events that now file under a loyalty id
// included), whatever the batch size, and events sent while it runs are resolved too.
func TestReplayAppliesNewRulesToHistory(t *testing.T) {
	// The card names its holder better than a browser does: events with both are filed under
	// the loyalty id now, and where the card's link to the browser is refused (a second card on
	// one profile), such an event moves to the card's profile.
	withLoyalty := identity.DefaultConfig()
	withLoyalty.Rules[1].Priority = 4
	withLoyalty.Rules = append(withLoyalty.Rules, identity.Rule{Type: "loyalty_id", Priority: 3, Limit: 1,
		Paths: []string{"traits.loyalty_id", "properties.loyalty_id"}, Normalize: []string{"trim", "upper"}})
	withLoyalty.Blocklist = append(withLoyalty.Blocklist, "e3@example.com") // a shop address, found out: it goes
	for seed := uint64(0); seed < 6; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var evs []sent
		for i := range 120 {
			var fields []string
			if rng.IntN(4) == 0 {
				fields = append(fields, fmt.Sprintf(`"userId":"u%d"`, rng.IntN(8)))
			}
			fields = append(fields, fmt.Sprintf(`"anonymousId":"a%d"`, rng.IntN(40)))
			loyalty := ""
			if rng.IntN(3) == 0 {
				loyalty = fmt.Sprintf(`"loyalty_id":" l-%d"`, rng.IntN(12))
			}
			ts := fmt.Sprintf(`"timestamp":"2026-11-%02dT10:%02d:00Z"`, 1+rng.IntN(20), rng.IntN(60))
			var body string
			switch rng.IntN(3) {
			case 0:
				tr := []string{fmt.Sprintf(`"plan":"p%d"`, rng.IntN(3))}
				if loyalty != "" {
					tr = append(tr, loyalty)
				}
				if rng.IntN(4) == 0 {
					tr = append(tr, fmt.Sprintf(`"email":"e%d@example.com"`, rng.IntN(10)))
				}
				body = `{"type":"identify",` + ts + `,"traits":{` + strings.Join(tr, ",") + `},` + strings.Join(fields, ",") + `}`
			case 1:
				body = `{"type":"track","event":"Order Completed",` + ts + `,"properties":{` + loyalty + `},` + strings.Join(fields, ",") + `}`
			default:
				body = `{"type":"group","groupId":"g1",` + ts + `,"traits":{"tier":"gold"},` + strings.Join(fields, ",") + `}`
			}
			evs = append(evs, sent{"web", fmt.Sprintf("m%03d", i), body})
		}
		late := evs[100:] // sent while the replay runs
		// From scratch under the new rules.
		fresh := newPipeline(t, withLoyalty)
		fresh.send(7, evs...)
		want := fresh.partition()

		p := newPipeline(t, identity.DefaultConfig())
		p.send(1+rng.IntN(30), evs[:100]...)
		if got := p.partition(); slices.Equal(got, want) {
			t.Fatalf("seed %d: the old rules already give the new partition: the test shows nothing", seed)
		}
		n, err := identity.NewNormalizer(withLoyalty)
		if err != nil {
			t.Fatal(err)
		}
		p.norm, p.replayPage = n, 1+rng.IntN(40)
		r, err := p.db.QueueIdentityReplay(context.Background())
		if err != nil || r.Through == 0 || r.After != 0 {
			t.Fatalf("queue replay: %+v %v", r, err)
		}
		p.send(1+rng.IntN(30), late...)
		if r, err := p.db.IdentityReplay(context.Background()); r != nil || err != nil {
			t.Fatalf("seed %d: replay still queued after the drain: %+v %v", seed, r, err)
		}
		if diff := gocmp.Diff(want, p.partition()); diff != "" {
			t.Fatalf("seed %d: replayed history differs from history resolved under the new rules (-fresh +replayed):\n%s", seed, diff)
		}
		// Every event is filed under the anchor the new rules give it.
		for _, lid := range []string{"L-1", "L-2", "L-3"} {
			pf, err := p.db.FindProfileByIdentifier(context.Background(), keyFor(t, p, "loyalty_id", lid))
			if mosaic.ErrorCode(err) == mosaic.ENOTFOUND {
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			ff, err := fresh.db.FindProfileByIdentifier(context.Background(), keyFor(t, fresh, "loyalty_id", lid))
			if err != nil {
				t.Fatal(err)
			}
			if a, b := countEvents(t, p, pf.ID), countEvents(t, fresh, ff.ID); a != b {
				t.Errorf("seed %d: %s's profile has %d events after the replay, %d from scratch", seed, lid, a, b)
			}
		}
	}
}

func keyFor(t *testing.T, p *pipeline, typ mosaic.IdentifierType, v string) mosaic.IdentifierKey {
	t.Helper()
	secret, err := p.db.IdentitySecret(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return identity.Key(secret, mosaic.Identifier{Type: typ, Value: v})
}

func countEvents(t *testing.T, p *pipeline, id mosaic.ProfileID) int {
	t.Helper()
	evs, _, err := p.db.FindEvents(context.Background(), mosaic.EventFilter{ProfileID: id, Limit: mosaic.MaxEventPage})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestFirstSeenIsTheEarliestEvent: an identifier's first_seen is the earliest event time it
// was seen at, however late the older events arrive.
func TestFirstSeenIsTheEarliestEvent(t *testing.T) {
	for _, batch := range []int{1, 2, 10} {
		p := newPipeline(t, identity.DefaultConfig())
		p.send(batch,
			sent{"web", "m1", `{"type":"identify","userId":"ada","traits":{"email":"ada@example.com"},"timestamp":"2026-11-20T10:00:00Z"}`},
			sent{"web", "m2", `{"type":"track","event":"Viewed","userId":"ada","timestamp":"2026-11-10T10:00:00Z"}`})
		p.send(batch, sent{"crm", "m3", `{"type":"identify","userId":"ada","traits":{"email":"Ada@Example.com"},"timestamp":"2026-10-01T10:00:00Z"}`})
		ctx := context.Background()
		recs, err := p.db.FindIdentifiers(ctx, []mosaic.IdentifierKey{keyFor(t, p, "user_id", "ada"), keyFor(t, p, "email", "ada@example.com")})
		if err != nil || len(recs) != 2 {
			t.Fatalf("identifiers: %v %v", recs, err)
		}
		for _, r := range recs {
			if want := time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC); !r.FirstSeen.Equal(want) {
				t.Errorf("batch %d: %s first seen %s, want %s (the CRM's older record)", batch, r.Type, r.FirstSeen, want)
			}
		}
	}
}

// TestReplayKeepsTheProfilesOwnValue: phone becomes an identifier type after a brother gave
// his own number and then the family's, which his sister gave first. After the replay the
// family number is hers, so his profile shows his own number (as a profile built under the
// new rules from the start does), not none.
func TestReplayKeepsTheProfilesOwnValue(t *testing.T) {
	noPhone := identity.DefaultConfig()
	noPhone.Rules = noPhone.Rules[:3]
	p := newPipeline(t, noPhone)
	p.send(1,
		sent{"app", "m1", `{"type":"identify","userId":"sis","traits":{"phone":"+1 415 555 0100"},"timestamp":"2026-10-01T10:00:00Z"}`},
		sent{"app", "m2", `{"type":"identify","userId":"bro","traits":{"phone":"+1 415 555 0122"},"timestamp":"2026-10-02T10:00:00Z"}`},
		sent{"app", "m3", `{"type":"identify","userId":"bro","traits":{"phone":"+1 415 555 0100"},"timestamp":"2026-10-03T10:00:00Z"}`})
	p.replayUnder(identity.DefaultConfig(), 1)
	bro := p.lookup("user_id", "bro")
	if got := string(bro.Traits["phone"]); got != `"+1 415 555 0122"` {
		t.Errorf("bro's phone after the replay: %s, want his own (traits %s)", got, mustJSON(bro.Traits))
	}
	if sis := p.lookup("phone", "+14155550100"); !slices.ContainsFunc(sis.Identifiers, func(id mosaic.Identifier) bool { return id.Value == "sis" }) {
		t.Errorf("the family phone is not sis's: %+v", sis.Identifiers)
	}
}

// TestLargeComponentMergesNoCustomers: a shop's own email typed by every fourth customer
// joins thousands of visitors' profiles into one raw component, larger than one
// recomputation loads (MaxComponent). The part that is loaded must bring each profile whole:
// resolving the visitors without their user ids merged the customers into one profile with
// many user ids. In any order and batch size, every customer keeps a profile of their own.
func TestLargeComponentMergesNoCustomers(t *testing.T) {
	var evs []sent
	for i := range 60 {
		a := fmt.Sprintf("a%d", i)
		evs = append(evs,
			sent{"web", fmt.Sprintf("m%d-u", i), fmt.Sprintf(`{"type":"identify","userId":"u%d","anonymousId":%q,"traits":{"email":"p%d@example.com"},"timestamp":"2026-11-01T10:%02d:00Z"}`, i, a, i, i%60)},
			sent{"web", fmt.Sprintf("m%d-s", i), fmt.Sprintf(`{"type":"identify","anonymousId":%q,"traits":{"email":"orders@shop.example"},"timestamp":"2026-11-02T10:%02d:00Z"}`, a, i%60)})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var want []string
	for run := range 10 {
		order := slices.Clone(evs)
		if run > 0 {
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		p := newPipeline(t, identity.DefaultConfig())
		if run > 0 {
			p.maxComponent = 10 + rng.IntN(60) // the shop's component holds 181 identifiers
		}
		for start := 0; start < len(order); {
			end := min(start+1+rng.IntN(40), len(order))
			p.send(50, order[start:end]...)
			start = end
		}
		got := p.partition()
		for _, prof := range got {
			if n := strings.Count(prof, "user_id:"); n > 1 {
				t.Fatalf("run %d: a profile holds %d user ids: %.300s", run, n, prof)
			}
		}
		for i := range 60 {
			if pr := p.lookup("user_id", fmt.Sprintf("u%d", i)); !slices.ContainsFunc(pr.Identifiers, func(id mosaic.Identifier) bool { return id.Value == fmt.Sprintf("a%d", i) }) {
				t.Fatalf("run %d: u%d's profile lacks its own visitor id: %+v", run, i, pr.Identifiers)
			}
		}
		if run == 0 {
			want = got
		} else if len(got) != len(want) {
			t.Errorf("run %d: %d profiles, %d when the component is resolved whole", run, len(got), len(want))
		}
	}
}

// TestReplayRepairsAProfileThatFellApart: a profile whose identifiers are two customers with
// no link between them (what the large-component bug left in stores) is split by a replay,
// which loads every profile it touches whole.
func TestReplayRepairsAProfileThatFellApart(t *testing.T) {
	p := newPipeline(t, identity.DefaultConfig())
	p.send(10,
		sent{"web", "m1", `{"type":"identify","userId":"u1","anonymousId":"a1","traits":{"plan":"gold"},"timestamp":"2026-11-01T10:00:00Z"}`},
		sent{"web", "m2", `{"type":"identify","userId":"u2","anonymousId":"a2","traits":{"plan":"free"},"timestamp":"2026-11-01T11:00:00Z"}`})
	ctx := context.Background()
	one, two := p.lookup("user_id", "u1"), p.lookup("user_id", "u2")
	// Corrupt the store: u2's identifiers are put on u1's profile.
	recs, err := p.db.FindIdentifiers(ctx, []mosaic.IdentifierKey{keyFor(t, p, "user_id", "u2"), keyFor(t, p, "anonymous_id", "a2")})
	if err != nil || len(recs) != 2 {
		t.Fatal(recs, err)
	}
	for _, r := range recs {
		r.ProfileID = one.ID
	}
	states, err := p.db.FindProfileStates(ctx, []mosaic.ProfileID{two.ID})
	if err != nil || len(states) != 1 {
		t.Fatal(states, err)
	}
	states[0].MergedInto = one.ID
	off, _ := p.db.ProcessorOffset(ctx)
	if _, err := p.db.CommitEvents(ctx, &mosaic.EventCommit{From: off, Through: off, Identity: &mosaic.IdentityChanges{Identifiers: recs, Profiles: states}}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(p.partition(), "\n"), "user_id:"); n != 2 || len(p.partition()) != 1 {
		t.Fatalf("corruption not in place: %v", p.partition())
	}
	if _, err := p.db.QueueIdentityReplay(ctx); err != nil {
		t.Fatal(err)
	}
	p.replayPage = 1 // each customer's event in a batch of its own
	p.send(10)
	got := p.partition()
	if len(got) != 2 || strings.Count(got[0], "user_id:") != 1 || strings.Count(got[1], "user_id:") != 1 {
		t.Fatalf("after the replay: %v, want u1 and u2 apart", got)
	}
	if u1 := p.lookup("user_id", "u1"); string(u1.Traits["plan"]) != `"gold"` {
		t.Errorf("u1 after the replay: %s", mustJSON(u1.Traits))
	}
	if u2 := p.lookup("user_id", "u2"); string(u2.Traits["plan"]) != `"free"` || !slices.ContainsFunc(u2.Identifiers, func(id mosaic.Identifier) bool { return id.Value == "a2" }) {
		t.Errorf("u2 after the replay: %+v %s", u2.Identifiers, mustJSON(u2.Traits))
	}
}

// TestBlockedValueFallsBackToTheProfilesOwn: a value the rules say identifies no one (on the
// blocklist, a placeholder address) is not shown as the customer's email either: the profile
// shows the email it had before, in any order.
func TestBlockedValueFallsBackToTheProfilesOwn(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.Blocklist = append(cfg.Blocklist, "orders@shop.example")
	evs := []sent{
		{"web", "m1", `{"type":"identify","userId":"dan","traits":{"email":"dan@example.com"},"timestamp":"2026-11-01T10:00:00Z"}`},
		{"web", "m2", `{"type":"identify","userId":"dan","traits":{"email":"ORDERS@shop.example "},"timestamp":"2026-11-02T10:00:00Z"}`},
		{"web", "m3", `{"type":"identify","userId":"eve","traits":{"email":"test@test.com"},"timestamp":"2026-11-02T10:00:00Z"}`},
	}
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}} {
		p := newPipeline(t, cfg)
		for _, i := range order {
			p.send(1, evs[i])
		}
		if got := string(p.lookup("user_id", "dan").Traits["email"]); got != `"dan@example.com"` {
			t.Errorf("order %v: dan's email %s, want his own, not the shop's", order, got)
		}
		if eve := p.lookup("user_id", "eve"); eve.Traits["email"] != nil {
			t.Errorf("order %v: eve's email %s, want none (a placeholder)", order, eve.Traits["email"])
		}
	}
}

// TestJunkTraitValuesAreNotShown: values on the default blocklist that are not even well
// formed ("null" as an email, "0000000000") and placeholder phone numbers identify no one,
// so they are not shown, and an earlier real value is (trial 8: they showed as traits).
func TestJunkTraitValuesAreNotShown(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.DefaultRegion = "DK"
	for i, junk := range []struct{ trait, value string }{
		{"email", `"null"`}, {"email", `" NULL "`}, {"email", `"undefined"`}, {"phone", `"0000000000"`},
		{"phone", `"+1 111-111-1111"`}, {"phone", `"+1 234-567-8900"`}, {"phone", `"33 33 33 33"`},
	} {
		real := map[string]string{"email": `"kim@example.com"`, "phone": `"+4520123457"`}[junk.trait]
		p := newPipeline(t, cfg)
		p.send(1,
			sent{"web", "", `{"type":"identify","userId":"kim","traits":{"` + junk.trait + `":` + real + `},"timestamp":"2026-11-01T10:00:00Z"}`},
			sent{"web", "", `{"type":"identify","userId":"kim","traits":{"` + junk.trait + `":` + junk.value + `},"timestamp":"2026-11-02T10:00:00Z"}`},
			sent{"web", "", `{"type":"identify","userId":"lee","traits":{"` + junk.trait + `":` + junk.value + `},"timestamp":"2026-11-02T10:00:00Z"}`})
		if got := string(p.lookup("user_id", "kim").Traits[junk.trait]); got != real {
			t.Errorf("%d: kim's %s %s after %s, want the real one before it, %s", i, junk.trait, got, junk.value, real)
		}
		if got := p.lookup("user_id", "lee").Traits[junk.trait]; got != nil {
			t.Errorf("%d: lee's %s %s, want none", i, junk.trait, got)
		}
	}
}

// TestReplayKeepsUntouchedSurvivors: a replay that splits one customer's profile leaves the
// profile ids of customers it does not change as they were: of a visitor and an account
// merged at login the older profile survives, in the replay as when it happened (trial 9:
// a split elsewhere in the replay's batch gave the account's younger id the survivor's place).
func TestReplayKeepsUntouchedSurvivors(t *testing.T) {
	p := newPipeline(t, identity.DefaultConfig())
	for _, e := range []string{
		`{"type":"identify","anonymousId":"ga1","traits":{"email":"e1@example.com"},"timestamp":"2026-11-01T10:00:00Z"}`,
		`{"type":"identify","userId":"gu","anonymousId":"ga2","traits":{"email":"e1@example.com"},"timestamp":"2026-11-01T10:01:00Z"}`,
		`{"type":"page","anonymousId":"ma","timestamp":"2026-11-01T10:02:00Z"}`,
		`{"type":"identify","userId":"mu","traits":{"email":"mu@example.com"},"timestamp":"2026-11-01T10:03:00Z"}`,
		`{"type":"track","userId":"mu","anonymousId":"ma","event":"Login","timestamp":"2026-11-01T10:04:00Z"}`,
	} {
		p.send(1, sent{"web", "", e})
	}
	visitor := p.lookup("anonymous_id", "ma")
	if mu := p.lookup("user_id", "mu"); mu.ID != visitor.ID || len(mu.MergedFrom) != 1 {
		t.Fatalf("setup: mu on %s (merged from %v), the visitor on %s", mu.ID, mu.MergedFrom, visitor.ID)
	}
	if p.lookup("anonymous_id", "ga1").ID != p.lookup("user_id", "gu").ID {
		t.Fatal("setup: ga1 and gu apart before the replay")
	}
	cfg := identity.DefaultConfig()
	cfg.Blocklist = append(cfg.Blocklist, "e1@example.com")
	p.replayUnder(cfg, 100)
	if p.lookup("anonymous_id", "ga1").ID == p.lookup("user_id", "gu").ID {
		t.Fatal("ga1 and gu still together after blocklisting the email that linked them")
	}
	if mu := p.lookup("user_id", "mu"); mu.ID != visitor.ID {
		t.Errorf("mu's profile after a replay that does not change it: %s, want the older one it had, %s (merged from %v)", mu.ID, visitor.ID, mu.MergedFrom)
	}
}

// TestMergeBesideASplit: a merge in the same batch as a steward's split of another
// customer is a merge as any other: the older profile survives, lists the other in
// merged_from, and the merge counts.
func TestMergeBesideASplit(t *testing.T) {
	p := newPipeline(t, identity.DefaultConfig())
	p.send(1, sent{"web", "", `{"type":"identify","userId":"u1","anonymousId":"x1","timestamp":"2026-11-01T10:00:00Z"}`})
	p.send(1, sent{"web", "", `{"type":"page","anonymousId":"y1","timestamp":"2026-11-01T10:01:00Z"}`})
	p.send(1, sent{"web", "", `{"type":"identify","userId":"y2","timestamp":"2026-11-01T10:02:00Z"}`})
	older, younger := p.lookup("anonymous_id", "y1"), p.lookup("user_id", "y2")
	ctx := context.Background()
	before, _ := p.db.Stats(ctx)
	p.block(mosaic.Identifier{Type: "user_id", Value: "u1"}, mosaic.Identifier{Type: "anonymous_id", Value: "x1"}, "wrong link")
	p.send(10, sent{"web", "", `{"type":"track","userId":"y2","anonymousId":"y1","event":"Login","timestamp":"2026-11-01T10:03:00Z"}`})
	if p.lookup("user_id", "u1").ID == p.lookup("anonymous_id", "x1").ID {
		t.Fatal("u1 and x1 not split")
	}
	y := p.lookup("user_id", "y2")
	if y.ID != older.ID || p.lookup("anonymous_id", "y1").ID != older.ID || !slices.Contains(y.MergedFrom, younger.ID) {
		t.Errorf("y2 and y1 on %s merged from %v; want the older %s, merged from the younger %s", y.ID, y.MergedFrom, older.ID, younger.ID)
	}
	if after, _ := p.db.Stats(ctx); after.Merges != before.Merges+1 {
		t.Errorf("merges %d → %d, want one more", before.Merges, after.Merges)
	}
}

// TestUndoingAnAliasLeavesTwoProfiles: an alias whose previousId is read both as a user id
// and as an anonymous id is undone by blocking the user id with each reading (as the README
// says); the visitor then is one profile again, with its events, traits and its own profile
// id, beside the user's with the user's id: whether the visitor or the account is older, and
// in either order of the blocks (trials 9 and 10: the readings became two profiles, or the
// visitor's part took the account's id).
func TestUndoingAnAliasLeavesTwoProfiles(t *testing.T) {
	visit := []sent{{"web", "", `{"type":"page","anonymousId":"anonA","timestamp":"2026-11-01T10:00:00Z"}`},
		{"web", "", `{"type":"identify","anonymousId":"anonA","traits":{"favourite":"red"},"timestamp":"2026-11-01T10:01:00Z"}`}}
	signup := []sent{{"web", "", `{"type":"identify","userId":"uA","traits":{"plan":"pro"},"timestamp":"2026-11-01T10:02:00Z"}`}}
	for _, tc := range []struct {
		name                           string
		accountFirst, userReadingFirst bool
	}{{"visitor older, anonymous reading first", false, false}, {"visitor older, user reading first", false, true},
		{"account older, anonymous reading first", true, false}, {"account older, user reading first", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPipeline(t, identity.DefaultConfig())
			first, second := visit, signup
			if tc.accountFirst {
				first, second = signup, visit
			}
			p.send(1, first...)
			p.send(1, second...)
			visitor, user := p.lookup("anonymous_id", "anonA"), p.lookup("user_id", "uA")
			p.send(1, sent{"web", "", `{"type":"alias","userId":"uA","previousId":"anonA","timestamp":"2026-11-01T10:03:00Z"}`})
			if got := p.lookup("anonymous_id", "anonA").ID; got != p.lookup("user_id", "uA").ID {
				t.Fatal("setup: the alias did not merge")
			}
			readings := []mosaic.Identifier{{Type: "anonymous_id", Value: "anonA"}, {Type: "user_id", Value: "anonA"}}
			if tc.userReadingFirst {
				readings[0], readings[1] = readings[1], readings[0]
			}
			for _, other := range readings {
				p.block(mosaic.Identifier{Type: "user_id", Value: "uA"}, other, "wrong alias")
				p.send(1)
				if u := p.lookup("user_id", "uA"); u.ID != user.ID {
					t.Errorf("the user after a block: %s, want its own %s", u.ID, user.ID)
				}
			}
			if got := p.partition(); len(got) != 2 {
				t.Fatalf("%d profiles after undoing the alias, want the user's and the visitor's:\n%s", len(got), strings.Join(got, "\n"))
			}
			v, u := p.lookup("anonymous_id", "anonA"), p.lookup("user_id", "uA")
			if v.ID != visitor.ID || string(v.Traits["favourite"]) != `"red"` {
				t.Errorf("the visitor after the undo: %s %s, want its own profile %s with its traits", v.ID, mustJSON(v.Traits), visitor.ID)
			}
			if u.ID != user.ID || string(u.Traits["plan"]) != `"pro"` {
				t.Errorf("the user after the undo: %s %s, want %s", u.ID, mustJSON(u.Traits), user.ID)
			}
			if p.lookup("user_id", "anonA").ID != v.ID {
				t.Error("the previousId's user-id reading is not with the visitor")
			}
		})
	}
}

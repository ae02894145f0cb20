package linkage_test

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/internal/devdata"
	"github.com/mosaic-cdp/mosaic/linkage"
	"github.com/mosaic-cdp/mosaic/processor"
	"github.com/mosaic-cdp/mosaic/sqlite"
	"github.com/mosaic-cdp/mosaic/traits"
)

// febrl reads a Febrl development file: its records (rec_id, fields) and true pairs.
func febrl(t *testing.T, name string) (header []string, rows [][]string, truth map[[2]string]bool) {
	t.Helper()
	dir := filepath.Join(devdata.Dir(t, "identity", filepath.Join("febrl", name+".csv")), "febrl")
	read := func(file string) [][]string {
		f, err := os.Open(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	recs := read(name + ".csv")
	truth = map[[2]string]bool{}
	for _, p := range read(name + "_true_pairs.csv")[1:] {
		truth[pair(p[0], p[1])] = true
	}
	return recs[0], recs[1:], truth
}

func pair(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// opaque hides a Febrl rec_id (which names the true entity) behind a hash.
func opaque(recID string) string {
	h := sha256.Sum256([]byte("linkage-test:" + recID))
	return "anon-" + hex.EncodeToString(h[:8])
}

type world struct {
	t    *testing.T
	db   *sqlite.DB
	norm *identity.Normalizer
	src  *mosaic.Source
	seq  int
}

func newWorld(t *testing.T) *world {
	norm, err := identity.NewNormalizer(identity.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	db := sqlite.NewDB(t.TempDir())
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	src := &mosaic.Source{Name: "crm"}
	if err := db.CreateSource(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return &world{t: t, db: db, norm: norm, src: src}
}

// send appends Segment calls and runs the processor until the inbox and every queued
// recompute are done.
func (w *world) send(bodies ...string) {
	w.t.Helper()
	ctx := context.Background()
	var recs []*mosaic.InboxRecord
	for _, b := range bodies {
		w.seq++
		recs = append(recs, &mosaic.InboxRecord{SourceID: w.src.ID, MessageID: fmt.Sprintf("m%d", w.seq), ReceivedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), Payload: []byte(b)})
	}
	if len(recs) > 0 {
		if err := w.db.AppendInbox(ctx, recs); err != nil {
			w.t.Fatal(err)
		}
	}
	p := &processor.Processor{Store: w.db, Poll: time.Millisecond, Stages: []processor.Stage{
		&processor.Dedupe{Store: w.db}, &processor.Identity{Store: w.db, Normalizer: w.norm, Traits: &traits.Config{}}}}
	p.Open()
	defer p.Close()
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := p.Drain(dctx); err != nil {
		w.t.Fatal(err)
	}
}

// profileOf returns the id of the live profile holding an anonymous id.
func (w *world) profileOf(anon string) mosaic.ProfileID {
	w.t.Helper()
	ctx := context.Background()
	secret, _ := w.db.IdentitySecret(ctx)
	p, err := w.db.FindProfileByIdentifier(ctx, identity.Key(secret, mosaic.Identifier{Type: mosaic.IdentifierAnonymousID, Value: anon}))
	if err != nil {
		w.t.Fatalf("%s: %v", anon, err)
	}
	return p.ID
}

// TestFebrlProfilesMerge is the product path on the hardest development file: Febrl's 5000
// person records (febrl3; febrl1's 1000 under the race detector) arrive as identify calls that share no identifier (each its own anonymous
// id), a matching run links the pairs it is sure of, the processor merges their profiles,
// and the resulting profiles are scored against the truth. Then a steward rejects a link and
// its profiles split again.
func TestFebrlProfilesMerge(t *testing.T) {
	file, entities := "febrl3", 2000
	if raceEnabled || testing.Short() {
		file, entities = "febrl1", 500 // 1000 records: the race detector slows the 5000 tenfold
	}
	header, rows, truth := febrl(t, file)
	w := newWorld(t)
	var bodies []string
	anons := make([]string, len(rows))
	for i, row := range rows {
		tr := map[string]string{}
		for j, col := range header[1:] {
			if v := row[j+1]; v != "" {
				tr[col] = v
			}
		}
		b, _ := json.Marshal(tr)
		anons[i] = opaque(row[0])
		bodies = append(bodies, fmt.Sprintf(`{"type":"identify","anonymousId":%q,"traits":%s,"timestamp":"2026-11-01T10:00:00Z"}`, anons[i], b))
	}
	w.send(bodies...)
	if st, _ := w.db.Stats(context.Background()); st.Profiles != int64(len(rows)) {
		t.Fatalf("%d profiles before matching, want %d", st.Profiles, len(rows))
	}

	run := &linkage.Run{Store: w.db, Normalizer: w.norm}
	res, err := run.Do(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run: %s", res)
	var kinds []string
	for _, f := range res.Fields {
		kinds = append(kinds, f.Name+":"+f.Kind)
	}
	t.Logf("fields: %s", strings.Join(kinds, " "))
	if res.Recorded.Linked == 0 || res.Recorded.Linked != res.Auto-res.Guarded {
		t.Fatalf("linked %d of %d automatic pairs", res.Recorded.Linked, res.Auto)
	}
	w.send() // the processor applies the links

	// Score the merged profiles: predicted pairs are all pairs inside a profile.
	members := map[mosaic.ProfileID][]string{}
	for i, row := range rows {
		p := w.profileOf(anons[i])
		members[p] = append(members[p], row[0])
	}
	var tp, predicted int
	for _, recs := range members {
		for i := range recs {
			for j := i + 1; j < len(recs); j++ {
				predicted++
				if truth[pair(recs[i], recs[j])] {
					tp++
				}
			}
		}
	}
	precision, recall := float64(tp)/float64(predicted), float64(tp)/float64(len(truth))
	f1 := 2 * precision * recall / (precision + recall)
	t.Logf("%s: profiles after matching: %d (true entities %d); pairwise precision %.4f recall %.4f F1 %.4f", file, len(members), entities, precision, recall, f1)
	if precision < 0.99 || f1 < 0.95 {
		t.Errorf("merged profiles score precision %.4f, F1 %.4f; want ≥ 0.99 and ≥ 0.95 at the auto-merge threshold", precision, f1)
	}

	// A second run proposes nothing new: linked pairs are decided, merged profiles are one,
	// and what is left are the pairs waiting for review (rescored, not added again).
	pendingBefore := countPending(t, w)
	again, err := run.Do(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second run: %s", again)
	if again.Recorded.Linked != 0 {
		t.Errorf("second run linked %d more pairs", again.Recorded.Linked)
	}
	if after := countPending(t, w); after > pendingBefore+2 {
		t.Errorf("second run left %d pairs waiting for review, %d before: want (almost) no new ones", after, pendingBefore)
	}

	// A steward rejects one automatic link: the two records' profiles split and stay split.
	ctx := context.Background()
	linked, _, err := w.db.FindMatchCandidates(ctx, mosaic.MatchFilter{Status: mosaic.MatchLinked, Limit: 1})
	if err != nil || len(linked) != 1 {
		t.Fatalf("linked candidates: %v %v", linked, err)
	}
	c := linked[0]
	if _, err := w.db.DecideMatch(ctx, c.ID, false, "steward@example.com"); err != nil {
		t.Fatal(err)
	}
	w.send()
	pa, err := w.db.FindProfileByIdentifier(ctx, c.A)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := w.db.FindProfileByIdentifier(ctx, c.B)
	if err != nil {
		t.Fatal(err)
	}
	if pa.ID == pb.ID {
		t.Fatalf("rejected link %s still joins %s", c.ID, pa.ID)
	}
	if again, err := run.Do(ctx); err != nil || again.Recorded.Linked != 0 {
		t.Fatalf("a run after the rejection: %+v, %v", again, err)
	}
	w.send()
	if pa2, _ := w.db.FindProfileByIdentifier(ctx, c.A); pa2 == nil || pa2.ID == mustProfile(t, w, c.B) {
		t.Fatal("the rejected pair came back")
	}
}

func mustProfile(t *testing.T, w *world, k mosaic.IdentifierKey) mosaic.ProfileID {
	p, err := w.db.FindProfileByIdentifier(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// countPending counts the candidates waiting for review.
func countPending(t *testing.T, w *world) int {
	t.Helper()
	n := 0
	for cursor := ""; ; {
		cs, next, err := w.db.FindMatchCandidates(context.Background(), mosaic.MatchFilter{Status: mosaic.MatchPending, Limit: mosaic.MaxMatchPage, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		n += len(cs)
		if next == "" {
			return n
		}
		cursor = next
	}
}

// TestTooFewProfilesProposeNothing: a store of a few dozen people (in a handful of towns, one
// of them twice) is too small to learn from: the run says so and proposes nothing, where it
// used to take every two strangers of one town for duplicates.
func TestTooFewProfilesProposeNothing(t *testing.T) {
	w := newWorld(t)
	cities := []string{"Aarhus", "Odense", "Aalborg", "Esbjerg", "Randers", "Kolding", "Horsens", "Vejle"}
	firsts := []string{"Ada", "Bo", "Cai", "Dina", "Emil", "Frida", "Gus", "Hans", "Ida", "Jon"}
	lasts := []string{"Berg", "Dahl", "Holm", "Lund"}
	var bodies []string
	for i := range 40 {
		bodies = append(bodies, fmt.Sprintf(`{"type":"identify","anonymousId":"p%d","traits":{"first_name":%q,"last_name":%q,"birthday":"19%02d-%02d-%02d","city":%q,"postcode":"%d","street":"%d Main Street","email":"p%d@example.com"},"timestamp":"2026-11-01T10:00:00Z"}`,
			i, firsts[i%10], lasts[i/10], 50+i, 1+i%12, 1+i%28, cities[i%8], 8000+i%8*10, i+1, i))
	}
	bodies = append(bodies, `{"type":"identify","anonymousId":"dup","traits":{"first_name":"Ada","last_name":"Berg","birthday":"1950-01-01","city":"Aarhus","postcode":"8000","street":"1 Main St","email":"ada.b@mail.example"},"timestamp":"2026-11-02T10:00:00Z"}`)
	w.send(bodies...)
	res, err := (&linkage.Run{Store: w.db, Normalizer: w.norm}).Do(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.TooFew || res.Candidates != 0 || res.Recorded.Linked+res.Recorded.Queued != 0 {
		t.Fatalf("run on %d profiles: %s", res.Profiles, res)
	}
	if pending := countPending(t, w); pending != 0 {
		t.Errorf("%d candidates waiting review", pending)
	}
}

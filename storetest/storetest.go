// Package storetest is the conformance suite every mosaic.Store runs: the embedded SQLite
// store and the PostgreSQL store must behave the same, and this suite is what says so.
//
//	func TestConformance(t *testing.T) { storetest.Run(t, func(t *testing.T) mosaic.Store { … }) }
//
// Each subtest gets a fresh, empty store from open and runs in parallel with the others.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
)

// Opener returns a fresh, empty, opened store; it registers its own cleanup.
type Opener func(t *testing.T) mosaic.Store

// Run runs the whole conformance suite.
func Run(t *testing.T, open Opener) {
	t.Run("SourceService", func(t *testing.T) { testSources(t, open) })
	t.Run("TokenService", func(t *testing.T) { testTokens(t, open) })
	t.Run("InboxService", func(t *testing.T) { testInbox(t, open) })
	t.Run("EventService", func(t *testing.T) { testEvents(t, open) })
	t.Run("IdentityService", func(t *testing.T) { testIdentity(t, open) })
	t.Run("ProfileService", func(t *testing.T) { testProfiles(t, open) })
	t.Run("Groups", func(t *testing.T) { testGroups(t, open) })
	t.Run("MatchService", func(t *testing.T) { testMatches(t, open); testMatchProfiles(t, open) })
	t.Run("ImportService", func(t *testing.T) { testImports(t, open) })
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := mosaic.ErrorCode(err); got != code {
		t.Fatalf("error code=%q (%v), want %q", got, err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// MustCreateSource creates a source named name.
func MustCreateSource(t testing.TB, s mosaic.Store, name string) *mosaic.Source {
	t.Helper()
	src := &mosaic.Source{Name: name}
	if err := s.CreateSource(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return src
}

func testSources(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("Create", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src := &mosaic.Source{Name: "web", AllowedOrigins: []string{"https://shop.example.com"}}
		must(t, s.CreateSource(ctx, src))
		if src.ID == "" || src.WriteKey == "" || src.CreatedAt.IsZero() {
			t.Fatalf("created source lacks id, key or time: %+v", src)
		}
		got, err := s.FindSourceByID(ctx, src.ID)
		must(t, err)
		if diff := cmp.Diff(src, got); diff != "" {
			t.Fatalf("FindSourceByID mismatch (-want +got):\n%s", diff)
		}
		got, err = s.FindSourceByWriteKey(ctx, src.WriteKey)
		must(t, err)
		if got.ID != src.ID {
			t.Fatalf("FindSourceByWriteKey=%s, want %s", got.ID, src.ID)
		}
	})
	t.Run("Create/ErrConflict", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		MustCreateSource(t, s, "web")
		err := s.CreateSource(ctx, &mosaic.Source{Name: "web"})
		wantCode(t, err, mosaic.ECONFLICT)
		if f := mosaic.ErrorField(err); f != "name" {
			t.Fatalf("field=%q, want name", f)
		}
	})
	t.Run("Create/ErrInvalid", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for _, src := range []*mosaic.Source{
			{Name: ""}, {Name: "  "}, {Name: "a\nb"},
			{Name: "ok", AllowedOrigins: []string{"shop.example.com"}},
		} {
			wantCode(t, s.CreateSource(ctx, src), mosaic.EINVALID)
		}
	})
	t.Run("Find/ErrNotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_, err := s.FindSourceByID(ctx, "src_nope")
		wantCode(t, err, mosaic.ENOTFOUND)
		_, err = s.FindSourceByWriteKey(ctx, "wk_nope")
		wantCode(t, err, mosaic.ENOTFOUND)
		_, err = s.UpdateSource(ctx, "src_nope", mosaic.SourceUpdate{})
		wantCode(t, err, mosaic.ENOTFOUND)
		_, err = s.RotateWriteKey(ctx, "src_nope")
		wantCode(t, err, mosaic.ENOTFOUND)
	})
	t.Run("FindSources", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for _, n := range []string{"web", "app", "crm"} {
			MustCreateSource(t, s, n)
		}
		all, err := s.FindSources(ctx, mosaic.SourceFilter{})
		must(t, err)
		var names []string
		for _, src := range all {
			names = append(names, src.Name)
		}
		if diff := cmp.Diff([]string{"app", "crm", "web"}, names); diff != "" {
			t.Fatalf("names (-want +got):\n%s", diff)
		}
		name := "crm"
		one, err := s.FindSources(ctx, mosaic.SourceFilter{Name: &name})
		must(t, err)
		if len(one) != 1 || one[0].Name != "crm" {
			t.Fatalf("filter by name: %+v", one)
		}
	})
	t.Run("Update", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "web")
		MustCreateSource(t, s, "app")
		name, disabled, origins := "website", true, []string{"https://a.example", "http://localhost:3000"}
		got, err := s.UpdateSource(ctx, src.ID, mosaic.SourceUpdate{Name: &name, Disabled: &disabled, AllowedOrigins: &origins})
		must(t, err)
		if got.Name != name || !got.Disabled || !cmp.Equal(got.AllowedOrigins, origins) || got.WriteKey != src.WriteKey {
			t.Fatalf("updated source: %+v", got)
		}
		again, err := s.FindSourceByID(ctx, src.ID)
		must(t, err)
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("stored update differs (-returned +stored):\n%s", diff)
		}
		taken := "app"
		_, err = s.UpdateSource(ctx, src.ID, mosaic.SourceUpdate{Name: &taken})
		wantCode(t, err, mosaic.ECONFLICT)
		empty := ""
		_, err = s.UpdateSource(ctx, src.ID, mosaic.SourceUpdate{Name: &empty})
		wantCode(t, err, mosaic.EINVALID)
	})
	t.Run("RotateWriteKey", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		src := MustCreateSource(t, s, "web")
		got, err := s.RotateWriteKey(ctx, src.ID)
		must(t, err)
		if got.WriteKey == src.WriteKey || got.WriteKey == "" {
			t.Fatalf("key not rotated: %q", got.WriteKey)
		}
		_, err = s.FindSourceByWriteKey(ctx, src.WriteKey)
		wantCode(t, err, mosaic.ENOTFOUND)
		byNew, err := s.FindSourceByWriteKey(ctx, got.WriteKey)
		must(t, err)
		if byNew.ID != src.ID {
			t.Fatalf("new key finds %s, want %s", byNew.ID, src.ID)
		}
	})
}

func testTokens(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("CreateFind", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		n, err := s.CountTokens(ctx)
		must(t, err)
		if n != 0 {
			t.Fatalf("CountTokens=%d on an empty store", n)
		}
		tok := &mosaic.Token{Name: "ci", Role: mosaic.RoleOwner}
		secret, err := s.CreateToken(ctx, tok)
		must(t, err)
		if secret == "" || tok.ID == "" {
			t.Fatalf("token not created: %+v %q", tok, secret)
		}
		got, err := s.FindTokenBySecret(ctx, secret)
		must(t, err)
		if diff := cmp.Diff(tok, got); diff != "" {
			t.Fatalf("token (-want +got):\n%s", diff)
		}
		n, err = s.CountTokens(ctx)
		must(t, err)
		if n != 1 {
			t.Fatalf("CountTokens=%d, want 1", n)
		}
	})
	t.Run("ListRevoke", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		owner := &mosaic.Token{Name: "first owner", Role: mosaic.RoleOwner}
		ownerSecret, err := s.CreateToken(ctx, owner)
		must(t, err)
		support := &mosaic.Token{Name: "helpdesk", Role: mosaic.RoleSupport}
		supportSecret, err := s.CreateToken(ctx, support)
		must(t, err)
		got, err := s.FindTokens(ctx)
		must(t, err)
		want := []*mosaic.Token{owner, support} // oldest first (ties, in one microsecond, by id)
		slices.SortStableFunc(want, func(a, b *mosaic.Token) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("FindTokens (-want +got):\n%s", diff)
		}
		must(t, s.RevokeToken(ctx, support.ID))
		_, err = s.FindTokenBySecret(ctx, supportSecret)
		wantCode(t, err, mosaic.EUNAUTHORIZED) // at once
		wantCode(t, s.RevokeToken(ctx, support.ID), mosaic.ENOTFOUND)
		wantCode(t, s.RevokeToken(ctx, "tok_nope"), mosaic.ENOTFOUND)
		// The last owner token stays: without it nobody could manage tokens over the API.
		wantCode(t, s.RevokeToken(ctx, owner.ID), mosaic.ECONFLICT)
		if _, err := s.FindTokenBySecret(ctx, ownerSecret); err != nil {
			t.Fatalf("the refused revocation revoked: %v", err)
		}
		second := &mosaic.Token{Name: "second owner", Role: mosaic.RoleOwner}
		_, err = s.CreateToken(ctx, second)
		must(t, err)
		must(t, s.RevokeToken(ctx, owner.ID))
		got, err = s.FindTokens(ctx)
		must(t, err)
		if diff := cmp.Diff([]*mosaic.Token{second}, got); diff != "" {
			t.Fatalf("FindTokens after revoking (-want +got):\n%s", diff)
		}
	})
	t.Run("Settings", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if _, ok, err := s.Setting(ctx, "processor_identity_paths"); err != nil || ok {
			t.Fatalf("a setting never put: ok=%v err=%v", ok, err)
		}
		must(t, s.PutSetting(ctx, "processor_identity_paths", `["userId"]`))
		must(t, s.PutSetting(ctx, "processor_identity_paths", `["userId","traits.customer_number"]`))
		if v, ok, err := s.Setting(ctx, "processor_identity_paths"); err != nil || !ok || v != `["userId","traits.customer_number"]` {
			t.Fatalf("setting = %q %v %v, want the last value put", v, ok, err)
		}
		if _, err := s.IdentitySecret(ctx); err != nil { // settings of other keys are left alone
			t.Fatal(err)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_, err := s.FindTokenBySecret(ctx, "mt_wrong")
		wantCode(t, err, mosaic.EUNAUTHORIZED)
	})
	t.Run("ErrInvalidRole", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_, err := s.CreateToken(ctx, &mosaic.Token{Role: "king"})
		wantCode(t, err, mosaic.EINVALID)
		_, err = s.CreateToken(ctx, &mosaic.Token{Role: mosaic.RoleOwner, Name: "a\x00b"})
		wantCode(t, err, mosaic.EINVALID)
	})
}

// Record returns an inbox record for a minimal track event.
func Record(src mosaic.SourceID, messageID string, received time.Time) *mosaic.InboxRecord {
	return &mosaic.InboxRecord{
		SourceID: src, MessageID: messageID, ReceivedAt: received,
		Payload: []byte(fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":"u1","messageId":%q}`, messageID)),
	}
}

func testInbox(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("AppendRead", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		head, err := s.InboxHead(ctx)
		must(t, err)
		if head != 0 {
			t.Fatalf("empty inbox head=%d", head)
		}
		must(t, s.AppendInbox(ctx, nil))
		now := time.Date(2026, 11, 26, 10, 0, 0, 123456000, time.UTC)
		sent := now.Add(-time.Second)
		var all []*mosaic.InboxRecord
		for batch := 0; batch < 3; batch++ {
			var recs []*mosaic.InboxRecord
			for i := 0; i < 300; i++ { // more than one multi-row chunk
				r := Record("src_a", fmt.Sprintf("m-%d-%d", batch, i), now)
				if i%2 == 0 {
					r.SentAt = &sent
				}
				recs = append(recs, r)
			}
			must(t, s.AppendInbox(ctx, recs))
			all = append(all, recs...)
		}
		for i, r := range all {
			if r.Seq != int64(i+1) {
				t.Fatalf("record %d has seq %d, want %d", i, r.Seq, i+1)
			}
		}
		head, err = s.InboxHead(ctx)
		must(t, err)
		if head != 900 {
			t.Fatalf("head=%d, want 900", head)
		}
		got, err := s.ReadInbox(ctx, 250, 100)
		must(t, err)
		if diff := cmp.Diff(all[250:350], got); diff != "" {
			t.Fatalf("ReadInbox (-want +got):\n%s", diff)
		}
		rest, err := s.ReadInbox(ctx, 850, 100)
		must(t, err)
		if len(rest) != 50 {
			t.Fatalf("read %d records past 850, want 50", len(rest))
		}
	})
}

// Event returns a normalised track event.
func Event(src mosaic.SourceID, messageID, userID string, ts time.Time) *mosaic.Event {
	return &mosaic.Event{
		SourceID: src, MessageID: messageID, Type: mosaic.EventTrack, Event: "Order Completed", UserID: userID,
		AnonymousID: "anon-" + userID, Timestamp: ts, ReceivedAt: ts,
		Properties: json.RawMessage(`{"revenue":12.5,"currency":"EUR","products":[{"sku":"a"}]}`),
		Context:    json.RawMessage(`{"library":{"name":"test"}}`),
	}
}

func testEvents(t *testing.T, open Opener) {
	ctx := context.Background()
	ts := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	t.Run("CommitFind", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		a, b := MustCreateSource(t, s, "a"), MustCreateSource(t, s, "b")
		evs := []*mosaic.Event{
			Event(a.ID, "m1", "u1", ts),
			Event(a.ID, "m2", "u2", ts.Add(time.Second)),
			Event(b.ID, "m1", "u1", ts.Add(2*time.Second)), // same messageId, other source: kept
			Event(a.ID, "m1", "u1", ts.Add(3*time.Second)), // duplicate within the commit
		}
		evs[1].Type, evs[1].Event, evs[1].Name = mosaic.EventPage, "", "Home"
		res, err := s.CommitEvents(ctx, &mosaic.EventCommit{From: 0, Through: 4, Events: evs})
		must(t, err)
		if res.Inserted != 3 || res.Duplicates != 1 {
			t.Fatalf("result=%+v, want 3 inserted 1 duplicate", res)
		}
		res, err = s.CommitEvents(ctx, &mosaic.EventCommit{From: 4, Through: 5, Events: []*mosaic.Event{Event(a.ID, "m2", "u2", ts)},
			Rejected: map[mosaic.SourceID]int64{b.ID: 2}, Duplicates: map[mosaic.SourceID]int64{b.ID: 1}})
		must(t, err)
		if res.Inserted != 0 || res.Duplicates != 2 {
			t.Fatalf("result=%+v, want a duplicate of an earlier commit", res)
		}
		off, err := s.ProcessorOffset(ctx)
		must(t, err)
		if off != 5 {
			t.Fatalf("offset=%d, want 5", off)
		}
		got, next, err := s.FindEvents(ctx, mosaic.EventFilter{})
		must(t, err)
		if next != "" || len(got) != 3 {
			t.Fatalf("FindEvents: %d events, next %q", len(got), next)
		}
		want := []*mosaic.Event{evs[2], evs[1], evs[0]} // newest first
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("events (-want +got):\n%s", diff)
		}
		for _, tc := range []struct {
			name string
			f    mosaic.EventFilter
			ids  []string
		}{
			{"source", mosaic.EventFilter{SourceID: a.ID}, []string{"m2", "m1"}},
			{"user", mosaic.EventFilter{UserID: "u1"}, []string{"m1", "m1"}},
			{"anonymous", mosaic.EventFilter{AnonymousID: "anon-u2"}, []string{"m2"}},
			{"type", mosaic.EventFilter{Type: mosaic.EventPage}, []string{"m2"}},
			{"event", mosaic.EventFilter{Event: "Order Completed", SourceID: b.ID}, []string{"m1"}},
			{"none", mosaic.EventFilter{UserID: "nobody"}, nil},
		} {
			got, _, err := s.FindEvents(ctx, tc.f)
			must(t, err)
			var ids []string
			for _, e := range got {
				ids = append(ids, e.MessageID)
			}
			if diff := cmp.Diff(tc.ids, ids); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, diff)
			}
		}
		st, err := s.Stats(ctx)
		must(t, err)
		if st.Events != 3 || st.Duplicates != 3 || st.Rejected != 2 || st.Sources != 2 || st.Processed != 5 {
			t.Fatalf("stats=%+v", st)
		}
		sa, err := s.FindSourceByID(ctx, a.ID)
		must(t, err)
		if sa.Events != 2 || sa.Duplicates != 2 {
			t.Fatalf("source a counts: events=%d duplicates=%d, want 2 and 2", sa.Events, sa.Duplicates)
		}
	})
	t.Run("Commit/ManyWithDuplicates", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		a := MustCreateSource(t, s, "a")
		// Stores may write events many to a statement: duplicates of earlier commits and of
		// the same commit, anywhere in a long commit, are still told apart and the others get
		// their stored ids.
		_, err := s.CommitEvents(ctx, &mosaic.EventCommit{Through: 1, Events: []*mosaic.Event{
			Event(a.ID, "m007", "u1", ts), Event(a.ID, "m150", "u1", ts)}})
		must(t, err)
		var evs []*mosaic.Event
		dups := map[int]bool{}
		for i := 0; i < 300; i++ {
			msg := fmt.Sprintf("m%03d", i)
			switch {
			case i == 7 || i == 150: // stored by the first commit
				dups[i] = true
			case i == 100 || i == 299: // copies of earlier events of this commit
				msg, dups[i] = fmt.Sprintf("m%03d", i-40), true
			}
			evs = append(evs, Event(a.ID, msg, "u1", ts.Add(time.Duration(i)*time.Millisecond)))
		}
		res, err := s.CommitEvents(ctx, &mosaic.EventCommit{From: 1, Through: 2, Events: evs})
		must(t, err)
		if res.Inserted != 296 || res.Duplicates != 4 {
			t.Fatalf("result=%+v, want 296 inserted and 4 duplicates", res)
		}
		stored := map[string]int64{}
		for cursor := ""; ; {
			got, next, err := s.FindEvents(ctx, mosaic.EventFilter{SourceID: a.ID, Limit: 100, Cursor: cursor})
			must(t, err)
			for _, e := range got {
				stored[e.MessageID] = e.ID
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if len(stored) != 298 {
			t.Fatalf("%d events stored, want 298", len(stored))
		}
		for i, e := range evs {
			if dups[i] {
				if e.ID != 0 {
					t.Errorf("duplicate %d (%s) got id %d", i, e.MessageID, e.ID)
				}
			} else if e.ID == 0 || e.ID != stored[e.MessageID] {
				t.Errorf("event %d (%s): id %d, stored as %d", i, e.MessageID, e.ID, stored[e.MessageID])
			}
		}
	})
	t.Run("Commit/ErrConflict", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		a := MustCreateSource(t, s, "a")
		_, err := s.CommitEvents(ctx, &mosaic.EventCommit{From: 3, Through: 4, Events: []*mosaic.Event{Event(a.ID, "m1", "u1", ts)}})
		wantCode(t, err, mosaic.ECONFLICT)
		got, _, err := s.FindEvents(ctx, mosaic.EventFilter{})
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("a refused commit stored %d events", len(got))
		}
	})
	t.Run("Pagination", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		a := MustCreateSource(t, s, "a")
		var evs []*mosaic.Event
		for i := 0; i < 25; i++ {
			evs = append(evs, Event(a.ID, fmt.Sprintf("m%02d", i), "u1", ts.Add(time.Duration(i)*time.Second)))
		}
		_, err := s.CommitEvents(ctx, &mosaic.EventCommit{Through: 25, Events: evs})
		must(t, err)
		var seen []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			got, next, err := s.FindEvents(ctx, mosaic.EventFilter{UserID: "u1", Limit: 10, Cursor: cursor})
			must(t, err)
			for _, e := range got {
				seen = append(seen, e.MessageID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if len(seen) != 25 || seen[0] != "m24" || seen[24] != "m00" {
			t.Fatalf("paged through %d events: %v", len(seen), seen)
		}
		_, _, err = s.FindEvents(ctx, mosaic.EventFilter{Cursor: "garbage"})
		wantCode(t, err, mosaic.EINVALID)
		_, _, err = s.FindEvents(ctx, mosaic.EventFilter{Limit: mosaic.MaxEventPage + 1})
		wantCode(t, err, mosaic.EINVALID)
	})
}

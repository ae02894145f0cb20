package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/storetest"
)

// TestWholePayloadsRead: events stored before payloads left out what the columns hold
// (AppendStoredJSON) read as they do now, their id and profile taken from the store, not from
// the id and profile the payload was written with.
func TestWholePayloadsRead(t *testing.T) {
	dir := t.TempDir()
	db := mustOpenDir(t, dir)
	ctx := context.Background()
	src := storetest.MustCreateSource(t, db, "web")
	ts := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	evs := []*mosaic.Event{storetest.Event(src.ID, "m1", "u1", ts), storetest.Event(src.ID, "m2", "", ts.Add(time.Second)),
		storetest.Event(src.ID, "m3", "u3", ts.Add(2*time.Second))}
	evs[1].Type, evs[1].Event, evs[1].Name = mosaic.EventPage, "", "Home"
	if _, err := db.CommitEvents(ctx, &mosaic.EventCommit{From: 0, Through: 3, Events: evs}); err != nil {
		t.Fatal(err)
	}
	find := func() []*mosaic.Event {
		t.Helper()
		got, _, err := db.FindEvents(ctx, mosaic.EventFilter{SourceID: src.ID, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("%d events, want 3", len(got))
		}
		return got
	}
	want := find()
	db.Close()

	raw, err := sql.Open("sqlite", filepath.Join(dir, "mosaic.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range want {
		old := *e
		old.ID, old.ProfileID = 0, "prof_when_processed" // as whole payloads were written
		payload, err := old.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(`UPDATE events SET payload = ? WHERE id = ?`, payload, e.ID); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db = mustOpenDir(t, dir)
	defer db.Close()
	if diff := cmp.Diff(want, find()); diff != "" {
		t.Errorf("events with whole payloads (-stored now +stored whole):\n%s", diff)
	}
}

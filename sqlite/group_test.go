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

// TestMigrateGroupsBackfill checks that migration 0003 indexes the memberships recorded
// before it and makes their groups known.
func TestMigrateGroupsBackfill(t *testing.T) {
	dir := t.TempDir()
	db := mustOpenDir(t, dir)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	storetest.CommitIdentity(t, db, &mosaic.IdentityChanges{Profiles: []*mosaic.ProfileState{
		{ID: "prof_a", CreatedAt: t0, UpdatedAt: t0.Add(time.Hour), Groups: []string{"acme", "globex"}},
		{ID: "prof_b", CreatedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(2 * time.Hour), Groups: []string{"acme"}},
		{ID: "prof_m", CreatedAt: t0, UpdatedAt: t0, MergedInto: "prof_a", Groups: []string{"gone"}},
	}})
	db.Close()

	// Back to schema version 2, keeping the profiles.
	raw, err := sql.Open("sqlite", filepath.Join(dir, "mosaic.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE profile_groups`, `DROP TABLE groups`, `DELETE FROM schema_migrations WHERE version = 3`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db = mustOpenDir(t, dir)
	defer db.Close()
	ctx := context.Background()
	members, err := db.FindGroupMembers(ctx, "acme", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]mosaic.ProfileID{"prof_a", "prof_b"}, members); diff != "" {
		t.Errorf("acme members (-want +got):\n%s", diff)
	}
	g, err := db.FindGroupByID(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !g.CreatedAt.Equal(t0) || !g.UpdatedAt.Equal(t0.Add(2*time.Hour)) || len(g.Traits) != 0 {
		t.Errorf("backfilled group: %+v", g)
	}
	if _, err := db.FindGroupByID(ctx, "gone"); mosaic.ErrorCode(err) != mosaic.ENOTFOUND {
		t.Errorf("group of a merged-away profile only: err=%v, want not_found", err)
	}
}

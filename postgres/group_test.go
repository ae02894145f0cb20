package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/postgres"
	"github.com/mosaic-cdp/mosaic/storetest"
)

// TestMigrateGroupsBackfill checks that migration 0003 indexes the memberships recorded
// before it and makes their groups known; a group id that text cannot hold is left out.
func TestMigrateGroupsBackfill(t *testing.T) {
	db := MustOpenDB(t)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	storetest.CommitIdentity(t, db, &mosaic.IdentityChanges{Profiles: []*mosaic.ProfileState{
		{ID: "prof_a", CreatedAt: t0, UpdatedAt: t0.Add(time.Hour), Groups: []string{"acme", "globex", "a\x00b"}},
		{ID: "prof_b", CreatedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(2 * time.Hour), Groups: []string{"acme", "é"}},
		{ID: "prof_m", CreatedAt: t0, UpdatedAt: t0, MergedInto: "prof_a", Groups: []string{"gone"}},
	}})

	// Back to schema version 2, keeping the profiles.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	table := func(name string) string { return pgx.Identifier{db.Schema, name}.Sanitize() }
	for _, q := range []string{`DROP TABLE ` + table("profile_groups"), `DROP TABLE ` + table("groups"),
		`DELETE FROM ` + table("schema_migrations") + ` WHERE version = 3`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	again := postgres.NewDB(db.DSN)
	again.Schema = db.Schema
	if err := again.Open(); err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for group, want := range map[string][]mosaic.ProfileID{"acme": {"prof_a", "prof_b"}, "é": {"prof_b"}, "a\x00b": {}} {
		members, err := again.FindGroupMembers(ctx, group, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, members); diff != "" {
			t.Errorf("%q members (-want +got):\n%s", group, diff)
		}
	}
	g, err := again.FindGroupByID(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !g.CreatedAt.Equal(t0) || !g.UpdatedAt.Equal(t0.Add(2*time.Hour)) || len(g.Traits) != 0 {
		t.Errorf("backfilled group: %+v", g)
	}
	if _, err := again.FindGroupByID(ctx, "gone"); mosaic.ErrorCode(err) != mosaic.ENOTFOUND {
		t.Errorf("group of a merged-away profile only: err=%v, want not_found", err)
	}
}

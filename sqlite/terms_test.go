package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/storetest"
)

// TestMigrateProfileTerms checks that migration 0007 copies each profile's search terms into
// its row, so the first write after it replaces them (none left behind, none lost).
func TestMigrateProfileTerms(t *testing.T) {
	dir := t.TempDir()
	db := mustOpenDir(t, dir)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	storetest.CommitIdentity(t, db, &mosaic.IdentityChanges{Profiles: []*mosaic.ProfileState{
		{ID: "prof_a", CreatedAt: t0, UpdatedAt: t0, SearchTerms: []string{"ada", "ada lovelace", "lovelace", "london"}},
		{ID: "prof_b", CreatedAt: t0, UpdatedAt: t0, SearchTerms: []string{"bob"}},
	}})
	db.Close()

	// Back to the schema before 0007, keeping the terms.
	raw, err := sql.Open("sqlite", filepath.Join(dir, "mosaic.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`ALTER TABLE profiles DROP COLUMN search_terms`, `CREATE INDEX profile_search_profile ON profile_search (profile_id)`,
		`DELETE FROM schema_migrations WHERE version = 7`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db = mustOpenDir(t, dir)
	defer db.Close()
	ctx := context.Background()
	// prof_a moves from London to Paris; prof_b is not written.
	storetest.CommitIdentity(t, db, &mosaic.IdentityChanges{Profiles: []*mosaic.ProfileState{
		{ID: "prof_a", CreatedAt: t0, UpdatedAt: t0.Add(time.Hour), SearchTerms: []string{"ada", "ada lovelace", "lovelace", "paris"}},
	}})
	for q, want := range map[string][]mosaic.ProfileID{"lon": nil, "par": {"prof_a"}, "lovel": {"prof_a"}, "bob": {"prof_b"}} {
		ps, _, err := db.FindProfiles(ctx, mosaic.ProfileFilter{Q: q})
		if err != nil {
			t.Fatal(err)
		}
		var got []mosaic.ProfileID
		for _, p := range ps {
			got = append(got, p.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("search %q: %v, want %v", q, got, want)
		}
	}
}

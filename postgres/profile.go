package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic"
)

var _ mosaic.ProfileService = (*DB)(nil)

// profiles builds the read model of profiles from their states: each live one with its
// identifiers (sorted by type, then value), read in one query.
func (db *DB) profiles(ctx context.Context, states []*mosaic.ProfileState) ([]*mosaic.Profile, error) {
	out := make([]*mosaic.Profile, len(states))
	byID := map[mosaic.ProfileID]*mosaic.Profile{}
	var live []string
	for i, p := range states {
		out[i] = &mosaic.Profile{ID: p.ID, Traits: p.Traits, TraitSources: p.TraitSources, Groups: nonNil(p.Groups),
			CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, MergedFrom: nonNil(p.MergedFrom), MergedInto: p.MergedInto, Flags: p.Flags,
			Identifiers: []mosaic.Identifier{}}
		if p.MergedInto == "" {
			byID[p.ID] = out[i]
			live = append(live, string(p.ID))
		}
	}
	if len(live) == 0 {
		return out, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT profile_id, type, value FROM identifiers WHERE profile_id = ANY($1)
		ORDER BY profile_id, type, value`, live)
	if err != nil {
		return nil, storeErr(err)
	}
	var pid mosaic.ProfileID
	var id mosaic.Identifier
	_, err = pgx.ForEachRow(rows, []any{&pid, &id.Type, &id.Value}, func() error {
		p := byID[pid]
		p.Identifiers = append(p.Identifiers, id)
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return out, nil
}

// FindProfileByID implements mosaic.ProfileService.
func (db *DB) FindProfileByID(ctx context.Context, id mosaic.ProfileID) (*mosaic.Profile, error) {
	p, err := scanProfileState(db.pool.QueryRow(ctx, `SELECT `+profileColumns+` FROM profiles WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mosaic.Errorf(mosaic.ENOTFOUND, "Profile not found.")
	} else if err != nil {
		return nil, storeErr(err)
	}
	out, err := db.profiles(ctx, []*mosaic.ProfileState{p})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// FindProfileByIdentifier implements mosaic.ProfileService.
func (db *DB) FindProfileByIdentifier(ctx context.Context, key mosaic.IdentifierKey) (*mosaic.Profile, error) {
	var id mosaic.ProfileID
	err := db.pool.QueryRow(ctx, `SELECT profile_id FROM identifiers WHERE key = $1`, key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mosaic.Errorf(mosaic.ENOTFOUND, "No profile has this identifier.")
	} else if err != nil {
		return nil, storeErr(err)
	}
	return db.FindProfileByID(ctx, id)
}

// FindProfiles implements mosaic.ProfileService. A query (Q or one of Terms) matches
// profiles with a search term or an identifier that starts with it, byte for byte: both are
// kept lower-cased as bytea, and [q, q+U+10FFFF) is a range scan of an index on each.
func (db *DB) FindProfiles(ctx context.Context, f mosaic.ProfileFilter) ([]*mosaic.Profile, string, error) {
	limit, after, err := mosaic.ParseProfilePage(f)
	if err != nil {
		return nil, "", err
	}
	var rows pgx.Rows
	if prefixes := f.SearchPrefixes(); len(prefixes) > 0 || len(f.IDs) > 0 {
		var match []string
		args := []any{after, limit + 1}
		arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
		for _, q := range prefixes {
			lo, hi := arg([]byte(q)), arg([]byte(q+"\U0010FFFF"))
			match = append(match, `SELECT profile_id FROM profile_search WHERE term >= `+lo+` AND term < `+hi,
				`SELECT profile_id FROM identifiers WHERE search >= `+lo+` AND search < `+hi)
		}
		if len(f.IDs) > 0 {
			match = append(match, `SELECT id FROM profiles WHERE id = ANY(`+arg(strs(f.IDs))+`)`)
		}
		rows, err = db.pool.Query(ctx, `SELECT `+profileColumns+` FROM profiles
			WHERE id IN (`+strings.Join(match, " UNION ALL ")+`)
			AND merged_into IS NULL AND id > $1 ORDER BY id LIMIT $2`, args...)
	} else {
		rows, err = db.pool.Query(ctx, `SELECT `+profileColumns+` FROM profiles
			WHERE merged_into IS NULL AND id > $1 ORDER BY id LIMIT $2`, after, limit+1)
	}
	if err != nil {
		return nil, "", storeErr(err)
	}
	states, err := pgx.AppendRows([]*mosaic.ProfileState(nil), rows, func(row pgx.CollectableRow) (*mosaic.ProfileState, error) {
		return scanProfileState(row)
	})
	if err != nil {
		return nil, "", storeErr(err)
	}
	next := ""
	if len(states) > limit {
		states = states[:limit]
		next = mosaic.ProfileCursor(states[limit-1].ID)
	}
	out, err := db.profiles(ctx, states)
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// FindProfileGraph implements mosaic.ProfileService.
func (db *DB) FindProfileGraph(ctx context.Context, id mosaic.ProfileID) ([]*mosaic.IdentifierRecord, []*mosaic.IdentityEdge, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+identifierColumns+` FROM identifiers WHERE profile_id = $1 ORDER BY type, value`, id)
	if err != nil {
		return nil, nil, storeErr(err)
	}
	ids, err := pgx.AppendRows([]*mosaic.IdentifierRecord(nil), rows, scanIdentifier)
	if err != nil {
		return nil, nil, storeErr(err)
	}
	if len(ids) == 0 {
		if _, err := db.FindProfileByID(ctx, id); err != nil {
			return nil, nil, err
		}
		return ids, nil, nil
	}
	keys := make([]mosaic.IdentifierKey, len(ids))
	for i, r := range ids {
		keys[i] = r.Key
	}
	edges, err := db.FindIdentityEdges(ctx, keys)
	return ids, edges, err
}

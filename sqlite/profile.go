package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

var _ mosaic.ProfileService = (*DB)(nil)

// profileFromState builds the read model of a profile: its state plus its identifiers.
func (db *DB) profileFromState(ctx context.Context, p *mosaic.ProfileState) (*mosaic.Profile, error) {
	out := &mosaic.Profile{ID: p.ID, Traits: p.Traits, TraitSources: p.TraitSources, Groups: nonNil(p.Groups),
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, MergedFrom: nonNil(p.MergedFrom), MergedInto: p.MergedInto, Flags: p.Flags,
		Identifiers: []mosaic.Identifier{}}
	if p.MergedInto != "" {
		return out, nil
	}
	rows, err := db.read.QueryContext(ctx, `SELECT type, value FROM identifiers WHERE profile_id = ? ORDER BY type, value`, p.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id mosaic.Identifier
		if err := rows.Scan(&id.Type, &id.Value); err != nil {
			return nil, storeErr(err)
		}
		out.Identifiers = append(out.Identifiers, id)
	}
	return out, storeErr(rows.Err())
}

// FindProfileByID implements mosaic.ProfileService.
func (db *DB) FindProfileByID(ctx context.Context, id mosaic.ProfileID) (*mosaic.Profile, error) {
	p, err := scanProfileState(db.read.QueryRowContext(ctx, `SELECT `+profileColumns+` FROM profiles WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mosaic.Errorf(mosaic.ENOTFOUND, "Profile not found.")
	} else if err != nil {
		return nil, storeErr(err)
	}
	return db.profileFromState(ctx, p)
}

// FindProfileByIdentifier implements mosaic.ProfileService.
func (db *DB) FindProfileByIdentifier(ctx context.Context, key mosaic.IdentifierKey) (*mosaic.Profile, error) {
	var id mosaic.ProfileID
	err := db.read.QueryRowContext(ctx, `SELECT profile_id FROM identifiers WHERE key = ?`, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mosaic.Errorf(mosaic.ENOTFOUND, "No profile has this identifier.")
	} else if err != nil {
		return nil, storeErr(err)
	}
	return db.FindProfileByID(ctx, id)
}

// FindProfiles implements mosaic.ProfileService.
func (db *DB) FindProfiles(ctx context.Context, f mosaic.ProfileFilter) ([]*mosaic.Profile, string, error) {
	limit, after, err := mosaic.ParseProfilePage(f)
	if err != nil {
		return nil, "", err
	}
	var rows *sql.Rows
	if prefixes := f.SearchPrefixes(); len(prefixes) > 0 || len(f.IDs) > 0 {
		var match []string
		var args []any
		for _, q := range prefixes {
			match = append(match, `SELECT profile_id FROM profile_search WHERE term >= ? AND term < ?`,
				`SELECT profile_id FROM identifiers WHERE search >= ? AND search < ?`)
			args = append(args, q, q+"\U0010FFFF", q, q+"\U0010FFFF")
		}
		if len(f.IDs) > 0 {
			match = append(match, `SELECT id AS profile_id FROM profiles WHERE id IN (`+placeholders(len(f.IDs))+`)`)
			args = append(args, anys(f.IDs)...)
		}
		rows, err = db.read.QueryContext(ctx, `SELECT DISTINCT p.id FROM (`+strings.Join(match, " UNION ")+`) m
			JOIN profiles p ON p.id = m.profile_id
			WHERE p.merged_into IS NULL AND p.id > ? ORDER BY p.id LIMIT ?`, append(args, after, limit+1)...)
	} else {
		rows, err = db.read.QueryContext(ctx, `SELECT id FROM profiles WHERE merged_into IS NULL AND id > ? ORDER BY id LIMIT ?`, after, limit+1)
	}
	if err != nil {
		return nil, "", storeErr(err)
	}
	var ids []mosaic.ProfileID
	for rows.Next() {
		var id mosaic.ProfileID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, "", storeErr(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", storeErr(err)
	}
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = mosaic.ProfileCursor(ids[limit-1])
	}
	out := make([]*mosaic.Profile, 0, len(ids))
	for _, id := range ids {
		p, err := db.FindProfileByID(ctx, id)
		if err != nil {
			return nil, "", err
		}
		out = append(out, p)
	}
	return out, next, nil
}

// FindProfileGraph implements mosaic.ProfileService.
func (db *DB) FindProfileGraph(ctx context.Context, id mosaic.ProfileID) ([]*mosaic.IdentifierRecord, []*mosaic.IdentityEdge, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+identifierColumns+` FROM identifiers WHERE profile_id = ? ORDER BY type, value`, id)
	if err != nil {
		return nil, nil, storeErr(err)
	}
	var ids []*mosaic.IdentifierRecord
	var keys []mosaic.IdentifierKey
	for rows.Next() {
		r, err := scanIdentifier(rows)
		if err != nil {
			rows.Close()
			return nil, nil, storeErr(err)
		}
		ids = append(ids, r)
		keys = append(keys, r.Key)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, storeErr(err)
	}
	if len(ids) == 0 {
		if _, err := db.FindProfileByID(ctx, id); err != nil {
			return nil, nil, err
		}
		return ids, nil, nil
	}
	edges, err := db.FindIdentityEdges(ctx, keys)
	return ids, edges, err
}

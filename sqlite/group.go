package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/mosaic-cdp/mosaic"
)

const groupColumns = `id, created_at, updated_at, state, traits, trait_sources`

func scanGroupState(row interface{ Scan(...any) error }) (*mosaic.GroupState, error) {
	var g mosaic.GroupState
	var created, updated int64
	var state, traits, sources []byte
	if err := row.Scan(&g.ID, &created, &updated, &state, &traits, &sources); err != nil {
		return nil, err
	}
	g.CreatedAt, g.UpdatedAt, g.State = fromMicros(created), fromMicros(updated), state
	if err := json.Unmarshal(traits, &g.Traits); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(sources, &g.TraitSources); err != nil {
		return nil, err
	}
	return &g, nil
}

// FindGroupStates implements mosaic.IdentityService.
func (db *DB) FindGroupStates(ctx context.Context, ids []string) ([]*mosaic.GroupState, error) {
	var out []*mosaic.GroupState
	err := chunks(ids, func(ks []string) error {
		rows, err := db.read.QueryContext(ctx, `SELECT `+groupColumns+` FROM groups WHERE id IN (`+placeholders(len(ks))+`)`, anys(ks)...)
		if err != nil {
			return storeErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			g, err := scanGroupState(rows)
			if err != nil {
				return storeErr(err)
			}
			out = append(out, g)
		}
		return storeErr(rows.Err())
	})
	return out, err
}

// FindGroupByID implements mosaic.ProfileService.
func (db *DB) FindGroupByID(ctx context.Context, id string) (*mosaic.Group, error) {
	g, err := scanGroupState(db.read.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM groups WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mosaic.Errorf(mosaic.ENOTFOUND, "Group not found.")
	} else if err != nil {
		return nil, storeErr(err)
	}
	return &mosaic.Group{ID: g.ID, Traits: nonNilMap(g.Traits), TraitSources: nonNilMap(g.TraitSources),
		CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}, nil
}

// FindGroupMembers implements mosaic.ProfileService.
func (db *DB) FindGroupMembers(ctx context.Context, id string, after mosaic.ProfileID, limit int) ([]mosaic.ProfileID, error) {
	if limit <= 0 {
		return nil, mosaic.FieldErrorf(mosaic.EINVALID, "limit", "limit must be a positive number.")
	}
	rows, err := db.read.QueryContext(ctx, `SELECT profile_id FROM profile_groups WHERE group_id = ? AND profile_id > ? ORDER BY profile_id LIMIT ?`, id, after, limit)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	out := []mosaic.ProfileID{}
	for rows.Next() {
		var p mosaic.ProfileID
		if err := rows.Scan(&p); err != nil {
			return nil, storeErr(err)
		}
		out = append(out, p)
	}
	return out, storeErr(rows.Err())
}

// commitGroups writes the group states of a processed range, and the group memberships of
// the profiles it writes: a profile's rows are replaced by its groups, or removed when it
// was merged away.
func commitGroups(ch *mosaic.IdentityChanges, exec func(q string, args ...any) error) error {
	for _, g := range ch.Groups {
		state := g.State
		if len(state) == 0 {
			state = json.RawMessage("{}")
		}
		if err := exec(`INSERT INTO groups (`+groupColumns+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, state = excluded.state,
			traits = excluded.traits, trait_sources = excluded.trait_sources`,
			g.ID, micros(g.CreatedAt), micros(g.UpdatedAt), []byte(state), mosaic.MarshalTraits(g.Traits), mosaic.MarshalTraitSources(g.TraitSources)); err != nil {
			return err
		}
	}
	for _, p := range ch.Profiles {
		if !p.New {
			if err := exec(`DELETE FROM profile_groups WHERE profile_id = ?`, p.ID); err != nil {
				return err
			}
		}
		if p.MergedInto != "" {
			continue
		}
		for _, g := range p.Groups {
			if err := exec(`INSERT INTO profile_groups (group_id, profile_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, g, p.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

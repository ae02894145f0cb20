package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic"
)

// Group ids are stored as bytea (see migrations/0003_groups.sql): they go to the server as
// []byte and come back as strings.

const groupColumns = `id, created_at, updated_at, state, traits, trait_sources`

func scanGroupState(row pgx.Row) (*mosaic.GroupState, error) {
	var g mosaic.GroupState
	var id, state, traits, sources []byte
	if err := row.Scan(&id, &g.CreatedAt, &g.UpdatedAt, &state, &traits, &sources); err != nil {
		return nil, err
	}
	g.ID, g.CreatedAt, g.UpdatedAt, g.State = string(id), g.CreatedAt.UTC(), g.UpdatedAt.UTC(), state
	if err := json.Unmarshal(traits, &g.Traits); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(sources, &g.TraitSources); err != nil {
		return nil, err
	}
	return &g, nil
}

// byteas converts ids to a [][]byte, which pgx sends as a bytea[] parameter.
func byteas(ids []string) [][]byte {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = []byte(id)
	}
	return out
}

// FindGroupStates implements mosaic.IdentityService.
func (db *DB) FindGroupStates(ctx context.Context, ids []string) ([]*mosaic.GroupState, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT `+groupColumns+` FROM groups WHERE id = ANY($1)`, byteas(ids))
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.AppendRows([]*mosaic.GroupState(nil), rows, func(row pgx.CollectableRow) (*mosaic.GroupState, error) {
		return scanGroupState(row)
	})
	return out, storeErr(err)
}

// FindGroupByID implements mosaic.ProfileService.
func (db *DB) FindGroupByID(ctx context.Context, id string) (*mosaic.Group, error) {
	g, err := scanGroupState(db.pool.QueryRow(ctx, `SELECT `+groupColumns+` FROM groups WHERE id = $1`, []byte(id)))
	if errors.Is(err, pgx.ErrNoRows) {
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
	rows, err := db.pool.Query(ctx, `SELECT profile_id FROM profile_groups WHERE group_id = $1 AND profile_id > $2 ORDER BY profile_id LIMIT $3`, []byte(id), after, limit)
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.AppendRows([]mosaic.ProfileID{}, rows, pgx.RowTo[mosaic.ProfileID])
	return out, storeErr(err)
}

// queueGroups queues the group states of a processed range on b, and the group memberships
// of the profiles it writes: a profile's rows are replaced by its groups, or removed when it
// was merged away.
func queueGroups(b *pgx.Batch, ch *mosaic.IdentityChanges) error {
	for _, g := range ch.Groups {
		traits, sources := mosaic.MarshalTraits(g.Traits), mosaic.MarshalTraitSources(g.TraitSources)
		state := []byte(g.State)
		if len(state) == 0 {
			state = []byte("{}")
		}
		b.Queue(`INSERT INTO groups (`+groupColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, state = excluded.state,
			traits = excluded.traits, trait_sources = excluded.trait_sources`,
			[]byte(g.ID), g.CreatedAt, g.UpdatedAt, state, traits, sources)
	}
	for _, p := range ch.Profiles {
		if !p.New {
			b.Queue(`DELETE FROM profile_groups WHERE profile_id = $1`, p.ID)
		}
		if p.MergedInto != "" || len(p.Groups) == 0 {
			continue
		}
		b.Queue(`INSERT INTO profile_groups (group_id, profile_id) SELECT g, $2 FROM unnest($1::bytea[]) AS g ON CONFLICT DO NOTHING`,
			byteas(p.Groups), p.ID)
	}
	return nil
}

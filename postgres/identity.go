package postgres

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic"
)

var _ mosaic.IdentityService = (*DB)(nil)

// IdentitySecret implements mosaic.IdentityService. Two callers racing to create the secret
// both get the one that was stored first.
func (db *DB) IdentitySecret(ctx context.Context) ([]byte, error) {
	const read = `SELECT value FROM settings WHERE key = 'identity_secret'`
	var secret []byte
	err := db.pool.QueryRow(ctx, read).Scan(&secret)
	if err == nil {
		return secret, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, storeErr(err)
	}
	fresh := make([]byte, 32)
	rand.Read(fresh)
	if _, err := db.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('identity_secret', $1) ON CONFLICT (key) DO NOTHING`, fresh); err != nil {
		return nil, storeErr(err)
	}
	// A new statement, so a new snapshot: it sees the row whichever insert won.
	if err := db.pool.QueryRow(ctx, read).Scan(&secret); err != nil {
		return nil, storeErr(err)
	}
	return secret, nil
}

// strs converts ids to a []string, which pgx sends as a text[] parameter.
func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

const identifierColumns = `key, type, value, profile_id, hub, first_seen, origin, stale`

func scanIdentifier(row pgx.CollectableRow) (*mosaic.IdentifierRecord, error) {
	var r mosaic.IdentifierRecord
	if err := row.Scan(&r.Key, &r.Type, &r.Value, &r.ProfileID, &r.Hub, &r.FirstSeen, &r.Origin, &r.Stale); err != nil {
		return nil, err
	}
	r.FirstSeen = r.FirstSeen.UTC()
	return &r, nil
}

// FindIdentifiers implements mosaic.IdentityService.
func (db *DB) FindIdentifiers(ctx context.Context, keys []mosaic.IdentifierKey) ([]*mosaic.IdentifierRecord, error) {
	return db.findIdentifiersBy(ctx, "key", strs(keys))
}

// FindProfileIdentifiers implements mosaic.IdentityService.
func (db *DB) FindProfileIdentifiers(ctx context.Context, ids []mosaic.ProfileID) ([]*mosaic.IdentifierRecord, error) {
	return db.findIdentifiersBy(ctx, "profile_id", strs(ids))
}

// findIdentifiersBy returns the identifiers whose column col (key, profile_id) is among vals.
func (db *DB) findIdentifiersBy(ctx context.Context, col string, vals []string) ([]*mosaic.IdentifierRecord, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT `+identifierColumns+` FROM identifiers WHERE `+col+` = ANY($1)`, vals)
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.AppendRows([]*mosaic.IdentifierRecord(nil), rows, scanIdentifier)
	return out, storeErr(err)
}

const edgeColumns = `a, b, kind, event_time, evidence, source_id, refused, stale`

func scanEdge(row pgx.CollectableRow) (*mosaic.IdentityEdge, error) {
	var e mosaic.IdentityEdge
	if err := row.Scan(&e.A, &e.B, &e.Kind, &e.EventTime, &e.Evidence, &e.SourceID, &e.Refused, &e.Stale); err != nil {
		return nil, err
	}
	e.EventTime = e.EventTime.UTC()
	return &e, nil
}

// FindIdentityEdges implements mosaic.IdentityService. An edge with both ends among keys is
// returned once.
func (db *DB) FindIdentityEdges(ctx context.Context, keys []mosaic.IdentifierKey) ([]*mosaic.IdentityEdge, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT `+edgeColumns+` FROM identity_edges WHERE a = ANY($1) OR b = ANY($1)`, strs(keys))
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.AppendRows([]*mosaic.IdentityEdge(nil), rows, scanEdge)
	return out, storeErr(err)
}

// FindIdentityConstraints implements mosaic.IdentityService.
func (db *DB) FindIdentityConstraints(ctx context.Context, keys []mosaic.IdentifierKey) ([]*mosaic.IdentityConstraint, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	// Stewards' constraints are few and most stores have none (see the sqlite store).
	var some bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM identity_constraints)`).Scan(&some); err != nil || !some {
		return nil, storeErr(err)
	}
	rows, err := db.pool.Query(ctx, `SELECT a, b, created_at, reason, created_by FROM identity_constraints WHERE a = ANY($1) OR b = ANY($1)`, strs(keys))
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.AppendRows([]*mosaic.IdentityConstraint(nil), rows, func(row pgx.CollectableRow) (*mosaic.IdentityConstraint, error) {
		var c mosaic.IdentityConstraint
		if err := row.Scan(&c.A, &c.B, &c.CreatedAt, &c.Reason, &c.By); err != nil {
			return nil, err
		}
		c.CreatedAt = c.CreatedAt.UTC()
		return &c, nil
	})
	return out, storeErr(err)
}

const profileColumns = `id, created_at, updated_at, merged_into, merged_from, flags, groups_, state, traits, trait_sources`

// scanProfileState reads a row of profileColumns. The JSON columns are read as their bytes
// and decoded here, as the sqlite store does, so both return the same values.
func scanProfileState(row pgx.Row) (*mosaic.ProfileState, error) {
	var p mosaic.ProfileState
	var into *string
	var from, flags, groups, state, traits, sources []byte
	if err := row.Scan(&p.ID, &p.CreatedAt, &p.UpdatedAt, &into, &from, &flags, &groups, &state, &traits, &sources); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	if into != nil {
		p.MergedInto = mosaic.ProfileID(*into)
	}
	p.State = state
	for _, f := range []struct {
		b []byte
		v any
	}{{from, &p.MergedFrom}, {flags, &p.Flags}, {groups, &p.Groups}, {traits, &p.Traits}, {sources, &p.TraitSources}} {
		if err := json.Unmarshal(f.b, f.v); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// FindProfileStates implements mosaic.IdentityService.
func (db *DB) FindProfileStates(ctx context.Context, ids []mosaic.ProfileID) ([]*mosaic.ProfileState, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT `+profileColumns+` FROM profiles WHERE id = ANY($1)`, strs(ids))
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.AppendRows([]*mosaic.ProfileState(nil), rows, func(row pgx.CollectableRow) (*mosaic.ProfileState, error) {
		return scanProfileState(row)
	})
	return out, storeErr(err)
}

// FindEventsByIdentity implements mosaic.IdentityService.
func (db *DB) FindEventsByIdentity(ctx context.Context, keys []mosaic.IdentifierKey, types []mosaic.EventType) ([]*mosaic.Event, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	q, args := `SELECT `+eventColumns+` FROM events e LEFT JOIN identifiers i ON i.key = e.identity
		WHERE e.identity = ANY($1)`, []any{strs(keys)}
	if len(types) > 0 {
		q, args = q+` AND e.type = ANY($2)`, append(args, strs(types))
	}
	rows, err := db.pool.Query(ctx, q+` ORDER BY e.id`, args...)
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.AppendRows([]*mosaic.Event(nil), rows, scanEvent)
	return out, storeErr(err)
}

// FindStoredMessageIDs implements mosaic.IdentityService.
func (db *DB) FindStoredMessageIDs(ctx context.Context, src mosaic.SourceID, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT message_id FROM events WHERE source_id = $1 AND message_id = ANY($2)`, src, ids)
	if err != nil {
		return nil, storeErr(err)
	}
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		out[id] = true
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return out, nil
}

// AddIdentityConstraint implements mosaic.IdentityService.
func (db *DB) AddIdentityConstraint(ctx context.Context, c *mosaic.IdentityConstraint) error {
	if c.A == "" {
		return mosaic.Errorf(mosaic.EINVALID, "A constraint needs an identifier.")
	}
	if c.B != "" && c.B < c.A {
		c.A, c.B = c.B, c.A
	}
	c.CreatedAt = db.now()
	return db.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO identity_constraints (a, b, created_at, reason, created_by) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (a, b) DO NOTHING`, c.A, c.B, c.CreatedAt, c.Reason, c.By)
		for _, k := range []mosaic.IdentifierKey{c.A, c.B} { // in key order, as commits delete them
			if k != "" {
				b.Queue(`INSERT INTO identity_recompute (key) VALUES ($1) ON CONFLICT (key) DO NOTHING`, k)
			}
		}
		return storeErr(tx.SendBatch(ctx, b).Close())
	})
}

// RemoveIdentityConstraint implements mosaic.IdentityService.
func (db *DB) RemoveIdentityConstraint(ctx context.Context, a, b mosaic.IdentifierKey) error {
	if b != "" && b < a {
		a, b = b, a
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		if b != "" {
			var match string
			err := tx.QueryRow(ctx, `SELECT id FROM match_candidates WHERE status = 'rejected' AND (a = $1 AND b = $2 OR a = $2 AND b = $1)`, a, b).Scan(&match)
			if err == nil {
				return rejectedMatchError(match)
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return storeErr(err)
			}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM identity_constraints WHERE a = $1 AND b = $2`, a, b)
		if err != nil {
			return storeErr(err)
		}
		if tag.RowsAffected() == 0 {
			return mosaic.Errorf(mosaic.ENOTFOUND, "No such split is recorded.")
		}
		keys := []mosaic.IdentifierKey{a}
		if b != "" {
			keys = append(keys, b)
		}
		return queueRecompute(ctx, tx, keys...)
	})
}

// QueueProfileRebuild implements mosaic.IdentityService. Each profile is queued by the least
// of its identifier keys, so queueing a profile twice queues it once.
func (db *DB) QueueProfileRebuild(ctx context.Context, ids []mosaic.ProfileID) (int64, error) {
	q := `INSERT INTO profile_rebuild (key)
		SELECT MIN(i.key) FROM identifiers i JOIN profiles p ON p.id = i.profile_id
		WHERE p.merged_into IS NULL`
	var args []any
	if len(ids) > 0 {
		q += ` AND i.profile_id = ANY($1)`
		args = append(args, strs(ids))
	}
	var n int64
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if len(ids) == 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('group_rebuild', '1') ON CONFLICT (key) DO NOTHING`); err != nil {
				return storeErr(err)
			}
		}
		tag, err := tx.Exec(ctx, q+` GROUP BY i.profile_id ON CONFLICT (key) DO NOTHING`, args...)
		n = tag.RowsAffected()
		return storeErr(err)
	})
	return n, err
}

// PendingGroupRebuild implements mosaic.IdentityService.
func (db *DB) PendingGroupRebuild(ctx context.Context) (bool, error) {
	var ok bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM settings WHERE key = 'group_rebuild')`).Scan(&ok)
	return ok, storeErr(err)
}

// FindGroupCalls implements mosaic.IdentityService.
func (db *DB) FindGroupCalls(ctx context.Context, after int64, limit int) ([]*mosaic.Event, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+` FROM events e LEFT JOIN identifiers i ON i.key = e.identity
		WHERE e.type = 'group' AND e.id > $1 ORDER BY e.id LIMIT $2`, after, limit)
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.AppendRows([]*mosaic.Event(nil), rows, scanEvent)
	return out, storeErr(err)
}

// QueueIdentityReplay implements mosaic.IdentityService.
func (db *DB) QueueIdentityReplay(ctx context.Context) (*mosaic.IdentityReplay, error) {
	r := &mosaic.IdentityReplay{}
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&r.Through); err != nil {
			return storeErr(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE identity_edges SET stale = true WHERE kind <> $1 AND NOT stale`, mosaic.EdgeProbabilistic); err != nil {
			return storeErr(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE identifiers SET stale = true WHERE NOT stale`); err != nil {
			return storeErr(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value) SELECT $1, value FROM settings WHERE key = $2
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, mosaic.SettingGraphIdentityRules, mosaic.SettingProcessorIdentityRules); err != nil {
			return storeErr(err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM settings WHERE key = $1`, mosaic.SettingMixedIdentityRules); err != nil {
			return storeErr(err)
		}
		raw, _ := json.Marshal(r)
		_, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			mosaic.SettingIdentityReplay, raw)
		return storeErr(err)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// IdentityReplay implements mosaic.IdentityService.
func (db *DB) IdentityReplay(ctx context.Context) (*mosaic.IdentityReplay, error) {
	raw, ok, err := db.Setting(ctx, mosaic.SettingIdentityReplay)
	if err != nil || !ok {
		return nil, err
	}
	var r mosaic.IdentityReplay
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, storeErr(err)
	}
	return &r, nil
}

// FindStoredEvents implements mosaic.IdentityService.
func (db *DB) FindStoredEvents(ctx context.Context, after, through int64, limit int) ([]*mosaic.Event, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+` FROM events e LEFT JOIN identifiers i ON i.key = e.identity
		WHERE e.id > $1 AND e.id <= $2 ORDER BY e.id LIMIT $3`, after, through, limit)
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.AppendRows([]*mosaic.Event(nil), rows, scanEvent)
	return out, storeErr(err)
}

// PendingRebuilds implements mosaic.IdentityService.
func (db *DB) PendingRebuilds(ctx context.Context, limit int) ([]mosaic.IdentifierKey, error) {
	return db.queuedKeys(ctx, "profile_rebuild", limit)
}

// PendingRecomputes implements mosaic.IdentityService.
func (db *DB) PendingRecomputes(ctx context.Context, limit int) ([]mosaic.IdentifierKey, error) {
	return db.queuedKeys(ctx, "identity_recompute", limit)
}

// queuedKeys returns the first keys of a queue table (one key column), in key order.
func (db *DB) queuedKeys(ctx context.Context, table string, limit int) ([]mosaic.IdentifierKey, error) {
	var lim *int // a negative limit means none, as in SQLite
	if limit >= 0 {
		lim = &limit
	}
	rows, err := db.pool.Query(ctx, `SELECT key FROM `+table+` ORDER BY key LIMIT $1`, lim)
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.AppendRows([]mosaic.IdentifierKey(nil), rows, pgx.RowTo[mosaic.IdentifierKey])
	return out, storeErr(err)
}

// queueIdentity queues the identity writes of a processed range on b, which CommitEvents
// sends inside its transaction. The statements run in order, one per row as in the sqlite
// store, so a key listed twice ends as the last write left it; they go to the server as one
// pipeline with prepared statements, so thousands of rows cost one round trip.
func queueIdentity(b *pgx.Batch, ch *mosaic.IdentityChanges, replaying bool) error {
	if ch == nil {
		return nil
	}
	for _, r := range ch.Identifiers {
		b.Queue(`INSERT INTO identifiers (key, type, value, search, profile_id, hub, first_seen, origin, stale) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (key) DO UPDATE SET profile_id = excluded.profile_id, hub = excluded.hub, origin = excluded.origin,
			first_seen = LEAST(identifiers.first_seen, excluded.first_seen), stale = identifiers.stale AND excluded.stale`,
			r.Key, r.Type, r.Value, []byte(strings.ToLower(r.Value)), r.ProfileID, r.Hub, r.FirstSeen, r.Origin, r.Stale)
	}
	for _, e := range ch.Edges {
		b.Queue(`INSERT INTO identity_edges (a, b, kind, event_time, evidence, source_id, refused, stale) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (a, b, kind) DO UPDATE SET event_time = excluded.event_time, evidence = excluded.evidence,
			source_id = excluded.source_id, refused = excluded.refused, stale = identity_edges.stale AND excluded.stale`,
			e.A, e.B, e.Kind, e.EventTime, e.Evidence, e.SourceID, e.Refused, e.Stale)
	}
	for _, p := range ch.Profiles {
		var blobs [5][]byte
		for i, v := range []any{nonNil(p.MergedFrom), nonNil(p.Flags), nonNil(p.Groups)} {
			var err error
			if blobs[i], err = json.Marshal(v); err != nil {
				return err
			}
		}
		blobs[3], blobs[4] = mosaic.MarshalTraits(p.Traits), mosaic.MarshalTraitSources(p.TraitSources)
		state := []byte(p.State)
		if len(state) == 0 {
			state = []byte("{}")
		}
		b.Queue(`INSERT INTO profiles (`+profileColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, merged_into = excluded.merged_into,
			merged_from = excluded.merged_from, flags = excluded.flags, groups_ = excluded.groups_, state = excluded.state,
			traits = excluded.traits, trait_sources = excluded.trait_sources`,
			p.ID, p.CreatedAt, p.UpdatedAt, nullString(string(p.MergedInto)), blobs[0], blobs[1], blobs[2], state, blobs[3], blobs[4])
		if p.KeepSearchTerms && p.MergedInto == "" {
			continue
		}
		if !p.New {
			b.Queue(`DELETE FROM profile_search WHERE profile_id = $1`, p.ID)
		}
		if p.MergedInto != "" || len(p.SearchTerms) == 0 {
			continue
		}
		terms := make([][]byte, len(p.SearchTerms))
		for i, t := range p.SearchTerms {
			terms[i] = []byte(t)
		}
		b.Queue(`INSERT INTO profile_search (term, profile_id) SELECT t, $2 FROM unnest($1::bytea[]) AS t ON CONFLICT DO NOTHING`, terms, p.ID)
	}
	if err := queueGroups(b, ch); err != nil {
		return err
	}
	if len(ch.Recomputed) > 0 {
		b.Queue(`DELETE FROM identity_recompute WHERE key = ANY($1)`, strs(ch.Recomputed))
	}
	if len(ch.Rebuilt) > 0 {
		b.Queue(`DELETE FROM profile_rebuild WHERE key = ANY($1)`, strs(ch.Rebuilt))
	}
	if ch.GroupsRebuilt {
		b.Queue(`DELETE FROM settings WHERE key = 'group_rebuild'`)
	}
	if len(ch.Reanchored) > 0 {
		ids, anchors := make([]int64, len(ch.Reanchored)), make([]*string, len(ch.Reanchored))
		for i, a := range ch.Reanchored {
			ids[i] = a.ID
			if a.Identity != "" {
				k := string(a.Identity)
				anchors[i] = &k
			}
		}
		b.Queue(`UPDATE events e SET identity = u.identity FROM unnest($1::bigint[], $2::text[]) AS u(id, identity) WHERE e.id = u.id`, ids, anchors)
	}
	if len(ch.QueueRebuild) > 0 {
		b.Queue(`INSERT INTO profile_rebuild (key) SELECT unnest($1::text[]) ON CONFLICT (key) DO NOTHING`, strs(ch.QueueRebuild))
	}
	if r := ch.Replay; r != nil && ch.ReplayFrom != nil && replaying {
		from, _ := json.Marshal(ch.ReplayFrom)
		if r.Done() {
			// The replay's end: the links no event made again go, and their profiles are
			// recomputed without them; every profile and group is rebuilt under the rules in
			// force, since a trait the rules read an identifier from now is judged as such
			// (its runners-up kept).
			b.Queue(`DELETE FROM settings WHERE key = $1`, mosaic.SettingIdentityReplay)
			// Links no event made again, and the links of identifiers no event holds.
			b.Queue(`UPDATE identity_edges SET stale = true WHERE NOT stale AND (a IN (SELECT key FROM identifiers WHERE stale)
				OR b IN (SELECT key FROM identifiers WHERE stale))`)
			b.Queue(`WITH dropped AS (DELETE FROM identity_edges WHERE stale RETURNING a, b)
				INSERT INTO identity_recompute (key) SELECT a FROM dropped UNION SELECT b FROM dropped ON CONFLICT (key) DO NOTHING`)
			b.Queue(`DELETE FROM identity_recompute WHERE key IN (SELECT key FROM identifiers WHERE stale)`)
			b.Queue(`DELETE FROM profile_rebuild WHERE key IN (SELECT key FROM identifiers WHERE stale)`)
			// Profiles left without an identifier go.
			orphans := `SELECT DISTINCT i.profile_id FROM identifiers i WHERE i.stale
				AND NOT EXISTS (SELECT 1 FROM identifiers j WHERE j.profile_id = i.profile_id AND NOT j.stale)`
			b.Queue(`DELETE FROM profile_search WHERE profile_id IN (` + orphans + `)`)
			b.Queue(`DELETE FROM profile_groups WHERE profile_id IN (` + orphans + `)`)
			b.Queue(`DELETE FROM profiles WHERE merged_into IS NULL AND id IN (` + orphans + `)`)
			b.Queue(`DELETE FROM identifiers WHERE stale`)
			b.Queue(`INSERT INTO profile_rebuild (key) SELECT MIN(i.key) FROM identifiers i JOIN profiles p ON p.id = i.profile_id
				WHERE p.merged_into IS NULL GROUP BY i.profile_id ON CONFLICT (key) DO NOTHING`)
			b.Queue(`INSERT INTO settings (key, value) VALUES ('group_rebuild', '1') ON CONFLICT (key) DO NOTHING`)
			b.Queue(`INSERT INTO settings (key, value) SELECT $1, value FROM settings WHERE key = $2
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, mosaic.SettingProfileTraitRules, mosaic.SettingProcessorTraitRules)
		} else {
			raw, _ := json.Marshal(r)
			b.Queue(`UPDATE settings SET value = $1 WHERE key = $2 AND value = $3`, raw, mosaic.SettingIdentityReplay, from)
		}
	}
	for _, c := range []struct {
		name string
		n    int64
	}{{"invalid_identifiers", ch.InvalidIdentifiers}, {"merges", ch.Merges}} { // rows locked in a fixed order
		if c.n != 0 {
			b.Queue(`INSERT INTO counters (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value`, c.name, c.n)
		}
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}

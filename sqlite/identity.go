package sqlite

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

var _ mosaic.IdentityService = (*DB)(nil)

// IdentitySecret implements mosaic.IdentityService.
func (db *DB) IdentitySecret(ctx context.Context) ([]byte, error) {
	var secret []byte
	err := db.read.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = 'identity_secret'`).Scan(&secret)
	if err == nil {
		return secret, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, storeErr(err)
	}
	fresh := make([]byte, 32)
	rand.Read(fresh)
	err = db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('identity_secret', ?) ON CONFLICT (key) DO NOTHING`, fresh)
		if err != nil {
			return storeErr(err)
		}
		return storeErr(tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = 'identity_secret'`).Scan(&secret))
	})
	return secret, err
}

// placeholders returns "?,?,…" for n parameters.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// chunks calls fn with slices of at most 500 keys (SQLite's parameter limit is far above),
// each key once, so that no row is found by two chunks through the same key.
func chunks[T comparable](keys []T, fn func([]T) error) error {
	if len(keys) > 500 {
		seen := make(map[T]bool, len(keys))
		keys = slices.DeleteFunc(slices.Clone(keys), func(k T) bool {
			dup := seen[k]
			seen[k] = true
			return dup
		})
	}
	for start := 0; start < len(keys); start += 500 {
		if err := fn(keys[start:min(start+500, len(keys))]); err != nil {
			return err
		}
	}
	return nil
}

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

const identifierColumns = `key, type, value, profile_id, hub, first_seen, origin, stale`

func scanIdentifier(rows *sql.Rows) (*mosaic.IdentifierRecord, error) {
	var r mosaic.IdentifierRecord
	var first int64
	if err := rows.Scan(&r.Key, &r.Type, &r.Value, &r.ProfileID, &r.Hub, &first, &r.Origin, &r.Stale); err != nil {
		return nil, err
	}
	r.FirstSeen = fromMicros(first)
	return &r, nil
}

// FindIdentifiers implements mosaic.IdentityService.
func (db *DB) FindIdentifiers(ctx context.Context, keys []mosaic.IdentifierKey) ([]*mosaic.IdentifierRecord, error) {
	return findIdentifiersBy(ctx, db, "key", keys)
}

// FindProfileIdentifiers implements mosaic.IdentityService.
func (db *DB) FindProfileIdentifiers(ctx context.Context, ids []mosaic.ProfileID) ([]*mosaic.IdentifierRecord, error) {
	return findIdentifiersBy(ctx, db, "profile_id", ids)
}

// findIdentifiersBy returns the identifiers whose column col (key, profile_id) is among vals.
func findIdentifiersBy[T ~string](ctx context.Context, db *DB, col string, vals []T) ([]*mosaic.IdentifierRecord, error) {
	var out []*mosaic.IdentifierRecord
	err := chunks(vals, func(part []T) error {
		rows, err := db.read.QueryContext(ctx, `SELECT `+identifierColumns+` FROM identifiers WHERE `+col+` IN (`+placeholders(len(part))+`)`, anys(part)...)
		if err != nil {
			return storeErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanIdentifier(rows)
			if err != nil {
				return storeErr(err)
			}
			out = append(out, r)
		}
		return storeErr(rows.Err())
	})
	return out, err
}

func scanEdges(rows *sql.Rows, out []*mosaic.IdentityEdge) ([]*mosaic.IdentityEdge, error) {
	defer rows.Close()
	for rows.Next() {
		var e mosaic.IdentityEdge
		var at int64
		if err := rows.Scan(&e.A, &e.B, &e.Kind, &at, &e.Evidence, &e.SourceID, &e.Refused, &e.Stale); err != nil {
			return nil, storeErr(err)
		}
		e.EventTime = fromMicros(at)
		out = append(out, &e)
	}
	return out, storeErr(rows.Err())
}

// FindIdentityEdges implements mosaic.IdentityService.
func (db *DB) FindIdentityEdges(ctx context.Context, keys []mosaic.IdentifierKey) ([]*mosaic.IdentityEdge, error) {
	var out []*mosaic.IdentityEdge
	err := chunks(keys, func(ks []mosaic.IdentifierKey) error {
		ph := placeholders(len(ks))
		args := append(anys(ks), anys(ks)...)
		rows, err := db.read.QueryContext(ctx, `SELECT a, b, kind, event_time, evidence, source_id, refused, stale FROM identity_edges WHERE a IN (`+ph+`)
			UNION SELECT a, b, kind, event_time, evidence, source_id, refused, stale FROM identity_edges WHERE b IN (`+ph+`)`, args...)
		if err != nil {
			return storeErr(err)
		}
		out, err = scanEdges(rows, out)
		return err
	})
	if len(keys) > 500 { // an edge with its ends in two chunks was found by both
		seen := map[mosaic.IdentityEdge]bool{}
		out = slices.DeleteFunc(out, func(e *mosaic.IdentityEdge) bool {
			k := mosaic.IdentityEdge{A: e.A, B: e.B, Kind: e.Kind}
			dup := seen[k]
			seen[k] = true
			return dup
		})
	}
	return out, err
}

// FindIdentityConstraints implements mosaic.IdentityService.
func (db *DB) FindIdentityConstraints(ctx context.Context, keys []mosaic.IdentifierKey) ([]*mosaic.IdentityConstraint, error) {
	var out []*mosaic.IdentityConstraint
	// Stewards' constraints are few and most stores have none: one probe saves looking up
	// every key of a batch (the processor asks for each batch's component).
	var some bool
	if len(keys) > 0 {
		if err := db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM identity_constraints)`).Scan(&some); err != nil {
			return nil, storeErr(err)
		}
	}
	if !some {
		return nil, nil
	}
	err := chunks(keys, func(ks []mosaic.IdentifierKey) error {
		ph := placeholders(len(ks))
		rows, err := db.read.QueryContext(ctx, `SELECT a, b, created_at, reason, created_by FROM identity_constraints WHERE a IN (`+ph+`)
			UNION SELECT a, b, created_at, reason, created_by FROM identity_constraints WHERE b IN (`+ph+`)`, append(anys(ks), anys(ks)...)...)
		if err != nil {
			return storeErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			var c mosaic.IdentityConstraint
			var at int64
			if err := rows.Scan(&c.A, &c.B, &at, &c.Reason, &c.By); err != nil {
				return storeErr(err)
			}
			c.CreatedAt = fromMicros(at)
			out = append(out, &c)
		}
		return storeErr(rows.Err())
	})
	if len(keys) > 500 { // a pair with its ends in two chunks was found by both
		seen := map[[2]mosaic.IdentifierKey]bool{}
		out = slices.DeleteFunc(out, func(c *mosaic.IdentityConstraint) bool {
			dup := seen[[2]mosaic.IdentifierKey{c.A, c.B}]
			seen[[2]mosaic.IdentifierKey{c.A, c.B}] = true
			return dup
		})
	}
	return out, err
}

const profileColumns = `id, created_at, updated_at, merged_into, merged_from, flags, groups_, state, traits, trait_sources`

func scanProfileState(row interface{ Scan(...any) error }) (*mosaic.ProfileState, error) {
	var p mosaic.ProfileState
	var created, updated int64
	var into sql.NullString
	var from, flags, groups, state, traits, sources []byte
	if err := row.Scan(&p.ID, &created, &updated, &into, &from, &flags, &groups, &state, &traits, &sources); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt, p.MergedInto = fromMicros(created), fromMicros(updated), mosaic.ProfileID(into.String)
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
	var out []*mosaic.ProfileState
	err := chunks(ids, func(ks []mosaic.ProfileID) error {
		rows, err := db.read.QueryContext(ctx, `SELECT `+profileColumns+` FROM profiles WHERE id IN (`+placeholders(len(ks))+`)`, anys(ks)...)
		if err != nil {
			return storeErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanProfileState(rows)
			if err != nil {
				return storeErr(err)
			}
			out = append(out, p)
		}
		return storeErr(rows.Err())
	})
	return out, err
}

// FindEventsByIdentity implements mosaic.IdentityService.
func (db *DB) FindEventsByIdentity(ctx context.Context, keys []mosaic.IdentifierKey, types []mosaic.EventType) ([]*mosaic.Event, error) {
	var out []*mosaic.Event
	err := chunks(keys, func(ks []mosaic.IdentifierKey) error {
		q := db.eventParts() + `SELECT ` + eventColumns + ` FROM events e LEFT JOIN identifiers i ON i.key = e.identity
			WHERE e.part IN parts AND e.identity IN (` + placeholders(len(ks)) + `)`
		args := anys(ks)
		if len(types) > 0 {
			q += ` AND e.type IN (` + placeholders(len(types)) + `)`
			args = append(args, anys(types)...)
		}
		rows, err := db.read.QueryContext(ctx, q+` ORDER BY e.id`, args...)
		if err != nil {
			return storeErr(err)
		}
		evs, err := scanEvents(rows)
		out = append(out, evs...)
		return err
	})
	if len(keys) > 500 { // each chunk is in order; all of them together must be too
		slices.SortFunc(out, func(a, b *mosaic.Event) int { return cmp.Compare(a.ID, b.ID) })
	}
	return out, err
}

// FindStoredMessageIDs implements mosaic.IdentityService.
func (db *DB) FindStoredMessageIDs(ctx context.Context, src mosaic.SourceID, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := chunks(ids, func(ks []string) error {
		rows, err := db.read.QueryContext(ctx, `SELECT message_id FROM events WHERE source_id = ? AND message_id IN (`+placeholders(len(ks))+`)`,
			append([]any{src}, anys(ks)...)...)
		if err != nil {
			return storeErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return storeErr(err)
			}
			out[id] = true
		}
		return storeErr(rows.Err())
	})
	return out, err
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
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO identity_constraints (a, b, created_at, reason, created_by) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (a, b) DO NOTHING`, c.A, c.B, micros(c.CreatedAt), c.Reason, c.By); err != nil {
			return storeErr(err)
		}
		for _, k := range []mosaic.IdentifierKey{c.A, c.B} {
			if k == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO identity_recompute (key) VALUES (?) ON CONFLICT (key) DO NOTHING`, k); err != nil {
				return storeErr(err)
			}
		}
		return nil
	})
}

// RemoveIdentityConstraint implements mosaic.IdentityService.
func (db *DB) RemoveIdentityConstraint(ctx context.Context, a, b mosaic.IdentifierKey) error {
	if b != "" && b < a {
		a, b = b, a
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		if b != "" {
			var match string
			err := tx.QueryRowContext(ctx, `SELECT id FROM match_candidates WHERE status = 'rejected' AND (a = ? AND b = ? OR a = ? AND b = ?)`, a, b, b, a).Scan(&match)
			if err == nil {
				return rejectedMatchError(match)
			} else if !errors.Is(err, sql.ErrNoRows) {
				return storeErr(err)
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM identity_constraints WHERE a = ? AND b = ?`, a, b)
		if err != nil {
			return storeErr(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return storeErr(err)
		} else if n == 0 {
			return mosaic.Errorf(mosaic.ENOTFOUND, "No such split is recorded.")
		}
		keys := []mosaic.IdentifierKey{a}
		if b != "" {
			keys = append(keys, b)
		}
		return queueRecompute(ctx, tx, keys...)
	})
}

// rebuildAllProfiles queues every live profile for a rebuild, by its least identifier key
// (add conditions, then GROUP BY i.profile_id).
const rebuildAllProfiles = `INSERT INTO profile_rebuild (key)
		SELECT MIN(i.key) FROM identifiers i JOIN profiles p ON p.id = i.profile_id
		WHERE p.merged_into IS NULL`

// QueueProfileRebuild implements mosaic.IdentityService. Each profile is queued by the least
// of its identifier keys, so queueing a profile twice queues it once.
func (db *DB) QueueProfileRebuild(ctx context.Context, ids []mosaic.ProfileID) (int64, error) {
	const q = rebuildAllProfiles
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		run := func(query string, args ...any) error {
			res, err := tx.ExecContext(ctx, query+` GROUP BY i.profile_id ON CONFLICT (key) DO NOTHING`, args...)
			if err != nil {
				return storeErr(err)
			}
			added, err := res.RowsAffected()
			n += added
			return storeErr(err)
		}
		if len(ids) == 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('group_rebuild', '1')
				ON CONFLICT (key) DO NOTHING`); err != nil {
				return storeErr(err)
			}
			return run(q)
		}
		return chunks(ids, func(part []mosaic.ProfileID) error {
			args := make([]any, len(part))
			for i, id := range part {
				args[i] = id
			}
			return run(q+` AND i.profile_id IN (`+placeholders(len(part))+`)`, args...)
		})
	})
	return n, err
}

// PendingRebuilds implements mosaic.IdentityService.
func (db *DB) PendingRebuilds(ctx context.Context, limit int) ([]mosaic.IdentifierKey, error) {
	return db.queuedKeys(ctx, `SELECT key FROM profile_rebuild ORDER BY key LIMIT ?`, limit)
}

// queuedKeys returns the keys a query of a queue table (one key column) selects.
func (db *DB) queuedKeys(ctx context.Context, query string, args ...any) ([]mosaic.IdentifierKey, error) {
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	var out []mosaic.IdentifierKey
	for rows.Next() {
		var k mosaic.IdentifierKey
		if err := rows.Scan(&k); err != nil {
			return nil, storeErr(err)
		}
		out = append(out, k)
	}
	return out, storeErr(rows.Err())
}

// PendingGroupRebuild implements mosaic.IdentityService.
func (db *DB) PendingGroupRebuild(ctx context.Context) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE key = 'group_rebuild'`).Scan(&n)
	return n > 0, storeErr(err)
}

// FindGroupCalls implements mosaic.IdentityService.
func (db *DB) FindGroupCalls(ctx context.Context, after int64, limit int) ([]*mosaic.Event, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events e LEFT JOIN identifiers i ON i.key = e.identity
		WHERE e.type = 'group' AND e.id > ? ORDER BY e.id LIMIT ?`, after, limit)
	if err != nil {
		return nil, storeErr(err)
	}
	return scanEvents(rows)
}

// QueueIdentityReplay implements mosaic.IdentityService.
func (db *DB) QueueIdentityReplay(ctx context.Context) (*mosaic.IdentityReplay, error) {
	r := &mosaic.IdentityReplay{}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&r.Through); err != nil {
			return storeErr(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE identity_edges SET stale = 1 WHERE kind <> ? AND stale = 0`, mosaic.EdgeProbabilistic); err != nil {
			return storeErr(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE identifiers SET stale = 1 WHERE stale = 0`); err != nil {
			return storeErr(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) SELECT ?, value FROM settings WHERE key = ?
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, mosaic.SettingGraphIdentityRules, mosaic.SettingProcessorIdentityRules); err != nil {
			return storeErr(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, mosaic.SettingMixedIdentityRules); err != nil {
			return storeErr(err)
		}
		raw, _ := json.Marshal(r)
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
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
	rows, err := db.read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events e LEFT JOIN identifiers i ON i.key = e.identity
		WHERE e.id > ? AND e.id <= ? ORDER BY e.id LIMIT ?`, after, through, limit)
	if err != nil {
		return nil, storeErr(err)
	}
	return scanEvents(rows)
}

// PendingRecomputes implements mosaic.IdentityService.
func (db *DB) PendingRecomputes(ctx context.Context, limit int) ([]mosaic.IdentifierKey, error) {
	return db.queuedKeys(ctx, `SELECT key FROM identity_recompute ORDER BY key LIMIT ?`, limit)
}

// commitIdentity writes the identity changes of a processed range inside its transaction,
// with one prepared statement per kind of row.
func commitIdentity(ctx context.Context, tx *sql.Tx, ch *mosaic.IdentityChanges) error {
	if ch == nil {
		return nil
	}
	stmts := map[string]*sql.Stmt{}
	prepare := func(q string) (*sql.Stmt, error) {
		st, ok := stmts[q]
		if !ok {
			var err error
			if st, err = tx.PrepareContext(ctx, q); err != nil {
				return nil, storeErr(err)
			}
			stmts[q] = st
		}
		return st, nil
	}
	exec := func(q string, args ...any) error {
		st, err := prepare(q)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, args...)
		return storeErr(err)
	}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	for _, r := range ch.Identifiers {
		if err := exec(`INSERT INTO identifiers (key, type, value, search, profile_id, hub, first_seen, origin, stale) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET profile_id = excluded.profile_id, hub = excluded.hub, origin = excluded.origin,
			first_seen = min(first_seen, excluded.first_seen), stale = min(stale, excluded.stale)`,
			r.Key, r.Type, r.Value, strings.ToLower(r.Value), r.ProfileID, r.Hub, micros(r.FirstSeen), r.Origin, r.Stale); err != nil {
			return err
		}
	}
	for _, e := range ch.Edges {
		if err := exec(`INSERT INTO identity_edges (a, b, kind, event_time, evidence, source_id, refused, stale) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (a, b, kind) DO UPDATE SET event_time = excluded.event_time, evidence = excluded.evidence,
			source_id = excluded.source_id, refused = excluded.refused, stale = min(stale, excluded.stale)`,
			e.A, e.B, e.Kind, micros(e.EventTime), e.Evidence, e.SourceID, e.Refused, e.Stale); err != nil {
			return err
		}
	}
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	for _, p := range ch.Profiles {
		var into any
		if p.MergedInto != "" {
			into = p.MergedInto
		}
		state := p.State
		if len(state) == 0 {
			state = json.RawMessage("{}")
		}
		// The profile's search terms are kept in its row too (migration 0007), so only the
		// terms that changed are written, each by its key.
		replace := !p.KeepSearchTerms || p.MergedInto != ""
		var stored []string
		if replace && !p.New {
			st, err := prepare(`SELECT search_terms FROM profiles WHERE id = ?`)
			if err != nil {
				return err
			}
			var raw []byte
			switch err := st.QueryRowContext(ctx, p.ID).Scan(&raw); {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return storeErr(err)
			default:
				if err := json.Unmarshal(raw, &stored); err != nil {
					return err
				}
			}
		}
		var terms []string
		if p.MergedInto == "" {
			terms = p.SearchTerms
		}
		if err := exec(`INSERT INTO profiles (`+profileColumns+`, search_terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, merged_into = excluded.merged_into,
			merged_from = excluded.merged_from, flags = excluded.flags, groups_ = excluded.groups_, state = excluded.state,
			traits = excluded.traits, trait_sources = excluded.trait_sources,
			search_terms = CASE WHEN ? THEN excluded.search_terms ELSE profiles.search_terms END`,
			p.ID, micros(p.CreatedAt), micros(p.UpdatedAt), into, js(nonNil(p.MergedFrom)), js(nonNil(p.Flags)), js(nonNil(p.Groups)),
			[]byte(state), mosaic.MarshalTraits(p.Traits), mosaic.MarshalTraitSources(p.TraitSources), js(nonNil(terms)), replace); err != nil {
			return err
		}
		if !replace {
			continue
		}
		gone, added := diffTerms(stored, terms)
		for _, term := range gone {
			if err := exec(`DELETE FROM profile_search WHERE term = ? AND profile_id = ?`, term, p.ID); err != nil {
				return err
			}
		}
		for _, term := range added {
			if err := exec(`INSERT INTO profile_search (term, profile_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, term, p.ID); err != nil {
				return err
			}
		}
	}
	if err := commitGroups(ch, exec); err != nil {
		return err
	}
	for _, k := range ch.Recomputed {
		if err := exec(`DELETE FROM identity_recompute WHERE key = ?`, k); err != nil {
			return err
		}
	}
	for _, k := range ch.Rebuilt {
		if err := exec(`DELETE FROM profile_rebuild WHERE key = ?`, k); err != nil {
			return err
		}
	}
	if ch.GroupsRebuilt {
		if err := exec(`DELETE FROM settings WHERE key = 'group_rebuild'`); err != nil {
			return err
		}
	}
	for _, a := range ch.Reanchored {
		if err := exec(`UPDATE events SET identity = ? WHERE id = ?`, nullString(string(a.Identity)), a.ID); err != nil {
			return err
		}
	}
	for _, k := range ch.QueueRebuild {
		if err := exec(`INSERT INTO profile_rebuild (key) VALUES (?) ON CONFLICT (key) DO NOTHING`, k); err != nil {
			return err
		}
	}
	if r := ch.Replay; r != nil && ch.ReplayFrom != nil {
		from, _ := json.Marshal(ch.ReplayFrom)
		if r.Done() {
			// The replay's end (if it was not queued again meanwhile): the links no event made
			// again go, and their profiles are recomputed without them.
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE key = ? AND value = ?`, mosaic.SettingIdentityReplay, from).Scan(&n); err != nil {
				return storeErr(err)
			}
			if n > 0 {
				for _, q := range []string{
					// Links no event made again, and the links of identifiers no event holds.
					`UPDATE identity_edges SET stale = 1 WHERE stale = 0 AND (a IN (SELECT key FROM identifiers WHERE stale = 1)
						OR b IN (SELECT key FROM identifiers WHERE stale = 1))`,
					`INSERT INTO identity_recompute (key) SELECT a FROM identity_edges WHERE stale = 1
						UNION SELECT b FROM identity_edges WHERE stale = 1 ON CONFLICT (key) DO NOTHING`,
					`DELETE FROM identity_edges WHERE stale = 1`,
					`DELETE FROM identity_recompute WHERE key IN (SELECT key FROM identifiers WHERE stale = 1)`,
					`DELETE FROM profile_rebuild WHERE key IN (SELECT key FROM identifiers WHERE stale = 1)`,
					// Profiles left without an identifier go.
					`CREATE TEMP TABLE IF NOT EXISTS replay_orphans (id TEXT PRIMARY KEY)`,
					`DELETE FROM replay_orphans`,
					`INSERT INTO replay_orphans (id) SELECT DISTINCT i.profile_id FROM identifiers i WHERE i.stale = 1
						AND NOT EXISTS (SELECT 1 FROM identifiers j WHERE j.profile_id = i.profile_id AND j.stale = 0)`,
					`DELETE FROM profile_search WHERE profile_id IN (SELECT id FROM replay_orphans)`,
					`DELETE FROM profile_groups WHERE profile_id IN (SELECT id FROM replay_orphans)`,
					`DELETE FROM profiles WHERE id IN (SELECT id FROM replay_orphans) AND merged_into IS NULL`,
					`DELETE FROM identifiers WHERE stale = 1`,
					`DELETE FROM settings WHERE key = '` + mosaic.SettingIdentityReplay + `'`,
					// Every profile and group is rebuilt under the rules in force: a trait the
					// rules read an identifier from now is judged as such (its runners-up kept).
					rebuildAllProfiles + ` GROUP BY i.profile_id ON CONFLICT (key) DO NOTHING`,
					`INSERT INTO settings (key, value) VALUES ('group_rebuild', '1') ON CONFLICT (key) DO NOTHING`,
					`INSERT INTO settings (key, value) SELECT '` + mosaic.SettingProfileTraitRules + `', value FROM settings WHERE key = '` +
						mosaic.SettingProcessorTraitRules + `' ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
				} {
					if _, err := tx.ExecContext(ctx, q); err != nil {
						return storeErr(err)
					}
				}
			}
		} else {
			raw, _ := json.Marshal(r)
			if err := exec(`UPDATE settings SET value = ? WHERE key = ? AND value = ?`, raw, mosaic.SettingIdentityReplay, from); err != nil {
				return err
			}
		}
	}
	for name, n := range map[string]int64{"merges": ch.Merges, "invalid_identifiers": ch.InvalidIdentifiers} {
		if n == 0 {
			continue
		}
		if err := exec(`INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`, name, n); err != nil {
			return err
		}
	}
	return nil
}

// diffTerms returns the terms of old not in new, and those of new not in old.
func diffTerms(old, new []string) (gone, added []string) {
	in := make(map[string]bool, len(old))
	for _, t := range old {
		in[t] = true
	}
	for _, t := range new {
		if in[t] {
			delete(in, t)
		} else {
			added = append(added, t)
		}
	}
	for _, t := range old {
		if in[t] {
			gone = append(gone, t)
			delete(in, t)
		}
	}
	return gone, added
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

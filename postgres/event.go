package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic"
)

// CommitEvents implements mosaic.EventService. The processor row is locked first, so commits
// run one at a time and event ids increase in processing order. The inserts go to the server
// as one pipelined batch, executed in order: an event whose messageId is already stored for
// its source — by an earlier commit or earlier in this one — returns no id and is counted as
// a duplicate. The identity changes, the source and import counts and the new offset follow
// in a second batch.
func (db *DB) CommitEvents(ctx context.Context, c *mosaic.EventCommit) (*mosaic.CommitResult, error) {
	res := &mosaic.CommitResult{}
	ids := make([]int64, len(c.Events)) // 0 for a duplicate; set on the events after commit
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var through int64
		if err := tx.QueryRow(ctx, `SELECT through FROM processor WHERE id = 1 FOR UPDATE`).Scan(&through); err != nil {
			return storeErr(err)
		}
		if through != c.From {
			return mosaic.Errorf(mosaic.ECONFLICT, "Processor offset is %d, not %d.", through, c.From)
		}
		type counts struct{ events, dups, rejected int64 }
		per := map[mosaic.SourceID]*counts{}
		count := func(id mosaic.SourceID) *counts {
			if per[id] == nil {
				per[id] = &counts{}
			}
			return per[id]
		}
		b := &pgx.Batch{}
		for i, e := range c.Events {
			payload, err := e.AppendJSON(nil)
			if err != nil {
				return err
			}
			b.Queue(`INSERT INTO events (source_id, message_id, type, event, user_id, anonymous_id, timestamp, payload, identity)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (source_id, message_id) DO NOTHING RETURNING id`,
				e.SourceID, e.MessageID, e.Type, nullString(e.Event), nullString(e.UserID), nullString(e.AnonymousID),
				e.Timestamp, payload, nullString(string(e.Identity)),
			).QueryRow(func(row pgx.Row) error {
				err := row.Scan(&ids[i])
				switch {
				case errors.Is(err, pgx.ErrNoRows):
					res.Duplicates++
					count(e.SourceID).dups++
					return nil
				case err != nil:
					return err
				}
				res.Inserted++
				count(e.SourceID).events++
				return nil
			})
		}
		if b.Len() > 0 {
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return storeErr(err)
			}
		}
		for id, n := range c.Rejected {
			count(id).rejected += n
		}
		for id, n := range c.Duplicates {
			count(id).dups += n
			res.Duplicates += int(n)
		}
		b = &pgx.Batch{}
		for _, id := range slices.Sorted(maps.Keys(per)) { // rows locked in a fixed order
			n := per[id]
			b.Queue(`UPDATE sources SET events = events + $1, duplicates = duplicates + $2, rejected = rejected + $3 WHERE id = $4`,
				n.events, n.dups, n.rejected, id)
		}
		refs := slices.SortedFunc(maps.Keys(c.ImportDuplicates), func(a, b mosaic.ImportRef) int { // rows locked in a fixed order
			return cmp.Or(strings.Compare(string(a.ImportID), string(b.ImportID)), strings.Compare(string(a.SourceID), string(b.SourceID)))
		})
		for _, ref := range refs {
			b.Queue(`UPDATE imports SET rows_duplicate = rows_duplicate + $1 WHERE id = $2 AND source_id = $3`,
				c.ImportDuplicates[ref], ref.ImportID, ref.SourceID)
		}
		// An identity replay's progress is recorded only if the replay is still the one the
		// batch read (it may have been queued again meanwhile); the row stays locked to the end.
		replaying := false
		if ch := c.Identity; ch != nil && ch.Replay != nil && ch.ReplayFrom != nil {
			from, _ := json.Marshal(ch.ReplayFrom)
			err := tx.QueryRow(ctx, `SELECT true FROM settings WHERE key = $1 AND value = $2 FOR UPDATE`, mosaic.SettingIdentityReplay, from).Scan(&replaying)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return storeErr(err)
			}
		}
		if err := queueIdentity(b, c.Identity, replaying); err != nil {
			return err
		}
		b.Queue(`UPDATE processor SET through = $1 WHERE id = 1`, c.Through)
		return storeErr(tx.SendBatch(ctx, b).Close())
	})
	if err != nil {
		return nil, err
	}
	for i, e := range c.Events {
		if ids[i] != 0 {
			e.ID = ids[i]
		}
	}
	return res, nil
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ProcessorOffset implements mosaic.EventService.
func (db *DB) ProcessorOffset(ctx context.Context) (int64, error) {
	var through int64
	err := db.pool.QueryRow(ctx, `SELECT through FROM processor WHERE id = 1`).Scan(&through)
	return through, storeErr(err)
}

// FindEvents implements mosaic.EventService.
func (db *DB) FindEvents(ctx context.Context, f mosaic.EventFilter) ([]*mosaic.Event, string, error) {
	limit, before, at, atID, err := mosaic.ParseEventFilterPage(f)
	if err != nil {
		return nil, "", err
	}
	where, args := []string{"TRUE"}, []any{}
	add := func(cond string, v any) { // cond has one "?" for v
		args = append(args, v)
		where = append(where, strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1))
	}
	if f.SourceID != "" {
		add("e.source_id = ?", f.SourceID)
	}
	if f.UserID != "" {
		add("e.user_id = ?", f.UserID)
	}
	if f.AnonymousID != "" {
		add("e.anonymous_id = ?", f.AnonymousID)
	}
	if f.Type != "" {
		add("e.type = ?", f.Type)
	}
	if f.Event != "" {
		add("e.event = ?", f.Event)
	}
	order := ` ORDER BY e.id DESC`
	if f.ProfileID != "" { // a timeline: by event time (mosaic.ParseTimelinePage)
		add("e.identity IN (SELECT key FROM identifiers WHERE profile_id = ?)", f.ProfileID)
		if atID > 0 {
			args = append(args, at, atID)
			where = append(where, fmt.Sprintf("(e.timestamp, e.id) < ($%d, $%d)", len(args)-1, len(args)))
		}
		order = ` ORDER BY e.timestamp DESC, e.id DESC`
	} else if before > 0 {
		add("e.id < ?", before)
	}
	args = append(args, limit+1)
	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+` FROM events e LEFT JOIN identifiers i ON i.key = e.identity WHERE `+strings.Join(where, " AND ")+
		order+` LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, "", storeErr(err)
	}
	evs, err := pgx.AppendRows([]*mosaic.Event(nil), rows, scanEvent)
	if err != nil {
		return nil, "", storeErr(err)
	}
	return mosaic.TrimFilterPage(f, evs, limit)
}

// eventColumns are the columns scanEvent reads, of events e LEFT JOIN identifiers i ON
// i.key = e.identity: the profile an event belongs to is the one that holds its identity now
// (none without one), not the one stored in its payload when it was processed.
const eventColumns = `e.id, e.identity, e.payload, i.profile_id`

// scanEvent reads a row of eventColumns.
func scanEvent(row pgx.CollectableRow) (*mosaic.Event, error) {
	var id int64
	var identity, profile *string
	var payload []byte
	if err := row.Scan(&id, &identity, &payload, &profile); err != nil {
		return nil, err
	}
	var e mosaic.Event
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, err
	}
	e.ID, e.Identity, e.ProfileID = id, "", "" // the payload's profile is the one at processing time
	if identity != nil {
		e.Identity = mosaic.IdentifierKey(*identity)
	}
	if profile != nil {
		e.ProfileID = mosaic.ProfileID(*profile)
	}
	return &e, nil
}

// Stats implements mosaic.Store. One statement, so the counts come from one snapshot.
func (db *DB) Stats(ctx context.Context) (*mosaic.Stats, error) {
	var s mosaic.Stats
	if err := db.pool.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(events), 0)::bigint, COALESCE(SUM(duplicates), 0)::bigint,
		COALESCE(SUM(rejected), 0)::bigint, (SELECT through FROM processor WHERE id = 1),
		(SELECT COALESCE(MAX(seq), 0) FROM inbox),
		(SELECT COUNT(*) FROM profiles) - (SELECT COUNT(*) FROM profiles WHERE merged_into IS NOT NULL), (SELECT COUNT(*) FROM identifiers),
		(SELECT COALESCE(SUM(value), 0)::bigint FROM counters WHERE name = 'merges'),
		(SELECT COUNT(*) FROM identity_edges WHERE refused <> ''),
		(SELECT COALESCE(SUM(value), 0)::bigint FROM counters WHERE name = 'invalid_identifiers'),
		(SELECT COUNT(*) FROM profile_rebuild)
		FROM sources`).
		Scan(&s.Sources, &s.Events, &s.Duplicates, &s.Rejected, &s.Processed, &s.InboxHead,
			&s.Profiles, &s.Identifiers, &s.Merges, &s.RefusedLinks, &s.InvalidIdentifiers, &s.PendingRebuilds); err != nil {
		return nil, storeErr(err)
	}
	s.InboxLag = s.InboxHead - s.Processed
	return &s, nil
}

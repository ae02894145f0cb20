package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

// CommitEvents implements mosaic.EventService.
func (db *DB) CommitEvents(ctx context.Context, c *mosaic.EventCommit) (*mosaic.CommitResult, error) {
	res := &mosaic.CommitResult{}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var through int64
		if err := tx.QueryRowContext(ctx, `SELECT through FROM processor WHERE id = 1`).Scan(&through); err != nil {
			return storeErr(err)
		}
		if through != c.From {
			return mosaic.Errorf(mosaic.ECONFLICT, "Processor offset is %d, not %d.", through, c.From)
		}
		// Events get the ids SQLite would give them (one past the largest), set here so
		// that their part of the identity index (migration 0015) goes with them.
		var next int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) + 1 FROM events`).Scan(&next); err != nil {
			return storeErr(err)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (id, part, source_id, message_id, type, event, user_id, anonymous_id, timestamp, payload, identity)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source_id, message_id) DO NOTHING`)
		if err != nil {
			return storeErr(err)
		}
		defer stmt.Close()
		type counts struct{ events, dups, rejected int64 }
		per := map[mosaic.SourceID]*counts{}
		count := func(id mosaic.SourceID) *counts {
			if per[id] == nil {
				per[id] = &counts{}
			}
			return per[id]
		}
		var payload []byte // reused: the driver copies it into the statement
		for _, e := range c.Events {
			payload, err = e.AppendStoredJSON(payload[:0])
			if err != nil {
				return err
			}
			r, err := stmt.ExecContext(ctx, next, next>>db.partBits, e.SourceID, e.MessageID, e.Type, nullString(e.Event), nullString(e.UserID),
				nullString(e.AnonymousID), micros(e.Timestamp), payload, nullString(string(e.Identity)))
			if err != nil {
				return storeErr(err)
			}
			if n, _ := r.RowsAffected(); n == 0 {
				res.Duplicates++
				count(e.SourceID).dups++
				continue
			}
			e.ID = next
			next++
			res.Inserted++
			count(e.SourceID).events++
		}
		for id, n := range c.Rejected {
			count(id).rejected += n
		}
		for id, n := range c.Duplicates {
			count(id).dups += n
			res.Duplicates += int(n)
		}
		for id, n := range per {
			if _, err := tx.ExecContext(ctx, `UPDATE sources SET events = events + ?, duplicates = duplicates + ?, rejected = rejected + ? WHERE id = ?`,
				n.events, n.dups, n.rejected, id); err != nil {
				return storeErr(err)
			}
		}
		for ref, n := range c.ImportDuplicates {
			if _, err := tx.ExecContext(ctx, `UPDATE imports SET rows_duplicate = rows_duplicate + ? WHERE id = ? AND source_id = ?`,
				n, ref.ImportID, ref.SourceID); err != nil {
				return storeErr(err)
			}
		}
		if err := commitIdentity(ctx, tx, c.Identity); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE processor SET through = ? WHERE id = 1`, c.Through)
		return storeErr(err)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// eventPartBits: the identity index of events is in parts of 2^eventPartBits event ids
// (events.part, migration 0015). Tests make the parts small (DB.partBits).
const eventPartBits = 20

// eventParts is the WITH clause of a query that looks events up by identity: parts is every
// part of the identity index, "e.part IN parts AND e.identity IN (…)" one seek a part and
// identifier.
func (db *DB) eventParts() string {
	return `WITH RECURSIVE parts(p) AS (SELECT 0 UNION ALL SELECT p + 1 FROM parts
	WHERE p < (SELECT COALESCE(MAX(id), 0) >> ` + strconv.Itoa(db.partBits) + ` FROM events)) `
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ProcessorOffset implements mosaic.EventService.
func (db *DB) ProcessorOffset(ctx context.Context) (int64, error) {
	var through int64
	err := db.read.QueryRowContext(ctx, `SELECT through FROM processor WHERE id = 1`).Scan(&through)
	return through, storeErr(err)
}

// FindEvents implements mosaic.EventService.
func (db *DB) FindEvents(ctx context.Context, f mosaic.EventFilter) ([]*mosaic.Event, string, error) {
	limit, before, at, atID, err := mosaic.ParseEventFilterPage(f)
	if err != nil {
		return nil, "", err
	}
	where, args := []string{"1 = 1"}, []any{}
	add := func(cond string, v any) { where, args = append(where, cond), append(args, v) }
	if f.SourceID != "" {
		add("e.source_id = ?", f.SourceID)
	}
	// Events are not indexed by userId or anonymousId (two index entries an event cost a
	// third of the processor's speed, migration 0010): an event is filed under its anchor
	// identifier, which its own identifiers are linked to, so the events with a userId are
	// among those filed under that user id or its neighbours in the graph; events filed under
	// none (no usable identifier) have their own small indexes. Without a key (a value that is
	// no identifier) every event is looked at.
	byID := func(col string, v string, key mosaic.IdentifierKey) {
		if key == "" {
			add("e."+col+" = ?", v)
			return
		}
		where = append(where, `e.id IN (SELECT id FROM events WHERE part IN parts AND identity IN
			(SELECT ? UNION SELECT b FROM identity_edges WHERE a = ? UNION SELECT a FROM identity_edges WHERE b = ?) AND `+col+` = ?
			UNION ALL SELECT id FROM events WHERE identity IS NULL AND `+col+` = ?)`)
		args = append(args, key, key, key, v, v)
	}
	if f.UserID != "" {
		byID("user_id", f.UserID, f.UserKey)
	}
	if f.AnonymousID != "" {
		byID("anonymous_id", f.AnonymousID, f.AnonymousKey)
	}
	if f.Type != "" {
		add("e.type = ?", f.Type)
	}
	if f.Event != "" {
		add("e.event = ?", f.Event)
	}
	order := ` ORDER BY e.id DESC`
	if f.ProfileID != "" { // a timeline: by event time (mosaic.ParseTimelinePage)
		add("e.part IN parts AND e.identity IN (SELECT key FROM identifiers WHERE profile_id = ?)", f.ProfileID)
		if atID > 0 {
			where, args = append(where, "(e.timestamp < ? OR e.timestamp = ? AND e.id < ?)"), append(args, micros(at), micros(at), atID)
		}
		order = ` ORDER BY e.timestamp DESC, e.id DESC`
	} else if before > 0 {
		add("e.id < ?", before)
	}
	args = append(args, limit+1)
	rows, err := db.read.QueryContext(ctx, db.eventParts()+`SELECT `+eventColumns+` FROM events e LEFT JOIN identifiers i ON i.key = e.identity WHERE `+strings.Join(where, " AND ")+
		order+` LIMIT ?`, args...)
	if err != nil {
		return nil, "", storeErr(err)
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, "", err
	}
	return mosaic.TrimFilterPage(f, out, limit)
}

// eventColumns are the columns scanEvents reads, of events e LEFT JOIN identifiers i ON
// i.key = e.identity: the profile an event belongs to is the one that holds its identity now
// (none without one), not the one stored in its payload when it was processed.
const eventColumns = `e.id, e.identity, e.payload, i.profile_id, e.source_id, e.message_id, e.type, e.event, e.user_id, e.anonymous_id`

// scanEvents reads rows of eventColumns.
func scanEvents(rows *sql.Rows) ([]*mosaic.Event, error) {
	defer rows.Close()
	var out []*mosaic.Event
	for rows.Next() {
		var id int64
		var identity, profile, event, userID, anonymousID sql.NullString
		var source, messageID, typ string
		var payload []byte
		if err := rows.Scan(&id, &identity, &payload, &profile, &source, &messageID, &typ, &event, &userID, &anonymousID); err != nil {
			return nil, storeErr(err)
		}
		var e mosaic.Event
		if err := json.Unmarshal(payload, &e); err != nil {
			return nil, err
		}
		// Payloads leave out what the columns hold (AppendStoredJSON); older ones have it too.
		e.SetStoredColumns(id, mosaic.SourceID(source), messageID, mosaic.EventType(typ), event.String, userID.String, anonymousID.String)
		e.Identity, e.ProfileID = mosaic.IdentifierKey(identity.String), mosaic.ProfileID(profile.String)
		out = append(out, &e)
	}
	return out, storeErr(rows.Err())
}

// Stats implements mosaic.Store.
func (db *DB) Stats(ctx context.Context) (*mosaic.Stats, error) {
	var s mosaic.Stats
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(events), 0), COALESCE(SUM(duplicates), 0),
		COALESCE(SUM(rejected), 0), (SELECT through FROM processor WHERE id = 1) FROM sources`).
		Scan(&s.Sources, &s.Events, &s.Duplicates, &s.Rejected, &s.Processed); err != nil {
		return nil, storeErr(err)
	}
	if err := db.read.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM profiles) - (SELECT COUNT(*) FROM profiles WHERE merged_into IS NOT NULL),
		(SELECT COUNT(*) FROM identifiers), (SELECT COALESCE(SUM(value), 0) FROM counters WHERE name = 'merges'),
		(SELECT COUNT(*) FROM identity_edges WHERE refused != ''),
		(SELECT COALESCE(SUM(value), 0) FROM counters WHERE name = 'invalid_identifiers'),
		(SELECT COUNT(*) FROM profile_rebuild)`).
		Scan(&s.Profiles, &s.Identifiers, &s.Merges, &s.RefusedLinks, &s.InvalidIdentifiers, &s.PendingRebuilds); err != nil {
		return nil, storeErr(err)
	}
	head, err := db.InboxHead(ctx)
	if err != nil {
		return nil, err
	}
	s.InboxHead, s.InboxLag = head, head-s.Processed
	return &s, nil
}

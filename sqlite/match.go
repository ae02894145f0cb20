package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic"
)

const matchColumns = `id, a, b, profile_a, profile_b, probability, weights, status, created_at, updated_at, decided_by`

func scanMatch(row interface{ Scan(...any) error }) (*mosaic.MatchCandidate, error) {
	var c mosaic.MatchCandidate
	var weights []byte
	var created, updated int64
	if err := row.Scan(&c.ID, &c.A, &c.B, &c.ProfileA, &c.ProfileB, &c.Probability, &weights, &c.Status, &created, &updated, &c.DecidedBy); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	if err := json.Unmarshal(weights, &c.Weights); err != nil {
		return nil, err
	}
	if c.Weights == nil {
		c.Weights = []mosaic.MatchWeight{}
	}
	return &c, nil
}

// RecordMatches implements mosaic.MatchService.
func (db *DB) RecordMatches(ctx context.Context, cs []*mosaic.MatchCandidate) (*mosaic.MatchRecordResult, error) {
	for _, c := range cs {
		if err := c.Validate(); err != nil {
			return nil, err
		}
	}
	res := &mosaic.MatchRecordResult{}
	now := db.now()
	err := db.tx(ctx, func(tx *sql.Tx) error {
		for _, c := range cs {
			old, merged, err := samePair(ctx, tx, c)
			if err != nil {
				return err
			}
			if merged {
				res.Merged++
				continue
			}
			if old != nil && old.Status != mosaic.MatchPending {
				res.Decided++
				continue
			}
			weights, err := json.Marshal(nonNil(c.Weights))
			if err != nil {
				return err
			}
			if old != nil { // a pending pair takes the new score, and may now link
				c.ID, c.CreatedAt, c.A, c.B = old.ID, old.CreatedAt, old.A, old.B
				_, err = tx.ExecContext(ctx, `UPDATE match_candidates SET profile_a = ?, profile_b = ?, probability = ?, weights = ?,
					status = ?, updated_at = ? WHERE id = ?`, c.ProfileA, c.ProfileB, c.Probability, weights, c.Status, micros(now), c.ID)
			} else {
				c.CreatedAt = now
				_, err = tx.ExecContext(ctx, `INSERT INTO match_candidates (`+matchColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')`,
					c.ID, c.A, c.B, c.ProfileA, c.ProfileB, c.Probability, weights, c.Status, micros(now), micros(now))
			}
			if err != nil {
				return storeErr(err)
			}
			c.UpdatedAt = now
			if c.Status == mosaic.MatchLinked {
				res.Linked++
				if err := linkMatch(ctx, tx, c, now); err != nil {
					return err
				}
			} else {
				res.Queued++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// samePair finds the candidate recorded before for the pair c proposes: by its identifiers,
// or one between the same two profiles now. merged reports that c's identifiers are already
// in one profile.
func samePair(ctx context.Context, tx *sql.Tx, c *mosaic.MatchCandidate) (old *mosaic.MatchCandidate, merged bool, err error) {
	var pa, pb sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT profile_id FROM identifiers WHERE key = ?), (SELECT profile_id FROM identifiers WHERE key = ?)`,
		c.A, c.B).Scan(&pa, &pb); err != nil {
		return nil, false, storeErr(err)
	}
	if pa.Valid && pa == pb {
		return nil, true, nil
	}
	old, err = scanMatch(tx.QueryRowContext(ctx, `SELECT `+matchColumns+` FROM match_candidates WHERE a = ? AND b = ?`, c.A, c.B))
	if err == nil || !errors.Is(err, sql.ErrNoRows) || !pa.Valid || !pb.Valid {
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
		return old, false, storeErr(err)
	}
	// Between the same two profiles under other identifiers: a decision wins over a pending pair.
	rows, err := tx.QueryContext(ctx, `SELECT `+prefixed("m.", matchColumns)+` FROM match_candidates m
		JOIN identifiers ia ON ia.key = m.a JOIN identifiers ib ON ib.key = m.b
		WHERE ia.profile_id IN (?, ?) AND ib.profile_id IN (?, ?) AND ia.profile_id != ib.profile_id
		ORDER BY m.status = 'pending', m.created_at, m.id`, pa.String, pb.String, pa.String, pb.String)
	if err != nil {
		return nil, false, storeErr(err)
	}
	defer rows.Close()
	if rows.Next() {
		if old, err = scanMatch(rows); err != nil {
			return nil, false, storeErr(err)
		}
	}
	return old, false, storeErr(rows.Err())
}

// prefixed qualifies each of a comma-separated column list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// linkMatch adds the probabilistic edge of a candidate and queues its ends for the processor.
func linkMatch(ctx context.Context, tx *sql.Tx, c *mosaic.MatchCandidate, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO identity_edges (a, b, kind, event_time, evidence, source_id, refused) VALUES (?, ?, ?, ?, ?, '', '')
		ON CONFLICT (a, b, kind) DO NOTHING`, c.A, c.B, mosaic.EdgeProbabilistic, micros(now), c.ID); err != nil {
		return storeErr(err)
	}
	return queueRecompute(ctx, tx, c.A, c.B)
}

// rejectedMatchError is what lifting a block that a rejected match keeps answers: the match
// is the place to change one's mind (DecideMatch accepts it and lifts the block).
func rejectedMatchError(id string) error {
	return mosaic.Errorf(mosaic.ECONFLICT, "Match %s was rejected, which keeps these two apart: accept it (POST /api/v1/matches/%s/accept, mosaic match review accept %s) to link them.", id, id, id)
}

// rejectReason is the reason of the constraint a rejection of a linked candidate records.
func rejectReason(c *mosaic.MatchCandidate) string { return "match " + c.ID + " rejected" }

func queueRecompute(ctx context.Context, tx *sql.Tx, keys ...mosaic.IdentifierKey) error {
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO identity_recompute (key) VALUES (?) ON CONFLICT (key) DO NOTHING`, k); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

// FindMatchCandidateByID implements mosaic.MatchService.
func (db *DB) FindMatchCandidateByID(ctx context.Context, id string) (*mosaic.MatchCandidate, error) {
	c, err := scanMatch(db.read.QueryRowContext(ctx, `SELECT `+matchColumns+` FROM match_candidates WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mosaic.Errorf(mosaic.ENOTFOUND, "Match candidate not found.")
	}
	return c, storeErr(err)
}

// FindMatchCandidates implements mosaic.MatchService.
func (db *DB) FindMatchCandidates(ctx context.Context, f mosaic.MatchFilter) ([]*mosaic.MatchCandidate, string, error) {
	p, err := mosaic.ParseMatchPage(f)
	if err != nil {
		return nil, "", err
	}
	// The profiles are the current ones of A and B (the proposal's if an identifier is gone).
	cols := strings.Replace(prefixed("m.", matchColumns), "m.profile_a, m.profile_b",
		"COALESCE(ia.profile_id, m.profile_a), COALESCE(ib.profile_id, m.profile_b)", 1)
	q, args := `SELECT `+cols+` FROM match_candidates m LEFT JOIN identifiers ia ON ia.key = m.a
		LEFT JOIN identifiers ib ON ib.key = m.b WHERE 1 = 1`, []any{}
	if p.Status != "" {
		q, args = q+` AND m.status = ?`, append(args, p.Status)
	}
	if p.Open {
		q += ` AND (ia.profile_id IS NULL OR ib.profile_id IS NULL OR ia.profile_id != ib.profile_id)`
	}
	if p.After {
		q, args = q+` AND (m.probability < ? OR m.probability = ? AND m.id > ?)`, append(args, p.AfterProbability, p.AfterProbability, p.AfterID)
	}
	rows, err := db.read.QueryContext(ctx, q+` ORDER BY m.probability DESC, m.id LIMIT ?`, append(args, p.Limit+1)...)
	if err != nil {
		return nil, "", storeErr(err)
	}
	defer rows.Close()
	var out []*mosaic.MatchCandidate
	for rows.Next() {
		c, err := scanMatch(rows)
		if err != nil {
			return nil, "", storeErr(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", storeErr(err)
	}
	next := ""
	if len(out) > p.Limit {
		out = out[:p.Limit]
		next = mosaic.MatchCursor(out[p.Limit-1])
	}
	return out, next, nil
}

// DecideMatch implements mosaic.MatchService.
func (db *DB) DecideMatch(ctx context.Context, id string, accept bool, by string) (*mosaic.MatchCandidate, error) {
	now := db.now()
	var c *mosaic.MatchCandidate
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanMatch(tx.QueryRowContext(ctx, `SELECT `+matchColumns+` FROM match_candidates WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return mosaic.Errorf(mosaic.ENOTFOUND, "Match candidate not found.")
		} else if err != nil {
			return storeErr(err)
		}
		next, err := mosaic.DecideMatchStatus(c.Status, accept)
		if err != nil || next == c.Status {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE match_candidates SET status = ?, decided_by = ?, updated_at = ? WHERE id = ?`,
			next, by, micros(now), c.ID); err != nil {
			return storeErr(err)
		}
		linked := c.Status == mosaic.MatchLinked || c.Status == mosaic.MatchAccepted
		prev := c.Status
		c.Status, c.DecidedBy, c.UpdatedAt = next, by, now
		switch {
		case next == mosaic.MatchAccepted && prev == mosaic.MatchRejected:
			// The steward changed their mind: lift the block the rejection made.
			var reason string
			err := tx.QueryRowContext(ctx, `SELECT reason FROM identity_constraints WHERE a = ? AND b = ?`, c.A, c.B).Scan(&reason)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return storeErr(err)
			case reason != rejectReason(c):
				// A steward's split of the pair stays until lifted (unsplit, which the
				// rejection no longer refuses): then the match's link joins them.
			default:
				if _, err := tx.ExecContext(ctx, `DELETE FROM identity_constraints WHERE a = ? AND b = ?`, c.A, c.B); err != nil {
					return storeErr(err)
				}
			}
			return linkMatch(ctx, tx, c, now)
		case next == mosaic.MatchAccepted:
			return linkMatch(ctx, tx, c, now)
		case linked: // rejected after it was linked: the link is blocked, the profiles split
			if _, err := tx.ExecContext(ctx, `INSERT INTO identity_constraints (a, b, created_at, reason, created_by) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (a, b) DO NOTHING`, c.A, c.B, micros(now), rejectReason(c), by); err != nil {
				return storeErr(err)
			}
			return queueRecompute(ctx, tx, c.A, c.B)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

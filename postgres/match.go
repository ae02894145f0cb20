package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic"
)

const matchColumns = `id, a, b, profile_a, profile_b, probability, weights, status, created_at, updated_at, decided_by`

func scanMatch(row pgx.Row) (*mosaic.MatchCandidate, error) {
	var c mosaic.MatchCandidate
	var weights []byte
	if err := row.Scan(&c.ID, &c.A, &c.B, &c.ProfileA, &c.ProfileB, &c.Probability, &weights, &c.Status, &c.CreatedAt, &c.UpdatedAt, &c.DecidedBy); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
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
	err := db.tx(ctx, func(tx pgx.Tx) error {
		*res = mosaic.MatchRecordResult{} // a retried transaction counts afresh
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
				_, err = tx.Exec(ctx, `UPDATE match_candidates SET profile_a = $1, profile_b = $2, probability = $3, weights = $4,
					status = $5, updated_at = $6 WHERE id = $7`, c.ProfileA, c.ProfileB, c.Probability, weights, c.Status, now, c.ID)
			} else {
				c.CreatedAt = now
				_, err = tx.Exec(ctx, `INSERT INTO match_candidates (`+matchColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '')`,
					c.ID, c.A, c.B, c.ProfileA, c.ProfileB, c.Probability, weights, c.Status, now, now)
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
func samePair(ctx context.Context, tx pgx.Tx, c *mosaic.MatchCandidate) (old *mosaic.MatchCandidate, merged bool, err error) {
	var pa, pb *string
	if err := tx.QueryRow(ctx, `SELECT (SELECT profile_id FROM identifiers WHERE key = $1), (SELECT profile_id FROM identifiers WHERE key = $2)`,
		c.A, c.B).Scan(&pa, &pb); err != nil {
		return nil, false, storeErr(err)
	}
	if pa != nil && pb != nil && *pa == *pb {
		return nil, true, nil
	}
	old, err = scanMatch(tx.QueryRow(ctx, `SELECT `+matchColumns+` FROM match_candidates WHERE a = $1 AND b = $2 FOR UPDATE`, c.A, c.B))
	if err == nil || !errors.Is(err, pgx.ErrNoRows) || pa == nil || pb == nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
		return old, false, storeErr(err)
	}
	// Between the same two profiles under other identifiers: a decision wins over a pending pair.
	old, err = scanMatch(tx.QueryRow(ctx, `SELECT `+prefixed("m.", matchColumns)+` FROM match_candidates m
		JOIN identifiers ia ON ia.key = m.a JOIN identifiers ib ON ib.key = m.b
		WHERE ia.profile_id IN ($1, $2) AND ib.profile_id IN ($1, $2) AND ia.profile_id != ib.profile_id
		ORDER BY m.status = 'pending', m.created_at, m.id LIMIT 1 FOR UPDATE OF m`, *pa, *pb))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	return old, false, storeErr(err)
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
func linkMatch(ctx context.Context, tx pgx.Tx, c *mosaic.MatchCandidate, now time.Time) error {
	if _, err := tx.Exec(ctx, `INSERT INTO identity_edges (a, b, kind, event_time, evidence, source_id, refused) VALUES ($1, $2, $3, $4, $5, '', '')
		ON CONFLICT (a, b, kind) DO NOTHING`, c.A, c.B, mosaic.EdgeProbabilistic, now, c.ID); err != nil {
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

func queueRecompute(ctx context.Context, tx pgx.Tx, keys ...mosaic.IdentifierKey) error {
	for _, k := range keys { // in key order, as commits delete them
		if _, err := tx.Exec(ctx, `INSERT INTO identity_recompute (key) VALUES ($1) ON CONFLICT (key) DO NOTHING`, k); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

// FindMatchCandidateByID implements mosaic.MatchService.
func (db *DB) FindMatchCandidateByID(ctx context.Context, id string) (*mosaic.MatchCandidate, error) {
	c, err := scanMatch(db.pool.QueryRow(ctx, `SELECT `+matchColumns+` FROM match_candidates WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	var status *mosaic.MatchStatus
	if p.Status != "" {
		status = &p.Status
	}
	// The profiles are the current ones of A and B (the proposal's if an identifier is gone).
	cols := strings.Replace(prefixed("m.", matchColumns), "m.profile_a, m.profile_b",
		"COALESCE(ia.profile_id, m.profile_a), COALESCE(ib.profile_id, m.profile_b)", 1)
	rows, err := db.pool.Query(ctx, `SELECT `+cols+` FROM match_candidates m
		LEFT JOIN identifiers ia ON ia.key = m.a LEFT JOIN identifiers ib ON ib.key = m.b
		WHERE ($1::text IS NULL OR m.status = $1) AND (NOT $2 OR m.probability < $3 OR m.probability = $3 AND m.id > $4)
		AND (NOT $6 OR ia.profile_id IS NULL OR ib.profile_id IS NULL OR ia.profile_id != ib.profile_id)
		ORDER BY m.probability DESC, m.id LIMIT $5`, status, p.After, p.AfterProbability, p.AfterID, p.Limit+1, p.Open)
	if err != nil {
		return nil, "", storeErr(err)
	}
	out, err := pgx.AppendRows([]*mosaic.MatchCandidate(nil), rows, func(row pgx.CollectableRow) (*mosaic.MatchCandidate, error) {
		return scanMatch(row)
	})
	if err != nil {
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
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = scanMatch(tx.QueryRow(ctx, `SELECT `+matchColumns+` FROM match_candidates WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return mosaic.Errorf(mosaic.ENOTFOUND, "Match candidate not found.")
		} else if err != nil {
			return storeErr(err)
		}
		next, err := mosaic.DecideMatchStatus(c.Status, accept)
		if err != nil || next == c.Status {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE match_candidates SET status = $1, decided_by = $2, updated_at = $3 WHERE id = $4`,
			next, by, now, c.ID); err != nil {
			return storeErr(err)
		}
		linked := c.Status == mosaic.MatchLinked || c.Status == mosaic.MatchAccepted
		prev := c.Status
		c.Status, c.DecidedBy, c.UpdatedAt = next, by, now
		switch {
		case next == mosaic.MatchAccepted && prev == mosaic.MatchRejected:
			// The steward changed their mind: lift the block the rejection made.
			var reason string
			err := tx.QueryRow(ctx, `SELECT reason FROM identity_constraints WHERE a = $1 AND b = $2`, c.A, c.B).Scan(&reason)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return storeErr(err)
			case reason != rejectReason(c):
				// A steward's split of the pair stays until lifted (unsplit, which the
				// rejection no longer refuses): then the match's link joins them.
			default:
				if _, err := tx.Exec(ctx, `DELETE FROM identity_constraints WHERE a = $1 AND b = $2`, c.A, c.B); err != nil {
					return storeErr(err)
				}
			}
			return linkMatch(ctx, tx, c, now)
		case next == mosaic.MatchAccepted:
			return linkMatch(ctx, tx, c, now)
		case linked: // rejected after it was linked: the link is blocked, the profiles split
			if _, err := tx.Exec(ctx, `INSERT INTO identity_constraints (a, b, created_at, reason, created_by) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (a, b) DO NOTHING`, c.A, c.B, now, rejectReason(c), by); err != nil {
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

package postgres

import (
	"context"
	"encoding/json"
	"errors"
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
			old, err := scanMatch(tx.QueryRow(ctx, `SELECT `+matchColumns+` FROM match_candidates WHERE a = $1 AND b = $2 FOR UPDATE`, c.A, c.B))
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return storeErr(err)
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
				c.ID, c.CreatedAt = old.ID, old.CreatedAt
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

// linkMatch adds the probabilistic edge of a candidate and queues its ends for the processor.
func linkMatch(ctx context.Context, tx pgx.Tx, c *mosaic.MatchCandidate, now time.Time) error {
	if _, err := tx.Exec(ctx, `INSERT INTO identity_edges (a, b, kind, event_time, evidence, source_id, refused) VALUES ($1, $2, $3, $4, $5, '', '')
		ON CONFLICT (a, b, kind) DO NOTHING`, c.A, c.B, mosaic.EdgeProbabilistic, now, c.ID); err != nil {
		return storeErr(err)
	}
	return queueRecompute(ctx, tx, c.A, c.B)
}

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
	rows, err := db.pool.Query(ctx, `SELECT `+matchColumns+` FROM match_candidates
		WHERE ($1::text IS NULL OR status = $1) AND (NOT $2 OR probability < $3 OR probability = $3 AND id > $4)
		ORDER BY probability DESC, id LIMIT $5`, status, p.After, p.AfterProbability, p.AfterID, p.Limit+1)
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
		c.Status, c.DecidedBy, c.UpdatedAt = next, by, now
		switch {
		case next == mosaic.MatchAccepted:
			return linkMatch(ctx, tx, c, now)
		case linked: // rejected after it was linked: the link is blocked, the profiles split
			if _, err := tx.Exec(ctx, `INSERT INTO identity_constraints (a, b, created_at, reason) VALUES ($1, $2, $3, $4)
				ON CONFLICT (a, b) DO NOTHING`, c.A, c.B, now, "match "+c.ID+" rejected"); err != nil {
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

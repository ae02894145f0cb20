package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic"
)

var inboxColumns = []string{"seq", "source_id", "message_id", "received_at", "sent_at", "payload"}

// AppendInbox implements mosaic.InboxService: one transaction holding an EXCLUSIVE lock on
// the inbox (readers go on, other appends wait), so sequence numbers are handed out and
// committed in the same order; the records go in with COPY and explicit sequence numbers.
func (db *DB) AppendInbox(ctx context.Context, recs []*mosaic.InboxRecord) error {
	if len(recs) == 0 {
		return nil
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback(ctx)
	var head int64
	b := &pgx.Batch{}
	b.Queue(`LOCK TABLE inbox IN EXCLUSIVE MODE`)
	b.Queue(`SELECT COALESCE(MAX(seq), 0) FROM inbox`).QueryRow(func(row pgx.Row) error { return row.Scan(&head) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return unavailable(err)
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"inbox"}, inboxColumns, pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
		r := recs[i]
		return []any{head + int64(i) + 1, r.SourceID, r.MessageID, r.ReceivedAt, r.SentAt, r.Payload}, nil
	}))
	if err != nil {
		return unavailable(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable(err)
	}
	for i, r := range recs {
		r.Seq = head + int64(i) + 1
	}
	return nil
}

// unavailable wraps any failure to append as retryable, as the sqlite store does. An append
// is usually a group of several requests, so one bad record must not make the others fail
// with a 4xx the clients would not retry.
func unavailable(err error) error {
	return &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Inbox unavailable; retry.", Err: err}
}

// ReadInbox implements mosaic.InboxService.
func (db *DB) ReadInbox(ctx context.Context, after int64, limit int) ([]*mosaic.InboxRecord, error) {
	rows, err := db.pool.Query(ctx, `SELECT seq, source_id, message_id, received_at, sent_at, payload
		FROM inbox WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, storeErr(err)
	}
	recs, err := pgx.AppendRows([]*mosaic.InboxRecord(nil), rows, func(row pgx.CollectableRow) (*mosaic.InboxRecord, error) {
		var r mosaic.InboxRecord
		var sent *time.Time
		if err := row.Scan(&r.Seq, &r.SourceID, &r.MessageID, &r.ReceivedAt, &sent, &r.Payload); err != nil {
			return nil, err
		}
		r.ReceivedAt = r.ReceivedAt.UTC()
		if sent != nil {
			t := sent.UTC()
			r.SentAt = &t
		}
		return &r, nil
	})
	return recs, storeErr(err)
}

// InboxHead implements mosaic.InboxService.
func (db *DB) InboxHead(ctx context.Context) (int64, error) {
	var head int64
	err := db.pool.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM inbox`).Scan(&head)
	return head, storeErr(err)
}

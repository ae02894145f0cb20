package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

// inboxChunk is how many records one multi-row INSERT carries (6 parameters each, well under
// SQLite's 32766-parameter limit).
const inboxChunk = 256

// AppendInbox implements mosaic.InboxService: one transaction, fsync'd on commit
// (inbox.db runs with synchronous=FULL), multi-row INSERTs with explicit sequence numbers.
func (db *DB) AppendInbox(ctx context.Context, recs []*mosaic.InboxRecord) error {
	if len(recs) == 0 {
		return nil
	}
	tx, err := db.inboxWrite.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback()
	var head int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM inbox`).Scan(&head); err != nil {
		return unavailable(err)
	}
	args := make([]any, 0, 6*inboxChunk)
	for start := 0; start < len(recs); start += inboxChunk {
		chunk := recs[start:min(start+inboxChunk, len(recs))]
		var q strings.Builder
		q.WriteString(`INSERT INTO inbox (seq, source_id, message_id, received_at, sent_at, payload) VALUES `)
		args = args[:0]
		for i, r := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?)")
			var sent any
			if r.SentAt != nil {
				sent = micros(*r.SentAt)
			}
			args = append(args, head+int64(start+i)+1, r.SourceID, r.MessageID, micros(r.ReceivedAt), sent, r.Payload)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return unavailable(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable(err)
	}
	for i, r := range recs {
		r.Seq = head + int64(i) + 1
	}
	return nil
}

func unavailable(err error) error {
	return &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Inbox unavailable; retry.", Err: err}
}

// ReadInbox implements mosaic.InboxService.
func (db *DB) ReadInbox(ctx context.Context, after int64, limit int) ([]*mosaic.InboxRecord, error) {
	rows, err := db.inboxRead.QueryContext(ctx, `SELECT seq, source_id, message_id, received_at, sent_at, payload
		FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	var out []*mosaic.InboxRecord
	for rows.Next() {
		var r mosaic.InboxRecord
		var received int64
		var sent sql.NullInt64
		if err := rows.Scan(&r.Seq, &r.SourceID, &r.MessageID, &received, &sent, &r.Payload); err != nil {
			return nil, storeErr(err)
		}
		r.ReceivedAt = fromMicros(received)
		if sent.Valid {
			t := fromMicros(sent.Int64)
			r.SentAt = &t
		}
		out = append(out, &r)
	}
	return out, storeErr(rows.Err())
}

// InboxHead implements mosaic.InboxService.
func (db *DB) InboxHead(ctx context.Context) (int64, error) {
	var head int64
	err := db.inboxRead.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM inbox`).Scan(&head)
	return head, storeErr(err)
}

package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

// inboxChunk is the most records one multi-row INSERT carries (6 parameters each, well under
// SQLite's 32766-parameter limit). Appends are cut into chunks of inboxChunk, then halves
// of it down to one record, so a handful of statements, each prepared once, cover any size.
const inboxChunk = 256

// AppendInbox implements mosaic.InboxService: one transaction, fsync'd on commit
// (inbox.db runs with synchronous=FULL), multi-row INSERTs with explicit sequence numbers.
func (db *DB) AppendInbox(ctx context.Context, recs []*mosaic.InboxRecord) error {
	if len(recs) == 0 {
		return nil
	}
	// Prepare the statements first: the transaction will hold inbox.db's only write connection.
	type chunk struct {
		recs []*mosaic.InboxRecord
		stmt *sql.Stmt
	}
	var chunks []chunk
	for rest, size := recs, inboxChunk; len(rest) > 0; rest = rest[size:] {
		for size > len(rest) {
			size /= 2
		}
		stmt, err := db.inboxInsert(ctx, size)
		if err != nil {
			return unavailable(err)
		}
		chunks = append(chunks, chunk{rest[:size], stmt})
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
	seq := head
	for _, c := range chunks {
		args = args[:0]
		for _, r := range c.recs {
			seq++
			var sent any
			if r.SentAt != nil {
				sent = micros(*r.SentAt)
			}
			args = append(args, seq, string(r.SourceID), r.MessageID, micros(r.ReceivedAt), sent, r.Payload)
		}
		if _, err := tx.StmtContext(ctx, c.stmt).ExecContext(ctx, args...); err != nil {
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

// inboxInsert returns the prepared INSERT of n inbox records (n is inboxChunk or a power of
// two below it).
func (db *DB) inboxInsert(ctx context.Context, n int) (*sql.Stmt, error) {
	db.inboxMu.Lock()
	defer db.inboxMu.Unlock()
	if stmt := db.inboxStmts[n]; stmt != nil {
		return stmt, nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO inbox (seq, source_id, message_id, received_at, sent_at, payload) VALUES `)
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?,?,?,?,?)")
	}
	stmt, err := db.inboxWrite.PrepareContext(ctx, q.String())
	if err != nil {
		return nil, err
	}
	if db.inboxStmts == nil {
		db.inboxStmts = map[int]*sql.Stmt{}
	}
	db.inboxStmts[n] = stmt
	return stmt, nil
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

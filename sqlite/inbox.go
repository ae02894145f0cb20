package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mosaic-cdp/mosaic"
)

// The inbox is a log of segment files in DATA/inbox (package inboxlog), not a database:
// each record is written once and read once, in order, so a table's B-tree, WAL and
// checkpoint were pure cost (29 % of the server's CPU under segload's load).

// AppendInbox implements mosaic.InboxService: one write and one fsync of the records.
func (db *DB) AppendInbox(ctx context.Context, recs []*mosaic.InboxRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.inbox.Append(recs)
}

// ReadInbox implements mosaic.InboxService.
func (db *DB) ReadInbox(ctx context.Context, after int64, limit int) ([]*mosaic.InboxRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return db.inbox.Read(after, limit)
}

// InboxHead implements mosaic.InboxService.
func (db *DB) InboxHead(ctx context.Context) (int64, error) {
	return db.inbox.Head()
}

// oldInboxName is the inbox database of versions before the log; Open moves its records
// into the log.
const oldInboxName = "inbox.db"

// moveOldInbox moves the records of inbox.db into the log, keeping their sequence numbers
// (the processor's offset counts them), and then removes inbox.db. It holds the log's write
// lock throughout, and goes on from the log's head, so an interrupted move resumes.
func (db *DB) moveOldInbox(ctx context.Context) error {
	path := filepath.Join(db.Dir, oldInboxName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	old, err := sql.Open("sqlite", dsn(path, "FULL"))
	if err != nil {
		return err
	}
	defer old.Close()
	old.SetMaxOpenConns(1)
	var tables int
	if err := old.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'inbox'`).Scan(&tables); err != nil {
		return fmt.Errorf("read %s: %w", oldInboxName, err)
	}
	moved := 0
	if tables == 1 {
		err = db.inbox.Import(func(head int64, add func([]*mosaic.InboxRecord) error) error {
			for {
				recs, err := readOldInbox(ctx, old, head, 10000)
				if err != nil || len(recs) == 0 {
					return err
				}
				seqs := make([]int64, len(recs))
				for i, r := range recs {
					if seqs[i] = r.Seq; r.Seq != head+1+int64(i) {
						return fmt.Errorf("%s: record %d follows %d; move the file away to start without its records", oldInboxName, r.Seq, head+int64(i))
					}
				}
				if err := add(recs); err != nil {
					return err
				}
				for i, r := range recs {
					if r.Seq != seqs[i] {
						return fmt.Errorf("%s: record %d became %d in the log", oldInboxName, seqs[i], r.Seq)
					}
				}
				head += int64(len(recs))
				moved += len(recs)
			}
		})
		if err != nil {
			return fmt.Errorf("move %s into the inbox log: %w", oldInboxName, err)
		}
	}
	if err := old.Close(); err != nil {
		return err
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", oldInboxName+suffix, err)
		}
	}
	db.Logger.Info("moved the inbox from inbox.db into its log", "records", moved, "dir", filepath.Join(db.Dir, inboxDir))
	return nil
}

// readOldInbox reads up to limit records of inbox.db after seq.
func readOldInbox(ctx context.Context, old *sql.DB, after int64, limit int) ([]*mosaic.InboxRecord, error) {
	rows, err := old.QueryContext(ctx, `SELECT seq, source_id, message_id, received_at, sent_at, payload
		FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", oldInboxName, err)
	}
	defer rows.Close()
	var out []*mosaic.InboxRecord
	for rows.Next() {
		var r mosaic.InboxRecord
		var received int64
		var sent sql.NullInt64
		if err := rows.Scan(&r.Seq, &r.SourceID, &r.MessageID, &received, &sent, &r.Payload); err != nil {
			return nil, fmt.Errorf("read %s: %w", oldInboxName, err)
		}
		r.ReceivedAt = fromMicros(received)
		if sent.Valid {
			t := fromMicros(sent.Int64)
			r.SentAt = &t
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", oldInboxName, err)
	}
	return out, nil
}

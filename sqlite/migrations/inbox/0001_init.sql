-- inbox is the durable log between the gateway and the processor: append-only, in order.
CREATE TABLE inbox (
	seq         INTEGER PRIMARY KEY,
	source_id   TEXT NOT NULL,
	message_id  TEXT NOT NULL,
	received_at INTEGER NOT NULL,
	sent_at     INTEGER,
	payload     BLOB NOT NULL
);

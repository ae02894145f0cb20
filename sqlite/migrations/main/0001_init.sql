CREATE TABLE sources (
	id              TEXT PRIMARY KEY,
	name            TEXT NOT NULL UNIQUE,
	write_key       TEXT NOT NULL UNIQUE,
	disabled        INTEGER NOT NULL DEFAULT 0,
	allowed_origins TEXT NOT NULL DEFAULT '[]',
	events          INTEGER NOT NULL DEFAULT 0,
	duplicates      INTEGER NOT NULL DEFAULT 0,
	rejected        INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);

CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	role       TEXT NOT NULL,
	digest     TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);

-- events holds processed events; id is the processing order. payload is the normalised
-- event as JSON; the columns exist to filter on.
CREATE TABLE events (
	id           INTEGER PRIMARY KEY,
	source_id    TEXT NOT NULL,
	message_id   TEXT NOT NULL,
	type         TEXT NOT NULL,
	event        TEXT,
	user_id      TEXT,
	anonymous_id TEXT,
	timestamp    INTEGER NOT NULL,
	payload      BLOB NOT NULL,
	UNIQUE (source_id, message_id)
);
CREATE INDEX events_user_id ON events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX events_anonymous_id ON events (anonymous_id, id) WHERE anonymous_id IS NOT NULL;

-- processor holds how far the inbox has been processed (one row).
CREATE TABLE processor (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	through INTEGER NOT NULL
);
INSERT INTO processor (id, through) VALUES (1, 0);

CREATE TABLE sources (
	id              text PRIMARY KEY,
	name            text NOT NULL UNIQUE,
	write_key       text NOT NULL UNIQUE,
	disabled        boolean NOT NULL DEFAULT false,
	allowed_origins text[] NOT NULL DEFAULT '{}',
	events          bigint NOT NULL DEFAULT 0,
	duplicates      bigint NOT NULL DEFAULT 0,
	rejected        bigint NOT NULL DEFAULT 0,
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL
);

CREATE TABLE tokens (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	role       text NOT NULL,
	digest     text NOT NULL UNIQUE,
	created_at timestamptz NOT NULL
);

-- inbox is the durable log between the gateway and the processor: append-only, in order.
-- seq is not an identity column on purpose: sequence values are handed out before commit,
-- so two appends could commit out of order and a reader of "seq > offset" would skip the
-- lower one. AppendInbox locks the table, reads max(seq) and writes explicit numbers, so
-- sequence order is commit order.
CREATE TABLE inbox (
	seq         bigint PRIMARY KEY,
	source_id   text NOT NULL,
	message_id  text NOT NULL,
	received_at timestamptz NOT NULL,
	sent_at     timestamptz,
	payload     bytea NOT NULL
);

-- events holds processed events; id is the processing order (CommitEvents runs one at a time,
-- holding the processor row). payload is the normalised event as JSON, kept byte for byte;
-- the columns exist to filter on.
CREATE TABLE events (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	source_id    text NOT NULL,
	message_id   text NOT NULL,
	type         text NOT NULL,
	event        text,
	user_id      text,
	anonymous_id text,
	timestamp    timestamptz NOT NULL,
	payload      bytea NOT NULL,
	UNIQUE (source_id, message_id)
);
CREATE INDEX events_user_id ON events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX events_anonymous_id ON events (anonymous_id, id) WHERE anonymous_id IS NOT NULL;

-- processor holds how far the inbox has been processed (one row).
CREATE TABLE processor (
	id      integer PRIMARY KEY CHECK (id = 1),
	through bigint NOT NULL
);
INSERT INTO processor (id, through) VALUES (1, 0);

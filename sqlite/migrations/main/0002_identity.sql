-- settings holds workspace-wide values such as the identity secret.
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
);

-- counters holds running totals shown by stats (merges, invalid identifiers).
CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);

-- profiles: state is the survivorship state (opaque here), traits/trait_sources the current
-- values for reading. merged_into is set on profiles merged away.
CREATE TABLE profiles (
	id            TEXT PRIMARY KEY,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	merged_into   TEXT,
	merged_from   TEXT NOT NULL DEFAULT '[]',
	flags         TEXT NOT NULL DEFAULT '[]',
	groups_       TEXT NOT NULL DEFAULT '[]',
	state         BLOB NOT NULL DEFAULT '{}',
	traits        BLOB NOT NULL DEFAULT '{}',
	trait_sources BLOB NOT NULL DEFAULT '{}'
);

-- identifiers: key is the HMAC of type:value; value is kept readable for display and
-- search (search = lower-cased value) only.
CREATE TABLE identifiers (
	key        TEXT PRIMARY KEY,
	type       TEXT NOT NULL,
	value      TEXT NOT NULL,
	search     TEXT NOT NULL,
	profile_id TEXT NOT NULL,
	hub        INTEGER NOT NULL DEFAULT 0,
	first_seen INTEGER NOT NULL
);
CREATE INDEX identifiers_profile_id ON identifiers (profile_id);
CREATE INDEX identifiers_search ON identifiers (search);

-- identity_edges: links between identifiers (a < b) with the earliest evidence.
CREATE TABLE identity_edges (
	a          TEXT NOT NULL,
	b          TEXT NOT NULL,
	kind       TEXT NOT NULL,
	event_time INTEGER NOT NULL,
	evidence   TEXT NOT NULL,
	source_id  TEXT NOT NULL,
	refused    TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (a, b, kind)
);
CREATE INDEX identity_edges_b ON identity_edges (b);

-- identity_constraints: a steward's blocked pairs (a, b) and removed identifiers (a, '').
CREATE TABLE identity_constraints (
	a          TEXT NOT NULL,
	b          TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	reason     TEXT NOT NULL,
	PRIMARY KEY (a, b)
);
CREATE INDEX identity_constraints_b ON identity_constraints (b);

-- identity_recompute: identifiers whose component the processor must recompute.
CREATE TABLE identity_recompute (
	key TEXT PRIMARY KEY
);

-- profile_search: lower-cased trait values and their words, for prefix search (identifier
-- values are searched in identifiers.search).
CREATE TABLE profile_search (
	term       TEXT NOT NULL,
	profile_id TEXT NOT NULL,
	PRIMARY KEY (term, profile_id)
);
CREATE INDEX profile_search_profile ON profile_search (profile_id);

ALTER TABLE events ADD COLUMN identity TEXT;
CREATE INDEX events_identity ON events (identity, id) WHERE identity IS NOT NULL;

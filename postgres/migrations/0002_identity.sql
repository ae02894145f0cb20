-- Identity resolution: the same tables as the sqlite store's 0002_identity.sql.
--
-- Columns that are ordered or range-compared (ids, identifier keys, types and values) are
-- COLLATE "C": byte order, as SQLite compares, whatever the database's default collation.
-- Values the stores keep opaque (the survivorship state) are bytea, byte for byte; the
-- read-model JSON is json (text kept verbatim, unlike jsonb, which would also refuse the
-- \u0000 escape that SQLite and Go accept).

-- settings holds workspace-wide values such as the identity secret.
CREATE TABLE settings (
	key   text PRIMARY KEY,
	value bytea NOT NULL
);

-- counters holds running totals shown by stats (merges, invalid identifiers).
CREATE TABLE counters (
	name  text PRIMARY KEY,
	value bigint NOT NULL
);

-- profiles: state is the survivorship state (opaque here), traits/trait_sources the current
-- values for reading. merged_into is set on profiles merged away.
CREATE TABLE profiles (
	id            text COLLATE "C" PRIMARY KEY,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	merged_into   text COLLATE "C",
	merged_from   json NOT NULL DEFAULT '[]',
	flags         json NOT NULL DEFAULT '[]',
	groups_       json NOT NULL DEFAULT '[]',
	state         bytea NOT NULL DEFAULT '\x7b7d', -- {}
	traits        json NOT NULL DEFAULT '{}',
	trait_sources json NOT NULL DEFAULT '{}'
);
-- FindProfiles without a query pages through live profiles by id.
CREATE INDEX profiles_live ON profiles (id) WHERE merged_into IS NULL;

-- identifiers: key is the HMAC of type:value; value is kept readable for display and
-- search (search = the lower-cased value, bytea like profile_search.term) only.
CREATE TABLE identifiers (
	key        text COLLATE "C" PRIMARY KEY,
	type       text COLLATE "C" NOT NULL,
	value      text COLLATE "C" NOT NULL,
	search     bytea NOT NULL,
	profile_id text COLLATE "C" NOT NULL,
	hub        boolean NOT NULL DEFAULT false,
	first_seen timestamptz NOT NULL
);
CREATE INDEX identifiers_profile_id ON identifiers (profile_id, type, value);
CREATE INDEX identifiers_search ON identifiers (search, profile_id);

-- identity_edges: links between identifiers (a < b) with the earliest evidence.
CREATE TABLE identity_edges (
	a          text COLLATE "C" NOT NULL,
	b          text COLLATE "C" NOT NULL,
	kind       text NOT NULL,
	event_time timestamptz NOT NULL,
	evidence   text NOT NULL,
	source_id  text NOT NULL,
	refused    text NOT NULL DEFAULT '',
	PRIMARY KEY (a, b, kind)
);
CREATE INDEX identity_edges_b ON identity_edges (b);

-- identity_constraints: a steward's blocked pairs (a, b) and removed identifiers (a, '').
CREATE TABLE identity_constraints (
	a          text COLLATE "C" NOT NULL,
	b          text COLLATE "C" NOT NULL,
	created_at timestamptz NOT NULL,
	reason     text NOT NULL,
	PRIMARY KEY (a, b)
);
CREATE INDEX identity_constraints_b ON identity_constraints (b);

-- identity_recompute: identifiers whose component the processor must recompute.
CREATE TABLE identity_recompute (
	key text COLLATE "C" PRIMARY KEY
);

-- profile_search: lower-cased trait values and their words, for prefix search (identifier
-- values are searched in identifiers.search). term is bytea so that a prefix range compares bytes, as in SQLite, with the primary key as
-- its index, and so that a term holding NUL (which text cannot) is stored, not refused.
CREATE TABLE profile_search (
	term       bytea NOT NULL,
	profile_id text COLLATE "C" NOT NULL,
	PRIMARY KEY (term, profile_id)
);
CREATE INDEX profile_search_profile ON profile_search (profile_id);

-- events.identity is the key of the event's anchor identifier.
ALTER TABLE events ADD COLUMN identity text COLLATE "C";
CREATE INDEX events_identity ON events (identity, id) WHERE identity IS NOT NULL;

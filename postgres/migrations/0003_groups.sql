-- Groups: the same tables as the sqlite store's 0003_groups.sql.
--
-- Group ids are bytea: a groupId is any string a client sends, and text cannot hold NUL,
-- which would make the processor's commit fail for good; bytea compares byte for byte, as
-- SQLite does.

-- groups: B2B accounts from group calls. state is the survivorship state of their traits
-- (opaque here), traits/trait_sources the current values for reading.
CREATE TABLE groups (
	id            bytea PRIMARY KEY,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	state         bytea NOT NULL DEFAULT '\x7b7d', -- {}
	traits        json NOT NULL DEFAULT '{}',
	trait_sources json NOT NULL DEFAULT '{}'
);

-- profile_groups indexes profiles.groups_ of live profiles, for a group's members.
CREATE TABLE profile_groups (
	group_id   bytea NOT NULL,
	profile_id text COLLATE "C" NOT NULL,
	PRIMARY KEY (group_id, profile_id)
);
CREATE INDEX profile_groups_profile ON profile_groups (profile_id);

-- Memberships and groups recorded before this migration. A group id holding \u0000 cannot be
-- converted to text here, so it is left out (its members are indexed when next written).
INSERT INTO profile_groups (group_id, profile_id)
	SELECT DISTINCT convert_to(g #>> '{}', 'UTF8'), p.id FROM profiles p, json_array_elements(p.groups_) g
	WHERE p.merged_into IS NULL AND json_typeof(g) = 'string' AND strpos(g::text, '\u0000') = 0;
INSERT INTO groups (id, created_at, updated_at)
	SELECT pg.group_id, MIN(p.created_at), MAX(p.updated_at) FROM profile_groups pg JOIN profiles p ON p.id = pg.profile_id
	GROUP BY pg.group_id;

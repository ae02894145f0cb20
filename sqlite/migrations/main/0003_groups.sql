-- groups: B2B accounts from group calls. state is the survivorship state of their traits
-- (opaque here), traits/trait_sources the current values for reading.
CREATE TABLE groups (
	id            TEXT PRIMARY KEY,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	state         BLOB NOT NULL DEFAULT '{}',
	traits        BLOB NOT NULL DEFAULT '{}',
	trait_sources BLOB NOT NULL DEFAULT '{}'
);

-- profile_groups indexes profiles.groups_ of live profiles, for a group's members.
CREATE TABLE profile_groups (
	group_id   TEXT NOT NULL,
	profile_id TEXT NOT NULL,
	PRIMARY KEY (group_id, profile_id)
);
CREATE INDEX profile_groups_profile ON profile_groups (profile_id);

-- Memberships and groups recorded before this migration.
INSERT INTO profile_groups (group_id, profile_id)
	SELECT DISTINCT g.value, p.id FROM profiles p, json_each(p.groups_) g
	WHERE p.merged_into IS NULL AND g.type = 'text';
INSERT INTO groups (id, created_at, updated_at)
	SELECT pg.group_id, MIN(p.created_at), MAX(p.updated_at) FROM profile_groups pg JOIN profiles p ON p.id = pg.profile_id
	GROUP BY pg.group_id;

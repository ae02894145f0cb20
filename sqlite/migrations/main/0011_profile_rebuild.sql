-- profile_rebuild: profiles queued to be rebuilt from their stored events under the rules in
-- force (after a survivorship rule changed), each by one of its identifiers. The processor
-- takes a few per batch and rebuilds the profile holding the identifier then.
CREATE TABLE profile_rebuild (key TEXT PRIMARY KEY) WITHOUT ROWID;

-- Group calls, to rebuild every group's traits from them (FindGroupCalls); they are few.
CREATE INDEX events_group_calls ON events (id) WHERE type = 'group';

-- profile_rebuild: profiles queued to be rebuilt from their stored events under the rules in
-- force (see the sqlite store's 0011), each by one of its identifiers.
CREATE TABLE profile_rebuild (
	key text COLLATE "C" PRIMARY KEY
);

-- Group calls, to rebuild every group's traits from them (FindGroupCalls); they are few.
CREATE INDEX events_group_calls ON events (id) WHERE type = 'group';

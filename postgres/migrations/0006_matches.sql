-- match_candidates: the same table as the sqlite store's 0006_matches.sql.
CREATE TABLE match_candidates (
	id          text COLLATE "C" PRIMARY KEY,
	a           text COLLATE "C" NOT NULL,
	b           text COLLATE "C" NOT NULL,
	profile_a   text COLLATE "C" NOT NULL,
	profile_b   text COLLATE "C" NOT NULL,
	probability double precision NOT NULL,
	weights     json NOT NULL DEFAULT '[]',
	status      text NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	decided_by  text NOT NULL DEFAULT '',
	UNIQUE (a, b)
);
CREATE INDEX match_candidates_order ON match_candidates (probability DESC, id);
CREATE INDEX match_candidates_status ON match_candidates (status, probability DESC, id);

-- match_candidates: pairs of profiles probabilistic matching proposed, by the identifiers a
-- link joins (a < b, one pair once), with the score and its per-field breakdown (weights,
-- JSON), and the decision: pending, linked (automatically), accepted or rejected. The
-- identifiers' values and the compared traits are not copied here: they are personal data
-- and stay with the profiles.
CREATE TABLE match_candidates (
	id          TEXT PRIMARY KEY,
	a           TEXT NOT NULL,
	b           TEXT NOT NULL,
	profile_a   TEXT NOT NULL,
	profile_b   TEXT NOT NULL,
	probability REAL NOT NULL,
	weights     BLOB NOT NULL DEFAULT '[]',
	status      TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	decided_by  TEXT NOT NULL DEFAULT '',
	UNIQUE (a, b)
);
CREATE INDEX match_candidates_order ON match_candidates (probability DESC, id);
CREATE INDEX match_candidates_status ON match_candidates (status, probability DESC, id);

-- identity_edges.stale and identifiers.stale: links and identifiers made under identity
-- rules that an identity replay is replacing (mosaic identity replay). They count until the
-- replay ends; then the links no replayed event made again, and the identifiers no event
-- holds under the rules in force, are deleted and their profiles recomputed. The partial
-- indexes find them at the end without reading every row.
ALTER TABLE identity_edges ADD COLUMN stale INTEGER NOT NULL DEFAULT 0;
CREATE INDEX identity_edges_stale ON identity_edges (a, b) WHERE stale = 1;
ALTER TABLE identifiers ADD COLUMN stale INTEGER NOT NULL DEFAULT 0;
CREATE INDEX identifiers_stale ON identifiers (key) WHERE stale = 1;

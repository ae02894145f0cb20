-- identity_edges.stale and identifiers.stale: what an identity replay is replacing (see the
-- sqlite store's 0014).
ALTER TABLE identity_edges ADD COLUMN stale boolean NOT NULL DEFAULT false;
CREATE INDEX identity_edges_stale ON identity_edges (a, b) WHERE stale;
ALTER TABLE identifiers ADD COLUMN stale boolean NOT NULL DEFAULT false;
CREATE INDEX identifiers_stale ON identifiers (key) WHERE stale;

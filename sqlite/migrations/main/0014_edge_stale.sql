-- identity_edges.stale: a link made under identity rules that an identity replay is
-- replacing (mosaic identity replay). It counts until the replay ends; then the links no
-- replayed event made again are deleted and their profiles recomputed. The partial index
-- finds them at the end without reading every link.
ALTER TABLE identity_edges ADD COLUMN stale INTEGER NOT NULL DEFAULT 0;
CREATE INDEX identity_edges_stale ON identity_edges (a, b) WHERE stale = 1;

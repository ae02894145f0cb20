-- Partial indexes over the rare rows that stats count (see the sqlite store's 0009): live
-- profiles are all profiles less the merged-away ones, and refused links are counted here.
CREATE INDEX profiles_merged ON profiles (merged_into) WHERE merged_into IS NOT NULL;
CREATE INDEX identity_edges_refused ON identity_edges (a) WHERE refused <> '';

-- identity_constraints.created_by: who made a split (the API token's name, or the steward who
-- rejected a match), shown with the split in a profile's graph.
ALTER TABLE identity_constraints ADD COLUMN created_by TEXT NOT NULL DEFAULT '';

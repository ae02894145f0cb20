-- identity_constraints.created_by: who made a split (see the sqlite store's 0013).
ALTER TABLE identity_constraints ADD COLUMN created_by text NOT NULL DEFAULT '';

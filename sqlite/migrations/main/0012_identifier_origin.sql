-- identifiers.origin: the profile an identifier was first resolved into, so that a split gives
-- each part back the profile its identifiers came from (and merged-away ids resolve to the
-- right customer again). Empty for identifiers stored before: they count as their profile's.
ALTER TABLE identifiers ADD COLUMN origin TEXT NOT NULL DEFAULT '';

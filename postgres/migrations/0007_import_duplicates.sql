-- imports.rows_duplicate: as in the sqlite store's 0008_import_duplicates.sql, the rows of an
-- import the processor dropped as duplicates, added with each commit.
ALTER TABLE imports ADD COLUMN rows_duplicate bigint NOT NULL DEFAULT 0;

-- imports.rows_duplicate counts an import's rows the processor dropped as duplicates (their
-- messageId was already stored), added with each commit, so that an import reports how many
-- of its rows were new.
ALTER TABLE imports ADD COLUMN rows_duplicate INTEGER NOT NULL DEFAULT 0;

-- imports: bulk imports (mosaic import, POST /api/v1/imports) and their checkpoints. An
-- import is identified by what it reads: (source, file hash, mapping hash) is unique, so a
-- re-run finds its checkpoint. (0004 is taken by another change; the runner applies
-- versions above the current one in order.)
CREATE TABLE imports (
	id            TEXT PRIMARY KEY,
	source_id     TEXT NOT NULL REFERENCES sources (id),
	origin        TEXT NOT NULL,
	file_name     TEXT NOT NULL,
	file_hash     TEXT NOT NULL,
	file_size     INTEGER NOT NULL,
	mapping_hash  TEXT NOT NULL,
	format        TEXT NOT NULL,
	status        TEXT NOT NULL,
	mapping       BLOB NOT NULL,
	file_path     TEXT NOT NULL,
	report_path   TEXT NOT NULL,
	rows_read     INTEGER NOT NULL DEFAULT 0,
	rows_imported INTEGER NOT NULL DEFAULT 0,
	rows_bad      INTEGER NOT NULL DEFAULT 0,
	rows_skipped  INTEGER NOT NULL DEFAULT 0,
	offset_       INTEGER NOT NULL DEFAULT 0,
	line          INTEGER NOT NULL DEFAULT 0,
	last_seq      INTEGER NOT NULL DEFAULT 0,
	report_bytes  INTEGER NOT NULL DEFAULT 0,
	error         TEXT NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	finished_at   INTEGER,
	UNIQUE (source_id, file_hash, mapping_hash)
);
CREATE INDEX imports_status ON imports (status, created_at);

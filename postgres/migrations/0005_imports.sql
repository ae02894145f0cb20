-- imports: the same table as the sqlite store's 0005_imports.sql. (0004 is taken by another
-- change; the runner applies versions above the current one in order.)
CREATE TABLE imports (
	id            text PRIMARY KEY,
	source_id     text NOT NULL REFERENCES sources (id),
	origin        text NOT NULL,
	file_name     text NOT NULL,
	file_hash     text NOT NULL,
	file_size     bigint NOT NULL,
	mapping_hash  text NOT NULL,
	format        text NOT NULL,
	status        text NOT NULL,
	mapping       bytea NOT NULL,
	file_path     text NOT NULL,
	report_path   text NOT NULL,
	rows_read     bigint NOT NULL DEFAULT 0,
	rows_imported bigint NOT NULL DEFAULT 0,
	rows_bad      bigint NOT NULL DEFAULT 0,
	rows_skipped  bigint NOT NULL DEFAULT 0,
	offset_       bigint NOT NULL DEFAULT 0,
	line          bigint NOT NULL DEFAULT 0,
	last_seq      bigint NOT NULL DEFAULT 0,
	report_bytes  bigint NOT NULL DEFAULT 0,
	error         text NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	finished_at   timestamptz,
	UNIQUE (source_id, file_hash, mapping_hash)
);
CREATE INDEX imports_status ON imports (status, created_at);

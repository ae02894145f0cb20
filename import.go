package mosaic

import (
	"context"
	"time"
)

// ImportID identifies one bulk import.
type ImportID string

// NewImportID returns a new random import id ("imp_…").
func NewImportID() ImportID { return ImportID("imp_" + RandomString(10)) }

// ImportStatus is where an import stands.
type ImportStatus string

// The import statuses. An import moves queued → running → done or failed; a running import
// stopped by a shutdown or Ctrl-C is interrupted and resumes from its checkpoint when run
// again.
const (
	ImportQueued      ImportStatus = "queued"
	ImportRunning     ImportStatus = "running"
	ImportDone        ImportStatus = "done"
	ImportFailed      ImportStatus = "failed"
	ImportInterrupted ImportStatus = "interrupted"
)

// Valid reports whether s is a known status.
func (s ImportStatus) Valid() bool {
	switch s {
	case ImportQueued, ImportRunning, ImportDone, ImportFailed, ImportInterrupted:
		return true
	}
	return false
}

// Where an import was started.
const (
	ImportOriginCLI = "cli" // mosaic import, on a file the caller names
	ImportOriginAPI = "api" // POST /api/v1/imports, on an upload the server keeps
)

// Import is one bulk import of a file (CSV or JSONL) into a source, and its checkpoint.
//
// An import is identified by what it reads: the source, a hash of the file's bytes and a
// hash of the mapping. Running the same file with the same mapping into the same source again
// finds the same Import: a finished one adds nothing, an interrupted one resumes at its
// checkpoint (Offset, Line, RowsRead), where every row before has been appended to the inbox.
type Import struct {
	ID          ImportID     `json:"id"`
	SourceID    SourceID     `json:"source_id"`
	Origin      string       `json:"origin"` // ImportOriginCLI or ImportOriginAPI
	FileName    string       `json:"file_name"`
	FileHash    string       `json:"file_hash"`    // hex SHA-256 of the file's bytes
	FileSize    int64        `json:"file_size"`    // bytes
	MappingHash string       `json:"mapping_hash"` // hex SHA-256 of the mapping file
	Format      string       `json:"format"`       // csv or jsonl
	Status      ImportStatus `json:"status"`
	// Mapping is the mapping file as given (YAML or JSON), kept so that a queued import can be
	// run later and a finished one explained.
	Mapping []byte `json:"-"`
	// FilePath and ReportPath are where the input and the error report are (on the machine
	// that runs the import); not shown through the API.
	FilePath   string `json:"-"`
	ReportPath string `json:"-"`

	// The checkpoint: rows read (imported + bad) through byte Offset of the file, which is
	// where physical line Line starts, and the inbox sequence number of the last appended row.
	RowsRead     int64 `json:"rows_read"`
	RowsImported int64 `json:"rows_imported"` // appended to the inbox
	// RowsDuplicate counts the appended rows the processor dropped because their messageId
	// was already stored for the source: calls imported before (the same rows with the same
	// mapping, or for events the same key). It is final once the processor has processed
	// the inbox through LastSeq; the rest of RowsImported were stored as new calls.
	RowsDuplicate int64 `json:"rows_duplicate"`
	RowsBad       int64 `json:"rows_bad"`     // written to the error report
	RowsSkipped   int64 `json:"rows_skipped"` // already appended by an earlier run (resumed)
	Offset        int64 `json:"bytes_read"`
	Line          int64 `json:"-"`
	LastSeq       int64 `json:"last_seq"`
	ReportBytes   int64 `json:"-"` // size of the error report at the checkpoint
	// Error says why a failed import failed (a safe message).
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// ImportRef names an import of a source, as the context.import.id of the calls an import
// makes does.
type ImportRef struct {
	SourceID SourceID
	ImportID ImportID
}

// ImportFilter selects imports; nil fields do not filter.
type ImportFilter struct {
	SourceID    *SourceID
	FileHash    *string
	MappingHash *string
	Status      *ImportStatus
	Origin      *string
	Limit       int // 0 means 100
}

// ImportUpdate changes an import; nil fields are left as they are.
type ImportUpdate struct {
	// IfStatus makes the update conditional: it applies only while the import has this
	// status (a worker claims a queued import by moving it to running this way).
	IfStatus *ImportStatus

	Status       *ImportStatus
	RowsRead     *int64
	RowsImported *int64
	RowsBad      *int64
	RowsSkipped  *int64
	// RowsDuplicate is set only to start the counts again (a re-run of a finished import);
	// the processor adds to it as it drops duplicates.
	RowsDuplicate *int64
	Offset        *int64
	Line          *int64
	LastSeq       *int64
	ReportBytes   *int64
	Error         *string
	FilePath      *string
	ReportPath    *string
}

// ImportService keeps bulk imports and their checkpoints.
type ImportService interface {
	// CreateImport stores a new import, setting its ID (when empty) and times. Returns invalid
	// for a bad status or format, not_found for an unknown source, and conflict if an import
	// of the same file with the same mapping into the same source exists (find it with
	// FindImports).
	CreateImport(ctx context.Context, imp *Import) error
	// FindImportByID returns not_found if there is no such import.
	FindImportByID(ctx context.Context, id ImportID) (*Import, error)
	// FindImports returns the matching imports, newest first.
	FindImports(ctx context.Context, filter ImportFilter) ([]*Import, error)
	// UpdateImport applies upd in one transaction and returns the new state. FinishedAt is set
	// when the status becomes done or failed. Returns not_found, invalid for a bad status, and
	// conflict when upd.IfStatus is set and the import's status differs.
	UpdateImport(ctx context.Context, id ImportID, upd ImportUpdate) (*Import, error)
}

// ProcessorLocker is an optional store capability: the processor lease. The identity stage
// keeps committed state in memory, so two processors on one store would corrupt each other's
// caches; whoever runs a processor (mosaic serve, or mosaic import with no server running)
// takes the lease first.
type ProcessorLocker interface {
	// LockProcessor takes the lease without waiting and returns the function that gives it
	// back. Returns conflict if another process (or another caller in this one) holds it.
	// The lease also ends when the process exits.
	LockProcessor(ctx context.Context) (release func() error, err error)
}

// Validate checks the fields a caller sets.
func (imp *Import) Validate() error {
	if imp.SourceID == "" {
		return FieldErrorf(EINVALID, "source_id", "An import needs a source.")
	}
	if imp.Format != "csv" && imp.Format != "jsonl" {
		return FieldErrorf(EINVALID, "format", "Format %q: use csv or jsonl.", imp.Format)
	}
	if imp.Origin != ImportOriginCLI && imp.Origin != ImportOriginAPI {
		return FieldErrorf(EINVALID, "origin", "Origin %q: use cli or api.", imp.Origin)
	}
	if !imp.Status.Valid() {
		return FieldErrorf(EINVALID, "status", "Unknown import status %q.", imp.Status)
	}
	if imp.FileHash == "" || imp.MappingHash == "" {
		return FieldErrorf(EINVALID, "file_hash", "An import needs the hashes of its file and mapping.")
	}
	return nil
}

// ApplyImportUpdate applies upd to imp as of now (UpdateImport's semantics, shared by the
// stores): set fields change, UpdatedAt becomes now, and FinishedAt is set when the status
// becomes done or failed (and cleared when it leaves them).
func ApplyImportUpdate(imp *Import, upd ImportUpdate, now time.Time) {
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&imp.RowsRead, upd.RowsRead)
	set(&imp.RowsImported, upd.RowsImported)
	set(&imp.RowsBad, upd.RowsBad)
	set(&imp.RowsSkipped, upd.RowsSkipped)
	set(&imp.RowsDuplicate, upd.RowsDuplicate)
	set(&imp.Offset, upd.Offset)
	set(&imp.Line, upd.Line)
	set(&imp.LastSeq, upd.LastSeq)
	set(&imp.ReportBytes, upd.ReportBytes)
	if upd.Error != nil {
		imp.Error = *upd.Error
	}
	if upd.FilePath != nil {
		imp.FilePath = *upd.FilePath
	}
	if upd.ReportPath != nil {
		imp.ReportPath = *upd.ReportPath
	}
	if upd.Status != nil && *upd.Status != imp.Status {
		imp.Status = *upd.Status
		switch imp.Status {
		case ImportDone, ImportFailed:
			imp.FinishedAt = &now
		default:
			imp.FinishedAt = nil
		}
	}
	imp.UpdatedAt = now
}

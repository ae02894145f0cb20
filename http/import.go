package http

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/bulk"
)

// ImportQueue runs uploaded imports in the background (an importer.Queue).
type ImportQueue interface {
	// Submit says that an import was stored with status queued.
	Submit()
}

// DefaultMaxImportBytes bounds an uploaded file.
const DefaultMaxImportBytes = 10 << 30

func (s *Server) registerImportRoutes(mux *http.ServeMux) {
	// POST /api/v1/imports?source=&format= multipart/form-data: mapping, file
	mux.HandleFunc("POST /api/v1/imports", s.authenticate(s.handleImportCreate))
	// GET /api/v1/imports?source=&status=
	mux.HandleFunc("GET /api/v1/imports", s.authenticate(s.handleImportList))
	// GET /api/v1/imports/{id}
	mux.HandleFunc("GET /api/v1/imports/{id}", s.authenticate(s.handleImportGet))
	// GET /api/v1/imports/{id}/errors: the error report (CSV)
	mux.HandleFunc("GET /api/v1/imports/{id}/errors", s.authenticate(s.handleImportErrors))
}

// requireImporter refuses roles that may not import data (or read error reports, which
// quote the file's values).
func requireImporter(r *http.Request) error {
	if t := tokenFrom(r); t == nil || !t.Role.CanManageSources() {
		return mosaic.Errorf(mosaic.EFORBIDDEN, "Your role may not import data; an owner or steward can.")
	}
	return nil
}

func (s *Server) importsEnabled() error {
	if s.Imports == nil || s.ImportDir == "" {
		return mosaic.Errorf(mosaic.EUNSUPPORTED, "This server does not run imports.")
	}
	return nil
}

// importView is an import as the API shows it.
type importView struct {
	*mosaic.Import
	// Resolved says that the processor has processed every appended row (into profiles).
	Resolved  bool   `json:"resolved"`
	ErrorsURL string `json:"errors_url,omitempty"`
	URL       string `json:"url"`
}

func (s *Server) view(r *http.Request, imp *mosaic.Import) (*importView, error) {
	v := &importView{Import: imp, URL: "/api/v1/imports/" + string(imp.ID)}
	if imp.RowsBad > 0 && imp.Origin == mosaic.ImportOriginAPI { // a command's report is on its machine
		v.ErrorsURL = v.URL + "/errors"
	}
	if imp.Status == mosaic.ImportDone {
		off, err := s.Store.ProcessorOffset(r.Context())
		if err != nil {
			return nil, err
		}
		v.Resolved = off >= imp.LastSeq
	}
	return v, nil
}

// handleImportCreate takes an upload: multipart/form-data with a "mapping" part (the
// mapping file, YAML or JSON) and a "file" part (the CSV or JSONL file, streamed to disk and
// hashed on the way); source and format come from the query or from parts of those names.
// It answers 202 with the queued import, or 200 with the earlier import of the same file
// with the same mapping into the same source (which adds nothing).
func (s *Server) handleImportCreate(w http.ResponseWriter, r *http.Request) {
	if err := requireImporter(r); err != nil {
		Error(w, r, err)
		return
	}
	if err := s.importsEnabled(); err != nil {
		Error(w, r, err)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		Error(w, r, mosaic.Errorf(mosaic.EUNSUPPORTED, "Send multipart/form-data with a \"mapping\" part and a \"file\" part (curl -F mapping=@crm.yaml -F file=@customers.csv)."))
		return
	}
	// An upload may take longer than the server's read timeout allows a request.
	http.NewResponseController(w).SetReadDeadline(time.Time{})
	limit := s.MaxImportBytes
	if limit <= 0 {
		limit = DefaultMaxImportBytes
	}
	mr, err := r.MultipartReader()
	if err != nil {
		Error(w, r, &mosaic.Error{Code: mosaic.EINVALID, Message: "The multipart body cannot be read.", Err: err})
		return
	}
	if err := os.MkdirAll(s.ImportDir, 0o700); err != nil {
		Error(w, r, err)
		return
	}
	q := r.URL.Query()
	sourceRef, format := q.Get("source"), q.Get("format")
	var mapping []byte
	var upload *os.File
	var fileName, fileHash string
	var fileSize int64
	defer func() {
		if upload != nil {
			upload.Close()
			os.Remove(upload.Name()) // kept only once renamed for its import
		}
	}()
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			Error(w, r, &mosaic.Error{Code: mosaic.EINVALID, Message: "The multipart body cannot be read.", Err: err})
			return
		}
		switch name := part.FormName(); name {
		case "mapping":
			if mapping, err = readPart(part, bulk.MaxMappingBytes, "mapping"); err != nil {
				Error(w, r, err)
				return
			}
		case "source", "format":
			v, err := readPart(part, 200, name)
			if err != nil {
				Error(w, r, err)
				return
			}
			if name == "source" {
				sourceRef = strings.TrimSpace(string(v))
			} else {
				format = strings.TrimSpace(string(v))
			}
		case "file":
			if upload != nil {
				Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, "file", "Send one file per import."))
				return
			}
			if upload, err = os.CreateTemp(s.ImportDir, "upload-*"); err != nil {
				Error(w, r, err)
				return
			}
			fileName = cleanFileName(part.FileName())
			h := sha256.New()
			n, err := io.Copy(io.MultiWriter(upload, h), io.LimitReader(part, limit+1))
			if err != nil {
				Error(w, r, &mosaic.Error{Code: mosaic.EINVALID, Message: "The upload was cut off.", Err: err})
				return
			}
			if n > limit {
				Error(w, r, mosaic.FieldErrorf(mosaic.ETOOLARGE, "file", "The file is over %d bytes.", limit))
				return
			}
			if err := upload.Sync(); err != nil {
				Error(w, r, err)
				return
			}
			fileHash, fileSize = hex.EncodeToString(h.Sum(nil)), n
		default:
			Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, name, "Unknown part %q: send mapping, file, and optionally source and format.", name))
			return
		}
	}
	switch {
	case mapping == nil:
		Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, "mapping", "The upload needs a \"mapping\" part: the mapping file."))
		return
	case upload == nil:
		Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, "file", "The upload needs a \"file\" part: the CSV or JSONL file."))
		return
	case sourceRef == "":
		Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, "source", "Say which source the rows come from: ?source=crm."))
		return
	}
	m, err := bulk.ParseMapping(mapping)
	if err == nil && s.CheckMapping != nil {
		err = s.CheckMapping(m)
	}
	if err != nil {
		Error(w, r, err)
		return
	}
	f := bulk.Format(strings.ToLower(format))
	switch {
	case f == "":
		if f = m.Format; f == "" {
			f = bulk.FormatOf(fileName)
		}
	case f != bulk.CSV && f != bulk.JSONL:
		Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, "format", "Format %q: use csv or jsonl.", format))
		return
	}
	src, err := s.findSource(r, sourceRef)
	if err != nil {
		Error(w, r, err)
		return
	}
	if src.Disabled {
		Error(w, r, mosaic.Errorf(mosaic.EFORBIDDEN, "Source %q is disabled.", src.Name))
		return
	}
	opts := m.ReadOptions(f)
	imp := &mosaic.Import{ID: mosaic.NewImportID(), SourceID: src.ID, Origin: mosaic.ImportOriginAPI, FileName: fileName,
		FileHash: fileHash, FileSize: fileSize, MappingHash: bulk.MappingHash(mapping, opts), Format: string(f),
		Status: mosaic.ImportQueued, Mapping: mapping}
	imp.FilePath = filepath.Join(s.ImportDir, string(imp.ID)+"."+string(f))
	imp.ReportPath = filepath.Join(s.ImportDir, string(imp.ID)+".errors.csv")
	if err := os.Rename(upload.Name(), imp.FilePath); err != nil {
		Error(w, r, err)
		return
	}
	status := http.StatusAccepted
	err = s.Store.CreateImport(r.Context(), imp)
	if mosaic.ErrorCode(err) == mosaic.ECONFLICT {
		found, ferr := s.Store.FindImports(r.Context(), mosaic.ImportFilter{SourceID: &src.ID, FileHash: &fileHash, MappingHash: &imp.MappingHash, Limit: 1})
		if ferr != nil || len(found) == 0 {
			os.Remove(imp.FilePath)
			Error(w, r, errors.Join(err, ferr))
			return
		}
		prev := found[0]
		switch {
		case prev.Status == mosaic.ImportFailed && prev.Origin != mosaic.ImportOriginAPI:
			os.Remove(imp.FilePath)
			Error(w, r, mosaic.Errorf(mosaic.ECONFLICT, "This file was imported with this mapping on the command line (import %s), and that import failed: %s Run the same mosaic import command again to retry it.",
				prev.ID, strings.TrimSpace(prev.Error)))
			return
		case prev.Status == mosaic.ImportFailed:
			// The upload retries it (what failed may be fixed now: the server's rules), from
			// its checkpoint, with this copy of the file.
			failed, queued, empty := mosaic.ImportFailed, mosaic.ImportQueued, ""
			upd, uerr := s.Store.UpdateImport(r.Context(), prev.ID, mosaic.ImportUpdate{IfStatus: &failed, Status: &queued, Error: &empty, FilePath: &imp.FilePath})
			if uerr != nil {
				os.Remove(imp.FilePath)
				Error(w, r, uerr)
				return
			}
			if prev.FilePath != imp.FilePath {
				os.Remove(prev.FilePath)
			}
			loggerFrom(r).Info("failed import queued again", "import", upd.ID, "source", src.ID)
			s.Imports.Submit()
			imp = upd
		default:
			os.Remove(imp.FilePath)
			imp, status = prev, http.StatusOK
		}
	} else if err != nil {
		os.Remove(imp.FilePath)
		Error(w, r, err)
		return
	} else {
		loggerFrom(r).Info("import queued", "import", imp.ID, "source", src.ID, "bytes", fileSize)
		s.Imports.Submit()
	}
	v, err := s.view(r, imp)
	if err != nil {
		Error(w, r, err)
		return
	}
	w.Header().Set("Location", v.URL)
	writeJSON(w, status, v)
}

func readPart(part io.Reader, limit int64, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(part, limit+1))
	if err != nil {
		return nil, &mosaic.Error{Code: mosaic.EINVALID, Message: "The upload was cut off.", Err: err}
	}
	if int64(len(b)) > limit {
		return nil, mosaic.FieldErrorf(mosaic.ETOOLARGE, name, "The %s part is over %d bytes.", name, limit)
	}
	return b, nil
}

// cleanFileName keeps the base name of an uploaded file, without control characters.
func cleanFileName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)
	if r := []rune(name); len(r) > 200 {
		name = string(r[:200])
	}
	if name == "" || name == "." || name == "/" {
		return "upload"
	}
	return name
}

func (s *Server) handleImportGet(w http.ResponseWriter, r *http.Request) {
	imp, err := s.Store.FindImportByID(r.Context(), mosaic.ImportID(r.PathValue("id")))
	if err != nil {
		Error(w, r, err)
		return
	}
	v, err := s.view(r, imp)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleImportList(w http.ResponseWriter, r *http.Request) {
	if err := knownParams(r, "source", "status", "limit"); err != nil {
		Error(w, r, err)
		return
	}
	q := r.URL.Query()
	var f mosaic.ImportFilter
	if ref := q.Get("source"); ref != "" {
		src, err := s.findSource(r, ref)
		if err != nil {
			Error(w, r, err)
			return
		}
		f.SourceID = &src.ID
	}
	if st := mosaic.ImportStatus(q.Get("status")); st != "" {
		if !st.Valid() {
			Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, "status", "Unknown status %q: use queued, running, done, failed or interrupted.", st))
			return
		}
		f.Status = &st
	}
	if n, err := queryLimit(r); err != nil || n > 1000 {
		Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, "limit", "limit must be between 1 and 1000."))
		return
	} else if n > 0 {
		f.Limit = n
	}
	imps, err := s.Store.FindImports(r.Context(), f)
	if err != nil {
		Error(w, r, err)
		return
	}
	views := []*importView{}
	for _, imp := range imps {
		v, err := s.view(r, imp)
		if err != nil {
			Error(w, r, err)
			return
		}
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"imports": views})
}

// handleImportErrors serves an import's error report (CSV: line, row, column, reason).
func (s *Server) handleImportErrors(w http.ResponseWriter, r *http.Request) {
	if err := requireImporter(r); err != nil {
		Error(w, r, err)
		return
	}
	imp, err := s.Store.FindImportByID(r.Context(), mosaic.ImportID(r.PathValue("id")))
	if err != nil {
		Error(w, r, err)
		return
	}
	if imp.Origin != mosaic.ImportOriginAPI {
		Error(w, r, mosaic.Errorf(mosaic.ENOTFOUND, "Import %s ran on the command line; its error report is %s on that machine.", imp.ID, imp.ReportPath))
		return
	}
	f, err := os.Open(imp.ReportPath)
	if errors.Is(err, os.ErrNotExist) {
		if imp.RowsBad == 0 {
			err = mosaic.Errorf(mosaic.ENOTFOUND, "Import %s has no bad rows.", imp.ID)
		} else {
			err = mosaic.Errorf(mosaic.ENOTFOUND, "The error report of import %s is not on this server.", imp.ID)
		}
		Error(w, r, err)
		return
	} else if err != nil {
		Error(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", strings.TrimSuffix(imp.FileName, filepath.Ext(imp.FileName))+".errors.csv"))
	io.Copy(w, f)
}

package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

func (s *Server) registerSourceRoutes(mux *http.ServeMux) {
	// GET /api/v1/sources
	mux.HandleFunc("GET /api/v1/sources", s.authenticate(s.handleSourceList))
	// POST /api/v1/sources {"name": …, "allowed_origins": […]}
	mux.HandleFunc("POST /api/v1/sources", s.authenticate(s.handleSourceCreate))
	// GET /api/v1/sources/{id}
	mux.HandleFunc("GET /api/v1/sources/{id}", s.authenticate(s.handleSourceGet))
	// PATCH /api/v1/sources/{id} {"name"?, "disabled"?, "allowed_origins"?}
	mux.HandleFunc("PATCH /api/v1/sources/{id}", s.authenticate(s.handleSourceUpdate))
	// POST /api/v1/sources/{id}/rotate-key
	mux.HandleFunc("POST /api/v1/sources/{id}/rotate-key", s.authenticate(s.handleSourceRotate))
}

func (s *Server) handleSourceList(w http.ResponseWriter, r *http.Request) {
	srcs, err := s.Store.FindSources(r.Context(), mosaic.SourceFilter{})
	if err != nil {
		Error(w, r, err)
		return
	}
	if srcs == nil {
		srcs = []*mosaic.Source{}
	}
	for _, src := range srcs {
		maskWriteKey(r, src)
	}
	writeJSON(w, http.StatusOK, map[string]any{"sources": srcs})
}

// maskWriteKey blanks a source's write key for roles that may not manage sources: with it
// anyone could send data as the source.
func maskWriteKey(r *http.Request, src *mosaic.Source) {
	if t := tokenFrom(r); t == nil || !t.Role.CanManageSources() {
		src.WriteKey = ""
	}
}

func (s *Server) handleSourceGet(w http.ResponseWriter, r *http.Request) {
	src, err := s.Store.FindSourceByID(r.Context(), mosaic.SourceID(r.PathValue("id")))
	if err != nil {
		Error(w, r, err)
		return
	}
	maskWriteKey(r, src)
	writeJSON(w, http.StatusOK, src)
}

func (s *Server) handleSourceCreate(w http.ResponseWriter, r *http.Request) {
	if err := requireSourceManager(r); err != nil {
		Error(w, r, err)
		return
	}
	var in struct {
		Name           string   `json:"name"`
		AllowedOrigins []string `json:"allowed_origins"`
	}
	if err := decodeJSON(r, &in); err != nil {
		Error(w, r, err)
		return
	}
	src := &mosaic.Source{Name: in.Name, AllowedOrigins: in.AllowedOrigins}
	if err := s.Store.CreateSource(r.Context(), src); err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, src)
}

func (s *Server) handleSourceUpdate(w http.ResponseWriter, r *http.Request) {
	if err := requireSourceManager(r); err != nil {
		Error(w, r, err)
		return
	}
	var upd mosaic.SourceUpdate
	if err := decodeJSON(r, &upd); err != nil {
		Error(w, r, err)
		return
	}
	src, err := s.Store.UpdateSource(r.Context(), mosaic.SourceID(r.PathValue("id")), upd)
	if err != nil {
		Error(w, r, err)
		return
	}
	s.sources.invalidate()
	writeJSON(w, http.StatusOK, src)
}

func (s *Server) handleSourceRotate(w http.ResponseWriter, r *http.Request) {
	if err := requireSourceManager(r); err != nil {
		Error(w, r, err)
		return
	}
	src, err := s.Store.RotateWriteKey(r.Context(), mosaic.SourceID(r.PathValue("id")))
	if err != nil {
		Error(w, r, err)
		return
	}
	s.sources.invalidate()
	writeJSON(w, http.StatusOK, src)
}

// decodeJSON reads a management request body (at most 1 MB) into v, refusing unknown fields
// and anything after the value.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err := dec.Token(); err != io.EOF {
			return mosaic.Errorf(mosaic.EINVALID, "The body holds more than one JSON value (at byte %d); send one object.", dec.InputOffset())
		}
		return nil
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return &mosaic.Error{Code: mosaic.EINVALID, Message: "The request needs a JSON object as its body.", Err: err}
	case errors.As(err, &te) && te.Field != "":
		return &mosaic.Error{Code: mosaic.EINVALID, Field: te.Field, Message: fmt.Sprintf("%s: a JSON %s is not a valid value here (want %s).", te.Field, te.Value, mosaic.JSONKind(te.Type)), Err: err}
	case errors.As(err, &te):
		return &mosaic.Error{Code: mosaic.EINVALID, Message: fmt.Sprintf("The body is a JSON %s; it must be %s.", te.Value, mosaic.JSONKind(te.Type)), Err: err}
	case errors.As(err, &se):
		return &mosaic.Error{Code: mosaic.EINVALID, Message: fmt.Sprintf("Invalid JSON body at byte %d: %s.", se.Offset, se.Error()), Err: err}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &mosaic.Error{Code: mosaic.EINVALID, Field: name, Message: fmt.Sprintf("Unknown field %q.", name), Err: err}
	}
	return &mosaic.Error{Code: mosaic.EINVALID, Message: "Invalid JSON body: " + err.Error() + ".", Err: err}
}

// findSource resolves a source by id or name.
func (s *Server) findSource(r *http.Request, ref string) (*mosaic.Source, error) {
	if src, err := s.Store.FindSourceByID(r.Context(), mosaic.SourceID(ref)); err == nil {
		return src, nil
	} else if mosaic.ErrorCode(err) != mosaic.ENOTFOUND {
		return nil, err
	}
	srcs, err := s.Store.FindSources(r.Context(), mosaic.SourceFilter{Name: &ref})
	if err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, mosaic.FieldErrorf(mosaic.ENOTFOUND, "source", "No source with id or name %q.", ref)
	}
	return srcs[0], nil
}

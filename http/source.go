package http

import (
	"encoding/json"
	"io"
	"net/http"

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
	writeJSON(w, http.StatusOK, map[string]any{"sources": srcs})
}

func (s *Server) handleSourceGet(w http.ResponseWriter, r *http.Request) {
	src, err := s.Store.FindSourceByID(r.Context(), mosaic.SourceID(r.PathValue("id")))
	if err != nil {
		Error(w, r, err)
		return
	}
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

// decodeJSON reads a management request body (at most 1 MB) into v, refusing unknown fields.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &mosaic.Error{Code: mosaic.EINVALID, Message: "Invalid JSON body: " + err.Error() + ".", Err: err}
	}
	return nil
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

package http

import (
	"net/http"

	"github.com/mosaic-cdp/mosaic"
)

func (s *Server) registerTokenRoutes(mux *http.ServeMux) {
	// GET /api/v1/tokens: every API token (never a secret)
	mux.HandleFunc("GET /api/v1/tokens", s.authenticate(s.handleTokenList))
	// POST /api/v1/tokens {"role": …, "name": …}: the new token and its secret, shown once
	mux.HandleFunc("POST /api/v1/tokens", s.authenticate(s.handleTokenCreate))
	// DELETE /api/v1/tokens/{id}: revoke; the secret stops working at once
	mux.HandleFunc("DELETE /api/v1/tokens/{id}", s.authenticate(s.handleTokenRevoke))
}

// requireTokenManager refuses roles that may not manage tokens.
func requireTokenManager(r *http.Request) error {
	if t := tokenFrom(r); t == nil || !t.Role.CanManageTokens() {
		return mosaic.Errorf(mosaic.EFORBIDDEN, "Your role may not manage API tokens; an owner can.")
	}
	return nil
}

func (s *Server) handleTokenList(w http.ResponseWriter, r *http.Request) {
	if err := requireTokenManager(r); err != nil {
		Error(w, r, err)
		return
	}
	toks, err := s.Store.FindTokens(r.Context())
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": toks})
}

func (s *Server) handleTokenCreate(w http.ResponseWriter, r *http.Request) {
	if err := requireTokenManager(r); err != nil {
		Error(w, r, err)
		return
	}
	var in struct {
		Role mosaic.Role `json:"role"`
		Name string      `json:"name"`
	}
	if err := decodeJSON(r, &in); err != nil {
		Error(w, r, err)
		return
	}
	if in.Role == "" {
		Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, "role", "A role is required: one of owner, steward, analyst, marketer, support, read-only."))
		return
	}
	tok := &mosaic.Token{Role: in.Role, Name: in.Name}
	secret, err := s.Store.CreateToken(r.Context(), tok)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		*mosaic.Token
		Secret string `json:"secret"`
	}{tok, secret})
}

func (s *Server) handleTokenRevoke(w http.ResponseWriter, r *http.Request) {
	if err := requireTokenManager(r); err != nil {
		Error(w, r, err)
		return
	}
	if err := s.Store.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

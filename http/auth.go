package http

import (
	"context"
	"net/http"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

// authenticate resolves the request's bearer token; handlers get it with tokenFrom.
func (s *Server) authenticate(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		scheme, secret, ok := strings.Cut(h, " ")
		if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			Error(w, r, mosaic.Errorf(mosaic.EUNAUTHORIZED, "Send an API token as \"Authorization: Bearer <token>\"."))
			return
		}
		tok, err := s.Store.FindTokenBySecret(r.Context(), strings.TrimSpace(secret))
		if err != nil {
			Error(w, r, err)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), tokenKey, tok)))
	}
}

func tokenFrom(r *http.Request) *mosaic.Token {
	t, _ := r.Context().Value(tokenKey).(*mosaic.Token)
	return t
}

// requireSourceManager refuses roles that may not change sources.
func requireSourceManager(r *http.Request) error {
	if t := tokenFrom(r); t == nil || !t.Role.CanManageSources() {
		return mosaic.Errorf(mosaic.EFORBIDDEN, "Your role may not change sources; an owner or steward can.")
	}
	return nil
}

package http

import (
	"context"
	"io"
	"net/http"
	"time"
)

func (s *Server) registerHealthRoutes(mux *http.ServeMux) {
	// GET /healthz: the process is up.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	// GET /readyz: the store answers and the inbox takes writes.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Store.Ping(ctx); err != nil {
			Error(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ready"}`+"\n")
	})
	// GET /metrics: Prometheus.
	mux.Handle("GET /metrics", s.Metrics.Handler())
}

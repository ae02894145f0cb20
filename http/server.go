// Package http is Mosaic's HTTP API: the Segment-compatible ingestion gateway (/v1/*), the
// management and read API (/api/v1/*), and the operational endpoints (/healthz, /readyz,
// /metrics). It maps mosaic.Error codes to HTTP statuses in one place (Error) and never shows
// an internal error's details to a caller.
package http

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/bulk"
	"github.com/mosaic-cdp/mosaic/identity"
)

// Appender durably appends inbox records (a groupcommit.Committer in production).
type Appender interface {
	Append(ctx context.Context, recs []*mosaic.InboxRecord) error
}

// Server serves the API. Set the fields, then call Open; Close shuts it down gracefully.
type Server struct {
	Addr     string       // listen address, e.g. 127.0.0.1:8080 (":0" picks a port)
	Store    mosaic.Store // sources, tokens, events, stats
	Inbox    Appender     // where accepted events go; Store.AppendInbox when nil
	Appended func()       // called after each successful append (wakes the processor)
	Logger   *slog.Logger
	Now      func() time.Time
	// Identity normalises identifiers given to the profile API (lookup, split); profile
	// routes answer 415 unsupported without it.
	Identity *identity.Normalizer
	// Imports runs uploaded imports, kept in ImportDir (at most MaxImportBytes each, 0 means
	// DefaultMaxImportBytes); the import upload answers 415 unsupported without them.
	Imports        ImportQueue
	ImportDir      string
	MaxImportBytes int64
	// CheckMapping, if set, checks an uploaded mapping before the import is queued (against
	// the identity configuration).
	CheckMapping func(*bulk.Mapping) error
	// SourceCacheTTL bounds how long a write key lookup is cached (changes made through this
	// server take effect at once; changes made elsewhere, e.g. by the CLI, after the TTL).
	SourceCacheTTL time.Duration

	// Matcher runs probabilistic matching for POST /api/v1/matches/runs (answers 415
	// unsupported without it).
	Matcher MatchRunner

	Metrics *Metrics

	baseCtx    context.Context // cancelled by Close: background work started by requests
	cancelBase context.CancelFunc
	runs       matchRuns
	ln         net.Listener
	srv        *http.Server
	sources    *sourceCache
	reqSeq     atomic.Uint64
}

// Open starts listening and serving in the background.
func (s *Server) Open() error {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Inbox == nil {
		s.Inbox = appendFunc(s.Store.AppendInbox)
	}
	if s.SourceCacheTTL == 0 {
		s.SourceCacheTTL = 5 * time.Second
	}
	if s.Metrics == nil {
		s.Metrics = NewMetrics(s.Store)
	}
	s.sources = newSourceCache(s.Store, s.SourceCacheTTL, s.Now)
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	go s.srv.Serve(ln)
	return nil
}

// URL returns the base URL the server listens on.
func (s *Server) URL() string {
	addr := s.ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, itoa(addr.Port))
}

// Close stops accepting connections and waits (up to ctx) for requests in flight to finish.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.srv.Close()
	}
	s.cancelBase() // a matching run in progress stops; what it recorded stays
	s.runs.wg.Wait()
	return err
}

type appendFunc func(ctx context.Context, recs []*mosaic.InboxRecord) error

func (f appendFunc) Append(ctx context.Context, recs []*mosaic.InboxRecord) error {
	return f(ctx, recs)
}

// Handler returns the routed handler with logging, request ids and metrics around it.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.registerIngestRoutes(mux)
	s.registerSourceRoutes(mux)
	s.registerTokenRoutes(mux)
	s.registerEventRoutes(mux)
	s.registerProfileRoutes(mux)
	s.registerImportRoutes(mux)
	s.registerMatchRoutes(mux)
	s.registerHealthRoutes(mux)
	for pattern, hint := range refusedGET {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			methodNotAllowed(w, []string{"POST"}, r.Method+" "+r.URL.Path+": "+hint)
		})
	}
	// The catch-all matches every method, so ServeMux never answers 405 by itself: a path
	// that a route serves with other methods is answered here.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if call := strings.TrimPrefix(r.URL.Path, "/v1/"); call != r.URL.Path && !strings.Contains(call, "/") && call != "" {
			methodNotAllowed(w, []string{"POST", "OPTIONS"}, r.Method+" /v1/"+call+": tracking calls are sent with POST.")
			return
		}
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			methodNotAllowed(w, allow, r.Method+" "+r.URL.Path+": this route answers "+strings.Join(allow, ", ")+".")
			return
		}
		Error(w, r, mosaic.Errorf(mosaic.ENOTFOUND, "No route for %s %s.", r.Method, r.URL.Path))
	})
	return s.instrument(mux)
}

// probeMethods are the methods allowedMethods tries. Not OPTIONS: "OPTIONS /v1/" answers
// CORS preflights for any path below it, so it does not say that a path exists.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// refusedGET are POST-only paths whose GET a wider GET route would take and answer with
// something misleading (GET /api/v1/profiles/rebuild is not a lookup of profile "rebuild"):
// Handler answers their GET with 405, and allowedMethods does not count that route.
var refusedGET = map[string]string{
	"GET /api/v1/profiles/rebuild": `a rebuild is started with POST (body {"all":true}).`,
}

// allowedMethods returns the methods with which a route other than the catch-all serves
// r's path (none for a path no route knows).
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range probeMethods {
		probe := *r
		probe.Method = m
		if _, pattern := mux.Handler(&probe); pattern != "" && pattern != "/" && refusedGET[pattern] == "" {
			allow = append(allow, m)
		}
	}
	return allow
}

// methodNotAllowed answers 405 with the Allow header and the method_not_allowed error body.
func methodNotAllowed(w http.ResponseWriter, allow []string, msg string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{Code: "method_not_allowed", Message: msg}})
}

type ctxKey int

const (
	loggerKey ctxKey = iota
	tokenKey
)

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument adds a request id, a request-scoped logger, panic recovery, the access log and
// the latency histogram.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = "req_" + itoa(int(s.reqSeq.Add(1))) + "_" + mosaic.RandomString(4)
		}
		w.Header().Set("X-Request-Id", id)
		log := s.Logger.With("request_id", id)
		r = r.WithContext(context.WithValue(r.Context(), loggerKey, log))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic serving request", "panic", p, "method", r.Method, "path", r.URL.Path)
				if sw.status == 0 {
					Error(sw, r, errors.New("panic"))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			s.Metrics.observeRequest(route, sw.status, d)
			log.Debug("request", "method", r.Method, "route", route, "status", sw.status, "duration_ms", float64(d.Microseconds())/1000)
		}()
		next.ServeHTTP(sw, r)
	})
}

func loggerFrom(r *http.Request) *slog.Logger {
	if l, ok := r.Context().Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	neg := i < 0
	if neg {
		i = -i
	}
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			break
		}
	}
	if neg {
		n--
		b[n] = '-'
	}
	return string(b[n:])
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

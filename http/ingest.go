package http

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/segment"
)

// callPaths maps every ingestion path segment to its call: the Segment names, /v1/import (an
// alias of batch) and the one-letter paths analytics.js posts to.
var callPaths = map[string]string{
	"track": "track", "identify": "identify", "page": "page", "screen": "screen", "group": "group", "alias": "alias",
	"batch": segment.Batch, "import": segment.Batch,
	"t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group", "a": "alias", "b": segment.Batch,
}

func (s *Server) registerIngestRoutes(mux *http.ServeMux) {
	// POST /v1/{call}: track, identify, page, screen, group, alias, batch, import, t, i, p, s, g, a, b
	mux.HandleFunc("POST /v1/{call}", s.handleIngest)
	// POST /v1/m: analytics.js client metrics; accepted and counted.
	mux.HandleFunc("POST /v1/m", s.handleClientMetrics)
	// GET /v1/projects/{writeKey}/settings: what analytics.js loads before sending.
	mux.HandleFunc("GET /v1/projects/{writeKey}/settings", s.handleSettings)
	// GET /cluster-info: RudderStack's server SDKs ask how many gateway nodes there are
	// before sending; one process answers for the whole store.
	mux.HandleFunc("GET /cluster-info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"nodeCount": 1})
	})
	// OPTIONS /v1/...: CORS preflight for browser tracking.
	mux.HandleFunc("OPTIONS /v1/", s.handlePreflight)
}

// cors sets the CORS response headers for a browser origin.
func cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
}

// handlePreflight answers CORS preflights. The write key is in the body of the real request,
// so the per-source origin check happens there.
func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	cors(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	} else {
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Content-Encoding")
	}
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// handleIngest accepts tracking calls: read (gzip-aware, size-limited), authenticate by write
// key, validate every event, append to the inbox with group commit, and only then answer 200.
func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) {
	cors(w, r)
	call, ok := callPaths[r.PathValue("call")]
	if !ok {
		s.reject(w, r, "", mosaic.Errorf(mosaic.ENOTFOUND, "Unknown ingestion endpoint /v1/%s.", r.PathValue("call")))
		return
	}
	received := s.Now().UTC()
	limit := segment.MaxBatchBytes
	if call != segment.Batch {
		limit = segment.MaxEventBytes
	}
	body, err := readBody(r, limit)
	if err != nil {
		// Counted under the source the write key names, if it names one (a 413 from a
		// source's own library is that source's problem, not an unknown sender's).
		var id mosaic.SourceID
		if key, _, ok := r.BasicAuth(); ok && key != "" {
			if src, err := s.sources.get(r.Context(), mosaic.WriteKey(key)); err == nil {
				id = src.ID
			}
		}
		s.reject(w, r, id, err)
		return
	}
	var src *mosaic.Source
	if key, _, ok := r.BasicAuth(); ok && key != "" {
		if src, err = s.source(r.Context(), mosaic.WriteKey(key), r); err != nil {
			s.reject(w, r, "", err)
			return
		}
	}
	req, err := segment.ParseRequest(body, call)
	if err != nil {
		id := mosaic.SourceID("")
		if src != nil {
			id = src.ID
		}
		s.reject(w, r, id, err)
		return
	}
	if src == nil {
		if req.WriteKey == "" {
			msg := "Missing write key: send it as the HTTP Basic user name or as \"writeKey\" in the body."
			if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
				msg += " A Bearer token is an API token, for /api/v1; tracking calls carry a source's write key (mosaic source list)."
			}
			s.reject(w, r, "", mosaic.Errorf(mosaic.EUNAUTHORIZED, "%s", msg))
			return
		}
		if src, err = s.source(r.Context(), req.WriteKey, r); err != nil {
			s.reject(w, r, "", err)
			return
		}
	}
	recs := make([]*mosaic.InboxRecord, len(req.Messages))
	for i, m := range req.Messages {
		id := m.MessageID
		if id == "" {
			id = generateMessageID()
		}
		recs[i] = &mosaic.InboxRecord{SourceID: src.ID, MessageID: id, ReceivedAt: received, SentAt: req.SentAt, Payload: m.Raw}
	}
	s.Metrics.received(src.ID, len(recs))
	if err := s.Inbox.Append(r.Context(), recs); err != nil {
		s.Metrics.rejected(src.ID, mosaic.ErrorCode(err), len(recs))
		if mosaic.ErrorCode(err) == mosaic.EINTERNAL {
			err = &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Events could not be stored; retry.", Err: err}
		}
		s.Metrics.storeError("append_inbox")
		Error(w, r, err)
		return
	}
	s.Metrics.accepted(src.ID, len(recs))
	if s.Appended != nil {
		s.Appended()
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"success":true}`+"\n")
}

// reject counts and answers a refused request.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, src mosaic.SourceID, err error) {
	if src == "" {
		src = "unknown"
	}
	s.Metrics.rejected(src, mosaic.ErrorCode(err), 1)
	Error(w, r, err)
}

// source resolves a write key to an enabled source whose CORS rules admit the request.
func (s *Server) source(ctx context.Context, key mosaic.WriteKey, r *http.Request) (*mosaic.Source, error) {
	src, err := s.sources.get(ctx, key)
	if mosaic.ErrorCode(err) == mosaic.ENOTFOUND {
		return nil, mosaic.Errorf(mosaic.EUNAUTHORIZED, "Unknown write key.")
	} else if err != nil {
		return nil, err
	}
	if src.Disabled {
		return nil, mosaic.Errorf(mosaic.EFORBIDDEN, "Source %q is disabled.", src.Name)
	}
	if origin := r.Header.Get("Origin"); origin != "" && !src.AllowsOrigin(origin) {
		return nil, mosaic.Errorf(mosaic.EFORBIDDEN, "Origin %s may not send to source %q.", origin, src.Name)
	}
	return src, nil
}

var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody reads a request body of at most limit bytes, decoding gzip when the client says so.
func readBody(r *http.Request, limit int) ([]byte, error) {
	var rd io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(io.LimitReader(r.Body, int64(limit)+1))
		if err != nil {
			return nil, &mosaic.Error{Code: mosaic.EINVALID, Message: "Body is not valid gzip.", Err: err}
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, mosaic.Errorf(mosaic.EUNSUPPORTED, "Content-Encoding %q is not supported; send gzip or nothing.", enc)
	}
	buf := bodyBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer bodyBufs.Put(buf)
	n, err := buf.ReadFrom(io.LimitReader(rd, int64(limit)+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, mosaic.Errorf(mosaic.ETOOLARGE, "Body is over %d bytes.", limit)
		}
		if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &mosaic.Error{Code: mosaic.EINVALID, Message: "Body is not valid gzip.", Err: err}
		}
		return nil, &mosaic.Error{Code: mosaic.EINVALID, Message: "Body could not be read.", Err: err}
	}
	if n > int64(limit) {
		return nil, mosaic.Errorf(mosaic.ETOOLARGE, "Body is over the limit of %d bytes (%d KB).", limit, limit>>10)
	}
	return bytes.Clone(buf.Bytes()), nil
}

func generateMessageID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return "mosaic-" + uuid.NewString()
	}
	return "mosaic-" + id.String()
}

// handleClientMetrics accepts analytics.js's client metrics and counts them.
func (s *Server) handleClientMetrics(w http.ResponseWriter, r *http.Request) {
	cors(w, r)
	io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	s.Metrics.clientMetrics.Inc()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"success":true}`+"\n")
}

// handleSettings serves analytics.js the settings it loads from its CDN: the Segment.io
// integration pointing back at this server's /v1.
func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) {
	cors(w, r)
	src, err := s.sources.get(r.Context(), mosaic.WriteKey(r.PathValue("writeKey")))
	if err != nil {
		Error(w, r, err)
		return
	}
	if src.Disabled {
		Error(w, r, mosaic.Errorf(mosaic.EFORBIDDEN, "Source %q is disabled.", src.Name))
		return
	}
	proto, host := publicOrigin(r)
	// analytics.js takes the protocol of its calls from these settings, but always sends its
	// client metrics over https; served over plain http, it is asked for no metrics rather
	// than left to fail and log an error on the page.
	metricsSample := 0.1
	if proto == "http" {
		metricsSample = 0
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Add("Vary", "Forwarded, X-Forwarded-Host, X-Forwarded-Proto")
	writeJSON(w, http.StatusOK, map[string]any{
		"integrations": map[string]any{
			"Segment.io": map[string]any{
				"apiKey":                string(src.WriteKey),
				"apiHost":               host + "/v1",
				"protocol":              proto,
				"unbundledIntegrations": []string{},
				"addBundledMetadata":    true,
				"maybeBundledConfigIds": map[string]any{},
				"versionSettings":       map[string]any{"version": "4.4.7", "componentTypes": []string{"browser"}},
			},
		},
		"plan": map[string]any{
			"track":    map[string]any{"__default": map[string]any{"enabled": true, "integrations": map[string]any{}}},
			"identify": map[string]any{"__default": map[string]any{"enabled": true}},
			"group":    map[string]any{"__default": map[string]any{"enabled": true}},
		},
		"edgeFunction":              map[string]any{},
		"analyticsNextEnabled":      true,
		"middlewareSettings":        map[string]any{},
		"enabledMiddleware":         map[string]any{},
		"metrics":                   map[string]any{"sampleRate": metricsSample, "host": host + "/v1"},
		"legacyVideoPluginsEnabled": false,
		"remotePlugins":             []any{},
	})
}

// publicOrigin returns the scheme and host clients reach this server at: from a reverse
// proxy's Forwarded (RFC 7239) or X-Forwarded-Proto/-Host headers, else from the request.
func publicOrigin(r *http.Request) (proto, host string) {
	proto, host = "http", r.Host
	if r.TLS != nil {
		proto = "https"
	}
	if fwd := r.Header.Get("Forwarded"); fwd != "" {
		first, _, _ := strings.Cut(fwd, ",") // the client-facing hop
		for _, pair := range strings.Split(first, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			v = strings.Trim(v, `"`)
			switch {
			case !ok || v == "":
			case strings.EqualFold(k, "proto") && (v == "http" || v == "https"):
				proto = v
			case strings.EqualFold(k, "host"):
				host = v
			}
		}
		return proto, host
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		proto = p
	}
	return proto, firstNonEmpty(r.Header.Get("X-Forwarded-Host"), host)
}

// sourceCache caches write key lookups on the ingestion hot path.
type sourceCache struct {
	store mosaic.SourceService
	ttl   time.Duration
	now   func() time.Time
	mu    sync.RWMutex
	m     map[mosaic.WriteKey]cachedSource
}

type cachedSource struct {
	src     *mosaic.Source
	err     error
	expires time.Time
}

func newSourceCache(store mosaic.SourceService, ttl time.Duration, now func() time.Time) *sourceCache {
	return &sourceCache{store: store, ttl: ttl, now: now, m: map[mosaic.WriteKey]cachedSource{}}
}

func (c *sourceCache) get(ctx context.Context, key mosaic.WriteKey) (*mosaic.Source, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.src, e.err
	}
	src, err := c.store.FindSourceByWriteKey(ctx, key)
	if err != nil && mosaic.ErrorCode(err) != mosaic.ENOTFOUND {
		return nil, err // outages are not cached
	}
	c.mu.Lock()
	if len(c.m) > 10000 { // unknown keys must not grow the cache without bound
		clear(c.m)
	}
	c.m[key] = cachedSource{src: src, err: err, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return src, err
}

// invalidate drops every cached lookup (after a source changes through the API).
func (c *sourceCache) invalidate() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

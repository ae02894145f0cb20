package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// browserDir holds the npm side of TestBrowserAnalyticsJS: package.json pins Segment's
// analytics.js, and the page that loads it.
const browserDir = "testdata/browser"

// TestBrowserAnalyticsJS proves that Segment's analytics.js (@segment/analytics-next from npm,
// unchanged) works against Mosaic in a real browser. Headless Chromium opens a page on one
// origin; the page loads analytics.js with cdnURL pointing at Mosaic on another origin, so
// the settings fetch, every call and the client metrics are cross-origin requests that the
// browser only completes if Mosaic's CORS answers admit them (the calls carry an
// Authorization header, so each one needs an accepted preflight first).
//
// It needs /usr/bin/chromium (apt-get install chromium) and the npm package
// (npm ci --prefix cmd/mosaic/testdata/browser): without them it skips, or fails under CI=true.
func TestBrowserAnalyticsJS(t *testing.T) {
	chromium := findChromium(t)
	inst := startServe(t, "--data", t.TempDir())
	if inst.WriteKey == "" || inst.Token == "" {
		t.Fatalf("no write key or token in the first-start banner:\n%s", inst.Stdout)
	}
	// Mosaic behind a TLS reverse proxy, as in production; it records what the browser sent.
	front := startTLSFront(t, inst.URL)
	page := httptest.NewServer(pageHandler())
	t.Cleanup(page.Close)
	b := &browser{bin: chromium, spki: front.spki()}
	open := func(t *testing.T, cdnURL string) *pageReport {
		t.Helper()
		if cdnURL == page.URL {
			t.Fatal("page and Mosaic share an origin")
		}
		return b.open(t, page.URL+"/?"+url.Values{"key": {inst.WriteKey}, "cdn": {cdnURL}}.Encode())
	}

	t.Run("HTTP", func(t *testing.T) {
		rep := open(t, inst.URL)
		checkDelivered(t, inst, rep, page.URL, inst.URL)
		if rep.Metrics {
			t.Error("Mosaic on plain http asked for client metrics, which analytics.js sends over https only")
		}
	})

	t.Run("HTTPS", func(t *testing.T) {
		rep := open(t, front.URL)
		checkDelivered(t, inst, rep, page.URL, front.URL)
		if !rep.Metrics {
			t.Error("Mosaic on https asked for no client metrics")
		}
		if !slices.ContainsFunc(rep.Requests, func(r pageRequest) bool { return r.Method == "POST" && r.URL == front.URL+"/v1/m" }) {
			t.Errorf("analytics.js sent no client metrics to /v1/m: %v", rep.Requests)
		}
		// What Mosaic answered, as the proxy saw it, preflights included.
		xs := front.exchanges()
		for _, x := range xs {
			if x.Origin != page.URL || x.AllowOrigin != page.URL || x.Status >= 400 {
				t.Errorf("%s %s from Origin %q: status %d, Access-Control-Allow-Origin %q", x.Method, x.Path, x.Origin, x.Status, x.AllowOrigin)
			}
		}
		for _, path := range []string{"/v1/p", "/v1/a", "/v1/i", "/v1/t", "/v1/g"} {
			if !slices.ContainsFunc(xs, func(x exchange) bool { return x.Method == http.MethodOptions && x.Path == path }) {
				t.Errorf("no CORS preflight for %s reached Mosaic", path)
			}
		}
	})

	t.Run("OriginNotAllowed", func(t *testing.T) {
		before := len(allEvents(t, inst.URL, inst.Token, ""))
		restrictOrigins(t, inst, "https://elsewhere.example")
		front.reset()

		rep := open(t, front.URL)
		for _, name := range []string{"page", "alias", "identify", "track", "group"} {
			if c := rep.Calls[name]; !strings.Contains(c.Failed, "403") {
				t.Errorf("analytics.%s: failed delivery %q, want a 403", name, c.Failed)
			}
		}
		for _, path := range []string{"/v1/p", "/v1/a", "/v1/i", "/v1/t", "/v1/g"} {
			var statuses []int
			for _, x := range front.exchanges() {
				if x.Method == http.MethodPost && x.Path == path {
					statuses = append(statuses, x.Status)
				}
			}
			if !slices.Equal(statuses, []int{http.StatusForbidden}) {
				t.Errorf("POST %s answered %v, want one 403", path, statuses)
			}
		}
		waitProcessed(t, inst.URL, inst.Token)
		if after := len(allEvents(t, inst.URL, inst.Token, "")); after != before {
			t.Errorf("%d events stored, want %d as before", after, before)
		}
	})
}

// checkDelivered checks that the page's five calls went to api without an error the browser
// or analytics.js saw, and were stored with the fields they were made with.
func checkDelivered(t *testing.T, inst *instance, rep *pageReport, pageOrigin, api string) {
	t.Helper()
	if len(rep.Calls) != 5 {
		t.Errorf("page reported %d calls, want 5: %v", len(rep.Calls), rep.Calls)
	}
	for name, c := range rep.Calls {
		if c.Failed != "" || len(c.Errors) > 0 {
			t.Errorf("analytics.%s: failed delivery %q, errors %q", name, c.Failed, c.Errors)
		}
	}
	if len(rep.ConsoleErrors) > 0 {
		t.Errorf("console errors in the page: %q", rep.ConsoleErrors)
	}
	// Every request answered and readable: a CORS refusal shows as a fetch error.
	seen := map[string]bool{}
	for _, r := range rep.Requests {
		if r.Error != "" || r.Status >= 400 || !strings.HasPrefix(r.URL, api+"/") {
			t.Errorf("browser request %s %s: status %d, error %q", r.Method, r.URL, r.Status, r.Error)
		}
		seen[r.Method+" "+strings.TrimPrefix(r.URL, api)] = true
	}
	for _, want := range []string{
		"GET /v1/projects/" + inst.WriteKey + "/settings",
		"POST /v1/p", "POST /v1/a", "POST /v1/i", "POST /v1/t", "POST /v1/g",
	} {
		if !seen[want] {
			t.Errorf("browser made no request %s; made %v", want, seen)
		}
	}
	if rep.AnonymousID == "" {
		t.Fatal("page reported no anonymousId")
	}

	byType := map[string]storedEvent{}
	for _, e := range waitEvents(t, inst, "anonymous_id="+url.QueryEscape(rep.AnonymousID), 5) {
		if _, dup := byType[e.Type]; dup {
			t.Errorf("two %s events stored", e.Type)
		}
		byType[e.Type] = e
		if got, want := e.MessageID, rep.Calls[e.Type].MessageID; got != want {
			t.Errorf("%s messageId=%q, want %q as sent", e.Type, got, want)
		}
		lib, _ := e.Context["library"].(map[string]any)
		if name, _ := lib["name"].(string); !strings.Contains(name, "analytics") {
			t.Errorf("%s context.library=%v, want analytics.js", e.Type, e.Context["library"])
		}
		if pg, _ := e.Context["page"].(map[string]any); !strings.HasPrefix(fmt.Sprint(pg["url"]), pageOrigin+"/") {
			t.Errorf("%s context.page=%v, want the page on %s", e.Type, e.Context["page"], pageOrigin)
		}
	}
	if e := byType["page"]; !strings.HasPrefix(fmt.Sprint(e.Properties["url"]), pageOrigin+"/") {
		t.Errorf("page properties=%v, want the url of the page on %s", e.Properties, pageOrigin)
	}
	if e := byType["alias"]; e.UserID != "user-42" || e.PreviousID != rep.AnonymousID {
		t.Errorf("alias userId=%q previousId=%q, want user-42 and %q", e.UserID, e.PreviousID, rep.AnonymousID)
	}
	if e := byType["identify"]; e.UserID != "user-42" || e.Traits["email"] != "ada@example.com" || e.Traits["name"] != "Ada Lovelace" {
		t.Errorf("identify userId=%q traits=%v", e.UserID, e.Traits)
	}
	if e := byType["track"]; e.UserID != "user-42" || e.Event != "Order Completed" ||
		e.Properties["revenue"] != 42.0 || e.Properties["currency"] != "EUR" {
		t.Errorf("track userId=%q event=%q properties=%v", e.UserID, e.Event, e.Properties)
	}
	if e := byType["group"]; e.UserID != "user-42" || e.GroupID != "acme" || e.Traits["plan"] != "enterprise" {
		t.Errorf("group userId=%q groupId=%q traits=%v", e.UserID, e.GroupID, e.Traits)
	}
}

// findChromium returns the Chromium binary, after checking that the npm package is installed.
// When either is missing it skips the test, or fails it under CI=true.
func findChromium(t *testing.T) string {
	t.Helper()
	missing := func(what, install string) {
		t.Helper()
		msg := fmt.Sprintf("%s is missing; install it with: %s", what, install)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	bin := "/usr/bin/chromium"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("chromium"); err != nil {
			missing("Chromium (/usr/bin/chromium)", "apt-get install chromium")
		}
	}
	if _, err := os.Stat(analyticsBundle()); err != nil {
		missing("@segment/analytics-next in "+browserDir+"/node_modules", "npm ci --prefix cmd/mosaic/"+browserDir)
	}
	return bin
}

// analyticsBundle is analytics.js's UMD build: one script that defines window.AnalyticsNext.
func analyticsBundle() string {
	return filepath.Join(browserDir, "node_modules", "@segment", "analytics-next", "dist", "umd", "index.js")
}

// pageHandler serves the test page and analytics.js, as a website would.
func pageHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(browserDir, "index.html"))
	})
	mux.HandleFunc("GET /page.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(browserDir, "page.js"))
	})
	mux.HandleFunc("GET /analytics-next.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, analyticsBundle())
	})
	return mux
}

// browser runs headless Chromium.
type browser struct {
	bin  string
	spki string // the TLS front's key, which Chromium is told to trust
}

// pageReport is what the page writes into #result.
type pageReport struct {
	Fatal string `json:"fatal"`
	Calls map[string]struct {
		MessageID string   `json:"messageId"`
		Failed    string   `json:"failed"`
		Errors    []string `json:"errors"`
	} `json:"calls"`
	AnonymousID   string        `json:"anonymousId"`
	Metrics       bool          `json:"metrics"` // Mosaic's settings asked for client metrics
	Requests      []pageRequest `json:"requests"`
	ConsoleErrors []string      `json:"consoleErrors"`
}

// pageRequest is one fetch by analytics.js, with its status or the browser's error.
type pageRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Status int    `json:"status"`
	Error  string `json:"error"`
}

var resultRE = regexp.MustCompile(`(?s)<pre id="result">(.*?)</pre>`)

// open loads pageURL in a fresh browser profile, lets the page run, and returns its report.
func (b *browser) open(t *testing.T, pageURL string) *pageReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(),
		"--ignore-certificate-errors-spki-list="+b.spki,
		// Virtual time runs the page's timers without waiting for them and pauses while
		// requests are in flight; Chromium prints the DOM when the budget is spent.
		"--virtual-time-budget=30000",
		"--dump-dom", pageURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	if err := cmd.Run(); ctx.Err() != nil {
		t.Fatalf("chromium did not finish the page in 20s (a request left unanswered stops virtual time)\nstderr:\n%s", lastChars(stderr.String(), 4000))
	} else if err != nil {
		t.Fatalf("chromium: %v\nstderr:\n%s", err, lastChars(stderr.String(), 4000))
	}
	t.Logf("chromium ran the page in %v", time.Since(start).Round(time.Millisecond))
	m := resultRE.FindStringSubmatch(stdout.String())
	if m == nil || m[1] == "pending" {
		t.Fatalf("page did not finish; DOM:\n%s\nstderr:\n%s", lastChars(stdout.String(), 4000), lastChars(stderr.String(), 4000))
	}
	var rep pageReport
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &rep); err != nil {
		t.Fatalf("page report: %v\n%s", err, m[1])
	}
	if rep.Fatal != "" {
		t.Fatalf("page failed: %s\nconsole errors: %q", rep.Fatal, rep.ConsoleErrors)
	}
	return &rep
}

// lastChars returns the end of s, at most n bytes, for failure messages.
func lastChars(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// tlsFront is an HTTPS reverse proxy in front of Mosaic that records every exchange.
type tlsFront struct {
	*httptest.Server
	mu  sync.Mutex
	log []exchange
}

// exchange is one request through the front and Mosaic's answer.
type exchange struct {
	Method, Path, Origin string
	Status               int
	AllowOrigin          string
}

func startTLSFront(t *testing.T, backend string) *tlsFront {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	f := &tlsFront{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded() // X-Forwarded-Host and X-Forwarded-Proto: https
		},
		ModifyResponse: func(resp *http.Response) error {
			f.mu.Lock()
			f.log = append(f.log, exchange{Method: resp.Request.Method, Path: resp.Request.URL.Path,
				Origin: resp.Request.Header.Get("Origin"), Status: resp.StatusCode,
				AllowOrigin: resp.Header.Get("Access-Control-Allow-Origin")})
			f.mu.Unlock()
			return nil
		},
	}
	f.Server = httptest.NewTLSServer(proxy)
	t.Cleanup(f.Close)
	return f
}

// spki is the base64 SHA-256 of the front's public key, for Chromium's
// --ignore-certificate-errors-spki-list.
func (f *tlsFront) spki() string {
	sum := sha256.Sum256(f.Certificate().RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func (f *tlsFront) exchanges() []exchange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *tlsFront) reset() {
	f.mu.Lock()
	f.log = nil
	f.mu.Unlock()
}

// waitEvents waits until at least n events matching query are stored, and returns them.
func waitEvents(t *testing.T, inst *instance, query string, n int) []storedEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		waitProcessed(t, inst.URL, inst.Token)
		evs := allEvents(t, inst.URL, inst.Token, query)
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events stored after 10s, want %d", len(evs), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// restrictOrigins limits the instance's only source to origins.
func restrictOrigins(t *testing.T, inst *instance, origins ...string) {
	t.Helper()
	var list struct {
		Sources []struct {
			ID string `json:"id"`
		} `json:"sources"`
	}
	if st := getJSON(t, inst.URL+"/api/v1/sources", inst.Token, &list); st != 200 || len(list.Sources) != 1 {
		t.Fatalf("GET sources: %d, %d sources", st, len(list.Sources))
	}
	body, _ := json.Marshal(map[string][]string{"allowed_origins": origins})
	req, _ := http.NewRequest(http.MethodPatch, inst.URL+"/api/v1/sources/"+list.Sources[0].ID, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+inst.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH source: %d", resp.StatusCode)
	}
}

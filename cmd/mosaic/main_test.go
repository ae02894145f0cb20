package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets a test re-run this binary as the real `mosaic` command (crash tests).
func TestMain(m *testing.M) {
	if os.Getenv("MOSAIC_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for a server goroutine and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// instance is a `mosaic serve` running in-process.
type instance struct {
	URL, WriteKey, Token string
	Stdout, Stderr       *syncBuffer
	stop                 func() error
}

var (
	writeKeyRE = regexp.MustCompile(`write key: (wk_\w+)`)
	tokenRE    = regexp.MustCompile(`owner API token:\s+(mt_\w+)`)
)

// startServe runs `mosaic serve` with args on 127.0.0.1:0 and waits until it listens. The
// server stops at the end of the test (or by calling stop), and must exit cleanly.
func startServe(t *testing.T, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	inst := &instance{Stdout: &syncBuffer{}, Stderr: &syncBuffer{}}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	m := &Main{Stdout: inst.Stdout, Stderr: inst.Stderr, OnServe: func(url string) { ready <- url }}
	go func() { done <- m.Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)) }()
	select {
	case inst.URL = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve exited before listening: %v\n%s", err, inst.Stderr)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start in 30s")
	}
	var once sync.Once
	var stopErr error
	inst.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = context.DeadlineExceeded
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := inst.stop(); err != nil {
			t.Errorf("serve did not stop cleanly: %v", err)
		}
	})
	if m := writeKeyRE.FindStringSubmatch(inst.Stdout.String()); m != nil {
		inst.WriteKey = m[1]
	}
	if m := tokenRE.FindStringSubmatch(inst.Stdout.String()); m != nil {
		inst.Token = m[1]
	}
	return inst
}

// runCLI runs one mosaic command and returns its stdout.
func runCLI(t testing.TB, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := (&Main{Stdout: &out, Stderr: &errOut}).Run(context.Background(), args)
	return out.String(), err
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// getJSON calls the management API with token and decodes the answer.
func getJSON(t *testing.T, url, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

type stats struct {
	Events    int64 `json:"events"`
	InboxLag  int64 `json:"inbox_lag"`
	InboxHead int64 `json:"inbox_head"`
	Profiles  int64 `json:"profiles"`
}

// waitProcessed waits until the inbox is fully processed and returns the stats.
func waitProcessed(t *testing.T, url, token string) stats {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st stats
		getJSON(t, url+"/api/v1/stats", token, &st)
		if st.InboxLag == 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("inbox lag still %d after 60s", st.InboxLag)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type storedEvent struct {
	ID                int64           `json:"id"`
	MessageID         string          `json:"messageId"`
	Type              string          `json:"type"`
	Event             string          `json:"event"`
	Name              string          `json:"name"`
	UserID            string          `json:"userId"`
	AnonymousID       string          `json:"anonymousId"`
	GroupID           string          `json:"groupId"`
	PreviousID        string          `json:"previousId"`
	Timestamp         time.Time       `json:"timestamp"`
	OriginalTimestamp *time.Time      `json:"originalTimestamp"`
	ReceivedAt        time.Time       `json:"receivedAt"`
	Properties        map[string]any  `json:"properties"`
	Traits            map[string]any  `json:"traits"`
	Context           map[string]any  `json:"context"`
	Raw               json.RawMessage `json:"-"`
}

// allEvents pages through GET /api/v1/events with query and returns every event.
func allEvents(t *testing.T, url, token, query string) []storedEvent {
	t.Helper()
	var out []storedEvent
	cursor := ""
	for {
		var page struct {
			Events []storedEvent `json:"events"`
			Next   string        `json:"next_cursor"`
		}
		q := "?limit=1000&" + query
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		if st := getJSON(t, url+"/api/v1/events"+q, token, &page); st != 200 {
			t.Fatalf("GET events: %d", st)
		}
		out = append(out, page.Events...)
		if page.Next == "" {
			return out
		}
		cursor = page.Next
	}
}

func TestServeFirstStartAndRestart(t *testing.T) {
	dir := t.TempDir()
	inst := startServe(t, "--data", dir)
	if inst.WriteKey == "" || inst.Token == "" {
		t.Fatalf("first start printed no write key or token:\n%s", inst.Stdout)
	}
	if !strings.Contains(inst.Stdout.String(), "curl -u "+inst.WriteKey+": "+inst.URL+"/v1/track") {
		t.Fatalf("banner has no ready-to-paste curl example:\n%s", inst.Stdout)
	}
	resp, err := http.Post(inst.URL+"/v1/track", "application/json",
		strings.NewReader(`{"userId":"ada","event":"Signed Up","writeKey":"`+inst.WriteKey+`"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("track: %v %v", resp, err)
	}
	resp.Body.Close()
	waitProcessed(t, inst.URL, inst.Token)
	if err := inst.stop(); err != nil {
		t.Fatal(err)
	}
	again := startServe(t, "--data", dir)
	if strings.Contains(again.Stdout.String(), "write key") {
		t.Fatalf("second start printed credentials again:\n%s", again.Stdout)
	}
	evs := allEvents(t, again.URL, inst.Token, "user_id=ada")
	if len(evs) != 1 || evs[0].Event != "Signed Up" {
		t.Fatalf("after restart: %+v", evs)
	}
}

// TestFirstStartWithConfig: a configuration naming the source the first start creates
// (source_priority: [default]) works on an empty store, and the first start's credentials
// are shown even when the server then cannot listen (they are shown only once).
func TestFirstStartWithConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "mosaic.yaml")
	if err := os.WriteFile(cfg, []byte("traits: {source_priority: [default], rules: {tier: source_priority}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startServe(t, "--data", t.TempDir(), "--config", cfg)
	if inst.WriteKey == "" || inst.Token == "" {
		t.Fatalf("first start printed no write key or token:\n%s", inst.Stdout)
	}

	// Sources made before the first start: the store still gets its owner token.
	dir := t.TempDir()
	if _, err := runCLI(t, "source", "create", "crm", "--data", dir); err != nil {
		t.Fatal(err)
	}
	pre := startServe(t, "--data", dir)
	if pre.Token == "" || pre.WriteKey != "" {
		t.Fatalf("a store with a source but no token: want an owner token and no new source:\n%s", pre.Stdout)
	}
	if st, out := apiCall(t, "GET", pre.URL+"/api/v1/sources", pre.Token, nil); st != 200 || len(out["sources"].([]any)) != 1 {
		t.Fatalf("sources with the printed token: %d %v", st, out)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var out, errOut bytes.Buffer
	err = (&Main{Stdout: &out, Stderr: &errOut}).Run(context.Background(), []string{"serve", "--addr", busy.Addr().String(), "--data", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("serve on a busy port: err = %v", err)
	}
	if !writeKeyRE.MatchString(out.String()) || !tokenRE.MatchString(out.String()) {
		t.Fatalf("a first start that could not listen did not show its credentials:\n%s", out.String())
	}
	if strings.Contains(out.String(), "is ready") || !strings.Contains(out.String(), "did not start") {
		t.Errorf("a first start that could not listen says it is ready:\n%s", out.String())
	}
	// A configuration the store cannot resolve (a source_priority naming no source) stops a
	// first start the same way (trial 8).
	cfg = filepath.Join(t.TempDir(), "mosaic.yaml")
	os.WriteFile(cfg, []byte("traits:\n  source_priority: [crm]\n  rules: {tier: source_priority}\n"), 0o600)
	out.Reset()
	err = (&Main{Stdout: &out, Stderr: &errOut}).Run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--config", cfg})
	if err == nil || !strings.Contains(err.Error(), "crm") || strings.Contains(out.String(), "is ready") || !tokenRE.MatchString(out.String()) {
		t.Errorf("first start under a source_priority naming no source: %v\n%s", err, out.String())
	}
}

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, "source", "create", "web", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	key := lastLine(out)
	if !strings.HasPrefix(key, "wk_") {
		t.Fatalf("source create: last line %q is not a write key", key)
	}
	if _, err := runCLI(t, "source", "create", "web", "--data", dir); err == nil || !strings.Contains(cliMessage(err), "already exists") {
		t.Fatalf("duplicate source: err=%v", err)
	}
	out, err = runCLI(t, "token", "create", "--role", "owner", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	token := lastLine(out)
	if !strings.HasPrefix(token, "mt_") {
		t.Fatalf("token create: last line %q is not a token", token)
	}
	if _, err := runCLI(t, "token", "create", "--role", "king", "--data", dir); err == nil {
		t.Fatal("unknown role accepted")
	}
	for _, n := range []string{"0", "999", "1000001"} {
		if _, err := runCLI(t, "serve", "--batch-events", n, "--data", dir); err == nil || !strings.Contains(err.Error(), "--batch-events must be between 1000 and 1000000") {
			t.Fatalf("serve --batch-events %s: err=%v", n, err)
		}
	}
	out, err = runCLI(t, "token", "create", "--role", "support", "--name", "helpdesk", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	support := lastLine(out)
	out, err = runCLI(t, "token", "list", "--data", dir)
	if err != nil || !strings.Contains(out, "helpdesk") || !strings.Contains(out, "owner") || strings.Contains(out, support) || strings.Contains(out, token) {
		t.Fatalf("token list: %v\n%s", err, out)
	}
	var supportID string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "helpdesk") {
			supportID = strings.Fields(line)[0]
		}
	}
	if out, err := runCLI(t, "token", "revoke", supportID, "--data", dir); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("token revoke: %v %s", err, out)
	}
	if _, err := runCLI(t, "token", "revoke", supportID, "--data", dir); err == nil || !strings.Contains(cliMessage(err), "No API token") {
		t.Fatalf("revoking twice: err=%v", err)
	}
	if out, _ := runCLI(t, "token", "list", "--data", dir); strings.Contains(out, "helpdesk") {
		t.Fatalf("a revoked token is listed:\n%s", out)
	}
	for _, args := range [][]string{
		{"source", "rename", "web", "website"},
		{"source", "disable", "website"},
		{"source", "enable", "website"},
	} {
		if _, err := runCLI(t, append(args, "--data", dir)...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	out, err = runCLI(t, "source", "rotate-key", "website", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	newKey := lastLine(out)
	if newKey == key || !strings.HasPrefix(newKey, "wk_") {
		t.Fatalf("rotate-key printed %q", newKey)
	}
	out, err = runCLI(t, "source", "list", "--data", dir)
	if err != nil || !strings.Contains(out, "website") || !strings.Contains(out, newKey) || strings.Contains(out, key) {
		t.Fatalf("source list: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "source", "disable", "nope", "--data", dir); err == nil {
		t.Fatal("disabling an unknown source succeeded")
	}
	// The server started on this directory uses the CLI's source and token, and prints no banner.
	inst := startServe(t, "--data", dir)
	if inst.WriteKey != "" {
		t.Fatalf("banner on a store that has sources:\n%s", inst.Stdout)
	}
	req, _ := http.NewRequest("POST", inst.URL+"/v1/identify", strings.NewReader(`{"userId":"u1","traits":{"plan":"pro"}}`))
	req.SetBasicAuth(newKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("identify with CLI-made key: %v %v", resp, err)
	}
	resp.Body.Close()
	waitProcessed(t, inst.URL, token)
	if evs := allEvents(t, inst.URL, token, "type=identify"); len(evs) != 1 {
		t.Fatalf("identify events: %d", len(evs))
	}
}

func TestEnvironmentConfiguration(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MOSAIC_DATA", dir)
	out, err := runCLI(t, "source", "create", "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/mosaic.db"); err != nil {
		t.Fatalf("MOSAIC_DATA ignored: %v (%s)", err, out)
	}
	// A flag beats the environment.
	other := t.TempDir()
	if _, err := runCLI(t, "source", "create", "app", "--data", other); err != nil {
		t.Fatalf("--data did not override MOSAIC_DATA: %v", err)
	}
}

var _ = io.Discard

// TestEventsBySourceName: the events filter takes a source's id or its name, and says when
// there is no such source rather than answering an empty list.
func TestEventsBySourceName(t *testing.T) {
	inst := startServe(t, "--data", t.TempDir())
	sendBatch(t, inst.URL, inst.WriteKey, `{"batch":[{"type":"track","event":"Signed Up","userId":"ada"}]}`)
	waitProcessed(t, inst.URL, inst.Token)
	code, byName := apiCall(t, "GET", inst.URL+"/api/v1/events?source=default", inst.Token, nil)
	if code != 200 || len(byName["events"].([]any)) != 1 {
		t.Fatalf("by name: %d %v", code, byName)
	}
	id := byName["events"].([]any)[0].(map[string]any)["source_id"].(string)
	if code, byID := apiCall(t, "GET", inst.URL+"/api/v1/events?source="+id, inst.Token, nil); code != 200 || len(byID["events"].([]any)) != 1 {
		t.Fatalf("by id: %d %v", code, byID)
	}
	if code, none := apiCall(t, "GET", inst.URL+"/api/v1/events?source=nosuch", inst.Token, nil); code != 404 || none["error"].(map[string]any)["field"] != "source" {
		t.Fatalf("unknown source: %d %v", code, none)
	}
}

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// process is `mosaic serve` running as a separate OS process (this test binary re-run as main).
type process struct {
	cmd            *exec.Cmd
	URL            string
	WriteKey       string
	Token          string
	stdout, stderr *syncBuffer
	exited         chan error
}

var listenRE = regexp.MustCompile(`msg="mosaic listening" url=(\S+)`)

func startProcess(t *testing.T, dir string) *process {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	first := len(entries) == 0 // an empty data directory: mosaic prints its first-start banner
	p := &process{stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(os.Args[0], "serve", "--data", dir, "--addr", "127.0.0.1:0")
	p.cmd.Env = append(os.Environ(), "MOSAIC_TEST_AS_MAIN=1")
	p.cmd.Stdout = p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			if m := listenRE.FindStringSubmatch(line); m != nil {
				urls <- m[1]
			}
		}
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	select {
	case p.URL = <-urls:
	case <-time.After(60 * time.Second):
		t.Fatalf("mosaic did not start:\n%s", p.stderr)
	}
	// On a first start the banner with the write key and token goes to stdout before the
	// listening line goes to stderr, but the two pipes are read separately: wait for it.
	for deadline := time.Now().Add(10 * time.Second); first && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if tokenRE.MatchString(p.stdout.String()) {
			break
		}
	}
	if m := writeKeyRE.FindStringSubmatch(p.stdout.String()); m != nil {
		p.WriteKey = m[1]
	}
	if m := tokenRE.FindStringSubmatch(p.stdout.String()); m != nil {
		p.Token = m[1]
	}
	if first && (p.WriteKey == "" || p.Token == "") {
		t.Fatalf("no write key and token printed on first start:\n%s", p.stdout)
	}
	return p
}

// load sends batches from several goroutines until stop is closed and returns the messageIds
// of every event acknowledged with a 200.
func load(t *testing.T, url, key string, senders, batch int, stop <-chan struct{}, ackCount *atomic.Int64) (acked []string, sent int64) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var total atomic.Int64
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < senders; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var b bytes.Buffer
				ids := make([]string, batch)
				b.WriteString(`{"batch":[`)
				for i := range ids {
					ids[i] = fmt.Sprintf("crash-%d-%d-%d", w, n, i)
					if i > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, `{"type":"track","event":"Order Completed","userId":"user-%d","messageId":%q,"properties":{"revenue":%d}}`, (w*7919+i)%1000, ids[i], i)
				}
				b.WriteString(`]}`)
				req, _ := http.NewRequest("POST", url+"/v1/batch", &b)
				req.SetBasicAuth(key, "")
				total.Add(int64(batch))
				resp, err := client.Do(req)
				if err != nil {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, ids...)
					mu.Unlock()
					ackCount.Add(int64(len(ids)))
				}
			}
		}(w)
	}
	wg.Wait()
	return acked, total.Load()
}

// TestCrashLosesNothingAcknowledged kills mosaic with SIGKILL in the middle of a concurrent
// load, restarts it on the same data and finds every event that got a 200.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs a subprocess under load; skipped with -short")
	}
	dir := t.TempDir()
	p := startProcess(t, dir)
	stop := make(chan struct{})
	done := make(chan struct{})
	var acked []string
	var sent int64
	var ackCount atomic.Int64
	go func() {
		acked, sent = load(t, p.URL, p.WriteKey, 8, 50, stop, &ackCount)
		close(done)
	}()
	// Kill once the senders hold a good number of acknowledgements, while requests are in flight.
	deadline := time.Now().Add(60 * time.Second)
	for ackCount.Load() < 5000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	time.Sleep(100 * time.Millisecond) // let senders see the dead server
	close(stop)
	<-done
	if len(acked) < 1000 {
		t.Fatalf("only %d events acknowledged before the kill; the test proves nothing", len(acked))
	}

	again := startProcess(t, dir)
	st := waitProcessed(t, again.URL, p.Token)
	stored := map[string]int{}
	for _, e := range allEvents(t, again.URL, p.Token, "event=Order+Completed") {
		stored[e.MessageID]++
	}
	var missing []string
	for _, id := range acked {
		if stored[id] != 1 {
			missing = append(missing, fmt.Sprintf("%s×%d", id, stored[id]))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged events lost or duplicated after kill -9, e.g. %v", len(missing), len(acked), missing[:min(5, len(missing))])
	}
	for id, n := range stored {
		if n != 1 {
			t.Fatalf("event %s stored %d times", id, n)
		}
	}
	t.Logf("sent %d, acknowledged %d, stored %d (events %d) after kill -9 and restart", sent, len(acked), len(stored), st.Events)
	again.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-again.exited; err != nil {
		t.Fatalf("SIGTERM exit: %v\n%s", err, again.stderr)
	}
}

// TestGracefulShutdown sends SIGTERM under load: mosaic stops accepting, answers the requests
// in flight, processes what it acknowledged and exits 0.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test; skipped with -short")
	}
	dir := t.TempDir()
	p := startProcess(t, dir)
	stop := make(chan struct{})
	done := make(chan struct{})
	var acked []string
	var ackCount atomic.Int64
	go func() {
		acked, _ = load(t, p.URL, p.WriteKey, 4, 20, stop, &ackCount)
		close(done)
	}()
	for deadline := time.Now().Add(60 * time.Second); ackCount.Load() < 200 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no exit 60s after SIGTERM")
	}
	close(stop)
	<-done
	if !strings.Contains(p.stderr.String(), "msg=stopped") {
		t.Fatalf("no clean stop in the log:\n%s", p.stderr)
	}
	again := startProcess(t, dir)
	st := waitProcessed(t, again.URL, p.Token)
	if int(st.Events) < len(acked) {
		t.Fatalf("%d events stored, %d acknowledged", st.Events, len(acked))
	}
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged before shutdown")
	}
}

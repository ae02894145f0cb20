package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/sqlite"
)

// people makes n customer records as identify calls that share no identifier (each its own
// anonymous id and its own email), of which the first dups have a second record with a typo
// in one field, the kind of duplicate a CRM export and a web sign-up leave behind. It
// returns the calls and, for each duplicate, its two anonymous ids.
func people(n, dups int) (calls []string, pairs [][2]string) {
	rng := rand.New(rand.NewPCG(7, 8))
	first := []string{"ada", "alan", "grace", "edsger", "barbara", "donald", "frances", "john", "margaret", "dennis", "ken", "radia", "tim", "sophie", "karen", "leslie", "niklaus", "guido", "bjarne", "anita"}
	last := []string{"lovelace", "turing", "hopper", "dijkstra", "liskov", "knuth", "allen", "backus", "hamilton", "ritchie", "thompson", "perlman", "berners", "wilson", "jones", "lamport", "wirth", "rossum", "stroustrup", "borg"}
	cities := []string{"copenhagen", "aarhus", "odense", "aalborg", "esbjerg", "randers", "kolding", "horsens", "vejle", "roskilde"}
	typo := func(s string) string {
		if len(s) < 3 {
			return s
		}
		i := 1 + rng.IntN(len(s)-2)
		return s[:i] + s[i+1:i+2] + s[i:i+1] + s[i+2:] // swap two letters
	}
	call := func(anon string, tr map[string]string) string {
		b, _ := json.Marshal(tr)
		return fmt.Sprintf(`{"type":"identify","anonymousId":%q,"traits":%s,"timestamp":"2026-11-01T10:00:00Z"}`, anon, b)
	}
	for i := range n {
		tr := map[string]string{
			"first_name": first[rng.IntN(len(first))], "last_name": last[rng.IntN(len(last))],
			"birthday": fmt.Sprintf("19%02d-%02d-%02d", 40+rng.IntN(60), 1+rng.IntN(12), 1+rng.IntN(28)),
			"postcode": fmt.Sprintf("%04d", 1000+rng.IntN(9000)), "city": cities[rng.IntN(len(cities))],
			"street": fmt.Sprintf("%d %s street", 1+rng.IntN(200), last[rng.IntN(len(last))]),
		}
		tr["email"] = fmt.Sprintf("%s.%s%d@example.com", tr["first_name"], tr["last_name"], i)
		anon := fmt.Sprintf("crm-%04d", i)
		calls = append(calls, call(anon, tr))
		if i < dups {
			dup := map[string]string{}
			for k, v := range tr {
				dup[k] = v
			}
			dup["email"] = fmt.Sprintf("%s%d@mail.example", tr["first_name"], rng.IntN(1000))
			switch i % 3 {
			case 0:
				dup["last_name"] = typo(tr["last_name"])
			case 1:
				dup["street"] = strings.ToUpper(tr["street"])
			default:
				delete(dup, "city")
			}
			calls = append(calls, call(fmt.Sprintf("web-%04d", i), dup))
			pairs = append(pairs, [2]string{anon, fmt.Sprintf("web-%04d", i)})
		}
	}
	return calls, pairs
}

// TestMatchingEndToEnd runs matching through `mosaic serve`'s API: duplicates with no shared
// identifier become candidates, the sure ones are linked and their profiles merged, a steward
// rejects one link (the profiles split again) and decides pending pairs; the CLI lists them.
func TestMatchingEndToEnd(t *testing.T) {
	dir := t.TempDir()
	inst := startServe(t, "--data", dir)
	calls, pairs := people(400, 60)
	for start := 0; start < len(calls); start += 100 {
		sendBatch(t, inst.URL, inst.WriteKey, `{"batch":[`+strings.Join(calls[start:min(start+100, len(calls))], ",")+`]}`)
	}
	st := waitProcessed(t, inst.URL, inst.Token)
	if st.Profiles != int64(len(calls)) {
		t.Fatalf("%d profiles before matching, want %d", st.Profiles, len(calls))
	}
	profile := func(anon string) string {
		t.Helper()
		code, p := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=anonymous_id&value="+url.QueryEscape(anon), inst.Token, nil)
		if code != 200 {
			t.Fatalf("lookup %s: %d %v", anon, code, p)
		}
		return p["id"].(string)
	}

	code, run := apiCall(t, "POST", inst.URL+"/api/v1/matches/runs", inst.Token, map[string]any{})
	if code != 202 || run["status"] != "running" {
		t.Fatalf("start run: %d %v", code, run)
	}
	id := run["id"].(string)
	for deadline := time.Now().Add(2 * time.Minute); run["status"] == "running"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("matching run did not finish in 2 minutes")
		}
		if code, run = apiCall(t, "GET", inst.URL+"/api/v1/matches/runs/"+id, inst.Token, nil); code != 200 {
			t.Fatalf("run status: %d %v", code, run)
		}
	}
	if run["status"] != "done" {
		t.Fatalf("run: %v", run)
	}
	res := run["result"].(map[string]any)
	t.Logf("run: %v", res)
	rec := res["recorded"].(map[string]any)
	if rec["linked"].(float64) < float64(len(pairs))/2 {
		t.Fatalf("linked %v of %d duplicates", rec["linked"], len(pairs))
	}

	// The processor merges linked pairs; every pair it links is a true duplicate.
	code, list := apiCall(t, "GET", inst.URL+"/api/v1/matches?status=linked&limit=500", inst.Token, nil)
	if code != 200 {
		t.Fatalf("list: %d %v", code, list)
	}
	truePair := map[[2]string]bool{}
	for _, p := range pairs {
		truePair[p] = true
	}
	var merged int
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		merged = 0
		for _, p := range pairs {
			if profile(p[0]) == profile(p[1]) {
				merged++
			}
		}
		if merged >= int(rec["linked"].(float64)) || time.Now().After(deadline) {
			break
		}
	}
	if merged < int(rec["linked"].(float64)) {
		t.Fatalf("%d duplicate pairs merged, %v linked", merged, rec["linked"])
	}
	matches := list["matches"].([]any)
	first := matches[0].(map[string]any)
	code, detail := apiCall(t, "GET", inst.URL+"/api/v1/matches/"+first["id"].(string), inst.Token, nil)
	if code != 200 || detail["same_profile"] != true || len(detail["match"].(map[string]any)["weights"].([]any)) == 0 ||
		detail["link"].(map[string]any)["state"] != "merged" {
		t.Fatalf("linked match detail: %d %v", code, detail)
	}
	st = waitProcessed(t, inst.URL, inst.Token)
	if want := int64(len(calls) - merged); st.Profiles != want {
		t.Errorf("%d profiles after merging %d pairs, want %d", st.Profiles, merged, want)
	}

	// A steward rejects the link: the two profiles split and the pair does not come back.
	code, dec := apiCall(t, "POST", inst.URL+"/api/v1/matches/"+first["id"].(string)+"/reject", inst.Token, nil)
	if code != 200 || dec["match"].(map[string]any)["status"] != "rejected" {
		t.Fatalf("reject: %d %v", code, dec)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if code, detail = apiCall(t, "GET", inst.URL+"/api/v1/matches/"+first["id"].(string), inst.Token, nil); code != 200 {
			t.Fatalf("match detail: %d %v", code, detail)
		}
		if detail["same_profile"] == false {
			if l := detail["link"].(map[string]any); l["state"] != "refused" || l["refused"] != "blocked" {
				t.Fatalf("link of a rejected match: %v, want refused: blocked", l)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rejected link still merged: %v", detail)
		}
	}
	// The steward changes their mind: accepting the rejected match lifts the block and the
	// two profiles merge again.
	code, dec = apiCall(t, "POST", inst.URL+"/api/v1/matches/"+first["id"].(string)+"/accept", inst.Token, nil)
	if code != 200 || dec["match"].(map[string]any)["status"] != "accepted" {
		t.Fatalf("accepting a rejected match: %d %v", code, dec)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if code, detail = apiCall(t, "GET", inst.URL+"/api/v1/matches/"+first["id"].(string), inst.Token, nil); code != 200 {
			t.Fatalf("match detail: %d %v", code, detail)
		}
		if detail["same_profile"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("re-accepted match not merged: %v", detail)
		}
	}
	code, _ = apiCall(t, "POST", inst.URL+"/api/v1/matches/mc_nope/accept", inst.Token, nil)
	if code != 404 {
		t.Errorf("deciding an unknown match: %d", code)
	}
	code, review := apiCall(t, "GET", inst.URL+"/api/v1/matches/review", inst.Token, nil)
	if code != 200 {
		t.Fatalf("review queue: %d %v", code, review)
	}
	for _, m := range review["matches"].([]any) {
		if m.(map[string]any)["status"] != "pending" {
			t.Fatalf("review queue holds %v", m)
		}
	}
	code, bad := apiCall(t, "GET", inst.URL+"/api/v1/matches?status=maybe", inst.Token, nil)
	if code != 400 || bad["error"].(map[string]any)["field"] != "status" {
		t.Errorf("bad status filter: %d %v", code, bad)
	}
	code, _ = apiCall(t, "POST", inst.URL+"/api/v1/matches/runs", "mt_wrong", nil)
	if code != 401 {
		t.Errorf("run without a valid token: %d", code)
	}

	// The CLI lists the decided pair on the same data (the server keeps running).
	out, err := runCLI(t, "--data", dir, "match", "review", "list", "--status", "accepted")
	if err != nil || !strings.Contains(out, first["id"].(string)) {
		t.Errorf("match review list: %v\n%s", err, out)
	}
}

// TestMatchRunCLI runs matching from the command line on a store no server runs on: the
// links are merged before the command ends, and a second run adds nothing.
func TestMatchRunCLI(t *testing.T) {
	dir := t.TempDir()
	inst := startServe(t, "--data", dir)
	calls, _ := people(300, 40)
	sendBatch(t, inst.URL, inst.WriteKey, `{"batch":[`+strings.Join(calls[:150], ",")+`]}`)
	sendBatch(t, inst.URL, inst.WriteKey, `{"batch":[`+strings.Join(calls[150:], ",")+`]}`)
	waitProcessed(t, inst.URL, inst.Token)
	if err := inst.stop(); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "--data", dir, "match", "run", "--dry-run")
	if err != nil || !strings.Contains(out, "dry run: nothing recorded") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	out, err = runCLI(t, "--data", dir, "match", "run")
	if err != nil || !strings.Contains(out, "profiles updated") {
		t.Fatalf("match run: %v\n%s", err, out)
	}
	t.Log(out)
	// A dry run of today's rules changes nothing: it counts the links matching made.
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rules, []byte("identity:\n  default_region: DK\n"), 0o600)
	dry, err := runCLI(t, "--data", dir, "identity", "dry-run", rules)
	if err != nil || !strings.Contains(lastLine(dry), `"splits":0`) || !strings.Contains(lastLine(dry), `"merges":0`) {
		t.Errorf("dry run after matching: %v\n%s", err, dry)
	}
	again, err := runCLI(t, "--data", dir, "match", "run")
	if err != nil || !strings.Contains(again, "linked                    0") {
		t.Errorf("second run: %v\n%s", err, again)
	}
	// Rejecting a link from the command line splits its profiles before the command ends.
	list, err := runCLI(t, "--data", dir, "match", "review", "list", "--status", "linked", "--limit", "1")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if err != nil || len(lines) < 2 || !strings.HasPrefix(lines[1], "mc_") {
		t.Fatalf("review list: %v\n%s", err, list)
	}
	id := strings.Fields(lines[1])[0]
	if !strings.HasPrefix(lines[len(lines)-1], "more: --cursor ") {
		t.Errorf("no cursor to page on with:\n%s", list)
	}
	out, err = runCLI(t, "--data", dir, "match", "review", "reject", id)
	if err != nil || !strings.Contains(out, id+" rejected") || !strings.Contains(out, "profiles updated") {
		t.Fatalf("reject: %v\n%s", err, out)
	}
	db := sqlite.NewDB(dir)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	m, err := db.FindMatchCandidateByID(context.Background(), id)
	if err != nil || m.ProfileA == m.ProfileB {
		t.Errorf("rejected link %s still joins one profile: %+v %v", id, m, err)
	}
	db.Close()
	if _, err := runCLI(t, "--data", dir, "match", "review", "list", "--limit", "600"); err == nil {
		t.Error("--limit 600 accepted")
	}
	if _, err := runCLI(t, "--data", dir, "match", "review", "accept", "mc_nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("accepting an unknown candidate: %v", err)
	}
	if _, err := runCLI(t, "--data", dir, "match", "run", "--auto-threshold", "0.4", "--review-threshold", "0.6"); err == nil {
		t.Error("review threshold above the auto threshold accepted")
	}
}

// runCount reads a count from `mosaic match run` output ("candidates", "linked", …).
func runCount(t *testing.T, out, name string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + name + `\s+(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in the run's output:\n%s", name, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestMatchRunAgain runs matching twice on a store with duplicates, and once on a store
// without: once the first run has merged the duplicates, the profiles hold (almost) no
// matches, and the matcher must say so rather than fit look-alikes (namesakes whose emails
// differ by a digit) as matches and flood the review queue.
func TestMatchRunAgain(t *testing.T) {
	load := func(t *testing.T, calls []string) string {
		dir := t.TempDir()
		inst := startServe(t, "--data", dir)
		for start := 0; start < len(calls); start += 100 {
			sendBatch(t, inst.URL, inst.WriteKey, `{"batch":[`+strings.Join(calls[start:min(start+100, len(calls))], ",")+`]}`)
		}
		waitProcessed(t, inst.URL, inst.Token)
		if err := inst.stop(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	run := func(t *testing.T, dir string) string {
		out, err := runCLI(t, "--data", dir, "match", "run")
		if err != nil {
			t.Fatalf("match run: %v\n%s", err, out)
		}
		t.Log(out)
		return out
	}
	t.Run("rerun", func(t *testing.T) {
		calls, pairs := people(300, 60)
		dir := load(t, calls)
		if linked := runCount(t, run(t, dir), "linked"); linked < len(pairs)*9/10 {
			t.Fatalf("first run linked %d of %d duplicates", linked, len(pairs))
		}
		again := run(t, dir)
		if n := runCount(t, again, "linked"); n != 0 {
			t.Errorf("second run linked %d pairs, want 0", n)
		}
		if n := runCount(t, again, "candidates"); n > 2 {
			t.Errorf("second run proposed %d candidates, want at most 2", n)
		}
		if n := runCount(t, again, "waiting review"); n > 2 {
			t.Errorf("second run queued %d pairs for review, want at most 2", n)
		}
	})
	t.Run("no duplicates", func(t *testing.T) {
		calls, _ := people(1000, 0)
		out := run(t, load(t, calls))
		if n := runCount(t, out, "candidates"); n > 2 {
			t.Errorf("%d candidates among profiles without duplicates, want at most 2", n)
		}
		if n := runCount(t, out, "linked"); n != 0 {
			t.Errorf("linked %d pairs among profiles without duplicates", n)
		}
	})
}

// accounts is people with a user id each: two accounts of one person for each duplicate.
func accounts(n, dups int) (calls []string, pairs [][2]string) {
	calls, pairs = people(n, dups)
	for i, c := range calls {
		calls[i] = strings.Replace(c, `{"type":"identify",`, fmt.Sprintf(`{"type":"identify","userId":"account-%d",`, i), 1)
	}
	return calls, pairs
}

// TestMatchLinkRefusedByTheUserIDLimit: two accounts of one person (a duplicate pair with a
// user id each) score as a match, but the link would give a profile two user ids, so the
// identifier rules refuse it. The match says so, on the API and in the CLI: "linked" or
// "accepted" alone would claim a merge that did not happen.
func TestMatchLinkRefusedByTheUserIDLimit(t *testing.T) {
	dir := t.TempDir()
	inst := startServe(t, "--data", dir)
	calls, pairs := accounts(300, 40)
	sendBatch(t, inst.URL, inst.WriteKey, `{"batch":[`+strings.Join(calls, ",")+`]}`)
	waitProcessed(t, inst.URL, inst.Token)
	code, run := apiCall(t, "POST", inst.URL+"/api/v1/matches/runs", inst.Token, map[string]any{})
	if code != 202 {
		t.Fatalf("start run: %d %v", code, run)
	}
	for deadline := time.Now().Add(2 * time.Minute); run["status"] == "running"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("matching run did not finish in 2 minutes")
		}
		_, run = apiCall(t, "GET", inst.URL+"/api/v1/matches/runs/"+run["id"].(string), inst.Token, nil)
	}
	code, list := apiCall(t, "GET", inst.URL+"/api/v1/matches?status=linked&limit=500", inst.Token, nil)
	if code != 200 || len(list["matches"].([]any)) < len(pairs)/2 {
		t.Fatalf("linked matches: %d %v (run %v)", code, list, run)
	}
	id := list["matches"].([]any)[0].(map[string]any)["id"].(string)
	link := func() map[string]any {
		t.Helper()
		code, detail := apiCall(t, "GET", inst.URL+"/api/v1/matches/"+id, inst.Token, nil)
		if code != 200 {
			t.Fatalf("match detail: %d %v", code, detail)
		}
		if detail["same_profile"] == true {
			t.Fatalf("two user ids merged by a match: %v", detail)
		}
		return detail["link"].(map[string]any)
	}
	waitProcessed(t, inst.URL, inst.Token)
	for deadline := time.Now().Add(time.Minute); link()["state"] == "waiting"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the link is still waiting after a minute")
		}
	}
	if l := link(); l["state"] != "refused" || l["refused"] != "limit:user_id" {
		t.Fatalf("link of a linked pair with two user ids: %v, want refused by limit:user_id", l)
	}
	// A steward rejects it, then accepts it on the command line: the CLI says the accepted
	// link was refused. The decision's answer says the processor has yet to apply it.
	if code, dec := apiCall(t, "POST", inst.URL+"/api/v1/matches/"+id+"/reject", inst.Token, nil); code != 200 || dec["link"].(map[string]any)["state"] != "waiting" {
		t.Fatalf("reject: %d %v", code, dec)
	}
	waitProcessed(t, inst.URL, inst.Token)
	if err := inst.stop(); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "--data", dir, "match", "review", "accept", id)
	if err != nil || !strings.Contains(out, id+" accepted") || !strings.Contains(out, "the link was refused (limit:user_id)") {
		t.Fatalf("accepting a pair the user-id limit keeps apart: %v\n%s", err, out)
	}
	// Accepting a linked pair (its link refused all along) says so too.
	id2 := list["matches"].([]any)[1].(map[string]any)["id"].(string)
	out, err = runCLI(t, "--data", dir, "match", "review", "accept", id2)
	if err != nil || !strings.Contains(out, id2+" linked") || !strings.Contains(out, id2+": the link was refused (limit:user_id)") {
		t.Fatalf("accepting a linked pair the user-id limit keeps apart: %v\n%s", err, out)
	}
}

// TestMatchRunSaysWhichLinksStayApart: a run on the command line over accounts with a user
// id each links the duplicates, and says that the rules keep them apart.
func TestMatchRunSaysWhichLinksStayApart(t *testing.T) {
	dir := t.TempDir()
	inst := startServe(t, "--data", dir)
	calls, pairs := accounts(300, 40)
	sendBatch(t, inst.URL, inst.WriteKey, `{"batch":[`+strings.Join(calls, ",")+`]}`)
	waitProcessed(t, inst.URL, inst.Token)
	if err := inst.stop(); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "--data", dir, "match", "run")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`of the linked pairs, (\d+) stay apart`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("match run over accounts with their own user ids:\n%s", out)
	}
	if n, _ := strconv.Atoi(m[1]); n < len(pairs)/2 {
		t.Errorf("%d linked pairs stay apart, want about %d:\n%s", n, len(pairs), out)
	}
}

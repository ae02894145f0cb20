package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/postgres/pgtest"
	"github.com/mosaic-cdp/mosaic/sqlite"
)

// badRow is a row a nasty file breaks on purpose: where, and which column the report names.
type badRow struct {
	line   int
	column string
}

// nastyCSV writes a CRM export of n rows, 20 % of them bad in the ways real exports are:
// bad dates, ragged rows, rows without any identifier, bad numbers and broken quoting;
// the good ones have quotes in fields, multiline cells, non-ASCII names and email-only rows.
// It is semicolon-separated with CRLF line ends and a UTF-8 byte order mark.
func nastyCSV(t *testing.T, dir string, n int) (path string, bad []badRow, good []int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("\xEF\xBB\xBFCustomer No;E-mail;Name;Address;Born;LTV;Tags\r\n")
	line := 2
	for i := range n {
		id, email := fmt.Sprintf("C%05d", i), fmt.Sprintf("Cust%d@Example.com", i)
		name, addr, born, ltv := fmt.Sprintf("Name %d", i), "Main St 1", "01.02.1990", fmt.Sprintf("%d,50", i)
		if i%4 == 0 {
			addr = fmt.Sprintf("\"Flat %d\r\nHigh Street\"", i) // a multiline cell: two physical lines
		}
		if i%3 == 0 {
			name = fmt.Sprintf("\"Zoë \"\"Z\"\" Ærø %d\"", i) // quotes inside a quoted field
		}
		if i%6 == 2 {
			id = "" // an email-only row: it gets a generated anonymousId and resolves by its email
		}
		row := []string{id, email, name, addr, born, ltv, "vip|new"}
		if i%5 == 1 {
			switch (i / 5) % 5 {
			case 0:
				row[4] = "31.02.1990"
				bad = append(bad, badRow{line, "Born"})
			case 1:
				row = row[:5]
				bad = append(bad, badRow{line, ""})
			case 2:
				row[0], row[1] = "", " "
				bad = append(bad, badRow{line, ""})
			case 3:
				row[5] = "12,x"
				bad = append(bad, badRow{line, "LTV"})
			case 4:
				row[2], row[3] = `"Bad "quote" here"`, "Main St 1" // (in a multiline row it would cost the next line too)
				bad = append(bad, badRow{line, "Name"})
			}
		} else {
			good = append(good, i)
		}
		b.WriteString(strings.Join(row, ";") + "\r\n")
		line += 1 + strings.Count(strings.Join(row, ";"), "\n")
	}
	path = filepath.Join(dir, "customers.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, bad, good
}

const crmMapping = `# CRM export
type: identify
key: Customer No
identifiers:
  userId: Customer No
  email: E-mail
traits:
  name: Name
  address.street: Address
  born: {column: Born, type: date, format: "%d.%m.%Y"}
  lifetime_value: {column: LTV, type: number, decimal: ","}
  tags: {column: Tags, type: list, separator: "|"}
  signup_source: {value: crm}
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runImport runs mosaic import and returns its stdout and stderr.
func runImport(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut syncBuffer
	err := (&Main{Stdout: &out, Stderr: &errOut}).Run(ctx, append([]string{"import"}, args...))
	return out.String(), errOut.String(), err
}

var summaryRE = regexp.MustCompile(`(?m)^\s+(rows read|imported|new|already stored|bad rows|skipped \(resumed\))\s+(\d+)`)

func summary(t *testing.T, out string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, m := range summaryRE.FindAllStringSubmatch(out, -1) {
		got[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(got) != 4 && len(got) != 6 { // new and already stored once the rows are resolved
		t.Fatalf("no summary in output:\n%s", out)
	}
	return got
}

func readReport(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(recs[0], ","); got != "line,row,column,reason" {
		t.Fatalf("report header %q", got)
	}
	return recs[1:]
}

func TestImportNastyCSV(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	if _, err := runCLI(t, "source", "create", "crm", "--data", dir); err != nil {
		t.Fatal(err)
	}
	const n = 500
	path, bad, good := nastyCSV(t, files, n)
	mapping := writeFile(t, files, "crm.yaml", crmMapping)
	out, errOut, err := runImport(t, t.Context(), "--source", "crm", "--file", path, "--mapping", mapping, "--data", dir)
	if err != nil {
		t.Fatalf("import: %v\n%s\n%s", err, out, errOut)
	}
	if got, want := summary(t, out), map[string]int{"rows read": n, "imported": len(good), "new": len(good), "already stored": 0, "bad rows": len(bad), "skipped (resumed)": 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("summary %v, want %v\n%s", got, want, out)
	}
	if len(bad) != n/5 || !strings.Contains(out, "resolved into profiles") || !strings.Contains(out, "not an error") {
		t.Fatalf("%d bad rows; output:\n%s", len(bad), out)
	}
	if !strings.Contains(errOut, "import progress") {
		t.Errorf("no progress log line on a non-terminal:\n%s", errOut)
	}
	// Every bad row is in the report, at the physical line it starts on, with its column.
	report := readReport(t, path+".errors.csv")
	if len(report) != len(bad) {
		t.Fatalf("report has %d lines, want %d:\n%v", len(report), len(bad), report)
	}
	for i, r := range report {
		if want := bad[i]; r[0] != strconv.Itoa(want.line) || r[2] != want.column || r[3] == "" {
			t.Errorf("report line %d: %v, want line %d column %q", i, r, want.line, want.column)
		}
	}

	// Good rows are findable after processing, through the read API.
	inst := startServe(t, "--data", dir)
	token := lastLine(mustCLI(t, "token", "create", "--role", "owner", "--data", dir))
	var st map[string]any
	getJSON(t, inst.URL+"/api/v1/stats", token, &st)
	if st["events"] != float64(len(good)) || st["inbox_lag"] != 0.0 {
		t.Fatalf("stats: %v, want %d events", st, len(good))
	}
	for _, i := range []int{good[0], 2, 3, 8} { // quotes, multiline, email-only, ordinary
		code, p := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=email&value="+url.QueryEscape(fmt.Sprintf("cust%d@example.com", i)), token, nil)
		if code != 200 {
			t.Fatalf("row %d: lookup %d %v", i, code, p)
		}
		tr := p["traits"].(map[string]any)
		wantName := fmt.Sprintf("Name %d", i)
		if i%3 == 0 {
			wantName = fmt.Sprintf(`Zoë "Z" Ærø %d`, i)
		}
		if tr["name"] != wantName || tr["born"] != "1990-02-01" || tr["lifetime_value"] != float64(i)+0.5 || tr["signup_source"] != "crm" {
			t.Errorf("row %d traits: %v", i, tr)
		}
		if i%4 == 0 && tr["address"].(map[string]any)["street"] != fmt.Sprintf("Flat %d\nHigh Street", i) {
			t.Errorf("row %d: multiline address %q", i, tr["address"])
		}
	}
	if code, p := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=user_id&value=C00003", token, nil); code != 200 || len(p["identifiers"].([]any)) != 2 {
		t.Errorf("user id lookup: %d %v", code, p)
	}
	if code, _ := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=email&value=cust1@example.com", token, nil); code != 404 {
		t.Errorf("a bad row (bad date) was imported: %d", code)
	}

	// Re-running the finished import adds nothing, with the server running.
	out, _, err = runImport(t, t.Context(), "--source", "crm", "--file", path, "--mapping", mapping, "--data", dir)
	if err != nil || !strings.Contains(out, "already imported") {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	getJSON(t, inst.URL+"/api/v1/stats", token, &st)
	if st["events"] != float64(len(good)) || st["inbox_head"] != float64(len(good)) {
		t.Fatalf("after re-run: %v", st)
	}
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out
}

func TestImportLatin1AndJSONL(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	mustCLI(t, "source", "create", "shop", "--data", dir)
	// Latin-1, sniffed: not valid UTF-8.
	latin := writeFile(t, files, "latin.csv", "email,name\nana@example.com,Jos\xe9 M\xfcller\nbo@example.com,\x80uro\n")
	m := writeFile(t, files, "m.yaml", "identifiers: {email: email}\ntraits: {name: name}\n")
	if out, errOut, err := runImport(t, t.Context(), "--source", "shop", "--file", latin, "--mapping", m, "--data", dir); err != nil || summary(t, out)["imported"] != 2 {
		t.Fatalf("latin-1: %v\n%s\n%s", err, out, errOut)
	}
	// Latin-1 declared: 0x80 is a control character there, not the euro sign.
	declared := writeFile(t, files, "declared.csv", "email,name\ncy@example.com,Fran\xe7ois\n")
	if out, _, err := runImport(t, t.Context(), "--source", "shop", "--file", declared, "--mapping", m, "--encoding", "latin-1", "--data", dir); err != nil || summary(t, out)["imported"] != 1 {
		t.Fatalf("declared: %v\n%s", err, out)
	}
	// JSONL with nested fields.
	jsonl := writeFile(t, files, "people.jsonl", `{"person":{"email":"di@example.com","name":"Di"},"age":41}`+"\n"+`{"person":{}}`+"\n"+`not json`+"\n")
	jm := writeFile(t, files, "j.yaml", "identifiers: {email: person.email}\ntraits: {name: person.name, age: {column: age, type: integer}}\n")
	out, _, err := runImport(t, t.Context(), "--source", "shop", "--file", jsonl, "--mapping", jm, "--data", dir)
	if got := summary(t, out); err != nil || got["imported"] != 1 || got["bad rows"] != 2 {
		t.Fatalf("jsonl: %v\n%s", err, out)
	}
	if r := readReport(t, jsonl+".errors.csv"); len(r) != 2 || r[0][0] != "2" || r[1][0] != "3" || !strings.Contains(r[1][3], "not a JSON object") {
		t.Fatalf("jsonl report: %v", r)
	}

	inst := startServe(t, "--data", dir)
	token := lastLine(mustCLI(t, "token", "create", "--role", "owner", "--data", dir))
	for email, want := range map[string]any{"ana@example.com": "José Müller", "bo@example.com": "€uro", "cy@example.com": "François", "di@example.com": "Di"} {
		code, p := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=email&value="+email, token, nil)
		if code != 200 || p["traits"].(map[string]any)["name"] != want {
			t.Errorf("%s: %d %v, want name %q", email, code, p["traits"], want)
		}
	}
}

func TestImportOrderHistory(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	mustCLI(t, "source", "create", "crm", "--data", dir)
	mustCLI(t, "source", "create", "shop", "--data", dir)
	customers := writeFile(t, files, "customers.csv", "id,email,name\n7,ada@example.com,Ada\n8,bob@example.com,Bob\n")
	cm := writeFile(t, files, "c.yaml", "identifiers: {userId: id, email: email}\ntraits: {name: name}\n")
	if _, _, err := runImport(t, t.Context(), "--source", "crm", "--file", customers, "--mapping", cm, "--data", dir); err != nil {
		t.Fatal(err)
	}
	// The till knows only emails; the orders become Order Completed events at their own times.
	orders := writeFile(t, files, "orders.csv", "order,email,placed,total\n"+
		"o-1,ADA@example.com,2024-03-01 09:30,19.90\n"+
		"o-2,bob@example.com,2024-03-02 18:00,5\n"+
		"o-3,ada@example.com,2024-04-15 12:00,42.50\n"+
		"o-4,ada@example.com,yesterday,1\n")
	om := writeFile(t, files, "o.yaml", `type: track
event: Order Completed
key: order
timestamp: {column: placed, format: "%Y-%m-%d %H:%M", timezone: Europe/Copenhagen}
identifiers: {email: email}
properties:
  order_id: order
  revenue: {column: total, type: number}
`)
	out, _, err := runImport(t, t.Context(), "--source", "shop", "--file", orders, "--mapping", om, "--data", dir)
	if got := summary(t, out); err != nil || got["imported"] != 3 || got["bad rows"] != 1 {
		t.Fatalf("orders: %v\n%s", err, out)
	}
	// The same orders in a later, longer export are not counted twice.
	later := writeFile(t, files, "orders2.csv", "order,email,placed,total\no-3,ada@example.com,2024-04-15 12:00,42.50\no-5,ada@example.com,2024-05-01 08:00,3\n")
	if out, _, err := runImport(t, t.Context(), "--source", "shop", "--file", later, "--mapping", om, "--data", dir); err != nil || summary(t, out)["imported"] != 2 {
		t.Fatalf("later export: %v\n%s", err, out)
	}

	inst := startServe(t, "--data", dir)
	token := lastLine(mustCLI(t, "token", "create", "--role", "owner", "--data", dir))
	code, p := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=user_id&value=7", token, nil)
	if code != 200 {
		t.Fatalf("lookup: %d %v", code, p)
	}
	var tl struct {
		Events []storedEvent `json:"events"`
	}
	getJSON(t, inst.URL+"/api/v1/profiles/"+p["id"].(string)+"/events", token, &tl)
	var orderTimes []string
	for _, e := range tl.Events {
		if e.Type == "track" {
			if e.Event != "Order Completed" || e.Properties["order_id"] == nil {
				t.Errorf("event %+v", e)
			}
			orderTimes = append(orderTimes, e.Timestamp.UTC().Format(time.RFC3339))
		}
	}
	// Newest first; o-3 once although two files hold it; times are the orders' own (CET/CEST).
	want := []string{"2024-05-01T06:00:00Z", "2024-04-15T10:00:00Z", "2024-03-01T08:30:00Z"}
	if strings.Join(orderTimes, " ") != strings.Join(want, " ") {
		t.Fatalf("Ada's orders at %v, want %v", orderTimes, want)
	}
}

func TestImportResumesAfterInterruption(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	mustCLI(t, "source", "create", "crm", "--data", dir)
	const n = 4000
	path, bad, good := nastyCSV(t, files, n)
	mapping := writeFile(t, files, "crm.yaml", crmMapping)
	ctx, cancel := context.WithCancel(t.Context())
	// Interrupt once the first checkpoint is in the store.
	go func() {
		defer cancel()
		db := sqlite.NewDB(dir)
		if err := db.Open(); err != nil {
			return
		}
		defer db.Close()
		for ctx.Err() == nil {
			if imps, err := db.FindImports(ctx, mosaic.ImportFilter{}); err == nil && len(imps) > 0 && imps[0].RowsRead > 0 {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	out, _, err := runImport(t, ctx, "--source", "crm", "--file", path, "--mapping", mapping, "--data", dir, "--batch-size", "200", "--no-wait")
	if err == nil || !strings.Contains(err.Error(), "run the same command again to resume") {
		t.Fatalf("interrupted import: %v\n%s", err, out)
	}
	out, _, err = runImport(t, t.Context(), "--source", "crm", "--file", path, "--mapping", mapping, "--data", dir, "--batch-size", "200", "--no-wait")
	if err != nil {
		t.Fatalf("resumed: %v\n%s", err, out)
	}
	got := summary(t, out)
	if got["rows read"] != n || got["imported"] != len(good) || got["bad rows"] != len(bad) || got["skipped (resumed)"] == 0 {
		t.Fatalf("resumed summary %v (%d good, %d bad)\n%s", got, len(good), len(bad), out)
	}
	if r := readReport(t, path+".errors.csv"); len(r) != len(bad) {
		t.Fatalf("report has %d lines after resuming, want %d", len(r), len(bad))
	}
	db := sqlite.NewDB(dir)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs, err := db.ReadInbox(t.Context(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.MessageID] {
			t.Fatalf("messageId %s appended twice", r.MessageID)
		}
		seen[r.MessageID] = true
	}
	if len(recs) != len(good) {
		t.Fatalf("%d inbox records, want %d", len(recs), len(good))
	}
}

func TestImportErrors(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	mustCLI(t, "source", "create", "crm", "--data", dir)
	data := writeFile(t, files, "c.csv", "id,email\n1,a@b.io\n")
	for _, tc := range []struct {
		name, mapping string
		args          []string
		want          string
	}{
		{"bad mapping", "identifiers: {userId: id}\ntraits:\n  n: {column: id, type: money}\n", nil, "m.yaml:3: traits.n.type: Unknown type \"money\""},
		{"missing column", "identifiers: {userId: id}\ntraits:\n  n: Name\n", nil, "m.yaml:3: traits.n: Column \"Name\" is not in the file's header"},
		{"wrong delimiter", "csv: {delimiter: \";\"}\nidentifiers: {userId: id}\n", nil, `m.yaml:2: identifiers.userId: Column "id" is not in the file's header, which has one column "id,email": is the delimiter "," rather than ";"?`},
		{"unknown identifier", "identifiers: {customer_number: id}\n", nil, "m.yaml:1: identifiers.customer_number: No identity rule reads traits.customer_number"},
		{"unknown source", "identifiers: {userId: id}\n", []string{"--source", "nope"}, `no source "nope"; create it first`},
		{"missing file", "identifiers: {userId: id}\n", []string{"--file", filepath.Join(files, "nope.csv")}, "nope.csv: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := writeFile(t, files, "m.yaml", tc.mapping)
			args := append([]string{"--source", "crm", "--file", data, "--mapping", m, "--data", dir}, tc.args...)
			_, _, err := runImport(t, t.Context(), args...)
			if err == nil || !strings.Contains(cliMessage(err), tc.want) {
				t.Fatalf("err=%v, want %q", err, tc.want)
			}
		})
	}
}

func TestImportAPI(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	inst := startServe(t, "--data", dir)
	mustCLI(t, "source", "create", "crm", "--data", dir)
	path, bad, good := nastyCSV(t, files, 300)
	body, _ := os.ReadFile(path)
	upload := func(token string) (int, map[string]any) {
		return uploadImport(t, inst.URL, token, "crm", crmMapping, "customers.csv", body)
	}
	reader := lastLine(mustCLI(t, "token", "create", "--role", "analyst", "--data", dir))
	if code, out := upload(reader); code != 403 {
		t.Fatalf("analyst upload: %d %v", code, out)
	}
	code, imp := upload(inst.Token)
	if code != 202 || imp["status"] != "queued" || imp["id"] == nil {
		t.Fatalf("upload: %d %v", code, imp)
	}
	id := imp["id"].(string)
	deadline := time.Now().Add(60 * time.Second)
	for imp["status"] != "done" || imp["resolved"] != true {
		if time.Now().After(deadline) || imp["status"] == "failed" {
			t.Fatalf("import did not finish: %v", imp)
		}
		time.Sleep(50 * time.Millisecond)
		getJSON(t, inst.URL+"/api/v1/imports/"+id, inst.Token, &imp)
	}
	if imp["rows_read"] != 300.0 || imp["rows_imported"] != float64(len(good)) || imp["rows_bad"] != float64(len(bad)) || imp["errors_url"] != "/api/v1/imports/"+id+"/errors" {
		t.Fatalf("finished import: %v", imp)
	}
	req, _ := http.NewRequest("GET", inst.URL+"/api/v1/imports/"+id+"/errors", nil)
	req.Header.Set("Authorization", "Bearer "+inst.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(recs) != len(bad)+1 || recs[1][0] != strconv.Itoa(bad[0].line) {
		t.Fatalf("errors: %d %v %v", resp.StatusCode, err, recs[:min(3, len(recs))])
	}
	var st map[string]any
	getJSON(t, inst.URL+"/api/v1/stats", inst.Token, &st)
	if st["events"] != float64(len(good)) {
		t.Fatalf("stats %v", st)
	}
	// The same upload again is the same import: nothing added.
	if code, again := upload(inst.Token); code != 200 || again["id"] != id || again["status"] != "done" {
		t.Fatalf("second upload: %d %v", code, again)
	}
	var list struct {
		Imports []map[string]any `json:"imports"`
	}
	getJSON(t, inst.URL+"/api/v1/imports?source=crm", inst.Token, &list)
	if len(list.Imports) != 1 {
		t.Fatalf("list: %v", list)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "imports")); len(entries) != 1 { // the report; the upload is gone
		t.Fatalf("import dir holds %v", entries)
	}
	// A mapping problem is a 400 naming the setting.
	code, e := uploadImport(t, inst.URL, inst.Token, "crm", "identifiers: {userId: id}\ntraits: {x: {column: y, type: money}}\n", "x.csv", []byte("id\n1\n"))
	if code != 400 || e["error"].(map[string]any)["field"] != "traits.x.type" {
		t.Fatalf("bad mapping: %d %v", code, e)
	}
}

func TestImportLease(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	inst := startServe(t, "--data", dir)
	// The server holds the lease: nobody else may process.
	db := sqlite.NewDB(dir)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.LockProcessor(t.Context()); mosaic.ErrorCode(err) != mosaic.ECONFLICT {
		t.Fatalf("second processor lease: %v", err)
	}
	// So an import with a server running only appends and waits for the server's processor.
	mustCLI(t, "source", "create", "crm", "--data", dir)
	data := writeFile(t, files, "c.csv", "id,email\n1,a@b.io\n2,c@d.io\n")
	m := writeFile(t, files, "m.yaml", "identifiers: {userId: id, email: email}\n")
	out, errOut, err := runImport(t, t.Context(), "--source", "crm", "--file", data, "--mapping", m, "--data", dir)
	if err != nil || summary(t, out)["imported"] != 2 || !strings.Contains(errOut, "a server is processing this store") {
		t.Fatalf("import beside a server: %v\n%s\n%s", err, out, errOut)
	}
	if st := waitProcessed(t, inst.URL, inst.Token); st.Events != 2 {
		t.Fatalf("events %d", st.Events)
	}
	// Once the server stops, the lease is free again.
	if err := inst.stop(); err != nil {
		t.Fatal(err)
	}
	release, err := db.LockProcessor(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// A server started while someone else processes (a mosaic import) serves the gateway,
	// and processes once the lease is given back.
	again := startServe(t, "--data", dir)
	if !strings.Contains(again.Stderr.String(), "serving without processing") {
		t.Fatalf("no warning:\n%s", again.Stderr)
	}
	key := lastLine(mustCLI(t, "source", "create", "web", "--data", dir))
	req, _ := http.NewRequest("POST", again.URL+"/v1/track", strings.NewReader(`{"userId":"u1","event":"E"}`))
	req.SetBasicAuth(key, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("track while another process holds the lease: %v %v", resp, err)
	}
	resp.Body.Close()
	time.Sleep(300 * time.Millisecond)
	if off, _ := db.ProcessorOffset(t.Context()); off != 2 {
		t.Fatalf("processed through %d while the lease was held elsewhere", off)
	}
	release()
	if st := waitProcessed(t, again.URL, inst.Token); st.Events != 3 {
		t.Fatalf("events %d after the lease was released", st.Events)
	}
}

// TestImportRefusesIdentifiersTheServerDoesNotRead: an import run with a --config that
// declares an identifier the server processing the store does not read is refused before it
// appends anything (its rows would identify no one, and a re-run would find nothing to add);
// identifiers the server reads go ahead. Rows are checked under the server's rules, not the
// command's: without --config, a server that reads customer numbers and national phone
// numbers in DK takes them (trial 8: the rows were refused under the CLI's defaults).
func TestImportRefusesIdentifiersTheServerDoesNotRead(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	inst := startServe(t, "--data", dir) // default rules: no customer_number
	mustCLI(t, "source", "create", "crm", "--data", dir)
	cfg := writeFile(t, files, "mine.yaml", `identity:
  rules:
    - {type: user_id, priority: 1, limit: 1, paths: [userId]}
    - {type: email, priority: 2, limit: 5, paths: [traits.email], normalize: [trim, lower]}
    - {type: customer_number, priority: 3, limit: 1, paths: [traits.customer_number], normalize: [trim]}
`)
	data := writeFile(t, files, "c.csv", "no,email\n1001,a@b.io\n")
	m := writeFile(t, files, "m.yaml", "identifiers: {customer_number: no, email: email}\n")
	_, _, err := runImport(t, t.Context(), "--source", "crm", "--file", data, "--mapping", m, "--data", dir, "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "No identity rule reads traits.customer_number") || !strings.Contains(err.Error(), "server processing this store") {
		t.Fatalf("import with other identity rules than the server's: %v", err)
	}
	if st := waitProcessed(t, inst.URL, inst.Token); st.Events != 0 {
		t.Fatalf("the refused import stored %d events", st.Events)
	}
	m2 := writeFile(t, files, "m2.yaml", "identifiers: {userId: no, email: email}\n")
	out, _, err := runImport(t, t.Context(), "--source", "crm", "--file", data, "--mapping", m2, "--data", dir, "--config", cfg)
	if err != nil || summary(t, out)["imported"] != 1 {
		t.Fatalf("an import of identifiers the server reads: %v\n%s", err, out)
	}
	inst.stop()
	token := inst.Token
	serverCfg := writeFile(t, files, "server.yaml", `identity:
  default_region: DK
  rules:
    - {type: user_id, priority: 1, limit: 1, paths: [userId]}
    - {type: customer_number, priority: 3, limit: 1, paths: [traits.customer_number], normalize: [trim, digits]}
    - {type: phone, priority: 6, limit: 5, paths: [traits.phone], normalize: [phone]}
`)
	inst = startServe(t, "--data", dir, "--config", serverCfg)
	pos := writeFile(t, files, "pos.csv", "no,phone\nC-2002,30 11 22 33\n")
	m3 := writeFile(t, files, "m3.yaml", "identifiers: {customer_number: no, phone: phone}\n")
	out, _, err = runImport(t, t.Context(), "--source", "crm", "--file", pos, "--mapping", m3, "--data", dir)
	if err != nil || summary(t, out)["imported"] != 1 {
		t.Fatalf("an import without --config beside a server reading its identifiers: %v\n%s", err, out)
	}
	waitProcessed(t, inst.URL, token)
	code, p := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=phone&value=%2B4530112233", token, nil)
	if code != 200 || !strings.Contains(fmt.Sprint(p["identifiers"]), "2002") {
		t.Fatalf("the imported row's profile by its phone: %d %v", code, p)
	}
}

// TestImportAgainTakesRowsThatWereBad: a finished import whose rows were bad under the
// server's rules is read again with --retry-bad, once the rules take them: the rows stored
// the first time count as already stored, the others are added (trial 8: a re-run after the
// fix said "already imported" and the rows were lost unless the mapping changed). Without
// the flag a re-run adds nothing and names it.
func TestImportAgainTakesRowsThatWereBad(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	inst := startServe(t, "--data", dir) // phones without a country code are read in the US
	token := inst.Token
	mustCLI(t, "source", "create", "pos", "--data", dir)
	data := writeFile(t, files, "pos.csv", "name,phone\nAda,+45 20 12 34 57\nBob,30 11 22 33\n")
	m := writeFile(t, files, "m.yaml", "identifiers: {phone: phone}\ntraits: {name: name}\n")
	out, _, err := runImport(t, t.Context(), "--source", "pos", "--file", data, "--mapping", m, "--data", dir)
	if got := summary(t, out); err != nil || got["imported"] != 1 || got["bad rows"] != 1 {
		t.Fatalf("first run: %v %v\n%s", err, got, out)
	}
	inst.stop()
	cfg := writeFile(t, files, "dk.yaml", "identity:\n  default_region: DK\n")
	inst = startServe(t, "--data", dir, "--config", cfg)
	out, _, err = runImport(t, t.Context(), "--source", "pos", "--file", data, "--mapping", m, "--data", dir)
	if err != nil || !strings.Contains(out, "nothing to add") || !strings.Contains(out, "--retry-bad") {
		t.Fatalf("second run without --retry-bad: %v\n%s", err, out)
	}
	out, _, err = runImport(t, t.Context(), "--source", "pos", "--file", data, "--mapping", m, "--data", dir, "--retry-bad")
	got := summary(t, out)
	if err != nil || got["imported"] != 2 || got["bad rows"] != 0 || got["new"] != 1 || got["already stored"] != 1 || !strings.Contains(out, "reading it again") {
		t.Fatalf("second run under rules that take the phone: %v %v\n%s", err, got, out)
	}
	if st := waitProcessed(t, inst.URL, token); st.Events != 2 {
		t.Fatalf("%d events stored, want 2 (none twice)", st.Events)
	}
	if code, p := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=phone&value=%2B4530112233", token, nil); code != 200 {
		t.Fatalf("bob by the phone of the row that was bad: %d %v", code, p)
	}
	// A third run has nothing to add.
	out, _, err = runImport(t, t.Context(), "--source", "pos", "--file", data, "--mapping", m, "--data", dir, "--retry-bad")
	if err != nil || !strings.Contains(out, "nothing to add") {
		t.Fatalf("third run: %v\n%s", err, out)
	}
}

// uploadImport posts a file and its mapping to the import API and returns the status and body.
func uploadImport(t *testing.T, url, token, source, mapping, name string, body []byte) (int, map[string]any) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("mapping", mapping)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(body)
	mw.Close()
	req, _ := http.NewRequest("POST", url+"/api/v1/imports?source="+source, &b)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	jsonDecode(t, resp.Body, &out)
	return resp.StatusCode, out
}

func jsonDecode(t *testing.T, r io.Reader, v any) {
	t.Helper()
	if err := json.NewDecoder(r).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestImportPostgres runs an import on the PostgreSQL store: checkpoints and the processor
// lease (an advisory lock) there, and a re-run that adds nothing.
func TestImportPostgres(t *testing.T) {
	dsn, schema := pgtest.DSN(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db := []string{"--database", dsn + sep + "search_path=" + schema}
	files := t.TempDir()
	mustCLI(t, append([]string{"source", "create", "crm"}, db...)...)
	path, bad, good := nastyCSV(t, files, 200)
	mapping := writeFile(t, files, "crm.yaml", crmMapping)
	args := append([]string{"--source", "crm", "--file", path, "--mapping", mapping}, db...)
	out, errOut, err := runImport(t, t.Context(), args...)
	if got := summary(t, out); err != nil || got["imported"] != len(good) || got["bad rows"] != len(bad) {
		t.Fatalf("import: %v\n%s\n%s", err, out, errOut)
	}
	out, _, err = runImport(t, t.Context(), args...)
	if err != nil || !strings.Contains(out, "already imported") {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	inst := startServe(t, db...)
	token := lastLine(mustCLI(t, append([]string{"token", "create", "--role", "owner"}, db...)...))
	var st map[string]any
	getJSON(t, inst.URL+"/api/v1/stats", token, &st)
	if st["events"] != float64(len(good)) || st["inbox_head"] != float64(len(good)) {
		t.Fatalf("stats: %v", st)
	}
	if code, _ := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=email&value=cust2@example.com", token, nil); code != 200 {
		t.Fatalf("email-only row not found: %d", code)
	}
}

// TestImportCorrectedMapping: importing a file again with a corrected profile mapping
// re-states its rows, and the corrections land, even where the rows' observation time is
// the same as before; the same mapping again (comments aside) adds nothing, and event rows
// are never sent twice. The summary says how many rows were new and how many already stored.
func TestImportCorrectedMapping(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	mustCLI(t, "source", "create", "crm", "--data", dir)
	mustCLI(t, "source", "create", "shop", "--data", dir)
	customers := writeFile(t, files, "customers.csv", "id,email,name,updated\n"+
		"1,ada@example.com,Ada,2026-01-05\n2,bob@example.com,Bob,2026-01-05\n3,cy@example.com,Cy,2026-01-05\n4,,Di,2026-01-05\n")
	const v1 = "identifiers: {userId: id, email: email}\ntimestamp: {column: updated}\ntraits:\n  name: name\n  segment: {value: b2c}\n"
	run := func(file, mapping string) map[string]int {
		t.Helper()
		m := writeFile(t, files, "m.yaml", mapping)
		out, errOut, err := runImport(t, t.Context(), "--source", "crm", "--file", file, "--mapping", m, "--data", dir)
		if err != nil {
			t.Fatalf("import: %v\n%s\n%s", err, out, errOut)
		}
		t.Logf("%s", out)
		return summary(t, out)
	}
	if got := run(customers, v1); got["imported"] != 4 || got["new"] != 4 || got["already stored"] != 0 {
		t.Fatalf("first import: %v", got)
	}
	// The same mapping with a comment is another import of the same calls: all already stored.
	if got := run(customers, "# CRM export\n"+v1); got["imported"] != 4 || got["new"] != 0 || got["already stored"] != 4 {
		t.Fatalf("same mapping again: %v", got)
	}
	// The corrected mapping re-states every row.
	v2 := strings.Replace(v1, "{value: b2c}", "{value: b2b}", 1) + "  country: {value: DK}\n"
	if got := run(customers, v2); got["imported"] != 4 || got["new"] != 4 || got["already stored"] != 0 {
		t.Fatalf("corrected mapping: %v", got)
	}

	// Events: a changed mapping does not send the same orders again.
	orders := writeFile(t, files, "orders.csv", "order,email,total\no-1,ada@example.com,10\no-2,bob@example.com,5\n")
	const o1 = "type: track\nevent: Order Completed\nkey: order\nidentifiers: {email: email}\nproperties: {revenue: {column: total, type: number}}\n"
	om := writeFile(t, files, "o.yaml", o1)
	if out, _, err := runImport(t, t.Context(), "--source", "shop", "--file", orders, "--mapping", om, "--data", dir); err != nil || summary(t, out)["new"] != 2 {
		t.Fatalf("orders: %v\n%s", err, out)
	}
	om = writeFile(t, files, "o.yaml", strings.Replace(o1, "}}\n", "}, channel: {value: till}}\n", 1))
	out, _, err := runImport(t, t.Context(), "--source", "shop", "--file", orders, "--mapping", om, "--data", dir)
	if got := summary(t, out); err != nil || got["imported"] != 2 || got["new"] != 0 || got["already stored"] != 2 ||
		!strings.Contains(out, "an event is never sent twice, even with a changed mapping") {
		t.Fatalf("orders with a changed mapping: %v\n%s", err, out)
	}

	inst := startServe(t, "--data", dir)
	token := lastLine(mustCLI(t, "token", "create", "--role", "owner", "--data", dir))
	for _, id := range []string{"1", "2", "3", "4"} {
		code, p := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=user_id&value="+id, token, nil)
		if code != 200 {
			t.Fatalf("user %s: %d %v", id, code, p)
		}
		if tr := p["traits"].(map[string]any); tr["segment"] != "b2b" || tr["country"] != "DK" || tr["name"] == nil {
			t.Errorf("user %s: traits %v, want the corrected mapping's segment and country", id, tr)
		}
	}
	var st map[string]any
	getJSON(t, inst.URL+"/api/v1/stats", token, &st)
	if st["events"] != 10.0 || st["duplicates"] != 6.0 { // 4 + 4 profile rows and 2 orders; 4 + 2 dropped
		t.Fatalf("stats: %v", st)
	}
	var list struct {
		Imports []map[string]any `json:"imports"`
	}
	getJSON(t, inst.URL+"/api/v1/imports?source=crm", token, &list)
	if len(list.Imports) != 3 || list.Imports[1]["rows_duplicate"] != 4.0 || list.Imports[0]["rows_duplicate"] != 0.0 {
		t.Fatalf("imports: %v", list.Imports)
	}
}

// TestImportSaysWhichLinksItRefused: a CRM whose customer numbers are not the web's user
// ids makes every row's email link refused (one user id a profile); the summary says so
// instead of reporting a clean import.
func TestImportSaysWhichLinksItRefused(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	mustCLI(t, "source", "create", "crm", "--data", dir)
	web := writeFile(t, files, "web.csv", "id,email\n1001,ada@example.com\n1002,bo@example.com\n")
	wm := writeFile(t, files, "w.yaml", "identifiers: {user_id: id, email: email}\n")
	if out, _, err := runImport(t, t.Context(), "--source", "crm", "--file", web, "--mapping", wm, "--data", dir); err != nil || strings.Contains(out, "links refused") {
		t.Fatalf("first import: %v\n%s", err, out)
	}
	crm := writeFile(t, files, "crm.csv", "id,email\nC-1001,ada@example.com\nC-1002,bo@example.com\nC-1003,cy@example.com\n")
	out, _, err := runImport(t, t.Context(), "--source", "crm", "--file", crm, "--mapping", wm, "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`links refused\s+2\b`).MatchString(out) || !strings.Contains(out, "mosaic profile explain") {
		t.Errorf("summary of rows whose user ids the profiles refused:\n%s", out)
	}
}

// TestRefusedImportRecordsNoRules: an import that processes itself and is refused for its
// mapping (no --config, so its rules do not read the mapped identifier) leaves the store's
// record of the rules events were resolved under as it was (trial 12: every later start
// warned that the stored events were resolved under other rules).
func TestRefusedImportRecordsNoRules(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	mustCLI(t, "source", "create", "crm", "--data", dir)
	cfg := writeFile(t, files, "crm.yaml", `identity:
  rules:
    - {type: user_id, priority: 1, limit: 1, paths: [userId]}
    - {type: customer_number, priority: 3, limit: 1, paths: [traits.customer_number], normalize: [trim]}
`)
	data := writeFile(t, files, "c.csv", "no,name\n4001,Carl\n")
	m := writeFile(t, files, "m.yaml", "identifiers: {customer_number: no}\ntraits: {name: name}\n")
	out, _, err := runImport(t, t.Context(), "--source", "crm", "--file", data, "--mapping", m, "--data", dir, "--config", cfg)
	if err != nil || summary(t, out)["imported"] != 1 {
		t.Fatalf("import under the rules that read the customer number: %v\n%s", err, out)
	}
	settings := func() map[string]string {
		db := sqlite.NewDB(dir)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		got := map[string]string{}
		for _, k := range []string{mosaic.SettingProcessorIdentityRules, mosaic.SettingGraphIdentityRules, mosaic.SettingMixedIdentityRules, mosaic.SettingProcessorTraitRules} {
			v, _, err := db.Setting(t.Context(), k)
			if err != nil {
				t.Fatal(err)
			}
			got[k] = v
		}
		return got
	}
	before := settings()
	data2 := writeFile(t, files, "c2.csv", "no,name\n4002,Dora\n")
	_, _, err = runImport(t, t.Context(), "--source", "crm", "--file", data2, "--mapping", m, "--data", dir)
	if err == nil || !strings.Contains(err.Error(), "No identity rule reads traits.customer_number") {
		t.Fatalf("import without the rules that read the customer number: %v", err)
	}
	if after := settings(); !maps.Equal(before, after) {
		t.Fatalf("the refused import changed the recorded rules:\nbefore %v\nafter  %v", before, after)
	}
}

// TestImportAgainStatesNothingNewer: profile rows without a time are stated as of the file's
// first import, so the file read again under a corrected mapping does not turn back what a
// customer changed since (trial 12: an opt-out became an opt-in again); a mapping can state
// the export's own time with timestamp: {value: …}.
func TestImportAgainStatesNothingNewer(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	inst := startServe(t, "--data", dir)
	mustCLI(t, "source", "create", "crm", "--data", dir)
	data := writeFile(t, files, "crm.csv", "no,email,opt_in\n1001,anna@example.dk,yes\n1002,bo@example.dk,yes\n")
	const v1 = "identifiers: {userId: no, email: email}\ntraits:\n  marketing_opt_in: {column: opt_in, type: boolean}\n"
	run := func(mapping string) {
		t.Helper()
		m := writeFile(t, files, "m.yaml", mapping)
		out, _, err := runImport(t, t.Context(), "--source", "crm", "--file", data, "--mapping", m, "--data", dir)
		if got := summary(t, out); err != nil || got["new"] != 2 {
			t.Fatalf("import: %v %v\n%s", err, got, out)
		}
	}
	run(v1)
	req, _ := http.NewRequest("POST", inst.URL+"/v1/identify", strings.NewReader(`{"userId":"1001","traits":{"marketing_opt_in":false}}`))
	req.SetBasicAuth(inst.WriteKey, "")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("opt-out: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	waitProcessed(t, inst.URL, inst.Token)
	run(v1 + "  country: {value: DK}\n")
	waitProcessed(t, inst.URL, inst.Token)
	traitsOf := func(user string) map[string]any {
		t.Helper()
		code, p := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=user_id&value="+user, inst.Token, nil)
		if code != 200 {
			t.Fatalf("user %s: %d %v", user, code, p)
		}
		return p["traits"].(map[string]any)
	}
	if tr := traitsOf("1001"); tr["marketing_opt_in"] != false || tr["country"] != "DK" {
		t.Fatalf("1001 after the corrected mapping: %v, want the later opt-out kept and the new country", tr)
	}
	// A mapping that states the export's time: older than the opt-out, so it loses to it.
	other := writeFile(t, files, "crm2.csv", "no,opt_in\n1001,yes\n1002,no\n")
	m := writeFile(t, files, "m2.yaml", "identifiers: {userId: no}\ntimestamp: {value: \"2020-01-01\"}\ntraits:\n  marketing_opt_in: {column: opt_in, type: boolean}\n")
	if out, _, err := runImport(t, t.Context(), "--source", "crm", "--file", other, "--mapping", m, "--data", dir); err != nil {
		t.Fatalf("import with the export's time: %v\n%s", err, out)
	}
	waitProcessed(t, inst.URL, inst.Token)
	if tr := traitsOf("1001"); tr["marketing_opt_in"] != false {
		t.Fatalf("1001 after an export of 2020: %v", tr)
	}
	if tr := traitsOf("1002"); tr["marketing_opt_in"] != true {
		t.Fatalf("1002 after an export of 2020: %v, want the newer import's value kept", tr)
	}
}

// TestUploadAfterAFailedImport: uploading a file and mapping whose import failed retries it
// when the API ran it, and says what failed and how to retry when a command ran it (trial
// 12: the upload answered 200 with the command's failed import, and no way on).
func TestUploadAfterAFailedImport(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	inst := startServe(t, "--data", dir)
	mustCLI(t, "source", "create", "crm", "--data", dir)
	const mapping = "identifiers: {email: mail}\ntraits: {name: name}\n" // the file has no mail column
	body := "email,name\nada@example.com,Ada\n"
	upload := func(name string) (int, map[string]any) {
		return uploadImport(t, inst.URL, inst.Token, "crm", mapping, name, []byte(body))
	}
	waitFailed := func(id string) map[string]any {
		t.Helper()
		var imp map[string]any
		deadline := time.Now().Add(30 * time.Second)
		for imp["status"] != "failed" {
			if time.Now().After(deadline) {
				t.Fatalf("import %s did not fail: %v", id, imp)
			}
			time.Sleep(20 * time.Millisecond)
			getJSON(t, inst.URL+"/api/v1/imports/"+id, inst.Token, &imp)
		}
		return imp
	}
	code, imp := upload("customers.csv")
	if code != 202 {
		t.Fatalf("upload: %d %v", code, imp)
	}
	id := imp["id"].(string)
	first := waitFailed(id)
	code, again := upload("customers-again.csv")
	if code != 202 || again["id"] != id || again["status"] != "queued" {
		t.Fatalf("upload after a failed upload: %d %v, want it queued again", code, again)
	}
	if second := waitFailed(id); second["finished_at"] == first["finished_at"] || !strings.Contains(fmt.Sprint(second["error"]), `"mail"`) {
		t.Fatalf("the retried import: %v (first run %v)", second, first)
	}

	// A command's failed import: the upload says what failed and how to retry it.
	other := writeFile(t, files, "other.csv", "email,name\nbo@example.com,Bo\n")
	m := writeFile(t, files, "m.yaml", mapping)
	if _, _, err := runImport(t, t.Context(), "--source", "crm", "--file", other, "--mapping", m, "--data", dir); err == nil {
		t.Fatal("the command's import did not fail")
	}
	body = "email,name\nbo@example.com,Bo\n"
	code, out := upload("other.csv")
	if msg := fmt.Sprint(out["error"]); code != 409 || !strings.Contains(msg, "on the command line") || !strings.Contains(msg, `"mail"`) || !strings.Contains(msg, "mosaic import command again") {
		t.Fatalf("upload after a command's failed import: %d %v", code, out)
	}
}

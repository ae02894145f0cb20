package bulk

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic"
)

const testHash = "0123456789abcdef0123456789abcdef"

// mapAll reads in with the mapping and returns each row's call (decoded) or problems.
func mapAll(t *testing.T, mapping, in string, opts Options, check func(path, value string) error) ([]map[string]any, []Problem) {
	t.Helper()
	m, err := ParseMapping([]byte(mapping))
	if err != nil {
		t.Fatalf("ParseMapping: %v", err)
	}
	if opts.Format == "" {
		opts.Format = CSV
	}
	rd, err := NewReader(strings.NewReader(in), opts)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	mp, err := m.Compile(CompileOptions{Target: Target{SourceID: "src_crm", FileHash: testHash, ImportID: "imp_1"}, Format: opts.Format,
		Columns: rd.Columns(), CheckIdentifier: check})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	var calls []map[string]any
	var probs []Problem
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return calls, probs
		}
		if err != nil {
			t.Fatal(err)
		}
		payload, id, p := mp.Map(rec)
		if p != nil {
			probs = append(probs, p...)
			continue
		}
		var call map[string]any
		if err := json.Unmarshal(payload, &call); err != nil {
			t.Fatalf("payload is not JSON: %v\n%s", err, payload)
		}
		if call["messageId"] != id {
			t.Fatalf("messageId %v, Map said %s", call["messageId"], id)
		}
		delete(call["context"].(map[string]any), "library")
		calls = append(calls, call)
	}
}

func TestMapIdentify(t *testing.T) {
	mapping := `
type: identify
timezone: Europe/Copenhagen
identifiers:
  userId: Customer No
  email: E-mail
  customer_number: {column: Customer No}
traits:
  name: Name
  address.city: City
  born: {column: Born, type: date, format: "%d.%m.%Y"}
  ltv: {column: LTV, type: number, decimal: ",", thousands: "."}
  orders: {column: Orders, type: integer}
  vip: {column: VIP, type: boolean}
  tags: {column: Tags, type: list, separator: "|"}
  updated: {column: Updated, type: datetime, format: "%Y-%m-%d %H:%M"}
  source: {value: crm}
  extra: {column: Extra, type: json}
`
	in := "Customer No;E-mail;Name;City;Born;LTV;Orders;VIP;Tags;Updated;Extra\n" +
		"42;Ada@Example.com;\"Ada \"\"the\"\" Lovelace\";London;10.12.1815;1.234,50;7;yes;a| b ||c;2026-06-01 12:30;{\"k\":1}\n" +
		";bob@example.com;Bob;;;;;;;;\n" +
		";;Nobody;;;;;;;;\n" +
		"43;;Cy;;31.02.1990;abc;7.5;maybe;;2026-13-01 00:00;{bad\n"
	calls, probs := mapAll(t, mapping, in, Options{}, nil)
	m, _ := ParseMapping([]byte(mapping))
	ids := "imp-0123456789abcdef-" + m.Digest(Options{Format: CSV})[:16] + "-" // file, mapping
	want := []map[string]any{
		{"type": "identify", "messageId": ids + "1", "userId": "42",
			"traits": map[string]any{"email": "Ada@Example.com", "customer_number": "42", "name": `Ada "the" Lovelace`,
				"address": map[string]any{"city": "London"}, "born": "1815-12-10", "ltv": 1234.5, "orders": 7.0, "vip": true,
				"tags": []any{"a", "b", "c"}, "updated": "2026-06-01T10:30:00Z", "source": "crm", "extra": map[string]any{"k": 1.0}},
			"context": map[string]any{"import": map[string]any{"id": "imp_1", "row": 1.0, "line": 2.0}}},
		{"type": "identify", "messageId": ids + "2", "anonymousId": "imp-0123456789abcdef-2",
			"traits":  map[string]any{"email": "bob@example.com", "name": "Bob", "source": "crm"},
			"context": map[string]any{"import": map[string]any{"id": "imp_1", "row": 2.0, "line": 3.0}}},
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	wantProbs := []Problem{
		{Line: 4, Row: 3, Reason: `The row has no identifier: "Customer No", "E-mail", "Customer No" are all empty.`},
		{Line: 5, Row: 4, Column: "Born", Reason: `"31.02.1990" is not a date in the format %d.%m.%Y.`},
		{Line: 5, Row: 4, Column: "LTV", Reason: `"abc" is not a number.`},
		{Line: 5, Row: 4, Column: "Orders", Reason: `"7.5" is not an integer.`},
		{Line: 5, Row: 4, Column: "VIP", Reason: `"maybe" is not a boolean (use true/false, yes/no or 1/0; other words with true_values and false_values).`},
		{Line: 5, Row: 4, Column: "Updated", Reason: `"2026-13-01 00:00" is not a date in the format %Y-%m-%d %H:%M.`},
		{Line: 5, Row: 4, Column: "Extra", Reason: `"{bad" is not valid JSON.`},
	}
	if diff := cmp.Diff(wantProbs, probs); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestMapTrack(t *testing.T) {
	mapping := `
type: track
event: Order Completed
key: order
timestamp: {column: at, format: "%d/%m/%Y %H:%M", timezone: America/New_York}
identifiers: {userId: customer, email: email}
properties:
  order_id: order
  revenue: {column: total, type: number}
`
	in := "order,customer,email,at,total\n" +
		"o1,c1,,01/02/2026 09:00,10.5\n" +
		"o2,,ann@example.com,02/02/2026 23:15,3\n" +
		"o3,c1,,,1\n" +
		",c1,,01/02/2026 09:00,1\n"
	calls, probs := mapAll(t, mapping, in, Options{}, nil)
	if len(calls) != 2 {
		t.Fatalf("calls: %v\nproblems: %v", calls, probs)
	}
	first := calls[0]
	if first["type"] != "track" || first["event"] != "Order Completed" || first["userId"] != "c1" || first["timestamp"] != "2026-02-01T14:00:00Z" {
		t.Errorf("first: %v", first)
	}
	if id := first["messageId"].(string); !strings.HasPrefix(id, "imp-") || len(id) != 28 || strings.Contains(id, testHash[:16]) {
		t.Errorf("a keyed event's messageId should come from the key, not the file: %s", id)
	}
	second := calls[1]
	if second["context"].(map[string]any)["traits"].(map[string]any)["email"] != "ann@example.com" || second["anonymousId"] == nil ||
		second["anonymousId"] == second["messageId"] {
		t.Errorf("second: %v", second)
	}
	wantProbs := []Problem{
		{Line: 4, Row: 3, Column: "at", Reason: "The row has no timestamp (the column is empty)."},
		{Line: 5, Row: 4, Column: "order", Reason: "The key column is empty."},
	}
	if diff := cmp.Diff(wantProbs, probs); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	// The same order in another file is the same event.
	again, _ := mapAll(t, mapping, "order,customer,email,at,total\no1,c1,,01/02/2026 09:00,10.5\n", Options{}, nil)
	if again[0]["messageId"] != first["messageId"] {
		t.Errorf("messageId %v in a second file, %v in the first", again[0]["messageId"], first["messageId"])
	}
}

func TestMapJSONL(t *testing.T) {
	mapping := `
type: track
event_column: kind
timestamp: {column: at, format: unix}
identifiers: {userId: customer.id, email: customer.email}
properties:
  sku: items.0.sku
  items: {column: items, type: json}
  total: {column: total, type: number}
  paid: {column: paid, type: boolean}
`
	in := `{"kind":"Order Completed","at":1764000000,"customer":{"id":7,"email":"a@x.io"},"items":[{"sku":"A1"}],"total":12.5,"paid":true}` + "\n" +
		`{"kind":"","at":1764000000,"customer":{"id":"8"}}` + "\n" +
		`{"kind":"X","at":"soon","customer":{"id":{"x":1}}}` + "\n"
	calls, probs := mapAll(t, mapping, in, Options{Format: JSONL}, nil)
	want := []map[string]any{{"type": "track", "event": "Order Completed", "messageId": "imp-0123456789abcdef-1", "userId": "7",
		"timestamp":  "2025-11-24T16:00:00Z",
		"properties": map[string]any{"sku": "A1", "items": []any{map[string]any{"sku": "A1"}}, "total": 12.5, "paid": true},
		"context":    map[string]any{"traits": map[string]any{"email": "a@x.io"}, "import": map[string]any{"id": "imp_1", "row": 1.0, "line": 1.0}}}}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	wantProbs := []Problem{
		{Line: 2, Row: 2, Column: "kind", Reason: "The event name is empty."},
		{Line: 3, Row: 3, Column: "customer.id", Reason: "An identifier must be text, not an object."},
		{Line: 3, Row: 3, Column: "at", Reason: `"soon" is not a date in the format unix.`},
	}
	if diff := cmp.Diff(wantProbs, probs); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestMapGatewayRules(t *testing.T) {
	// The gateway's limits hold for imported rows: 32 KB per event.
	mapping := "identifiers: {userId: id}\ntraits: {bio: bio}\n"
	in := "id,bio\n1," + strings.Repeat("x", 40<<10) + "\n2,short\n"
	calls, probs := mapAll(t, mapping, in, Options{}, nil)
	if len(calls) != 1 || len(probs) != 1 || probs[0].Line != 2 || !strings.Contains(probs[0].Reason, "32 KB") {
		t.Fatalf("calls=%d problems=%v", len(calls), probs)
	}
	// A row whose only identifiers are unusable is bad; one usable identifier is enough.
	check := func(path, v string) error {
		if strings.Contains(v, "@") || path == "userId" {
			return nil
		}
		return mosaic.Errorf(mosaic.EINVALID, "Not an email address.")
	}
	calls, probs = mapAll(t, "identifiers: {userId: id, email: email}\n", "id,email\n,nope\n1,nope\n,a@b.io\n", Options{}, check)
	if len(calls) != 2 || len(probs) != 1 || probs[0].Reason != `No usable identifier: "nope" not an email address.` || probs[0].Column != "email" {
		t.Fatalf("calls=%d problems=%v", len(calls), probs)
	}
	// Every unusable value is named, with its column (trial 12: only the first was).
	calls, probs = mapAll(t, "identifiers: {customer_number: no, email: email}\n", "no,email\nx1,nope\n", Options{}, check)
	if len(calls) != 0 || len(probs) != 1 || probs[0].Reason != `No usable identifier: "x1" (no) not an email address; "nope" (email) not an email address.` || probs[0].Column != "no" {
		t.Fatalf("calls=%d problems=%v", len(calls), probs)
	}
}

func TestParseMappingErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		line       int
		field, msg string
	}{
		{"not YAML", "type: [", 0, "", "not valid YAML"},
		{"empty", "", 0, "", "empty"},
		{"list", "- a\n", 1, "", "map of settings"},
		{"unknown setting", "identifiers: {userId: id}\ncolour: red\n", 2, "colour", "Unknown setting"},
		{"bad type", "type: page\n", 1, "type", "use identify"},
		{"no identifiers", "type: identify\ntraits: {a: b}\n", 0, "identifiers", "needs identifiers"},
		{"track without event", "type: track\nidentifiers: {userId: id}\n", 1, "event", "event name"},
		{"identify with properties", "identifiers: {userId: id}\nproperties: {a: b}\n", 2, "properties", "traits, not properties"},
		{"unknown field type", "identifiers: {userId: id}\ntraits:\n  a: {column: x, type: money}\n", 3, "traits.a.type", "Unknown type"},
		{"unknown field setting", "identifiers: {userId: id}\ntraits:\n  a: {column: x, colour: red}\n", 3, "traits.a.colour", "Unknown field setting"},
		{"bad date format", "identifiers: {userId: id}\ntraits:\n  a: {column: x, type: date, format: \"%d.%Q\"}\n", 3, "traits.a.format", "unknown directive %Q"},
		{"format on a string", "identifiers: {userId: id}\ntraits:\n  a: {column: x, format: \"%d\"}\n", 3, "traits.a.format", "for dates"},
		{"bad zone", "identifiers: {userId: id}\ntimezone: Mars/Olympus\n", 2, "timezone", "Unknown time zone"},
		{"column and value", "identifiers: {userId: id}\ntraits:\n  a: {column: x, value: 1}\n", 3, "traits.a", "not both"},
		{"nothing", "identifiers: {userId: id}\ntraits:\n  a: {type: number}\n", 3, "traits.a", "Give the column"},
		{"clash", "identifiers: {email: e}\ntraits:\n  email: f\n", 3, "traits.email", "already set by identifiers.email"},
		{"nested clash", "identifiers: {userId: id}\ntraits:\n  a: x\n  a.b: y\n", 4, "traits.a.b", "inside the other"},
		{"bad delimiter", "identifiers: {userId: id}\ncsv: {delimiter: ab}\n", 2, "csv.delimiter", "one ASCII character"},
		{"bad encoding", "identifiers: {userId: id}\ncsv: {encoding: ebcdic}\n", 2, "csv.encoding", "Unknown encoding"},
		{"typed identifier", "identifiers:\n  userId: {column: id, type: number}\n", 2, "identifiers.userId.type", "Identifiers are text"},
		{"twice", "identifiers: {userId: id}\nidentifiers: {userId: id}\n", 2, "identifiers", "set twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMapping([]byte(tc.in))
			var me *MappingError
			if !errors.As(err, &me) || mosaic.ErrorCode(err) != mosaic.EINVALID {
				t.Fatalf("err=%v, want an invalid error with a MappingError", err)
			}
			if me.Line != tc.line || me.Field != tc.field || !strings.Contains(me.Message, tc.msg) {
				t.Fatalf("got line %d field %q %q, want line %d field %q containing %q", me.Line, me.Field, me.Message, tc.line, tc.field, tc.msg)
			}
			if mosaic.ErrorField(err) != tc.field {
				t.Fatalf("mosaic field %q", mosaic.ErrorField(err))
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	m, err := ParseMapping([]byte("identifiers:\n  userId: id\ntraits:\n  name: Full Name\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Compile(CompileOptions{Target: Target{FileHash: testHash}, Columns: []string{"id", "name"}})
	var me *MappingError
	if !errors.As(err, &me) || me.Line != 4 || me.Field != "traits.name" || !strings.Contains(me.Message, `Column "Full Name" is not in the file's header (its columns: "id", "name")`) {
		t.Fatalf("err=%v", err)
	}
	// A header that is a JSON object: the file is JSON lines read as CSV (trial 12).
	_, err = m.Compile(CompileOptions{Target: Target{FileHash: testHash}, Format: CSV, Columns: []string{`{"id": 1`, ` "name": "Ada"}`}})
	if !errors.As(err, &me) || me.Line != 2 || !strings.Contains(me.Message, "looks like JSON lines") {
		t.Fatalf("JSON lines read as CSV: %v", err)
	}
	// Case and spaces are forgiven.
	if _, err := m.Compile(CompileOptions{Target: Target{FileHash: testHash}, Columns: []string{"ID", " full name "}}); err != nil {
		t.Fatal(err)
	}
}

func TestTimeFormats(t *testing.T) {
	for _, tc := range []struct{ format, tz, in, want string }{
		{"", "", "2026-11-26T10:00:00Z", "2026-11-26T10:00:00Z"},
		{"", "", "2026-11-26T10:00:00.123+01:00", "2026-11-26T09:00:00.123Z"},
		{"", "Europe/Copenhagen", "2026-11-26 10:00:00", "2026-11-26T09:00:00Z"},
		{"", "", "2026-11-26", "2026-11-26T00:00:00Z"},
		{"%d.%m.%Y %H:%M:%S.%f", "", "26.11.2026 10:00:01.5", "2026-11-26T10:00:01.5Z"},
		{"%m/%d/%y %I:%M %p", "", "11/26/26 03:04 PM", "2026-11-26T15:04:00Z"},
		{"%e %b %Y", "", " 6 Nov 2026", "2026-11-06T00:00:00Z"},
		{"%Y-%m-%dT%H:%M:%S%z", "", "2026-11-26T10:00:00+0200", "2026-11-26T08:00:00Z"},
		{"%F %T", "", "2026-11-26 10:00:00", "2026-11-26T10:00:00Z"},
		{"02.01.2006", "", "26.11.2026", "2026-11-26T00:00:00Z"},
		{"unix", "", "1764151200", "2025-11-26T10:00:00Z"},
		{"unix_ms", "", "1764151200500", "2025-11-26T10:00:00.5Z"},
		{"excel", "", "46352.5", "2026-11-26T12:00:00Z"},
	} {
		p, err := newTimeParser(tc.format, tc.tz)
		if err != nil {
			t.Fatalf("%q: %v", tc.format, err)
		}
		got, ok := p.parse(tc.in)
		if !ok || got.UTC().Format("2006-01-02T15:04:05.999999999Z07:00") != tc.want {
			t.Errorf("%q %q: %v %v, want %s", tc.format, tc.in, got.UTC(), ok, tc.want)
		}
	}
	for _, bad := range []struct{ format, in string }{
		{"", "26/11/2026"}, {"%d.%m.%Y", "31.02.2026"}, {"unix", "1e400"}, {"unix", "0x10"}, {"excel", "-3"},
	} {
		p, _ := newTimeParser(bad.format, "")
		if _, ok := p.parse(bad.in); ok {
			t.Errorf("%q %q parsed", bad.format, bad.in)
		}
	}
	for _, f := range []string{"%d.%m.%Y T1", "%Q", "%", "Jan %d", "DD/MM/YYYY"} {
		if _, err := newTimeParser(f, ""); err == nil {
			t.Errorf("format %q accepted", f)
		}
	}
}

func TestNumbers(t *testing.T) {
	for _, tc := range []struct {
		in, dec, th string
		want        float64
		ok          bool
	}{
		{"1.5", "", "", 1.5, true}, {"-2", "", "", -2, true}, {"1,5", ",", "", 1.5, true}, {"1.234,5", ",", ".", 1234.5, true},
		{"1,234.5", "", ",", 1234.5, true}, {"1e3", "", "", 1000, true}, {"0x10", "", "", 0, false}, {"NaN", "", "", 0, false},
		{"Inf", "", "", 0, false}, {"1_000", "", "", 0, false}, {"1.2.3", "", "", 0, false}, {"", "", "", 0, false}, {"1.5", ",", "", 0, false},
	} {
		got, ok := parseNumber(tc.in, tc.dec, tc.th)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("parseNumber(%q, %q, %q) = %v %v", tc.in, tc.dec, tc.th, got, ok)
		}
	}
	if got := string(appendNumber(nil, 1e21)); got != "1e+21" {
		t.Errorf("1e21 → %s", got)
	}
}

// idsOf maps in with mapping, read with opts, and returns each row's messageId and
// anonymousId.
func idsOf(t *testing.T, mapping, in string, opts Options) (msgIDs, anonIDs []string) {
	t.Helper()
	m, err := ParseMapping([]byte(mapping))
	if err != nil {
		t.Fatal(err)
	}
	opts.Format = CSV
	rd, err := NewReader(strings.NewReader(in), opts)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := m.Compile(CompileOptions{Target: Target{SourceID: "src", FileHash: testHash, MappingHash: m.Digest(opts)},
		Format: CSV, Columns: rd.Columns()})
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return msgIDs, anonIDs
		}
		payload, id, probs := mp.Map(rec)
		if probs != nil {
			t.Fatalf("problems: %v", probs)
		}
		var call struct{ AnonymousID string }
		if err := json.Unmarshal(payload, &call); err != nil {
			t.Fatal(err)
		}
		msgIDs, anonIDs = append(msgIDs, id), append(anonIDs, call.AnonymousID)
	}
}

// TestMessageIDsFollowTheMapping: a profile row's messageId changes with what the mapping
// makes of the row, so that a corrected mapping re-states the rows (re-stating traits is
// harmless); an event row's does not, so that no event is ever stored twice. Generated
// anonymousIds never depend on the mapping.
func TestMessageIDsFollowTheMapping(t *testing.T) {
	const in = "id,email,name\n1,ada@example.com,Ada\n,bob@example.com,Bob\n"
	identify := "identifiers: {userId: id, email: email}\ntraits: {name: name}\n"
	ids, anons := idsOf(t, identify, in, Options{})
	for _, tc := range []struct {
		name, mapping string
		opts          Options
		same          bool
	}{
		{"same mapping", identify, Options{}, true},
		{"comments and layout", "# CRM\nidentifiers:\n  userId: id   # the customer number\n  email: email\ntraits: {name: name}\n", Options{}, true},
		{"a trait added", identify + "  country: {value: DK}\n", Options{}, false},
		{"a column's type", "identifiers: {userId: id, email: email}\ntraits: {name: {column: name, type: list}}\n", Options{}, false},
		{"the encoding", identify, Options{Encoding: EncodingLatin1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, gotAnons := idsOf(t, strings.Replace(tc.mapping, "traits: {name: name}\n", "traits:\n  name: name\n", 1), in, tc.opts)
			for i := range ids {
				if (got[i] == ids[i]) != tc.same {
					t.Errorf("row %d: messageId %s, first mapping's %s (want the same: %v)", i+1, got[i], ids[i], tc.same)
				}
				if !strings.HasPrefix(got[i], "imp-"+testHash[:16]+"-") || len(got[i]) > mosaic.MaxMessageIDLength {
					t.Errorf("row %d: messageId %s", i+1, got[i])
				}
			}
			if diff := cmp.Diff(anons, gotAnons); diff != "" {
				t.Errorf("anonymousIds changed with the mapping (-first +now):\n%s", diff)
			}
		})
	}
	if anons[1] != "imp-"+testHash[:16]+"-2" {
		t.Errorf("generated anonymousId %q, want it from the file and row", anons[1])
	}

	// Events: the same messageIds whatever the mapping says, keyed or not.
	for _, tc := range []struct{ name, before, after string }{
		{"keyed", "type: track\nevent: Order Completed\nkey: id\nidentifiers: {email: email}\n",
			"type: track\nevent: Order Completed\nkey: id\nidentifiers: {email: email}\nproperties: {name: name}\n"},
		{"unkeyed", "type: track\nevent: Order Completed\nidentifiers: {email: email}\n",
			"type: track\nevent: Order Completed\nidentifiers: {email: email}\nproperties: {name: name}\n"},
	} {
		before, _ := idsOf(t, tc.before, "id,email,name\n1,ada@example.com,Ada\n2,bob@example.com,Bob\n", Options{})
		after, _ := idsOf(t, tc.after, "id,email,name\n1,ada@example.com,Ada\n2,bob@example.com,Bob\n", Options{})
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("%s events: messageIds changed with the mapping (-before +after):\n%s", tc.name, diff)
		}
	}
}

func TestNumberHints(t *testing.T) {
	for _, tc := range []struct{ field, in, want string }{
		{`{column: x, type: number, decimal: ","}`, "1.234,50", `"1.234,50" is not a number with decimal ","; add thousands: "." for a thousands separator.`},
		{`{column: x, type: number, decimal: ","}`, "1 234,50", `"1 234,50" is not a number with decimal ","; add thousands: " " for a thousands separator.`},
		{`{column: x, type: number}`, "1,234,567.5", `"1,234,567.5" is not a number with decimal "."; add thousands: "," for a thousands separator.`},
		{`{column: x, type: number}`, "12,5", `"12,5" is not a number with decimal "."; add decimal: "," for a decimal comma.`},
		{`{column: x, type: number}`, "1,234", `"1,234" is not a number with decimal "."; add thousands: "," for a thousands separator, or decimal: "," for a decimal comma.`},
		{`{column: x, type: integer}`, "1.234", `"1.234" is not an integer; add thousands: "." for a thousands separator.`},
		// No hint where none would help.
		{`{column: x, type: number, decimal: ","}`, "12,x", `"12,x" is not a number.`},
		{`{column: x, type: number, decimal: ","}`, "1.5", `"1.5" is not a number.`},
		{`{column: x, type: number, decimal: ",", thousands: "."}`, "1,234,50", `"1,234,50" is not a number.`},
		{`{column: x, type: number}`, "12.34,5", `"12.34,5" is not a number.`},
	} {
		_, probs := mapAll(t, "identifiers: {userId: id}\ntraits:\n  v: "+tc.field+"\n", "id;x\n1;"+tc.in+"\n", Options{}, nil)
		if len(probs) != 1 || probs[0].Reason != tc.want {
			t.Errorf("%s %q: problems %v, want %q", tc.field, tc.in, probs, tc.want)
		}
	}
}

func TestDelimiterHint(t *testing.T) {
	m, err := ParseMapping([]byte("csv: {delimiter: \";\"}\nidentifiers: {userId: a}\ntraits: {b: b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		header string
		delim  byte
		want   string
	}{
		{"a,b,c", ';', `Column "a" is not in the file's header, which has one column "a,b,c": is the delimiter "," rather than ";"?`},
		{"a\tb\tc", ',', `Column "a" is not in the file's header, which has one column "a\tb\tc": is the delimiter tab rather than ","?`},
		{"a|b;c|d", 0, `Column "a" is not in the file's header, which has one column "a|b;c|d": is the delimiter "|"?`},
		{"x", ';', `Column "a" is not in the file's header (its columns: "x").`},
		{"x,y", ',', `Column "a" is not in the file's header (its columns: "x,y").`},
	} {
		_, err := m.Compile(CompileOptions{Target: Target{FileHash: testHash}, Columns: []string{tc.header}, Delimiter: tc.delim})
		var me *MappingError
		if !errors.As(err, &me) || me.Message != tc.want || me.Field != "identifiers.userId" {
			t.Errorf("header %q: err=%v, want %q", tc.header, err, tc.want)
		}
	}
}

// TestRowsWithoutATime: a row with no time of its own is stated as of the target's AsOf (the
// file's first import), or as of the mapping's timestamp value (when the export was taken);
// a row's own timestamp wins (trial 12: reading a CRM export again restated its opt-in as
// newer than a later opt-out).
func TestRowsWithoutATime(t *testing.T) {
	asOf := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	run := func(mapping, in string) []any {
		t.Helper()
		m, err := ParseMapping([]byte(mapping))
		if err != nil {
			t.Fatal(err)
		}
		rd, err := NewReader(strings.NewReader(in), Options{Format: CSV})
		if err != nil {
			t.Fatal(err)
		}
		mp, err := m.Compile(CompileOptions{Target: Target{SourceID: "src_crm", FileHash: testHash, AsOf: asOf}, Format: CSV, Columns: rd.Columns()})
		if err != nil {
			t.Fatal(err)
		}
		var got []any
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				return got
			}
			payload, _, probs := mp.Map(rec)
			if probs != nil {
				t.Fatalf("problems: %v", probs)
			}
			var call map[string]any
			if err := json.Unmarshal(payload, &call); err != nil {
				t.Fatal(err)
			}
			got = append(got, call["timestamp"])
		}
	}
	in := "id,opt_in,updated\n1,yes,2026-05-01\n2,no,\n"
	if diff := cmp.Diff([]any{"2026-03-01T09:00:00Z", "2026-03-01T09:00:00Z"}, run("identifiers: {userId: id}\ntraits: {opt_in: opt_in}\n", in)); diff != "" {
		t.Errorf("no timestamp in the mapping (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{"2026-05-01T00:00:00Z", "2026-03-01T09:00:00Z"}, run("identifiers: {userId: id}\ntimestamp: {column: updated, required: false}\n", in)); diff != "" {
		t.Errorf("an optional timestamp column (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{"2024-01-31T23:00:00Z", "2024-01-31T23:00:00Z"}, run("identifiers: {userId: id}\ntimezone: Europe/Copenhagen\ntimestamp: {value: \"2024-02-01\"}\n", in)); diff != "" {
		t.Errorf("the timestamp's value (-want +got):\n%s", diff)
	}
	// As the API takes them: an offset without a colon; and a number for format: unix (trial 13).
	if diff := cmp.Diff([]any{"2024-05-01T00:30:00Z", "2024-05-01T00:30:00Z"}, run("identifiers: {userId: id}\ntimestamp: {value: \"2024-05-01T06:00:00+0530\"}\n", in)); diff != "" {
		t.Errorf("an offset without a colon (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{"2024-05-01T06:00:00Z", "2024-05-01T06:00:00Z"}, run("identifiers: {userId: id}\ntimestamp: {value: 1714543200, format: unix}\n", in)); diff != "" {
		t.Errorf("a unix time as a number (-want +got):\n%s", diff)
	}

	for _, tc := range []struct{ mapping, field, msg string }{
		{"identifiers: {userId: id}\ntimestamp: {required: false}\n", "timestamp", "Give the column it comes from"},
		{"identifiers: {userId: id}\ntimestamp: {column: updated, value: \"2024-02-01\"}\n", "timestamp", "not both"},
		{"identifiers: {userId: id}\ntimestamp: {value: [2024]}\n", "timestamp.value", "is a time"},
	} {
		_, err := ParseMapping([]byte(tc.mapping))
		var me *MappingError
		if !errors.As(err, &me) || me.Line != 2 || me.Field != tc.field || !strings.Contains(me.Message, tc.msg) {
			t.Errorf("%q: %v, want line 2 %s %q", tc.mapping, err, tc.field, tc.msg)
		}
	}
	m, err := ParseMapping([]byte("identifiers: {userId: id}\ntimestamp: {value: \"last tuesday\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Compile(CompileOptions{Target: Target{FileHash: testHash}, Format: CSV, Columns: []string{"id"}})
	var me *MappingError
	if !errors.As(err, &me) || me.Line != 2 || me.Field != "timestamp.value" || !strings.Contains(me.Message, `"last tuesday" is not`) {
		t.Errorf("a value that is not a time: %v", err)
	}
}

// TestBooleanWords: a boolean column may declare its own words (trial 12: a Danish CRM's
// ja/nej made every row bad).
func TestBooleanWords(t *testing.T) {
	mapping := "identifiers: {userId: id}\ntraits:\n  opt_in: {column: opt, type: boolean, true_values: [ja, J], false_values: nej}\n"
	calls, probs := mapAll(t, mapping, "id,opt\n1,Ja\n2,nej\n3,yes\n4,måske\n", Options{}, nil)
	var got []any
	for _, c := range calls {
		got = append(got, c["traits"].(map[string]any)["opt_in"])
	}
	if diff := cmp.Diff([]any{true, false, true}, got); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if len(probs) != 1 || !strings.Contains(probs[0].Reason, `"måske" is not a boolean (use true/false, yes/no, 1/0, or the words of true_values and false_values)`) {
		t.Errorf("problems: %v", probs)
	}
	for _, tc := range []struct{ mapping, msg string }{
		{"identifiers: {userId: id}\ntraits:\n  opt: {column: opt, true_values: [ja]}\n", "set type: boolean"},
		{"identifiers: {userId: id}\ntraits:\n  opt: {column: opt, type: boolean, true_values: [ja], false_values: [JA]}\n", "in both"},
		{"identifiers: {userId: id}\ntraits:\n  opt: {column: opt, type: boolean, true_values: {a: b}}\n", "a word or a list of words"},
	} {
		_, err := ParseMapping([]byte(tc.mapping))
		var me *MappingError
		if !errors.As(err, &me) || me.Line != 3 || !strings.Contains(me.Message, tc.msg) {
			t.Errorf("%q: %v, want line 3 %q", tc.mapping, err, tc.msg)
		}
	}
}

package bulk

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/mosaic-cdp/mosaic/segment"
)

// recordsOf reads every record of data and returns a printable summary of each.
func recordsOf(t *testing.T, r io.Reader, opts Options, size int) []string {
	rd, err := NewReader(r, opts)
	if err != nil {
		if strings.HasSuffix(err.Error(), "..") {
			t.Fatalf("error %q ends in two periods", err)
		}
		return []string{"error: " + err.Error()}
	}
	var out []string
	prev := Position{Offset: -1, Line: 1}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read error from memory: %v", err)
		}
		if rec.Line < prev.Line || rec.End.Offset <= prev.Offset || rec.End.Offset > int64(size) || rec.Row != prev.Row+1 ||
			rec.End.Line < rec.Line {
			t.Fatalf("record %d at line %d ends at %+v after %+v", rec.Row, rec.Line, rec.End, prev)
		}
		if rec.End.Line == rec.Line && rec.End.Offset < int64(size) {
			t.Fatalf("record %d ends on its own line %d before the input ends", rec.Row, rec.Line)
		}
		for _, p := range rec.Problems {
			if p.Line != rec.Line || p.Row != rec.Row || p.Reason == "" || strings.HasSuffix(p.Reason, "..") {
				t.Fatalf("problem %+v of record at line %d", p, rec.Line)
			}
		}
		if len(rec.Problems) == 0 && opts.Format == CSV && len(rec.fields) != len(rd.Columns()) {
			t.Fatalf("record at line %d has %d fields, %d columns", rec.Line, len(rec.fields), len(rd.Columns()))
		}
		prev = rec.End
		out = append(out, strings.Join(rec.fields, "\x00")+"|"+strings.Join(func() []string {
			var s []string
			for _, p := range rec.Problems {
				s = append(s, p.String())
			}
			return s
		}(), ";"))
	}
}

// FuzzReader checks the readers' invariants on any input: lines and offsets only move
// forward, every problem is at its row's line, good CSV rows have one field per column, and
// the result does not depend on how the input arrives (all at once or byte by byte).
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n", "a,b\r\n\"x\ny\",\"q\"\"\"\r\n", "\xEF\xBB\xBFa;b\n1;2", "a,b\n\"open\n1,2\n", "a\tb\n1\t\"2\"x\n",
		"a,b\nJos\xe9,1\n", "a,b\n1,2,3\n\n\n4,5\n", "x\r1\r2", "{\"a\":1}\n{bad}\n[1]\n\n{\"b\":{\"c\":2}}",
		"\"a\"x,b\n1,2\n", // a broken header
	} {
		f.Add([]byte(s), false, uint8(0))
		f.Add([]byte(s), true, uint8(40))
	}
	f.Fuzz(func(t *testing.T, data []byte, jsonl bool, max uint8) {
		opts := Options{Format: CSV, MaxRecordBytes: int(max)}
		if jsonl {
			opts.Format = JSONL
		}
		whole := recordsOf(t, bytes.NewReader(data), opts, len(data))
		bytewise := recordsOf(t, iotest.OneByteReader(bytes.NewReader(data)), opts, len(data))
		if diff := cmp.Diff(whole, bytewise); diff != "" {
			t.Fatalf("whole vs byte by byte (-whole +bytewise):\n%s", diff)
		}
	})
}

var fuzzMappings = []string{
	"identifiers: {userId: a, email: b}\ntraits: {n: {column: c, type: number}, d: {column: d, type: date}, l: {column: e, type: list}}\n",
	"type: track\nevent: E\nkey: a\ntimestamp: {column: d, format: \"%d.%m.%Y\", required: false}\nidentifiers: {email: b}\nproperties: {x: c, j: {column: e, type: json}, i: {column: d, type: integer}, v: {column: c, type: boolean}}\n",
}

// FuzzMap maps any rows: every payload Map returns passes the gateway's validation and has
// a messageId, and a row is either a call or problems, never both or neither.
func FuzzMap(f *testing.F) {
	for i := range fuzzMappings {
		f.Add([]byte("a,b,c,d,e\nu1,ada@example.com,1.5,2026-11-26,x|y\n,,,,\n"), uint8(i), false)
		f.Add([]byte("a,b,c,d,e\n1,\"a\nb\",\"{\"\"k\"\":1}\",26.11.2026,true\n"), uint8(i), false)
		f.Add([]byte(`{"a":1,"b":"x@y.z","c":{"k":[1]},"d":"2026-11-26","e":[1,2]}`+"\n"), uint8(i), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8, jsonl bool) {
		m, err := ParseMapping([]byte(fuzzMappings[int(which)%len(fuzzMappings)]))
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{Format: CSV}
		if jsonl {
			opts.Format = JSONL
		}
		rd, err := NewReader(bytes.NewReader(data), opts)
		if err != nil {
			return
		}
		mp, err := m.Compile(CompileOptions{Target: Target{SourceID: "src", FileHash: testHash}, Format: opts.Format, Columns: rd.Columns()})
		if err != nil {
			return // the header lacks a column
		}
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			payload, id, probs := mp.Map(rec)
			if (payload == nil) == (probs == nil) {
				t.Fatalf("line %d: payload %q and problems %v", rec.Line, payload, probs)
			}
			for _, p := range probs {
				if strings.HasSuffix(p.Reason, "..") {
					t.Fatalf("line %d: problem %q ends in two periods", rec.Line, p.Reason)
				}
			}
			if payload != nil {
				if id == "" || len(payload) > segment.MaxEventBytes {
					t.Fatalf("line %d: messageId %q, %d bytes", rec.Line, id, len(payload))
				}
				if _, err := segment.ParseRequest(payload, string(m.Type)); err != nil {
					t.Fatalf("line %d: %s\n%v", rec.Line, payload, err)
				}
			}
		}
	})
}

// FuzzParseMapping checks that no mapping file makes the parser panic and that every
// refusal names a problem.
func FuzzParseMapping(f *testing.F) {
	for _, s := range fuzzMappings {
		f.Add([]byte(s))
	}
	f.Add([]byte("type: track\nevent: [\n"))
	f.Add([]byte("{\"identifiers\":{\"userId\":\"id\"},\"csv\":{\"delimiter\":\"tab\",\"header\":false,\"columns\":[\"id\"]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMapping(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if len(m.Identifiers) == 0 {
			t.Fatal("a mapping without identifiers was accepted")
		}
	})
}

package bulk

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// row is a record as a test sees it.
type row struct {
	Line    int64
	Fields  []string
	Problem string // the first problem's column and reason, "col: reason"
}

func readAll(t *testing.T, r io.Reader, opts Options) ([]string, []row, *Reader) {
	t.Helper()
	rd, err := NewReader(r, opts)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	var out []row
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		r := row{Line: rec.Line}
		if len(rec.Problems) > 0 {
			r.Problem = rec.Problems[0].Column + ": " + rec.Problems[0].Reason
		} else if rec.fields != nil {
			r.Fields = append([]string{}, rec.fields...)
		} else {
			r.Fields = []string{fmt.Sprint(rec.obj)}
		}
		out = append(out, r)
	}
	return rd.Columns(), out, rd
}

func TestCSV(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		opts Options
		cols []string
		want []row
	}{
		{name: "plain", in: "a,b\n1,2\n3,4\n", cols: []string{"a", "b"},
			want: []row{{Line: 2, Fields: []string{"1", "2"}}, {Line: 3, Fields: []string{"3", "4"}}}},
		{name: "no final newline, CRLF, blank lines", in: "a,b\r\n\r\n1,2\r\n\n3,4", cols: []string{"a", "b"},
			want: []row{{Line: 3, Fields: []string{"1", "2"}}, {Line: 5, Fields: []string{"3", "4"}}}},
		{name: "quotes", in: "a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\"\",\n", cols: []string{"a", "b"},
			want: []row{{Line: 2, Fields: []string{"x, y", `say "hi"`}}, {Line: 3, Fields: []string{"", ""}}}},
		{name: "bare quotes in unquoted fields are text", in: "a,b\n5'10\",12\" pizza\n", cols: []string{"a", "b"},
			want: []row{{Line: 2, Fields: []string{`5'10"`, `12" pizza`}}}},
		{name: "multiline cells keep the line count", in: "a,b\n\"one\ntwo\r\nthree\",x\n1,2\n", cols: []string{"a", "b"},
			want: []row{{Line: 2, Fields: []string{"one\ntwo\nthree", "x"}}, {Line: 5, Fields: []string{"1", "2"}}}},
		{name: "BOM", in: "\xEF\xBB\xBFid;name\n1;Zoë\n", cols: []string{"id", "name"},
			want: []row{{Line: 2, Fields: []string{"1", "Zoë"}}}},
		{name: "sniffed tab", in: "id\tname, full\n1\tA, B\n", cols: []string{"id", "name, full"},
			want: []row{{Line: 2, Fields: []string{"1", "A, B"}}}},
		{name: "sniffed pipe", in: "id|n\n1|x\n", cols: []string{"id", "n"}, want: []row{{Line: 2, Fields: []string{"1", "x"}}}},
		{name: "given delimiter", in: "a;b,c\n1;2,3\n", opts: Options{Delimiter: ';'}, cols: []string{"a", "b,c"},
			want: []row{{Line: 2, Fields: []string{"1", "2,3"}}}},
		{name: "classic Mac CR", in: "a,b\r1,2\r3,4", cols: []string{"a", "b"},
			want: []row{{Line: 2, Fields: []string{"1", "2"}}, {Line: 3, Fields: []string{"3", "4"}}}},
		{name: "Latin-1 sniffed", in: "id,name\n1,Jos\xe9\n2,M\xfcller \x80\n", cols: []string{"id", "name"},
			want: []row{{Line: 2, Fields: []string{"1", "José"}}, {Line: 3, Fields: []string{"2", "Müller €"}}}},
		{name: "Latin-1 declared", in: "id,name\n1,Jos\xe9 \x80\n", opts: Options{Encoding: EncodingLatin1}, cols: []string{"id", "name"},
			want: []row{{Line: 2, Fields: []string{"1", "José \u0080"}}}},
		{name: "strict UTF-8", in: "id,name\n1,Jos\xe9\n2,ok\n", opts: Options{Encoding: EncodingUTF8}, cols: []string{"id", "name"},
			want: []row{{Line: 2, Problem: "name: The value is not valid UTF-8 (is the file Latin-1? say so with encoding: latin-1)."}, {Line: 3, Fields: []string{"2", "ok"}}}},
		{name: "ragged", in: "a,b,c\n1,2\n1,2,3,4\n1,2,3\n", cols: []string{"a", "b", "c"},
			want: []row{{Line: 2, Problem: ": The row has 2 fields; the header has 3."}, {Line: 3, Problem: ": The row has 4 fields; the header has 3."},
				{Line: 4, Fields: []string{"1", "2", "3"}}}},
		{name: "text after closing quote", in: "a,b\n\"x\"y,1\n2,3\n", cols: []string{"a", "b"},
			want: []row{{Line: 2, Problem: "a: Unexpected text after a closing quote on line 2 (a quote inside a quoted field must be doubled)."},
				{Line: 3, Fields: []string{"2", "3"}}}},
		{name: "quote never closes: the rows after it are read again", in: "a,b\n1,\"open\n2,x\n3,y\n", cols: []string{"a", "b"},
			want: []row{{Line: 2, Problem: "b: The quoted field that starts on line 2 never ends (a quote is missing)."},
				{Line: 3, Fields: []string{"2", "x"}}, {Line: 4, Fields: []string{"3", "y"}}}},
		{name: "stray opening quotes", in: "a,b\n1,\"x\n2,\"y\n3,z\n", cols: []string{"a", "b"},
			want: []row{{Line: 2, Problem: "b: Unexpected text after a closing quote on line 3 (a quote inside a quoted field must be doubled)."},
				{Line: 3, Problem: "b: The quoted field that starts on line 3 never ends (a quote is missing)."}, {Line: 4, Fields: []string{"3", "z"}}}},
		{name: "too long", in: "a,b\n1," + strings.Repeat("x", 100) + "\n2,y\n", opts: Options{MaxRecordBytes: 50}, cols: []string{"a", "b"},
			want: []row{{Line: 2, Problem: ": The row is longer than 50 bytes."}, {Line: 3, Fields: []string{"2", "y"}}}},
		{name: "too long quoted", in: "a,b\n1,\"" + strings.Repeat("x\n", 60) + "\"\n2,y\n", opts: Options{MaxRecordBytes: 50}, cols: []string{"a", "b"},
			want: func() []row {
				// The bad row, then each of its lines is read again as a row of its own.
				out := []row{{Line: 2, Problem: "b: The row is longer than 50 bytes (a quote is probably missing)."}}
				for l := int64(3); l < 62; l++ {
					out = append(out, row{Line: l, Problem: ": The row has 1 fields; the header has 2."})
				}
				out = append(out, row{Line: 62, Problem: "a: The quoted field that starts on line 62 never ends (a quote is missing)."})
				return append(out, row{Line: 63, Fields: []string{"2", "y"}})
			}()},
		{name: "no header", in: "1,2\n3,4\n", opts: Options{NoHeader: true}, cols: []string{"1", "2"},
			want: []row{{Line: 1, Fields: []string{"1", "2"}}, {Line: 2, Fields: []string{"3", "4"}}}},
		{name: "no header, named", in: "1,2\n", opts: Options{NoHeader: true, Columns: []string{"id", "n"}}, cols: []string{"id", "n"},
			want: []row{{Line: 1, Fields: []string{"1", "2"}}}},
		{name: "header only", in: "a,b\n", cols: []string{"a", "b"}},
		{name: "empty last field", in: "a,b\n1,\n", cols: []string{"a", "b"}, want: []row{{Line: 2, Fields: []string{"1", ""}}}},
		{name: "quoted last field at EOF", in: "a,b\n1,\"x\"", cols: []string{"a", "b"}, want: []row{{Line: 2, Fields: []string{"1", "x"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Byte by byte too: no buffer boundary may change the result.
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				cols, got, _ := readAll(t, r, tc.opts)
				if diff := cmp.Diff(tc.cols, cols); diff != "" {
					t.Errorf("columns (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("rows (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "no header row"},
		{"UTF-16", "\xFF\xFEa\x00", "UTF-16"},
		{"broken header", "\"a,b\n", "header row cannot be read"},
		{"text after a quote", "\"a\"x,b\n1,2\n", "header row cannot be read: unexpected text after a closing quote on line 1 (a quote inside a quoted field must be doubled)."},
		// JSON lines read as CSV (a .txt file): the error says what the file looks like (trial 12).
		{"JSON lines", "{\"order_id\":\"K-1\",\"amount\":10}\n{\"order_id\":\"K-2\",\"amount\":12}\n", "The file looks like JSON lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tc.in), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want %q", err, tc.want)
			}
			if strings.HasSuffix(err.Error(), "..") {
				t.Fatalf("err=%q ends in two periods", err)
			}
		})
	}
	if _, err := NewReader(iotest.ErrReader(errors.New("disk on fire")), Options{}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("read error: %v", err)
	}
}

// TestCSVLikeEncodingCSV checks that well-formed files read as encoding/csv reads them
// (which follows RFC 4180), on random files with quotes, delimiters and line breaks in cells.
func TestCSVLikeEncodingCSV(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "Z", " ", ",", "\"", "\n", "\r\n", "é", "€", ";"}
	for n := range 300 {
		cols := 1 + rng.IntN(5)
		var recs [][]string
		for range 1 + rng.IntN(20) {
			rec := make([]string, cols)
			for i := range rec {
				var sb strings.Builder
				for range rng.IntN(8) {
					sb.WriteString(alphabet[rng.IntN(len(alphabet))])
				}
				rec[i] = sb.String()
			}
			if cols == 1 && rec[0] == "" {
				rec[0] = "x" // a blank line is not a row
			}
			recs = append(recs, rec)
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.UseCRLF = n%2 == 0
		w.WriteAll(recs)
		want, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		_, got, _ := readAll(t, iotest.HalfReader(bytes.NewReader(buf.Bytes())), Options{Delimiter: ','})
		var gotFields [][]string
		gotFields = append(gotFields, want[0]) // the header
		for _, r := range got {
			if r.Problem != "" {
				t.Fatalf("file %d: problem %s in\n%q", n, r.Problem, buf.String())
			}
			gotFields = append(gotFields, r.Fields)
		}
		// encoding/csv keeps \r of a CRLF inside quotes as \n too; only compare what it reads.
		if diff := cmp.Diff(want, gotFields); diff != "" {
			t.Fatalf("file %d (-encoding/csv +bulk):\n%s\n%q", n, diff, buf.String())
		}
	}
}

func TestSeek(t *testing.T) {
	in := "id,n\n1,a\n2,\"b\nb\"\n3,c\n4,d\n"
	rd, err := NewReader(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var checkpoint Position
	for range 2 {
		rec, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		checkpoint = rec.End
	}
	if want := (Position{Offset: int64(strings.Index(in, "3,c")), Line: 5, Row: 2}); checkpoint != want {
		t.Fatalf("checkpoint=%+v, want %+v", checkpoint, want)
	}
	for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} { // seeker, and not
		rd, err := NewReader(r, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := rd.Seek(checkpoint); err != nil {
			t.Fatal(err)
		}
		rec, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if rec.Row != 3 || rec.Line != 5 || rec.fields[0] != "3" {
			t.Fatalf("after seek: row %d line %d %v", rec.Row, rec.Line, rec.fields)
		}
	}
}

func TestJSONL(t *testing.T) {
	in := "{\"id\":1,\"c\":{\"email\":\"a@x.io\"}}\r\n\n  \n[1]\n{bad\n{\"id\":2}\n{\"name\":\"Jos\xe9\"}\n{\"x\":\"" + strings.Repeat("y", 80) + "\"}\n{\"id\":3}"
	_, got, _ := readAll(t, iotest.OneByteReader(strings.NewReader(in)), Options{Format: JSONL, MaxRecordBytes: 60})
	want := []row{
		{Line: 1, Fields: []string{`map[c:{"email":"a@x.io"} id:1]`}},
		{Line: 4, Problem: ": The line is not a JSON object."},
		{Line: 5, Problem: ": Invalid JSON: invalid character 'b' at start of value after offset 1."},
		{Line: 6, Fields: []string{`map[id:2]`}},
		{Line: 7, Fields: []string{`map[name:"José"]`}},
		{Line: 8, Problem: ": The line is longer than 60 bytes."},
		{Line: 9, Fields: []string{`map[id:3]`}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

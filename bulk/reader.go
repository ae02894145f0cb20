package bulk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/mosaic-cdp/mosaic"
	"golang.org/x/text/encoding/charmap"
)

// Format is an input file format.
type Format string

// The input formats.
const (
	CSV   Format = "csv"   // RFC 4180, any single-byte delimiter, header row
	JSONL Format = "jsonl" // one JSON object per line (also called NDJSON)
)

// FormatOf guesses a file's format from its name: .jsonl, .ndjson and .json are JSONL,
// anything else CSV.
func FormatOf(name string) Format {
	switch strings.ToLower(path.Ext(name)) {
	case ".jsonl", ".ndjson", ".json":
		return JSONL
	}
	return CSV
}

// Encoding is a text encoding of the input.
type Encoding string

// The encodings. Auto reads UTF-8 (with or without a byte order mark) and switches to
// Windows-1252 when the start of the file is not valid UTF-8; a later value that is not
// valid UTF-8 is read as Windows-1252 on its own. Latin-1 and Windows-1252 differ only in
// 0x80–0x9F, where Windows-1252 has letters and punctuation (€, „, Š, …) and Latin-1 control
// characters nobody uses.
const (
	EncodingAuto        Encoding = "auto"
	EncodingUTF8        Encoding = "utf-8"
	EncodingLatin1      Encoding = "latin-1"
	EncodingWindows1252 Encoding = "windows-1252"
)

// ParseEncoding accepts the usual spellings of the encodings ("" is auto).
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToLower(strings.NewReplacer("_", "-", " ", "").Replace(strings.TrimSpace(s))) {
	case "", "auto":
		return EncodingAuto, nil
	case "utf-8", "utf8":
		return EncodingUTF8, nil
	case "latin-1", "latin1", "iso-8859-1", "iso8859-1", "l1":
		return EncodingLatin1, nil
	case "windows-1252", "cp1252", "win-1252", "windows1252":
		return EncodingWindows1252, nil
	}
	return "", fmt.Errorf("unknown encoding %q: use auto, utf-8, latin-1 or windows-1252", s)
}

// DefaultMaxRecordBytes bounds one record (a CSV row with all its lines, a JSONL line). A
// longer one is a bad row; reading goes on after it, so memory stays bounded whatever the
// file holds.
const DefaultMaxRecordBytes = 1 << 20

// sniffBytes is how much of the start of the input the reader looks at to guess the
// delimiter, line ending and encoding.
const sniffBytes = 64 << 10

// Options say how to read an input.
type Options struct {
	Format Format
	// Delimiter separates CSV fields: one ASCII character other than a quote or line break.
	// 0 guesses from the header among comma, semicolon, tab and |.
	Delimiter byte
	// NoHeader says the first CSV row is data; Columns then names the columns (else they are
	// "1", "2", …).
	NoHeader bool
	Columns  []string
	Encoding Encoding // "" is auto
	// MaxRecordBytes bounds one record; 0 is DefaultMaxRecordBytes.
	MaxRecordBytes int
}

// Position is a place in the input between two records: byte Offset, where physical line
// Line starts, after Row records. A checkpoint is a Position.
type Position struct {
	Offset int64
	Line   int64
	Row    int64
}

// A Problem is why a row is bad, at its physical line (where the row starts) and column
// (a CSV column name or a JSONL path; "" for the row as a whole).
type Problem struct {
	Line   int64
	Row    int64
	Column string
	Reason string
}

func (p Problem) String() string {
	if p.Column == "" {
		return fmt.Sprintf("line %d: %s", p.Line, p.Reason)
	}
	return fmt.Sprintf("line %d, column %q: %s", p.Line, p.Column, p.Reason)
}

// Record is one row of the input, valid until the next call to Reader.Next.
type Record struct {
	Row  int64 // 1-based number among the data rows (a CSV header is not a row)
	Line int64 // the physical line the row starts on (1-based)
	// End is the position just after the row.
	End Position
	// Problems are structural: a row that cannot be read (bad quoting, wrong number of
	// fields, invalid JSON, too long) carries them and no values.
	Problems []Problem

	fields []string                  // CSV: one per column
	obj    map[string]jsontext.Value // JSONL
}

// Reader streams the records of a CSV or JSONL input.
type Reader struct {
	opts    Options
	src     *source
	csv     *csvReader
	jsonl   *jsonlReader
	columns []string
	rec     Record
	row     int64
}

// NewReader starts reading r. For CSV it reads the header row, and fails (invalid) when the
// header cannot be read; errors from r are returned as they are.
func NewReader(r io.Reader, opts Options) (*Reader, error) {
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if opts.Encoding == "" {
		opts.Encoding = EncodingAuto
	}
	if opts.Format == "" {
		opts.Format = CSV
	}
	rd := &Reader{opts: opts, src: &source{r: r, line: 1, buf: make([]byte, 0, 64<<10)}}
	if err := rd.sniff(); err != nil {
		return nil, err
	}
	switch opts.Format {
	case CSV:
		if err := rd.startCSV(); err != nil {
			return nil, err
		}
	case JSONL:
		rd.jsonl = &jsonlReader{src: rd.src, max: opts.MaxRecordBytes, enc: rd.decoder()}
	default:
		return nil, mosaic.FieldErrorf(mosaic.EINVALID, "format", "Unknown format %q: use csv or jsonl.", opts.Format)
	}
	return rd, nil
}

// sniff looks at the start of the input: byte order marks, the encoding (auto) and the line
// ending.
func (rd *Reader) sniff() error {
	s := rd.src
	for len(s.buf) < sniffBytes && !s.eof {
		if !s.more(0) && s.err != nil {
			return s.err
		}
	}
	if s.err != nil {
		return s.err
	}
	switch {
	case bytes.HasPrefix(s.buf, []byte{0xEF, 0xBB, 0xBF}):
		s.pos = 3
	case bytes.HasPrefix(s.buf, []byte{0xFF, 0xFE}), bytes.HasPrefix(s.buf, []byte{0xFE, 0xFF}):
		return mosaic.Errorf(mosaic.EINVALID, "The file is UTF-16; save it as UTF-8 (or Latin-1) and import it again.")
	}
	win := s.buf[s.pos:]
	if rd.opts.Encoding == EncodingAuto {
		valid := win
		if !s.eof { // the window may end inside a character
			for i := 0; i < utf8.UTFMax && len(valid) > 0 && !utf8.RuneStart(valid[len(valid)-1]); i++ {
				valid = valid[:len(valid)-1]
			}
			if len(valid) > 0 && valid[len(valid)-1] >= utf8.RuneSelf {
				valid = valid[:len(valid)-1]
			}
		}
		if !utf8.Valid(valid) {
			rd.opts.Encoding = EncodingWindows1252
		}
	}
	return nil
}

// decoder returns how field bytes become text.
func (rd *Reader) decoder() *textDecoder {
	return &textDecoder{enc: rd.opts.Encoding}
}

func (rd *Reader) startCSV() error {
	s := rd.src
	win := s.buf[s.pos:]
	looksJSON := bytes.HasPrefix(bytes.TrimLeft(win, " \t\r\n"), []byte("{")) // JSON lines read as CSV
	eol := byte('\n')
	if bytes.IndexByte(win, '\n') < 0 && bytes.IndexByte(win, '\r') >= 0 {
		eol = '\r' // classic Mac line endings
	}
	d := rd.opts.Delimiter
	if d == 0 {
		d = sniffDelimiter(win, eol)
	}
	if d == '"' || d == '\n' || d == '\r' || d >= utf8.RuneSelf {
		return mosaic.FieldErrorf(mosaic.EINVALID, "delimiter", "Delimiter %q cannot be used: give one ASCII character other than a quote or line break.", d)
	}
	rd.csv = &csvReader{src: s, delim: d, eol: eol, max: rd.opts.MaxRecordBytes, dec: rd.decoder(), ncols: -1}
	if rd.opts.NoHeader {
		rd.columns = rd.opts.Columns
		if len(rd.columns) == 0 { // name the columns 1, 2, … after the first row, read again later
			off, line := s.offset(), s.line
			rd.csv.ncols = -1
			var first Record
			if _, err := rd.csv.next(&first, nil); err != nil {
				return err
			}
			for i := range first.fields {
				rd.columns = append(rd.columns, strconv.Itoa(i+1))
			}
			s.pos, s.line = int(off-s.base), line // more() keeps every byte from the record's start
		}
		rd.csv.ncols = len(rd.columns)
		return nil
	}
	var hdr Record
	ok, err := rd.csv.next(&hdr, nil)
	if err != nil {
		return err
	}
	if !ok {
		return mosaic.Errorf(mosaic.EINVALID, "The file is empty: it has no header row.")
	}
	if len(hdr.Problems) > 0 {
		hint := ""
		if looksJSON {
			hint = " The file looks like JSON lines, one object per line: read it as JSONL (format: jsonl in the mapping, --format jsonl, ?format=jsonl, or a .jsonl file name)."
		}
		return mosaic.Errorf(mosaic.EINVALID, "The header row cannot be read: %s.%s", sentence(hdr.Problems[0].Reason), hint)
	}
	rd.columns = make([]string, len(hdr.fields))
	for i, c := range hdr.fields {
		rd.columns[i] = strings.TrimSpace(c)
	}
	rd.csv.ncols = len(rd.columns)
	return nil
}

// sentence makes a message that is a sentence of its own ("The row is …  (…).") fit into
// another one: lower-case first letter, no final period.
func sentence(msg string) string {
	return lowerFirst(strings.TrimSuffix(msg, "."))
}

// sniffDelimiter picks the candidate that occurs, outside quotes, the same number of times
// on each of the first lines (up to 10), the most often; ties go to tab, semicolon, comma,
// pipe, in that order. A file with none of them has one column (comma).
func sniffDelimiter(win []byte, eol byte) byte {
	cands := []byte{'\t', ';', ',', '|'}
	var lines [][4]int
	var cur [4]int
	inQuote := false
	for k, b := range win {
		switch {
		case b == '"':
			inQuote = !inQuote
		case inQuote:
		case b == eol:
			lines = append(lines, cur)
			cur = [4]int{}
		default:
			for i, c := range cands {
				if b == c {
					cur[i]++
				}
			}
		}
		if len(lines) == 10 || k == len(win)-1 && !inQuote && b != eol {
			if len(lines) < 10 {
				lines = append(lines, cur)
			}
			break
		}
	}
	if len(lines) == 0 {
		return ','
	}
	best, bestScore := -1, 0
	for i := range cands {
		n := lines[0][i]
		consistent := true
		for _, l := range lines[1:] {
			consistent = consistent && l[i] == n
		}
		score := n
		if consistent {
			score += 1 << 20
		}
		if n > 0 && score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return ','
	}
	return cands[best]
}

// Delimiter returns the CSV delimiter in use (given or guessed); 0 for JSONL.
func (rd *Reader) Delimiter() byte {
	if rd.csv == nil {
		return 0
	}
	return rd.csv.delim
}

// Encoding returns the encoding in use (auto resolves to utf-8 or windows-1252 once the
// start of the file has been seen).
func (rd *Reader) Encoding() Encoding {
	if rd.opts.Encoding == EncodingAuto {
		return EncodingUTF8
	}
	return rd.opts.Encoding
}

// Columns returns the CSV header's column names (nil for JSONL).
func (rd *Reader) Columns() []string { return rd.columns }

// Position returns where reading stands: after the header or the last record returned.
func (rd *Reader) Position() Position {
	return Position{Offset: rd.src.offset(), Line: rd.src.line, Row: rd.row}
}

// Seek moves forward to p, a Position a previous read of the same input returned (a
// checkpoint): it seeks when the input is an io.Seeker and skips bytes otherwise. Records
// before p are not parsed again.
func (rd *Reader) Seek(p Position) error {
	s := rd.src
	cur := s.offset()
	if p.Offset < cur {
		return fmt.Errorf("bulk: cannot seek back from %d to %d", cur, p.Offset)
	}
	if p.Offset > cur {
		if buffered := int64(len(s.buf) - s.pos); p.Offset-cur <= buffered {
			s.pos += int(p.Offset - cur)
		} else if sk, ok := s.r.(io.Seeker); ok {
			if _, err := sk.Seek(p.Offset, io.SeekStart); err != nil {
				return err
			}
			s.buf, s.pos, s.base, s.eof = s.buf[:0], 0, p.Offset, false
		} else {
			skip := p.Offset - cur - buffered
			s.buf, s.pos, s.base = s.buf[:0], 0, cur+buffered
			n, err := io.CopyN(io.Discard, s.r, skip)
			s.base += n
			if err != nil {
				if errors.Is(err, io.EOF) {
					return fmt.Errorf("bulk: input ends before the checkpoint at byte %d", p.Offset)
				}
				return err
			}
		}
	}
	s.line, rd.row = p.Line, p.Row
	return nil
}

// Next returns the next record, or io.EOF after the last. A bad row is a record with
// Problems, not an error; errors are the input's (a failed read).
func (rd *Reader) Next() (*Record, error) {
	rec := &rd.rec
	rec.Problems = rec.Problems[:0]
	rec.fields, rec.obj = rec.fields[:0], nil
	var ok bool
	var err error
	if rd.csv != nil {
		ok, err = rd.csv.next(rec, rd.columns)
	} else {
		ok, err = rd.jsonl.next(rec)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, io.EOF
	}
	rd.row++
	rec.Row = rd.row
	for i := range rec.Problems {
		rec.Problems[i].Row, rec.Problems[i].Line = rec.Row, rec.Line
	}
	rec.End = rd.Position()
	return rec, nil
}

// source is the buffered input, tracking the byte offset and the physical line of pos.
type source struct {
	r    io.Reader
	buf  []byte
	pos  int   // next byte to read in buf
	base int64 // offset of buf[0] in the input
	line int64 // physical line number at pos
	eof  bool
	err  error // a read error other than io.EOF (reading stops)
}

func (s *source) offset() int64 { return s.base + int64(s.pos) }

// more drops buf[:keep] (indices into buf move down by keep, always) and reads more input.
// It reports whether it read anything; at the end of the input it sets eof.
func (s *source) more(keep int) bool {
	if keep > 0 {
		n := copy(s.buf, s.buf[keep:])
		s.buf = s.buf[:n]
		s.base += int64(keep)
		s.pos -= keep
	}
	if s.eof {
		return false
	}
	if cap(s.buf)-len(s.buf) < 16<<10 {
		nb := make([]byte, len(s.buf), 2*cap(s.buf)+16<<10)
		copy(nb, s.buf)
		s.buf = nb
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if err != nil {
		s.eof = true
		if !errors.Is(err, io.EOF) {
			s.err = err
		}
	}
	return n > 0
}

// textDecoder turns field bytes into text in the input's encoding.
type textDecoder struct {
	enc Encoding // utf-8, latin-1, windows-1252 or auto (UTF-8, falling back per value)
}

// valid reports whether b can be taken as it is (UTF-8 input that is valid UTF-8).
func (d *textDecoder) valid(b []byte) bool {
	switch d.enc {
	case EncodingLatin1, EncodingWindows1252:
		return isASCII(b)
	}
	return utf8.Valid(b)
}

// decode returns b as text; ok is false when b is not valid in a strict UTF-8 input.
func (d *textDecoder) decode(b []byte) (s string, ok bool) {
	if d.valid(b) {
		return string(b), true
	}
	cm := charmap.Windows1252
	switch d.enc {
	case EncodingUTF8:
		return "", false
	case EncodingLatin1:
		cm = charmap.ISO8859_1
	}
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/2)
	for _, c := range b {
		if c < utf8.RuneSelf {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(cm.DecodeByte(c))
		}
	}
	return sb.String(), true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

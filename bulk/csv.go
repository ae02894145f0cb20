package bulk

import (
	"bytes"
	"fmt"
	"strconv"
)

// csvReader parses RFC 4180 CSV from a source:
//
//   - fields are separated by delim, records by a line break (LF or CRLF; CR alone in files
//     that have no LF at all);
//   - a field that starts with a double quote is quoted: it ends at the next lone quote,
//     may hold delimiters and line breaks (a multiline cell), and "" in it is one quote;
//   - a quote inside an unquoted field is kept as it is (5'10", 12" pizza);
//   - blank lines are skipped; CRLF inside a quoted field becomes LF.
//
// A record that breaks these rules (text after a closing quote, a quote that never closes,
// more than max bytes) is a bad row, and reading resumes on the physical line after the
// one the record started on: one broken quote costs at most the rows it really spans, and
// every row that is not imported is reported.
type csvReader struct {
	src   *source
	delim byte
	eol   byte // '\n', or '\r' for files without LF
	max   int
	ncols int // fields a record must have (the header's); -1: any
	dec   *textDecoder

	data []byte // the current record's field bytes, unquoted
	ends []int  // end of each field in data
}

// next reads the next record into rec (fields or Problems, Line), naming columns for
// problems. It returns false at the end of the input, and the input's read error if any.
func (c *csvReader) next(rec *Record, columns []string) (bool, error) {
	s := c.src
	// Skip blank lines.
	for {
		if s.pos >= len(s.buf) && !s.more(s.pos) {
			return false, s.err
		}
		b := s.buf[s.pos]
		if b == c.eol {
			s.pos++
			s.line++
			continue
		}
		if b == '\r' && c.eol == '\n' {
			if s.pos+1 >= len(s.buf) && s.more(s.pos) || s.pos+1 < len(s.buf) {
				if s.buf[s.pos+1] == '\n' {
					s.pos += 2
					s.line++
					continue
				}
			}
		}
		break
	}
	rec.Line = s.line
	c.data, c.ends = c.data[:0], c.ends[:0]
	start := s.pos
	i := start
	lines := int64(0) // line breaks inside the record so far
	// at makes buf[i] readable, reading more if needed; false at the end of the input.
	at := func() bool {
		for i >= len(s.buf) {
			ok := s.more(start)
			i -= start
			start = 0
			if !ok {
				return false
			}
		}
		return true
	}
	fail := func(col int, format string, args ...any) (bool, error) {
		name := ""
		if col >= 0 {
			name = columnName(columns, col)
		}
		rec.Problems = append(rec.Problems, Problem{Column: name, Reason: fmt.Sprintf(format, args...)})
		c.resync(start, i)
		return true, s.err
	}
	for {
		col := len(c.ends)
		if i-start > c.max {
			return fail(-1, "The row is longer than %d bytes.", c.max)
		}
		if at() && s.buf[i] == '"' {
			i++
			for {
				if !at() {
					return fail(col, "The quoted field that starts on line %d never ends (a quote is missing).", rec.Line)
				}
				q := bytes.IndexByte(s.buf[i:], '"')
				if q < 0 {
					chunk := s.buf[i:]
					if c.eol == '\n' && len(chunk) > 0 && chunk[len(chunk)-1] == '\r' {
						chunk = chunk[:len(chunk)-1] // it may start a CRLF: look again with more input
					}
					c.appendQuoted(chunk, &lines)
					i += len(chunk)
					if i-start > c.max {
						return fail(col, "The row is longer than %d bytes (a quote is probably missing).", c.max)
					}
					if len(chunk) == 0 { // only a CR at the end of the buffer: force a read
						ok := s.more(start)
						i -= start
						start = 0
						if !ok {
							return fail(col, "The quoted field that starts on line %d never ends (a quote is missing).", rec.Line)
						}
					}
					continue
				}
				c.appendQuoted(s.buf[i:i+q], &lines)
				i += q + 1
				if i-start > c.max {
					return fail(col, "The row is longer than %d bytes (a quote is probably missing).", c.max)
				}
				if !at() { // closing quote at the end of the input
					c.ends = append(c.ends, len(c.data))
					return c.finish(rec, columns, i, lines)
				}
				switch b := s.buf[i]; {
				case b == '"':
					c.data = append(c.data, '"')
					i++
					continue
				case b == c.delim:
					i++
					c.ends = append(c.ends, len(c.data))
				case b == c.eol:
					i++
					lines++
					c.ends = append(c.ends, len(c.data))
					return c.finish(rec, columns, i, lines)
				case b == '\r' && c.eol == '\n':
					i++
					if at() && s.buf[i] == '\n' {
						i++
						lines++
						c.ends = append(c.ends, len(c.data))
						return c.finish(rec, columns, i, lines)
					}
					return fail(col, "Unexpected text after a closing quote on line %d (a quote inside a quoted field must be doubled).", rec.Line+lines)
				default:
					return fail(col, "Unexpected text after a closing quote on line %d (a quote inside a quoted field must be doubled).", rec.Line+lines)
				}
				break
			}
			continue
		}
		// Unquoted field: up to the delimiter or the line end.
		for {
			if !at() { // the last field of the input
				c.ends = append(c.ends, len(c.data))
				return c.finish(rec, columns, i, lines)
			}
			buf, j := s.buf, i
			for j < len(buf) && buf[j] != c.delim && buf[j] != c.eol {
				j++
			}
			c.data = append(c.data, buf[i:j]...)
			i = j
			if i-start > c.max {
				return fail(-1, "The row is longer than %d bytes.", c.max)
			}
			if j == len(buf) {
				continue // read more
			}
			i++
			if buf[j] == c.delim {
				c.ends = append(c.ends, len(c.data))
				break
			}
			lines++ // the line end
			if c.eol == '\n' && len(c.data) > 0 && c.data[len(c.data)-1] == '\r' && (len(c.ends) == 0 || c.ends[len(c.ends)-1] < len(c.data)) {
				c.data = c.data[:len(c.data)-1] // CRLF
			}
			c.ends = append(c.ends, len(c.data))
			return c.finish(rec, columns, i, lines)
		}
	}
}

// appendQuoted appends the inside of a quoted field, counting its line breaks and turning
// CRLF into LF.
func (c *csvReader) appendQuoted(b []byte, lines *int64) {
	n := bytes.Count(b, []byte{c.eol})
	*lines += int64(n)
	if c.eol == '\n' && n > 0 && bytes.IndexByte(b, '\r') >= 0 {
		c.data = append(c.data, bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))...)
		return
	}
	c.data = append(c.data, b...)
}

// resync makes reading resume at the physical line after the one the bad record started on
// (start), or, for a record whose first line is longer than max, after that line.
func (c *csvReader) resync(start, i int) {
	s := c.src
	if nl := bytes.IndexByte(s.buf[start:min(i, len(s.buf))], c.eol); nl >= 0 {
		s.pos = start + nl + 1
		s.line++
		return
	}
	// No line break seen since the start: drop input up to the next one.
	s.pos = min(i, len(s.buf))
	for {
		if nl := bytes.IndexByte(s.buf[s.pos:], c.eol); nl >= 0 {
			s.pos += nl + 1
			s.line++
			return
		}
		s.pos = len(s.buf)
		if !s.more(s.pos) {
			return
		}
	}
}

// finish turns the parsed fields into text, checks their number and moves past the record.
func (c *csvReader) finish(rec *Record, columns []string, i int, lines int64) (bool, error) {
	s := c.src
	s.pos = i
	s.line += lines
	if c.ncols >= 0 && len(c.ends) != c.ncols {
		rec.Problems = append(rec.Problems, Problem{Reason: fmt.Sprintf("The row has %d fields; the header has %d.", len(c.ends), c.ncols)})
		return true, nil
	}
	if c.dec.valid(c.data) { // one string for the whole row, sliced
		all := string(c.data)
		prev := 0
		for _, e := range c.ends {
			rec.fields = append(rec.fields, all[prev:e])
			prev = e
		}
		return true, nil
	}
	prev := 0
	for k, e := range c.ends {
		v, ok := c.dec.decode(c.data[prev:e])
		if !ok {
			rec.Problems = append(rec.Problems, Problem{Column: columnName(columns, k), Reason: "The value is not valid UTF-8 (is the file Latin-1? say so with encoding: latin-1)."})
		}
		rec.fields = append(rec.fields, v)
		prev = e
	}
	if len(rec.Problems) > 0 {
		rec.fields = rec.fields[:0]
	}
	return true, nil
}

func columnName(columns []string, i int) string {
	if i < len(columns) {
		return columns[i]
	}
	return strconv.Itoa(i + 1)
}

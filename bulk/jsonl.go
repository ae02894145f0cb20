package bulk

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// jsonlReader reads one JSON object per line (LF or CRLF); blank lines are skipped.
type jsonlReader struct {
	src *source
	max int
	enc *textDecoder
}

func (j *jsonlReader) next(rec *Record) (bool, error) {
	s := j.src
	for {
		if s.pos >= len(s.buf) && !s.more(s.pos) {
			return false, s.err
		}
		start, from := s.pos, s.pos
		nl := -1
		tooLong := false
		for {
			if k := bytes.IndexByte(s.buf[from:], '\n'); k >= 0 {
				nl = from + k
				break
			}
			if len(s.buf)-start > j.max { // drop the line so far; keep looking for its end
				tooLong = true
				start = len(s.buf)
				s.pos = start
			}
			from = len(s.buf)
			keep := start
			ok := s.more(keep)
			from -= keep
			start = 0
			if !ok {
				break
			}
		}
		end := nl
		if nl < 0 {
			end = len(s.buf)
			s.pos = end
		} else {
			s.pos = nl + 1
		}
		rec.Line = s.line
		s.line++
		if tooLong || end-start > j.max {
			rec.Problems = append(rec.Problems, Problem{Reason: fmt.Sprintf("The line is longer than %d bytes.", j.max)})
			return true, nil
		}
		line := bytes.TrimSpace(s.buf[start:end])
		if len(line) == 0 {
			continue
		}
		var text []byte
		if j.enc.valid(line) {
			text = bytes.Clone(line)
		} else if v, ok := j.enc.decode(line); ok {
			text = []byte(v)
		} else {
			rec.Problems = append(rec.Problems, Problem{Reason: "The line is not valid UTF-8 (is the file Latin-1? say so with encoding: latin-1)."})
			return true, nil
		}
		if text[0] != '{' {
			rec.Problems = append(rec.Problems, Problem{Reason: "The line is not a JSON object."})
			return true, nil
		}
		var obj map[string]jsontext.Value
		if err := json.Unmarshal(text, &obj); err != nil {
			rec.Problems = append(rec.Problems, Problem{Reason: "Invalid JSON: " + strings.TrimSuffix(jsonMessage(err), ".") + "."})
			return true, nil
		}
		rec.obj = obj
		return true, nil
	}
}

func jsonMessage(err error) string {
	msg := err.Error()
	for _, p := range []string{"jsontext: ", "json: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// lookup follows a dotted path into obj: each level first tries the rest of the path as
// one member name ("traits.email" as a literal key), then the first segment; numeric
// segments index arrays.
func lookup(obj map[string]jsontext.Value, segs []string) (jsontext.Value, bool) {
	if len(segs) == 0 || obj == nil {
		return nil, false
	}
	if len(segs) > 1 {
		if v, ok := obj[strings.Join(segs, ".")]; ok {
			return v, true
		}
	}
	v, ok := obj[segs[0]]
	if !ok || len(segs) == 1 {
		return v, ok
	}
	rest := segs[1:]
	for {
		switch v.Kind() {
		case '{':
			var sub map[string]jsontext.Value
			if json.Unmarshal(v, &sub) != nil {
				return nil, false
			}
			return lookup(sub, rest)
		case '[':
			n, err := strconv.Atoi(rest[0])
			if err != nil || n < 0 {
				return nil, false
			}
			var arr []jsontext.Value
			if json.Unmarshal(v, &arr) != nil || n >= len(arr) {
				return nil, false
			}
			v, rest = arr[n], rest[1:]
			if len(rest) == 0 {
				return v, true
			}
		default:
			return nil, false
		}
	}
}

package bulk

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/segment"
)

// Target is what the rows are imported as: it makes the messageIds and generated
// anonymousIds, so that importing the same file again makes the same calls.
//
// A profile row's (identify) messageId comes from the file, the row and the mapping: a
// corrected mapping makes new calls, which re-state the row's traits (harmless: traits
// survive by rule, not by count, except under most_frequent), while the same mapping again
// makes calls the processor drops as duplicates. An event row's (track) messageId never
// depends on the mapping, since a second copy of an event would count twice: it comes from
// the event and the key when the mapping has one, else from the file and the row.
// Generated anonymousIds never depend on the mapping either.
type Target struct {
	SourceID mosaic.SourceID
	FileHash string // hex SHA-256 of the file's bytes (at least 16 digits)
	// MappingHash identifies what the mapping makes of the file (Mapping.Digest of the
	// mapping and the reading options, at least 16 hex digits); "" is the mapping's Digest
	// with the Format alone.
	MappingHash string
	ImportID    mosaic.ImportID // recorded in each call's context.import
	// AsOf, if set, is the time of the rows that have none (no timestamp in the mapping, or
	// an empty optional one): when the file was first imported. Without it such a row takes
	// the time the processor receives it, so a file read again (a corrected mapping, a
	// retry) would state its old values as newer than everything that came since.
	AsOf time.Time
}

// CompileOptions bind a mapping to one input.
type CompileOptions struct {
	Target
	Format  Format
	Columns []string // the CSV header (Reader.Columns); unused for JSONL
	// Delimiter is the CSV delimiter in use (Reader.Delimiter; 0 if unknown), named when a
	// header of one column suggests another.
	Delimiter byte
	// CheckIdentifier, if set, says why an identifier value at a call path (userId,
	// traits.email, …) would not identify anyone (the identity configuration's normaliser).
	// A row whose identifiers are all unusable is bad; a row with at least one usable
	// identifier goes in as it is, as it would through the API.
	CheckIdentifier func(path, value string) error
}

// Mapper turns records into Segment-spec call payloads. It is not safe for concurrent use.
type Mapper struct {
	m       *Mapping
	call    string
	format  Format
	target  Target
	prefix  string // "imp-<hash16>-": generated anonymousIds and event rows' messageIds
	callPfx string // prefix of unkeyed messageIds: prefix, and for identify "<mapping16>-"
	ctxHead []byte // the import context's opening: "context":{"library":…,"import":{"id":…,
	ids     []*leaf
	userID  int // index in ids, -1 if none
	anonID  int
	ts      *leaf
	tsConst time.Time // the timestamp's value, when it has no column
	key     *colRef
	event   []byte // quoted event name
	evCol   *colRef
	root    []*node
	ctxNode *node
	columns map[string]string // call path → column, for the gateway's problems
	check   func(path, value string) error

	idVals  []string
	idBuf   []byte
	probs   []Problem
	lastLen int
}

type colRef struct {
	name string   // as the mapping names it
	idx  int      // CSV: the field index
	segs []string // JSONL: the path
}

type leaf struct {
	f   *Field
	col *colRef // nil for a constant
	tp  *timeParser
	id  int // index in Mapper.ids, -1 if not an identifier
}

type node struct {
	key  []byte // "name":
	leaf *leaf
	kids []*node
}

// Compile binds m to an input. It fails (invalid, naming the setting and its line) when a
// column is not in the CSV header.
func (m *Mapping) Compile(opts CompileOptions) (*Mapper, error) {
	if len(opts.FileHash) < 16 {
		return nil, fmt.Errorf("bulk: the file hash must have at least 16 hex digits")
	}
	mp := &Mapper{m: m, call: string(m.Type), format: opts.Format, target: opts.Target, userID: -1, anonID: -1,
		check: opts.CheckIdentifier, columns: map[string]string{}}
	if mp.format == "" {
		mp.format = CSV
	}
	mp.prefix = "imp-" + opts.FileHash[:16] + "-"
	mp.callPfx = mp.prefix
	if m.Type == mosaic.EventIdentify {
		mh := opts.MappingHash
		if mh == "" {
			mh = m.Digest(Options{Format: mp.format})
		}
		if len(mh) < 16 {
			return nil, fmt.Errorf("bulk: the mapping hash must have at least 16 hex digits")
		}
		mp.callPfx += mh[:16] + "-"
	}
	var err error
	bind := func(col, setting string, line int) (*colRef, error) {
		if mp.format == JSONL {
			return &colRef{name: col, segs: strings.Split(col, ".")}, nil
		}
		idx := -1
		for i, c := range opts.Columns {
			if c == col {
				if idx >= 0 {
					return nil, mappingError(line, setting, "Column %q appears twice in the header.", col)
				}
				idx = i
			}
		}
		if idx < 0 { // forgive case and surrounding spaces
			for i, c := range opts.Columns {
				if strings.EqualFold(strings.TrimSpace(c), strings.TrimSpace(col)) {
					if idx >= 0 {
						return nil, mappingError(line, setting, "Column %q matches more than one header column.", col)
					}
					idx = i
				}
			}
		}
		if idx < 0 {
			if opts.Format == CSV && len(opts.Columns) > 0 && strings.HasPrefix(strings.TrimSpace(opts.Columns[0]), "{") {
				return nil, mappingError(line, setting, "Column %q is not in the file's header, which starts with {: the file looks like JSON lines, one object per line; read it as JSONL (format: jsonl in the mapping, --format jsonl, ?format=jsonl, or a .jsonl file name).", col)
			}
			if d, ok := delimiterIn(opts.Columns, opts.Delimiter); ok {
				guess := ""
				if opts.Delimiter != 0 {
					guess = " rather than " + delimiterName(opts.Delimiter)
				}
				return nil, mappingError(line, setting, "Column %q is not in the file's header, which has one column %s: is the delimiter %s%s?",
					col, shown(opts.Columns[0]), delimiterName(d), guess)
			}
			return nil, mappingError(line, setting, "Column %q is not in the file's header (its columns: %s).", col, listColumns(opts.Columns))
		}
		return &colRef{name: col, idx: idx}, nil
	}
	if m.Key != "" {
		if mp.key, err = bind(m.Key, "key", m.lines["key"]); err != nil {
			return nil, err
		}
	}
	if m.EventColumn != "" {
		if mp.evCol, err = bind(m.EventColumn, "event_column", m.lines["event_column"]); err != nil {
			return nil, err
		}
	} else if m.Type == mosaic.EventTrack {
		if mp.event, err = jsontext.AppendQuote(nil, m.Event); err != nil {
			return nil, mappingError(m.lines["event"], "event", "The event name is not valid UTF-8.")
		}
	}
	newLeaf := func(f *Field) (*leaf, error) {
		l := &leaf{f: f, id: -1}
		if f.Column != "" {
			if l.col, err = bind(f.Column, f.Setting, f.Line); err != nil {
				return nil, err
			}
			mp.columns[f.Path] = f.Column
		}
		if f.Type == TypeDate || f.Type == TypeDatetime {
			if l.tp, err = newTimeParser(f.Format, f.Timezone); err != nil {
				return nil, mappingError(f.Line, f.Setting+".format", "%s", err.Error())
			}
		}
		return l, nil
	}
	if m.Timestamp != nil {
		if mp.ts, err = newLeaf(m.Timestamp); err != nil {
			return nil, err
		}
		if f := m.Timestamp; f.Const != nil {
			v := string(f.Const) // a number (unix, excel) as written
			if f.Const[0] == '"' {
				json.Unmarshal(f.Const, &v)
			}
			var ok bool
			if mp.tsConst, ok = mp.ts.tp.parse(v); !ok {
				return nil, mappingError(f.Line, "timestamp.value", "%s is not %s.", shown(v), mp.ts.tp.describe(f.Format))
			}
		}
	}
	top := &node{}
	mp.ctxNode = &node{key: []byte(`"context":`)}
	top.kids = append(top.kids, mp.ctxNode)
	for i := range m.Identifiers {
		l, err := newLeaf(&m.Identifiers[i])
		if err != nil {
			return nil, err
		}
		l.id = len(mp.ids)
		mp.ids = append(mp.ids, l)
		switch l.f.Path {
		case "userId":
			mp.userID = l.id
		case "anonymousId":
			mp.anonID = l.id
		default:
			insert(top, strings.Split(l.f.Path, "."), l)
		}
	}
	for _, group := range [][]Field{m.Traits, m.Properties} {
		for i := range group {
			l, err := newLeaf(&group[i])
			if err != nil {
				return nil, err
			}
			insert(top, strings.Split(l.f.Path, "."), l)
		}
	}
	mp.root = top.kids
	mp.idVals = make([]string, len(mp.ids))
	head := []byte(`"context":{"library":{"name":"mosaic-import","version":"1"},"import":{`)
	if opts.ImportID != "" {
		head = append(head, `"id":`...)
		head, _ = jsontext.AppendQuote(head, string(opts.ImportID))
		head = append(head, ',')
	}
	mp.ctxHead = head
	return mp, nil
}

func listColumns(cols []string) string {
	const max = 20
	var quoted []string
	for i, c := range cols {
		if i == max {
			quoted = append(quoted, fmt.Sprintf("… %d more", len(cols)-max))
			break
		}
		quoted = append(quoted, strconv.Quote(c))
	}
	if len(quoted) == 0 {
		return "none"
	}
	return strings.Join(quoted, ", ")
}

// delimiterIn returns the common delimiter (other than the one in use) that a header of one
// column holds the most of: the file is probably separated by it.
func delimiterIn(columns []string, inUse byte) (byte, bool) {
	if len(columns) != 1 {
		return 0, false
	}
	best, most := byte(0), 0
	for _, d := range []byte{',', ';', '\t', '|'} {
		if n := strings.Count(columns[0], string(d)); d != inUse && n > most {
			best, most = d, n
		}
	}
	return best, most > 0
}

// delimiterName names a delimiter as a mapping's csv.delimiter may give it.
func delimiterName(d byte) string {
	if d == '\t' {
		return "tab"
	}
	return strconv.Quote(string(d))
}

// insert puts a leaf at path under n (Mapping.check has ruled out clashes).
func insert(n *node, path []string, l *leaf) {
	for _, name := range path {
		var next *node
		for _, k := range n.kids {
			if string(k.key) == string(memberKey(name)) {
				next = k
				break
			}
		}
		if next == nil {
			next = &node{key: memberKey(name)}
			n.kids = append(n.kids, next)
		}
		n = next
	}
	n.leaf = l
}

func memberKey(name string) []byte {
	b, _ := jsontext.AppendQuote(nil, name)
	return append(b, ':')
}

// value is one input value.
type value struct {
	s    string // text: a CSV field or JSON string (trimmed), a JSON number or boolean literal
	kind byte   // 0 missing or empty, 's' text, 'n' number, 'b' boolean, '{' object, '[' array
	raw  jsontext.Value
}

func (mp *Mapper) get(rec *Record, c *colRef) value {
	if mp.format != JSONL {
		if c.idx >= len(rec.fields) {
			return value{}
		}
		s := strings.TrimSpace(rec.fields[c.idx])
		if s == "" {
			return value{}
		}
		return value{s: s, kind: 's'}
	}
	raw, ok := lookup(rec.obj, c.segs)
	if !ok {
		return value{}
	}
	switch k := raw.Kind(); k {
	case '"':
		b, err := jsontext.AppendUnquote(nil, raw)
		s := strings.TrimSpace(string(b))
		if err != nil || s == "" {
			return value{}
		}
		return value{s: s, kind: 's'}
	case '0':
		return value{s: string(raw), kind: 'n', raw: raw}
	case 't', 'f':
		return value{s: string(raw), kind: 'b', raw: raw}
	case '{', '[':
		return value{kind: byte(k), raw: raw}
	}
	return value{} // null
}

func (mp *Mapper) problem(c *colRef, format string, args ...any) {
	name := ""
	if c != nil {
		name = c.name
	}
	mp.probs = append(mp.probs, Problem{Column: name, Reason: fmt.Sprintf(format, args...)})
}

// text is v as an identifier, key or name: text or a number.
func (mp *Mapper) text(v value, c *colRef, what string) (string, bool) {
	switch v.kind {
	case 0:
		return "", true
	case 's', 'n':
		return v.s, true
	}
	mp.problem(c, "%s must be text, not %s.", what, kindName(v.kind))
	return "", false
}

func kindName(k byte) string {
	switch k {
	case 'n':
		return "a number"
	case 'b':
		return "a boolean"
	case '{':
		return "an object"
	case '[':
		return "a list"
	}
	return "text"
}

// Map turns a record into the payload of one call and its messageId, or into the problems
// that make it a bad row (the slice is reused by the next call). The payload has passed
// segment.ParseRequest, the gateway's validation, and is the caller's to keep.
func (mp *Mapper) Map(rec *Record) (payload []byte, messageID string, problems []Problem) {
	mp.probs = mp.probs[:0]
	if len(rec.Problems) > 0 {
		return nil, "", rec.Problems
	}
	defer func() {
		for i := range problems {
			problems[i].Row, problems[i].Line = rec.Row, rec.Line
		}
	}()
	// Identifiers first: whether the row needs a generated anonymousId depends on them.
	present := 0
	for i, l := range mp.ids {
		v, _ := mp.text(mp.get(rec, l.col), l.col, "An identifier")
		mp.idVals[i] = v
		if v != "" {
			present++
		}
	}
	if present == 0 && len(mp.probs) == 0 {
		names := make([]string, len(mp.ids))
		for i, l := range mp.ids {
			names[i] = strconv.Quote(l.col.name)
		}
		mp.problem(nil, "The row has no identifier: %s %s empty.", strings.Join(names, ", "), plural(len(names), "is", "are all"))
	}
	if present > 0 && mp.check != nil {
		var firstCol *colRef
		var why []string // each value and why it is none, when none is usable
		for i, l := range mp.ids {
			if v := mp.idVals[i]; v != "" {
				err := mp.check(l.f.Path, v)
				if err == nil {
					why = nil
					break
				}
				if firstCol == nil {
					firstCol = l.col
				}
				reason := strings.TrimSuffix(lowerFirst(mosaic.ErrorMessage(err)), ".")
				if present > 1 { // name each value's column
					why = append(why, fmt.Sprintf("%s (%s) %s", shown(v), l.col.name, reason))
				} else {
					why = append(why, shown(v)+" "+reason)
				}
			}
		}
		if len(why) > 0 {
			mp.problem(firstCol, "No usable identifier: %s.", strings.Join(why, "; "))
		}
	}
	var key string
	if mp.key != nil {
		var ok bool
		// An event's key is what makes it the same event in the next export: required. A
		// profile row's key only keeps its generated anonymousId stable: optional.
		if key, ok = mp.text(mp.get(rec, mp.key), mp.key, "The key"); ok && key == "" && mp.m.Type == mosaic.EventTrack {
			mp.problem(mp.key, "The key column is empty.")
		}
	}
	event := mp.event
	if mp.evCol != nil {
		name, ok := mp.text(mp.get(rec, mp.evCol), mp.evCol, "The event name")
		if ok && name == "" {
			mp.problem(mp.evCol, "The event name is empty.")
		}
		event, _ = jsontext.AppendQuote(nil, name)
	}
	var ts time.Time
	if mp.ts != nil && mp.ts.col == nil {
		ts = mp.tsConst
	} else if mp.ts != nil {
		v := mp.get(rec, mp.ts.col)
		s, ok := mp.text(v, mp.ts.col, "The timestamp")
		switch {
		case !ok:
		case s == "" && mp.ts.f.Required:
			mp.problem(mp.ts.col, "The row has no timestamp (the column is empty).")
		case s != "":
			if ts, ok = mp.ts.tp.parse(s); !ok {
				mp.problem(mp.ts.col, "%s is not %s.", shown(s), mp.ts.tp.describe(mp.ts.f.Format))
			}
		}
	}
	if len(mp.probs) > 0 {
		return nil, "", mp.probs
	}
	if ts.IsZero() {
		ts = mp.target.AsOf
	}

	idBuf := append(mp.idBuf[:0], mp.callPfx...)
	messageID = string(strconv.AppendInt(idBuf, rec.Row, 10))
	mp.idBuf = idBuf
	if key != "" && mp.m.Type == mosaic.EventTrack {
		messageID = "imp-" + digest(mp.call, string(event), key)
	}
	anon := ""
	if (mp.userID < 0 || mp.idVals[mp.userID] == "") && (mp.anonID < 0 || mp.idVals[mp.anonID] == "") {
		switch {
		case key != "":
			anon = "imp-" + digest(string(mp.target.SourceID), key)
		case mp.callPfx == mp.prefix:
			anon = messageID
		default: // from the file and the row, not the mapping
			anon = mp.prefix + strconv.FormatInt(rec.Row, 10)
		}
	}

	out := make([]byte, 0, mp.lastLen+64)
	out = append(out, `{"type":"`...)
	out = append(out, mp.call...)
	out = append(out, `","messageId":`...)
	out, _ = jsontext.AppendQuote(out, messageID)
	if event != nil {
		out = append(out, `,"event":`...)
		out = append(out, event...)
	}
	if mp.userID >= 0 && mp.idVals[mp.userID] != "" {
		out = append(out, `,"userId":`...)
		out = mp.appendText(out, mp.idVals[mp.userID], mp.ids[mp.userID].col)
	}
	if mp.anonID >= 0 && mp.idVals[mp.anonID] != "" {
		out = append(out, `,"anonymousId":`...)
		out = mp.appendText(out, mp.idVals[mp.anonID], mp.ids[mp.anonID].col)
	} else if anon != "" {
		out = append(out, `,"anonymousId":`...)
		out, _ = jsontext.AppendQuote(out, anon)
	}
	if !ts.IsZero() {
		out = append(out, `,"timestamp":"`...)
		out = ts.UTC().AppendFormat(out, time.RFC3339Nano)
		out = append(out, '"')
	}
	for _, n := range mp.root {
		out = append(out, ',')
		var wrote bool
		if n == mp.ctxNode {
			out = mp.appendContext(out, rec)
			continue
		}
		if out, wrote = mp.appendNode(out, n, rec); !wrote {
			out = out[:len(out)-1]
		}
	}
	out = append(out, '}')
	if len(mp.probs) > 0 {
		return nil, "", mp.probs
	}
	mp.lastLen = len(out)
	if _, err := segment.ParseRequest(out, mp.call); err != nil {
		field := mosaic.ErrorField(err)
		col := &colRef{name: mp.columns[field]}
		if col.name == "" {
			col = nil
		}
		mp.problem(col, "%s", mosaic.ErrorMessage(err))
		return nil, "", mp.probs
	}
	return out, messageID, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// digest is 24 hex digits of SHA-256 over the parts.
func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

func (mp *Mapper) appendText(dst []byte, s string, c *colRef) []byte {
	out, err := jsontext.AppendQuote(dst, s)
	if err != nil {
		mp.problem(c, "The value is not valid UTF-8.")
		return dst
	}
	return out
}

// appendContext writes the context: where the call comes from, then mapped context members.
func (mp *Mapper) appendContext(dst []byte, rec *Record) []byte {
	dst = append(dst, mp.ctxHead...)
	dst = append(dst, `"row":`...)
	dst = strconv.AppendInt(dst, rec.Row, 10)
	dst = append(dst, `,"line":`...)
	dst = strconv.AppendInt(dst, rec.Line, 10)
	dst = append(dst, '}')
	for _, k := range mp.ctxNode.kids {
		dst = append(dst, ',')
		var wrote bool
		if dst, wrote = mp.appendNode(dst, k, rec); !wrote {
			dst = dst[:len(dst)-1]
		}
	}
	return append(dst, '}')
}

// appendNode writes a member; an object none of whose leaves has a value is left out.
func (mp *Mapper) appendNode(dst []byte, n *node, rec *Record) ([]byte, bool) {
	mark := len(dst)
	dst = append(dst, n.key...)
	if n.leaf != nil {
		out, ok := mp.appendLeaf(dst, n.leaf, rec)
		if !ok {
			return dst[:mark], false
		}
		return out, true
	}
	dst = append(dst, '{')
	any := false
	for _, k := range n.kids {
		before := len(dst)
		if any {
			dst = append(dst, ',')
		}
		var wrote bool
		if dst, wrote = mp.appendNode(dst, k, rec); wrote {
			any = true
		} else {
			dst = dst[:before]
		}
	}
	if !any {
		return dst[:mark], false
	}
	return append(dst, '}'), true
}

// appendLeaf writes a field's value converted to its type; false when it has none (or is
// bad, which is recorded).
func (mp *Mapper) appendLeaf(dst []byte, l *leaf, rec *Record) ([]byte, bool) {
	f := l.f
	if l.id >= 0 {
		if v := mp.idVals[l.id]; v != "" {
			return mp.appendText(dst, v, l.col), true
		}
		return dst, false
	}
	if l.col == nil {
		return append(dst, f.Const...), true
	}
	v := mp.get(rec, l.col)
	if v.kind == 0 {
		if f.Required {
			mp.problem(l.col, "A value is required (the column is empty).")
		}
		return dst, false
	}
	bad := func(format string, args ...any) ([]byte, bool) {
		mp.problem(l.col, format, args...)
		return dst, false
	}
	switch f.Type {
	case TypeString:
		if v.kind == '{' || v.kind == '[' {
			return bad("Text expected, not %s.", kindName(v.kind))
		}
		return mp.appendText(dst, v.s, l.col), true
	case TypeNumber:
		switch v.kind {
		case 'n':
			return append(dst, v.raw...), true
		case 's':
			x, ok := parseNumber(v.s, f.Decimal, f.Thousands)
			if !ok {
				return bad("%s", notNumber(v.s, f, false))
			}
			return appendNumber(dst, x), true
		}
		return bad("A number expected, not %s.", kindName(v.kind))
	case TypeInteger:
		s := v.s
		if v.kind != 's' && v.kind != 'n' {
			return bad("An integer expected, not %s.", kindName(v.kind))
		}
		if f.Thousands != "" {
			s = strings.ReplaceAll(s, f.Thousands, "")
		}
		if n, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64); err == nil {
			return strconv.AppendInt(dst, n, 10), true
		}
		if x, ok := parseNumber(s, f.Decimal, ""); ok && x == float64(int64(x)) && x > -1<<53 && x < 1<<53 {
			return strconv.AppendInt(dst, int64(x), 10), true // 42.0
		}
		return bad("%s", notNumber(v.s, f, true))
	case TypeBoolean:
		switch v.kind {
		case 'b':
			return append(dst, v.raw...), true
		case 's', 'n':
			b, ok := parseBool(v.s)
			if len(f.TrueValues)+len(f.FalseValues) > 0 {
				if w := strings.ToLower(strings.TrimSpace(v.s)); slices.Contains(f.TrueValues, w) {
					b, ok = true, true
				} else if slices.Contains(f.FalseValues, w) {
					b, ok = false, true
				}
			}
			if !ok {
				if len(f.TrueValues)+len(f.FalseValues) > 0 {
					return bad("%s is not a boolean (use true/false, yes/no, 1/0, or the words of true_values and false_values).", shown(v.s))
				}
				return bad("%s is not a boolean (use true/false, yes/no or 1/0; other words with true_values and false_values).", shown(v.s))
			}
			return strconv.AppendBool(dst, b), true
		}
		return bad("A boolean expected, not %s.", kindName(v.kind))
	case TypeDate, TypeDatetime:
		if v.kind != 's' && v.kind != 'n' {
			return bad("A date expected, not %s.", kindName(v.kind))
		}
		t, ok := l.tp.parse(v.s)
		if !ok {
			return bad("%s is not %s.", shown(v.s), l.tp.describe(f.Format))
		}
		dst = append(dst, '"')
		if f.Type == TypeDate {
			dst = t.AppendFormat(dst, "2006-01-02")
		} else {
			dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
		}
		return append(dst, '"'), true
	case TypeList:
		switch v.kind {
		case '[':
			return append(dst, v.raw...), true
		case 's', 'n', 'b':
			sep := f.Separator
			if sep == "" {
				sep = ","
			}
			dst = append(dst, '[')
			n := 0
			for item := range strings.SplitSeq(v.s, sep) {
				if item = strings.TrimSpace(item); item == "" {
					continue
				}
				if n > 0 {
					dst = append(dst, ',')
				}
				dst = mp.appendText(dst, item, l.col)
				n++
			}
			return append(dst, ']'), true
		}
		return bad("A list expected, not %s.", kindName(v.kind))
	case TypeJSON:
		if v.kind == 's' {
			if mp.format == JSONL {
				return mp.appendText(dst, v.s, l.col), true
			}
			if !jsontext.Value(v.s).IsValid() {
				return bad("%s is not valid JSON.", shown(v.s))
			}
			return append(dst, v.s...), true
		}
		return append(dst, v.raw...), true
	}
	return bad("Unknown type %q.", f.Type)
}

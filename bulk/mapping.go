package bulk

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"go.yaml.in/yaml/v3"
)

// Mapping says how the rows of a file become Segment-spec calls. It is read from a YAML (or
// JSON) file by ParseMapping:
//
//	type: identify                # identify (default): one profile update per row; or track
//	key: Customer No              # optional: the column that names the record across exports
//	                              # (keeps generated anonymousIds stable; may be empty)
//	timezone: Europe/Copenhagen   # for times without a zone (default UTC)
//	csv: {delimiter: ";", encoding: latin-1}   # optional; header: false, columns: [...]
//	identifiers:                  # at least one per row must be set
//	  userId: Customer No
//	  email: E-mail               # → traits.email (identify), context.traits.email (track)
//	  customer_number: {column: Customer No}   # a custom type the identity config reads
//	traits:
//	  first_name: First Name
//	  birthday: {column: Born, type: date, format: "%d.%m.%Y"}
//	  lifetime_value: {column: LTV, type: number, decimal: ",", thousands: "."}   # 1.234,50
//	  newsletter: {column: Opt-in, type: boolean}
//	  tags: {column: Tags, type: list, separator: "|"}
//	  signup_source: {value: crm} # a constant
//
// and for events (one track call per row, at the row's own time):
//
//	type: track
//	event: Order Completed        # or event_column: the column holding the name
//	key: order_id                 # one event per order (required in each row): re-importing it adds nothing
//	timestamp: {column: ordered_at, format: "%Y-%m-%d %H:%M"}
//	identifiers: {userId: customer_id, email: email}
//	properties:
//	  order_id: order_id
//	  revenue: {column: total, type: number}
//
// Field types: string (default), number, integer, boolean, date (YYYY-MM-DD), datetime
// (RFC 3339, UTC), list (split on separator, default ","), json (the cell is JSON). Date
// formats: strftime (%Y-%m-%d %H:%M:%S, %d/%m/%y, %b, %z, %f, …), a Go layout, iso8601
// (the default: RFC 3339 and its common relatives), unix, unix_ms or excel (serial days).
// In a JSONL mapping a column is a dotted path into the object ("customer.email").
type Mapping struct {
	Type        mosaic.EventType // identify or track
	Event       string           // track: the event name, unless EventColumn
	EventColumn string           // track: the column holding the event name
	Key         string           // the record key column, "" for none
	Format      Format           // csv or jsonl; "" decides by the file name
	CSV         CSVMapping
	Timezone    string // default zone for times without one; "" is UTC
	Timestamp   *Field // the event time (track) or observation time (identify)
	Identifiers []Field
	Traits      []Field
	Properties  []Field

	lines map[string]int // line of each setting, for errors found later (Compile)
}

// CSVMapping holds the CSV settings of a mapping.
type CSVMapping struct {
	Delimiter byte     // 0 guesses
	NoHeader  bool     // header: false
	Columns   []string // the column names when there is no header
	Encoding  Encoding // "" is auto
}

// Field maps one input column (or a constant) to a member of the call.
type Field struct {
	Name      string // as in the mapping: the trait, property or identifier name
	Path      string // where it goes: userId, traits.email, properties.revenue, context.traits.email
	Column    string // the input column (CSV header name, JSONL path); "" for a constant
	Const     json.RawMessage
	Type      string // string, number, integer, boolean, date, datetime, list, json
	Format    string // date, datetime: the time format
	Timezone  string
	Separator string // list
	Decimal   string // number: "." (default) or ","
	Thousands string // number: a thousands separator to ignore ("," "." " " "'")
	Required  bool   // an empty value makes the row bad
	Setting   string // the mapping setting it comes from, e.g. traits.birthday
	Line      int    // its line in the mapping file
	// TrueValues and FalseValues are more spellings of a boolean (ja, nej), besides
	// true/false, yes/no, 1/0; compared without case.
	TrueValues, FalseValues []string
}

// The field types.
const (
	TypeString   = "string"
	TypeNumber   = "number"
	TypeInteger  = "integer"
	TypeBoolean  = "boolean"
	TypeDate     = "date"
	TypeDatetime = "datetime"
	TypeList     = "list"
	TypeJSON     = "json"
)

var typeAliases = map[string]string{
	"": TypeString, "string": TypeString, "text": TypeString, "number": TypeNumber, "float": TypeNumber, "decimal": TypeNumber,
	"integer": TypeInteger, "int": TypeInteger, "boolean": TypeBoolean, "bool": TypeBoolean, "date": TypeDate,
	"datetime": TypeDatetime, "timestamp": TypeDatetime, "list": TypeList, "array": TypeList, "json": TypeJSON,
}

// MappingError locates a problem in a mapping file. ParseMapping and Compile return it as
// the cause (Err) of an invalid *mosaic.Error whose Field is the setting.
type MappingError struct {
	Line    int    // 0 when unknown
	Field   string // the setting, e.g. traits.birthday.format
	Message string
}

func (e *MappingError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Message)
	}
	return e.Field + ": " + e.Message
}

func mappingError(line int, field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	shown := msg
	if line > 0 {
		shown = fmt.Sprintf("Line %d: %s", line, msg)
	}
	return &mosaic.Error{Code: mosaic.EINVALID, Field: field, Message: shown, Err: &MappingError{Line: line, Field: field, Message: msg}}
}

func nodeError(n *yaml.Node, field, format string, args ...any) error {
	return mappingError(n.Line, field, format, args...)
}

// MaxMappingBytes bounds a mapping file.
const MaxMappingBytes = 256 << 10

// ParseMapping reads a mapping file (YAML or JSON). Every problem is an invalid
// *mosaic.Error naming the setting, with a *MappingError (line and setting) as its cause.
func ParseMapping(b []byte) (*Mapping, error) {
	if len(b) > MaxMappingBytes {
		return nil, mappingError(0, "", "The mapping file is over %d KB.", MaxMappingBytes>>10)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, &mosaic.Error{Code: mosaic.EINVALID, Message: "The mapping is not valid YAML or JSON: " + strings.TrimSuffix(strings.TrimPrefix(err.Error(), "yaml: "), ".") + ".",
			Err: &MappingError{Message: "not valid YAML or JSON: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if len(doc.Content) == 0 {
		return nil, mappingError(0, "", "The mapping is empty.")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nodeError(root, "", "The mapping must be a map of settings (type, identifiers, traits, …).")
	}
	m := &Mapping{Type: mosaic.EventIdentify, lines: map[string]int{}}
	var err error
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := k.Value
		if seen[name] {
			return nil, nodeError(k, name, "%q is set twice.", name)
		}
		seen[name] = true
		m.lines[name] = k.Line
		switch name {
		case "type":
			var t string
			if t, err = scalar(v, name); err != nil {
				return nil, err
			}
			switch mosaic.EventType(strings.ToLower(t)) {
			case mosaic.EventIdentify, mosaic.EventTrack:
				m.Type = mosaic.EventType(strings.ToLower(t))
			default:
				return nil, nodeError(v, name, "Type %q: use identify (rows are profiles) or track (rows are events).", t)
			}
		case "event":
			m.Event, err = scalar(v, name)
		case "event_column":
			m.EventColumn, err = scalar(v, name)
		case "key":
			m.Key, err = scalar(v, name)
		case "timezone":
			if m.Timezone, err = scalar(v, name); err == nil {
				if _, lerr := time.LoadLocation(m.Timezone); lerr != nil {
					err = nodeError(v, name, "Unknown time zone %q (use an IANA name such as Europe/Copenhagen).", m.Timezone)
				}
			}
		case "format":
			var f string
			if f, err = scalar(v, name); err == nil {
				switch Format(strings.ToLower(f)) {
				case CSV, JSONL:
					m.Format = Format(strings.ToLower(f))
				case "ndjson":
					m.Format = JSONL
				default:
					err = nodeError(v, name, "Format %q: use csv or jsonl.", f)
				}
			}
		case "csv":
			err = m.parseCSV(v)
		case "timestamp":
			var f Field
			if f, err = parseField(v, name, "timestamp"); err == nil {
				switch {
				case f.Column != "" && f.Const != nil:
					err = nodeError(v, name, "The timestamp has a column or a value, not both.")
				case f.Const != nil && f.Const[0] != '"' && (f.Const[0] < '0' || f.Const[0] > '9'):
					err = nodeError(v, name+".value", "The timestamp's value is a time, e.g. \"2024-05-01T00:00:00Z\" (or a number with format: unix).")
				}
				if f.Type != TypeString && f.Type != TypeDatetime {
					err = nodeError(v, name+".type", "The timestamp is a datetime; leave its type out.")
				}
				f.Type, f.Path = TypeDatetime, "timestamp"
				if !seenKey(v, "required") {
					f.Required = true
				}
				m.Timestamp = &f
			}
		case "identifiers", "traits", "properties":
			err = m.parseFields(v, name)
		default:
			return nil, nodeError(k, name, "Unknown setting %q (known: type, event, event_column, key, format, csv, timezone, timestamp, identifiers, traits, properties).", name)
		}
		if err != nil {
			return nil, err
		}
	}
	return m, m.check()
}

func seenKey(n *yaml.Node, key string) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// check validates the mapping as a whole, resolves field paths and time zones.
func (m *Mapping) check() error {
	line := func(s string) int { return m.lines[s] }
	switch m.Type {
	case mosaic.EventTrack:
		if (m.Event == "") == (m.EventColumn == "") {
			return mappingError(line("type"), "event", "A track mapping needs the event name: event: Order Completed, or event_column: the column holding it.")
		}
		if strings.TrimSpace(m.Event) == "" && m.EventColumn == "" {
			return mappingError(line("event"), "event", "The event name is empty.")
		}
	case mosaic.EventIdentify:
		if m.Event != "" || m.EventColumn != "" {
			return mappingError(line("event"), "event", "Only track mappings have an event name; set type: track.")
		}
		if len(m.Properties) > 0 {
			return mappingError(line("properties"), "properties", "Identify calls have traits, not properties; set type: track for events.")
		}
	}
	if len(m.Identifiers) == 0 {
		return mappingError(line("identifiers"), "identifiers", "The mapping needs identifiers: at least one of userId, anonymousId, email, phone or a custom identifier column.")
	}
	if m.Key != "" && strings.TrimSpace(m.Key) == "" {
		return mappingError(line("key"), "key", "The key column is empty.")
	}
	paths := map[string]string{} // path → setting
	for _, group := range [][]Field{m.Identifiers, m.Traits, m.Properties} {
		for i := range group {
			f := &group[i]
			f.Path = m.pathOf(f)
			if f.Timezone == "" {
				f.Timezone = m.Timezone
			}
			for p, other := range paths {
				if p == f.Path {
					return mappingError(f.Line, f.Setting, "%s is already set by %s.", f.Path, other)
				}
				if strings.HasPrefix(p, f.Path+".") || strings.HasPrefix(f.Path, p+".") {
					return mappingError(f.Line, f.Setting, "%s and %s (%s) cannot both be set: one is inside the other.", f.Path, p, other)
				}
			}
			paths[f.Path] = f.Setting
		}
	}
	if m.Timestamp != nil && m.Timestamp.Timezone == "" {
		m.Timestamp.Timezone = m.Timezone
	}
	for _, f := range m.fields() {
		if f.Type == TypeDate || f.Type == TypeDatetime {
			if _, err := newTimeParser(f.Format, f.Timezone); err != nil {
				return mappingError(f.Line, f.Setting+".format", "%s", err.Error())
			}
		}
	}
	return nil
}

// fields lists every field, the timestamp first.
func (m *Mapping) fields() []*Field {
	var out []*Field
	if m.Timestamp != nil {
		out = append(out, m.Timestamp)
	}
	for _, group := range [][]Field{m.Identifiers, m.Traits, m.Properties} {
		for i := range group {
			out = append(out, &group[i])
		}
	}
	return out
}

// pathOf resolves where a field goes in the call.
func (m *Mapping) pathOf(f *Field) string {
	group, _, _ := strings.Cut(f.Setting, ".")
	traits := "traits."
	if m.Type == mosaic.EventTrack {
		traits = "context.traits." // a track call carries its person's traits in its context
	}
	switch group {
	case "properties":
		return "properties." + f.Name
	case "traits":
		return traits + f.Name
	}
	switch n := f.Name; {
	case n == "userId" || n == "user_id":
		return "userId"
	case n == "anonymousId" || n == "anonymous_id":
		return "anonymousId"
	case strings.HasPrefix(n, "properties."), strings.HasPrefix(n, "context."):
		return n
	case strings.HasPrefix(n, "traits."):
		return traits + strings.TrimPrefix(n, "traits.")
	default:
		return traits + n
	}
}

func (m *Mapping) parseCSV(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return nodeError(v, "csv", "csv must be a map: {delimiter: \";\", header: true, encoding: auto}.")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		field := "csv." + k.Value
		switch k.Value {
		case "delimiter":
			s, err := scalar(val, field)
			if err != nil {
				return err
			}
			d, err := ParseDelimiter(s)
			if err != nil {
				return nodeError(val, field, "%s", err.Error())
			}
			m.CSV.Delimiter = d
		case "header":
			var b bool
			if val.Decode(&b) != nil {
				return nodeError(val, field, "header is true or false.")
			}
			m.CSV.NoHeader = !b
		case "columns":
			if val.Decode(&m.CSV.Columns) != nil {
				return nodeError(val, field, "columns is a list of column names.")
			}
		case "encoding":
			s, err := scalar(val, field)
			if err != nil {
				return err
			}
			if m.CSV.Encoding, err = ParseEncoding(s); err != nil {
				return nodeError(val, field, "%s", upperFirst(err.Error())+".")
			}
		default:
			return nodeError(k, field, "Unknown CSV setting %q (known: delimiter, header, columns, encoding).", k.Value)
		}
	}
	if len(m.CSV.Columns) > 0 && !m.CSV.NoHeader {
		return mappingError(v.Line, "csv.columns", "Column names are for files without a header; add header: false.")
	}
	return nil
}

// ParseDelimiter reads a delimiter setting: one ASCII character, or tab, \t, comma,
// semicolon, pipe, space.
func ParseDelimiter(s string) (byte, error) {
	switch strings.ToLower(s) {
	case "tab", `\t`, "\t":
		return '\t', nil
	case "comma":
		return ',', nil
	case "semicolon":
		return ';', nil
	case "pipe":
		return '|', nil
	case "space":
		return ' ', nil
	}
	if len(s) != 1 || s[0] >= 0x80 || s[0] == '"' || s[0] == '\n' || s[0] == '\r' {
		return 0, fmt.Errorf("Delimiter %q: give one ASCII character other than a quote or line break (or tab).", s)
	}
	return s[0], nil
}

func (m *Mapping) parseFields(v *yaml.Node, group string) error {
	if v.Kind != yaml.MappingNode {
		return nodeError(v, group, "%s must be a map of names to columns, e.g. email: E-mail.", group)
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		name := strings.TrimSpace(k.Value)
		setting := group + "." + name
		if name == "" {
			return nodeError(k, group, "A name in %s is empty.", group)
		}
		f, err := parseField(val, setting, group)
		if err != nil {
			return err
		}
		f.Name, f.Line = name, k.Line
		switch group {
		case "identifiers":
			if f.Type != TypeString {
				return nodeError(val, setting+".type", "Identifiers are text; leave their type out.")
			}
			if f.Const != nil {
				return nodeError(val, setting, "An identifier comes from a column, not a constant.")
			}
			m.Identifiers = append(m.Identifiers, f)
		case "traits":
			m.Traits = append(m.Traits, f)
		case "properties":
			m.Properties = append(m.Properties, f)
		}
	}
	return nil
}

// parseField reads a field: a column name, or a map of its settings.
func parseField(v *yaml.Node, setting, group string) (Field, error) {
	f := Field{Setting: setting, Line: v.Line, Type: TypeString}
	if v.Kind == yaml.ScalarNode {
		f.Column = v.Value
		if strings.TrimSpace(f.Column) == "" {
			return f, nodeError(v, setting, "The column name is empty.")
		}
		return f, nil
	}
	if v.Kind != yaml.MappingNode {
		return f, nodeError(v, setting, "Give a column name, or {column: …, type: …}.")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		field := setting + "." + k.Value
		var err error
		switch k.Value {
		case "column":
			f.Column, err = scalar(val, field)
			if err == nil && strings.TrimSpace(f.Column) == "" {
				err = nodeError(val, field, "The column name is empty.")
			}
		case "value":
			var x any
			if err = val.Decode(&x); err == nil {
				f.Const, err = json.Marshal(x)
			}
			if err != nil || string(f.Const) == "null" {
				err = nodeError(val, field, "The value must be text, a number, a boolean, a list or a map.")
			}
		case "type":
			var t string
			if t, err = scalar(val, field); err == nil {
				var ok bool
				if f.Type, ok = typeAliases[strings.ToLower(t)]; !ok {
					err = nodeError(val, field, "Unknown type %q (use string, number, integer, boolean, date, datetime, list or json).", t)
				}
			}
		case "format":
			f.Format, err = scalar(val, field)
		case "timezone":
			if f.Timezone, err = scalar(val, field); err == nil {
				if _, lerr := time.LoadLocation(f.Timezone); lerr != nil {
					err = nodeError(val, field, "Unknown time zone %q (use an IANA name such as Europe/Copenhagen).", f.Timezone)
				}
			}
		case "separator":
			f.Separator, err = scalar(val, field)
			if err == nil && f.Separator == "" {
				err = nodeError(val, field, "The separator is empty.")
			}
		case "decimal":
			f.Decimal, err = scalar(val, field)
			if err == nil && f.Decimal != "." && f.Decimal != "," {
				err = nodeError(val, field, "The decimal separator is \".\" or \",\".")
			}
		case "thousands":
			f.Thousands, err = scalar(val, field)
			if err == nil && !slices.Contains([]string{",", ".", " ", "'", "_"}, f.Thousands) {
				err = nodeError(val, field, "The thousands separator is one of , . ' _ or a space.")
			}
		case "required":
			if val.Decode(&f.Required) != nil {
				err = nodeError(val, field, "required is true or false.")
			}
		case "true_values", "false_values":
			var words []string
			if val.Kind == yaml.ScalarNode {
				words = []string{val.Value}
			} else if val.Decode(&words) != nil {
				err = nodeError(val, field, "%s is a word or a list of words, e.g. [ja, j].", k.Value)
			}
			for i, w := range words {
				if words[i] = strings.ToLower(strings.TrimSpace(w)); words[i] == "" {
					err = nodeError(val, field, "%s holds an empty word.", k.Value)
				}
			}
			if k.Value == "true_values" {
				f.TrueValues = words
			} else {
				f.FalseValues = words
			}
		default:
			err = nodeError(k, field, "Unknown field setting %q (known: column, value, type, format, timezone, separator, decimal, thousands, required, true_values, false_values).", k.Value)
		}
		if err != nil {
			return f, err
		}
	}
	switch {
	case f.Column == "" && f.Const == nil:
		return f, nodeError(v, setting, "Give the column it comes from (column: …) or a constant (value: …).")
	case f.Column != "" && f.Const != nil:
		return f, nodeError(v, setting, "Give a column or a constant value, not both.")
	case f.Decimal != "" && f.Decimal == f.Thousands:
		return f, nodeError(v, setting, "The decimal and thousands separators must differ.")
	case f.Format != "" && f.Type != TypeDate && f.Type != TypeDatetime && group != "timestamp":
		return f, nodeError(v, setting+".format", "A format is for dates and times; set type: date or datetime.")
	case (f.TrueValues != nil || f.FalseValues != nil) && f.Type != TypeBoolean:
		return f, nodeError(v, setting, "true_values and false_values are for booleans; set type: boolean.")
	}
	for _, w := range f.TrueValues {
		if slices.Contains(f.FalseValues, w) {
			return f, nodeError(v, setting, "%q is in both true_values and false_values.", w)
		}
	}
	return f, nil
}

func scalar(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", nodeError(n, field, "%s must be a single value.", field)
	}
	return n.Value, nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// MappingHash is the hex SHA-256 of a mapping file together with the reading options that
// override it (format, delimiter, encoding, header): the same file read differently is
// another import.
func MappingHash(mapping []byte, opts Options) string {
	h := sha256.New()
	h.Write(mapping)
	fmt.Fprintf(h, "\x00format=%s\x00delimiter=%d\x00encoding=%s\x00noheader=%v\x00columns=%q",
		opts.Format, opts.Delimiter, opts.Encoding, opts.NoHeader, opts.Columns)
	return hex.EncodeToString(h.Sum(nil))
}

// Digest identifies what m makes of a file read with opts: the hex SHA-256 of its settings
// (not of its text, so comments and layout do not count) and of the reading options that
// change the values read (format, delimiter, encoding, header, column names). Profile
// rows' messageIds depend on it (see Target).
func (m *Mapping) Digest(opts Options) string {
	c := *m
	c.lines = nil
	noLines := func(fs []Field) []Field {
		out := slices.Clone(fs)
		for i := range out {
			out[i].Line = 0
		}
		return out
	}
	c.Identifiers, c.Traits, c.Properties = noLines(m.Identifiers), noLines(m.Traits), noLines(m.Properties)
	if m.Timestamp != nil {
		ts := *m.Timestamp
		ts.Line = 0
		c.Timestamp = &ts
	}
	b, err := json.Marshal(struct {
		Mapping   *Mapping
		Format    Format
		Delimiter byte
		Encoding  Encoding
		NoHeader  bool
		Columns   []string
	}{&c, opts.Format, opts.Delimiter, opts.Encoding, opts.NoHeader, opts.Columns})
	if err != nil { // cannot happen: constants are JSON already
		panic("bulk: encoding a mapping: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ReadOptions returns how to read a file for m: its CSV settings, in format.
func (m *Mapping) ReadOptions(format Format) Options {
	return Options{Format: format, Delimiter: m.CSV.Delimiter, NoHeader: m.CSV.NoHeader, Columns: m.CSV.Columns, Encoding: m.CSV.Encoding}
}

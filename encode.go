package mosaic

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The stores write every processed event and every changed profile as JSON. encoding/json
// spends most of that time on reflection, sorting map keys through reflect.Value and
// re-compacting json.RawMessage values; these encoders write the same JSON directly (a
// property test holds them to encoding/json: both decode to the same value). They are for
// the processor's write path only; API responses use encoding/json.

// AppendJSON appends the JSON encoding of e, with the fields and omissions of its json tags.
// It fails, as encoding/json does, for a time outside years 0–9999.
func (e *Event) AppendJSON(b []byte) ([]byte, error) { return e.appendJSON(b, true) }

// AppendStoredJSON appends the JSON encoding of e without the members a store keeps in
// columns of its own (id, source_id, messageId, type, event, userId, anonymousId) and
// without profile_id (stores read the profile that holds an event's identity now): measured
// with segload's events, 473 bytes instead of 689. Decoding it and then SetStoredColumns gives e back, but for
// ProfileID.
func (e *Event) AppendStoredJSON(b []byte) ([]byte, error) { return e.appendJSON(b, false) }

// SetStoredColumns sets the fields AppendStoredJSON leaves to the store's columns. Empty
// values (a column that is NULL) leave a field as it is, so an event stored whole before
// reads the same.
func (e *Event) SetStoredColumns(id int64, source SourceID, messageID string, typ EventType, event, userID, anonymousID string) {
	e.ID = id
	e.SourceID = cmp.Or(source, e.SourceID)
	e.MessageID = cmp.Or(messageID, e.MessageID)
	e.Type = cmp.Or(typ, e.Type)
	e.Event = cmp.Or(event, e.Event)
	e.UserID = cmp.Or(userID, e.UserID)
	e.AnonymousID = cmp.Or(anonymousID, e.AnonymousID)
}

// appendJSON writes every member with a leading comma, and the first comma becomes the
// opening brace (timestamp is always written).
func (e *Event) appendJSON(b []byte, whole bool) ([]byte, error) {
	start := len(b)
	if whole {
		b = append(b, `,"id":`...)
		b = strconv.AppendInt(b, e.ID, 10)
		b = appendField(b, "source_id", string(e.SourceID))
		b = appendField(b, "messageId", e.MessageID)
		b = appendField(b, "type", string(e.Type))
	}
	for _, f := range [...]struct {
		name, v string
		column  bool
	}{{"event", e.Event, true}, {"name", e.Name, false}, {"category", e.Category, false},
		{"userId", e.UserID, true}, {"anonymousId", e.AnonymousID, true}, {"groupId", e.GroupID, false}, {"previousId", e.PreviousID, false}} {
		if f.v != "" && (whole || !f.column) {
			b = appendField(b, f.name, f.v)
		}
	}
	var err error
	if b, err = appendTimeField(b, "timestamp", e.Timestamp); err != nil {
		return nil, err
	}
	if e.OriginalTimestamp != nil {
		if b, err = appendTimeField(b, "originalTimestamp", *e.OriginalTimestamp); err != nil {
			return nil, err
		}
	}
	if e.SentAt != nil {
		if b, err = appendTimeField(b, "sentAt", *e.SentAt); err != nil {
			return nil, err
		}
	}
	if b, err = appendTimeField(b, "receivedAt", e.ReceivedAt); err != nil {
		return nil, err
	}
	for _, f := range [...]struct {
		name string
		v    json.RawMessage
	}{{"properties", e.Properties}, {"traits", e.Traits}, {"context", e.Context}, {"integrations", e.Integrations}} {
		if len(f.v) > 0 {
			b = append(b, ',')
			b = appendString(b, f.name)
			b = append(b, ':')
			b = append(b, f.v...)
		}
	}
	if whole && e.ProfileID != "" {
		b = appendField(b, "profile_id", string(e.ProfileID))
	}
	b = appendExtras(b, e.Extra)
	b[start] = '{'
	return append(b, '}'), nil
}

// appendExtras appends an event's Extra members as ,"name":value pairs, in name order,
// leaving out names the event owns (IsExtraMember).
func appendExtras(b []byte, extra map[string]json.RawMessage) []byte {
	if len(extra) == 0 {
		return b
	}
	for _, k := range sortedKeys(extra) {
		if !IsExtraMember(k) {
			continue
		}
		b = appendMember(append(b, ','), k, extra[k])
	}
	return b
}

// appendMember appends "k":v to b, with null for an empty value.
func appendMember(b []byte, k string, v json.RawMessage) []byte {
	b = appendString(b, k)
	b = append(b, ':')
	if len(v) == 0 {
		return append(b, "null"...)
	}
	return append(b, v...)
}

// MarshalTraits returns the JSON object of trait values by name, in name order (a nil map
// is {}, an empty value null).
func MarshalTraits(m map[string]json.RawMessage) []byte {
	b := make([]byte, 0, 32*len(m)+2)
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMember(b, k, m[k])
	}
	return append(b, '}')
}

// MarshalTraitSources returns the JSON object of trait sources by name, in name order (a nil
// map is {}).
func MarshalTraitSources(m map[string]TraitSource) []byte {
	b := make([]byte, 0, 160*len(m)+2)
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = m[k].AppendJSON(b)
	}
	return append(b, '}')
}

// AppendJSON appends the JSON encoding of s. Its times come from events, whose years lie
// within 0–9999 (they are parsed from four-digit years and corrected by at most 292 years).
func (s TraitSource) AppendJSON(b []byte) []byte {
	b = append(b, `{"source_id":`...)
	b = appendString(b, string(s.SourceID))
	b = appendField(b, "message_id", s.MessageID)
	b, _ = appendTimeField(b, "event_time", s.EventTime)
	b, _ = appendTimeField(b, "received_at", s.ReceivedAt)
	b = appendField(b, "rule", s.Rule)
	return append(b, '}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendField appends ,"name":"v".
func appendField(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

func appendTimeField(b []byte, name string, t time.Time) ([]byte, error) {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return nil, fmt.Errorf("%s: year %d outside of range [0,9999]", name, year)
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':', '"')
	if t.Location() != time.UTC {
		b = t.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"'), nil
	}
	return append(appendUTC(b, t, year, int(month), day), '"'), nil
}

// appendUTC appends a UTC time as time.RFC3339Nano formats it (the fraction without trailing
// zeros, "Z" for the zone), at a fraction of AppendFormat's cost: the processor writes
// several times per event and per trait.
func appendUTC(b []byte, t time.Time, year, month, day int) []byte {
	hour, min, sec := t.Clock()
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+min/10), byte('0'+min%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, escaped as encoding/json escapes it:
// control characters, quote and backslash; <, > and & for HTML safety; U+2028 and U+2029;
// invalid UTF-8 becomes U+FFFD.
func AppendJSONString(b []byte, s string) []byte { return appendString(b, s) }

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// JSONKind names, for people, what a Go type takes in JSON (and so in YAML settings): "a
// string", "a whole number", "a list", … — for errors about a value of the wrong kind.
func JSONKind(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return JSONKind(t.Elem())
	}
	return "another kind of value"
}

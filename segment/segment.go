// Package segment parses and validates Segment-spec tracking calls (track, identify, page,
// screen, group, alias and batch bodies) as analytics.js, analytics-node, analytics-go and
// RudderStack's SDKs send them. It does no I/O: the gateway uses ParseRequest to validate a
// body before acknowledging it, and the processor uses DecodeEvent to turn a stored payload
// into a mosaic.Event.
//
// Every failure is a *mosaic.Error naming the offending field as a JSON path
// ("batch[3].userId"), so a client learns exactly what to fix. Limits follow Segment's
// (32 KB per event, 500 KB and 2500 events per batch, messageId ≤ 100 characters), but where
// Segment answers 200 and drops an event, Mosaic answers 4xx.
package segment

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/mosaic-cdp/mosaic"
)

// Limits, as Segment documents them.
const (
	MaxEventBytes   = 32 << 10  // one event
	MaxBatchBytes   = 500 << 10 // one batch body (after gzip decoding)
	MaxBatchEvents  = 2500
	maxNestingDepth = 64
)

// Batch is the call kind of /v1/batch (and /v1/import) bodies.
const Batch = "batch"

// Message is one validated event of a request.
type Message struct {
	MessageID string // as sent; "" when the client sent none
	// Raw is the event object, with batch-level context and integrations merged in. It may
	// share memory with the body given to ParseRequest.
	Raw []byte
}

// Request is a validated tracking request body.
type Request struct {
	WriteKey mosaic.WriteKey // from the body ("writeKey"), "" if absent
	SentAt   *time.Time      // batch-level sentAt
	Messages []Message
}

// ParseRequest validates a request body for call, which is an event type ("track", …) or
// Batch. Single calls take the type from the endpoint when the body has none.
//
// A valid body is read once (parseFast); a body that parseFast does not accept goes through
// the careful path, which is slower but names the problem.
func ParseRequest(body []byte, call string) (*Request, error) {
	if !utf8.Valid(body) {
		return nil, mosaic.Errorf(mosaic.EINVALID, "Body is not valid UTF-8.")
	}
	if call != Batch && len(body) > MaxEventBytes {
		return nil, mosaic.Errorf(mosaic.ETOOLARGE, "Event is %d bytes; the limit is %d (32 KB).", len(body), MaxEventBytes)
	}
	if len(body) > MaxBatchBytes {
		return nil, mosaic.Errorf(mosaic.ETOOLARGE, "Batch is %d bytes; the limit is %d (500 KB).", len(body), MaxBatchBytes)
	}
	body = replaceLoneSurrogates(body)
	kind, err := topKind(body)
	if err != nil {
		return nil, err
	}
	if kind != '{' {
		return nil, mosaic.Errorf(mosaic.EINVALID, "Body must be a JSON object, not %s.", kindName(kind))
	}
	if req := parseFast(body, call); req != nil {
		return req, nil
	}
	return parseCareful(body, call)
}

// replaceLoneSurrogates returns body with every \u escape of a lone UTF-16 surrogate (half
// of an emoji a JavaScript client cut in two: JSON.stringify writes it so) kept as the text
// of its escape (\\ud83d), rather than refusing the whole batch. U+FFFD would lose it: two
// ids that differ only in the half emoji would be one customer, two messageIds one message.
// Body is returned as it is (not copied) when it has none.
func replaceLoneSurrogates(body []byte) []byte {
	var out []byte // a copy, once there is something to replace
	done := 0      // body[:done] is in out
	for i := 0; i+5 < len(body); i++ {
		j := bytes.IndexByte(body[i:], '\\')
		if j < 0 {
			break
		}
		if i += j; i+5 >= len(body) {
			break
		}
		if body[i+1] != 'u' { // another escape: skip its second byte (\\ must not start one)
			i++
			continue
		}
		hi, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 16)
		if err != nil || hi < 0xd800 || hi > 0xdfff {
			i += 5
			continue
		}
		if hi < 0xdc00 && i+11 < len(body) && body[i+6] == '\\' && body[i+7] == 'u' {
			if lo, err := strconv.ParseUint(string(body[i+8:i+12]), 16, 16); err == nil && lo >= 0xdc00 && lo <= 0xdfff {
				i += 11 // a pair
				continue
			}
		}
		if out == nil {
			out = make([]byte, 0, len(body)+8)
		}
		out = append(append(out, body[done:i]...), '\\') // escape the backslash: \\ud83d
		done = i
		i += 5
	}
	if out == nil {
		return body
	}
	return append(out, body[done:]...)
}

// parseFast validates body in one pass and returns nil if it finds any problem, for
// parseCareful to name. It accepts exactly what parseCareful accepts, with the same result
// (FuzzParseFast checks this), except for rare forms it leaves to parseCareful, such as
// member names with escapes.
func parseFast(body []byte, call string) *Request {
	d := getDecoder(body)
	defer putDecoder(d)
	dec := &d.dec
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil
	}
	var (
		writeKey, sentAt, ctx, integrations jsontext.Value
		single                              wireEvent // the event of a single call
		msgs                                []Message // the events of a batch; nil until read
	)
	for dec.PeekKind() != '}' {
		name, ok := readName(dec)
		if !ok {
			return nil
		}
		var dst *jsontext.Value
		switch n := string(name); {
		case n == "writeKey":
			dst = &writeKey
		case call != Batch:
			dst = single.member(name)
		case n == "sentAt":
			dst = &sentAt
		case n == "context":
			dst = &ctx
		case n == "integrations":
			dst = &integrations
		case n == "batch" && dec.PeekKind() == '[':
			if msgs = readBatch(dec, body); msgs == nil {
				return nil
			}
			continue
		case n == "batch":
			return nil // not an array
		}
		if dst == nil {
			if dec.SkipValue() != nil {
				return nil
			}
			continue
		}
		v, err := dec.ReadValue()
		if err != nil {
			return nil
		}
		*dst = v
	}
	if _, err := dec.ReadToken(); err != nil { // '}'
		return nil
	}
	if _, err := dec.ReadToken(); err != io.EOF { // nothing after the body
		return nil
	}
	wk, err := optString(writeKey, "writeKey")
	if err != nil {
		return nil
	}
	req := &Request{WriteKey: mosaic.WriteKey(wk)}
	if call != Batch {
		var e mosaic.Event
		if single.decode(&e, mosaic.EventType(call), "") != nil {
			return nil
		}
		id, _ := messageIDOf(single.MessageID)
		req.Messages = []Message{{MessageID: id, Raw: withType(body, single.Type, call)}}
		return req
	}
	if req.SentAt, err = optTime(sentAt, "sentAt"); err != nil {
		return nil
	}
	if optObject(ctx, "context") != nil || optObject(integrations, "integrations") != nil || len(msgs) == 0 {
		return nil
	}
	if len(ctx) > 0 && ctx.Kind() == '{' || len(integrations) > 0 && integrations.Kind() == '{' {
		for i := range msgs {
			if msgs[i].Raw, err = mergeBatchFields(msgs[i].Raw, ctx, integrations); err != nil {
				return nil
			}
		}
	}
	req.Messages = msgs
	return req
}

// readBatch reads the "batch" array at dec's position in body and returns its events (empty,
// not nil, for an empty array), or nil at the first problem.
func readBatch(dec *jsontext.Decoder, body []byte) []Message {
	if _, err := dec.ReadToken(); err != nil { // '['
		return nil
	}
	msgs := make([]Message, 0, 128)
	for dec.PeekKind() != ']' {
		if dec.PeekKind() != '{' || len(msgs) >= MaxBatchEvents {
			return nil
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil
		}
		start := dec.InputOffset() - 1
		var w wireEvent
		if !w.readMembers(dec) {
			return nil
		}
		end := dec.InputOffset()
		if end-start > MaxEventBytes {
			return nil
		}
		var e mosaic.Event
		if w.decode(&e, "", "") != nil {
			return nil
		}
		msgs = append(msgs, Message{MessageID: e.MessageID, Raw: body[start:end:end]})
	}
	if _, err := dec.ReadToken(); err != nil { // ']'
		return nil
	}
	return msgs
}

// parseCareful validates body step by step and returns the first problem in a fixed order:
// invalid JSON anywhere, then the batch-level members, then the events in order.
func parseCareful(body []byte, call string) (*Request, error) {
	var top struct {
		Batch        jsontext.Value `json:"batch"`
		WriteKey     jsontext.Value `json:"writeKey"`
		SentAt       jsontext.Value `json:"sentAt"`
		Context      jsontext.Value `json:"context"`
		Integrations jsontext.Value `json:"integrations"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, jsonError("", err)
	}
	req := &Request{}
	wk, err := optString(top.WriteKey, "writeKey")
	if err != nil {
		return nil, err
	}
	req.WriteKey = mosaic.WriteKey(wk)
	if call != Batch {
		if _, err := DecodeEvent(body, mosaic.EventType(call), ""); err != nil {
			return nil, err
		}
		id, _ := messageIDOf(messageIDValue(body))
		req.Messages = []Message{{MessageID: id, Raw: withType(body, typeValue(body), call)}}
		return req, nil
	}
	if req.SentAt, err = optTime(top.SentAt, "sentAt"); err != nil {
		return nil, err
	}
	if err := optObject(top.Context, "context"); err != nil {
		return nil, err
	}
	if err := optObject(top.Integrations, "integrations"); err != nil {
		return nil, err
	}
	if len(top.Batch) == 0 || top.Batch.Kind() == 'n' {
		return nil, mosaic.FieldErrorf(mosaic.EINVALID, "batch", "Body needs a \"batch\" array of events.")
	}
	if top.Batch.Kind() != '[' {
		return nil, mosaic.FieldErrorf(mosaic.EINVALID, "batch", "\"batch\" must be an array, not %s.", kindName(top.Batch.Kind()))
	}
	dec := jsontext.NewDecoder(bytes.NewReader(top.Batch))
	if _, err := dec.ReadToken(); err != nil {
		return nil, jsonError("batch", err)
	}
	for i := 0; dec.PeekKind() != ']'; i++ {
		field := "batch[" + strconv.Itoa(i) + "]"
		if i >= MaxBatchEvents {
			return nil, mosaic.FieldErrorf(mosaic.ETOOLARGE, "batch", "A batch holds at most %d events.", MaxBatchEvents)
		}
		v, err := dec.ReadValue()
		if err != nil {
			return nil, jsonError(field, err)
		}
		if v.Kind() != '{' {
			return nil, mosaic.FieldErrorf(mosaic.EINVALID, field, "Event must be a JSON object, not %s.", kindName(v.Kind()))
		}
		if len(v) > MaxEventBytes {
			return nil, mosaic.FieldErrorf(mosaic.ETOOLARGE, field, "Event is %d bytes; the limit is %d (32 KB).", len(v), MaxEventBytes)
		}
		raw := bytes.Clone(v)
		ev, err := DecodeEvent(raw, "", field)
		if err != nil {
			return nil, err
		}
		if len(top.Context) > 0 && top.Context.Kind() == '{' || len(top.Integrations) > 0 && top.Integrations.Kind() == '{' {
			if raw, err = mergeBatchFields(raw, top.Context, top.Integrations); err != nil {
				return nil, jsonError(field, err)
			}
		}
		req.Messages = append(req.Messages, Message{MessageID: ev.MessageID, Raw: raw})
	}
	if len(req.Messages) == 0 {
		return nil, mosaic.FieldErrorf(mosaic.EINVALID, "batch", "Batch is empty.")
	}
	return req, nil
}

// typeValue extracts the raw type member of an already validated event.
func typeValue(body []byte) jsontext.Value {
	var t struct {
		Type jsontext.Value `json:"type"`
	}
	json.Unmarshal(body, &t)
	return t.Type
}

// withType returns the single-call body with "type" set from the endpoint when the body has
// none (typ, its raw type member, is absent or null), so that a stored payload is
// self-describing.
func withType(body []byte, typ jsontext.Value, call string) []byte {
	if !isNull(typ) {
		return body
	}
	if len(typ) > 0 { // an explicit null: rewrite the member
		var m map[string]jsontext.Value
		json.Unmarshal(body, &m)
		m["type"] = jsontext.Value(`"` + call + `"`)
		out, _ := json.Marshal(m, json.Deterministic(true))
		return out
	}
	rest := bytes.TrimSpace(body)[1:] // validated: an object
	out := make([]byte, 0, len(body)+len(call)+10)
	out = append(out, `{"type":"`...)
	out = append(out, call...)
	out = append(out, '"')
	if r := bytes.TrimSpace(rest); len(r) > 0 && r[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

// messageIDValue extracts the raw messageId member of an already validated event.
func messageIDValue(raw []byte) jsontext.Value {
	var m struct {
		MessageID jsontext.Value `json:"messageId"`
	}
	json.Unmarshal(raw, &m)
	return m.MessageID
}

// wireEvent is an event as sent. Every field is raw so that type errors get our own message.
// Its fields are the members json.Unmarshal would fill; wireEvent.member lists the same names.
type wireEvent struct {
	Type              jsontext.Value `json:"type"`
	MessageID         jsontext.Value `json:"messageId"`
	Event             jsontext.Value `json:"event"`
	Name              jsontext.Value `json:"name"`
	Category          jsontext.Value `json:"category"`
	UserID            jsontext.Value `json:"userId"`
	AnonymousID       jsontext.Value `json:"anonymousId"`
	GroupID           jsontext.Value `json:"groupId"`
	PreviousID        jsontext.Value `json:"previousId"`
	Timestamp         jsontext.Value `json:"timestamp"`
	OriginalTimestamp jsontext.Value `json:"originalTimestamp"`
	SentAt            jsontext.Value `json:"sentAt"`
	Properties        jsontext.Value `json:"properties"`
	Traits            jsontext.Value `json:"traits"`
	Context           jsontext.Value `json:"context"`
	Integrations      jsontext.Value `json:"integrations"`
	// Extra are the other members (mosaic.Event.Extra).
	Extra []extraMember `json:"-"`
}

type extraMember struct {
	name  string
	value jsontext.Value
}

// member returns the field of w that the object member name (unquoted) is decoded into, or
// nil for a member Mosaic does not read.
func (w *wireEvent) member(name []byte) *jsontext.Value {
	switch string(name) {
	case "type":
		return &w.Type
	case "messageId":
		return &w.MessageID
	case "event":
		return &w.Event
	case "name":
		return &w.Name
	case "category":
		return &w.Category
	case "userId":
		return &w.UserID
	case "anonymousId":
		return &w.AnonymousID
	case "groupId":
		return &w.GroupID
	case "previousId":
		return &w.PreviousID
	case "timestamp":
		return &w.Timestamp
	case "originalTimestamp":
		return &w.OriginalTimestamp
	case "sentAt":
		return &w.SentAt
	case "properties":
		return &w.Properties
	case "traits":
		return &w.Traits
	case "context":
		return &w.Context
	case "integrations":
		return &w.Integrations
	}
	return nil
}

// read fills w from raw, a whole event object, in one pass; the values share memory with
// raw. It reports false, leaving w in an unspecified state, for anything json.Unmarshal
// might treat differently: invalid JSON, trailing data, member names with escapes.
func (w *wireEvent) read(raw []byte) bool {
	d := getDecoder(raw)
	defer putDecoder(d)
	if tok, err := d.dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return false
	}
	if !w.readMembers(&d.dec) {
		return false
	}
	_, err := d.dec.ReadToken()
	return err == io.EOF
}

// readMembers reads the members of the object whose '{' dec has just returned, through its
// closing '}'.
func (w *wireEvent) readMembers(dec *jsontext.Decoder) bool {
	for dec.PeekKind() != '}' {
		name, ok := readName(dec)
		if !ok {
			return false
		}
		if dst := w.member(name); dst != nil {
			v, err := dec.ReadValue()
			if err != nil {
				return false
			}
			*dst = v
		} else if mosaic.IsExtraMember(string(name)) {
			v, err := dec.ReadValue()
			if err != nil {
				return false
			}
			w.Extra = append(w.Extra, extraMember{string(name), v})
		} else if dec.SkipValue() != nil {
			return false
		}
	}
	_, err := dec.ReadToken()
	return err == nil
}

// readName reads an object member name and returns it unquoted, or false if it has escapes
// (or the input is invalid).
func readName(dec *jsontext.Decoder) ([]byte, bool) {
	v, err := dec.ReadValue()
	if err != nil || len(v) < 2 || v[0] != '"' || bytes.IndexByte(v, '\\') >= 0 {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// bufferDecoder is a jsontext.Decoder reading straight from a byte slice (through a
// bytes.Buffer, which jsontext parses in place): the values it returns share memory with
// the slice and stay valid after the next read.
type bufferDecoder struct {
	buf bytes.Buffer
	dec jsontext.Decoder
}

var decoders = sync.Pool{New: func() any { return new(bufferDecoder) }}

func getDecoder(b []byte) *bufferDecoder {
	d := decoders.Get().(*bufferDecoder)
	d.buf = *bytes.NewBuffer(b)
	d.dec.Reset(&d.buf)
	return d
}

func putDecoder(d *bufferDecoder) {
	d.buf = bytes.Buffer{} // do not pin the input
	d.dec.Reset(&d.buf)
	decoders.Put(d)
}

// DecodeEvent validates one event object and returns it as a mosaic.Event without source,
// receive time or skew correction (the processor adds those). want is the type the endpoint
// implies ("" for batch members, which must name their type); field prefixes error paths.
func DecodeEvent(raw []byte, want mosaic.EventType, field string) (*mosaic.Event, error) {
	if len(raw) == 0 || raw[0] != '{' {
		if k, err := topKind(raw); err == nil && k != '{' {
			return nil, mosaic.FieldErrorf(mosaic.EINVALID, field, "Event must be a JSON object, not %s.", kindName(k))
		}
	}
	var w wireEvent
	if !w.read(raw) {
		w = wireEvent{}
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, jsonError(field, err)
		}
		var all map[string]jsontext.Value
		if err := json.Unmarshal(raw, &all); err != nil {
			return nil, jsonError(field, err)
		}
		for _, name := range slices.Sorted(maps.Keys(all)) {
			if mosaic.IsExtraMember(name) {
				w.Extra = append(w.Extra, extraMember{name, all[name]})
			}
		}
	} else { // the event must not share memory with raw
		for _, v := range []*jsontext.Value{&w.Properties, &w.Traits, &w.Context, &w.Integrations} {
			*v = bytes.Clone(*v)
		}
		for i := range w.Extra {
			w.Extra[i].value = bytes.Clone(w.Extra[i].value)
		}
	}
	e := &mosaic.Event{}
	if err := w.decode(e, want, field); err != nil {
		return nil, err
	}
	return e, nil
}

// decode validates w as DecodeEvent does and fills e; e's raw JSON members share memory with w.
func (w *wireEvent) decode(e *mosaic.Event, want mosaic.EventType, field string) error {
	path := func(name string) string {
		if field == "" {
			return name
		}
		return field + "." + name
	}
	typ, err := optString(w.Type, path("type"))
	if err != nil {
		return err
	}
	switch {
	case typ == "" && want == "":
		return mosaic.FieldErrorf(mosaic.EINVALID, path("type"), "Event needs a \"type\": one of track, identify, page, screen, group, alias.")
	case typ == "":
		e.Type = want
	case !mosaic.EventType(typ).Valid():
		return mosaic.FieldErrorf(mosaic.EINVALID, path("type"), "Unknown type %q: use track, identify, page, screen, group or alias.", typ)
	case want != "" && mosaic.EventType(typ) != want:
		return mosaic.FieldErrorf(mosaic.EINVALID, path("type"), "Type %q sent to the %s endpoint.", typ, want)
	default:
		e.Type = mosaic.EventType(typ)
	}
	if e.MessageID, err = optID(w.MessageID, path("messageId")); err != nil {
		return err
	}
	if utf8.RuneCountInString(e.MessageID) > mosaic.MaxMessageIDLength {
		return mosaic.FieldErrorf(mosaic.EINVALID, path("messageId"), "messageId is longer than %d characters.", mosaic.MaxMessageIDLength)
	}
	for _, f := range []struct {
		v    jsontext.Value
		name string
		dst  *string
	}{
		{w.UserID, "userId", &e.UserID}, {w.AnonymousID, "anonymousId", &e.AnonymousID},
		{w.GroupID, "groupId", &e.GroupID}, {w.PreviousID, "previousId", &e.PreviousID},
	} {
		if *f.dst, err = optID(f.v, path(f.name)); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		v    jsontext.Value
		name string
		dst  *string
	}{{w.Event, "event", &e.Event}, {w.Name, "name", &e.Name}, {w.Category, "category", &e.Category}} {
		if *f.dst, err = optString(f.v, path(f.name)); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		v    jsontext.Value
		name string
		dst  *[]byte
	}{
		{w.Properties, "properties", (*[]byte)(&e.Properties)}, {w.Traits, "traits", (*[]byte)(&e.Traits)},
		{w.Context, "context", (*[]byte)(&e.Context)}, {w.Integrations, "integrations", (*[]byte)(&e.Integrations)},
	} {
		if err := optObject(f.v, path(f.name)); err != nil {
			return err
		}
		if len(f.v) > 0 && f.v.Kind() == '{' {
			*f.dst = f.v
		}
	}
	if len(w.Extra) > 0 {
		e.Extra = make(map[string]stdjson.RawMessage, len(w.Extra))
		for _, m := range w.Extra {
			e.Extra[m.name] = stdjson.RawMessage(m.value)
		}
	}
	ts, err := optTime(w.Timestamp, path("timestamp"))
	if err != nil {
		return err
	}
	ots, err := optTime(w.OriginalTimestamp, path("originalTimestamp"))
	if err != nil {
		return err
	}
	if ts == nil { // RudderStack sends originalTimestamp only
		ts = ots
	}
	e.OriginalTimestamp = ts
	if e.SentAt, err = optTime(w.SentAt, path("sentAt")); err != nil {
		return err
	}
	switch e.Type {
	case mosaic.EventTrack:
		if strings.TrimSpace(e.Event) == "" {
			return mosaic.FieldErrorf(mosaic.EINVALID, path("event"), "A track call needs an \"event\" name.")
		}
	case mosaic.EventGroup:
		if e.GroupID == "" {
			return mosaic.FieldErrorf(mosaic.EINVALID, path("groupId"), "A group call needs a \"groupId\".")
		}
	case mosaic.EventAlias:
		if e.PreviousID == "" {
			return mosaic.FieldErrorf(mosaic.EINVALID, path("previousId"), "An alias call needs a \"previousId\".")
		}
		if e.UserID == "" {
			return mosaic.FieldErrorf(mosaic.EINVALID, path("userId"), "An alias call needs a \"userId\".")
		}
	}
	if e.UserID == "" && e.AnonymousID == "" {
		return mosaic.FieldErrorf(mosaic.EINVALID, path("userId"), "Event needs a \"userId\" or an \"anonymousId\".")
	}
	return nil
}

// topKind returns the kind of the first JSON value in b, or an invalid-JSON error.
func topKind(b []byte) (jsontext.Kind, error) {
	// Fast path, with no decoder to allocate: an object, as every valid body is. PeekKind
	// would say the same without looking past the brace.
	for _, c := range b {
		if c == '{' {
			return '{', nil
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			break
		}
	}
	dec := jsontext.NewDecoder(bytes.NewReader(b))
	k := dec.PeekKind()
	if k == 0 {
		if _, err := dec.ReadToken(); err != nil {
			return 0, jsonError("", err)
		}
		return 0, mosaic.Errorf(mosaic.EINVALID, "Body is empty; send a JSON object.")
	}
	return k, nil
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	}
	return "nothing"
}

// jsonError turns a decoder error into an invalid-JSON error at field.
func jsonError(field string, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "jsontext: ")
	msg = strings.TrimPrefix(msg, "json: ")
	return &mosaic.Error{Code: mosaic.EINVALID, Field: field, Message: "Invalid JSON: " + msg + ".", Err: err}
}

func isNull(v jsontext.Value) bool { return len(v) == 0 || v.Kind() == 'n' }

// isInteger reports whether a JSON number is written as an integer (no fraction, no exponent).
func isInteger(v jsontext.Value) bool {
	s := bytes.TrimPrefix(v, []byte("-"))
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// optString returns a string member ("" when absent or null).
func optString(v jsontext.Value, field string) (string, error) {
	if isNull(v) {
		return "", nil
	}
	if v.Kind() != '"' {
		return "", mosaic.FieldErrorf(mosaic.EINVALID, field, "%s must be a string, not %s.", lastName(field), kindName(v.Kind()))
	}
	if bytes.IndexByte(v, '\\') < 0 { // v comes from a decoder, so it is a valid string
		return string(v[1 : len(v)-1]), nil
	}
	s, err := jsontext.AppendUnquote(nil, v)
	if err != nil {
		return "", jsonError(field, err)
	}
	return string(s), nil
}

// messageIDOf returns a messageId as the gateway keeps it: a string as sent, a number as its
// decimal string (so a retry of a numeric id is the same message).
func messageIDOf(v jsontext.Value) (string, error) {
	if !isNull(v) && v.Kind() == '0' {
		return optID(v, "messageId")
	}
	return optString(v, "messageId")
}

// optID returns an identifier member: a string, or a number taken as its decimal string
// (tracking code often sends numeric ids). An integer keeps its digits as sent, however
// many: 18446744073709551615 is not rounded into another customer's id.
func optID(v jsontext.Value, field string) (string, error) {
	if !isNull(v) && v.Kind() == '0' {
		if isInteger(v) {
			return string(v), nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return "", mosaic.FieldErrorf(mosaic.EINVALID, field, "%s is not a usable number.", lastName(field))
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	}
	s, err := optString(v, field)
	if err != nil {
		return "", mosaic.FieldErrorf(mosaic.EINVALID, field, "%s must be a string or a number, not %s.", lastName(field), kindName(v.Kind()))
	}
	return strings.TrimSpace(s), nil
}

func optObject(v jsontext.Value, field string) error {
	if isNull(v) || v.Kind() == '{' {
		return nil
	}
	return mosaic.FieldErrorf(mosaic.EINVALID, field, "%s must be an object, not %s.", lastName(field), kindName(v.Kind()))
}

// timeLayouts are the ISO-8601 forms accepted for timestamps; without a zone, UTC is assumed.
// Besides RFC 3339: offsets without a colon (+0530, as Python's %z and Java write them),
// times without seconds, and a space for the T.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00", "2006-01-02T15:04Z0700", "2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z0700", "2006-01-02 15:04:05.999999999", "2006-01-02"}

func optTime(v jsontext.Value, field string) (*time.Time, error) {
	s, err := optString(v, field)
	if err != nil || s == "" {
		return nil, err
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, mosaic.FieldErrorf(mosaic.EINVALID, field, "%s %q is not an ISO-8601 date-time (e.g. 2026-11-26T10:00:00.000Z).", lastName(field), s)
}

func lastName(field string) string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[i+1:]
	}
	return field
}

// mergeBatchFields returns the event with the batch-level context and integrations merged
// under its own: keys the event sets win.
func mergeBatchFields(raw []byte, ctx, integrations jsontext.Value) ([]byte, error) {
	var ev map[string]jsontext.Value
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	for name, batch := range map[string]jsontext.Value{"context": ctx, "integrations": integrations} {
		if len(batch) == 0 || batch.Kind() != '{' {
			continue
		}
		merged := map[string]jsontext.Value{}
		if err := json.Unmarshal(batch, &merged); err != nil {
			return nil, err
		}
		if own := ev[name]; len(own) > 0 && own.Kind() == '{' {
			if err := json.Unmarshal(own, &merged); err != nil { // own keys overwrite
				return nil, err
			}
		}
		b, err := json.Marshal(merged, json.Deterministic(true))
		if err != nil {
			return nil, err
		}
		ev[name] = b
	}
	out, err := json.Marshal(ev, json.Deterministic(true))
	if err != nil {
		return nil, fmt.Errorf("re-encode event: %w", err)
	}
	return out, nil
}

// Package identity is Mosaic's identity resolution logic, free of I/O: it extracts and
// normalises identifiers from events, and decides which identifiers form one customer
// profile under per-type rules (priority, per-profile limits, blocklist, hub protection).
//
// The decision is a pure function of the set of links (edges) among identifiers: edges are
// applied in a canonical order — explicit links (alias) first, then by event time and
// evidence id — so resolving the same events in any arrival order yields the same profiles.
package identity

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/mosaic-cdp/mosaic"
	"github.com/nyaruka/phonenumbers"
)

// Normalisation steps a rule may list, applied in order.
const (
	StepTrim   = "trim"   // strip surrounding white space
	StepLower  = "lower"  // lower-case
	StepUpper  = "upper"  // upper-case
	StepDigits = "digits" // keep digits only
	StepEmail  = "email"  // trim, lower-case, require local@domain.tld
	StepPhone  = "phone"  // parse to E.164 with the default region
)

// Rule declares one identifier type.
type Rule struct {
	Type mosaic.IdentifierType `json:"type"`
	// Priority orders types: an event is filed under, and links its other identifiers to, its
	// highest-priority identifier; lower numbers win (user_id is 1).
	Priority int `json:"priority"`
	// Limit is how many values of this type one profile may hold; 0 means no limit.
	Limit int `json:"limit"`
	// Paths are where the values are read from: "userId", "anonymousId", "traits.email",
	// "context.traits.email", "properties.card_token", …
	Paths []string `json:"paths"`
	// Normalize lists the normalisation steps.
	Normalize []string `json:"normalize"`
}

// Config is the identity configuration of a workspace.
type Config struct {
	Rules []Rule `json:"rules"`
	// DefaultRegion is the ISO country assumed for phone numbers without a country code.
	DefaultRegion string `json:"default_region"`
	// Blocklist holds junk values that never identify anyone; compared after normalisation.
	Blocklist []string `json:"blocklist"`
	// HubThreshold: a value seen with more than this many distinct user_ids (or values of
	// another type with a limit of 1, such as a customer number) stops merging and
	// is flagged (a shared kiosk, a family tablet). 0 means DefaultHubThreshold.
	HubThreshold int `json:"hub_threshold"`
	// MaxIdentifiers and MaxMerges cap one profile: beyond them no new merges, and the
	// profile is flagged for review. 0 means the defaults.
	MaxIdentifiers int `json:"max_identifiers"`
	MaxMerges      int `json:"max_merges"`
}

// Defaults.
const (
	DefaultHubThreshold   = 10
	DefaultMaxIdentifiers = 1000
	DefaultMaxMerges      = 100
)

// DefaultBlocklist holds values that tracking code sends when it has no real value.
var DefaultBlocklist = []string{"", "null", "undefined", "none", "nil", "n/a", "na", "unknown", "0", "-1",
	"test@test.com", "test@example.com", "email@example.com", "noemail@noemail.com", "no@email.com",
	"0000000000", "00000000", "1234567890", "+10000000000", "anonymous", "[object object]",
	"nan", "-", "guest", // JavaScript's NaN as text, a dash for "none", a shop's guest checkout
	"00000000-0000-0000-0000-000000000000"} // the nil UUID, sent as an anonymousId by broken SDK set-ups

// DefaultConfig returns the out-of-the-box rules, with limits like Segment's: one user_id,
// five emails, five phones, any number of anonymous ids. Priority puts identifiers that name
// one person or device (user_id, anonymous_id) before the ones people share (a family email,
// an office phone): an event is filed under its highest-priority identifier, so when a
// steward removes a shared email from a profile, the events follow the device they came from.
// Declare custom types (customer_number, card_token, …) with priorities 3–4.
func DefaultConfig() Config {
	return Config{
		Rules: []Rule{
			{Type: mosaic.IdentifierUserID, Priority: 1, Limit: 1, Paths: []string{"userId"}, Normalize: []string{StepTrim}},
			{Type: mosaic.IdentifierAnonymousID, Priority: 2, Limit: 0, Paths: []string{"anonymousId"}, Normalize: []string{StepTrim}},
			{Type: mosaic.IdentifierEmail, Priority: 5, Limit: 5, Paths: []string{"traits.email", "context.traits.email"}, Normalize: []string{StepEmail}},
			{Type: mosaic.IdentifierPhone, Priority: 6, Limit: 5, Paths: []string{"traits.phone", "context.traits.phone"}, Normalize: []string{StepPhone}},
		},
		DefaultRegion: "US",
		Blocklist:     slices.Clone(DefaultBlocklist),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	seen := map[mosaic.IdentifierType]bool{}
	for i, r := range c.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if r.Type == "" || strings.ContainsFunc(string(r.Type), func(r rune) bool { return !(unicode.IsLower(r) || unicode.IsDigit(r) || r == '_') }) {
			return mosaic.FieldErrorf(mosaic.EINVALID, field+".type", "Identifier type %q must be lower_snake_case.", r.Type)
		}
		if seen[r.Type] {
			return mosaic.FieldErrorf(mosaic.EINVALID, field+".type", "Identifier type %q is declared twice.", r.Type)
		}
		seen[r.Type] = true
		if r.Limit < 0 {
			return mosaic.FieldErrorf(mosaic.EINVALID, field+".limit", "Limit must be 0 (none) or more.")
		}
		if len(r.Paths) == 0 {
			return mosaic.FieldErrorf(mosaic.EINVALID, field+".paths", "Identifier type %q needs at least one path.", r.Type)
		}
		for _, p := range r.Paths {
			if _, err := parsePath(p); err != nil {
				return mosaic.FieldErrorf(mosaic.EINVALID, field+".paths", "%v", err)
			}
		}
		for _, s := range r.Normalize {
			switch s {
			case StepTrim, StepLower, StepUpper, StepDigits, StepEmail, StepPhone:
			default:
				return mosaic.FieldErrorf(mosaic.EINVALID, field+".normalize", "Unknown normalisation step %q; the steps are trim, lower, upper, digits, email and phone.", s)
			}
		}
	}
	if c.DefaultRegion != "" && (len(c.DefaultRegion) != 2 || !phonenumbers.GetSupportedRegions()[strings.ToUpper(c.DefaultRegion)]) {
		return mosaic.FieldErrorf(mosaic.EINVALID, "default_region", "default_region %q is not a country code phone numbers know (a two-letter ISO code such as DK or US).", c.DefaultRegion)
	}
	return nil
}

// path is a parsed extraction path: the envelope field or an object and a key chain.
type path struct {
	root string   // userId, anonymousId, previousId, traits, properties, context
	keys []string // keys below root
}

func parsePath(p string) (path, error) {
	parts := strings.Split(p, ".")
	switch parts[0] {
	case "userId", "anonymousId", "previousId", "groupId":
		if len(parts) != 1 {
			return path{}, fmt.Errorf("path %q: %s has no members", p, parts[0])
		}
	case "traits", "properties", "context":
		if len(parts) < 2 {
			return path{}, fmt.Errorf("path %q needs a key, e.g. %s.email", p, parts[0])
		}
	default:
		return path{}, fmt.Errorf("path %q must start with userId, anonymousId, previousId, groupId, traits, properties or context", p)
	}
	return path{root: parts[0], keys: parts[1:]}, nil
}

// Normalizer extracts and normalises identifiers according to a Config.
type Normalizer struct {
	cfg     Config
	rules   map[mosaic.IdentifierType]*Rule
	paths   map[mosaic.IdentifierType][]path
	blocked map[string]bool
	phones  phoneCache
}

// phoneCache remembers recent phone normalisations: parsing a number takes ~25 µs (the
// library runs its patterns), and a customer's number comes back with each of their calls.
// It holds up to 2×phoneCacheSize raw values, in two generations.
type phoneCache struct {
	mu        sync.Mutex
	cur, prev map[string]string // raw value → E.164, "" for an invalid number
}

const phoneCacheSize = 1 << 15

func (c *phoneCache) normalize(raw, region string) (string, error) {
	c.mu.Lock()
	v, ok := c.cur[raw]
	if !ok {
		if v, ok = c.prev[raw]; ok {
			c.putLocked(raw, v)
		}
	}
	c.mu.Unlock()
	if !ok {
		var err error
		if v, err = NormalizePhone(raw, region); errors.Is(err, ErrBlocked) {
			v = placeholderMark
		} else if err != nil {
			v = ""
		}
		c.mu.Lock()
		c.putLocked(raw, v)
		c.mu.Unlock()
	}
	switch v {
	case "":
		return "", errInvalidPhone
	case placeholderMark:
		return "", errPlaceholderPhone
	}
	return v, nil
}

func (c *phoneCache) putLocked(raw, v string) {
	if len(c.cur) >= phoneCacheSize || c.cur == nil {
		c.prev, c.cur = c.cur, make(map[string]string, phoneCacheSize/4)
	}
	c.cur[raw] = v
}

// NewNormalizer compiles cfg.
func NewNormalizer(cfg Config) (*Normalizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Normalizer{cfg: cfg, rules: map[mosaic.IdentifierType]*Rule{}, paths: map[mosaic.IdentifierType][]path{}, blocked: map[string]bool{}}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		n.rules[r.Type] = r
		for _, p := range r.Paths {
			pp, _ := parsePath(p)
			n.paths[r.Type] = append(n.paths[r.Type], pp)
		}
	}
	for _, v := range cfg.Blocklist {
		n.blocked[strings.ToLower(strings.TrimSpace(v))] = true
	}
	return n, nil
}

// Placeholder reports whether v is on the blocklist (after trimming, without case): a value
// such as "undefined" that names no one, used for ids that are not identifiers (a group id).
func (n *Normalizer) Placeholder(v string) bool {
	return n.blocked[strings.ToLower(strings.TrimSpace(v))]
}

// Hint returns advice for a value of typ that did not normalise, or "": a phone number
// without a country code is read in the default region, which may not be the caller's. A
// placeholder (a blocklisted value) gets none: no country code would make it a number.
func (n *Normalizer) Hint(typ mosaic.IdentifierType, value string) string {
	v := strings.TrimSpace(value)
	if _, err := n.Normalize(typ, value); errors.Is(err, ErrBlocked) {
		return ""
	}
	if r, ok := n.Rule(typ); ok && slices.Contains(r.Normalize, StepPhone) && !strings.HasPrefix(v, "+") && !strings.HasPrefix(v, "00") {
		return fmt.Sprintf("A number without a country code is read as a %s number; write it with one (+45 …), or set identity.default_region in the configuration.", n.DefaultRegion())
	}
	return ""
}

// DefaultRegion returns the country phone numbers without a country code are read in.
func (n *Normalizer) DefaultRegion() string {
	return cmp.Or(strings.ToUpper(n.cfg.DefaultRegion), "US")
}

// Types returns the identifier types of the rules, in rule order.
func (n *Normalizer) Types() []mosaic.IdentifierType {
	out := make([]mosaic.IdentifierType, len(n.cfg.Rules))
	for i, r := range n.cfg.Rules {
		out[i] = r.Type
	}
	return out
}

// Rule returns the rule of a type.
func (n *Normalizer) Rule(t mosaic.IdentifierType) (*Rule, bool) {
	r, ok := n.rules[t]
	return r, ok
}

// ErrInvalidValue is returned (wrapped) for values that are not usable identifiers.
var ErrInvalidValue = mosaic.Errorf(mosaic.EINVALID, "Not a usable identifier value.")

// Normalize returns the normalised value of raw for type t, or an invalid error for values
// that are malformed, blocklisted, over 512 bytes, or hold control characters (a NUL cannot
// even be stored by PostgreSQL).
func (n *Normalizer) Normalize(t mosaic.IdentifierType, raw string) (string, error) {
	r, ok := n.rules[t]
	if !ok {
		return "", mosaic.FieldErrorf(mosaic.EINVALID, "type", "Unknown identifier type %q.", t)
	}
	// A blocklisted value is junk before any step reads it: "null" is not a malformed email
	// but the tracking code's way of saying there is none.
	if trimmed := strings.TrimSpace(raw); trimmed != "" && n.blocked[strings.ToLower(trimmed)] {
		return "", n.blockedErr(t)
	}
	v := raw
	for _, step := range r.Normalize {
		var err error
		switch step {
		case StepTrim:
			v = strings.TrimSpace(v)
		case StepLower:
			v = strings.ToLower(v)
		case StepUpper:
			v = strings.ToUpper(v)
		case StepDigits:
			v = strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, v)
		case StepEmail:
			v, err = NormalizeEmail(v)
		case StepPhone:
			v, err = n.phones.normalize(v, n.cfg.DefaultRegion)
		}
		if err != nil {
			return "", err
		}
	}
	var why string
	switch {
	case v == "":
		why = "is empty"
		if strings.TrimSpace(raw) != "" {
			why = "is empty once normalised"
		}
	case len(v) > 512:
		why = "is over 512 bytes"
	case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
		why = "holds control characters or invalid UTF-8"
	case n.blocked[strings.ToLower(v)]:
		return "", n.blockedErr(t)
	case placeholder(r, v):
		return "", &mosaic.Error{Code: mosaic.EINVALID, Message: fmt.Sprintf("%s value is a placeholder address (no-reply, test, a local part that repeats the domain).", t), Err: ErrBlocked}
	default:
		return v, nil
	}
	return "", &mosaic.Error{Code: mosaic.EINVALID, Message: fmt.Sprintf("%s value %s.", t, why)}
}

// ErrBlocked is wrapped by Normalize's error for a value that identifies no one: on the
// blocklist, a placeholder address or a placeholder phone number.
var ErrBlocked = errors.New("identity: a placeholder value")

func (n *Normalizer) blockedErr(t mosaic.IdentifierType) error {
	return &mosaic.Error{Code: mosaic.EINVALID, Message: fmt.Sprintf("%s value is on the blocklist (a placeholder that identifies no one).", t), Err: ErrBlocked}
}

// NormalizeSearch is Normalize for a search query: it also refuses a value that a digits
// step would take letters out of, since a search for "X100" is a word, not customer number
// 100.
func (n *Normalizer) NormalizeSearch(t mosaic.IdentifierType, raw string) (string, error) {
	if r, ok := n.rules[t]; ok && slices.Contains(r.Normalize, StepDigits) && strings.ContainsFunc(raw, unicode.IsLetter) {
		return "", &mosaic.Error{Code: mosaic.EINVALID, Message: fmt.Sprintf("%s values are digits.", t)}
	}
	return n.Normalize(t, raw)
}

// localSeparators drops the separators people put in placeholder mailboxes (no-reply,
// do.not.reply).
var localSeparators = strings.NewReplacer("-", "", "_", "", ".", "")

// placeholder reports whether a normalised email has the shape of a value typed to get past
// a form rather than a customer's: a local part that repeats the domain (a@a.com,
// asdf@asdf.com, email@email.com) or a no-reply or no-email mailbox. Such values would merge
// every customer who typed them. (Phone numbers of the kind are refused by NormalizePhone.)
func placeholder(r *Rule, v string) bool {
	if slices.Contains(r.Normalize, StepEmail) {
		local, domain, _ := strings.Cut(v, "@")
		label, _, _ := strings.Cut(domain, ".")
		switch localSeparators.Replace(local) {
		case "noreply", "donotreply", "noemail", "nomail", "none", "null", "test", "email", "asdf", "qwerty":
			return true
		}
		return local == label
	}
	return false
}

// NormalizeEmail trims and lower-cases an address and checks its shape (local@domain.tld).
func NormalizeEmail(raw string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(raw))
	v = strings.TrimPrefix(v, "mailto:")
	local, domain, ok := strings.Cut(v, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.ContainsAny(v, " \t\r\n<>(),;:\"[]\\") {
		return "", mosaic.Errorf(mosaic.EINVALID, "Not an email address.")
	}
	return v, nil
}

var errInvalidPhone = mosaic.Errorf(mosaic.EINVALID, "Not a valid phone number.")

// errPlaceholderPhone is a well-formed number typed to get past a form.
var errPlaceholderPhone = &mosaic.Error{Code: mosaic.EINVALID, Message: "A placeholder phone number (one repeated digit, or a run such as 12345678).", Err: ErrBlocked}

// placeholderMark stands for errPlaceholderPhone in the phone cache (no E.164 value is "!").
const placeholderMark = "!"

// NormalizePhone parses a phone number (national numbers in region) and returns it in E.164.
func NormalizePhone(raw, region string) (string, error) {
	v := strings.TrimSpace(raw)
	if v == "" {
		return "", mosaic.Errorf(mosaic.EINVALID, "Empty phone number.")
	}
	if region == "" {
		region = "US"
	}
	num, err := phonenumbers.Parse(v, strings.ToUpper(region))
	if err != nil {
		return "", errInvalidPhone
	}
	// Numbers of one repeated digit (+1 111-111-1111) or with a run of ascending or
	// descending digits (+1 234 567 8900) are typed to get past a form, whether or not the
	// numbering plan has them.
	national := strconv.FormatUint(num.GetNationalNumber(), 10)
	full := strconv.Itoa(int(num.GetCountryCode())) + national
	if len(national) >= 6 && (strings.Count(national, national[:1]) == len(national) || strings.Contains(full, "12345678") || strings.Contains(full, "98765432")) {
		return "", errPlaceholderPhone
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", errInvalidPhone
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// Extraction is what Extract found in one event.
type Extraction struct {
	Identifiers []mosaic.Identifier // normalised, de-duplicated, in rule order
	Invalid     int                 // values present but not usable (malformed or blocklisted)
}

// TraitIdentifier reports which identifier type a top-level trait holds (traits.email is
// an email under the default rules), if any rule reads one from it.
func (n *Normalizer) TraitIdentifier(name string) (mosaic.IdentifierType, bool) {
	for _, r := range n.cfg.Rules {
		for _, p := range n.paths[r.Type] {
			if p.root == "traits" && len(p.keys) == 1 && p.keys[0] == name {
				return r.Type, true
			}
		}
	}
	return "", false
}

// Config returns the configuration n was made with.
func (n *Normalizer) Config() Config { return n.cfg }

// IdentifierTraits returns the top-level traits an identifier is read from (TraitIdentifier),
// in name order.
func (n *Normalizer) IdentifierTraits() []string {
	var out []string
	for _, r := range n.cfg.Rules {
		for _, p := range n.paths[r.Type] {
			if p.root == "traits" && len(p.keys) == 1 && !slices.Contains(out, p.keys[0]) {
				out = append(out, p.keys[0])
			}
		}
	}
	slices.Sort(out)
	return out
}

// Extract reads every declared identifier of an event. Values may be strings or numbers.
func (n *Normalizer) Extract(e *mosaic.Event) Extraction {
	var out Extraction
	var objs map[string]map[string]any // decoded lazily: traits, properties, context
	obj := func(name string) map[string]any {
		if objs == nil {
			objs = map[string]map[string]any{}
		}
		if m, ok := objs[name]; ok {
			return m
		}
		raw := objRaw(e, name)
		var m map[string]any
		if len(raw) > 0 {
			json.Unmarshal(raw, &m)
		}
		objs[name] = m
		return m
	}
	seen := map[mosaic.Identifier]bool{}
	for _, r := range n.cfg.Rules {
		for _, p := range n.paths[r.Type] {
			var vals []string
			switch p.root {
			case "userId":
				vals = []string{e.UserID}
			case "anonymousId":
				vals = []string{e.AnonymousID}
			case "previousId":
				vals = []string{e.PreviousID}
			case "groupId":
				vals = []string{e.GroupID}
			default:
				// A group call's traits are the group's (a company's billing email), never
				// the person's: reading them would merge everyone who sends them.
				if p.root == "traits" && e.Type == mosaic.EventGroup {
					continue
				}
				if !mayHold(objRaw(e, p.root), p.keys) {
					continue
				}
				vals = lookup(obj(p.root), p.keys)
			}
			for _, raw := range vals {
				if raw == "" {
					continue
				}
				v, err := n.Normalize(r.Type, raw)
				if err != nil {
					out.Invalid++
					continue
				}
				id := mosaic.Identifier{Type: r.Type, Value: v}
				if !seen[id] {
					seen[id] = true
					out.Identifiers = append(out.Identifiers, id)
				}
			}
		}
	}
	return out
}

// objRaw returns the JSON object of an event that a path root names.
func objRaw(e *mosaic.Event, root string) []byte {
	switch root {
	case "traits":
		return e.Traits
	case "properties":
		return e.Properties
	case "context":
		return e.Context
	}
	return nil
}

// mayHold reports whether raw, a JSON object, may hold a value under keys: every key must
// appear as a quoted string, unless raw has escapes (a key may be spelled with them). It
// saves decoding objects that cannot hold an identifier, such as most events' context.
func mayHold(raw []byte, keys []string) bool {
	if len(raw) == 0 {
		return false
	}
	if bytes.IndexByte(raw, '\\') >= 0 {
		return true
	}
	var q [64]byte
	for _, k := range keys {
		if len(k)+2 > len(q) || strings.ContainsAny(k, "\"\\") {
			return true
		}
		n := copy(q[1:], k)
		q[0], q[n+1] = '"', '"'
		if !bytes.Contains(raw, q[:n+2]) {
			return false
		}
	}
	return true
}

// lookup follows keys into m and returns the string or number value(s) found there (an array
// of them gives several).
func lookup(m map[string]any, keys []string) []string {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	switch v := cur.(type) {
	case string:
		return []string{v}
	case float64:
		return []string{formatNumber(v)}
	case []any:
		var out []string
		for _, x := range v {
			switch x := x.(type) {
			case string:
				out = append(out, x)
			case float64:
				out = append(out, formatNumber(x))
			}
		}
		return out
	}
	return nil
}

func formatNumber(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%g", f)
}

// AliasEdges returns the explicit links an alias call makes: from its userId to its
// previousId. The Segment spec lets previousId be either the anonymous id a visitor had or an
// earlier user id, and a call need not say which: unless it equals the call's anonymousId,
// previousId is linked both as a user id and as an anonymous id, so the history under either
// joins the user, and the two readings are linked to each other. (This depends on the call
// alone, so resolution stays independent of the order calls arrive in.) The links' other
// ends are identifiers of the call too.
func (n *Normalizer) AliasEdges(e *mosaic.Event) []Edge {
	if e.Type != mosaic.EventAlias || e.UserID == "" || e.PreviousID == "" {
		return nil
	}
	uv, err := n.Normalize(mosaic.IdentifierUserID, e.UserID)
	if err != nil {
		return nil
	}
	user := mosaic.Identifier{Type: mosaic.IdentifierUserID, Value: uv}
	types := []mosaic.IdentifierType{mosaic.IdentifierUserID, mosaic.IdentifierAnonymousID}
	if e.PreviousID == e.AnonymousID {
		types = types[1:]
	}
	if pv, err := n.Normalize(mosaic.IdentifierUserID, e.PreviousID); err == nil && pv == uv {
		return nil // previousId is the userId itself
	}
	var out []Edge
	var prev []mosaic.Identifier
	for _, t := range types {
		if pv, err := n.Normalize(t, e.PreviousID); err == nil {
			prev = append(prev, mosaic.Identifier{Type: t, Value: pv})
			out = append(out, Edge{A: user, B: prev[len(prev)-1], Kind: EdgeAlias, EventTime: e.Timestamp, Evidence: e.MessageID, SourceID: e.SourceID})
		}
	}
	if len(prev) == 2 {
		// Both readings are one visitor: undoing the alias (a block of the user id with each)
		// leaves them together, one profile, not two.
		out = append(out, Edge{A: prev[0], B: prev[1], Kind: EdgeAlias, EventTime: e.Timestamp, Evidence: e.MessageID, SourceID: e.SourceID})
	}
	return out
}

// Anchor returns the highest-priority identifier of ids (ties broken by type and value): the
// identifier an event is filed under.
func (n *Normalizer) Anchor(ids []mosaic.Identifier) (mosaic.Identifier, bool) {
	if len(ids) == 0 {
		return mosaic.Identifier{}, false
	}
	anchor := ids[0]
	for _, id := range ids[1:] {
		if n.priority(id.Type) < n.priority(anchor.Type) || n.priority(id.Type) == n.priority(anchor.Type) && identLess(id, anchor) {
			anchor = id
		}
	}
	return anchor, true
}

// Key returns the keyed hash under which an identifier is stored (HMAC-SHA256 of
// "type:value" with the workspace secret, base64url, 128 bits).
func Key(secret []byte, id mosaic.Identifier) mosaic.IdentifierKey {
	return NewKeyer(secret).Key(id)
}

// A Keyer computes identifier keys like Key, reusing its hash state between calls (about half
// the cost of Key when many are computed). It is not safe for concurrent use.
type Keyer struct {
	mac hash.Hash
	buf []byte
}

// NewKeyer returns a Keyer for the workspace secret.
func NewKeyer(secret []byte) *Keyer { return &Keyer{mac: hmac.New(sha256.New, secret)} }

// Key returns id's key.
func (k *Keyer) Key(id mosaic.Identifier) mosaic.IdentifierKey {
	k.mac.Reset()
	k.buf = append(append(append(k.buf[:0], id.Type...), ':'), id.Value...)
	k.mac.Write(k.buf)
	k.buf = k.mac.Sum(k.buf[:0])
	var out [22]byte // base64 of 16 bytes, unpadded
	base64.RawURLEncoding.Encode(out[:], k.buf[:16])
	return mosaic.IdentifierKey(out[:])
}

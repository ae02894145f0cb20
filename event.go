package mosaic

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// EventType is the Segment-spec call type.
type EventType string

// The Segment-spec call types.
const (
	EventTrack    EventType = "track"
	EventIdentify EventType = "identify"
	EventPage     EventType = "page"
	EventScreen   EventType = "screen"
	EventGroup    EventType = "group"
	EventAlias    EventType = "alias"
)

// EventTypes lists every event type.
var EventTypes = []EventType{EventTrack, EventIdentify, EventPage, EventScreen, EventGroup, EventAlias}

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool {
	switch t {
	case EventTrack, EventIdentify, EventPage, EventScreen, EventGroup, EventAlias:
		return true
	}
	return false
}

// MaxMessageIDLength is the longest messageId accepted (Segment silently drops longer ones;
// Mosaic rejects them with a 400).
const MaxMessageIDLength = 100

// Event is one stored call, normalised: Timestamp is corrected for client clock skew and
// MessageID is always set (generated at the gateway when the client sent none).
type Event struct {
	ID          int64     `json:"id"` // store-assigned, increasing in processing order
	SourceID    SourceID  `json:"source_id"`
	MessageID   string    `json:"messageId"`
	Type        EventType `json:"type"`
	Event       string    `json:"event,omitempty"`    // track
	Name        string    `json:"name,omitempty"`     // page, screen
	Category    string    `json:"category,omitempty"` // page
	UserID      string    `json:"userId,omitempty"`
	AnonymousID string    `json:"anonymousId,omitempty"`
	GroupID     string    `json:"groupId,omitempty"`    // group
	PreviousID  string    `json:"previousId,omitempty"` // alias
	// Timestamp is when the event happened, corrected for the client's clock skew:
	// ReceivedAt - (SentAt - OriginalTimestamp) when the client sent both times.
	Timestamp         time.Time       `json:"timestamp"`
	OriginalTimestamp *time.Time      `json:"originalTimestamp,omitempty"` // as the client sent it
	SentAt            *time.Time      `json:"sentAt,omitempty"`
	ReceivedAt        time.Time       `json:"receivedAt"`
	Properties        json.RawMessage `json:"properties,omitempty"`
	Traits            json.RawMessage `json:"traits,omitempty"`
	Context           json.RawMessage `json:"context,omitempty"`
	Integrations      json.RawMessage `json:"integrations,omitempty"`
	// Extra holds the call's other top-level members (Segment's channel, version, _metadata,
	// a library's own), kept as sent and written back at the top level, so nothing a client
	// sent is lost. Members whose names Event owns are not extras: the ones it reads
	// (ReservedEventMembers, in any letter case) and writeKey, a secret.
	Extra map[string]json.RawMessage `json:"-"`
	// Identity is the key of the event's anchor identifier (its highest-priority one); the
	// event belongs to whichever profile holds that identifier, so events follow merges and
	// splits without being rewritten.
	Identity IdentifierKey `json:"-"`
	// ProfileID is the profile the event belongs to: when it is processed, the one it resolved
	// to; when it is read back (FindEvents, FindEventsByIdentity), the one that holds its
	// Identity now, and none for an event without one.
	ProfileID ProfileID `json:"profile_id,omitempty"`
}

// ReservedEventMembers are the top-level member names an event's stored form owns: a call's
// member named like one (in any letter case) is read as that field or, for id, source_id,
// receivedAt and profile_id, which the store sets, dropped; never kept in Extra.
var ReservedEventMembers = []string{"id", "source_id", "messageId", "type", "event", "name", "category", "userId",
	"anonymousId", "groupId", "previousId", "timestamp", "originalTimestamp", "sentAt", "receivedAt", "properties",
	"traits", "context", "integrations", "profile_id", "writeKey"}

// IsExtraMember reports whether a call's top-level member name goes to Event.Extra.
func IsExtraMember(name string) bool {
	for _, r := range ReservedEventMembers {
		if strings.EqualFold(name, r) {
			return false
		}
	}
	return true
}

// MarshalJSON writes the event with its json tags and its Extra members at the top level.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	b, err := json.Marshal(plain(e))
	if err != nil || len(e.Extra) == 0 {
		return b, err
	}
	return append(appendExtras(b[:len(b)-1], e.Extra), '}'), nil
}

// UnmarshalJSON reads an event as MarshalJSON writes it: the members that are not Event's
// own go to Extra.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	if err := json.Unmarshal(b, (*plain)(e)); err != nil {
		return err
	}
	e.Extra = nil
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // '{'
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if IsExtraMember(name) {
			if e.Extra == nil {
				e.Extra = map[string]json.RawMessage{}
			}
			e.Extra[name] = v
		}
	}
	return nil
}

// CorrectTimestamp returns the event time corrected for client clock skew, as Segment does:
// receivedAt - (sentAt - timestamp). Without a client timestamp the event happened when it
// was received; without sentAt there is nothing to correct with.
//
// An event time more than MaxClockAhead after receipt is a wrong clock (or a time zone taken
// for UTC), not a future event: the event happened when it was received. Kept as sent, such a
// time would win every "latest" trait until that day came. The client's time stays in
// originalTimestamp.
//
// A time of 0001-01-01T00:00:00Z is a client that never set it (Go's zero time.Time, sent as
// is by hand-written senders): a timestamp like it is taken as absent, and so is a sentAt,
// which would otherwise move the event time two thousand years ahead, past MaxClockAhead.
func CorrectTimestamp(timestamp, sentAt *time.Time, receivedAt time.Time) time.Time {
	if timestamp != nil && timestamp.IsZero() {
		timestamp = nil
	}
	if sentAt != nil && sentAt.IsZero() {
		sentAt = nil
	}
	var t time.Time
	switch {
	case timestamp == nil:
		return receivedAt
	case sentAt == nil:
		t = *timestamp
	default:
		t = receivedAt.Add(-sentAt.Sub(*timestamp))
	}
	if t.After(receivedAt.Add(MaxClockAhead)) {
		return receivedAt
	}
	return t
}

// MaxClockAhead is how far after its receipt an event time is believed (see CorrectTimestamp).
const MaxClockAhead = time.Hour

// EventFilter selects stored events; empty fields do not filter.
type EventFilter struct {
	SourceID    SourceID
	UserID      string
	AnonymousID string
	Type        EventType
	Event       string
	ProfileID   ProfileID // events of this profile's identifiers (its timeline)
	// UserKey and AnonymousKey are UserID and AnonymousID as identifier keys, set when they
	// are usable identifiers under the workspace's rules: a store may then find the events
	// through the identity graph (an event is filed under an identifier its userId and
	// anonymousId are linked to) instead of an index of every event's ids.
	UserKey, AnonymousKey IdentifierKey
	Limit                 int    // 1..MaxEventPage; 0 means DefaultEventPage
	Cursor                string // opaque, from a previous page
}

// Page sizes for FindEvents.
const (
	DefaultEventPage = 50
	MaxEventPage     = 1000
)

// EventService stores processed events and reads them back.
type EventService interface {
	// CommitEvents stores a processed inbox range in one transaction: the events (a messageId
	// already stored for the same source is dropped and counted as a duplicate), per-source
	// counts, and the processor offset set to c.Through. Returns conflict if c.From does not
	// match the stored offset (another processor got there first).
	CommitEvents(ctx context.Context, c *EventCommit) (*CommitResult, error)
	// ProcessorOffset returns the inbox sequence number processed through (0 before any).
	ProcessorOffset(ctx context.Context) (int64, error)
	// FindEvents returns events newest first (by processing order) and the cursor of the
	// next page ("" on the last page), each with the profile it belongs to now. Returns
	// invalid for a bad cursor or limit.
	FindEvents(ctx context.Context, filter EventFilter) ([]*Event, string, error)
}

// EventCommit is the result of processing the inbox range (From, Through].
type EventCommit struct {
	From     int64
	Through  int64
	Events   []*Event
	Rejected map[SourceID]int64 // records the processor could not read, by source
	// Duplicates counts events the processor already dropped as duplicates, by source.
	Duplicates map[SourceID]int64
	// ImportDuplicates counts, of Duplicates, the rows of bulk imports, by the import named
	// in their context.import.id; each count is added to the import's RowsDuplicate if the
	// import belongs to that source (else it is ignored).
	ImportDuplicates map[ImportRef]int64
	Identity         *IdentityChanges // identity graph and profile writes, if any
}

// CommitResult says what CommitEvents did.
type CommitResult struct {
	Inserted   int
	Duplicates int
}

// ParseEventPage checks f's limit and cursor and returns the page size and the event id the
// page starts below (0 for the first page). Stores share it so cursors mean the same everywhere.
func ParseEventPage(f EventFilter) (limit int, before int64, err error) {
	limit = f.Limit
	switch {
	case limit == 0:
		limit = DefaultEventPage
	case limit < 0 || limit > MaxEventPage:
		return 0, 0, FieldErrorf(EINVALID, "limit", "limit must be between 1 and %d.", MaxEventPage)
	}
	if f.Cursor != "" {
		v, perr := strconv.ParseInt(strings.TrimPrefix(f.Cursor, "ev_"), 10, 64)
		if perr != nil || v <= 0 || !strings.HasPrefix(f.Cursor, "ev_") {
			return 0, 0, FieldErrorf(EINVALID, "cursor", "Invalid cursor.")
		}
		before = v
	}
	return limit, before, nil
}

// A profile's timeline (EventFilter.ProfileID) is ordered by event time, newest first (then
// by id), so an old event that arrives late (a backfill, a CRM export) takes its place in
// the customer's history instead of the top. Its cursors ("et_<micros>_<id>") say where in
// that order a page ends.

// ParseTimelinePage checks f's limit and timeline cursor: the page starts after the event
// with time before and id beforeID (none when beforeID is 0).
func ParseTimelinePage(f EventFilter) (limit int, before time.Time, beforeID int64, err error) {
	limit, _, err = ParseEventPage(EventFilter{Limit: f.Limit})
	if err != nil || f.Cursor == "" {
		return limit, time.Time{}, 0, err
	}
	ts, id, ok := strings.Cut(strings.TrimPrefix(f.Cursor, "et_"), "_")
	us, terr := strconv.ParseInt(ts, 10, 64)
	beforeID, ierr := strconv.ParseInt(id, 10, 64)
	if !ok || terr != nil || ierr != nil || beforeID <= 0 || !strings.HasPrefix(f.Cursor, "et_") {
		return 0, time.Time{}, 0, FieldErrorf(EINVALID, "cursor", "Invalid cursor.")
	}
	return limit, time.UnixMicro(us).UTC(), beforeID, nil
}

// ParseEventFilterPage checks f's limit and cursor, of the order its results come in: for a
// timeline (ProfileID set) the time and id a page starts after (ParseTimelinePage), else the
// id (ParseEventPage).
func ParseEventFilterPage(f EventFilter) (limit int, before int64, at time.Time, atID int64, err error) {
	if f.ProfileID != "" {
		limit, at, atID, err = ParseTimelinePage(f)
		return limit, 0, at, atID, err
	}
	limit, before, err = ParseEventPage(f)
	return limit, before, time.Time{}, 0, err
}

// TrimFilterPage trims a page of FindEvents(f) fetched with limit+1 rows, with the cursor of
// its order.
func TrimFilterPage(f EventFilter, evs []*Event, limit int) ([]*Event, string, error) {
	if f.ProfileID != "" {
		return TrimTimelinePage(evs, limit)
	}
	return TrimEventPage(evs, limit)
}

// TrimTimelinePage trims a timeline page fetched with limit+1 rows to limit and returns the
// next cursor.
func TrimTimelinePage(evs []*Event, limit int) ([]*Event, string, error) {
	if len(evs) <= limit {
		return evs, "", nil
	}
	evs = evs[:limit]
	last := evs[len(evs)-1]
	return evs, "et_" + strconv.FormatInt(last.Timestamp.UnixMicro(), 10) + "_" + strconv.FormatInt(last.ID, 10), nil
}

// TrimEventPage trims a result fetched with limit+1 rows to limit and returns the next cursor.
func TrimEventPage(evs []*Event, limit int) ([]*Event, string, error) {
	if len(evs) <= limit {
		return evs, "", nil
	}
	evs = evs[:limit]
	return evs, "ev_" + strconv.FormatInt(evs[len(evs)-1].ID, 10), nil
}

// DefaultProfilePage and MaxProfilePage bound FindProfiles pages.
const (
	DefaultProfilePage = 50
	MaxProfilePage     = 500
)

// ParseProfilePage checks a profile filter's limit and cursor; after is the id the page
// starts after.
func ParseProfilePage(f ProfileFilter) (limit int, after ProfileID, err error) {
	limit = f.Limit
	switch {
	case limit == 0:
		limit = DefaultProfilePage
	case limit < 0 || limit > MaxProfilePage:
		return 0, "", FieldErrorf(EINVALID, "limit", "limit must be between 1 and %d.", MaxProfilePage)
	}
	if f.Cursor != "" {
		if !strings.HasPrefix(f.Cursor, "pr_") || len(f.Cursor) < 4 {
			return 0, "", FieldErrorf(EINVALID, "cursor", "Invalid cursor.")
		}
		after = ProfileID(f.Cursor[3:])
	}
	return limit, after, nil
}

// ProfileCursor returns the cursor of the page after the profile id.
func ProfileCursor(id ProfileID) string { return "pr_" + string(id) }

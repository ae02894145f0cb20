package mosaic

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"time"
)

// ProfileID identifies a profile. A profile merged into another keeps its id, which then
// resolves to the survivor (MergedInto).
type ProfileID string

// sortable is base32 with its digits in ASCII order, so encoded times sort as they compare.
var sortable = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewProfileID returns a new profile id, "prof_" and 21 characters: the creation time in
// milliseconds, then 56 random bits. Ids made later sort after earlier ones, so the stores'
// indexes on profile ids grow at their end instead of at random places (cheaper writes),
// and listing profiles by id lists them roughly by age.
func NewProfileID(now time.Time) ProfileID {
	var b [13]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- { // 48 bits of milliseconds, big-endian
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[6:]) // never fails (Go 1.24+)
	return ProfileID("prof_" + sortable.EncodeToString(b[:]))
}

// Profile is one customer: the identifiers resolved together and the traits gathered from
// every source, each with its provenance.
type Profile struct {
	ID           ProfileID                  `json:"id"`
	Identifiers  []Identifier               `json:"identifiers"`
	Traits       map[string]json.RawMessage `json:"traits"`
	TraitSources map[string]TraitSource     `json:"trait_sources"`
	Groups       []string                   `json:"groups"`
	CreatedAt    time.Time                  `json:"created_at"`
	UpdatedAt    time.Time                  `json:"updated_at"`
	MergedFrom   []ProfileID                `json:"merged_from"`
	MergedInto   ProfileID                  `json:"merged_into,omitempty"`
	// Flags mark profiles for a steward's review: "capped" (hit the identifier or merge cap).
	Flags []string `json:"flags,omitempty"`
}

// TraitSource is the provenance of a trait's current value.
type TraitSource struct {
	SourceID   SourceID  `json:"source_id"`
	MessageID  string    `json:"message_id"`
	EventTime  time.Time `json:"event_time"`
	ReceivedAt time.Time `json:"received_at"`
	Rule       string    `json:"rule"`
}

package mosaic

import (
	"encoding/json"
	"time"
)

// ProfileID identifies a profile. A profile merged into another keeps its id, which then
// resolves to the survivor (MergedInto).
type ProfileID string

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

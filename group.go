package mosaic

import (
	"encoding/json"
	"time"
)

// Group is a B2B account (a Segment group): the traits its group calls carried, each kept by
// the same survivorship rules as profile traits, with its provenance. The profiles that
// belong to it list its id in Profile.Groups.
type Group struct {
	ID           string                     `json:"id"`
	Traits       map[string]json.RawMessage `json:"traits"`
	TraitSources map[string]TraitSource     `json:"trait_sources"`
	CreatedAt    time.Time                  `json:"created_at"`
	UpdatedAt    time.Time                  `json:"updated_at"`
}

// GroupState is a group as the processor keeps it: the trait survivorship state (opaque to
// stores) and the materialised traits for reading.
type GroupState struct {
	ID           string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	State        json.RawMessage            // survivorship state (package traits)
	Traits       map[string]json.RawMessage // current values
	TraitSources map[string]TraitSource
}

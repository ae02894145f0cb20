package mosaic

import "time"

// IdentifierType names a kind of identifier: the built-in user_id, anonymous_id, email and
// phone, or a custom type declared per workspace (customer_number, card_token, …).
type IdentifierType string

// The built-in identifier types.
const (
	IdentifierUserID      IdentifierType = "user_id"
	IdentifierAnonymousID IdentifierType = "anonymous_id"
	IdentifierEmail       IdentifierType = "email"
	IdentifierPhone       IdentifierType = "phone"
)

// Identifier is one normalised identifier value of a type.
type Identifier struct {
	Type  IdentifierType `json:"type"`
	Value string         `json:"value"`
}

// String returns "type:value".
func (id Identifier) String() string { return string(id.Type) + ":" + id.Value }

// IdentifierKey is the keyed hash (HMAC-SHA256 with the workspace's identity secret) under
// which an identifier is stored and looked up. The readable value is kept beside it for
// display only, so that erasing a customer can remove or encrypt the value and leave nothing
// matchable behind: without the secret the key cannot be recomputed from a guess.
type IdentifierKey string

// IdentifierRecord is a stored identifier: its key, readable value and current profile.
type IdentifierRecord struct {
	Key        IdentifierKey `json:"-"`
	Identifier               // type and readable value
	ProfileID  ProfileID     `json:"profile_id"`
	Hub        bool          `json:"hub,omitempty"` // seen with too many user_ids: merges nothing
	FirstSeen  time.Time     `json:"first_seen"`
}

// EdgeKind says how a link between two identifiers was established.
type EdgeKind string

// Edge kinds.
const (
	EdgeAlias         EdgeKind = "alias"         // an explicit alias call: merges past type limits
	EdgeImplicit      EdgeKind = "implicit"      // the identifiers were seen in one event
	EdgeProbabilistic EdgeKind = "probabilistic" // a match score above the auto-merge threshold
)

// IdentityEdge is a stored link between two identifiers with the evidence that made it: the
// earliest event (by event time, then messageId) that showed them together.
type IdentityEdge struct {
	A, B      IdentifierKey `json:"-"`
	Kind      EdgeKind      `json:"kind"`
	EventTime time.Time     `json:"event_time"`
	Evidence  string        `json:"evidence"` // messageId
	SourceID  SourceID      `json:"source_id"`
	// Refused is set when the link was not made, with the reason (limit:user_id, hub, …).
	Refused string `json:"refused,omitempty"`
}

// IdentityConstraint is a steward's correction: never link A and B (a blocked pair), or,
// with B empty, never merge A with anything (a removed identifier).
type IdentityConstraint struct {
	A, B      IdentifierKey
	CreatedAt time.Time
	Reason    string
}

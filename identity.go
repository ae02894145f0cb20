package mosaic

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

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
	Hub        bool          `json:"hub,omitempty"` // seen with too many user_ids (or other one-per-profile ids): merges nothing
	FirstSeen  time.Time     `json:"first_seen"`
	// Origin is the profile the identifier was first resolved into (empty in stores from
	// before it was kept: then its profile). A split gives each part back the profile its
	// identifiers came from, so merged-away ids resolve to the right customer again.
	Origin ProfileID `json:"-"`
	// Stale marks an identifier that no event has held since an identity replay was queued:
	// if none does by its end, the rules in force read it from nothing, and it is deleted.
	// Stores keep a stored mark unless a write clears it (Stale false): the processor writes
	// true for an identifier it rewrites without an event holding it.
	Stale bool `json:"-"`
}

// OriginOf returns the profile r was first resolved into (its profile if not recorded).
func (r *IdentifierRecord) OriginOf() ProfileID {
	if r.Origin != "" {
		return r.Origin
	}
	return r.ProfileID
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
	// Stale marks a link made under identity rules that an identity replay is replacing: it
	// counts until the replay ends, and is deleted then unless an event made it again
	// (which writes it with Stale false). Stores keep a stored mark unless a write clears it.
	Stale bool `json:"-"`
}

// IdentityConstraint is a steward's correction: never link A and B (a blocked pair), or,
// with B empty, never merge A with anything (a removed identifier).
type IdentityConstraint struct {
	A, B      IdentifierKey
	CreatedAt time.Time
	Reason    string
	By        string // who made it: the API token's name (or id), or the match decision's
}

// ProfileState is a profile as the processor keeps it: the trait survivorship state (opaque
// to stores), the materialised traits for reading, and the merge history.
type ProfileState struct {
	ID           ProfileID
	CreatedAt    time.Time
	UpdatedAt    time.Time
	MergedInto   ProfileID // set when merged away
	MergedFrom   []ProfileID
	Flags        []string
	Groups       []string                   // group ids it belongs to (stores index them)
	State        json.RawMessage            // survivorship state (package traits)
	Traits       map[string]json.RawMessage // current values
	TraitSources map[string]TraitSource
	SearchTerms  []string // lower-cased trait values and their words, for FindProfiles (identifier values are searched directly)
	// KeepSearchTerms tells the store the profile's search terms did not change.
	KeepSearchTerms bool
	// New tells the store the profile is created by this write: it has no search terms or
	// group memberships to replace yet.
	New bool
}

// IdentityChanges are the identity writes of one processed inbox range, committed with its
// events and offset.
type IdentityChanges struct {
	Identifiers []*IdentifierRecord // inserted or updated (profile, hub flag)
	Edges       []*IdentityEdge     // inserted or updated (evidence, refusal)
	Profiles    []*ProfileState     // inserted or updated; a profile's groups are its memberships
	Groups      []*GroupState       // inserted or updated
	Recomputed  []IdentifierKey     // steward recompute requests now done
	Rebuilt     []IdentifierKey     // profile rebuild requests now done (QueueProfileRebuild)
	// GroupsRebuilt says every group's traits were rebuilt from the group calls, as
	// QueueProfileRebuild of every profile asks (PendingGroupRebuild).
	GroupsRebuilt bool
	// Replay is the identity replay's progress after this range (nil when none ran), and
	// ReplayFrom the replay as the range began: stores record Replay (and forget the replay
	// once it is Done) if the stored replay is still ReplayFrom, so a replay queued again
	// meanwhile starts over.
	Replay, ReplayFrom *IdentityReplay
	// Reanchored are stored events the replay filed under another anchor.
	Reanchored []EventAnchor
	// QueueRebuild are identifiers whose profiles are to be rebuilt (as QueueProfileRebuild
	// queues them): those whose events the replay filed elsewhere.
	QueueRebuild []IdentifierKey
	// Counter increments.
	Merges             int64
	InvalidIdentifiers int64
}

// IdentityService stores the identity graph. Only the processor writes it (through
// CommitEvents); stewards add constraints, which the processor applies.
type IdentityService interface {
	// IdentitySecret returns the workspace's secret for identifier keys, creating it once.
	IdentitySecret(ctx context.Context) ([]byte, error)
	// FindIdentifiers returns the stored identifiers among keys (missing ones are left out).
	FindIdentifiers(ctx context.Context, keys []IdentifierKey) ([]*IdentifierRecord, error)
	// FindProfileIdentifiers returns the stored identifiers of the given profiles.
	FindProfileIdentifiers(ctx context.Context, ids []ProfileID) ([]*IdentifierRecord, error)
	// FindIdentityEdges returns every stored edge with an end among keys.
	FindIdentityEdges(ctx context.Context, keys []IdentifierKey) ([]*IdentityEdge, error)
	// FindIdentityConstraints returns the constraints that name any of keys.
	FindIdentityConstraints(ctx context.Context, keys []IdentifierKey) ([]*IdentityConstraint, error)
	// FindProfileStates returns the stored states of the given profiles.
	FindProfileStates(ctx context.Context, ids []ProfileID) ([]*ProfileState, error)
	// FindGroupStates returns the stored states of the given groups (missing ones are left out).
	FindGroupStates(ctx context.Context, ids []string) ([]*GroupState, error)
	// FindEventsByIdentity returns the stored events anchored on keys, of the given types
	// (all when empty), in processing order, each with the profile it belongs to now.
	FindEventsByIdentity(ctx context.Context, keys []IdentifierKey, types []EventType) ([]*Event, error)
	// FindStoredMessageIDs returns which of the messageIds are already stored for src.
	FindStoredMessageIDs(ctx context.Context, src SourceID, ids []string) (map[string]bool, error)
	// AddIdentityConstraint records a steward's constraint and queues its identifiers for
	// recomputation by the processor.
	AddIdentityConstraint(ctx context.Context, c *IdentityConstraint) error
	// RemoveIdentityConstraint lifts a steward's constraint (a removed identifier when B is
	// empty, else a blocked pair, in either order) and queues its identifiers for
	// recomputation, so the profiles merge again where links join them; not_found if no such
	// constraint is recorded, conflict for a pair a rejected match keeps apart (the match is
	// where that decision changes).
	RemoveIdentityConstraint(ctx context.Context, a, b IdentifierKey) error
	// PendingRecomputes returns identifiers queued for recomputation.
	PendingRecomputes(ctx context.Context, limit int) ([]IdentifierKey, error)
	// QueueProfileRebuild queues live profiles to be rebuilt from their stored events under
	// the rules in force (every live profile when ids is empty, and then every group's traits
	// too: PendingGroupRebuild), one identifier of each, and returns how many profiles were
	// queued; ids that are not live profiles are left out. The processor applies the queue and
	// commits Rebuilt.
	QueueProfileRebuild(ctx context.Context, ids []ProfileID) (int64, error)
	// PendingRebuilds returns identifiers whose profiles are queued for a rebuild, in key order.
	PendingRebuilds(ctx context.Context, limit int) ([]IdentifierKey, error)
	// PendingGroupRebuild reports whether the groups' traits are to be rebuilt from the group
	// calls (queued with a rebuild of every profile; a commit with GroupsRebuilt clears it).
	PendingGroupRebuild(ctx context.Context) (bool, error)
	// FindGroupCalls returns stored group calls with ids above after, at most limit, in id
	// order.
	FindGroupCalls(ctx context.Context, after int64, limit int) ([]*Event, error)
	// QueueIdentityReplay queues every event stored now to be resolved again under the
	// identity rules in force (IdentityReplay), from the first, and returns the replay; a
	// replay already running starts over. It marks the links events made stale and records
	// the rules of the process holding the processor lease as the graph's
	// (SettingGraphIdentityRules).
	QueueIdentityReplay(ctx context.Context) (*IdentityReplay, error)
	// IdentityReplay returns the replay queued (nil when none is): the processor replays its
	// events a page at a time and commits its progress (IdentityChanges.Replay).
	IdentityReplay(ctx context.Context) (*IdentityReplay, error)
	// FindStoredEvents returns stored events with ids in (after, through], at most limit, in
	// id order, each with its Identity.
	FindStoredEvents(ctx context.Context, after, through int64, limit int) ([]*Event, error)
}

// IdentityReplay is a replay of stored events under the identity rules in force, as after
// declaring a new identifier type, changing priorities or normalisation: the processor
// extracts their identifiers again, links them as the rules now do and files each event
// under its anchor again. Queueing it marks every identifier and every link events made
// stale; when it ends, the links no event made again and the identifiers no event holds now
// are deleted (with their links, probabilistic ones too, and the profiles left without an
// identifier), their profiles are recomputed, and every profile is rebuilt: the graph is the
// one the rules give from scratch. (Probabilistic links between identifiers that stay, and
// stewards' constraints, stay.)
type IdentityReplay struct {
	After   int64 `json:"after"`   // events up to this id are replayed
	Through int64 `json:"through"` // the last event id to replay (the newest when queued)
}

// SettingIdentityReplay is the setting that holds the queued IdentityReplay (as JSON); stores
// keep it.
const SettingIdentityReplay = "identity_replay"

// Done reports whether every event of the replay is replayed.
func (r *IdentityReplay) Done() bool { return r.After >= r.Through }

// EventAnchor is a stored event's new anchor identifier (Event.Identity).
type EventAnchor struct {
	ID       int64
	Identity IdentifierKey // empty: the event has no identifier under the rules in force
}

// ProfileFilter selects profiles for FindProfiles. Q, Terms and IDs search: a live profile
// matching any of them is found; with none set, every live profile is.
type ProfileFilter struct {
	Q string // prefix of an identifier value, a name or any string trait value, or of a word in one (case-insensitive)
	// Terms are more prefixes searched like Q: the HTTP API adds Q normalised as each
	// identifier type that accepts it (a phone number in E.164), as identifiers are stored so.
	Terms []string
	// IDs are profiles found by id (the HTTP API adds Q resolved to a live profile).
	IDs    []ProfileID
	Limit  int
	Cursor string
}

// SearchPrefixes returns Q and Terms trimmed, lower-cased and de-duplicated, as the stores
// search them (none when the filter does not search by prefix).
func (f ProfileFilter) SearchPrefixes() []string {
	var out []string
	for _, t := range append([]string{f.Q}, f.Terms...) {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// ProfileService reads profiles and the groups (B2B accounts) they belong to.
type ProfileService interface {
	// FindProfileByID returns the profile, or (for a merged-away id) the profile with
	// MergedInto set; not_found if there is no such id.
	FindProfileByID(ctx context.Context, id ProfileID) (*Profile, error)
	// FindProfileByIdentifier returns the profile holding the identifier; not_found if none.
	FindProfileByIdentifier(ctx context.Context, key IdentifierKey) (*Profile, error)
	// FindProfiles searches live profiles, ordered by id, with cursor pagination.
	FindProfiles(ctx context.Context, f ProfileFilter) ([]*Profile, string, error)
	// FindProfileGraph returns the identifiers of a live profile and every edge touching them.
	FindProfileGraph(ctx context.Context, id ProfileID) ([]*IdentifierRecord, []*IdentityEdge, error)
	// FindGroupByID returns the group with its traits; not_found if no group call named it.
	FindGroupByID(ctx context.Context, id string) (*Group, error)
	// FindGroupMembers returns the ids of the live profiles in the group above after (all
	// when empty), by id (byte order), at most limit of them (limit must be positive, else
	// invalid). An unknown group has none.
	FindGroupMembers(ctx context.Context, id string, after ProfileID, limit int) ([]ProfileID, error)
}

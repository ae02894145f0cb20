package mosaic

import "context"

// Stats are the counts shown by GET /api/v1/stats.
type Stats struct {
	Events     int64 `json:"events"`
	Duplicates int64 `json:"duplicates"`
	Rejected   int64 `json:"rejected"`
	Sources    int64 `json:"sources"`
	InboxHead  int64 `json:"inbox_head"`
	Processed  int64 `json:"processed_through"`
	InboxLag   int64 `json:"inbox_lag"` // inbox records not yet processed
	// Identity.
	Profiles           int64 `json:"profiles"` // live profiles (merged-away ones not counted)
	Identifiers        int64 `json:"identifiers"`
	Merges             int64 `json:"merges"`
	RefusedLinks       int64 `json:"refused_links"`
	InvalidIdentifiers int64 `json:"invalid_identifiers"`
	PendingRebuilds    int64 `json:"pending_rebuilds"` // profiles queued for a rebuild from their events
}

// Store is everything a Mosaic store keeps. The embedded store (package sqlite) and the
// production store (package postgres) implement it with the same behaviour, which the
// conformance suite in package storetest proves.
type Store interface {
	SourceService
	TokenService
	InboxService
	ImportService
	MatchService
	EventService
	IdentityService
	ProfileService
	SettingService
	// Stats returns the current counts.
	Stats(ctx context.Context) (*Stats, error)
	// Ping returns unavailable if the store cannot be reached or written.
	Ping(ctx context.Context) error
	Close() error
}

// SettingService keeps small named values about the workspace, such as what the process
// that holds the processor lease reads (so a command can tell it runs with other rules).
type SettingService interface {
	// Setting returns the value stored under key, and false if there is none.
	Setting(ctx context.Context, key string) (string, bool, error)
	// PutSetting stores value under key, replacing any value there.
	PutSetting(ctx context.Context, key, value string) error
}

// Settings about the survivorship rules (traits.Config as JSON): those of the process holding
// the processor lease, and those every stored profile was built (or last rebuilt) under. A
// process that takes the lease with rules other than the profiles' warns until a rebuild of
// every profile is queued (MarkFullRebuild).
const (
	SettingProcessorTraitRules = "processor_trait_rules"
	SettingProfileTraitRules   = "profile_trait_rules"
)

// Settings about the identity rules (identity.Config as JSON): those of the process holding
// the processor lease, and those the stored identity graph was built (or last replayed)
// under. A process that takes the lease with other rules warns until an identity replay is
// queued (IdentityService.QueueIdentityReplay records the lease holder's rules as the
// graph's, and so does a process that takes the lease while a replay waits).
// SettingMixedIdentityRules holds the other rule sets (a JSON array) that processes resolved
// events under since then, so that going back to the graph's rules warns too; queueing a
// replay deletes it.
const (
	SettingProcessorIdentityRules = "processor_identity_rules"
	SettingGraphIdentityRules     = "graph_identity_rules"
	SettingMixedIdentityRules     = "mixed_identity_rules"
)

// MarkFullRebuild records, once every profile is queued for a rebuild, that the profiles
// will be built under the rules of the process holding the processor lease (which applies
// the queue).
func MarkFullRebuild(ctx context.Context, s SettingService) error {
	rules, ok, err := s.Setting(ctx, SettingProcessorTraitRules)
	if err != nil || !ok {
		return err
	}
	return s.PutSetting(ctx, SettingProfileTraitRules, rules)
}

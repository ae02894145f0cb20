package mosaic

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// MatchStatus is where a pair proposed by probabilistic matching stands.
type MatchStatus string

// Match statuses.
const (
	// MatchPending: the score is in the review band; a steward decides.
	MatchPending MatchStatus = "pending"
	// MatchLinked: the score was above the auto-merge threshold, so the pair was linked.
	MatchLinked MatchStatus = "linked"
	// MatchAccepted: a steward accepted the pair, so it was linked.
	MatchAccepted MatchStatus = "accepted"
	// MatchRejected: a steward said the two are different customers. The pair is never
	// proposed again, and if it had been linked the link is blocked (the profiles split).
	MatchRejected MatchStatus = "rejected"
)

// Valid reports whether s is a known status.
func (s MatchStatus) Valid() bool {
	switch s {
	case MatchPending, MatchLinked, MatchAccepted, MatchRejected:
		return true
	}
	return false
}

// MatchWeight is one field's part in a match score: the comparison level its two values
// reached and the match weight (log2 of the Bayes factor m/u) that level carries. The values
// themselves are not kept with the candidate (they are personal data, erased with the
// profile); readers show the two profiles' current traits beside it.
type MatchWeight struct {
	Field  string  `json:"field"`
	Level  string  `json:"level"`
	Weight float64 `json:"weight"`
}

// MatchCandidate is a pair of profiles that probabilistic matching found likely to be one
// customer although they share no identifier. Accepting it links A and B (one identifier
// of each profile) with a probabilistic edge in the identity graph, whose evidence is the
// candidate's id; the link obeys the identifier rules like any other and can be undone.
type MatchCandidate struct {
	ID   string        `json:"id"` // "mc_…"
	A, B IdentifierKey `json:"-"`  // A < B
	// ProfileA and ProfileB are the profiles holding A and B: now when read from a store (the
	// proposal's if an identifier is gone), when proposed when recorded.
	ProfileA    ProfileID     `json:"profile_a"`
	ProfileB    ProfileID     `json:"profile_b"`
	Probability float64       `json:"probability"`
	Weights     []MatchWeight `json:"weights"`
	Status      MatchStatus   `json:"status"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
	DecidedBy   string        `json:"decided_by,omitempty"`
}

// MatchFilter selects candidates for FindMatchCandidates.
type MatchFilter struct {
	Status MatchStatus // all when empty
	// Open keeps only pairs whose two identifiers are still in two profiles (a pending pair
	// that other links have merged since needs no decision).
	Open   bool
	Limit  int
	Cursor string
}

// MatchRecordResult counts what RecordMatches did.
type MatchRecordResult struct {
	Linked  int `json:"linked"`  // new links made (auto-merge)
	Queued  int `json:"queued"`  // new or rescored candidates waiting for review
	Decided int `json:"decided"` // pairs already decided, left as they were
	Merged  int `json:"merged"`  // pairs whose identifiers are already in one profile, left out
}

// MatchService keeps the candidates of probabilistic matching and the stewards' decisions.
// Links it makes are written as probabilistic edges and queued for the processor to
// recompute their profiles, as steward constraints are.
type MatchService interface {
	// RecordMatches stores the outcome of a matching run. A candidate with status linked is
	// linked at once; one with status pending waits for review. Pairs are the same when they
	// join the same two profiles now (their identifiers may differ as profiles merged): a pair
	// already linked, accepted or rejected keeps its decision (a rejected pair never comes
	// back), a pending pair takes the new score, and a pair whose identifiers are already in
	// one profile is left out. Candidates need A, B (A < B) and an id; invalid otherwise.
	RecordMatches(ctx context.Context, cs []*MatchCandidate) (*MatchRecordResult, error)
	// FindMatchCandidateByID returns a candidate; not_found if there is none.
	FindMatchCandidateByID(ctx context.Context, id string) (*MatchCandidate, error)
	// FindMatchCandidates lists candidates, highest probability first, with cursor paging.
	FindMatchCandidates(ctx context.Context, f MatchFilter) ([]*MatchCandidate, string, error)
	// DecideMatch records a steward's decision on a candidate: accept links a pending pair;
	// reject remembers the pair as different customers and, if it was linked, blocks the
	// link. Accepting a rejected pair lifts the block its rejection made (a steward's own
	// split of the pair stays until lifted; while the match is rejected, that split cannot
	// be: RemoveIdentityConstraint). Returns not_found for an unknown id.
	DecideMatch(ctx context.Context, id string, accept bool, by string) (*MatchCandidate, error)
}

// DefaultMatchPage and MaxMatchPage bound FindMatchCandidates pages.
const (
	DefaultMatchPage = 50
	MaxMatchPage     = 500
)

// MatchPage is a checked MatchFilter: the page starts after the candidate with probability
// AfterProbability and id AfterID (in the order highest probability, then id).
type MatchPage struct {
	Status           MatchStatus
	Open             bool
	Limit            int
	After            bool
	AfterProbability float64
	AfterID          string
}

// ParseMatchPage checks f's status, limit and cursor. Stores share it so cursors mean the
// same everywhere.
func ParseMatchPage(f MatchFilter) (MatchPage, error) {
	p := MatchPage{Status: f.Status, Open: f.Open, Limit: f.Limit}
	if f.Status != "" && !f.Status.Valid() {
		return p, FieldErrorf(EINVALID, "status", "status must be pending, linked, accepted or rejected.")
	}
	switch {
	case p.Limit == 0:
		p.Limit = DefaultMatchPage
	case p.Limit < 0 || p.Limit > MaxMatchPage:
		return p, FieldErrorf(EINVALID, "limit", "limit must be between 1 and %d.", MaxMatchPage)
	}
	if f.Cursor != "" {
		prob, id, ok := strings.Cut(strings.TrimPrefix(f.Cursor, "mp_"), "~")
		v, err := strconv.ParseFloat(prob, 64)
		if !ok || err != nil || id == "" || !strings.HasPrefix(f.Cursor, "mp_") {
			return p, FieldErrorf(EINVALID, "cursor", "Invalid cursor.")
		}
		p.After, p.AfterProbability, p.AfterID = true, v, id
	}
	return p, nil
}

// MatchCursor returns the cursor of the page after c.
func MatchCursor(c *MatchCandidate) string {
	return "mp_" + strconv.FormatFloat(c.Probability, 'g', -1, 64) + "~" + c.ID
}

// NewMatchCandidateID returns a new random candidate id ("mc_…").
func NewMatchCandidateID() string { return "mc_" + RandomString(10) }

// Validate checks what a store needs of a candidate to record it.
func (c *MatchCandidate) Validate() error {
	switch {
	case c.ID == "":
		return FieldErrorf(EINVALID, "id", "A match candidate needs an id.")
	case c.A == "" || c.B == "" || c.A >= c.B:
		return FieldErrorf(EINVALID, "a", "A match candidate links two different identifiers, A before B.")
	case c.Status != MatchPending && c.Status != MatchLinked:
		return FieldErrorf(EINVALID, "status", "A recorded match is pending or linked.")
	case c.Probability < 0 || c.Probability > 1 || c.Probability != c.Probability:
		return FieldErrorf(EINVALID, "probability", "A match probability lies between 0 and 1.")
	}
	return nil
}

// DecideMatchStatus returns the status a candidate in status from takes when a steward
// accepts (or rejects) it. A steward may change their mind: a rejected pair can be accepted
// (the store lifts the block its rejection made) and an accepted one rejected. Deciding the
// same way twice changes nothing.
func DecideMatchStatus(from MatchStatus, accept bool) (MatchStatus, error) {
	switch {
	case accept && (from == MatchPending || from == MatchRejected):
		return MatchAccepted, nil
	case accept:
		return from, nil // linked or accepted already
	default:
		return MatchRejected, nil
	}
}

// Match link states (MatchLink.State).
const (
	MatchLinkNone    = "none"    // no link: the pair waits for review or was rejected before it was linked
	MatchLinkWaiting = "waiting" // linked, and the processor has not applied the link yet
	MatchLinkMerged  = "merged"  // the two identifiers are in one profile
	MatchLinkRefused = "refused" // an identifier rule or a steward's block keeps them apart (Refused says which)
)

// MatchLink is what became of the link a candidate made: accepting a pair writes a link, and
// the processor applies it later under the identifier rules, which may refuse it (a profile
// with two user ids), so "accepted" alone does not say the profiles merged.
type MatchLink struct {
	State   string `json:"state"`
	Refused string `json:"refused,omitempty"` // limit:user_id, blocked, hub, …
}

// FindMatchLink reads what became of c's link from the identity graph.
func FindMatchLink(ctx context.Context, s IdentityService, c *MatchCandidate) (*MatchLink, error) {
	recs, err := s.FindIdentifiers(ctx, []IdentifierKey{c.A, c.B})
	if err != nil {
		return nil, err
	}
	var pa, pb ProfileID
	for _, r := range recs {
		switch r.Key {
		case c.A:
			pa = r.ProfileID
		case c.B:
			pb = r.ProfileID
		}
	}
	if pa != "" && pa == pb {
		return &MatchLink{State: MatchLinkMerged}, nil
	}
	edges, err := s.FindIdentityEdges(ctx, []IdentifierKey{c.A})
	if err != nil {
		return nil, err
	}
	for _, e := range edges {
		if e.Kind != EdgeProbabilistic || e.A != c.A || e.B != c.B {
			continue
		}
		if e.Refused != "" {
			return &MatchLink{State: MatchLinkRefused, Refused: e.Refused}, nil
		}
		return &MatchLink{State: MatchLinkWaiting}, nil
	}
	return &MatchLink{State: MatchLinkNone}, nil
}

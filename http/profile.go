package http

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
)

// profileStore is what the profile routes need of the store.
type profileStore interface {
	mosaic.IdentityService
	mosaic.ProfileService
}

func (s *Server) registerProfileRoutes(mux *http.ServeMux) {
	// GET /api/v1/profiles/lookup?type=email&value=Ada@Example.com
	mux.HandleFunc("GET /api/v1/profiles/lookup", s.authenticate(s.handleProfileLookup))
	// GET /api/v1/profiles?q=&limit=&cursor= (q: a prefix, an identifier as lookup takes it, or a profile id)
	mux.HandleFunc("GET /api/v1/profiles", s.authenticate(s.handleProfileList))
	// GET /api/v1/profiles/{id}
	mux.HandleFunc("GET /api/v1/profiles/{id}", s.authenticate(s.handleProfileGet))
	// GET /api/v1/profiles/{id}/events?source=&user_id=&anonymous_id=&type=&event=&limit=&cursor= (as GET /api/v1/events)
	mux.HandleFunc("GET /api/v1/profiles/{id}/events", s.authenticate(s.handleProfileEvents))
	// GET /api/v1/profiles/{id}/graph
	mux.HandleFunc("GET /api/v1/profiles/{id}/graph", s.authenticate(s.handleProfileGraph))
	// POST /api/v1/profiles/{id}/split {"identifier":{"type","value"}} or {"block":[{…},{…}]}
	mux.HandleFunc("POST /api/v1/profiles/{id}/split", s.authenticate(s.handleProfileSplit))
	// POST /api/v1/profiles/{id}/unsplit, the body as the split's: lift it
	mux.HandleFunc("POST /api/v1/profiles/{id}/unsplit", s.authenticate(s.handleProfileUnsplit))
	// POST /api/v1/profiles/{id}/rebuild: rebuild one profile from its events under the rules in force
	mux.HandleFunc("POST /api/v1/profiles/{id}/rebuild", s.authenticate(s.handleProfileRebuild))
	// POST /api/v1/profiles/rebuild {"all":true}: rebuild every live profile
	mux.HandleFunc("POST /api/v1/profiles/rebuild", s.authenticate(s.handleProfileRebuildAll))
	// GET /api/v1/groups/{id}
	mux.HandleFunc("GET /api/v1/groups/{id}", s.authenticate(s.handleGroupGet))
	// GET /api/v1/groups/{id}/members?limit=&cursor=
	mux.HandleFunc("GET /api/v1/groups/{id}/members", s.authenticate(s.handleGroupMembers))
	// POST /api/v1/identity/replay: resolve every stored event again under the identity rules
	// in force; GET: the replay running, if any
	mux.HandleFunc("POST /api/v1/identity/replay", s.authenticate(s.handleIdentityReplay))
	mux.HandleFunc("GET /api/v1/identity/replay", s.authenticate(s.handleIdentityReplayGet))
}

// handleIdentityReplay queues a replay of every stored event under the processor's identity
// rules (owner or steward): 202 with the replay.
func (s *Server) handleIdentityReplay(w http.ResponseWriter, r *http.Request) {
	ps, err := s.profiles()
	if err != nil {
		Error(w, r, err)
		return
	}
	if err := requireSourceManager(r); err != nil {
		Error(w, r, mosaic.Errorf(mosaic.EFORBIDDEN, "Your role may not replay events; an owner or steward can."))
		return
	}
	if r.ContentLength != 0 { // no fields
		var in struct{}
		if err := decodeJSON(r, &in); err != nil {
			Error(w, r, err)
			return
		}
	}
	rep, err := ps.QueueIdentityReplay(r.Context())
	if err != nil {
		Error(w, r, err)
		return
	}
	s.wakeProcessor()
	writeJSON(w, http.StatusAccepted, map[string]any{"success": true, "status": "queued", "replay": rep})
}

// handleIdentityReplayGet shows the replay running: {"replay": null} when none is.
func (s *Server) handleIdentityReplayGet(w http.ResponseWriter, r *http.Request) {
	ps, err := s.profiles()
	if err != nil {
		Error(w, r, err)
		return
	}
	rep, err := ps.IdentityReplay(r.Context())
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"replay": rep})
}

func (s *Server) profiles() (profileStore, error) {
	ps, ok := s.Store.(profileStore)
	if !ok || s.Identity == nil {
		return nil, mosaic.Errorf(mosaic.EUNSUPPORTED, "This store does not keep profiles.")
	}
	return ps, nil
}

// listProfiles is profiles for a read route that takes the query parameters params (and
// refuses others: knownParams).
func (s *Server) listProfiles(r *http.Request, params ...string) (profileStore, error) {
	if err := knownParams(r, params...); err != nil {
		return nil, err
	}
	return s.profiles()
}

// identifierKey normalises an identifier given by a caller and returns its key. field names
// the identifier in the request body ("block[0]"); empty, the type and value are query
// parameters of their own names.
func (s *Server) identifierKey(ctx context.Context, ps profileStore, typ, value, field string) (mosaic.IdentifierKey, mosaic.Identifier, error) {
	sub := func(name string) string {
		if field == "" {
			return name
		}
		return field + "." + name
	}
	switch {
	case typ == "":
		return "", mosaic.Identifier{}, mosaic.FieldErrorf(mosaic.EINVALID, sub("type"), "Give an identifier type and value.")
	case value == "":
		return "", mosaic.Identifier{}, mosaic.FieldErrorf(mosaic.EINVALID, sub("value"), "Give an identifier type and value.")
	}
	v, err := s.Identity.Normalize(mosaic.IdentifierType(typ), value)
	if err != nil {
		if mosaic.ErrorField(err) == "type" {
			return "", mosaic.Identifier{}, mosaic.FieldErrorf(mosaic.EINVALID, sub("type"), "Unknown identifier type %q.", typ)
		}
		hint := s.Identity.Hint(mosaic.IdentifierType(typ), value)
		if hint != "" {
			hint = " " + hint
		}
		why := strings.TrimSuffix(mosaic.ErrorMessage(err), ".")
		return "", mosaic.Identifier{}, mosaic.FieldErrorf(mosaic.EINVALID, sub("value"), "%q is not a usable %s: %s.%s", value, typ, lowerFirst(why), hint)
	}
	secret, err := ps.IdentitySecret(ctx)
	if err != nil {
		return "", mosaic.Identifier{}, err
	}
	id := mosaic.Identifier{Type: mosaic.IdentifierType(typ), Value: v}
	return identity.Key(secret, id), id, nil
}

// liveProfile returns the profile with id, following merges to the survivor.
func liveProfile(ctx context.Context, ps profileStore, id mosaic.ProfileID) (*mosaic.Profile, error) {
	p, err := ps.FindProfileByID(ctx, id)
	for hops := 0; err == nil && p.MergedInto != "" && hops < 32; hops++ {
		p, err = ps.FindProfileByID(ctx, p.MergedInto)
	}
	return p, err
}

func (s *Server) handleProfileLookup(w http.ResponseWriter, r *http.Request) {
	ps, err := s.profiles()
	if err != nil {
		Error(w, r, err)
		return
	}
	q := r.URL.Query()
	key, _, err := s.identifierKey(r.Context(), ps, q.Get("type"), q.Get("value"), "")
	if err != nil {
		Error(w, r, err)
		return
	}
	p, err := ps.FindProfileByIdentifier(r.Context(), key)
	if err == nil && p.MergedInto != "" {
		p, err = liveProfile(r.Context(), ps, p.ID)
	}
	if err != nil {
		Error(w, r, err)
		return
	}
	var refused []refusedLink
	if len(p.Identifiers) == 1 {
		if refused, err = limitRefusals(r.Context(), ps, key, p.ID); err != nil {
			Error(w, r, err)
			return
		}
	}
	if len(refused) > 0 {
		writeJSON(w, http.StatusOK, struct {
			*mosaic.Profile
			RefusedLinks []refusedLink `json:"refused_links"`
		}{p, refused})
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// refusedLink is a profile an identifier would have joined but for that profile's limit.
type refusedLink struct {
	ProfileID mosaic.ProfileID `json:"profile_id"`
	Reason    string           `json:"reason"` // limit:<type>
}

// maxRefusedLinks bounds the profiles a lookup lists in refused_links.
const maxRefusedLinks = 10

// limitRefusals returns the other profiles the identifier key (of profile id) was refused a
// link to by a per-profile limit: a customer's sixth email is a profile of its own, and a
// lookup by it says whose it would be.
func limitRefusals(ctx context.Context, ps profileStore, key mosaic.IdentifierKey, id mosaic.ProfileID) ([]refusedLink, error) {
	// Only an identifier alone on its profile can be one a limit kept out, and a hub (a value
	// thousands of visitors share) is not: neither loads its links.
	recs, err := ps.FindIdentifiers(ctx, []mosaic.IdentifierKey{key})
	if err != nil || len(recs) != 1 || recs[0].Hub {
		return nil, err
	}
	edges, err := ps.FindIdentityEdges(ctx, []mosaic.IdentifierKey{key})
	if err != nil {
		return nil, err
	}
	reason := map[mosaic.IdentifierKey]string{}
	var others []mosaic.IdentifierKey
	for _, e := range edges {
		if !strings.HasPrefix(e.Refused, "limit:") || e.A != key && e.B != key {
			continue
		}
		other := e.A
		if other == key {
			other = e.B
		}
		if _, ok := reason[other]; !ok {
			reason[other] = e.Refused
			others = append(others, other)
		}
	}
	if len(others) == 0 {
		return nil, nil
	}
	if recs, err = ps.FindIdentifiers(ctx, others); err != nil {
		return nil, err
	}
	seen := map[mosaic.ProfileID]bool{id: true}
	var out []refusedLink
	for _, rec := range recs {
		if !seen[rec.ProfileID] && len(out) < maxRefusedLinks {
			seen[rec.ProfileID] = true
			out = append(out, refusedLink{ProfileID: rec.ProfileID, Reason: reason[rec.Key]})
		}
	}
	slices.SortFunc(out, func(a, b refusedLink) int { return cmp.Compare(a.ProfileID, b.ProfileID) })
	return out, nil
}

func (s *Server) handleProfileList(w http.ResponseWriter, r *http.Request) {
	ps, err := s.listProfiles(r, "q", "limit", "cursor")
	if err != nil {
		Error(w, r, err)
		return
	}
	q := r.URL.Query()
	f := mosaic.ProfileFilter{Q: q.Get("q"), Cursor: q.Get("cursor")}
	if f.Limit, err = queryLimit(r); err != nil {
		Error(w, r, err)
		return
	}
	if err := s.searchAlso(r.Context(), ps, &f); err != nil {
		Error(w, r, err)
		return
	}
	list, next, err := ps.FindProfiles(r.Context(), f)
	if err != nil {
		Error(w, r, err)
		return
	}
	if list == nil {
		list = []*mosaic.Profile{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"profiles": list, "next_cursor": next})
}

// searchAlso widens a profile search by f.Q to what lookup would find: identifiers are stored
// normalised (a phone number in E.164), so Q is also searched normalised as each identifier
// type whose normaliser accepts it; and Q naming a profile, live or merged away, finds the
// live one.
func (s *Server) searchAlso(ctx context.Context, ps profileStore, f *mosaic.ProfileFilter) error {
	raw := strings.TrimSpace(f.Q)
	if raw == "" {
		return nil
	}
	for _, t := range s.Identity.Types() {
		if v, err := s.Identity.NormalizeSearch(t, raw); err == nil {
			f.Terms = append(f.Terms, v)
		}
	}
	p, err := liveProfile(ctx, ps, mosaic.ProfileID(raw))
	switch {
	case err == nil:
		f.IDs = append(f.IDs, p.ID)
	case mosaic.ErrorCode(err) != mosaic.ENOTFOUND:
		return err
	}
	return nil
}

// handleProfileGet answers with the live profile; a merged-away id resolves to the survivor,
// with "requested_id" saying which id was asked for.
func (s *Server) handleProfileGet(w http.ResponseWriter, r *http.Request) {
	ps, err := s.profiles()
	if err != nil {
		Error(w, r, err)
		return
	}
	id := mosaic.ProfileID(r.PathValue("id"))
	p, err := liveProfile(r.Context(), ps, id)
	if err != nil {
		Error(w, r, err)
		return
	}
	if p.ID != id {
		writeJSON(w, http.StatusOK, struct {
			*mosaic.Profile
			RequestedID mosaic.ProfileID `json:"requested_id"`
		}{p, id})
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleProfileEvents(w http.ResponseWriter, r *http.Request) {
	ps, err := s.profiles()
	if err != nil {
		Error(w, r, err)
		return
	}
	p, err := liveProfile(r.Context(), ps, mosaic.ProfileID(r.PathValue("id")))
	if err != nil {
		Error(w, r, err)
		return
	}
	f, err := s.eventFilter(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	f.ProfileID = p.ID
	evs, next, err := s.Store.FindEvents(r.Context(), f)
	if err != nil {
		Error(w, r, err)
		return
	}
	if evs == nil {
		evs = []*mosaic.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"profile_id": p.ID, "events": evs, "next_cursor": next})
}

// graphEdge is an edge as the graph endpoint shows it: both identifiers and the evidence.
type graphEdge struct {
	A, B      mosaic.Identifier `json:"-"`
	From      mosaic.Identifier `json:"from"`
	To        mosaic.Identifier `json:"to"`
	Kind      mosaic.EdgeKind   `json:"kind"`
	EventTime string            `json:"event_time"`
	Evidence  string            `json:"evidence"`
	SourceID  mosaic.SourceID   `json:"source_id"`
	Linked    bool              `json:"linked"`
	Refused   string            `json:"refused,omitempty"`
	// OtherProfile is set when the edge leads to an identifier of another profile.
	OtherProfile mosaic.ProfileID `json:"other_profile,omitempty"`
}

// handleProfileGraph explains a profile: its identifiers and every link touching them, with
// the evidence (which event, which source, when) and whether the link was made or refused.
func (s *Server) handleProfileGraph(w http.ResponseWriter, r *http.Request) {
	ps, err := s.profiles()
	if err != nil {
		Error(w, r, err)
		return
	}
	p, err := liveProfile(r.Context(), ps, mosaic.ProfileID(r.PathValue("id")))
	if err != nil {
		Error(w, r, err)
		return
	}
	g, err := ExplainProfile(r.Context(), ps, p.ID)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

// ProfileGraph is the answer of GET /api/v1/profiles/{id}/graph and `mosaic profile explain`.
type ProfileGraph struct {
	ProfileID   mosaic.ProfileID           `json:"profile_id"`
	Identifiers []*mosaic.IdentifierRecord `json:"identifiers"`
	Edges       []graphEdge                `json:"edges"`
	// Splits are the stewards' constraints on the profile's identifiers, each in the form
	// POST …/split took it (and …/unsplit lifts it).
	Splits []GraphSplit `json:"splits"`
}

// GraphSplit is a steward's constraint: an identifier removed from merging, or two that must
// never be in one profile.
type GraphSplit struct {
	A, B       mosaic.IdentifierKey `json:"-"` // the constraint's keys
	Identifier *mosaic.Identifier   `json:"identifier,omitempty"`
	Block      []mosaic.Identifier  `json:"block,omitempty"`
	Reason     string               `json:"reason"`
	By         string               `json:"by,omitempty"` // the token that made it (name, else id)
	CreatedAt  string               `json:"created_at"`
}

// ExplainProfile gathers a profile's identifiers and links with their evidence.
func ExplainProfile(ctx context.Context, ps profileStore, id mosaic.ProfileID) (*ProfileGraph, error) {
	ids, edges, err := ps.FindProfileGraph(ctx, id)
	if err != nil {
		return nil, err
	}
	known := map[mosaic.IdentifierKey]*mosaic.IdentifierRecord{}
	for _, r := range ids {
		known[r.Key] = r
	}
	var outside []mosaic.IdentifierKey
	for _, e := range edges {
		for _, k := range []mosaic.IdentifierKey{e.A, e.B} {
			if known[k] == nil {
				outside = append(outside, k)
			}
		}
	}
	// Splits: the constraints on the profile's identifiers, and an identifier removed from
	// merging that a link still ties to the profile (it was split off from here).
	linkedOut := map[mosaic.IdentifierKey]bool{}
	for _, k := range outside {
		linkedOut[k] = true
	}
	keys := make([]mosaic.IdentifierKey, 0, len(ids)+len(outside))
	for _, r := range ids {
		keys = append(keys, r.Key)
	}
	keys = append(keys, outside...)
	found, err := ps.FindIdentityConstraints(ctx, keys)
	if err != nil {
		return nil, err
	}
	var cons []*mosaic.IdentityConstraint
	for _, c := range found {
		own := known[c.A] != nil || known[c.B] != nil
		if !own && !(c.B == "" && linkedOut[c.A]) {
			continue
		}
		cons = append(cons, c)
		for _, k := range []mosaic.IdentifierKey{c.A, c.B} {
			if k != "" && known[k] == nil {
				outside = append(outside, k)
			}
		}
	}
	if len(outside) > 0 {
		recs, err := ps.FindIdentifiers(ctx, outside)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			known[r.Key] = r
		}
	}
	g := &ProfileGraph{ProfileID: id, Identifiers: ids, Edges: []graphEdge{}, Splits: []GraphSplit{}}
	if g.Identifiers == nil {
		g.Identifiers = []*mosaic.IdentifierRecord{}
	}
	for _, e := range edges {
		a, b := known[e.A], known[e.B]
		if a == nil || b == nil {
			continue
		}
		// Shown the same way on every store (the stored order follows the keyed hash, which
		// differs between workspaces): the profile's own identifier first, else by type
		// and value.
		if own := (a.ProfileID == id) != (b.ProfileID == id); own && b.ProfileID == id || !own && identifierOrder(b.Identifier, a.Identifier) < 0 {
			a, b = b, a
		}
		ge := graphEdge{From: a.Identifier, To: b.Identifier, Kind: e.Kind, EventTime: e.EventTime.Format("2006-01-02T15:04:05.000000Z07:00"),
			Evidence: e.Evidence, SourceID: e.SourceID, Refused: e.Refused, Linked: e.Refused == "" && a.ProfileID == b.ProfileID}
		if a.ProfileID != id {
			ge.OtherProfile = a.ProfileID
		} else if b.ProfileID != id {
			ge.OtherProfile = b.ProfileID
		}
		g.Edges = append(g.Edges, ge)
	}
	for _, c := range cons {
		sp := GraphSplit{A: c.A, B: c.B, Reason: c.Reason, By: c.By, CreatedAt: c.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z07:00")}
		a, b := known[c.A], known[c.B]
		switch {
		case a == nil:
			continue
		case c.B == "":
			sp.Identifier = &a.Identifier
		case b == nil:
			continue
		default:
			sp.Block = []mosaic.Identifier{a.Identifier, b.Identifier}
			if identifierOrder(b.Identifier, a.Identifier) < 0 {
				sp.Block[0], sp.Block[1] = b.Identifier, a.Identifier
			}
		}
		g.Splits = append(g.Splits, sp)
	}
	slices.SortStableFunc(g.Splits, func(x, y GraphSplit) int {
		first := func(sp GraphSplit) []mosaic.Identifier {
			if sp.Identifier != nil {
				return []mosaic.Identifier{*sp.Identifier}
			}
			return sp.Block
		}
		return slices.CompareFunc(first(x), first(y), identifierOrder)
	})
	slices.SortStableFunc(g.Identifiers, func(x, y *mosaic.IdentifierRecord) int { return identifierOrder(x.Identifier, y.Identifier) })
	slices.SortStableFunc(g.Edges, func(x, y graphEdge) int {
		return cmp.Or(identifierOrder(x.From, y.From), identifierOrder(x.To, y.To), cmp.Compare(x.Kind, y.Kind))
	})
	return g, nil
}

// identifierOrder orders identifiers for display: by type (user ids, then anonymous ids,
// then the others by name), then value.
func identifierOrder(x, y mosaic.Identifier) int {
	rank := func(t mosaic.IdentifierType) int {
		switch t {
		case mosaic.IdentifierUserID:
			return 0
		case mosaic.IdentifierAnonymousID:
			return 1
		}
		return 2
	}
	return cmp.Or(cmp.Compare(rank(x.Type), rank(y.Type)), cmp.Compare(x.Type, y.Type), cmp.Compare(x.Value, y.Value))
}

// stewardProfile starts a steward's change to the live profile of the path's {id} (a
// merged-away id: the profile it went into): it answers the error itself and returns false
// when the store keeps no profiles, the role may not (to do what verb says), or there is no
// such profile.
func (s *Server) stewardProfile(w http.ResponseWriter, r *http.Request, verb string) (profileStore, *mosaic.Profile, bool) {
	ps, err := s.profiles()
	if err != nil {
		Error(w, r, err)
		return nil, nil, false
	}
	if err := requireSourceManager(r); err != nil {
		Error(w, r, mosaic.Errorf(mosaic.EFORBIDDEN, "Your role may not %s profiles; an owner or steward can.", verb))
		return nil, nil, false
	}
	p, err := liveProfile(r.Context(), ps, mosaic.ProfileID(r.PathValue("id")))
	if err != nil {
		Error(w, r, err)
		return nil, nil, false
	}
	return ps, p, true
}

// handleProfileSplit records a steward's correction and queues the recomputation: either an
// identifier that must merge with nothing, or a pair that must never be in one profile.
func (s *Server) handleProfileSplit(w http.ResponseWriter, r *http.Request) {
	ps, p, ok := s.stewardProfile(w, r, "split")
	if !ok {
		return
	}
	c, keys, fields, err := s.splitBody(r, ps)
	if err != nil {
		Error(w, r, err)
		return
	}
	// The identifiers must belong to this profile, so a split is never applied to the wrong person.
	recs, err := ps.FindIdentifiers(r.Context(), keys)
	if err != nil {
		Error(w, r, err)
		return
	}
	owner := map[mosaic.IdentifierKey]mosaic.ProfileID{}
	for _, rec := range recs {
		owner[rec.Key] = rec.ProfileID
	}
	// A block may name one identifier of another profile (the pair is already apart, or
	// the other half of an undone alias went elsewhere): it keeps them apart from now on.
	onProfile := slices.IndexFunc(keys, func(k mosaic.IdentifierKey) bool { return owner[k] == p.ID })
	for i, k := range keys {
		switch {
		case owner[k] == "":
			Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, fields[i], "No profile holds that identifier."))
			return
		case owner[k] != p.ID && (len(keys) == 1 || onProfile < 0):
			msg := "That identifier is not part of profile %s."
			if len(keys) > 1 {
				msg = "Neither identifier is part of profile %s: post the block to a profile holding one of them."
			}
			Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, fields[i], msg, p.ID))
			return
		}
	}
	if t := tokenFrom(r); t != nil {
		c.By = cmp.Or(t.Name, t.ID)
	}
	if err := ps.AddIdentityConstraint(r.Context(), c); err != nil {
		Error(w, r, err)
		return
	}
	if s.Appended != nil {
		s.Appended() // wake the processor to apply it
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"success": true, "status": "queued", "profile_id": p.ID})
}

// handleProfileRebuild queues one profile (a merged-away id: the profile it went into) to be
// rebuilt from its events under the survivorship rules in force, as after a rule change.
func (s *Server) handleProfileRebuild(w http.ResponseWriter, r *http.Request) {
	ps, p, ok := s.stewardProfile(w, r, "rebuild")
	if !ok {
		return
	}
	n, err := ps.QueueProfileRebuild(r.Context(), []mosaic.ProfileID{p.ID})
	if err != nil {
		Error(w, r, err)
		return
	}
	s.wakeProcessor()
	writeJSON(w, http.StatusAccepted, map[string]any{"success": true, "status": "queued", "profile_id": p.ID, "queued": n})
}

// handleProfileRebuildAll queues every live profile for a rebuild. The body must say so
// ({"all": true}), so that an empty POST never starts one.
func (s *Server) handleProfileRebuildAll(w http.ResponseWriter, r *http.Request) {
	ps, err := s.profiles()
	if err != nil {
		Error(w, r, err)
		return
	}
	if err := requireSourceManager(r); err != nil {
		Error(w, r, mosaic.Errorf(mosaic.EFORBIDDEN, "Your role may not rebuild profiles; an owner or steward can."))
		return
	}
	var in struct {
		All bool `json:"all"`
	}
	if err := decodeJSON(r, &in); err != nil {
		Error(w, r, err)
		return
	}
	if !in.All {
		Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, "all", "Send {\"all\": true} to rebuild every profile, or POST /api/v1/profiles/{id}/rebuild for one."))
		return
	}
	n, err := ps.QueueProfileRebuild(r.Context(), nil)
	if err != nil {
		Error(w, r, err)
		return
	}
	if err := mosaic.MarkFullRebuild(r.Context(), s.Store); err != nil {
		Error(w, r, err)
		return
	}
	s.wakeProcessor()
	writeJSON(w, http.StatusAccepted, map[string]any{"success": true, "status": "queued", "queued": n})
}

// wakeProcessor tells the processor that work waits (a recompute, a rebuild).
func (s *Server) wakeProcessor() {
	if s.Appended != nil {
		s.Appended()
	}
}

// splitBody reads the body of a split or unsplit: {"identifier":{…}} or {"block":[{…},{…}]},
// with an optional reason. It returns the constraint, its identifier keys and the body
// fields they came from.
func (s *Server) splitBody(r *http.Request, ps profileStore) (*mosaic.IdentityConstraint, []mosaic.IdentifierKey, []string, error) {
	var err error
	var in struct {
		Identifier *mosaic.Identifier  `json:"identifier"`
		Block      []mosaic.Identifier `json:"block"`
		Reason     string              `json:"reason"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return nil, nil, nil, err
	}
	c := &mosaic.IdentityConstraint{Reason: in.Reason}
	switch {
	case in.Identifier != nil && len(in.Block) == 0:
		if c.A, _, err = s.identifierKey(r.Context(), ps, string(in.Identifier.Type), in.Identifier.Value, "identifier"); err != nil {
			return nil, nil, nil, err
		}
	case in.Identifier == nil && len(in.Block) == 2:
		if c.A, _, err = s.identifierKey(r.Context(), ps, string(in.Block[0].Type), in.Block[0].Value, "block[0]"); err != nil {
			return nil, nil, nil, err
		}
		if c.B, _, err = s.identifierKey(r.Context(), ps, string(in.Block[1].Type), in.Block[1].Value, "block[1]"); err != nil {
			return nil, nil, nil, err
		}
	default:
		return nil, nil, nil, mosaic.Errorf(mosaic.EINVALID, "Send either \"identifier\" (to remove from merging) or \"block\" with two identifiers.")
	}
	if c.B != "" && c.A == c.B {
		return nil, nil, nil, mosaic.FieldErrorf(mosaic.EINVALID, "block", "\"block\" names the same identifier twice; name the two identifiers whose link is wrong.")
	}
	keys := []mosaic.IdentifierKey{c.A}
	fields := []string{"identifier"}
	if c.B != "" {
		keys, fields = append(keys, c.B), []string{"block[0]", "block[1]"}
	}
	return c, keys, fields, nil
}

// handleProfileUnsplit lifts a steward's split (the body names it as the split did): the
// identifiers are recomputed and merge again where links join them. One of them must belong
// to the profile, as the graph of either side lists the split.
func (s *Server) handleProfileUnsplit(w http.ResponseWriter, r *http.Request) {
	ps, p, ok := s.stewardProfile(w, r, "split")
	if !ok {
		return
	}
	c, _, _, err := s.splitBody(r, ps)
	if err != nil {
		Error(w, r, err)
		return
	}
	// The split must be one the profile's graph lists, so it is never lifted on the wrong person.
	g, err := ExplainProfile(r.Context(), ps, p.ID)
	if err != nil {
		Error(w, r, err)
		return
	}
	a, b := c.A, c.B
	if b != "" && b < a {
		a, b = b, a
	}
	if !slices.ContainsFunc(g.Splits, func(sp GraphSplit) bool { return sp.A == a && sp.B == b }) {
		Error(w, r, mosaic.Errorf(mosaic.ENOTFOUND, "Profile %s shows no such split; GET /api/v1/profiles/%s/graph lists its splits.", p.ID, p.ID))
		return
	}
	if err := ps.RemoveIdentityConstraint(r.Context(), c.A, c.B); err != nil {
		Error(w, r, err)
		return
	}
	s.wakeProcessor()
	writeJSON(w, http.StatusAccepted, map[string]any{"success": true, "status": "queued", "profile_id": p.ID})
}

// lowerFirst lower-cases the first letter of a sentence that goes after a colon.
func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

package http

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/mosaic-cdp/mosaic"
)

// MatchRunner runs probabilistic matching over the store's profiles and returns its report
// (linkage.Run in production).
type MatchRunner func(ctx context.Context, dryRun bool) (any, error)

// matchRun is a matching run started through the API. Runs are kept in memory: the candidates
// they record are in the store; a restart forgets only the runs' reports.
type matchRun struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"` // running, done, failed
	DryRun     bool       `json:"dry_run"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Result     any        `json:"result,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// matchRuns keeps the API's matching runs, one at a time.
type matchRuns struct {
	mu   sync.Mutex
	runs map[string]*matchRun
	wg   sync.WaitGroup
}

func (s *Server) registerMatchRoutes(mux *http.ServeMux) {
	// GET /api/v1/matches?status=&open=&limit=&cursor=
	mux.HandleFunc("GET /api/v1/matches", s.authenticate(s.handleMatchList))
	// GET /api/v1/matches/review: the pending candidates still in two profiles, highest
	// probability first
	mux.HandleFunc("GET /api/v1/matches/review", s.authenticate(s.handleMatchList))
	// GET /api/v1/matches/{id}: a candidate with the current profiles of both sides
	mux.HandleFunc("GET /api/v1/matches/{id}", s.authenticate(s.handleMatchGet))
	// POST /api/v1/matches/{id}/accept, POST /api/v1/matches/{id}/reject
	mux.HandleFunc("POST /api/v1/matches/{id}/accept", s.authenticate(s.handleMatchDecide))
	mux.HandleFunc("POST /api/v1/matches/{id}/reject", s.authenticate(s.handleMatchDecide))
	// POST /api/v1/matches/runs {"dry_run":false}; GET /api/v1/matches/runs; GET /api/v1/matches/runs/{id}
	mux.HandleFunc("POST /api/v1/matches/runs", s.authenticate(s.handleMatchRunCreate))
	mux.HandleFunc("GET /api/v1/matches/runs", s.authenticate(s.handleMatchRunList))
	mux.HandleFunc("GET /api/v1/matches/runs/{id}", s.authenticate(s.handleMatchRunGet))
}

func (s *Server) matches() (mosaic.MatchService, error) {
	if _, err := s.profiles(); err != nil {
		return nil, err
	}
	return s.Store, nil
}

// handleMatchList lists candidates; the review route lists the pending ones.
func (s *Server) handleMatchList(w http.ResponseWriter, r *http.Request) {
	if err := knownParams(r, "status", "open", "limit", "cursor"); err != nil {
		Error(w, r, err)
		return
	}
	ms, err := s.matches()
	if err != nil {
		Error(w, r, err)
		return
	}
	q := r.URL.Query()
	f := mosaic.MatchFilter{Status: mosaic.MatchStatus(q.Get("status")), Cursor: q.Get("cursor")}
	if f.Status == "all" {
		f.Status = ""
	}
	switch v := q.Get("open"); v {
	case "", "false":
	case "true":
		f.Open = true
	default:
		Error(w, r, mosaic.FieldErrorf(mosaic.EINVALID, "open", "open must be true or false."))
		return
	}
	if r.URL.Path == "/api/v1/matches/review" {
		f.Status, f.Open = mosaic.MatchPending, true
	}
	if f.Limit, err = queryLimit(r); err != nil {
		Error(w, r, err)
		return
	}
	list, next, err := ms.FindMatchCandidates(r.Context(), f)
	if err != nil {
		Error(w, r, err)
		return
	}
	if list == nil {
		list = []*mosaic.MatchCandidate{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"matches": list, "next_cursor": next})
}

// handleMatchGet answers with a candidate and, side by side, the profiles that now hold its
// two identifiers (the same profile once the link merged them).
func (s *Server) handleMatchGet(w http.ResponseWriter, r *http.Request) {
	ms, err := s.matches()
	if err != nil {
		Error(w, r, err)
		return
	}
	c, err := ms.FindMatchCandidateByID(r.Context(), r.PathValue("id"))
	if err != nil {
		Error(w, r, err)
		return
	}
	s.writeMatch(w, r, http.StatusOK, c)
}

func (s *Server) writeMatch(w http.ResponseWriter, r *http.Request, status int, c *mosaic.MatchCandidate) {
	s.writeMatchLink(w, r, status, c, nil)
}

// writeMatchLink is writeMatch with the link's state given (nil: read from the graph).
func (s *Server) writeMatchLink(w http.ResponseWriter, r *http.Request, status int, c *mosaic.MatchCandidate, link *mosaic.MatchLink) {
	out := map[string]any{"match": c}
	var profiles []*mosaic.Profile
	for _, k := range []mosaic.IdentifierKey{c.A, c.B} {
		p, err := s.Store.FindProfileByIdentifier(r.Context(), k)
		if mosaic.ErrorCode(err) == mosaic.ENOTFOUND {
			continue // erased since
		} else if err != nil {
			Error(w, r, err)
			return
		}
		profiles = append(profiles, p)
	}
	out["profiles"] = profiles
	out["same_profile"] = len(profiles) == 2 && profiles[0].ID == profiles[1].ID
	if link == nil {
		var err error
		if link, err = mosaic.FindMatchLink(r.Context(), s.Store, c); err != nil {
			Error(w, r, err)
			return
		}
	}
	out["link"] = link
	writeJSON(w, status, out)
}

// handleMatchDecide records a steward's decision on a candidate.
func (s *Server) handleMatchDecide(w http.ResponseWriter, r *http.Request) {
	ms, err := s.matches()
	if err != nil {
		Error(w, r, err)
		return
	}
	t := tokenFrom(r)
	if t == nil || !t.Role.CanManageSources() {
		Error(w, r, mosaic.Errorf(mosaic.EFORBIDDEN, "Your role may not decide matches; an owner or steward can."))
		return
	}
	if r.ContentLength != 0 { // no fields yet: the decision is recorded under the token's name
		var in struct{}
		if err := decodeJSON(r, &in); err != nil {
			Error(w, r, err)
			return
		}
	}
	accept := r.URL.Path[len(r.URL.Path)-len("/accept"):] == "/accept"
	before, err := ms.FindMatchCandidateByID(r.Context(), r.PathValue("id"))
	if err != nil {
		Error(w, r, err)
		return
	}
	c, err := ms.DecideMatch(r.Context(), before.ID, accept, t.Name)
	if err != nil {
		Error(w, r, err)
		return
	}
	if s.Appended != nil {
		s.Appended() // wake the processor: the decision queued a recompute
	}
	if c.Status != before.Status {
		// The decision queued a recompute the processor has not applied yet: the graph
		// still shows the link as it was.
		s.writeMatchLink(w, r, http.StatusOK, c, &mosaic.MatchLink{State: mosaic.MatchLinkWaiting})
		return
	}
	s.writeMatch(w, r, http.StatusOK, c)
}

// handleMatchRunCreate starts a matching run in the background; 409 while one runs.
func (s *Server) handleMatchRunCreate(w http.ResponseWriter, r *http.Request) {
	if _, err := s.matches(); err != nil {
		Error(w, r, err)
		return
	}
	if s.Matcher == nil {
		Error(w, r, mosaic.Errorf(mosaic.EUNSUPPORTED, "This server does not run matching."))
		return
	}
	if err := requireSourceManager(r); err != nil {
		Error(w, r, mosaic.Errorf(mosaic.EFORBIDDEN, "Your role may not run matching; an owner or steward can."))
		return
	}
	var in struct {
		DryRun bool `json:"dry_run"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			Error(w, r, err)
			return
		}
	}
	s.runs.mu.Lock()
	if s.runs.runs == nil {
		s.runs.runs = map[string]*matchRun{}
	}
	for _, run := range s.runs.runs {
		if run.Status == "running" {
			s.runs.mu.Unlock()
			Error(w, r, mosaic.Errorf(mosaic.ECONFLICT, "Matching run %s is still running.", run.ID))
			return
		}
	}
	run := &matchRun{ID: "mr_" + mosaic.RandomString(10), Status: "running", DryRun: in.DryRun, StartedAt: s.Now().UTC()}
	s.runs.runs[run.ID] = run
	s.runs.wg.Add(1)
	s.runs.mu.Unlock()
	ctx := s.baseCtx
	if ctx == nil { // a Handler used without Open
		ctx = context.Background()
	}
	go func() {
		defer s.runs.wg.Done()
		res, err := s.Matcher(ctx, in.DryRun)
		s.runs.mu.Lock()
		defer s.runs.mu.Unlock()
		now := s.Now().UTC()
		run.FinishedAt, run.Result, run.Status = &now, res, "done"
		if err != nil {
			run.Status, run.Error = "failed", mosaic.ErrorMessage(err)
			s.Logger.Error("matching run failed", "run", run.ID, "err", err)
		} else if s.Appended != nil {
			s.Appended() // wake the processor: the links queued recomputes
		}
	}()
	s.writeRun(w, http.StatusAccepted, run)
}

// handleMatchRunList lists the matching runs this server started, newest first.
func (s *Server) handleMatchRunList(w http.ResponseWriter, r *http.Request) {
	s.runs.mu.Lock()
	runs := make([]matchRun, 0, len(s.runs.runs))
	for _, run := range s.runs.runs {
		runs = append(runs, *run)
	}
	s.runs.mu.Unlock()
	slices.SortFunc(runs, func(a, b matchRun) int { return b.StartedAt.Compare(a.StartedAt) })
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}

// handleMatchRunGet answers with a matching run's status and report.
func (s *Server) handleMatchRunGet(w http.ResponseWriter, r *http.Request) {
	s.runs.mu.Lock()
	run := s.runs.runs[r.PathValue("id")]
	s.runs.mu.Unlock()
	if run == nil {
		Error(w, r, mosaic.Errorf(mosaic.ENOTFOUND, "Matching run not found (runs are kept until the server restarts)."))
		return
	}
	s.writeRun(w, http.StatusOK, run)
}

func (s *Server) writeRun(w http.ResponseWriter, status int, run *matchRun) {
	s.runs.mu.Lock()
	cp := *run
	s.runs.mu.Unlock()
	writeJSON(w, status, cp)
}

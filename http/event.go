package http

import (
	"net/http"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

func (s *Server) registerEventRoutes(mux *http.ServeMux) {
	// GET /api/v1/events?source=&user_id=&anonymous_id=&type=&event=&limit=&cursor= (see eventFilter)
	mux.HandleFunc("GET /api/v1/events", s.authenticate(s.handleEventList))
	// GET /api/v1/stats
	mux.HandleFunc("GET /api/v1/stats", s.authenticate(s.handleStats))
}

func (s *Server) handleEventList(w http.ResponseWriter, r *http.Request) {
	f, err := s.eventFilter(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	evs, next, err := s.Store.FindEvents(r.Context(), f)
	if err != nil {
		Error(w, r, err)
		return
	}
	if evs == nil {
		evs = []*mosaic.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs, "next_cursor": next})
}

// eventFilter reads and checks the filters every event listing accepts (the event list and a
// profile's timeline): source (an id or a name), user_id, anonymous_id, type, event, limit
// and cursor.
func (s *Server) eventFilter(r *http.Request) (mosaic.EventFilter, error) {
	q := r.URL.Query()
	if err := knownParams(r, "source", "user_id", "anonymous_id", "type", "event", "limit", "cursor"); err != nil {
		return mosaic.EventFilter{}, err
	}
	// A filter given empty (?user_id= from a template whose variable was unset) is a mistake,
	// not "no filter": listing every event instead would answer another question.
	for _, name := range []string{"source", "user_id", "anonymous_id", "type", "event", "cursor"} {
		if vs, given := q[name]; given && strings.TrimSpace(vs[0]) == "" {
			return mosaic.EventFilter{}, mosaic.FieldErrorf(mosaic.EINVALID, name, "%s is empty: give a value, or leave the parameter out to list every event.", name)
		}
	}
	f := mosaic.EventFilter{
		SourceID: mosaic.SourceID(q.Get("source")), UserID: q.Get("user_id"), AnonymousID: q.Get("anonymous_id"),
		Type: mosaic.EventType(q.Get("type")), Event: q.Get("event"), Cursor: q.Get("cursor"),
	}
	if f.Type != "" && !f.Type.Valid() {
		return f, mosaic.FieldErrorf(mosaic.EINVALID, "type", "Unknown event type %q.", f.Type)
	}
	if f.SourceID != "" { // an id or a name
		src, err := s.findSource(r, string(f.SourceID))
		if err != nil {
			return f, err
		}
		f.SourceID = src.ID
	}
	var err error
	if f.Limit, err = queryLimit(r); err != nil {
		return f, err
	}
	if ps, ok := s.Store.(profileStore); ok && s.Identity != nil {
		key := func(typ mosaic.IdentifierType, v string) (mosaic.IdentifierKey, error) {
			if v == "" {
				return "", nil
			}
			k, _, err := s.identifierKey(r.Context(), ps, string(typ), v, "")
			if mosaic.ErrorCode(err) == mosaic.EINVALID {
				return "", nil // not an identifier: the store looks at every event
			}
			return k, err
		}
		if f.UserKey, err = key(mosaic.IdentifierUserID, f.UserID); err != nil {
			return f, err
		}
		if f.AnonymousKey, err = key(mosaic.IdentifierAnonymousID, f.AnonymousID); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.Store.Stats(r.Context())
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

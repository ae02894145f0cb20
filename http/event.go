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
	// An unknown filter is an error, not a listing of everything (a Segment user types
	// userId); parameters starting with _ are cache busters.
	for name := range q {
		switch name {
		case "source", "user_id", "anonymous_id", "type", "event", "limit", "cursor":
		case "userId", "anonymousId":
			return mosaic.EventFilter{}, mosaic.FieldErrorf(mosaic.EINVALID, name, "Unknown filter %q: the API's names are snake_case, use %s.", name, snake(name))
		default:
			if !strings.HasPrefix(name, "_") {
				return mosaic.EventFilter{}, mosaic.FieldErrorf(mosaic.EINVALID, name, "Unknown filter %q (known: source, user_id, anonymous_id, type, event, limit, cursor).", name)
			}
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

// snake turns userId into user_id.
func snake(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

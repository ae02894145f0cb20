package http

import (
	"cmp"
	"net/http"
	"net/url"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

// GroupMembersShown is how many member profile ids GET /api/v1/groups/{id} lists.
const GroupMembersShown = 100

// groupWithMembers is the answer of GET /api/v1/groups/{id}.
type groupWithMembers struct {
	*mosaic.Group
	Members []mosaic.ProfileID `json:"members"` // the first GroupMembersShown, by id
	// MembersURL lists every member a page at a time; MoreMembers says Members is not all.
	MembersURL  string `json:"members_url"`
	MoreMembers bool   `json:"more_members"`
}

// handleGroupGet answers with a group (a B2B account), its traits and the ids of its first
// member profiles.
//
//	GET /api/v1/groups/{id}
func (s *Server) handleGroupGet(w http.ResponseWriter, r *http.Request) {
	ps, err := s.listProfiles(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	id := strings.TrimSpace(r.PathValue("id")) // as the gateway takes group ids
	g, err := ps.FindGroupByID(r.Context(), id)
	if err != nil {
		Error(w, r, err)
		return
	}
	members, err := ps.FindGroupMembers(r.Context(), id, "", GroupMembersShown+1)
	if err != nil {
		Error(w, r, err)
		return
	}
	more := len(members) > GroupMembersShown
	members = append([]mosaic.ProfileID{}, members[:min(len(members), GroupMembersShown)]...)
	writeJSON(w, http.StatusOK, groupWithMembers{g, members, "/api/v1/groups/" + url.PathEscape(id) + "/members", more})
}

// handleGroupMembers lists a group's member profiles by id, a page at a time; next_cursor
// is empty on the last page.
//
//	GET /api/v1/groups/{id}/members?limit=&cursor=
func (s *Server) handleGroupMembers(w http.ResponseWriter, r *http.Request) {
	ps, err := s.listProfiles(r, "limit", "cursor")
	if err != nil {
		Error(w, r, err)
		return
	}
	id := strings.TrimSpace(r.PathValue("id"))
	if _, err := ps.FindGroupByID(r.Context(), id); err != nil {
		Error(w, r, err)
		return
	}
	limit, err := queryLimit(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	limit = min(cmp.Or(limit, mosaic.MaxProfilePage), mosaic.MaxProfilePage)
	members, err := ps.FindGroupMembers(r.Context(), id, mosaic.ProfileID(r.URL.Query().Get("cursor")), limit+1)
	if err != nil {
		Error(w, r, err)
		return
	}
	next := ""
	if len(members) > limit {
		members = members[:limit]
		next = string(members[limit-1])
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": append([]mosaic.ProfileID{}, members...), "next_cursor": next})
}

package http

import (
	"net/http"
	"strings"

	"github.com/mosaic-cdp/mosaic"
)

// GroupMembersShown is how many member profile ids GET /api/v1/groups/{id} lists.
const GroupMembersShown = 100

// groupWithMembers is the answer of GET /api/v1/groups/{id}.
type groupWithMembers struct {
	*mosaic.Group
	Members []mosaic.ProfileID `json:"members"` // the first GroupMembersShown, by id
}

// handleGroupGet answers with a group (a B2B account), its traits and the ids of its first
// member profiles.
//
//	GET /api/v1/groups/{id}
func (s *Server) handleGroupGet(w http.ResponseWriter, r *http.Request) {
	ps, err := s.profiles()
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
	members, err := ps.FindGroupMembers(r.Context(), id, GroupMembersShown)
	if err != nil {
		Error(w, r, err)
		return
	}
	if members == nil {
		members = []mosaic.ProfileID{}
	}
	writeJSON(w, http.StatusOK, groupWithMembers{g, members})
}

package mailchimp

// The reads of one list and one member, as syncline diff calls them:
//
//	GET /3.0/lists/{list_id}                          → 200 the list
//	                                                    ({id, name, stats})
//	GET /3.0/lists/{list_id}/members/{subscriber_hash} → 200 the member
//	                                                    (archived ones
//	                                                    with status
//	                                                    "archived"); 404
//	                                                    when absent
//
// Both take fields=a,b (the top-level fields of the answer to keep) and
// 404 an unknown list. ReadStats counts them.

import (
	"net/http"
	"strings"

	"syncline/internal/emulator/faults"
)

// ReadStats count the single reads.
type ReadStats struct {
	Lists, Members int
}

// ReadStats returns the read counters.
func (s *Server) ReadStats() ReadStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.reads
}

func (s *Server) getList(w http.ResponseWriter, r *http.Request, list string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.reads.Lists++
	if s.lists[list] == nil {
		problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
		return
	}
	faults.WriteJSON(w, http.StatusOK, only(r, map[string]any{"id": list, "name": list, "stats": map[string]any{"member_count": len(s.lists[list])}}))
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request, list, hash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.reads.Members++
	m := s.lists[list][strings.ToLower(hash)]
	if m == nil {
		problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
		return
	}
	faults.WriteJSON(w, http.StatusOK, only(r, memberOut(list, m)))
}

// only keeps the top-level fields the request's fields param names (all
// without one).
func only(r *http.Request, v map[string]any) map[string]any {
	fs := r.URL.Query().Get("fields")
	if fs == "" {
		return v
	}
	out := map[string]any{}
	for f := range strings.SplitSeq(fs, ",") {
		if x, ok := v[strings.TrimSpace(f)]; ok {
			out[strings.TrimSpace(f)] = x
		}
	}
	return out
}

package stripe

// The read of one customer, as syncline diff calls it:
//
//	GET /v1/customers/{id}   → 200 the customer; for a deleted one 200
//	                           {"id", "object": "customer", "deleted":
//	                           true}; 404 resource_missing when absent
//
// Reads go through the same key check, rate limit and injected faults as
// every request; ReadStats counts them.

import (
	"net/http"

	"syncline/internal/emulator/faults"
)

// ReadStats count the customer reads.
type ReadStats struct {
	// Retrieves counts GET /v1/customers/{id} that reached the handler.
	Retrieves int
}

// ReadStats returns the read counters.
func (s *Server) ReadStats() ReadStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.reads
}

func (s *Server) retrieve(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.reads.Retrieves++
	o := s.objects[id]
	switch {
	case o == nil || o.Type != "customer":
		writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "No such customer: '"+id+"'", "id")
	case o.Deleted:
		faults.WriteJSON(w, http.StatusOK, map[string]any{"id": o.ID, "object": "customer", "deleted": true})
	default:
		faults.WriteJSON(w, http.StatusOK, o.render())
	}
}

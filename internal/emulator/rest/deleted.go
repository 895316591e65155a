package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// deletedPath lists the items removed with Delete, as an archived
// endpoint does:
//
//	GET /v1/deleted-items?limit=N&offset=K
//	→ {"data": [{"id": 7, "deleted_at": "..."}], "has_more": false}
//
// ordered by (deleted_at, id), paged by offset whatever Options.Paging
// says, with the API key and the rate limit of the list endpoint.
const deletedPath = "/v1/deleted-items"

// Deleted is an item removed with Delete.
type Deleted struct {
	ID        int64     `json:"id"`
	DeletedAt time.Time `json:"deleted_at"`
}

// readState is the read side's bookkeeping beyond the items: removed
// items, 429s answered, and a hold on the list endpoint.
type readState struct {
	deleted   map[int64]Deleted
	throttled int
	force429  int           // requests still to answer 429 (Throttle)
	served    int           // list pages answered with 200
	holdAt    int           // with release set: pages served before requests wait
	release   chan struct{} // closed by Release
}

// Delete removes an item (it no longer appears in /v1/items) and lists it
// in /v1/deleted-items at at.
func (s *Server) Delete(id int64, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.items[id]; !ok {
		return fmt.Errorf("no item %d", id)
	}
	delete(s.items, id)
	if s.g.deleted == nil {
		s.g.deleted = map[int64]Deleted{}
	}
	s.g.deleted[id] = Deleted{ID: id, DeletedAt: at.UTC().Truncate(time.Millisecond)}
	return nil
}

// Throttled returns how many requests were answered 429 (with Retry-After).
func (s *Server) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.g.throttled
}

// Throttle makes the next n read requests (of /v1/items and
// /v1/deleted-items) answer 429 with Retry-After: 1, whatever the rate
// limit says.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.g.force429 = n
}

// forced429 answers a request Throttle still owes a 429; called with the
// lock held.
func (s *Server) forced429(h http.Header) bool {
	if s.g.force429 <= 0 {
		return false
	}
	s.g.force429--
	s.g.throttled++
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("Retry-After", "1")
	return true
}

// HoldAfter makes list requests wait, once n more pages of /v1/items
// were answered, until Release (or until the client gives up): a sync
// stopped at a known page. With concurrent list requests one more page
// may get through.
func (s *Server) HoldAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.g.holdAt = s.g.served + n
	s.g.release = make(chan struct{})
}

// Release lets held list requests go on; a no-op without a hold.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.g.release != nil {
		close(s.g.release)
		s.g.release = nil
	}
}

// waitHold blocks a list request while a hold is in force; false means
// the client went away.
func (s *Server) waitHold(r *http.Request) bool {
	s.mu.Lock()
	ch := s.g.release
	held := ch != nil && s.g.served >= s.g.holdAt
	s.mu.Unlock()
	if !held {
		return true
	}
	select {
	case <-ch:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) serveDeleted(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-API-Key") != s.opts.APIKey {
		answer(w, http.StatusUnauthorized, map[string]string{"error": "invalid api key"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if !s.admit(w.Header()) {
		answer(w, http.StatusTooManyRequests, map[string]string{"error": "rate limited"})
		return
	}
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 || limit > 500 {
		answer(w, http.StatusBadRequest, map[string]string{"error": "limit must be 1..500"})
		return
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	all := make([]Deleted, 0, len(s.g.deleted))
	for _, d := range s.g.deleted {
		all = append(all, d)
	}
	slices.SortFunc(all, func(a, b Deleted) int {
		if c := a.DeletedAt.Compare(b.DeletedAt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	start := min(max(offset, 0), len(all))
	end := min(start+limit, len(all))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": all[start:end], "has_more": end < len(all)})
}

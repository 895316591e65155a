// Package rest is a local emulator of a plain REST API of the kind the
// generic SaaS adapter is configured for: one collection of items with an
// updated_at, filtered by updated_since, ordered by (updated_at, id), paged
// by offset, by page number, or by a Link header (RFC 8288) carrying an
// opaque cursor; an API key header; X-RateLimit-Remaining and
// X-RateLimit-Reset headers with 429 past the limit; and a status field
// that marks deleted items.
//
//	GET /v1/items?updated_since=RFC3339&limit=N[&offset=K|&page=P|&cursor=C]
//	→ {"data": [{"id": 1, "updated_at": "...", "status": "active", "name": "…", "amount": 1.5}], "has_more": true}
//
// It also has a write side for sinks (write.go): records of any collection
// upserted and deleted by id or in batches, idempotency keys honoured, 429
// with Retry-After and injected 5xx.
package rest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Paging is how the emulator pages.
type Paging string

// The paging modes.
const (
	PagingOffset Paging = "offset"
	PagingPage   Paging = "page"
	PagingLink   Paging = "link"
)

// Options configure a Server.
type Options struct {
	APIKey string // required in X-API-Key (reads; writes unless another auth is set)
	// BearerToken or BasicUser and BasicPassword, when set, are what
	// writes must carry instead of the API key.
	BearerToken              string
	BasicUser, BasicPassword string
	Paging                   Paging
	// RateLimitMax requests per RateLimitInterval; 0: no limit.
	RateLimitMax      int
	RateLimitInterval time.Duration
}

// Item is one record.
type Item struct {
	ID        int64     `json:"id"`
	UpdatedAt time.Time `json:"updated_at"`
	Status    string    `json:"status"`
	Name      string    `json:"name"`
	Amount    float64   `json:"amount"`
}

// Server is the emulator; safe for concurrent use.
type Server struct {
	opts   Options
	mu     sync.Mutex
	items  map[int64]*Item
	next   int64
	window time.Time
	used   int
	// Requests counts requests answered.
	requests int
	w        writeState
	g        readState // deleted.go
}

// New returns an emulator.
func New(o Options) *Server {
	if o.Paging == "" {
		o.Paging = PagingOffset
	}
	if o.RateLimitInterval <= 0 {
		o.RateLimitInterval = time.Second
	}
	return &Server{opts: o, items: map[int64]*Item{}}
}

// Start serves the emulator on a local port.
func (s *Server) Start() *httptest.Server { return httptest.NewServer(s) }

// Put creates (id 0) or replaces an item and returns its id.
func (s *Server) Put(it Item) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it.ID == 0 {
		s.next++
		it.ID = s.next
	}
	if it.Status == "" {
		it.Status = "active"
	}
	it.UpdatedAt = it.UpdatedAt.UTC().Truncate(time.Millisecond)
	s.items[it.ID] = &it
	return it.ID
}

// Items returns copies of all items by id.
func (s *Server) Items() []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Item
	for _, it := range s.items {
		out = append(out, *it)
	}
	slices.SortFunc(out, func(a, b Item) int { return int(a.ID - b.ID) })
	return out
}

// Requests returns how many requests were answered.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// admit applies the rate limit and sets the X-RateLimit-* headers; false
// means over the limit (Retry-After is set). Called with the lock held.
func (s *Server) admit(h http.Header) bool {
	if s.forced429(h) { // deleted.go
		return false
	}
	if s.opts.RateLimitMax <= 0 {
		return true
	}
	now := time.Now()
	if now.Sub(s.window) >= s.opts.RateLimitInterval {
		s.window, s.used = now, 0
	}
	reset := s.window.Add(s.opts.RateLimitInterval).Sub(now)
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(reset.Seconds(), 'f', 3, 64))
	if s.used >= s.opts.RateLimitMax {
		s.g.throttled++
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(reset.Seconds())))))
		return false
	}
	s.used++
	h.Set("X-RateLimit-Remaining", strconv.Itoa(s.opts.RateLimitMax-s.used))
	return true
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == deletedPath && r.Method == http.MethodGet {
		s.serveDeleted(w, r) // deleted.go
		return
	}
	if r.URL.Path != "/v1/items" || r.Method != http.MethodGet {
		s.write(w, r) // write.go
		return
	}
	if r.Header.Get("X-API-Key") != s.opts.APIKey {
		http.Error(w, `{"error":"invalid api key"}`, http.StatusUnauthorized)
		return
	}
	if !s.waitHold(r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if !s.admit(w.Header()) {
		http.Error(w, `{"error":"rate limited"}`, http.StatusTooManyRequests)
		return
	}
	s.g.served++
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("updated_since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			http.Error(w, fmt.Sprintf(`{"error":"bad updated_since %q"}`, v), http.StatusBadRequest)
			return
		}
		since = t
	}
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 || limit > 500 {
		http.Error(w, `{"error":"limit must be 1..500"}`, http.StatusBadRequest)
		return
	}
	var matched []*Item
	for _, it := range s.items {
		if !it.UpdatedAt.Before(since) {
			matched = append(matched, it)
		}
	}
	slices.SortFunc(matched, func(a, b *Item) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	start := 0
	switch s.opts.Paging {
	case PagingOffset:
		start, _ = strconv.Atoi(q.Get("offset"))
	case PagingPage:
		p, _ := strconv.Atoi(q.Get("page"))
		start = max(p-1, 0) * limit
	case PagingLink:
		if c := q.Get("cursor"); c != "" {
			b, err := base64.RawURLEncoding.DecodeString(c)
			if err != nil {
				http.Error(w, `{"error":"bad cursor"}`, http.StatusBadRequest)
				return
			}
			start, _ = strconv.Atoi(string(b))
		}
	}
	start = min(max(start, 0), len(matched))
	end := min(start+limit, len(matched))
	data := make([]Item, 0, end-start)
	for _, it := range matched[start:end] {
		data = append(data, *it)
	}
	if s.opts.Paging == PagingLink && end < len(matched) {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("cursor", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))))
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, nq.Encode()))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "has_more": end < len(matched)})
}

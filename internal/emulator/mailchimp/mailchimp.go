// Package mailchimp is a local emulator of the Mailchimp Marketing API's
// list members endpoint, for tests and the quickstart. It reproduces what
// a poll adapter must cope with:
//
//   - GET /3.0/lists/{list_id}/members?count=&offset=&since_last_changed=
//     &status=: members in a stable order (when they joined the list),
//     count at most 1000 (default 10), offset paging, total_items;
//     since_last_changed keeps members changed strictly after the time,
//     and last_changed has whole seconds, so members sharing the last
//     timestamp a poll saw are lost by a cursor without a lookback.
//   - Member statuses subscribed, unsubscribed, cleaned, pending and
//     archived (archived members stay listed with status "archived");
//     a permanently deleted member disappears.
//   - Basic authentication with any user name and the API key (401 "API
//     Key Invalid" otherwise).
//   - The limit of simultaneous connections (10) answered with 429 and
//     Mailchimp's problem-details body.
//   - Injectable faults: 503 bursts, 429 storms, slow, garbage and
//     truncated bodies.
//   - The write side (write.go): member upsert by subscriber hash, batch
//     subscribe/update, archive.
package mailchimp

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"syncline/internal/emulator/faults"
)

// Member is one list member as the emulator stores it.
type Member struct {
	ID          string // MD5 of the lower-cased email address
	Email       string
	Status      string
	MergeFields map[string]any
	OptedIn     time.Time
	LastChanged time.Time
	seq         int
}

// Options configure a Server.
type Options struct {
	// APIKey is the key requests must carry as the basic-auth password.
	APIKey string
	// MaxConnections is the most requests in flight (Mailchimp: 10);
	// 0: no limit.
	MaxConnections int
	// SlowDelay is the delay of faults.Slow; default 2 s.
	SlowDelay time.Duration
}

// Stats count what the server answered.
type Stats struct {
	Requests, Lists, Limited, Faults, Unauthorized int
	// Rows counts the members returned.
	Rows int
}

// Server is the emulator. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	faults.Injector

	mu       sync.Mutex
	lists    map[string]map[string]*Member
	seq      int
	inFlight int
	stats    Stats
	w        writeState
}

// New returns an emulator.
func New(o Options) *Server {
	if o.SlowDelay <= 0 {
		o.SlowDelay = 2 * time.Second
	}
	return &Server{opts: o, lists: map[string]map[string]*Member{}}
}

// Start serves the emulator on a local port until the returned server is
// closed.
func (s *Server) Start() *httptest.Server { return httptest.NewServer(s) }

// SubscriberHash is a member's id: the MD5 of its lower-cased email.
func SubscriberHash(email string) string {
	h := md5.Sum([]byte(strings.ToLower(email)))
	return hex.EncodeToString(h[:])
}

// Add adds a member to list at ts and returns its id.
func (s *Server) Add(list, email, status string, merge map[string]any, ts time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lists[list] == nil {
		s.lists[list] = map[string]*Member{}
	}
	s.seq++
	ts = ts.UTC().Truncate(time.Second)
	m := &Member{ID: SubscriberHash(email), Email: email, Status: status, MergeFields: map[string]any{}, OptedIn: ts, LastChanged: ts, seq: s.seq}
	maps.Copy(m.MergeFields, merge)
	s.lists[list][m.ID] = m
	return m.ID
}

// Update changes a member's status (when not empty) and merge fields at
// ts; status "archived" archives it.
func (s *Server) Update(list, id, status string, merge map[string]any, ts time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.lists[list][id]
	if m == nil {
		return fmt.Errorf("no member %s in list %s", id, list)
	}
	if status != "" {
		m.Status = status
	}
	maps.Copy(m.MergeFields, merge)
	m.LastChanged = ts.UTC().Truncate(time.Second)
	return nil
}

// Members returns copies of the members of list in list order.
func (s *Server) Members(list string) []Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Member
	for _, m := range s.lists[list] {
		c := *m
		c.MergeFields = maps.Clone(m.MergeFields)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Member) int { return a.seq - b.seq })
	return out
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Faults = s.Count()
	return st
}

func problem(w http.ResponseWriter, code int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
	faults.WriteJSON(w, code, map[string]any{
		"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": title, "status": code, "detail": detail, "instance": "emulator",
	})
}

func tooMany(w http.ResponseWriter) {
	problem(w, http.StatusTooManyRequests, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.")
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, key, ok := r.BasicAuth()
	s.mu.Lock()
	s.stats.Requests++
	if !ok || key != s.opts.APIKey {
		s.stats.Unauthorized++
		s.mu.Unlock()
		problem(w, http.StatusUnauthorized, "API Key Invalid", "Your API key may be invalid, or you've attempted to access the wrong datacenter.")
		return
	}
	if s.opts.MaxConnections > 0 && s.inFlight >= s.opts.MaxConnections {
		s.stats.Limited++
		s.mu.Unlock()
		tooMany(w)
		return
	}
	s.inFlight++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	faults.Serve(w, r, s.Next(), s.opts.SlowDelay, func(w http.ResponseWriter, k faults.Kind) {
		if k == faults.Limit {
			tooMany(w)
			return
		}
		problem(w, http.StatusServiceUnavailable, "Service Unavailable", "The service is temporarily unavailable; try again later.")
	}, s.route)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/3.0/lists/")
	list, tail, _ := strings.Cut(rest, "/")
	if ok && s.write(w, r, list, tail) {
		return
	}
	if !ok || tail != "members" || r.Method != http.MethodGet {
		problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
		return
	}
	s.members(w, r, list)
}

func mcTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }

func (s *Server) members(w http.ResponseWriter, r *http.Request, list string) {
	q := r.URL.Query()
	count, offset := 10, 0
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			problem(w, http.StatusBadRequest, "Invalid Resource", "count: must be between 1 and 1000, got "+v)
			return
		}
		count = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			problem(w, http.StatusBadRequest, "Invalid Resource", "offset: must be a non-negative integer, got "+v)
			return
		}
		offset = n
	}
	var since time.Time
	if v := q.Get("since_last_changed"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			problem(w, http.StatusBadRequest, "Invalid Resource", "since_last_changed: not an ISO 8601 time: "+v)
			return
		}
		since = t
	}
	status := q.Get("status")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lists[list] == nil {
		problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
		return
	}
	s.stats.Lists++
	var all []*Member
	for _, m := range s.lists[list] {
		if (since.IsZero() || m.LastChanged.After(since)) && (status == "" || m.Status == status) {
			all = append(all, m)
		}
	}
	slices.SortFunc(all, func(a, b *Member) int { return a.seq - b.seq })
	out := []map[string]any{}
	for i := offset; i < len(all) && i < offset+count; i++ {
		m := all[i]
		out = append(out, map[string]any{
			"id": m.ID, "email_address": m.Email, "unique_email_id": m.ID[:10], "contact_id": m.ID[:20], "email_type": "html",
			"status": m.Status, "merge_fields": m.MergeFields, "timestamp_opt": mcTime(m.OptedIn), "last_changed": mcTime(m.LastChanged),
			"list_id": list, "full_name": fmt.Sprint(m.MergeFields["FNAME"]),
		})
	}
	s.stats.Rows += len(out)
	faults.WriteJSON(w, http.StatusOK, map[string]any{"members": out, "list_id": list, "total_items": len(all), "_links": []any{}})
}

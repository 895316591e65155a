// Package zendesk is a local emulator of the Zendesk Support cursor-based
// incremental exports, for tests and the quickstart. It reproduces what a
// poll adapter must cope with:
//
//   - GET /api/v2/incremental/{tickets,users}/cursor.json?start_time=&
//     cursor=&per_page=: records updated at or after start_time (first
//     request) or after the cursor, in updated_at then id order, per_page
//     at most 1000 (the default); the response's after_cursor continues
//     the stream, end_of_stream says the export has caught up with now.
//     Cursors are durable: a stream can be continued after a restart.
//   - updated_at in whole seconds, so many records share one (bulk
//     updates and triggers do that); deleted tickets stay in the export
//     with status "deleted", deleted users with active false.
//   - Basic authentication as {email}/token:{api_token} (401 "Couldn't
//     authenticate you" otherwise).
//   - The export rate limit (10 requests a minute) answered with 429 and
//     Retry-After in seconds.
//   - Injectable faults: 503 bursts (with Retry-After), 429 storms, slow,
//     garbage and truncated bodies.
package zendesk

import (
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"syncline/internal/emulator/faults"
)

// Record is one ticket or user as the emulator stores it.
type Record struct {
	ID        int64
	Fields    map[string]any
	CreatedAt time.Time
	UpdatedAt time.Time
	// Deleted: a ticket's status is "deleted", a user's active false.
	Deleted bool
}

// Options configure a Server.
type Options struct {
	// Email and APIToken are the credentials requests must carry.
	Email, APIToken string
	// ExportsPerMinute bounds the export requests per RateInterval
	// (default a minute; Zendesk allows 10, 30 with the high volume
	// add-on); 0: no limit.
	ExportsPerMinute int
	RateInterval     time.Duration
	// SlowDelay is the delay of faults.Slow; default 2 s.
	SlowDelay time.Duration
}

// Stats count what the server answered.
type Stats struct {
	Requests, Exports, Limited, Faults, Unauthorized int
	// Rows counts the records returned.
	Rows int
}

// Server is the emulator. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	faults.Injector

	mu      sync.Mutex
	records map[string]map[int64]*Record // tickets|users -> id -> record
	next    int64
	limit   faults.Window
	stats   Stats
}

// New returns an emulator.
func New(o Options) *Server {
	if o.RateInterval <= 0 {
		o.RateInterval = time.Minute
	}
	if o.SlowDelay <= 0 {
		o.SlowDelay = 2 * time.Second
	}
	return &Server{opts: o, records: map[string]map[int64]*Record{"tickets": {}, "users": {}},
		limit: faults.Window{Max: o.ExportsPerMinute, Interval: o.RateInterval}}
}

// Start serves the emulator on a local port until the returned server is
// closed.
func (s *Server) Start() *httptest.Server { return httptest.NewServer(s) }

// Create adds a ticket or user (typ tickets or users) at ts and returns
// its id.
func (s *Server) Create(typ string, fields map[string]any, ts time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	ts = ts.UTC().Truncate(time.Second)
	r := &Record{ID: s.next, Fields: map[string]any{}, CreatedAt: ts, UpdatedAt: ts}
	maps.Copy(r.Fields, fields)
	s.records[typ][r.ID] = r
	return r.ID
}

// Update sets fields of a record and its updated_at.
func (s *Server) Update(typ string, id int64, fields map[string]any, ts time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[typ][id]
	if r == nil || r.Deleted {
		return fmt.Errorf("no %s %d", typ, id)
	}
	maps.Copy(r.Fields, fields)
	r.UpdatedAt = ts.UTC().Truncate(time.Second)
	return nil
}

// Delete soft-deletes a record at ts.
func (s *Server) Delete(typ string, id int64, ts time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[typ][id]
	if r == nil || r.Deleted {
		return fmt.Errorf("no %s %d", typ, id)
	}
	r.Deleted, r.UpdatedAt = true, ts.UTC().Truncate(time.Second)
	return nil
}

// Records returns copies of the records of typ in id order.
func (s *Server) Records(typ string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, r := range s.records[typ] {
		c := *r
		c.Fields = maps.Clone(r.Fields)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Record) int { return int(a.ID - b.ID) })
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

func (s *Server) authorized(r *http.Request) bool {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Basic ")
	if !ok {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && string(b) == s.opts.Email+"/token:"+s.opts.APIToken
}

func rateLimited(w http.ResponseWriter, retry int) {
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	faults.WriteJSON(w, http.StatusTooManyRequests, map[string]any{
		"error": "APIRateLimitExceeded", "description": "Number of allowed incremental export API requests per minute exceeded",
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Requests++
	if !s.authorized(r) {
		s.stats.Unauthorized++
		s.mu.Unlock()
		faults.WriteJSON(w, http.StatusUnauthorized, map[string]any{"error": "Couldn't authenticate you"})
		return
	}
	ok, _, left, reset := s.limit.Admit()
	if s.opts.ExportsPerMinute > 0 {
		w.Header().Set("X-Rate-Limit", strconv.Itoa(s.opts.ExportsPerMinute))
		w.Header().Set("X-Rate-Limit-Remaining", strconv.Itoa(left))
	}
	if !ok {
		s.stats.Limited++
		s.mu.Unlock()
		rateLimited(w, max(1, int(math.Ceil(reset.Seconds()))))
		return
	}
	s.mu.Unlock()
	faults.Serve(w, r, s.Next(), s.opts.SlowDelay, func(w http.ResponseWriter, k faults.Kind) {
		if k == faults.Limit {
			rateLimited(w, 1)
			return
		}
		w.Header().Set("Retry-After", "1")
		faults.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "ServiceUnavailable", "description": "Zendesk is temporarily unavailable"})
	}, s.route)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v2/incremental/")
	typ, _ := strings.CutSuffix(rest, "/cursor.json")
	if !ok || r.Method != http.MethodGet || (typ != "tickets" && typ != "users") || !strings.HasSuffix(rest, "/cursor.json") {
		faults.WriteJSON(w, http.StatusNotFound, map[string]any{"error": "InvalidEndpoint", "description": "Not found"})
		return
	}
	s.export(w, r, typ)
}

func invalid(w http.ResponseWriter, desc string) {
	faults.WriteJSON(w, http.StatusBadRequest, map[string]any{"error": "InvalidValue", "description": desc})
}

// A cursor is the position after the last record returned:
// "<updated_at unix>.<id>", base64 encoded (opaque to clients).
func encodeCursor(ts, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d.%d", ts, id)))
}

func decodeCursor(c string) (ts, id int64, err error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		_, err = fmt.Sscanf(string(b), "%d.%d", &ts, &id)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("invalid cursor")
	}
	return ts, id, nil
}

func (s *Server) export(w http.ResponseWriter, r *http.Request, typ string) {
	q := r.URL.Query()
	perPage := 1000
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			invalid(w, "per_page must be between 1 and 1000")
			return
		}
		perPage = n
	}
	// The stream position: records after (ts, id).
	var afterTS, afterID int64
	switch c, st := q.Get("cursor"), q.Get("start_time"); {
	case c != "":
		var err error
		if afterTS, afterID, err = decodeCursor(c); err != nil {
			invalid(w, "cursor is invalid")
			return
		}
	case st != "":
		n, err := strconv.ParseInt(st, 10, 64)
		if err != nil || n < 0 {
			invalid(w, "start_time must be a Unix epoch time in seconds")
			return
		}
		if n > time.Now().Unix() {
			invalid(w, "start_time is in the future")
			return
		}
		afterTS, afterID = n, -1
	default:
		invalid(w, "start_time or cursor is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Exports++
	var rows []*Record
	for _, rec := range s.records[typ] {
		if ts := rec.UpdatedAt.Unix(); ts > afterTS || (ts == afterTS && rec.ID > afterID) {
			rows = append(rows, rec)
		}
	}
	slices.SortFunc(rows, func(a, b *Record) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	end := min(perPage, len(rows))
	out := make([]map[string]any, 0, end)
	for _, rec := range rows[:end] {
		out = append(out, render(r, typ, rec))
	}
	s.stats.Rows += len(out)
	curTS, curID := afterTS, afterID
	if end > 0 {
		curTS, curID = rows[end-1].UpdatedAt.Unix(), rows[end-1].ID
	}
	cursor := encodeCursor(curTS, curID)
	base := "http://" + r.Host + r.URL.Path
	faults.WriteJSON(w, http.StatusOK, map[string]any{
		typ: out, "after_cursor": cursor, "after_url": base + "?cursor=" + cursor + "&per_page=" + strconv.Itoa(perPage),
		"before_cursor": nil, "before_url": nil, "end_of_stream": end == len(rows),
	})
}

func zdTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func render(r *http.Request, typ string, rec *Record) map[string]any {
	m := map[string]any{
		"id": rec.ID, "url": fmt.Sprintf("http://%s/api/v2/%s/%d.json", r.Host, typ, rec.ID),
		"created_at": zdTime(rec.CreatedAt), "updated_at": zdTime(rec.UpdatedAt),
	}
	for k, v := range rec.Fields {
		m[k] = v
	}
	switch typ {
	case "tickets":
		if _, ok := m["status"]; !ok {
			m["status"] = "open"
		}
		if rec.Deleted {
			m["status"] = "deleted"
		}
	case "users":
		m["active"] = !rec.Deleted
	}
	return m
}

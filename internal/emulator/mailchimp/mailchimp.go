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
//   - fields= (and exclude_fields=) keep (drop) the dot paths listed,
//     members.id,total_items for a keys-only listing.
//   - Member statuses subscribed, unsubscribed, cleaned, pending and
//     archived (archived members stay listed with status "archived");
//     a permanently deleted member (POST …/members/{hash}/actions/
//     delete-permanent → 204, or DeletePermanent) disappears, and the
//     members listed after it move one offset down; its GET (read.go)
//     is 404.
//   - OnRequest picks the fault of a request by what it asks (a page of
//     a listing, say), for tests.
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
	"net/url"
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
	onReq    func(*http.Request) faults.Kind
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
	hook := s.onReq
	s.mu.Unlock()
	f := s.Next()
	if hook != nil {
		if k := hook(r); k != "" {
			f = k
		}
	}
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	faults.Serve(w, r, f, s.opts.SlowDelay, func(w http.ResponseWriter, k faults.Kind) {
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
	hash, isMember := strings.CutPrefix(tail, "members/")
	if h, ok := strings.CutSuffix(hash, "/actions/delete-permanent"); ok && isMember && r.Method == http.MethodPost {
		if err := s.DeletePermanent(list, h); err != nil {
			problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !ok || tail != "members" || r.Method != http.MethodGet {
		problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
		return
	}
	s.members(w, r, list)
}

// OnRequest sets a hook that picks the fault of each request (its
// answer wins over the injected faults; "" for none); nil removes it.
func (s *Server) OnRequest(hook func(*http.Request) faults.Kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onReq = hook
}

// DeletePermanent removes a member from list for good: it is listed no
// more, and its GET is 404.
func (s *Server) DeletePermanent(list, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lists[list][id] == nil {
		return fmt.Errorf("no member %s in list %s", id, list)
	}
	delete(s.lists[list], id)
	return nil
}

func memberJSON(list string, m *Member) map[string]any {
	return map[string]any{
		"id": m.ID, "email_address": m.Email, "unique_email_id": m.ID[:10], "contact_id": m.ID[:20], "email_type": "html",
		"status": m.Status, "merge_fields": m.MergeFields, "timestamp_opt": mcTime(m.OptedIn), "last_changed": mcTime(m.LastChanged),
		"list_id": list, "full_name": fmt.Sprint(m.MergeFields["FNAME"]),
	}
}

// partial applies the fields and exclude_fields parameters to a
// response.
func partial(q url.Values, v map[string]any) map[string]any {
	split := func(s string) [][]string {
		var out [][]string
		for f := range strings.SplitSeq(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, strings.Split(f, "."))
			}
		}
		return out
	}
	if f := split(q.Get("fields")); len(f) > 0 {
		v = pick(v, f, true).(map[string]any)
	}
	if f := split(q.Get("exclude_fields")); len(f) > 0 {
		v = pick(v, f, false).(map[string]any)
	}
	return v
}

// pick keeps (keep) or drops the paths of v; a path through an array
// applies to each element.
func pick(v any, paths [][]string, keep bool) any {
	switch x := v.(type) {
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pick(e, paths, keep)
		}
		return out
	case map[string]any:
		sub := map[string][][]string{}
		whole := map[string]bool{}
		for _, p := range paths {
			if len(p) == 1 {
				whole[p[0]] = true
			} else {
				sub[p[0]] = append(sub[p[0]], p[1:])
			}
		}
		out := map[string]any{}
		for k, e := range x {
			switch {
			case whole[k]:
				if keep {
					out[k] = e
				}
			case sub[k] != nil:
				out[k] = pick(e, sub[k], keep)
			case !keep:
				out[k] = e
			}
		}
		return out
	}
	return v
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
		out = append(out, memberJSON(list, all[i]))
	}
	s.stats.Rows += len(out)
	faults.WriteJSON(w, http.StatusOK, partial(q, map[string]any{"members": out, "list_id": list, "total_items": len(all), "_links": []any{}}))
}

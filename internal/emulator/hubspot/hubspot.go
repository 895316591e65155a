// Package hubspot is a local emulator of the HubSpot CRM v3 objects API,
// for tests and the quickstart. It reproduces the shapes and the limits a
// poll adapter must cope with:
//
//   - POST /crm/v3/objects/{type}/search: filterGroups (OR of AND-ed
//     filters; EQ, NEQ, GT, GTE, LT, LTE, BETWEEN, IN, HAS_PROPERTY on any
//     property, dates as epoch milliseconds or ISO 8601), sorts, properties,
//     limit (at most 200) and the opaque "after" paging token; a query pages
//     over at most 10,000 results, and a request past that fails with 400 as
//     HubSpot's does. Archived objects are not searchable.
//   - GET /crm/v3/objects/{type}?archived=true|false&limit=&after=: the list
//     endpoint (limit at most 100), ordered by id; archived=true lists the
//     archived objects with archivedAt.
//   - POST /oauth/v1/token: client-credentials tokens that expire.
//   - Bearer authentication (401 with HubSpot's error body otherwise).
//   - A rate limit per interval answered with 429, Retry-After and the
//     X-HubSpot-RateLimit-* headers, which are also sent on every response.
//   - Injectable faults: 5xx bursts, 429 storms, slow, garbage and truncated
//     bodies.
//   - Writes for sinks (write.go): batch upsert by idProperty (200, 207
//     Multi-Status, 400 for invalid values) and batch archive, counted
//     per call and per object.
//
// Objects carry hs_object_id, createdate, lastmodifieddate and
// hs_lastmodifieddate besides their own properties; many objects may share
// one modification time (bulk imports do that), which is what breaks naive
// cursors.
package hubspot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SearchCap is the most results one HubSpot search query pages over.
const SearchCap = 10000

// Object is one CRM object as the emulator stores it.
type Object struct {
	ID         int64
	Properties map[string]string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Archived   bool
	ArchivedAt time.Time

	// Search index lag (Options.IndexLag): until visibleAt, search sees
	// prev (nil: the object is not searchable yet).
	prev      *Object
	visibleAt time.Time
}

func (o *Object) clone() *Object {
	c := *o
	c.Properties = make(map[string]string, len(o.Properties))
	for k, v := range o.Properties {
		c.Properties[k] = v
	}
	c.prev = nil
	return &c
}

// indexed notes a write: with an index lag, search keeps showing the
// previous version (or nothing) for a while, as HubSpot's search does.
func (s *Server) indexed(o *Object, before *Object) {
	if s.opts.IndexLag <= 0 {
		return
	}
	if time.Now().After(o.visibleAt) {
		o.prev = before
	}
	o.visibleAt = time.Now().Add(s.opts.IndexLag)
}

// searchView is what search sees of o now.
func searchView(o *Object, now time.Time) *Object {
	if now.Before(o.visibleAt) {
		return o.prev
	}
	return o
}

// FaultKind is a kind of injected failure.
type FaultKind string

// The faults.
const (
	Fault5xx       FaultKind = "5xx"       // 503 with a JSON error body
	Fault429       FaultKind = "429"       // 429 with Retry-After: 1
	FaultGarbage   FaultKind = "garbage"   // 200 with a body that is not JSON
	FaultTruncated FaultKind = "truncated" // 200 with the first half of the real body
	FaultSlow      FaultKind = "slow"      // the real answer after Options.SlowDelay
)

// Options configure a Server.
type Options struct {
	// Token is the bearer token (private app token) requests must carry.
	// Tokens issued by the token endpoint are accepted too.
	Token string
	// ClientID and ClientSecret enable POST /oauth/v1/token.
	ClientID, ClientSecret string
	// TokenTTL is how long issued tokens live; default 30 minutes.
	TokenTTL time.Duration
	// RateLimitMax requests are allowed per RateLimitInterval; 0 disables
	// the limit. HubSpot's default is 100 (or 190) per 10 s.
	RateLimitMax      int
	RateLimitInterval time.Duration
	// SlowDelay is the delay of FaultSlow; default 2 s.
	SlowDelay time.Duration
	// SearchCap is the most results one search pages over; default
	// 10,000 as HubSpot's (lower it to test the cap cheaply).
	SearchCap int
	// IndexLag delays writes becoming searchable (the list endpoints see
	// them at once): eventual consistency, which a poller's lookback must
	// absorb. Default 0.
	IndexLag time.Duration
}

// Stats count what the server answered.
type Stats struct {
	Requests, Searches, Lists, RateLimited, Faults, Unauthorized, CapRejected int
}

// Server is the emulator. Its methods are safe for concurrent use.
type Server struct {
	opts Options

	mu      sync.Mutex
	objects map[string]map[int64]*Object // type -> id -> object
	nextID  int64
	tokens  map[string]time.Time // issued token -> expiry
	faults  []FaultKind          // next requests fail with these, in order
	every   int                  // every Nth request fails with everyKind
	evKind  FaultKind
	window  time.Time // start of the rate-limit interval
	used    int
	stats   Stats
	w       writeState // write endpoints (write.go)
}

// New returns an emulator.
func New(o Options) *Server {
	if o.TokenTTL <= 0 {
		o.TokenTTL = 30 * time.Minute
	}
	if o.RateLimitInterval <= 0 {
		o.RateLimitInterval = 10 * time.Second
	}
	if o.SlowDelay <= 0 {
		o.SlowDelay = 2 * time.Second
	}
	if o.SearchCap <= 0 {
		o.SearchCap = SearchCap
	}
	return &Server{opts: o, objects: map[string]map[int64]*Object{}, nextID: 1000, tokens: map[string]time.Time{}}
}

// Start serves the emulator on a local port until the returned server is
// closed.
func (s *Server) Start() *httptest.Server { return httptest.NewServer(s) }

// Create adds an object of type typ modified (and created) at ts and
// returns its id.
func (s *Server) Create(typ string, props map[string]string, ts time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	o := &Object{ID: s.nextID, Properties: map[string]string{}, CreatedAt: ts.UTC().Truncate(time.Millisecond), UpdatedAt: ts.UTC().Truncate(time.Millisecond)}
	for k, v := range props {
		o.Properties[k] = v
	}
	if s.objects[typ] == nil {
		s.objects[typ] = map[int64]*Object{}
	}
	s.objects[typ][o.ID] = o
	s.indexed(o, nil)
	return o.ID
}

// Update sets properties of an object and its modification time.
func (s *Server) Update(typ string, id int64, props map[string]string, ts time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[typ][id]
	if o == nil || o.Archived {
		return fmt.Errorf("no %s %d", typ, id)
	}
	before := o.clone()
	for k, v := range props {
		o.Properties[k] = v
	}
	o.UpdatedAt = ts.UTC().Truncate(time.Millisecond)
	s.indexed(o, before)
	return nil
}

// Archive archives (soft-deletes) an object at ts.
func (s *Server) Archive(typ string, id int64, ts time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[typ][id]
	if o == nil || o.Archived {
		return fmt.Errorf("no %s %d", typ, id)
	}
	o.Archived, o.ArchivedAt, o.UpdatedAt = true, ts.UTC().Truncate(time.Millisecond), ts.UTC().Truncate(time.Millisecond)
	return nil
}

// Restore brings an archived object back at ts with its id and
// properties, as restoring a deleted record in HubSpot does (within its
// 90 days).
func (s *Server) Restore(typ string, id int64, ts time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[typ][id]
	if o == nil || !o.Archived {
		return fmt.Errorf("no archived %s %d", typ, id)
	}
	o.Archived, o.ArchivedAt, o.UpdatedAt = false, time.Time{}, ts.UTC().Truncate(time.Millisecond)
	return nil
}

// Live returns copies of the live (not archived) objects of typ by their
// value of property prop (one of objects sharing a value).
func (s *Server) Live(typ, prop string) map[string]Object {
	out := map[string]Object{}
	for _, o := range s.Objects(typ) {
		if !o.Archived {
			out[o.Properties[prop]] = o
		}
	}
	return out
}

// Objects returns copies of the objects of typ, archived ones included.
func (s *Server) Objects(typ string) []Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Object
	for _, o := range s.objects[typ] {
		c := *o
		c.Properties = map[string]string{}
		for k, v := range o.Properties {
			c.Properties[k] = v
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Object) int { return int(a.ID - b.ID) })
	return out
}

// Inject makes the next requests fail, one fault each, in order.
func (s *Server) Inject(kinds ...FaultKind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, kinds...)
}

// FailEvery makes every nth request fail with kind; n = 0 stops it.
func (s *Server) FailEvery(n int, kind FaultKind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.every, s.evKind = n, kind
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/oauth/v1/token" {
		s.token(w, r)
		return
	}
	s.mu.Lock()
	s.stats.Requests++
	if !s.authorized(r) {
		s.stats.Unauthorized++
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "INVALID_AUTHENTICATION", "Authentication credentials not found. This API supports OAuth 2.0 authentication.")
		return
	}
	if ok, retry := s.admit(w.Header()); !ok {
		s.stats.RateLimited++
		s.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{
			"status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT",
			"correlationId": "emulator", "policyName": "TEN_SECONDLY_ROLLING",
		})
		return
	}
	fault := FaultKind("")
	if len(s.faults) > 0 {
		fault, s.faults = s.faults[0], s.faults[1:]
	} else if s.every > 0 && s.stats.Requests%s.every == 0 {
		fault = s.evKind
	}
	if fault != "" {
		s.stats.Faults++
	}
	s.mu.Unlock()

	switch fault {
	case Fault5xx:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "error", "message": "Service Unavailable", "category": "SERVICE_UNAVAILABLE"})
		return
	case Fault429:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT", "policyName": "SECONDLY"})
		return
	case FaultGarbage:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
		return
	case FaultSlow:
		select {
		case <-time.After(s.opts.SlowDelay):
		case <-r.Context().Done():
			return
		}
	}
	rec := httptest.NewRecorder()
	s.route(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	body := rec.Body.Bytes()
	if fault == FaultTruncated {
		body = body[:len(body)/2]
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/crm/v3/objects/")
	if !ok {
		writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "no route for "+r.URL.Path)
		return
	}
	typ, action, _ := strings.Cut(rest, "/")
	switch {
	case action == "search" && r.Method == http.MethodPost:
		s.search(w, r, typ)
	case action == "" && r.Method == http.MethodGet:
		s.list(w, r, typ)
	case strings.HasPrefix(action, "batch/") && r.Method == http.MethodPost:
		s.write(w, r, typ, action)
	default:
		writeError(w, http.StatusMethodNotAllowed, "VALIDATION_ERROR", r.Method+" "+r.URL.Path+" is not supported by the emulator")
	}
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return false
	}
	if s.opts.Token != "" && tok == s.opts.Token {
		return true
	}
	exp, ok := s.tokens[tok]
	return ok && time.Now().Before(exp)
}

// admit applies the rate limit and sets the rate-limit headers; it returns
// false and the seconds to wait when the request is over the limit.
func (s *Server) admit(h http.Header) (bool, int) {
	if s.opts.RateLimitMax <= 0 {
		return true, 0
	}
	now := time.Now()
	if now.Sub(s.window) >= s.opts.RateLimitInterval {
		s.window, s.used = now, 0
	}
	h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.FormatInt(s.opts.RateLimitInterval.Milliseconds(), 10))
	h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(s.opts.RateLimitMax))
	if s.used >= s.opts.RateLimitMax {
		h.Set("X-HubSpot-RateLimit-Remaining", "0")
		left := s.opts.RateLimitInterval - now.Sub(s.window)
		return false, max(1, int(math.Ceil(left.Seconds())))
	}
	s.used++
	h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(s.opts.RateLimitMax-s.used))
	return true, 0
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if s.opts.ClientID == "" || r.PostForm.Get("grant_type") != "client_credentials" || id != s.opts.ClientID || secret != s.opts.ClientSecret {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "BAD_CLIENT_ID", "message": "missing or unknown client id"})
		return
	}
	s.mu.Lock()
	s.nextID++
	tok := fmt.Sprintf("emu-%d-%d", s.nextID, time.Now().UnixNano())
	s.tokens[tok] = time.Now().Add(s.opts.TokenTTL)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": int(s.opts.TokenTTL.Seconds())})
}

// ExpireTokens makes every issued token invalid at once (a revoked or
// rotated token): the next request with one gets 401.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

type filter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        any      `json:"value"`
	HighValue    any      `json:"highValue"`
	Values       []any    `json:"values"`
	values       []string // Values as strings
}

type searchRequest struct {
	FilterGroups []struct {
		Filters []filter `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []json.RawMessage `json:"sorts"`
	Properties []string          `json:"properties"`
	Limit      *int              `json:"limit"`
	After      any               `json:"after"`
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, typ string) {
	var req searchRequest
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON on line 1: "+err.Error())
		return
	}
	limit := 10
	if req.Limit != nil {
		limit = *req.Limit
	}
	if limit < 1 || limit > 200 {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("limit must be between 1 and 200, got %d", limit))
		return
	}
	after, err := offsetOf(req.After)
	if err != nil {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", err.Error())
		return
	}
	if after >= s.opts.SearchCap {
		s.mu.Lock()
		s.stats.CapRejected++
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("There was a problem with the request: paging past %d results is not supported (after=%d); narrow the query", s.opts.SearchCap, after))
		return
	}
	var sortProp, sortDir string
	if len(req.Sorts) > 1 {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "only one sort is supported")
		return
	}
	for _, raw := range req.Sorts {
		var sp struct{ PropertyName, Direction string }
		var str string
		if json.Unmarshal(raw, &str) == nil {
			sortProp, sortDir = strings.TrimPrefix(str, "-"), "ASCENDING"
			if strings.HasPrefix(str, "-") {
				sortDir = "DESCENDING"
			}
		} else if json.Unmarshal(raw, &sp) == nil && sp.PropertyName != "" {
			sortProp, sortDir = sp.PropertyName, strings.ToUpper(sp.Direction)
		} else {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "invalid sort "+string(raw))
			return
		}
	}
	for gi := range req.FilterGroups {
		for fi := range req.FilterGroups[gi].Filters {
			f := &req.FilterGroups[gi].Filters[fi]
			for _, v := range f.Values {
				f.values = append(f.values, fmt.Sprint(v))
			}
		}
	}
	s.mu.Lock()
	s.stats.Searches++
	var matched []*Object
	now := time.Now()
	for _, o := range s.objects[typ] {
		if o = searchView(o, now); o == nil || o.Archived {
			continue
		}
		if len(req.FilterGroups) == 0 {
			matched = append(matched, o)
			continue
		}
		for _, g := range req.FilterGroups {
			ok := true
			for _, f := range g.Filters {
				if !matches(o, f) {
					ok = false
					break
				}
			}
			if ok {
				matched = append(matched, o)
				break
			}
		}
	}
	type keyed struct {
		o   *Object
		num float64
		isN bool
		str string
	}
	ks := make([]keyed, len(matched))
	for i, o := range matched {
		ks[i].o = o
		if sortProp != "" {
			ks[i].num, ks[i].isN = numProp(o, sortProp)
			if !ks[i].isN {
				ks[i].str = prop(o, sortProp)
			}
		}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		c := 0
		switch {
		case sortProp == "":
		case a.isN && b.isN:
			c = cmpFloat(a.num, b.num)
		default:
			c = strings.Compare(a.str, b.str)
		}
		if sortDir == "DESCENDING" {
			c = -c
		}
		if c != 0 {
			return c
		}
		return int(a.o.ID - b.o.ID)
	})
	for i := range ks {
		matched[i] = ks[i].o
	}
	total := len(matched)
	end := min(after+limit, total, s.opts.SearchCap)
	var results []map[string]any
	for i := after; i < end; i++ {
		results = append(results, render(matched[i], req.Properties))
	}
	s.mu.Unlock()
	resp := map[string]any{"total": total, "results": orEmpty(results)}
	// Like HubSpot, a next page is offered up to the total; requesting
	// one at or past the cap fails with 400.
	if end < total {
		next := strconv.Itoa(end)
		resp["paging"] = map[string]any{"next": map[string]any{"after": next, "link": "?after=" + next}}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, typ string) {
	q := r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("limit must be between 1 and 100, got %q", v))
			return
		}
		limit = n
	}
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("invalid after %q", v))
			return
		}
		after = n
	}
	archived := q.Get("archived") == "true"
	var props []string
	if v := q.Get("properties"); v != "" {
		props = strings.Split(v, ",")
	}
	s.mu.Lock()
	s.stats.Lists++
	var matched []*Object
	for _, o := range s.objects[typ] {
		if o.Archived == archived && o.ID >= after {
			matched = append(matched, o)
		}
	}
	slices.SortFunc(matched, func(a, b *Object) int { return int(a.ID - b.ID) })
	var results []map[string]any
	for i := 0; i < len(matched) && i < limit; i++ {
		results = append(results, render(matched[i], props))
	}
	s.mu.Unlock()
	resp := map[string]any{"results": orEmpty(results)}
	if len(matched) > limit {
		next := strconv.FormatInt(matched[limit].ID, 10)
		resp["paging"] = map[string]any{"next": map[string]any{"after": next, "link": r.URL.Path + "?after=" + next}}
	}
	writeJSON(w, http.StatusOK, resp)
}

func orEmpty(r []map[string]any) []map[string]any {
	if r == nil {
		return []map[string]any{}
	}
	return r
}

func offsetOf(v any) (int, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case string:
		if x == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(x)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid paging token after=%q", x)
		}
		return n, nil
	case float64:
		if x < 0 || x != math.Trunc(x) {
			return 0, fmt.Errorf("invalid paging token after=%v", x)
		}
		return int(x), nil
	}
	return 0, fmt.Errorf("invalid paging token after=%v", v)
}

func isoMs(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// prop returns a property as HubSpot stores it (dates as ISO 8601).
func prop(o *Object, name string) string {
	switch name {
	case "hs_object_id":
		return strconv.FormatInt(o.ID, 10)
	case "createdate":
		return isoMs(o.CreatedAt)
	case "lastmodifieddate", "hs_lastmodifieddate":
		return isoMs(o.UpdatedAt)
	}
	return o.Properties[name]
}

func isDateProp(name string) bool {
	return name == "createdate" || name == "lastmodifieddate" || name == "hs_lastmodifieddate"
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// numProp returns a property as a number when it is one: ids, dates as
// epoch ms, numeric values.
func numProp(o *Object, name string) (float64, bool) {
	switch name {
	case "hs_object_id":
		return float64(o.ID), true
	case "createdate":
		return float64(o.CreatedAt.UnixMilli()), true
	case "lastmodifieddate", "hs_lastmodifieddate":
		return float64(o.UpdatedAt.UnixMilli()), true
	}
	return number(o.Properties[name], name)
}

// compareProp orders an object's property against a filter value:
// numerically for ids and dates (as epoch ms) and numbers, as strings
// otherwise.
func compareProp(o *Object, name, val string) int {
	if x, ok := numProp(o, name); ok {
		if y, ok := number(val, name); ok {
			return cmpFloat(x, y)
		}
	}
	return strings.Compare(prop(o, name), val)
}

// number reads a filter or property value as a number: dates as epoch
// milliseconds (given as such or as ISO 8601), other values when numeric.
func number(v, name string) (float64, bool) {
	if isDateProp(name) {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return float64(t.UnixMilli()), true
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}

func matches(o *Object, f filter) bool {
	v := prop(o, f.PropertyName)
	val := fmt.Sprint(f.Value)
	if s, ok := f.Value.(float64); ok {
		val = strconv.FormatFloat(s, 'f', -1, 64)
	}
	cmp := func(val string) int { return compareProp(o, f.PropertyName, val) }
	switch strings.ToUpper(f.Operator) {
	case "EQ":
		return cmp(val) == 0
	case "NEQ":
		return cmp(val) != 0
	case "GT":
		return v != "" && cmp(val) > 0
	case "GTE":
		return v != "" && cmp(val) >= 0
	case "LT":
		return v != "" && cmp(val) < 0
	case "LTE":
		return v != "" && cmp(val) <= 0
	case "BETWEEN":
		return v != "" && cmp(val) >= 0 && cmp(fmt.Sprint(f.HighValue)) <= 0
	case "IN":
		return slices.Contains(f.values, v)
	case "HAS_PROPERTY":
		return v != ""
	case "NOT_HAS_PROPERTY":
		return v == ""
	}
	return false
}

func render(o *Object, props []string) map[string]any {
	p := map[string]any{
		"hs_object_id": strconv.FormatInt(o.ID, 10), "createdate": isoMs(o.CreatedAt),
		"lastmodifieddate": isoMs(o.UpdatedAt), "hs_lastmodifieddate": isoMs(o.UpdatedAt),
	}
	for _, name := range props {
		if v, ok := o.Properties[name]; ok {
			p[name] = v
		} else if _, ok := p[name]; !ok {
			p[name] = nil
		}
	}
	m := map[string]any{
		"id": strconv.FormatInt(o.ID, 10), "properties": p,
		"createdAt": isoMs(o.CreatedAt), "updatedAt": isoMs(o.UpdatedAt), "archived": o.Archived,
	}
	if o.Archived {
		m["archivedAt"] = isoMs(o.ArchivedAt)
	}
	return m
}

func writeError(w http.ResponseWriter, code int, category, msg string) {
	writeJSON(w, code, map[string]any{"status": "error", "message": msg, "correlationId": "emulator", "category": category})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(v)
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// Package stripe is a local emulator of the Stripe events API, for tests
// and the quickstart. It reproduces what a poll adapter must cope with:
//
//   - GET /v1/events?limit=&starting_after=&ending_before=&type=&types[]=
//     &created[gte|gt|lte|lt]=: Stripe's list shape ({object: "list", url,
//     has_more, data}), newest first; starting_after=<id> pages towards
//     older events, ending_before=<id> returns the events just newer than
//     <id> (still newest first), has_more saying whether more lie in that
//     direction; limit 1 to 100 (default 10); type takes a * wildcard
//     (customer.*), types[] (or types[0], types[1], …) lists several.
//   - Events carry the object as it was after the change in data.object
//     (previous_attributes for updates); <type>.deleted events carry it
//     with deleted: true. created is in whole seconds, so many events
//     share one; events older than the retention (30 days) are gone.
//   - API keys as a bearer token or the basic-auth user (401 with Stripe's
//     error body otherwise).
//   - A rate limit per second answered with 429 and Stripe's rate_limit
//     error body (Stripe sends no Retry-After).
//   - GET /v1/customers, /v1/products, /v1/prices, /v1/invoices,
//     /v1/subscriptions, /v1/checkout/sessions, /v1/charges,
//     /v1/payment_intents ?limit=&starting_after=&ending_before=
//     &created[gte|gt|lte|lt]=: the objects that are not deleted, in the
//     same list shape and paging as events (newest created first, ties
//     newest first; limit 1 to 100, default 10; an unknown cursor id is
//     400 resource_missing).
//   - Injectable faults: 500 bursts, 429 storms, slow, garbage and
//     truncated bodies.
//   - The write side of customers (write.go): POST /v1/customers, POST
//     /v1/customers/{id}, DELETE /v1/customers/{id}, with idempotency
//     keys honoured as Stripe does.
package stripe

import (
	"fmt"
	"hash/fnv"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"syncline/internal/emulator/faults"
)

// Retention is how long Stripe keeps events.
const Retention = 30 * 24 * time.Hour

// Object is one Stripe object as the emulator stores it.
type Object struct {
	ID      string
	Type    string // customer, product, …
	Fields  map[string]any
	Created time.Time
	// Changed is the created time of the object's latest event.
	Changed time.Time
	Deleted bool
	seq     int64
}

// Event is one event.
type Event struct {
	ID      string
	Type    string
	Created time.Time
	Object  map[string]any
	Prev    map[string]any
	seq     int64
}

// Options configure a Server.
type Options struct {
	// APIKey is the secret key requests must carry.
	APIKey string
	// RatePerSecond requests are allowed per second (Stripe: 100 in live
	// mode, 25 in test mode); 0: no limit.
	RatePerSecond int
	// SlowDelay is the delay of faults.Slow; default 2 s.
	SlowDelay time.Duration
}

// Stats count what the server answered.
type Stats struct {
	Requests, Lists, Limited, Faults, Unauthorized int
	// Events counts the events returned.
	Events int
	// ObjectLists counts the requests of object list endpoints, Listed
	// the objects they returned.
	ObjectLists, Listed int
}

// Server is the emulator. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	faults.Injector

	mu      sync.Mutex
	objects map[string]*Object
	events  []*Event // in creation order
	seq     int64
	limit   faults.Window
	stats   Stats
	w       writeState
}

// New returns an emulator.
func New(o Options) *Server {
	if o.SlowDelay <= 0 {
		o.SlowDelay = 2 * time.Second
	}
	return &Server{opts: o, objects: map[string]*Object{}, limit: faults.Window{Max: o.RatePerSecond, Interval: time.Second}}
}

// Start serves the emulator on a local port until the returned server is
// closed.
func (s *Server) Start() *httptest.Server { return httptest.NewServer(s) }

func prefix(typ string) string {
	switch typ {
	case "customer":
		return "cus"
	case "product":
		return "prod"
	case "price":
		return "price"
	case "invoice":
		return "in"
	case "subscription":
		return "sub"
	}
	return strings.ReplaceAll(typ, ".", "_")
}

// randomID is an id that does not sort in creation order, as Stripe's
// do not.
func (s *Server) randomID(p string) string {
	s.seq++
	h := fnv.New64a()
	fmt.Fprint(h, s.seq)
	return fmt.Sprintf("%s_%014X%d", p, h.Sum64()>>8, s.seq%10)
}

func (o *Object) render() map[string]any {
	m := map[string]any{"id": o.ID, "object": o.Type, "created": o.Created.Unix(), "livemode": false}
	for k, v := range o.Fields {
		m[k] = v
	}
	if o.Deleted {
		m["deleted"] = true
	}
	return m
}

// emit records an event of o at ts; called with s.mu held.
func (s *Server) emit(o *Object, action string, ts time.Time, prev map[string]any) {
	s.seq++
	e := &Event{Type: o.Type + "." + action, Created: ts.UTC().Truncate(time.Second), Object: o.render(), Prev: prev, seq: s.seq}
	e.ID = s.randomID("evt")
	o.Changed = e.Created
	s.events = append(s.events, e)
}

// Create adds an object of typ at ts (a <typ>.created event) and returns
// its id.
func (s *Server) Create(typ string, fields map[string]any, ts time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &Object{ID: s.randomID(prefix(typ)), Type: typ, Fields: maps.Clone(fields), Created: ts.UTC().Truncate(time.Second), seq: s.seq}
	if o.Fields == nil {
		o.Fields = map[string]any{}
	}
	s.objects[o.ID] = o
	s.emit(o, "created", ts, nil)
	return o.ID
}

// Update sets fields of an object at ts (a <typ>.updated event).
func (s *Server) Update(id string, fields map[string]any, ts time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[id]
	if o == nil || o.Deleted {
		return fmt.Errorf("no object %s", id)
	}
	prev := map[string]any{}
	for k, v := range fields {
		prev[k] = o.Fields[k]
		o.Fields[k] = v
	}
	s.emit(o, "updated", ts, prev)
	return nil
}

// Delete deletes an object at ts (a <typ>.deleted event).
func (s *Server) Delete(id string, ts time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[id]
	if o == nil || o.Deleted {
		return fmt.Errorf("no object %s", id)
	}
	o.Deleted = true
	s.emit(o, "deleted", ts, nil)
	return nil
}

// Objects returns copies of the objects of typ, deleted ones included.
func (s *Server) Objects(typ string) []Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Object
	for _, o := range s.objects {
		if o.Type == typ {
			c := *o
			c.Fields = maps.Clone(o.Fields)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Object) int { return a.Created.Compare(b.Created) })
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

func writeError(w http.ResponseWriter, code int, typ, codeName, msg, param string) {
	e := map[string]any{"type": typ, "message": msg}
	if codeName != "" {
		e["code"] = codeName
	}
	if param != "" {
		e["param"] = param
	}
	w.Header().Set("Request-Id", "req_emulator")
	faults.WriteJSON(w, code, map[string]any{"error": e})
}

func (s *Server) rateLimited(w http.ResponseWriter) {
	w.Header().Set("Stripe-Should-Retry", "true")
	writeError(w, http.StatusTooManyRequests, "invalid_request_error", "rate_limit",
		"Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.", "")
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		key, _, _ = r.BasicAuth()
	}
	s.mu.Lock()
	s.stats.Requests++
	if key == "" || key != s.opts.APIKey {
		s.stats.Unauthorized++
		s.mu.Unlock()
		shown := key
		if len(shown) > 4 {
			shown = "****" + shown[len(shown)-4:]
		}
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "Invalid API Key provided: "+shown, "")
		return
	}
	if ok, _, _, _ := s.limit.Admit(); !ok {
		s.stats.Limited++
		s.mu.Unlock()
		s.rateLimited(w)
		return
	}
	s.mu.Unlock()
	faults.Serve(w, r, s.Next(), s.opts.SlowDelay, func(w http.ResponseWriter, k faults.Kind) {
		if k == faults.Limit {
			s.rateLimited(w)
			return
		}
		writeError(w, http.StatusInternalServerError, "api_error", "", "An unknown error occurred", "")
	}, s.route)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if typ, ok := listType(r.URL.Path); ok && r.Method == http.MethodGet {
		s.listObjects(w, r, typ)
		return
	}
	if r.URL.Path == "/v1/customers" || strings.HasPrefix(r.URL.Path, "/v1/customers/") {
		s.customers(w, r)
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/v1/events" {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "Unrecognized request URL ("+r.Method+": "+r.URL.Path+").", "")
		return
	}
	s.list(w, r)
}

var typesKeyRE = regexp.MustCompile(`^types\[[0-9]*\]$`)

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ok := parseList(w, q)
	if !ok {
		return
	}
	after, before, bounds := p.after, p.before, p.created
	var types []string
	for k, vs := range q {
		if typesKeyRE.MatchString(k) {
			types = append(types, vs...)
		}
	}
	typ := q.Get("type")
	if v := q.Get("created"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_invalid_integer", "Invalid integer: "+v, "created")
			return
		}
		bounds["gte"], bounds["lte"] = n, n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Lists++
	oldest := time.Now().Add(-Retention)
	// Newest first: created descending, then creation order descending.
	var list []*Event
	for i := len(s.events) - 1; i >= 0; i-- {
		e := s.events[i]
		if e.Created.Before(oldest) || !matchType(e.Type, typ, types) || !inBounds(e.Created.Unix(), bounds) {
			continue
		}
		list = append(list, e)
	}
	slices.SortStableFunc(list, func(a, b *Event) int { return b.Created.Compare(a.Created) })
	at := -1
	if cursor := after + before; cursor != "" {
		at = slices.IndexFunc(list, func(e *Event) bool { return e.ID == cursor })
		if at < 0 {
			if !slices.ContainsFunc(s.events, func(e *Event) bool { return e.ID == cursor }) {
				writeError(w, http.StatusBadRequest, "invalid_request_error", "resource_missing", "No such event: '"+cursor+"'", "")
				return
			}
			// An event outside the filter: find its place by time.
			ev := s.events[slices.IndexFunc(s.events, func(e *Event) bool { return e.ID == cursor })]
			at = slices.IndexFunc(list, func(e *Event) bool {
				return e.Created.Before(ev.Created) || (e.Created.Equal(ev.Created) && e.seq < ev.seq)
			})
			if at < 0 {
				at = len(list)
			}
			if after != "" {
				at-- // the first event after the cursor is list[at]
			}
		}
	}
	start, end, more := p.page(len(list), at)
	data := make([]map[string]any, 0, end-start)
	for _, e := range list[start:end] {
		d := map[string]any{"object": e.Object}
		if e.Prev != nil {
			d["previous_attributes"] = e.Prev
		}
		data = append(data, map[string]any{
			"id": e.ID, "object": "event", "api_version": "2024-06-20", "created": e.Created.Unix(), "data": d,
			"livemode": false, "pending_webhooks": 0, "request": map[string]any{"id": nil, "idempotency_key": nil}, "type": e.Type,
		})
	}
	s.stats.Events += len(data)
	faults.WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "url": "/v1/events", "has_more": more, "data": data})
}

func matchType(t, typ string, types []string) bool {
	match := func(pattern string) bool {
		if p, ok := strings.CutSuffix(pattern, "*"); ok {
			return strings.HasPrefix(t, p)
		}
		return t == pattern
	}
	if typ != "" && !match(typ) {
		return false
	}
	return len(types) == 0 || slices.ContainsFunc(types, match)
}

func inBounds(c int64, b map[string]int64) bool {
	if v, ok := b["gte"]; ok && c < v {
		return false
	}
	if v, ok := b["gt"]; ok && c <= v {
		return false
	}
	if v, ok := b["lte"]; ok && c > v {
		return false
	}
	if v, ok := b["lt"]; ok && c >= v {
		return false
	}
	return true
}

// listTypes are the object types with a list endpoint.
var listTypes = []string{"customer", "product", "price", "invoice", "subscription", "checkout.session", "charge", "payment_intent"}

// listType is the object type of a list endpoint path: /v1/customers is
// customer, /v1/checkout/sessions checkout.session.
func listType(path string) (string, bool) {
	rest, _ := strings.CutPrefix(path, "/v1/")
	typ := strings.ReplaceAll(strings.TrimSuffix(rest, "s"), "/", ".")
	return typ, slices.Contains(listTypes, typ) && path == "/v1/"+rest
}

// listParams are a list request's limit, cursors and created bounds, or
// false after answering a 400.
type listParams struct {
	limit         int
	after, before string
	created       map[string]int64
}

func parseList(w http.ResponseWriter, q url.Values) (listParams, bool) {
	p := listParams{limit: 10, after: q.Get("starting_after"), before: q.Get("ending_before"), created: map[string]int64{}}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_invalid_integer", "This value must be between 1 and 100 (it currently is '"+v+"').", "limit")
			return p, false
		}
		p.limit = n
	}
	if p.after != "" && p.before != "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "You may only specify one of these parameters: ending_before, starting_after.", "")
		return p, false
	}
	for _, op := range []string{"gte", "gt", "lte", "lt"} {
		if v := q.Get("created[" + op + "]"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_invalid_integer", "Invalid integer: "+v, "created["+op+"]")
				return p, false
			}
			p.created[op] = n
		}
	}
	return p, true
}

// page returns the bounds of the page of a list of n items, at of the
// cursor's index (-1: none), and has_more, as Stripe pages.
func (p listParams) page(n, at int) (start, end int, more bool) {
	start, end = 0, min(p.limit, n)
	switch {
	case p.after != "":
		start, end = at+1, min(at+1+p.limit, n)
	case p.before != "":
		start, end = max(0, at-p.limit), at
	}
	more = end < n
	if p.before != "" {
		more = start > 0
	}
	return start, end, more
}

// listObjects serves GET /v1/<type>s: the objects of typ that are not
// deleted, newest first.
func (s *Server) listObjects(w http.ResponseWriter, r *http.Request, typ string) {
	p, ok := parseList(w, r.URL.Query())
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.ObjectLists++
	var list []*Object
	for _, o := range s.objects {
		if o.Type == typ && !o.Deleted && inBounds(o.Created.Unix(), p.created) {
			list = append(list, o)
		}
	}
	slices.SortFunc(list, func(a, b *Object) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return int(b.seq - a.seq)
	})
	at := -1
	if cursor := p.after + p.before; cursor != "" {
		c := s.objects[cursor]
		if c == nil || c.Type != typ {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "resource_missing", "No such "+typ+": '"+cursor+"'", "")
			return
		}
		// A cursor deleted since keeps its place in the order.
		at = sort.Search(len(list), func(i int) bool {
			o := list[i]
			return o.Created.Before(c.Created) || (o.Created.Equal(c.Created) && o.seq <= c.seq)
		})
		if at == len(list) || list[at] != c {
			if p.after != "" {
				at-- // the first object after the cursor is list[at+1]
			}
		}
	}
	start, end, more := p.page(len(list), at)
	data := make([]map[string]any, 0, end-start)
	for _, o := range list[start:end] {
		data = append(data, o.render())
	}
	s.stats.Listed += len(data)
	faults.WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "url": r.URL.Path, "has_more": more, "data": data})
}

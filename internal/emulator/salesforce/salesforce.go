// Package salesforce is a local emulator of the Salesforce REST query API,
// for tests and the quickstart. It reproduces what a poll adapter must
// cope with:
//
//   - GET /services/data/vNN.N/query?q=SOQL and /queryAll?q=SOQL: a small
//     SOQL dialect (SELECT fields FROM type [WHERE field op literal [AND
//     …]] [ORDER BY field [ASC|DESC], …] [LIMIT n]) with Salesforce's
//     response shape ({totalSize, done, nextRecordsUrl, records} with
//     attributes), datetimes written as 2024-01-15T10:30:00.000+0000;
//     /query hides deleted records (IsDeleted), /queryAll returns them.
//   - Query locators: the result set is fixed when the query runs and is
//     read in batches of 2,000 (Sforce-Query-Options: batchSize=200..2000)
//     through nextRecordsUrl; a locator unused for LocatorTTL answers 400
//     INVALID_QUERY_LOCATOR as Salesforce's do after 15 minutes.
//   - GET /services/data/vNN.N/sobjects/{type}/deleted/?start=&end=: the
//     getDeleted endpoint ({deletedRecords, earliestDateAvailable,
//     latestDateCovered}); start earlier than the recycle bin's retention
//     is 400 INVALID_REPLICATION_DATE.
//   - Purge removes a record for good (the recycle bin emptied, or a hard
//     delete): queryAll and getDeleted no longer return it.
//   - Bearer authentication (401 INVALID_SESSION_ID otherwise).
//   - The API request limit: every response carries Sforce-Limit-Info:
//     api-usage=used/max; past the limit, 403 REQUEST_LIMIT_EXCEEDED.
//   - Injectable faults: 503 bursts, REQUEST_LIMIT_EXCEEDED storms, slow,
//     garbage and truncated bodies.
//   - The write side of sObject collections (write.go): upsert by
//     external id and delete by ids, with per-record results.
//
// Many records may share one SystemModstamp (bulk API loads do that).
package salesforce

import (
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

// Record is one sObject as the emulator stores it.
type Record struct {
	ID             string
	Fields         map[string]any
	CreatedDate    time.Time
	SystemModstamp time.Time
	IsDeleted      bool
}

// Options configure a Server.
type Options struct {
	// Token is the access token requests must carry as a bearer token.
	Token string
	// RequestLimit requests are allowed per LimitInterval (Salesforce:
	// per rolling 24 hours); 0: no limit.
	RequestLimit  int
	LimitInterval time.Duration
	// LocatorTTL is how long an unused query locator lives; default
	// 15 minutes.
	LocatorTTL time.Duration
	// Retention is how long deleted records stay in the recycle bin
	// (getDeleted's reach); default 15 days.
	Retention time.Duration
	// SlowDelay is the delay of faults.Slow; default 2 s.
	SlowDelay time.Duration
	// BatchSize is the default query batch (Salesforce: 2,000); a
	// Sforce-Query-Options header overrides it.
	BatchSize int
}

// Stats count what the server answered.
type Stats struct {
	Requests, Queries, QueryMores, Limited, Faults, Unauthorized, ExpiredLocators int
	// Rows counts the records returned by queries and their batches.
	Rows int
}

// Server is the emulator. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	faults.Injector

	mu       sync.Mutex
	records  map[string]map[string]*Record // type -> id -> record
	fields   map[string]map[string]bool    // type -> field names ever set
	next     int64
	locators map[string]*locator
	limit    faults.Window
	stats    Stats
	w        writeState
}

type locator struct {
	typ      string
	fields   []string
	rows     []*Record // snapshots
	all      bool
	lastUsed time.Time
}

// New returns an emulator.
func New(o Options) *Server {
	if o.LimitInterval <= 0 {
		o.LimitInterval = 24 * time.Hour
	}
	if o.LocatorTTL <= 0 {
		o.LocatorTTL = 15 * time.Minute
	}
	if o.Retention <= 0 {
		o.Retention = 15 * 24 * time.Hour
	}
	if o.SlowDelay <= 0 {
		o.SlowDelay = 2 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 2000
	}
	return &Server{opts: o, records: map[string]map[string]*Record{}, fields: map[string]map[string]bool{},
		locators: map[string]*locator{}, limit: faults.Window{Max: o.RequestLimit, Interval: o.LimitInterval}}
}

// Start serves the emulator on a local port until the returned server is
// closed.
func (s *Server) Start() *httptest.Server { return httptest.NewServer(s) }

// keyPrefix is the id prefix of an sObject type.
func keyPrefix(typ string) string {
	switch typ {
	case "Account":
		return "001"
	case "Contact":
		return "003"
	case "Opportunity":
		return "006"
	case "Lead":
		return "00Q"
	}
	return "a0X"
}

// Create adds a record of typ created and modified at ts and returns its
// 18-character id; ids sort in creation order.
func (s *Server) Create(typ string, fields map[string]any, ts time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	ts = ts.UTC().Truncate(time.Millisecond)
	r := &Record{ID: fmt.Sprintf("%s%012dAAA", keyPrefix(typ), s.next), Fields: map[string]any{}, CreatedDate: ts, SystemModstamp: ts}
	if s.records[typ] == nil {
		s.records[typ], s.fields[typ] = map[string]*Record{}, map[string]bool{}
	}
	s.set(typ, r, fields)
	s.records[typ][r.ID] = r
	return r.ID
}

func (s *Server) set(typ string, r *Record, fields map[string]any) {
	for k, v := range fields {
		r.Fields[k] = v
		s.fields[typ][k] = true
	}
}

// Update sets fields of a live record and its SystemModstamp.
func (s *Server) Update(typ, id string, fields map[string]any, ts time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[typ][id]
	if r == nil || r.IsDeleted {
		return fmt.Errorf("no %s %s", typ, id)
	}
	s.set(typ, r, fields)
	r.SystemModstamp = ts.UTC().Truncate(time.Millisecond)
	return nil
}

// Delete moves a record to the recycle bin at ts (IsDeleted, and its
// SystemModstamp is the deletion time).
func (s *Server) Delete(typ, id string, ts time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[typ][id]
	if r == nil || r.IsDeleted {
		return fmt.Errorf("no %s %s", typ, id)
	}
	r.IsDeleted, r.SystemModstamp = true, ts.UTC().Truncate(time.Millisecond)
	return nil
}

// Purge removes a record, live or in the recycle bin, for good.
func (s *Server) Purge(typ, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.records[typ][id] == nil {
		return fmt.Errorf("no %s %s", typ, id)
	}
	delete(s.records[typ], id)
	return nil
}

// Records returns copies of the records of typ, deleted ones included,
// in id order.
func (s *Server) Records(typ string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, r := range s.records[typ] {
		out = append(out, *r.clone())
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (r *Record) clone() *Record {
	c := *r
	c.Fields = maps.Clone(r.Fields)
	return &c
}

// ExpireLocators makes every open query locator invalid, as idle ones
// become after LocatorTTL: their next batch is 400 INVALID_QUERY_LOCATOR.
func (s *Server) ExpireLocators() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.locators {
		l.lastUsed = time.Time{}
	}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Faults = s.Count()
	return st
}

type sfError struct {
	Message   string `json:"message"`
	ErrorCode string `json:"errorCode"`
}

func writeError(w http.ResponseWriter, code int, errorCode, msg string) {
	faults.WriteJSON(w, code, []sfError{{Message: msg, ErrorCode: errorCode}})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Requests++
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || tok == "" || tok != s.opts.Token {
		s.stats.Unauthorized++
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
		return
	}
	ok, used, _, _ := s.limit.Admit()
	if s.opts.RequestLimit > 0 {
		w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, s.opts.RequestLimit))
	}
	if !ok {
		s.stats.Limited++
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
		return
	}
	s.mu.Unlock()
	faults.Serve(w, r, s.Next(), s.opts.SlowDelay, func(w http.ResponseWriter, k faults.Kind) {
		if k == faults.Limit {
			writeError(w, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
			return
		}
		writeError(w, http.StatusServiceUnavailable, "SERVER_UNAVAILABLE", "Server is temporarily unavailable.")
	}, s.route)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/services/data/v")
	ver, rest, _ := strings.Cut(rest, "/")
	if _, err := strconv.ParseFloat(ver, 64); ok && err == nil && (rest == "composite/sobjects" || strings.HasPrefix(rest, "composite/sobjects/")) {
		s.collections(w, r, strings.TrimPrefix(strings.TrimPrefix(rest, "composite/sobjects"), "/"))
		return
	}
	if _, err := strconv.ParseFloat(ver, 64); !ok || err != nil || r.Method != http.MethodGet {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	base := "/services/data/v" + ver
	switch {
	case rest == "query" || rest == "queryAll" || rest == "query/" || rest == "queryAll/":
		s.query(w, r, base, strings.TrimSuffix(rest, "/") == "queryAll")
	case strings.HasPrefix(rest, "query/") || strings.HasPrefix(rest, "queryAll/"):
		_, loc, _ := strings.Cut(rest, "/")
		s.queryMore(w, r, base, rest[:strings.IndexByte(rest, '/')], loc)
	case strings.HasPrefix(rest, "sobjects/") && strings.HasSuffix(strings.TrimSuffix(rest, "/"), "/deleted"):
		typ := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(rest, "/"), "sobjects/"), "/deleted")
		s.getDeleted(w, r, typ)
	default:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

// batchSize reads Sforce-Query-Options: batchSize=N (200..2000).
func (s *Server) batchSize(r *http.Request) int {
	for opt := range strings.SplitSeq(r.Header.Get("Sforce-Query-Options"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(opt), "batchSize="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return min(max(n, 200), 2000)
			}
		}
	}
	return s.opts.BatchSize
}

func (s *Server) query(w http.ResponseWriter, r *http.Request, base string, all bool) {
	q, err := parseSOQL(r.URL.Query().Get("q"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "MALFORMED_QUERY", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Queries++
	known := s.fields[q.from]
	for _, f := range append(slices.Clone(q.fields), q.fieldsUsed()...) {
		if !standard(f) && !known[strings.Split(f, ".")[0]] {
			writeError(w, http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'.", f, q.from))
			return
		}
	}
	var rows []*Record
	for _, rec := range s.records[q.from] {
		if (all || !rec.IsDeleted) && q.matches(rec) {
			rows = append(rows, rec.clone())
		}
	}
	q.sort(rows)
	if q.limit >= 0 && len(rows) > q.limit {
		rows = rows[:q.limit]
	}
	s.next++
	id := fmt.Sprintf("01g%012dAAA", s.next)
	kind := "query"
	if all {
		kind = "queryAll"
	}
	s.locators[id] = &locator{typ: q.from, fields: q.fields, rows: rows, all: all, lastUsed: time.Now()}
	s.page(w, base, kind, id, 0, s.batchSize(r))
}

func (s *Server) queryMore(w http.ResponseWriter, r *http.Request, base, kind, loc string) {
	id, off, ok := strings.Cut(loc, "-")
	n, err := strconv.Atoi(off)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.QueryMores++
	l := s.locators[id]
	if !ok || err != nil || l == nil || n < 0 || n > len(l.rows) {
		writeError(w, http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	if time.Since(l.lastUsed) > s.opts.LocatorTTL {
		delete(s.locators, id)
		s.stats.ExpiredLocators++
		writeError(w, http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	l.lastUsed = time.Now()
	s.page(w, base, kind, id, n, s.batchSize(r))
}

// page writes the batch of locator id starting at off; called with s.mu
// held.
func (s *Server) page(w http.ResponseWriter, base, kind, id string, off, size int) {
	l := s.locators[id]
	end := min(off+size, len(l.rows))
	records := make([]map[string]any, 0, end-off)
	for _, rec := range l.rows[off:end] {
		m := map[string]any{"attributes": map[string]any{"type": l.typ, "url": base + "/sobjects/" + l.typ + "/" + rec.ID}}
		for _, f := range l.fields {
			m[f] = fieldValue(rec, f)
		}
		records = append(records, m)
	}
	s.stats.Rows += len(records)
	resp := map[string]any{"totalSize": len(l.rows), "done": end >= len(l.rows), "records": records}
	if end < len(l.rows) {
		resp["nextRecordsUrl"] = fmt.Sprintf("%s/%s/%s-%d", base, kind, id, end)
	} else {
		delete(s.locators, id)
	}
	faults.WriteJSON(w, http.StatusOK, resp)
}

// sfTime is how Salesforce writes datetimes.
func sfTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000+0000") }

func standard(f string) bool {
	switch f {
	case "Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp":
		return true
	}
	return false
}

func fieldValue(r *Record, f string) any {
	switch f {
	case "Id":
		return r.ID
	case "IsDeleted":
		return r.IsDeleted
	case "CreatedDate":
		return sfTime(r.CreatedDate)
	case "LastModifiedDate", "SystemModstamp":
		return sfTime(r.SystemModstamp)
	}
	return r.Fields[f]
}

func (s *Server) getDeleted(w http.ResponseWriter, r *http.Request, typ string) {
	start, err1 := parseDateTime(r.URL.Query().Get("start"))
	end, err2 := parseDateTime(r.URL.Query().Get("end"))
	if err1 != nil || err2 != nil {
		writeError(w, http.StatusBadRequest, "INVALID_DATETIME", "start and end must be ISO 8601 datetimes")
		return
	}
	earliest := time.Now().Add(-s.opts.Retention).UTC().Truncate(time.Minute)
	if start.Before(earliest) {
		writeError(w, http.StatusBadRequest, "INVALID_REPLICATION_DATE", "startDate cannot be more than 15 days ago: "+sfTime(earliest))
		return
	}
	if !end.After(start) {
		writeError(w, http.StatusBadRequest, "INVALID_REPLICATION_DATE", "endDate must be after startDate")
		return
	}
	// Salesforce covers whole minutes: the range is truncated to them.
	start, end = start.Truncate(time.Minute), end.Truncate(time.Minute)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Queries++
	var out []map[string]any
	var ids []string
	for id, rec := range s.records[typ] {
		if rec.IsDeleted && !rec.SystemModstamp.Before(start) && rec.SystemModstamp.Before(end) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		out = append(out, map[string]any{"id": id, "deletedDate": sfTime(s.records[typ][id].SystemModstamp)})
	}
	if out == nil {
		out = []map[string]any{}
	}
	faults.WriteJSON(w, http.StatusOK, map[string]any{"deletedRecords": out, "earliestDateAvailable": sfTime(earliest), "latestDateCovered": sfTime(end)})
}

func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a datetime", s)
}

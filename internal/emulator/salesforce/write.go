package salesforce

// The write side, sObject collections as the Salesforce sink calls them:
//
//	PATCH  /services/data/vNN.N/composite/sobjects/{type}/{externalIdField}
//	       body {"allOrNone": false, "records": [{"attributes": {"type":
//	       ...}, "<externalIdField>": "...", fields...}]} (at most 200)
//	       → 200 [{"id", "success": true, "errors": [], "created": bool}
//	       | {"success": false, "errors": [{"statusCode", "message",
//	       "fields"}]}], one per record in order
//	DELETE /services/data/vNN.N/composite/sobjects?ids=a,b&allOrNone=false
//	       → 200 [{"id", "success", "errors"}] (ENTITY_IS_DELETED for a
//	       deleted record, INVALID_CROSS_REFERENCE_KEY for an unknown id)
//
// An upsert matches the live record whose external id field holds the
// value (created when none does; a null value clears a field). Knobs:
// Require makes fields required on create (REQUIRED_FIELD_MISSING);
// Unique makes a field unique (DUPLICATE_VALUE); LockRows fails the next
// n records with UNABLE_TO_LOCK_ROW. More than 200 records, a body that
// is not the shape, and allOrNone true are refused as a whole with 400
// (EXCEEDED_ID_LIMIT, JSON_PARSER_ERROR, INVALID_FIELD). WriteStats counts
// calls, creates, updates, deletes and per-record errors.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"syncline/internal/emulator/faults"
)

// WriteStats count the collection writes.
type WriteStats struct {
	// Calls counts collection requests that reached the handler.
	Calls int
	// Creates, Updates and Deletes count records changed; RecordErrors
	// the per-record failures by status code.
	Creates, Updates, Deletes int
	RecordErrors              map[string]int
}

type writeState struct {
	required map[string][]string        // type -> fields required on create
	unique   map[string]map[string]bool // type -> unique fields
	locks    int
	stats    WriteStats
	last     map[string]map[string]any // id -> fields of its last write
	reads    ReadStats                 // read.go
}

// Require makes fields of typ required when a record is created.
func (s *Server) Require(typ string, fields ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w.required == nil {
		s.w.required = map[string][]string{}
	}
	s.w.required[typ] = append(s.w.required[typ], fields...)
}

// Unique makes a field of typ unique among live records.
func (s *Server) Unique(typ, field string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w.unique == nil {
		s.w.unique = map[string]map[string]bool{}
	}
	if s.w.unique[typ] == nil {
		s.w.unique[typ] = map[string]bool{}
	}
	s.w.unique[typ][field] = true
}

// LockRows fails the next n record writes with UNABLE_TO_LOCK_ROW.
func (s *Server) LockRows(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.locks += n
}

// WriteStats returns the write counters.
func (s *Server) WriteStats() WriteStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.w.stats
	st.RecordErrors = make(map[string]int, len(s.w.stats.RecordErrors))
	for k, v := range s.w.stats.RecordErrors {
		st.RecordErrors[k] = v
	}
	return st
}

// LastWrite returns the fields the last write of a record carried.
func (s *Server) LastWrite(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.last[id]
}

type recordError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

type saveResult struct {
	ID      string        `json:"id,omitempty"`
	Success bool          `json:"success"`
	Errors  []recordError `json:"errors"`
	Created *bool         `json:"created,omitempty"`
}

func (s *Server) collections(w http.ResponseWriter, r *http.Request, rest string) {
	switch {
	case r.Method == http.MethodPatch && strings.Count(rest, "/") == 1:
		typ, ext, _ := strings.Cut(rest, "/")
		s.upsert(w, r, typ, ext)
	case r.Method == http.MethodDelete && rest == "":
		s.deleteIDs(w, r)
	case r.Method == http.MethodGet && rest != "" && !strings.Contains(rest, "/"):
		s.retrieve(w, r, rest) // read.go
	default:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (s *Server) upsert(w http.ResponseWriter, r *http.Request, typ, ext string) {
	var body struct {
		AllOrNone bool             `json:"allOrNone"`
		Records   []map[string]any `json:"records"`
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err := json.Unmarshal(raw, &body); err != nil {
		writeError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "Unexpected character: "+err.Error())
		return
	}
	if len(body.Records) > 200 {
		writeError(w, http.StatusBadRequest, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
		return
	}
	if body.AllOrNone {
		writeError(w, http.StatusBadRequest, "INVALID_FIELD", "the emulator answers allOrNone false only")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.stats.Calls++
	if s.records[typ] == nil {
		s.records[typ], s.fields[typ] = map[string]*Record{}, map[string]bool{}
	}
	results := make([]saveResult, 0, len(body.Records))
	for _, rec := range body.Records {
		results = append(results, s.count(s.upsertOne(typ, ext, rec)))
	}
	faults.WriteJSON(w, http.StatusOK, results)
}

// count counts a failed result's error; called with s.mu held.
func (s *Server) count(res saveResult) saveResult {
	if !res.Success {
		if s.w.stats.RecordErrors == nil {
			s.w.stats.RecordErrors = map[string]int{}
		}
		s.w.stats.RecordErrors[res.Errors[0].StatusCode]++
	}
	return res
}

func fail(code, msg string, fields ...string) saveResult {
	if fields == nil {
		fields = []string{}
	}
	return saveResult{Errors: []recordError{{StatusCode: code, Message: msg, Fields: fields}}}
}

// upsertOne applies one record with s.mu held.
func (s *Server) upsertOne(typ, ext string, rec map[string]any) saveResult {
	attrs, _ := rec["attributes"].(map[string]any)
	if t, _ := attrs["type"].(string); t != typ {
		return fail("INVALID_TYPE", fmt.Sprintf("attributes.type %q is not %s", t, typ))
	}
	key, _ := rec[ext].(string)
	if key == "" {
		return fail("MISSING_ARGUMENT", ext+" not specified", ext)
	}
	fields := map[string]any{}
	for k, v := range rec {
		if k != "attributes" {
			fields[k] = v
		}
	}
	if s.w.locks > 0 {
		s.w.locks--
		return fail("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records")
	}
	var match *Record
	for _, r := range s.records[typ] {
		if !r.IsDeleted && r.Fields[ext] == key {
			match = r
			break
		}
	}
	var missing []string
	for _, f := range s.w.required[typ] {
		v, sent := fields[f]
		if (match == nil && (v == nil || v == "")) || (sent && (v == nil || v == "")) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fail("REQUIRED_FIELD_MISSING", "Required fields are missing: ["+strings.Join(missing, ", ")+"]", missing...)
	}
	for f := range s.w.unique[typ] {
		v, ok := fields[f]
		if !ok || v == nil || v == "" {
			continue
		}
		for _, r := range s.records[typ] {
			if r != match && !r.IsDeleted && r.Fields[f] == v {
				return fail("DUPLICATE_VALUE", fmt.Sprintf("duplicate value found: %s duplicates value on record with id: %s", f, r.ID), f)
			}
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	created := match == nil
	if created {
		s.next++
		match = &Record{ID: fmt.Sprintf("%s%012dAAA", keyPrefix(typ), s.next), Fields: map[string]any{}, CreatedDate: now}
		s.records[typ][match.ID] = match
		s.w.stats.Creates++
	} else {
		s.w.stats.Updates++
	}
	for k, v := range fields {
		if v == nil {
			delete(match.Fields, k)
			s.fields[typ][k] = true
			continue
		}
		match.Fields[k] = v
		s.fields[typ][k] = true
	}
	match.SystemModstamp = now
	if s.w.last == nil {
		s.w.last = map[string]map[string]any{}
	}
	s.w.last[match.ID] = fields
	return saveResult{ID: match.ID, Success: true, Errors: []recordError{}, Created: &created}
}

func (s *Server) deleteIDs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ids, ok := idsParam(w, q, 200)
	if !ok {
		return
	}
	if q.Get("allOrNone") == "true" {
		writeError(w, http.StatusBadRequest, "INVALID_FIELD", "the emulator answers allOrNone false only")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.stats.Calls++
	results := make([]saveResult, 0, len(ids))
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, id := range ids {
		var rec *Record
		for _, recs := range s.records {
			if r := recs[id]; r != nil {
				rec = r
			}
		}
		res := saveResult{ID: id, Success: true, Errors: []recordError{}}
		switch {
		case rec == nil:
			res = fail("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
			res.ID = id
		case rec.IsDeleted:
			res = fail("ENTITY_IS_DELETED", "entity is deleted")
			res.ID = id
		case s.w.locks > 0:
			s.w.locks--
			res = fail("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records")
			res.ID = id
		default:
			rec.IsDeleted, rec.SystemModstamp = true, now
			s.w.stats.Deletes++
		}
		results = append(results, s.count(res))
	}
	faults.WriteJSON(w, http.StatusOK, results)
}

// idsParam is the ids query param, 1 to most ids; false once the 400 is
// answered.
func idsParam(w http.ResponseWriter, q url.Values, most int) ([]string, bool) {
	ids := strings.Split(q.Get("ids"), ",")
	if q.Get("ids") == "" || len(ids) > most {
		writeError(w, http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("ids: between 1 and %d record ids are required", most))
		return nil, false
	}
	return ids, true
}

// Live returns the records of typ that are not deleted.
func (s *Server) Live(typ string) []Record {
	return slices.DeleteFunc(s.Records(typ), func(r Record) bool { return r.IsDeleted })
}

package rest

// The write side of the emulator, for the generic REST sink:
//
//	PUT|PATCH|POST /v1/{collection}/{id}   body: a JSON object of fields
//	  → 201 {"id": ..., fields...} when created, 200 when updated (fields
//	    are merged: PATCH semantics for every method)
//	DELETE /v1/{collection}/{id}           → 204; 404 {"error": ...} when absent
//	POST /v1/{collection}/batch            body: {"items": [{"id": ..., ...}]}
//	  → 200 {"results": [{"id": ..., "status": "created"|"updated"}]}
//	POST /v1/{collection}/batch-delete     body: {"items": [{"id": ...}]}
//	  → 200 {"results": [{"id": ..., "status": "deleted"|"not_found"}]}
//
// Authentication: Options.BearerToken (Authorization: Bearer), or
// BasicUser/BasicPassword (Basic), or else the API key in X-API-Key; 401
// otherwise. Idempotency keys (Idempotency-Key) are honoured as Stripe
// does: the first request with a key is applied and its answer stored; a
// later request with the same key and the same method, path and body gets
// the stored answer (header Idempotent-Replayed: true) and is not applied
// again; the same key with another request is refused with 422. The rate
// limit answers 429 with Retry-After and X-RateLimit-* headers. Faults:
// Inject and FailEvery answer 429 (Retry-After: 1) or a 5xx before
// applying; FaultAppliedThen5xx applies the write, stores its answer under
// the idempotency key, and answers 503, as a provider whose response was
// lost after it committed. Refuse makes writes of given ids fail with a
// status (422, 409, ...). WriteStats counts calls, applies, creates,
// updates, deletes and replays; Applies counts applies per idempotency key
// so a test can prove none was applied twice.

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// Record is one written record: its fields as JSON values.
type Record map[string]any

// WriteStats count the write side's calls and effects.
type WriteStats struct {
	// Calls counts write requests that reached the handler
	// (authenticated, not rate-limited, no fault before it).
	Calls int
	// Creates, Updates and Deletes count records changed; Replays the
	// requests answered from the idempotency store; Refused those
	// refused by Refuse; RateLimited and Faults the 429s and injected
	// failures.
	Creates, Updates, Deletes, Replays, Refused, RateLimited, Faults int
}

type stored struct {
	fingerprint [32]byte
	status      int
	body        []byte
}

// Fault is an injected failure of a write.
type Fault int

// The faults: an HTTP status answered before the write is applied, or
// FaultAppliedThen5xx.
const (
	Fault429            Fault = http.StatusTooManyRequests
	Fault500            Fault = http.StatusInternalServerError
	Fault503            Fault = http.StatusServiceUnavailable
	FaultAppliedThen5xx Fault = -1
)

type writeState struct {
	records map[string]map[string]Record // collection -> id -> record
	idem    map[string]stored
	applies map[string]int // idempotency key -> applies
	stats   WriteStats
	faults  []Fault
	every   int
	evFault Fault
	nreq    int
	refuse  map[string]int    // id -> status
	last    map[string]Record // collection/id -> fields of the last write
	coll    string            // of the write being applied
	reads   int               // read.go
}

// LastWrite returns the fields the last write of a record carried (nil if
// none).
func (s *Server) LastWrite(collection, id string) Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.last[collection+"/"+id]
}

// Records returns a copy of the records of a collection by id.
func (s *Server) Records(collection string) map[string]Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Record{}
	for id, r := range s.w.records[collection] {
		c := Record{}
		for k, v := range r {
			c[k] = v
		}
		out[id] = c
	}
	return out
}

// WriteStats returns the write counters.
func (s *Server) WriteStats() WriteStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.stats
}

// Applies returns how many times the request of each idempotency key was
// applied (more than 1 would be a duplicate apply).
func (s *Server) Applies() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, n := range s.w.applies {
		out[k] = n
	}
	return out
}

// InjectWrite makes the next write requests fail, one fault each.
func (s *Server) InjectWrite(fs ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.faults = append(s.w.faults, fs...)
}

// FailEveryWrite makes every nth write request fail with f; n = 0 stops.
func (s *Server) FailEveryWrite(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.every, s.w.evFault = n, f
}

// Refuse makes writes of the records ids fail with status (422, 409, ...)
// and a JSON error; status 0 accepts them again.
func (s *Server) Refuse(status int, ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w.refuse == nil {
		s.w.refuse = map[string]int{}
	}
	for _, id := range ids {
		if status == 0 {
			delete(s.w.refuse, id)
		} else {
			s.w.refuse[id] = status
		}
	}
}

func (s *Server) writeAuthorized(r *http.Request) bool {
	switch {
	case s.opts.BearerToken != "":
		return r.Header.Get("Authorization") == "Bearer "+s.opts.BearerToken
	case s.opts.BasicUser != "":
		u, p, ok := r.BasicAuth()
		return ok && u == s.opts.BasicUser && p == s.opts.BasicPassword
	}
	return r.Header.Get("X-API-Key") == s.opts.APIKey
}

func jsonAnswer(status int, v any) (int, []byte) { return status, mustJSON(v) }

func answer(w http.ResponseWriter, status int, v any) { send(w, status, mustJSON(v)) }

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func send(w http.ResponseWriter, status int, body []byte) {
	if len(body) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) write(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	coll, id, _ := strings.Cut(rest, "/")
	if !ok || coll == "" || id == "" || strings.Contains(id, "/") {
		answer(w, http.StatusNotFound, map[string]string{"error": "no route for " + r.Method + " " + r.URL.Path})
		return
	}
	if !s.writeAuthorized(r) {
		answer(w, http.StatusUnauthorized, map[string]string{"error": "invalid credentials"})
		return
	}
	if r.Method == http.MethodGet {
		s.readRecord(w, coll, id) // read.go
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return
	}
	key := r.Header.Get("Idempotency-Key")
	fp := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))

	if !s.admitted(w) {
		return
	}
	s.w.nreq++
	var fault Fault
	if len(s.w.faults) > 0 {
		fault, s.w.faults = s.w.faults[0], s.w.faults[1:]
	} else if s.w.every > 0 && s.w.nreq%s.w.every == 0 {
		fault = s.w.evFault
	}
	if fault > 0 {
		s.w.stats.Faults++
		s.mu.Unlock()
		if fault == Fault429 {
			w.Header().Set("Retry-After", "1")
		}
		answer(w, int(fault), map[string]string{"error": http.StatusText(int(fault))})
		return
	}
	if key != "" {
		if st, ok := s.w.idem[key]; ok {
			if st.fingerprint != fp {
				s.mu.Unlock()
				answer(w, http.StatusUnprocessableEntity, map[string]string{"error": "Keys for idempotent requests can only be used with the same parameters they were first used with"})
				return
			}
			s.w.stats.Replays++
			s.mu.Unlock()
			w.Header().Set("Idempotent-Replayed", "true")
			send(w, st.status, st.body)
			return
		}
	}
	s.w.stats.Calls++
	status, out := s.apply(r.Method, coll, id, body)
	if key != "" && status < 500 {
		if s.w.idem == nil {
			s.w.idem, s.w.applies = map[string]stored{}, map[string]int{}
		}
		s.w.idem[key] = stored{fingerprint: fp, status: status, body: out}
		if status < 300 {
			s.w.applies[key]++
		}
	}
	s.mu.Unlock()
	if fault == FaultAppliedThen5xx {
		s.mu.Lock()
		s.w.stats.Faults++
		s.mu.Unlock()
		answer(w, http.StatusServiceUnavailable, map[string]string{"error": "upstream timeout"})
		return
	}
	send(w, status, out)
}

// admitted counts a record request and applies the rate limit: true with
// s.mu held, false (unlocked) once the 429 is answered.
func (s *Server) admitted(w http.ResponseWriter) bool {
	s.mu.Lock()
	s.requests++
	if !s.admit(w.Header()) {
		s.w.stats.RateLimited++
		s.mu.Unlock()
		answer(w, http.StatusTooManyRequests, map[string]string{"error": "rate limited"})
		return false
	}
	return true
}

// apply performs one write; called with the lock held.
func (s *Server) apply(method, coll, id string, body []byte) (int, []byte) {
	if s.w.records == nil {
		s.w.records = map[string]map[string]Record{}
	}
	if s.w.records[coll] == nil {
		s.w.records[coll] = map[string]Record{}
	}
	recs := s.w.records[coll]
	s.w.coll = coll
	switch {
	case method == http.MethodPost && (id == "batch" || id == "batch-delete"):
		var req struct {
			Items []Record `json:"items"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return jsonAnswer(http.StatusBadRequest, map[string]string{"error": "invalid JSON: " + err.Error()})
		}
		if len(req.Items) > 100 {
			return jsonAnswer(http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("%d items, at most 100", len(req.Items))})
		}
		for i, it := range req.Items {
			iid := idString(it["id"])
			if iid == "" {
				return jsonAnswer(http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("items[%d] has no id", i)})
			}
			if st := s.w.refuse[iid]; st != 0 {
				s.w.stats.Refused++
				return jsonAnswer(st, map[string]string{"error": fmt.Sprintf("item %s refused", iid)})
			}
		}
		var results []map[string]string
		for _, it := range req.Items {
			iid := idString(it["id"])
			st := "deleted"
			if id == "batch" {
				st = s.upsert(recs, iid, it)
			} else if _, ok := recs[iid]; ok {
				delete(recs, iid)
				s.w.stats.Deletes++
			} else {
				st = "not_found"
			}
			results = append(results, map[string]string{"id": iid, "status": st})
		}
		return jsonAnswer(http.StatusOK, map[string]any{"results": results})
	case slices.Contains([]string{http.MethodPut, http.MethodPatch, http.MethodPost}, method):
		var rec Record
		if err := json.Unmarshal(body, &rec); err != nil || rec == nil {
			return jsonAnswer(http.StatusBadRequest, map[string]string{"error": "the body is not a JSON object"})
		}
		if st := s.w.refuse[id]; st != 0 {
			s.w.stats.Refused++
			return jsonAnswer(st, map[string]string{"error": fmt.Sprintf("record %s refused", id)})
		}
		if bid := idString(rec["id"]); bid != "" && bid != id {
			return jsonAnswer(http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("body id %s differs from the path's %s", bid, id)})
		}
		status := http.StatusOK
		if s.upsert(recs, id, rec) == "created" {
			status = http.StatusCreated
		}
		out := Record{}
		for k, v := range recs[id] {
			out[k] = v
		}
		return jsonAnswer(status, out)
	case method == http.MethodDelete:
		if _, ok := recs[id]; !ok {
			return jsonAnswer(http.StatusNotFound, map[string]string{"error": "no record " + id})
		}
		delete(recs, id)
		s.w.stats.Deletes++
		return http.StatusNoContent, nil
	}
	return jsonAnswer(http.StatusMethodNotAllowed, map[string]string{"error": method + " is not supported"})
}

func (s *Server) upsert(recs map[string]Record, id string, fields Record) string {
	if s.w.last == nil {
		s.w.last = map[string]Record{}
	}
	s.w.last[s.w.coll+"/"+id] = fields
	r, ok := recs[id]
	st := "updated"
	if !ok {
		r, st = Record{"id": id}, "created"
		recs[id] = r
		s.w.stats.Creates++
	} else {
		s.w.stats.Updates++
	}
	for k, v := range fields {
		if k != "id" {
			r[k] = v
		}
	}
	return st
}

func idString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprint(x)
	case json.Number:
		return x.String()
	}
	return ""
}

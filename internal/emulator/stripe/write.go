package stripe

// The write side of customers, for the Stripe sink:
//
//	POST   /v1/customers        form-encoded params → 200 the customer
//	POST   /v1/customers/{id}   params set (metadata merged, metadata[k]=
//	                             "" removes k, an empty value unsets a
//	                             field) → 200 the customer; 404
//	                             resource_missing when absent or deleted
//	DELETE /v1/customers/{id}   → 200 {"id", "object": "customer",
//	                             "deleted": true}; 404 when absent
//
// Params: email, name, phone, description, address[line1|line2|city|
// state|postal_code|country], metadata[<key>] (at most 50 keys of up to
// 40 characters, values up to 500), preferred_locales[], tax_exempt,
// invoice_prefix, expand[]; any other is refused with 400
// parameter_unknown, an email without a single @ and a dot after it with
// 400 email_invalid. Every write emits its customer.* event, which the
// events API lists.
//
// Idempotency keys (Idempotency-Key) are honoured for POSTs as Stripe
// does: the first request with a key is applied and its answer (success
// or a 400) stored; the same key with the same path and params returns
// the stored answer (header Idempotent-Replayed: true) without applying
// anything; the same key with other params is refused with 400
// idempotency_error. 429s and injected 5xx before the handler store
// nothing. FailAfterApply(n) applies the next n writes, stores their
// answer under their key, and answers 500 api_error: a response lost
// after Stripe committed. WriteStats counts; Applies counts applies per
// key, so a test proves none applied twice.

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"syncline/internal/emulator/faults"
)

// WriteStats count the customer writes.
type WriteStats struct {
	// Calls counts write requests that reached the handler (after the
	// key check, the rate limit and injected faults).
	Calls int
	// Creates, Updates and Deletes count applied writes; Replays the
	// requests answered from the idempotency store; IdempotencyErrors
	// keys reused with other params; Invalid the 400s of bad params;
	// LostAnswers the 500s of FailAfterApply.
	Creates, Updates, Deletes, Replays, IdempotencyErrors, Invalid, LostAnswers int
}

type storedAnswer struct {
	fingerprint [32]byte
	code        int
	body        []byte
}

type writeState struct {
	idem       map[string]storedAnswer
	applies    map[string]int
	last       map[string]url.Values // customer id -> params of its last write
	stats      WriteStats
	lostAnswer int
	reads      ReadStats // read.go
}

// FailAfterApply makes the next n customer writes answer 500 after they
// were applied (and their answer stored under their idempotency key).
func (s *Server) FailAfterApply(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.lostAnswer += n
}

// WriteStats returns the write counters.
func (s *Server) WriteStats() WriteStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.stats
}

// Applies returns how many times the request of each idempotency key was
// applied.
func (s *Server) Applies() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.w.applies))
	for k, n := range s.w.applies {
		out[k] = n
	}
	return out
}

// LastParams returns the params of the last write of a customer (nil if
// none).
func (s *Server) LastParams(id string) url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.last[id]
}

// Customers returns the customers that are not deleted.
func (s *Server) Customers() []Object {
	var out []Object
	for _, o := range s.Objects("customer") {
		if !o.Deleted {
			out = append(out, o)
		}
	}
	return out
}

var (
	customerParams = []string{"email", "name", "phone", "description", "tax_exempt", "invoice_prefix"}
	addressParams  = []string{"line1", "line2", "city", "state", "postal_code", "country"}
	paramRE        = regexp.MustCompile(`^([a-z_]+)(?:\[([^\[\]]*)\])?$`)
	emailRE        = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// customers serves the customer writes (and GET /v1/customers/{id},
// read.go); idempotency wraps apply.
func (s *Server) customers(w http.ResponseWriter, r *http.Request) {
	id, _ := strings.CutPrefix(strings.TrimPrefix(r.URL.Path, "/v1/customers"), "/")
	if r.Method == http.MethodGet && id != "" && !strings.Contains(id, "/") {
		s.retrieve(w, id)
		return
	}
	if strings.Contains(id, "/") || (r.Method != http.MethodPost && (r.Method != http.MethodDelete || id == "")) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "Unrecognized request URL ("+r.Method+": "+r.URL.Path+").", "")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	params, err := url.ParseQuery(string(raw))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "Invalid request body: "+err.Error(), "")
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if r.Method != http.MethodPost {
		key = "" // Stripe ignores keys on DELETE
	}
	fp := sha256.Sum256([]byte(r.Method + " " + r.URL.Path + "\n" + params.Encode()))
	s.mu.Lock()
	s.w.stats.Calls++
	if key != "" {
		if st, ok := s.w.idem[key]; ok {
			if st.fingerprint != fp {
				s.w.stats.IdempotencyErrors++
				s.mu.Unlock()
				writeError(w, http.StatusBadRequest, "idempotency_error", "",
					"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '"+key+"' if you meant to execute a different request.", "")
				return
			}
			s.w.stats.Replays++
			s.mu.Unlock()
			w.Header().Set("Idempotent-Replayed", "true")
			w.Header().Set("Idempotency-Key", key)
			w.Header().Set("Content-Type", "application/json;charset=UTF-8")
			w.WriteHeader(st.code)
			_, _ = w.Write(st.body)
			return
		}
	}
	rec := httptest.NewRecorder()
	applied := s.apply(rec, r.Method, id, params)
	if applied && key != "" {
		if s.w.applies == nil {
			s.w.applies = map[string]int{}
		}
		s.w.applies[key]++
	}
	if key != "" && rec.Code < 500 {
		if s.w.idem == nil {
			s.w.idem = map[string]storedAnswer{}
		}
		s.w.idem[key] = storedAnswer{fingerprint: fp, code: rec.Code, body: rec.Body.Bytes()}
	}
	lost := applied && s.w.lostAnswer > 0
	if lost {
		s.w.lostAnswer--
		s.w.stats.LostAnswers++
	}
	s.mu.Unlock()
	if lost {
		writeError(w, http.StatusInternalServerError, "api_error", "", "An unknown error occurred", "")
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	if key != "" {
		w.Header().Set("Idempotency-Key", key)
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// apply applies one write with s.mu held and reports whether it changed
// anything.
func (s *Server) apply(w http.ResponseWriter, method, id string, params url.Values) bool {
	var o *Object
	if id != "" {
		o = s.objects[id]
		if o == nil || o.Type != "customer" || o.Deleted {
			writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "No such customer: '"+id+"'", "id")
			return false
		}
	}
	if method == http.MethodDelete {
		o.Deleted = true
		s.emit(o, "deleted", time.Now(), nil)
		s.w.stats.Deletes++
		faults.WriteJSON(w, http.StatusOK, map[string]any{"id": o.ID, "object": "customer", "deleted": true})
		return true
	}
	set, err := customerFields(params)
	if err != nil {
		s.w.stats.Invalid++
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.code, err.msg, err.param)
		return false
	}
	now := time.Now()
	if o == nil {
		o = &Object{ID: s.randomID("cus"), Type: "customer", Fields: map[string]any{"metadata": map[string]any{}}, Created: now.UTC().Truncate(time.Second)}
		s.objects[o.ID] = o
		mergeFields(o.Fields, set)
		s.emit(o, "created", now, nil)
		s.w.stats.Creates++
	} else {
		prev := map[string]any{}
		for k := range set {
			prev[k] = o.Fields[k]
		}
		mergeFields(o.Fields, set)
		s.emit(o, "updated", now, prev)
		s.w.stats.Updates++
	}
	if s.w.last == nil {
		s.w.last = map[string]url.Values{}
	}
	s.w.last[o.ID] = params
	faults.WriteJSON(w, http.StatusOK, o.render())
	return true
}

type paramError struct{ code, msg, param string }

// customerFields checks params and returns the fields they set: scalars
// as strings (nil for ""), address and metadata as maps of them.
func customerFields(params url.Values) (map[string]any, *paramError) {
	set := map[string]any{}
	sub := func(name string) map[string]any {
		m, _ := set[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
			set[name] = m
		}
		return m
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := params.Get(k)
		m := paramRE.FindStringSubmatch(k)
		if m == nil {
			return nil, &paramError{"parameter_unknown", "Received unknown parameter: " + k, k}
		}
		name, inner, bracket := m[1], m[2], strings.Contains(k, "[")
		var val any = v
		if v == "" {
			val = nil
		}
		switch {
		case !bracket && slices.Contains(customerParams, name):
			if name == "email" && v != "" && !emailRE.MatchString(v) {
				return nil, &paramError{"email_invalid", "Invalid email address: " + v, "email"}
			}
			set[name] = val
		case name == "address" && bracket && slices.Contains(addressParams, inner):
			sub("address")[inner] = val
		case name == "metadata" && bracket && inner != "":
			if len(inner) > 40 {
				return nil, &paramError{"parameter_invalid_string", fmt.Sprintf("Metadata keys can have up to 40 characters; %q has %d.", inner, len(inner)), k}
			}
			if len(v) > 500 {
				return nil, &paramError{"parameter_invalid_string", fmt.Sprintf("Metadata values can have up to 500 characters; the value of %q has %d.", inner, len(v)), k}
			}
			sub("metadata")[inner] = val
		case (name == "preferred_locales" || name == "expand") && bracket && inner == "":
			if name == "preferred_locales" {
				set[name] = params[k]
			}
		default:
			return nil, &paramError{"parameter_unknown", "Received unknown parameter: " + k, k}
		}
	}
	if md, ok := set["metadata"].(map[string]any); ok && len(md) > 50 {
		return nil, &paramError{"parameter_invalid_string", "You can have up to 50 metadata keys.", "metadata"}
	}
	return set, nil
}

// mergeFields applies set to fields: address and metadata are merged key
// by key (nil removes a metadata key), scalars replaced.
func mergeFields(fields, set map[string]any) {
	for k, v := range set {
		m, isMap := v.(map[string]any)
		if !isMap {
			fields[k] = v
			continue
		}
		cur, _ := fields[k].(map[string]any)
		if cur == nil {
			cur = map[string]any{}
		} else {
			cur = cloneMap(cur)
		}
		for ik, iv := range m {
			if iv == nil && k == "metadata" {
				delete(cur, ik)
			} else {
				cur[ik] = iv
			}
		}
		fields[k] = cur
	}
}

func cloneMap(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

package hubspot

// The write side of the emulator, for sinks:
//
//   - POST /crm/v3/objects/{type}/batch/upsert: {"inputs": [{"idProperty":
//     "email", "id": "a@b.com", "properties": {...}}]}, at most 100 inputs.
//     An input matches the live (not archived) object whose idProperty
//     equals id (emails compare case-insensitively and are stored in lower
//     case, as HubSpot does); it is updated, or a new object is created with
//     the idProperty set. The answer is HubSpot's batch response: status,
//     results (id, properties, createdAt, updatedAt, archived, new),
//     startedAt, completedAt. Inputs whose properties are invalid (see
//     DefineProperty; an email that is not one) fail the whole batch with
//     400 VALIDATION_ERROR and an errors list naming each input, nothing
//     written; with Options.PartialFailures the valid inputs are written and
//     the answer is 207 Multi-Status with errors and numErrors.
//   - POST /crm/v3/objects/{type}/batch/update: {"inputs": [{"id": "123",
//     "properties": {...}}]}, at most 100: updates live objects by object
//     id. The answer has HubSpot's shape (status, results with id,
//     properties, createdAt, updatedAt, archived; startedAt, completedAt);
//     an id that is not a live object is an OBJECT_NOT_FOUND error of a 207
//     Multi-Status (the other inputs are written), invalid values fail the
//     batch with 400 as for upserts.
//   - POST /crm/v3/objects/{type}/batch/read: {"idProperty": "email",
//     "properties": [...], "inputs": [{"id": "a@b.com"}]} (idProperty
//     optional: ids are object ids then), at most 100: the live objects
//     found (200), or 207 Multi-Status with an OBJECT_NOT_FOUND error
//     naming the ids not found.
//   - POST /crm/v3/objects/{type}/batch/archive: {"inputs": [{"id": "123"}]},
//     at most 100, answered 204 No Content; unknown or already archived ids
//     are ignored, as HubSpot does.
//
// Knobs for sinks' error paths: RefuseInputs makes a batch upsert or update
// that contains given inputs fail whole with a status (409 CONFLICT, 413,
// 422, ...), as HubSpot refuses a batch for one input; TransientInputErrors
// makes given inputs fail a number of times with a retryable per-input
// error (a 207 with category RATE_LIMITS, say) while the rest is written.
//
// The rate limit, authentication and injected faults apply to writes as to
// reads (a truncated or garbage answer hides a write that did happen, as a
// connection cut after the provider committed does). WriteStats and
// ObjectWrites count calls, creates and updates so tests can prove that no
// object was created twice and no unchanged value was sent.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxBatchInputs is the most inputs one batch write accepts.
const MaxBatchInputs = 100

// PropertyDef declares a property's type for validation of writes.
type PropertyDef struct {
	// Type is "string" (anything), "number" or "enumeration".
	Type string
	// Options are the allowed values of an enumeration.
	Options []string
}

// WriteStats count the write calls and their effect.
type WriteStats struct {
	// UpsertCalls, UpdateCalls, ReadCalls and ArchiveCalls count batch
	// requests that reached the handler (not rate-limited, no fault before
	// it).
	UpsertCalls, UpdateCalls, ReadCalls, ArchiveCalls int
	// Refused counts batches refused whole by RefuseInputs; Transient the
	// inputs failed by TransientInputErrors.
	Refused, Transient int
	// Inputs counts upsert inputs received.
	Inputs int
	// Creates, Updates and Archives count objects created, updated and
	// archived; Invalid counts inputs refused.
	Creates, Updates, Archives, Invalid int
}

// Calls is the number of batch calls of every kind.
func (ws WriteStats) Calls() int {
	return ws.UpsertCalls + ws.UpdateCalls + ws.ReadCalls + ws.ArchiveCalls
}

// Writes count the writes of one object.
type Writes struct{ Creates, Updates int }

type writeState struct {
	defs   map[string]map[string]PropertyDef // type -> property -> def
	stats  WriteStats
	per    map[string]map[int64]*Writes // type -> id -> writes
	partly bool
	after  func(n int)
	// refuse: input key (idProperty value or object id) -> status;
	// transient: input key -> failures left, with category tcat.
	refuse    map[string]int
	transient map[string]int
	tcat      string
}

// RefuseInputs makes every batch upsert or update containing one of ids
// (an idProperty value, compared as stored, or an object id) fail whole
// with status and a HubSpot error body, nothing written; status 0 stops
// refusing them.
func (s *Server) RefuseInputs(status int, ids ...string) {
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

// TransientInputErrors makes each of ids (as for RefuseInputs) fail the
// next times upserts or updates of it with a per-input error of category
// (RATE_LIMITS, INTERNAL_ERROR, ...) in a 207 Multi-Status; the other
// inputs of the batch are written.
func (s *Server) TransientInputErrors(times int, category string, ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w.transient == nil {
		s.w.transient = map[string]int{}
	}
	for _, id := range ids {
		s.w.transient[id] = times
	}
	s.w.tcat = category
}

// refused returns the status of the first input of keys that is refused,
// with its key; called with the lock held.
func (s *Server) refused(keys []string) (int, string) {
	for _, k := range keys {
		if st := s.w.refuse[k]; st != 0 {
			return st, k
		}
	}
	return 0, ""
}

// takeTransient reports whether key fails this time; called with the lock
// held.
func (s *Server) takeTransient(key string) bool {
	if s.w.transient[key] <= 0 {
		return false
	}
	s.w.transient[key]--
	s.w.stats.Transient++
	return true
}

var refusedCategory = map[int]string{
	http.StatusConflict: "CONFLICT", http.StatusRequestEntityTooLarge: "PAYLOAD_TOO_LARGE",
	http.StatusUnprocessableEntity: "VALIDATION_ERROR", http.StatusBadRequest: "VALIDATION_ERROR",
}

func writeRefused(w http.ResponseWriter, status int, key string) {
	cat := refusedCategory[status]
	if cat == "" {
		cat = "ERROR"
	}
	writeError(w, status, cat, fmt.Sprintf("The request was refused (%s) for input %s", cat, key))
}

// AfterWrite sets fn to run after each batch upsert or archive was applied
// and before it is answered, with the number of write calls so far: a test
// can kill the client there, in the window between a provider's commit and
// the client's.
func (s *Server) AfterWrite(fn func(n int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.after = fn
}

// afterWrite runs the AfterWrite hook; called without the lock.
func (s *Server) afterWrite() {
	s.mu.Lock()
	fn, n := s.w.after, s.w.stats.UpsertCalls+s.w.stats.UpdateCalls+s.w.stats.ArchiveCalls
	s.mu.Unlock()
	if fn != nil {
		fn(n)
	}
}

// DefineProperty declares the type of a property of typ; writes with a
// value it does not accept are refused.
func (s *Server) DefineProperty(typ, name string, d PropertyDef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w.defs == nil {
		s.w.defs = map[string]map[string]PropertyDef{}
	}
	if s.w.defs[typ] == nil {
		s.w.defs[typ] = map[string]PropertyDef{}
	}
	s.w.defs[typ][name] = d
}

// SetPartialFailures chooses how a batch with invalid inputs is answered:
// false (HubSpot's usual answer) fails it whole with 400; true writes the
// valid inputs and answers 207 Multi-Status.
func (s *Server) SetPartialFailures(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.partly = on
}

// WriteStats returns the write counters.
func (s *Server) WriteStats() WriteStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.stats
}

// ObjectWrites returns the creates and updates of every object of typ
// written through the write endpoints, by id.
func (s *Server) ObjectWrites(typ string) map[int64]Writes {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int64]Writes{}
	for id, w := range s.w.per[typ] {
		out[id] = *w
	}
	return out
}

type upsertInput struct {
	IDProperty string            `json:"idProperty"`
	ID         string            `json:"id"`
	Properties map[string]any    `json:"properties"`
	props      map[string]string // Properties as HubSpot stores them
}

type batchError struct {
	Status   string         `json:"status"`
	Category string         `json:"category"`
	Message  string         `json:"message"`
	Context  map[string]any `json:"context"`
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, typ, action string) {
	if action == "batch/read" {
		s.readBatch(w, r, typ)
		return
	}
	var req struct {
		Inputs []json.RawMessage `json:"inputs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON on line 1: "+err.Error())
		return
	}
	if len(req.Inputs) > MaxBatchInputs {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("Batch input is too large: %d inputs, at most %d are allowed", len(req.Inputs), MaxBatchInputs))
		return
	}
	switch action {
	case "batch/archive":
		s.archiveBatch(w, typ, req.Inputs)
		return
	case "batch/update":
		s.updateBatch(w, typ, req.Inputs)
		return
	case "batch/upsert":
	default:
		writeError(w, http.StatusMethodNotAllowed, "VALIDATION_ERROR", "POST "+r.URL.Path+" is not supported by the emulator")
		return
	}
	started := time.Now()
	inputs := make([]upsertInput, len(req.Inputs))
	for i, raw := range req.Inputs {
		if err := json.Unmarshal(raw, &inputs[i]); err != nil {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("inputs[%d]: %v", i, err))
			return
		}
		in := &inputs[i]
		if in.IDProperty == "" || in.ID == "" {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("inputs[%d]: idProperty and id are required for an upsert", i))
			return
		}
		in.props = map[string]string{}
		for k, v := range in.Properties {
			in.props[k] = stringValue(v)
			if isEmailProp(k) {
				in.props[k] = strings.ToLower(in.props[k])
			}
		}
		if isEmailProp(in.IDProperty) {
			in.ID = strings.ToLower(in.ID)
		}
		if _, ok := in.props[in.IDProperty]; !ok {
			in.props[in.IDProperty] = in.ID
		}
	}

	s.mu.Lock()
	s.w.stats.UpsertCalls++
	s.w.stats.Inputs += len(inputs)
	keys := make([]string, len(inputs))
	for i := range inputs {
		keys[i] = inputs[i].props[inputs[i].IDProperty]
	}
	if st, k := s.refused(keys); st != 0 {
		s.w.stats.Refused++
		s.mu.Unlock()
		writeRefused(w, st, k)
		return
	}
	var errs []batchError
	var transient []batchError
	valid := make([]bool, len(inputs))
	for i := range inputs {
		if s.takeTransient(keys[i]) {
			transient = append(transient, batchError{Status: "error", Category: s.w.tcat, Message: "Try again later: " + s.w.tcat,
				Context: map[string]any{"ids": []string{inputs[i].ID}, "idProperty": inputs[i].IDProperty}})
			continue
		}
		if msg := s.invalid(typ, &inputs[i]); msg != "" {
			s.w.stats.Invalid++
			errs = append(errs, batchError{Status: "error", Category: "VALIDATION_ERROR", Message: msg,
				Context: map[string]any{"ids": []string{inputs[i].ID}, "idProperty": inputs[i].IDProperty}})
			continue
		}
		valid[i] = true
	}
	if len(errs) > 0 && !s.w.partly {
		s.mu.Unlock()
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Message
		}
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"status": "error", "category": "VALIDATION_ERROR", "correlationId": "emulator",
			"message": "Property values were not valid: " + strings.Join(msgs, "; "), "errors": errs,
		})
		return
	}
	var results []map[string]any
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range inputs {
		if !valid[i] {
			continue
		}
		in := &inputs[i]
		o := s.findBy(typ, in.IDProperty, in.ID)
		isNew := o == nil
		if isNew {
			s.nextID++
			o = &Object{ID: s.nextID, Properties: map[string]string{}, CreatedAt: now, UpdatedAt: now}
			if s.objects[typ] == nil {
				s.objects[typ] = map[int64]*Object{}
			}
			s.objects[typ][o.ID] = o
			for k, v := range in.props {
				o.Properties[k] = v
			}
			s.indexed(o, nil)
			s.w.stats.Creates++
			s.perObject(typ, o.ID).Creates++
		} else {
			before := o.clone()
			for k, v := range in.props {
				o.Properties[k] = v
			}
			o.UpdatedAt = now
			s.indexed(o, before)
			s.w.stats.Updates++
			s.perObject(typ, o.ID).Updates++
		}
		names := make([]string, 0, len(in.props))
		for k := range in.props {
			names = append(names, k)
		}
		res := render(o, names)
		res["new"] = isNew
		results = append(results, res)
	}
	s.mu.Unlock()
	s.afterWrite()
	resp := map[string]any{
		"status": "COMPLETE", "results": orEmpty(results),
		"startedAt": isoMs(started), "completedAt": isoMs(time.Now()),
	}
	code := http.StatusOK
	if errs = append(errs, transient...); len(errs) > 0 {
		code = http.StatusMultiStatus
		resp["errors"], resp["numErrors"] = errs, len(errs)
	}
	writeJSON(w, code, resp)
}

// updateBatch answers batch/update: inputs by object id.
func (s *Server) updateBatch(w http.ResponseWriter, typ string, raws []json.RawMessage) {
	started := time.Now()
	type updInput struct {
		ID         string         `json:"id"`
		Properties map[string]any `json:"properties"`
	}
	inputs := make([]upsertInput, len(raws))
	for i, raw := range raws {
		var in updInput
		if err := json.Unmarshal(raw, &in); err != nil {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("inputs[%d]: %v", i, err))
			return
		}
		if in.ID == "" {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("inputs[%d]: id is required for an update", i))
			return
		}
		inputs[i] = upsertInput{IDProperty: "hs_object_id", ID: in.ID, props: map[string]string{}}
		for k, v := range in.Properties {
			inputs[i].props[k] = stringValue(v)
			if isEmailProp(k) {
				inputs[i].props[k] = strings.ToLower(inputs[i].props[k])
			}
		}
	}
	s.mu.Lock()
	s.w.stats.UpdateCalls++
	s.w.stats.Inputs += len(inputs)
	keys := make([]string, len(inputs))
	for i := range inputs {
		keys[i] = inputs[i].ID
	}
	if st, k := s.refused(keys); st != 0 {
		s.w.stats.Refused++
		s.mu.Unlock()
		writeRefused(w, st, k)
		return
	}
	var errs []batchError
	var invalid []string
	objs := make([]*Object, len(inputs))
	for i := range inputs {
		in := &inputs[i]
		id, _ := strconv.ParseInt(in.ID, 10, 64)
		o := s.objects[typ][id]
		switch {
		case o == nil || o.Archived:
			errs = append(errs, batchError{Status: "error", Category: "OBJECT_NOT_FOUND",
				Message: "Object not found. objectId are usually numeric.", Context: map[string]any{"ids": []string{in.ID}}})
		case s.takeTransient(in.ID):
			errs = append(errs, batchError{Status: "error", Category: s.w.tcat, Message: "Try again later: " + s.w.tcat,
				Context: map[string]any{"ids": []string{in.ID}}})
		default:
			if msg := s.invalid(typ, in); msg != "" {
				s.w.stats.Invalid++
				invalid = append(invalid, msg)
				continue
			}
			objs[i] = o
		}
	}
	if len(invalid) > 0 {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"status": "error", "category": "VALIDATION_ERROR", "correlationId": "emulator",
			"message": "Property values were not valid: " + strings.Join(invalid, "; "),
		})
		return
	}
	var results []map[string]any
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i, o := range objs {
		if o == nil {
			continue
		}
		before := o.clone()
		names := make([]string, 0, len(inputs[i].props))
		for k, v := range inputs[i].props {
			o.Properties[k] = v
			names = append(names, k)
		}
		o.UpdatedAt = now
		s.indexed(o, before)
		s.w.stats.Updates++
		s.perObject(typ, o.ID).Updates++
		results = append(results, render(o, names))
	}
	s.mu.Unlock()
	s.afterWrite()
	resp := map[string]any{"status": "COMPLETE", "results": orEmpty(results), "startedAt": isoMs(started), "completedAt": isoMs(time.Now())}
	code := http.StatusOK
	if len(errs) > 0 {
		code = http.StatusMultiStatus
		resp["errors"], resp["numErrors"] = errs, len(errs)
	}
	writeJSON(w, code, resp)
}

// readBatch answers batch/read: the live objects by id or idProperty.
func (s *Server) readBatch(w http.ResponseWriter, r *http.Request, typ string) {
	started := time.Now()
	var req struct {
		IDProperty string   `json:"idProperty"`
		Properties []string `json:"properties"`
		Inputs     []struct {
			ID string `json:"id"`
		} `json:"inputs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON on line 1: "+err.Error())
		return
	}
	if len(req.Inputs) > MaxBatchInputs {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("Batch input is too large: %d inputs, at most %d are allowed", len(req.Inputs), MaxBatchInputs))
		return
	}
	prop := req.IDProperty
	if prop == "" {
		prop = "hs_object_id"
	}
	s.mu.Lock()
	s.w.stats.ReadCalls++
	var results []map[string]any
	var missing []string
	for _, in := range req.Inputs {
		o := s.findBy(typ, prop, in.ID)
		if o == nil {
			missing = append(missing, in.ID)
			continue
		}
		names := append([]string{}, req.Properties...)
		if prop != "hs_object_id" && !slices.Contains(names, prop) {
			names = append(names, prop)
		}
		results = append(results, render(o, names))
	}
	s.mu.Unlock()
	resp := map[string]any{"status": "COMPLETE", "results": orEmpty(results), "startedAt": isoMs(started), "completedAt": isoMs(time.Now())}
	code := http.StatusOK
	if len(missing) > 0 {
		code = http.StatusMultiStatus
		resp["errors"] = []batchError{{Status: "error", Category: "OBJECT_NOT_FOUND",
			Message: fmt.Sprintf("Could not get some %s objects, they may be deleted or not exist. Check that ids are valid.", strings.ToUpper(strings.TrimSuffix(typ, "s"))),
			Context: map[string]any{"ids": missing}}}
		resp["numErrors"] = 1
	}
	writeJSON(w, code, resp)
}

func (s *Server) archiveBatch(w http.ResponseWriter, typ string, raws []json.RawMessage) {
	ids := make([]int64, 0, len(raws))
	for i, raw := range raws {
		var in struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &in); err != nil {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("inputs[%d]: %v", i, err))
			return
		}
		id, err := strconv.ParseInt(in.ID, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("inputs[%d]: id %q is not an object id", i, in.ID))
			return
		}
		ids = append(ids, id)
	}
	s.mu.Lock()
	s.w.stats.ArchiveCalls++
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, id := range ids {
		if o := s.objects[typ][id]; o != nil && !o.Archived {
			o.Archived, o.ArchivedAt, o.UpdatedAt = true, now, now
			s.w.stats.Archives++
		}
	}
	s.mu.Unlock()
	s.afterWrite()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) perObject(typ string, id int64) *Writes {
	if s.w.per == nil {
		s.w.per = map[string]map[int64]*Writes{}
	}
	if s.w.per[typ] == nil {
		s.w.per[typ] = map[int64]*Writes{}
	}
	if s.w.per[typ][id] == nil {
		s.w.per[typ][id] = &Writes{}
	}
	return s.w.per[typ][id]
}

// findBy returns the live object of typ whose property equals v.
func (s *Server) findBy(typ, prop, v string) *Object {
	var found *Object
	for _, o := range s.objects[typ] {
		if o.Archived {
			continue
		}
		got := o.Properties[prop]
		if prop == "hs_object_id" {
			got = strconv.FormatInt(o.ID, 10)
		}
		if got == v || (isEmailProp(prop) && strings.EqualFold(got, v)) {
			if found == nil || o.ID < found.ID {
				found = o
			}
		}
	}
	return found
}

// invalid returns why an input cannot be written, or "".
func (s *Server) invalid(typ string, in *upsertInput) string {
	names := make([]string, 0, len(in.props))
	for k := range in.props {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := in.props[k]
		if isEmailProp(k) && v != "" {
			if a, err := mail.ParseAddress(v); err != nil || a.Address != v || !strings.Contains(v[strings.IndexByte(v, '@')+1:], ".") {
				return fmt.Sprintf("Email address %s is invalid (property %s of %s %s)", v, k, in.IDProperty, in.ID)
			}
		}
		d, ok := s.w.defs[typ][k]
		if !ok || v == "" {
			continue
		}
		switch d.Type {
		case "number":
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return fmt.Sprintf("%s was not a valid number (property %s of %s %s)", v, k, in.IDProperty, in.ID)
			}
		case "enumeration":
			if !slices.Contains(d.Options, v) {
				return fmt.Sprintf("%s was not one of the allowed options: %s (property %s of %s %s)", v, strings.Join(d.Options, ", "), k, in.IDProperty, in.ID)
			}
		}
	}
	return ""
}

func isEmailProp(name string) bool { return name == "email" }

// stringValue renders a JSON property value as HubSpot stores it.
func stringValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

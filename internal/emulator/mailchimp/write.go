package mailchimp

// The write side, as the Mailchimp sink calls it:
//
//	PUT    /3.0/lists/{list_id}/members/{subscriber_hash}
//	       body {"email_address", "status_if_new", "status"?,
//	       "merge_fields"?} → 200 the member: created with status_if_new
//	       when absent (the hash must be the MD5 of the lower-cased
//	       email), else its merge fields merged (and email_address
//	       changed when it differs); an archived member is restored
//	POST   /3.0/lists/{list_id}
//	       body {"members": [...] (at most 500), "update_existing": bool}
//	       → 200 {"new_members", "updated_members", "errors":
//	       [{"email_address", "error", "error_code", "field",
//	       "field_message"}], "total_created", "total_updated",
//	       "error_count"}
//	DELETE /3.0/lists/{list_id}/members/{subscriber_hash}
//	       → 204, the member archived; 404 when absent or archived
//
// Errors are Mailchimp's problem details (400 "Invalid Resource" for an
// invalid email, a hash that does not match it, a missing required merge
// field, an unknown status; 400 "Forgotten Email Not Subscribed" for an
// email Forget was called with). A list must exist (AddList or Add). Knobs:
// Require makes merge fields required for new members; Forget makes an
// email refused. WriteStats counts calls, creates, updates, archives and
// refused members.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"syncline/internal/emulator/faults"
)

// WriteStats count the member writes.
type WriteStats struct {
	// Calls counts write requests that reached the handler; Batches the
	// batch calls among them.
	Calls, Batches int
	// Creates, Updates and Archives count members changed; Refused the
	// members refused (a 400 or a batch error).
	Creates, Updates, Archives, Refused int
}

type writeState struct {
	required  map[string][]string // list -> merge tags required for new members
	forgotten map[string]bool     // lower-cased emails
	stats     WriteStats
	last      map[string]map[string]any // list/hash -> body of the last write
	reads     ReadStats                 // read.go
}

// AddList creates an empty list.
func (s *Server) AddList(list string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lists[list] == nil {
		s.lists[list] = map[string]*Member{}
	}
}

// Require makes merge tags of list required for new members.
func (s *Server) Require(list string, tags ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w.required == nil {
		s.w.required = map[string][]string{}
	}
	s.w.required[list] = append(s.w.required[list], tags...)
}

// Forget makes an email refused, as Mailchimp refuses the email of a
// permanently deleted member.
func (s *Server) Forget(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w.forgotten == nil {
		s.w.forgotten = map[string]bool{}
	}
	s.w.forgotten[strings.ToLower(email)] = true
}

// WriteStats returns the write counters.
func (s *Server) WriteStats() WriteStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.stats
}

// LastWrite returns the body of the last write of a member (for a batch,
// its entry).
func (s *Server) LastWrite(list, hash string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.last[list+"/"+hash]
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// memberIn is a member of a write body.
type memberIn struct {
	Email       string         `json:"email_address"`
	StatusIfNew string         `json:"status_if_new"`
	Status      string         `json:"status"`
	MergeFields map[string]any `json:"merge_fields"`
}

// refusal is why a member write was refused.
type refusal struct{ title, detail, field string }

// write serves the write endpoints and the reads of read.go; false for a
// request that is none of them.
func (s *Server) write(w http.ResponseWriter, r *http.Request, list, tail string) bool {
	hash, isMember := strings.CutPrefix(tail, "members/")
	switch {
	case tail == "" && r.Method == http.MethodGet:
		s.getList(w, r, list)
	case isMember && hash != "" && !strings.Contains(hash, "/") && r.Method == http.MethodGet:
		s.getMember(w, r, list, hash)
	case tail == "" && r.Method == http.MethodPost:
		s.batch(w, r, list)
	case isMember && hash != "" && r.Method == http.MethodPut:
		s.put(w, r, list, hash)
	case isMember && hash != "" && r.Method == http.MethodDelete:
		s.archive(w, list, hash)
	default:
		return false
	}
	return true
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, list, hash string) {
	var in memberIn
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(raw, &in); err != nil {
		problem(w, http.StatusBadRequest, "JSON Parse Error", "We encountered an unspecified JSON parsing error.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.stats.Calls++
	if s.lists[list] == nil {
		problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
		return
	}
	m, created, ref := s.upsert(list, hash, in)
	if ref != nil {
		s.w.stats.Refused++
		problem(w, http.StatusBadRequest, ref.title, ref.detail)
		return
	}
	s.note(list, m.ID, raw, created)
	writeMember(w, list, m)
}

// note counts an applied write and keeps its body; called with s.mu held.
func (s *Server) note(list, id string, raw []byte, created bool) {
	if created {
		s.w.stats.Creates++
	} else {
		s.w.stats.Updates++
	}
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	if s.w.last == nil {
		s.w.last = map[string]map[string]any{}
	}
	s.w.last[list+"/"+id] = body
}

// upsert applies one member write with s.mu held; hash "" matches by
// email (batch subscribe).
func (s *Server) upsert(list, hash string, in memberIn) (*Member, bool, *refusal) {
	if !emailRE.MatchString(in.Email) {
		return nil, false, &refusal{"Invalid Resource", "Please provide a valid email address.", "email_address"}
	}
	if s.w.forgotten[strings.ToLower(in.Email)] {
		return nil, false, &refusal{"Forgotten Email Not Subscribed", in.Email + " was permanently deleted and cannot be re-imported. The contact must re-subscribe to get back on the list.", "email_address"}
	}
	statuses := []string{"subscribed", "unsubscribed", "cleaned", "pending", "transactional"}
	for _, st := range []string{in.Status, in.StatusIfNew} {
		if st != "" && !slices.Contains(statuses, st) {
			return nil, false, &refusal{"Invalid Resource", "The resource submitted could not be validated. For field-specific details, see the 'errors' array.", "status"}
		}
	}
	if hash == "" {
		hash = SubscriberHash(in.Email)
	}
	m := s.lists[list][hash]
	created := m == nil
	if created {
		if hash != SubscriberHash(in.Email) {
			return nil, false, &refusal{"Invalid Resource", "The subscriber hash does not match the email address.", "email_address"}
		}
		if in.StatusIfNew == "" && in.Status == "" {
			return nil, false, &refusal{"Invalid Resource", "The resource submitted could not be validated. For field-specific details, see the 'errors' array.", "status_if_new"}
		}
		for _, tag := range s.w.required[list] {
			if v, ok := in.MergeFields[tag]; !ok || v == nil || v == "" {
				return nil, false, &refusal{"Invalid Resource", "Your merge fields were invalid. " + tag + ": Please enter a value", "merge_fields." + tag}
			}
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	if created {
		s.seq++
		st := in.StatusIfNew
		if in.Status != "" {
			st = in.Status
		}
		m = &Member{ID: hash, Email: in.Email, Status: st, MergeFields: map[string]any{}, OptedIn: now, seq: s.seq}
		s.lists[list][hash] = m
	} else {
		if m.Status == "archived" {
			m.Status = cmp.Or(in.Status, in.StatusIfNew)
		} else if in.Status != "" {
			m.Status = in.Status
		}
		if !strings.EqualFold(m.Email, in.Email) {
			// A changed address: the member moves to its new hash.
			delete(s.lists[list], m.ID)
			m.ID = SubscriberHash(in.Email)
			s.lists[list][m.ID] = m
		}
		m.Email = in.Email
	}
	for k, v := range in.MergeFields {
		m.MergeFields[k] = v
	}
	m.LastChanged = now
	return m, created, nil
}

func writeMember(w http.ResponseWriter, list string, m *Member) {
	faults.WriteJSON(w, http.StatusOK, memberOut(list, m))
}

func memberOut(list string, m *Member) map[string]any {
	return map[string]any{
		"id": m.ID, "email_address": m.Email, "unique_email_id": m.ID[:10], "status": m.Status,
		"merge_fields": maps.Clone(m.MergeFields), "last_changed": mcTime(m.LastChanged), "list_id": list,
	}
}

func (s *Server) batch(w http.ResponseWriter, r *http.Request, list string) {
	var in struct {
		Members        []json.RawMessage `json:"members"`
		UpdateExisting bool              `json:"update_existing"`
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err := json.Unmarshal(raw, &in); err != nil {
		problem(w, http.StatusBadRequest, "JSON Parse Error", "We encountered an unspecified JSON parsing error.")
		return
	}
	if len(in.Members) > 500 {
		problem(w, http.StatusBadRequest, "Invalid Resource", fmt.Sprintf("members: the batch has %d members; the most is 500.", len(in.Members)))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.stats.Calls++
	s.w.stats.Batches++
	if s.lists[list] == nil {
		problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
		return
	}
	created, updated, errs := []any{}, []any{}, []any{}
	for _, mr := range in.Members {
		var m memberIn
		_ = json.Unmarshal(mr, &m)
		if cur := s.lists[list][SubscriberHash(m.Email)]; cur != nil && !in.UpdateExisting {
			s.w.stats.Refused++
			errs = append(errs, map[string]any{"email_address": m.Email, "error": m.Email + " is already a list member. Use PUT to insert or update list members.", "error_code": "ERROR_CONTACT_EXISTS", "field": "email_address", "field_message": ""})
			continue
		}
		got, isNew, ref := s.upsert(list, "", m)
		if ref != nil {
			s.w.stats.Refused++
			errs = append(errs, map[string]any{"email_address": m.Email, "error": ref.title + ": " + ref.detail, "error_code": "ERROR_GENERIC", "field": ref.field, "field_message": ref.detail})
			continue
		}
		s.note(list, got.ID, mr, isNew)
		if isNew {
			created = append(created, memberOut(list, got))
		} else {
			updated = append(updated, memberOut(list, got))
		}
	}
	faults.WriteJSON(w, http.StatusOK, map[string]any{"new_members": created, "updated_members": updated, "errors": errs,
		"total_created": len(created), "total_updated": len(updated), "error_count": len(errs)})
}

func (s *Server) archive(w http.ResponseWriter, list, hash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.stats.Calls++
	m := s.lists[list][strings.ToLower(hash)]
	if m == nil || m.Status == "archived" {
		problem(w, http.StatusNotFound, "Resource Not Found", "The requested resource could not be found.")
		return
	}
	m.Status, m.LastChanged = "archived", time.Now().UTC().Truncate(time.Second)
	s.w.stats.Archives++
	w.WriteHeader(http.StatusNoContent)
}

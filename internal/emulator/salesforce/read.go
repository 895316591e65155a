package salesforce

// The read side of sObject collections, as syncline diff calls it:
//
//	GET /services/data/vNN.N/composite/sobjects/{type}?ids=a,b&fields=f,g
//	    → 200 [record | null, ...], one per id in order: the record with
//	    attributes {type, url} and the fields asked for (null when
//	    empty); null for an id the type does not hold or holds in the
//	    recycle bin. ids (1 to 800) and fields are required (400
//	    INVALID_FIELD, and for a field no record of the type ever had
//	    "No such column").
//
// Undelete restores a record from the recycle bin, as Salesforce's
// undelete() does. ReadStats counts retrieve calls and records returned.

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"syncline/internal/emulator/faults"
)

// ReadStats count the collection reads.
type ReadStats struct {
	// Retrieves counts retrieve calls that reached the handler; Records
	// the records they returned (nulls not counted).
	Retrieves, Records int
}

// ReadStats returns the read counters.
func (s *Server) ReadStats() ReadStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.reads
}

// Undelete restores a record of typ from the recycle bin at ts.
func (s *Server) Undelete(typ, id string, ts time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[typ][id]
	if r == nil || !r.IsDeleted {
		return fmt.Errorf("no deleted %s %s", typ, id)
	}
	r.IsDeleted, r.SystemModstamp = false, ts.UTC().Truncate(time.Millisecond)
	return nil
}

func (s *Server) retrieve(w http.ResponseWriter, r *http.Request, typ string) {
	q := r.URL.Query()
	ids, ok := idsParam(w, q, 800) // write.go
	if !ok {
		return
	}
	if q.Get("fields") == "" {
		writeError(w, http.StatusBadRequest, "INVALID_FIELD", "fields: at least one field is required")
		return
	}
	fields := strings.Split(q.Get("fields"), ",")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range fields {
		if !standard(f) && !s.fields[typ][f] {
			writeError(w, http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'.", f, typ))
			return
		}
	}
	s.w.reads.Retrieves++
	ver, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/services/data/"), "/")
	out := make([]any, 0, len(ids))
	for _, id := range ids {
		rec := s.records[typ][id]
		if rec == nil || rec.IsDeleted {
			out = append(out, nil)
			continue
		}
		m := map[string]any{"attributes": map[string]string{"type": typ, "url": "/services/data/" + ver + "/sobjects/" + typ + "/" + id}}
		for _, f := range fields {
			m[f] = fieldValue(rec, f)
		}
		out = append(out, m)
		s.w.reads.Records++
	}
	faults.WriteJSON(w, http.StatusOK, out)
}

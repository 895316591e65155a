package rest

// The read of one written record, for syncline diff of the REST sink:
//
//	GET /v1/{collection}/{id}   → 200 the record (a JSON object with
//	                              "id"); 404 {"error": ...} when absent
//
// authenticated as the writes are, under the same rate limit (429 with
// Retry-After). SetRecord and DropRecord change records as an edit or a
// delete made at the API by someone else would; Reads counts the reads.

import "net/http"

// Reads returns how many record reads were answered (rate-limited ones
// not counted).
func (s *Server) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.reads
}

// SetRecord merges fields into a record of collection, creating it when
// absent, without counting a write.
func (s *Server) SetRecord(collection, id string, fields Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w.records == nil {
		s.w.records = map[string]map[string]Record{}
	}
	if s.w.records[collection] == nil {
		s.w.records[collection] = map[string]Record{}
	}
	r := s.w.records[collection][id]
	if r == nil {
		r = Record{"id": id}
		s.w.records[collection][id] = r
	}
	for k, v := range fields {
		if k != "id" {
			r[k] = v
		}
	}
}

// DropRecord removes a record of collection without counting a write.
func (s *Server) DropRecord(collection, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.w.records[collection], id)
}

func (s *Server) readRecord(w http.ResponseWriter, collection, id string) {
	if !s.admitted(w) { // write.go
		return
	}
	s.w.reads++
	rec, ok := s.w.records[collection][id]
	out := Record{}
	for k, v := range rec {
		out[k] = v
	}
	s.mu.Unlock()
	if !ok {
		answer(w, http.StatusNotFound, map[string]string{"error": "no record " + id})
		return
	}
	answer(w, http.StatusOK, out)
}

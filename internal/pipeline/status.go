package pipeline

import (
	"encoding/json"
	"fmt"
	"io"

	"syncline/capture/postgres"
	"syncline/internal/admin"
)

// StatusReport is /api/v1/status as a client reads it: Detail stays raw
// until the reader knows the component.
type StatusReport struct {
	Components []struct {
		Name     string          `json:"name"`
		Ready    bool            `json:"ready"`
		NotReady string          `json:"not_ready"`
		Detail   json.RawMessage `json:"detail"`
	} `json:"components"`
	Stats *admin.Point `json:"stats"`
}

// ReadStatus decodes a /api/v1/status response body.
func ReadStatus(r io.Reader) (*StatusReport, error) {
	var st StatusReport
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return nil, fmt.Errorf("unexpected status response: %w", err)
	}
	return &st, nil
}

// SourceStatus returns component i's source status, or false when it is
// not a source.
func (s *StatusReport) SourceStatus(i int) (postgres.SourceStatus, bool) {
	var ss postgres.SourceStatus
	d := s.Components[i].Detail
	if len(d) == 0 || json.Unmarshal(d, &ss) != nil {
		return ss, false
	}
	return ss, true
}

// Backfills returns every source's backfills.
func (s *StatusReport) Backfills() []postgres.Backfill {
	var out []postgres.Backfill
	for i := range s.Components {
		if ss, ok := s.SourceStatus(i); ok {
			out = append(out, ss.Backfills...)
		}
	}
	return out
}

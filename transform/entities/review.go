package entities

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Review kinds: the merge engine's holds, and duplicate proposals.
const (
	KindAnomaly    = "anomaly"
	KindHighStakes = "high_stakes"
	KindConflict   = "conflict"
	KindDuplicate  = "duplicate"
)

// Review statuses.
const (
	StatusPending    = "pending"
	StatusApproved   = "approved"   // approved and applied
	StatusRejected   = "rejected"   // rejected: the held value or the merge dropped
	StatusSuperseded = "superseded" // approved, but a later change came first; nothing applied
)

// Review is one item of the review queue, as `_<prefix>.review` carries
// it (JSON, keyed by id; the latest record of an id is its state).
type Review struct {
	ID string `json:"id"`
	// Entity is the entity type, EntityID the entity the item is about
	// (when it was raised; `syncline review show` follows merges).
	Entity   string `json:"entity"`
	EntityID string `json:"entity_id"`
	Kind     string `json:"kind"`
	// Field, Source, Key, Position, CommitMs: the held change (field
	// reviews).
	Field    string `json:"field,omitempty"`
	Source   string `json:"source,omitempty"`
	Key      string `json:"key,omitempty"`
	Position string `json:"position,omitempty"`
	CommitMs int64  `json:"commit_ms,omitempty"`
	// Value is the value the source sent, Current the golden value then,
	// Proposed the golden value approval would have given then (text).
	Value    *string `json:"value,omitempty"`
	Current  *string `json:"current,omitempty"`
	Proposed *string `json:"proposed,omitempty"`
	// Pair is the possible duplicate (duplicate reviews).
	Pair   *Pair  `json:"pair,omitempty"`
	Reason string `json:"reason"`
	Status string `json:"status"`
	// Outcome is the merge engine's outcome of the decision.
	Outcome   string `json:"outcome,omitempty"`
	DecidedBy string `json:"decided_by,omitempty"`
	Note      string `json:"note,omitempty"`
	CreatedMs int64  `json:"created_ms"`
	DecidedMs int64  `json:"decided_ms,omitempty"`
	// Topic and Partition are where decisions on the item go.
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// Pair is a possible duplicate: two source records (as "source:key")
// and the entities they were in.
type Pair struct {
	A       string   `json:"a"`
	B       string   `json:"b"`
	EntityA string   `json:"entity_a"`
	EntityB string   `json:"entity_b"`
	Score   float64  `json:"score"`
	Reasons []string `json:"reasons,omitempty"`
	Notes   []string `json:"notes,omitempty"`
	RecordA Fields   `json:"record_a,omitempty"`
	RecordB Fields   `json:"record_b,omitempty"`
}

// Fields are record values as text, for people.
type Fields map[string]string

// Decision is a person's decision on a review item: the value of a
// decision record on the entity's input topic, keyed by the review id.
type Decision struct {
	ID       string `json:"id"`
	EntityID string `json:"entity_id"`
	Decision string `json:"decision"` // approve or reject
	By       string `json:"by,omitempty"`
	Note     string `json:"note,omitempty"`
	AtMs     int64  `json:"at_ms"`
}

// Validate checks a decision.
func (d Decision) Validate() error {
	if d.ID == "" {
		return fmt.Errorf("decision without a review id")
	}
	if d.Decision != "approve" && d.Decision != "reject" {
		return fmt.Errorf("decision %q: want approve or reject", d.Decision)
	}
	return nil
}

// pairKey orders two record refs so that a pair has one key.
func pairKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "\x00" + b
}

// duplicateID is the stable id of the duplicate review of a pair.
func duplicateID(entity, pk string) string {
	h := sha256.New()
	h.Write([]byte("duplicate\x00" + entity + "\x00" + pk))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func textPtr(v any) *string {
	if v == nil {
		return nil
	}
	s := valueText(v)
	return &s
}

func encodeReview(r *Review) []byte {
	b, _ := json.Marshal(r)
	return b
}

// DecodeReview decodes a review record's value.
func DecodeReview(b []byte) (*Review, error) {
	var r Review
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("review record: %w", err)
	}
	if r.ID == "" {
		return nil, fmt.Errorf("review record without id")
	}
	return &r, nil
}

// displayRef renders a record ref (merge.Ref) as "source:key".
func displayRef(ref string) string { return strings.Replace(ref, "\x00", ":", 1) }

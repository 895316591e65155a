package merge

import (
	"maps"

	"syncline/schemas"
)

// Change is one change of one source record that belongs to an entity.
type Change struct {
	// Entity is the entity type; it must be the Merger's.
	Entity string
	// Source is the configured source name; Key the source record's key
	// (any stable string encoding of it).
	Source, Key string
	// Op: create, update and read upsert the record's fields; delete
	// removes the record's contributions. Truncate is refused.
	Op schemas.Op
	// CommitMs is the source commit time, ms since the epoch.
	CommitMs int64
	// Position orders the changes of one source (schemas.Source.Position;
	// compared as strings). Required.
	Position string
	// Fields are the record's field values (Go values of schemas.Row:
	// nil, bool, int32, int64, float32, float64, *big.Rat, string,
	// []byte, time.Time, time.Duration, []any of these; int is taken as
	// int64). A field absent from the map is left as it was; a nil value
	// is an explicit null. Ignored for deletes.
	Fields map[string]any
}

// Provenance says where a golden value came from and why it won.
type Provenance struct {
	Source   string // source of the deciding contribution
	Key      string // its source record key
	Position string // its change position
	CommitMs int64  // its commit time
	Policy   Policy // the policy that decided
	Reason   string // why it won, for people (`syncline history`)
}

// FieldState is one field of the golden record.
type FieldState struct {
	Value any        // golden value; nil is null
	Prov  Provenance // empty while no contribution decided the value
	// Contribs are the values the entity's source records hold for the
	// field, by record ref (see Ref).
	Contribs map[string]*Contribution
}

// Contribution is what one source record holds for one field.
type Contribution struct {
	Source, Key string
	Value       any
	Set         bool   // Value is set (false: only a held change was seen)
	Position    string // position of Value
	CommitMs    int64  // commit time of Value
	Seen        string // highest position processed for this field, held changes included
	// Retained: the record was deleted after this value. Policies that
	// keep values (all but sum and system_of_record) still count it.
	Retained bool
	Review   string // id of the review that approved Value, if any
}

// Record is one source record of the entity.
type Record struct {
	Source, Key string
	UpdPos      string // highest position of an upsert
	DelPos      string // highest position of a delete
}

// alive: the record's latest change is an upsert.
func (r *Record) alive() bool { return r.UpdPos > r.DelPos }

// Ref is the key of a source record in State.Records and
// FieldState.Contribs.
func Ref(source, key string) string { return source + "\x00" + key }

// State is the merge state of one entity: its golden record, the
// contributions of its source records, the values last synced with each
// sink, and its reviews. The stage keeps it per entity (see Encode).
type State struct {
	Type, ID string // entity type and id
	// Deleted: the last source record was deleted and the config deletes
	// the entity then.
	Deleted bool
	Fields  map[string]*FieldState
	Records map[string]*Record
	// Synced holds per sink, per field, the value last synced with that
	// system (the base of three_way). A sink and the source reading the
	// same system share its name.
	Synced map[string]map[string]any
	// Pending are the review items not decided yet, by id.
	Pending map[string]*ReviewItem
	// Decided are the decisions taken, by review id.
	Decided map[string]Decision
}

// NewState returns the empty state of an entity.
func NewState(entityType, id string) *State {
	return &State{Type: entityType, ID: id}
}

// Golden returns the golden record: every field with a non-null value.
// Nil for a deleted entity.
func (s *State) Golden() map[string]any {
	if s.Deleted {
		return nil
	}
	out := make(map[string]any, len(s.Fields))
	for n, f := range s.Fields {
		if f.Value != nil {
			out[n] = f.Value
		}
	}
	return out
}

// alive reports whether some source record of the entity exists.
func (s *State) alive() bool {
	for _, r := range s.Records {
		if r.alive() {
			return true
		}
	}
	return false
}

// Clone returns a deep copy of s (values are shared: they are never
// modified in place).
func (s *State) Clone() *State {
	if s == nil {
		return nil
	}
	c := &State{Type: s.Type, ID: s.ID, Deleted: s.Deleted,
		Records: clonePtrs(s.Records), Pending: clonePtrs(s.Pending), Decided: maps.Clone(s.Decided)}
	if s.Fields != nil {
		c.Fields = make(map[string]*FieldState, len(s.Fields))
		for n, f := range s.Fields {
			c.Fields[n] = &FieldState{Value: f.Value, Prov: f.Prov, Contribs: clonePtrs(f.Contribs)}
		}
	}
	if s.Synced != nil {
		c.Synced = make(map[string]map[string]any, len(s.Synced))
		for k, m := range s.Synced {
			c.Synced[k] = maps.Clone(m)
		}
	}
	return c
}

// clonePtrs copies a map and the values its pointers point to.
func clonePtrs[V any](m map[string]*V) map[string]*V {
	if m == nil {
		return nil
	}
	out := make(map[string]*V, len(m))
	for k, v := range m {
		c := *v
		out[k] = &c
	}
	return out
}

// HoldKind says why a change was held for review.
type HoldKind string

// The hold kinds.
const (
	HoldAnomaly    HoldKind = "anomaly"     // numeric move beyond the factor
	HoldHighStakes HoldKind = "high_stakes" // any change of a high-stakes field
	HoldConflict   HoldKind = "conflict"    // three_way: both sides changed
)

// ReviewItem is a change of one field held for a person to decide.
type ReviewItem struct {
	// ID is stable: derived from entity type and id, field, source,
	// source key and change position, so a redelivered change can never
	// make a second item.
	ID                 string
	EntityType, Entity string
	Field              string
	Kind               HoldKind
	Source, Key        string
	Position           string
	CommitMs           int64
	Value              any    // the value the source sent
	Current            any    // the golden value when the change was held
	Proposed           any    // the golden value approval would have given then
	Reason             string // for people
}

// Decision is a person's decision on a review item.
type Decision string

// The decisions.
const (
	Approve Decision = "approve"
	Reject  Decision = "reject"
)

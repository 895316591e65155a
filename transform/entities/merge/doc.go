// Package merge is the field-level merge engine of the entities stage: it
// turns the changes of an entity's source records into one golden record,
// field by field, by the policies the entity's config sets, and holds for a
// person what a rule must not decide. It is a pure library: no Kafka, no
// storage, no clock; the stage feeds it changes, persists the [State] it
// returns (see [Encode]) and publishes the [Output].
//
//	Change (source, key, op, commit time, position, fields)
//	    │
//	Merger.Apply(state, change) ──▶ new State, Output{Delta, Reviews, Events}
//	    │                                          │        │        └─ syncline_conflicts_total
//	    │                                          │        └─ _<prefix>.review
//	    │                                          └─ <prefix>.entity.<entity>
//	Merger.ApplyDecision(state, review id, approve|reject)
//	Merger.MarkSynced(state, sink, values)  (base of three_way)
//	Merger.Combine(into, from)              (identity found one entity in two)
//
// Apply, ApplyDecision, MarkSynced and Combine leave the states passed in
// unmodified; ApplyInPlace saves that copy for a caller that owns the
// state it decoded.
//
// # State
//
// Per field the state keeps the golden value with its [Provenance] and one
// [Contribution] per source record (source, key): the value that record
// holds, at which position and commit time. Every policy but three_way is a
// function of the contributions, so the golden value does not depend on
// the order in which changes of different source records arrive (those of
// one record arrive in position order, as the per-key ordered change
// topics deliver them), and a redelivery (a position the state has
// processed for that record and field) changes nothing and outputs
// nothing. A value a record already held keeps the commit time and
// position it was set at, so an after image that carries a system's
// unchanged, stale values along with the field it did change does not
// make them newer than another system's later edit; a null from a record
// that never held a value for the field does not count (a null after a
// value clears it).
//
// # Last writer wins
//
// The order is total: commit time, then source rank (Config.Sources, first
// highest), then source name (byte-wise), then position (string order, as
// the capture packages write them), then source key; the greatest wins
// ([Merger.Less]).
//
// # Review
//
// A change that would move a field with an anomaly check by more than its
// factor, change a high-stakes field, or meet a true three-way conflict is
// held: the value does not count, the record's position is marked seen,
// and a [ReviewItem] with a stable id ([ReviewID]: entity, field, source,
// key, position) is output once. ApplyDecision applies (approve) or drops
// (reject) it exactly once; a second decision is a no-op that says so
// (OutcomeAlreadyDecided). An approval whose record has since sent a later
// value for the field is superseded. Deletes are never held.
//
// # Deletes
//
// A delete marks its record's values as those of a deleted record: sum and
// system_of_record stop counting them (the sum drops that part, the field
// of a deleted system of record becomes null); the other policies keep the
// golden value. With Config.DeleteWhenNoSources the entity is deleted when
// its last live record is: its values are cleared and Delta.Deleted is set;
// a later upsert creates it again.
package merge

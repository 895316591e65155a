package merge

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"syncline/schemas"
)

// Resolution labels of Event (the `resolution` label of
// syncline_conflicts_total): a policy name when a policy settled a
// disagreement between sources, or one of these.
const (
	ResolutionReview   = "review"   // held for review
	ResolutionApproved = "approved" // review approved
	ResolutionRejected = "rejected" // review rejected
)

// Event is a conflict and how it was resolved, for
// syncline_conflicts_total{entity,field,resolution}.
type Event struct {
	Entity     string // entity type
	Field      string
	Resolution string // a Policy, or ResolutionReview/Approved/Rejected
	// Source, Key and Position identify the change that met the conflict.
	Source, Key, Position string
	Winner                string // source whose value the field has after it
}

// FieldChange is one field of the golden record that changed.
type FieldChange struct {
	Field    string
	Old, New any
	Prov     Provenance
}

// Delta is how the golden record changed.
type Delta struct {
	EntityType, Entity string
	Created            bool          // the entity had no live source record before
	Deleted            bool          // the entity was deleted (Config.DeleteWhenNoSources)
	Fields             []FieldChange // by field name
}

// Outcome says what a review decision did.
type Outcome string

// The outcomes.
const (
	OutcomeApplied        Outcome = "applied"         // approved: the held value was applied
	OutcomeDropped        Outcome = "dropped"         // rejected: the held value was dropped
	OutcomeSuperseded     Outcome = "superseded"      // approved, but a later change of that record and field (or the entity's deletion) came first; nothing applied
	OutcomeAlreadyDecided Outcome = "already_decided" // the item was decided before; nothing done
)

// Output is what one Apply, ApplyDecision or MarkSynced produced. A change
// already processed (a redelivery, or a change older than what the state
// holds for every field it carries) produces an empty Output.
type Output struct {
	Delta   *Delta       // nil when the golden record did not change
	Reviews []ReviewItem // items newly held
	Events  []Event
	// Missing lists the required fields whose golden value is null, when
	// Delta is set and the entity is not deleted.
	Missing []string
	// Outcome of ApplyDecision; "" otherwise.
	Outcome Outcome
	// Previous is the earlier decision when Outcome is
	// OutcomeAlreadyDecided.
	Previous Decision
	// Diverged reports that the change brought a new value for a field
	// that lost to the golden value (a chosen-value policy: not sum, set
	// or three_way): the source record now disagrees with the golden
	// record although the golden record did not change. Two-way sync
	// writes the golden value back to it, so the golden record is emitted
	// again.
	Diverged bool
}

// Empty reports whether the output carries nothing.
func (o Output) Empty() bool {
	return o.Delta == nil && len(o.Reviews) == 0 && len(o.Events) == 0 && o.Outcome == ""
}

// ErrUnknownReview is returned by ApplyDecision for an id the state has
// neither pending nor decided.
var ErrUnknownReview = errors.New("unknown review item")

// Merger applies changes to entity states by one entity type's config. It
// is immutable and safe for concurrent use; the states it returns are new
// values (the state passed in is never modified).
type Merger struct {
	entity string
	cfg    Config
	fields map[string]*field
	rank   map[string]int
}

// New checks cfg and returns the merger of entity type entity.
func New(entity string, cfg Config) (*Merger, error) {
	if entity == "" {
		return nil, errors.New("merge: empty entity type")
	}
	fields, err := cfg.compile()
	if err != nil {
		return nil, fmt.Errorf("entity %s: %w", entity, err)
	}
	m := &Merger{entity: entity, cfg: cfg, fields: fields, rank: map[string]int{}}
	for i, s := range cfg.Sources {
		m.rank[s] = len(cfg.Sources) - i
	}
	return m, nil
}

// Entity returns the entity type.
func (m *Merger) Entity() string { return m.entity }

func (m *Merger) fieldCfg(name string) *field {
	if f, ok := m.fields[name]; ok {
		return f
	}
	return m.fields[""]
}

// Less is the last_writer_wins order: a < b when a's commit time is
// earlier; at equal commit times when a's source ranks lower
// (Config.Sources, first is highest, unlisted lowest); then when a's
// source name is byte-wise smaller; then a's position; then a's source
// key. It is total over contributions of distinct records or positions,
// so every process picks the same winner whatever the arrival order.
func (m *Merger) Less(a, b *Contribution) bool {
	if a.CommitMs != b.CommitMs {
		return a.CommitMs < b.CommitMs
	}
	if ra, rb := m.rank[a.Source], m.rank[b.Source]; ra != rb {
		return ra < rb
	}
	if a.Source != b.Source {
		return a.Source < b.Source
	}
	if a.Position != b.Position {
		return a.Position < b.Position
	}
	return a.Key < b.Key
}

func (m *Merger) latest(best, c *Contribution) *Contribution {
	if best == nil || m.Less(best, c) {
		return c
	}
	return best
}

// decide computes a field's golden value from its contributions (every
// policy but three_way).
func (m *Merger) decide(fc *field, contribs map[string]*Contribution) (any, Provenance) {
	var best *Contribution
	var reason string
	n := 0
	var value any
	switch fc.policy {
	case LastWriterWins:
		for _, c := range contribs {
			if c.Set {
				best = m.latest(best, c)
			}
		}
		reason = "latest by (commit time, source rank, source, position, key)"
		if best != nil {
			value = best.Value
		}
	case SystemOfRecord:
		for _, c := range contribs {
			if c.Set && !c.Retained && c.Source == fc.SystemOfRecord {
				best = m.latest(best, c)
			}
		}
		reason = "system of record " + fc.SystemOfRecord
		if best != nil {
			value = best.Value
		} else {
			reason += " has no value"
		}
	case SourcePriority:
		prio := func(c *Contribution) int {
			if p, ok := fc.priority[c.Source]; ok {
				return p
			}
			return len(fc.priority)
		}
		for _, c := range contribs {
			if !c.Set || c.Value == nil {
				continue
			}
			if best == nil {
				best = c
				continue
			}
			pb, pc := prio(best), prio(c)
			if pc < pb || (pc == pb && m.Less(best, c)) {
				best = c
			}
		}
		if best != nil {
			value = best.Value
			if p := prio(best); p < len(fc.priority) {
				reason = fmt.Sprintf("first non-null by source priority %v (rank %d)", fc.SourcePriority, p+1)
			} else {
				reason = fmt.Sprintf("no source of priority %v has a value; latest of the others", fc.SourcePriority)
			}
		} else {
			reason = "no source has a value"
		}
	case Min, Max:
		for _, c := range contribs {
			if !c.Set || c.Value == nil {
				continue
			}
			n++
			if best == nil {
				best = c
				continue
			}
			cmp := compareValues(c.Value, best.Value)
			if fc.policy == Max {
				cmp = -cmp
			}
			if cmp < 0 || (cmp == 0 && m.Less(best, c)) {
				best = c
			}
		}
		if best != nil {
			value = best.Value
		}
		reason = fmt.Sprintf("%s of %d values", fc.policy, n)
	case Sum, Set:
		refs := make([]string, 0, len(contribs))
		for r, c := range contribs {
			if !c.Set || c.Value == nil || (fc.policy == Sum && c.Retained) {
				continue
			}
			refs = append(refs, r)
			best = m.latest(best, c)
		}
		sort.Strings(refs)
		vals := make([]any, len(refs))
		for i, r := range refs {
			vals[i] = contribs[r].Value
		}
		if fc.policy == Sum {
			value = sumValues(vals)
			reason = fmt.Sprintf("sum of %d source records", len(vals))
		} else {
			value = union(vals)
			reason = fmt.Sprintf("union of %d source records", len(vals))
		}
	}
	p := Provenance{Policy: fc.policy, Reason: reason}
	if best != nil {
		p.Source, p.Key, p.Position, p.CommitMs = best.Source, best.Key, best.Position, best.CommitMs
		if best.Review != "" {
			p.Reason += "; approved in review " + best.Review
		}
	}
	return value, p
}

// ReviewID is the stable id of the review item for a change of field.
func ReviewID(entityType, entity, field, source, key, position string) string {
	h := sha256.New()
	for _, s := range []string{entityType, entity, field, source, key, position} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// check validates ch and returns its fields normalized.
func (m *Merger) check(st *State, ch *Change) (map[string]any, error) {
	if st == nil {
		return nil, errors.New("merge: nil state (use NewState)")
	}
	if st.Type != m.entity {
		return nil, fmt.Errorf("merge: state of entity type %q given to the merger of %q", st.Type, m.entity)
	}
	if ch.Entity != m.entity {
		return nil, fmt.Errorf("merge: change of entity type %q given to the merger of %q", ch.Entity, m.entity)
	}
	if ch.Source == "" {
		return nil, errors.New("merge: change has no source")
	}
	if ch.Position == "" {
		return nil, fmt.Errorf("merge: change from %s key %q has no position", ch.Source, ch.Key)
	}
	switch ch.Op {
	case schemas.OpCreate, schemas.OpUpdate, schemas.OpRead:
	case schemas.OpDelete:
		return nil, nil
	default:
		return nil, fmt.Errorf("merge: change from %s key %q: op %q is not an upsert or a delete", ch.Source, ch.Key, ch.Op)
	}
	fields := make(map[string]any, len(ch.Fields))
	for n, v := range ch.Fields {
		nv, err := normValue(v)
		if err != nil {
			return nil, fmt.Errorf("merge: change from %s key %q: field %s: %w", ch.Source, ch.Key, n, err)
		}
		if fc := m.fieldCfg(n); fc.policy == Sum && nv != nil && !isNumber(nv) {
			return nil, fmt.Errorf("merge: change from %s key %q: field %s: policy sum needs a number, got %T", ch.Source, ch.Key, n, nv)
		}
		fields[n] = nv
	}
	return fields, nil
}

// Check reports whether Apply would refuse ch (a bad position, op or
// value), without a state: the stage checks a change before it does
// anything else with it.
func (m *Merger) Check(ch Change) error {
	_, err := m.check(NewState(m.entity, ""), &ch)
	return err
}

// Apply applies one change to st and returns the new state and what it
// produced; st is not modified. Errors (bad input) leave no effect.
//
// An upsert sets, per field it carries, the record's contribution, unless
// the state already processed that field at this or a later position of
// the record (so a redelivery produces nothing); the field's policy then
// decides the golden value. A change that would move the golden value of
// a field with an anomaly check beyond its factor, or change a high-stakes
// field, is held as a ReviewItem instead (its value does not count until
// approved). A delete marks the record deleted: sum and system_of_record
// stop counting its values, the other policies keep them (the golden value
// stays), and with Config.DeleteWhenNoSources the entity is deleted when it
// was the last live record. Changes of one source record must arrive in
// position order (see carry); the final state then does not depend on how
// the changes of different records interleave (anomaly and high-stakes
// holds and three_way aside: those depend on what the golden record held
// at the time, by design).
func (m *Merger) Apply(st *State, ch Change) (*State, Output, error) {
	if st == nil {
		return st, Output{}, errors.New("merge: nil state (use NewState)")
	}
	s := st.Clone()
	out, err := m.ApplyInPlace(s, ch)
	if err != nil {
		return st, Output{}, err
	}
	return s, out, nil
}

// ApplyInPlace is Apply modifying s itself, for a caller that owns s (the
// stage decodes a fresh State per change): it saves the copy. On error s
// is unchanged.
func (m *Merger) ApplyInPlace(s *State, ch Change) (Output, error) {
	fields, err := m.check(s, &ch)
	if err != nil {
		return Output{}, err
	}
	d := &Delta{EntityType: s.Type, Entity: s.ID}
	var out Output
	if ch.Op == schemas.OpDelete {
		m.applyDelete(s, ch, d)
	} else {
		m.applyUpsert(s, ch, fields, d, &out)
	}
	m.finish(s, d, &out)
	return out, nil
}

func (m *Merger) finish(s *State, d *Delta, out *Output) {
	if !d.Created && !d.Deleted && len(d.Fields) == 0 {
		return
	}
	sort.Slice(d.Fields, func(i, j int) bool { return d.Fields[i].Field < d.Fields[j].Field })
	out.Delta = d
	if s.Deleted {
		return
	}
	var names []string
	for n, f := range m.fields {
		if n != "" && f.Required && (s.Fields[n] == nil || s.Fields[n].Value == nil) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out.Missing = names
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *State) field(name string) *FieldState {
	if s.Fields == nil {
		s.Fields = map[string]*FieldState{}
	}
	fs := s.Fields[name]
	if fs == nil {
		fs = &FieldState{}
		s.Fields[name] = fs
	}
	if fs.Contribs == nil {
		fs.Contribs = map[string]*Contribution{}
	}
	return fs
}

func (s *State) record(source, key string) *Record {
	if s.Records == nil {
		s.Records = map[string]*Record{}
	}
	ref := Ref(source, key)
	r := s.Records[ref]
	if r == nil {
		r = &Record{Source: source, Key: key}
		s.Records[ref] = r
	}
	return r
}

func (s *State) setSynced(sink, name string, v any) {
	if s.Synced == nil {
		s.Synced = map[string]map[string]any{}
	}
	if s.Synced[sink] == nil {
		s.Synced[sink] = map[string]any{}
	}
	s.Synced[sink][name] = v
}

// set changes a field's golden value, recording the change in d.
func set(d *Delta, name string, fs *FieldState, v any, p Provenance) {
	if !equal(fs.Value, v) {
		d.Fields = append(d.Fields, FieldChange{Field: name, Old: fs.Value, New: v, Prov: p})
	}
	fs.Value, fs.Prov = v, p
}

func (m *Merger) applyUpsert(s *State, ch Change, fields map[string]any, d *Delta, out *Output) {
	wasAlive := !s.Deleted && s.alive()
	rec := s.record(ch.Source, ch.Key)
	if s.Deleted && ch.Position <= rec.DelPos {
		return // older than the delete that deleted the entity
	}
	if ch.Position > rec.UpdPos {
		rec.UpdPos = ch.Position
	}
	s.Deleted = false
	if !wasAlive && s.alive() {
		d.Created = true
	}
	ref := Ref(ch.Source, ch.Key)
	retained := ch.Position <= rec.DelPos
	for _, name := range sortedKeys(fields) {
		v := fields[name]
		fs := s.field(name)
		old := fs.Contribs[ref]
		if old != nil && ch.Position <= old.Seen {
			continue // processed before
		}
		nc := &Contribution{Source: ch.Source, Key: ch.Key, Value: v, Set: true, Position: ch.Position,
			CommitMs: ch.CommitMs, Seen: ch.Position, Retained: retained}
		fc := m.fieldCfg(name)
		if fc.policy == ThreeWay {
			m.threeWay(s, ch, name, fs, nc, retained, d, out)
			continue
		}
		nc = carry(old, nc)
		fs.Contribs[ref] = nc
		val, prov := m.decide(fc, fs.Contribs)
		if !equal(fs.Value, val) {
			if kind, why, ok := hold(fc, fs.Value, val); ok {
				// Restore the record's previous value, remember the
				// position as seen.
				keep := &Contribution{Source: ch.Source, Key: ch.Key, Seen: ch.Position}
				if old != nil {
					c := *old
					c.Seen = ch.Position
					keep = &c
				}
				fs.Contribs[ref] = keep
				m.holdItem(s, ch, name, kind, v, fs.Value, val, why, out)
				continue
			}
		}
		if fc.policy != Sum && fc.policy != Set && nc.Set && (old == nil || !equal(old.Value, nc.Value)) && !equal(nc.Value, val) {
			out.Diverged = true
		}
		if m.conflicts(fc, fs, ref, ch.Source, v, val) {
			out.Events = append(out.Events, Event{Entity: m.entity, Field: name, Resolution: string(fc.policy),
				Source: ch.Source, Key: ch.Key, Position: ch.Position, Winner: prov.Source})
		}
		set(d, name, fs, val, prov)
	}
}

// carry returns the contribution a record's new value nc makes, given its
// previous one old (changes of one record arrive in position order, as
// they do on the per-key ordered change topics):
//
//   - A value the record already held keeps the position and commit time
//     it was set at, so an update of some other field of the record, which
//     carries its unchanged (maybe stale) values along in the after image,
//     does not make them newer than another source's later edit.
//   - A null from a record that never held a value for the field is no
//     value at all (it does not clear what other sources set); a null after
//     a value clears it, like any value.
//   - A null from a record re-created after a delete leaves the deleted
//     record's kept value in place.
func carry(old, nc *Contribution) *Contribution {
	if old != nil && old.Set && !nc.Retained &&
		((!old.Retained && equal(old.Value, nc.Value)) || (old.Retained && nc.Value == nil)) {
		c := *old
		c.Seen = nc.Seen
		return &c
	}
	if nc.Value == nil && (old == nil || !old.Set) {
		nc.Set = false
	}
	return nc
}

// conflicts reports whether the value v a change brought for a field
// disagreed with another source: for system_of_record, a value from
// another source that is not the golden one; for last_writer_wins,
// source_priority, min and max, another record holding a different
// value. Sum and set combine values and never conflict.
func (m *Merger) conflicts(fc *field, fs *FieldState, ref, source string, v, golden any) bool {
	switch fc.policy {
	case SystemOfRecord:
		return source != fc.SystemOfRecord && !equal(v, golden)
	case Sum, Set:
		return false
	}
	for r, c := range fs.Contribs {
		if r != ref && c.Set && !equal(c.Value, v) {
			return true
		}
	}
	return false
}

func hold(fc *field, from, to any) (HoldKind, string, bool) {
	if fc.HighStakes {
		return HoldHighStakes, "high-stakes field: every change is reviewed", true
	}
	if fc.Anomaly != nil {
		if ok, why := anomalous(from, to, fc.Anomaly.Factor); ok {
			return HoldAnomaly, fmt.Sprintf("%s (anomaly factor %g)", why, fc.Anomaly.Factor), true
		}
	}
	return "", "", false
}

func (m *Merger) holdItem(s *State, ch Change, name string, kind HoldKind, v, current, proposed any, why string, out *Output) {
	id := ReviewID(s.Type, s.ID, name, ch.Source, ch.Key, ch.Position)
	if _, ok := s.Pending[id]; ok {
		return
	}
	if _, ok := s.Decided[id]; ok {
		return
	}
	it := &ReviewItem{ID: id, EntityType: s.Type, Entity: s.ID, Field: name, Kind: kind,
		Source: ch.Source, Key: ch.Key, Position: ch.Position, CommitMs: ch.CommitMs,
		Value: v, Current: current, Proposed: proposed, Reason: why}
	if s.Pending == nil {
		s.Pending = map[string]*ReviewItem{}
	}
	s.Pending[id] = it
	out.Reviews = append(out.Reviews, *it)
	winner := ""
	if fs := s.Fields[name]; fs != nil {
		winner = fs.Prov.Source
	}
	out.Events = append(out.Events, Event{Entity: m.entity, Field: name, Resolution: ResolutionReview,
		Source: ch.Source, Key: ch.Key, Position: ch.Position, Winner: winner})
}

// threeWay merges a change of a three_way field: base is the value last
// synced with the change's source (its name as a sink), ours the golden
// value, theirs the change's. The source holds theirs afterwards, so it
// becomes both the record's contribution and the synced base.
func (m *Merger) threeWay(s *State, ch Change, name string, fs *FieldState, nc *Contribution, retained bool, d *Delta, out *Output) {
	base, hasBase := s.Synced[ch.Source][name]
	ours, theirs := fs.Value, nc.Value
	fs.Contribs[Ref(ch.Source, ch.Key)] = nc
	s.setSynced(ch.Source, name, theirs)
	if retained {
		return // the record was deleted after this change
	}
	var reason string
	switch {
	case equal(ours, theirs):
		return
	case hasBase && equal(theirs, base):
		return // the source did not change it; ours stands
	case hasBase && equal(ours, base):
		reason = fmt.Sprintf("only %s changed since the last sync", ch.Source)
	case !hasBase && ours == nil:
		reason = "first value"
	default:
		why := fmt.Sprintf("both changed since the last sync (base %v, golden %v, %s %v)", fmtBase(base, hasBase), ours, ch.Source, theirs)
		m.holdItem(s, ch, name, HoldConflict, theirs, ours, theirs, why, out)
		return
	}
	fc := m.fieldCfg(name)
	if kind, why, ok := hold(fc, ours, theirs); ok {
		m.holdItem(s, ch, name, kind, theirs, ours, theirs, why, out)
		return
	}
	set(d, name, fs, theirs, Provenance{Source: ch.Source, Key: ch.Key, Position: ch.Position,
		CommitMs: ch.CommitMs, Policy: ThreeWay, Reason: reason})
}

func fmtBase(v any, ok bool) any {
	if !ok {
		return "none"
	}
	return v
}

func (m *Merger) applyDelete(s *State, ch Change, d *Delta) {
	wasAlive := !s.Deleted && s.alive()
	rec := s.record(ch.Source, ch.Key)
	if ch.Position <= rec.DelPos {
		return // processed before
	}
	rec.DelPos = ch.Position
	ref := Ref(ch.Source, ch.Key)
	for _, name := range sortedKeys(s.Fields) {
		fs := s.Fields[name]
		c := fs.Contribs[ref]
		if c == nil || !c.Set || c.Position > ch.Position {
			continue
		}
		c.Retained = true
		if fc := m.fieldCfg(name); fc.policy != ThreeWay {
			val, prov := m.decide(fc, fs.Contribs)
			set(d, name, fs, val, prov)
		}
	}
	if m.cfg.DeleteWhenNoSources && wasAlive && !s.alive() {
		for _, name := range sortedKeys(s.Fields) {
			fs := s.Fields[name]
			if fs.Value != nil {
				d.Fields = append(d.Fields, FieldChange{Field: name, Old: fs.Value, Prov: Provenance{
					Source: ch.Source, Key: ch.Key, Position: ch.Position, CommitMs: ch.CommitMs,
					Policy: m.fieldCfg(name).policy, Reason: "entity deleted: its last source record was deleted"}})
			}
		}
		s.Fields, s.Synced = nil, nil
		s.Deleted = true
		d.Deleted = true
	}
}

// ApplyDecision applies a decision on the pending review item id: approve
// applies the held value (the field's policy recomputes the golden value,
// without anomaly or high-stakes checks; for three_way the value becomes
// the golden one), reject drops it. Each item is decided once: a decision
// on an item decided before returns st unchanged with
// OutcomeAlreadyDecided. An id the state does not know is
// ErrUnknownReview.
func (m *Merger) ApplyDecision(st *State, id string, dec Decision) (*State, Output, error) {
	if st == nil || st.Type != m.entity {
		return st, Output{}, fmt.Errorf("merge: decision on a state that is not of entity type %q", m.entity)
	}
	if dec != Approve && dec != Reject {
		return st, Output{}, fmt.Errorf("merge: decision %q, want approve or reject", dec)
	}
	if prev, ok := st.Decided[id]; ok {
		return st, Output{Outcome: OutcomeAlreadyDecided, Previous: prev}, nil
	}
	it0, ok := st.Pending[id]
	if !ok {
		return st, Output{}, fmt.Errorf("merge: entity %s %s: review %s: %w", st.Type, st.ID, id, ErrUnknownReview)
	}
	s := st.Clone()
	it := *it0
	delete(s.Pending, id)
	if s.Decided == nil {
		s.Decided = map[string]Decision{}
	}
	s.Decided[id] = dec
	d := &Delta{EntityType: s.Type, Entity: s.ID}
	out := Output{}
	ev := Event{Entity: m.entity, Field: it.Field, Source: it.Source, Key: it.Key, Position: it.Position}
	if dec == Reject {
		out.Outcome = OutcomeDropped
		ev.Resolution = ResolutionRejected
	} else {
		out.Outcome = m.approve(s, &it, d)
		ev.Resolution = ResolutionApproved
	}
	if fs := s.Fields[it.Field]; fs != nil {
		ev.Winner = fs.Prov.Source
	}
	out.Events = append(out.Events, ev)
	m.finish(s, d, &out)
	return s, out, nil
}

func (m *Merger) approve(s *State, it *ReviewItem, d *Delta) Outcome {
	if s.Deleted {
		return OutcomeSuperseded
	}
	ref := Ref(it.Source, it.Key)
	fs := s.field(it.Field)
	c := fs.Contribs[ref]
	if c != nil && c.Seen > it.Position { // the record sent a later value of the field since
		return OutcomeSuperseded
	}
	fc := m.fieldCfg(it.Field)
	if fc.policy == ThreeWay {
		set(d, it.Field, fs, it.Value, Provenance{Source: it.Source, Key: it.Key, Position: it.Position,
			CommitMs: it.CommitMs, Policy: ThreeWay, Reason: "approved in review " + it.ID})
		return OutcomeApplied
	}
	rec := s.record(it.Source, it.Key)
	nc := &Contribution{Source: it.Source, Key: it.Key, Value: it.Value, Set: true, Position: it.Position,
		CommitMs: it.CommitMs, Seen: it.Position, Retained: it.Position <= rec.DelPos, Review: it.ID}
	if c != nil && c.Seen > nc.Seen {
		nc.Seen = c.Seen
	}
	fs.Contribs[ref] = nc
	val, prov := m.decide(fc, fs.Contribs)
	set(d, it.Field, fs, val, prov)
	return OutcomeApplied
}

// MarkSynced records that the golden values in fields were written to
// (or confirmed by) the system sink: they become the base three_way
// compares that system's next changes with. st is not modified.
func (m *Merger) MarkSynced(st *State, sink string, fields map[string]any) (*State, error) {
	if st == nil || st.Type != m.entity {
		return st, fmt.Errorf("merge: mark synced on a state that is not of entity type %q", m.entity)
	}
	if sink == "" {
		return st, errors.New("merge: mark synced: empty sink name")
	}
	s := st.Clone()
	for _, n := range sortedKeys(fields) {
		v, err := normValue(fields[n])
		if err != nil {
			return st, fmt.Errorf("merge: mark synced %s: field %s: %w", sink, n, err)
		}
		s.setSynced(sink, n, v)
	}
	return s, nil
}

package merge

import (
	"fmt"
)

// Combine merges the state from into the state into, when identity
// resolution finds that they are one entity, and returns the combined
// state (into's type and id) with the delta of into's golden record; into
// and from are not modified. Records and their values are united (a record
// both know keeps its latest value per field), and every policy but
// three_way recomputes the golden value from them, so combining gives the
// state one entity would have had from the same changes. A three_way field
// both hold with different values takes the one whose provenance is
// greater in the LWW order (Less). Pending and decided reviews are united;
// pending items now name into's id. Values last synced with a sink are
// into's where both have one.
func (m *Merger) Combine(into, from *State) (*State, Output, error) {
	for _, st := range []*State{into, from} {
		if st == nil || st.Type != m.entity {
			return into, Output{}, fmt.Errorf("merge: combine: a state that is not of entity type %q", m.entity)
		}
	}
	if into.ID == from.ID {
		return into, Output{}, fmt.Errorf("merge: combine: entity %s %s with itself", into.Type, into.ID)
	}
	s := into.Clone()
	f := from.Clone()
	wasAlive := !s.Deleted && s.alive()
	for _, r := range f.Records {
		rec := s.record(r.Source, r.Key)
		rec.UpdPos = max(rec.UpdPos, r.UpdPos)
		rec.DelPos = max(rec.DelPos, r.DelPos)
	}
	d := &Delta{EntityType: s.Type, Entity: s.ID}
	var out Output
	for _, name := range sortedKeys(f.Fields) {
		ff := f.Fields[name]
		fs := s.field(name)
		for ref, c := range ff.Contribs {
			have := fs.Contribs[ref]
			switch {
			case have == nil:
				fs.Contribs[ref] = c
			case c.Set && (!have.Set || c.Seen > have.Seen):
				c.Seen = max(c.Seen, have.Seen)
				fs.Contribs[ref] = c
			default:
				have.Seen = max(c.Seen, have.Seen)
			}
		}
		if m.fieldCfg(name).policy == ThreeWay && ff.Value != nil && !equal(ff.Value, fs.Value) {
			if fs.Value == nil || m.Less(provContrib(fs.Prov), provContrib(ff.Prov)) {
				if fs.Value != nil {
					out.Events = append(out.Events, Event{Entity: m.entity, Field: name, Resolution: string(ThreeWay),
						Source: ff.Prov.Source, Key: ff.Prov.Key, Position: ff.Prov.Position, Winner: ff.Prov.Source})
				}
				set(d, name, fs, ff.Value, ff.Prov)
			}
		}
	}
	// Values of records deleted (in either state) before them count as
	// such; recompute every other policy.
	for _, name := range sortedKeys(s.Fields) {
		fs := s.Fields[name]
		for ref, c := range fs.Contribs {
			if rec := s.Records[ref]; rec != nil && c.Set {
				c.Retained = c.Position <= rec.DelPos
			}
		}
		if fc := m.fieldCfg(name); fc.policy != ThreeWay {
			val, prov := m.decide(fc, fs.Contribs)
			set(d, name, fs, val, prov)
		}
	}
	for sink, vals := range f.Synced {
		for n, v := range vals {
			if _, ok := s.Synced[sink][n]; !ok {
				s.setSynced(sink, n, v)
			}
		}
	}
	for id, it := range f.Pending {
		if _, done := s.Decided[id]; done {
			continue
		}
		if s.Pending == nil {
			s.Pending = map[string]*ReviewItem{}
		}
		it.Entity = s.ID
		s.Pending[id] = it
	}
	for id, dec := range f.Decided {
		if s.Decided == nil {
			s.Decided = map[string]Decision{}
		}
		s.Decided[id] = dec
		delete(s.Pending, id)
	}
	s.Deleted = s.Deleted && f.Deleted
	if !wasAlive && !s.Deleted && s.alive() {
		d.Created = true
	}
	m.finish(s, d, &out)
	return s, out, nil
}

func provContrib(p Provenance) *Contribution {
	return &Contribution{Source: p.Source, Key: p.Key, Position: p.Position, CommitMs: p.CommitMs}
}

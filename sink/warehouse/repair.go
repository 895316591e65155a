package warehouse

import (
	"fmt"

	"syncline/schemas"
)

// SetRepairTopic makes the sink also consume topic, its repair topic
// (see internal/reconcile): ordinary change records of any of the sink's
// tables, produced by `syncline diff --repair`. They are mapped to their
// target by the decoded record's table, not by topic, and applied like
// every change: offsets stored in the same transaction, position guard.
// Call it before Run.
func (s *Sink) SetRepairTopic(topic string) error {
	if topic == "" {
		return nil
	}
	if s.byTopic[topic] != nil {
		return fmt.Errorf("warehouse sink %q: repair topic %s is also a change topic", s.cfg.Name, topic)
	}
	s.repairTopic = topic
	s.topics = append(s.topics, topic)
	return nil
}

// repairTarget is the target of a repair record's table, or nil (with the
// reason) when the record cannot be applied.
func (s *Sink) repairTarget(t *schemas.Table) (*target, error) {
	for _, tgt := range s.targets {
		if tgt.ref.Source == t.Source && tgt.ref.Schema == t.Schema && tgt.ref.Table == t.Name {
			if s.isStopped(tgt) {
				// Its change topic is paused until the table is mended;
				// the repair would stop the sink again and again.
				return nil, fmt.Errorf("table %s is stopped by a schema change; run the diff again once it is mended", t.ID())
			}
			return tgt, nil
		}
	}
	return nil, fmt.Errorf("repair record for table %s, which sink %s does not deliver", t.ID(), s.cfg.Name)
}

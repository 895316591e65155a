package saas

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/internal/topics"
	"syncline/transform/state"
)

// Repairs (syncline diff --repair) reach the engine on the sink's repair
// topic, <prefix>.repair.<name>, which it consumes with its change topics
// in the same group transaction. A Repair is not a change: it tells the
// engine what the provider holds of one record, the engine corrects the
// ledger entry to that and sends what the record's ledger values (the last
// change applied) need on top of it, through the Writer like any op. The
// ledger change is committed with the repair record's offset in the
// sink's transaction, so a repair is applied once, and it never moves the
// ledger's position: later changes of the record are not affected.
//
// A repair applies only when the ledger entry is still the one the diff
// compared (Expect); a change committed since, a retry waiting for the
// record, or a partition this instance does not hold make it a no-op (the
// next diff sees the record again).

// RepairTopic is the repair topic of a sink (as internal/reconcile names
// it).
func RepairTopic(prefix, name string) string { return prefix + ".repair." + topics.Part(name) }

// Repair is one repair record: what the provider holds of the record with
// ledger key Key of input partition (Topic, Partition).
type Repair struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Key       []byte `json:"key"`
	// Expect is the ledger entry the diff compared.
	Expect Entry `json:"expect"`
	// Found: the provider holds an object for the record: ID, and Props
	// its values of the mapped fields.
	Found bool              `json:"found"`
	ID    string            `json:"id,omitempty"`
	Props map[string]string `json:"props,omitempty"`
}

// Record is the repair record of r for the repair topic.
func (r Repair) Record(topic string) *kgo.Record {
	b, _ := json.Marshal(r)
	u := state.Unit{Topic: r.Topic, Partition: r.Partition}
	return &kgo.Record{Topic: topic, Key: u.Key(r.Key), Value: b}
}

// LedgerRecord is one ledger entry as the changelog holds it.
type LedgerRecord struct {
	Unit  state.Unit
	Key   []byte
	Entry Entry
}

// LedgerTopic is the ledger changelog of a sink: _<prefix>.state.sink.<name>.
func LedgerTopic(prefix, name string) string { return topics.State(prefix, "sink."+name) }

// ReadLedger reads a sink's ledger from its changelog (committed records,
// the last value per key) without the sink's Badger store, which the
// running sink holds.
func ReadLedger(ctx context.Context, opts []kgo.Opt, prefix, name string) ([]LedgerRecord, error) {
	topic := LedgerTopic(prefix, name)
	last := map[string][]byte{}
	var order []string
	var perr error
	err := kafka.ReadAll(ctx, opts, topic, func(r *kgo.Record) {
		k := string(r.Key)
		if _, ok := last[k]; !ok {
			order = append(order, k)
		}
		last[k] = r.Value
	})
	if err != nil {
		return nil, fmt.Errorf("read the ledger %s: %w", topic, err)
	}
	var out []LedgerRecord
	for _, k := range order {
		v := last[k]
		if v == nil {
			continue
		}
		u, key, err := state.ParseKey([]byte(k))
		if err != nil {
			perr = fmt.Errorf("ledger %s: %w", topic, err)
			continue
		}
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			perr = fmt.Errorf("ledger %s: entry of %s/%d: %w", topic, u.Topic, u.Partition, err)
			continue
		}
		out = append(out, LedgerRecord{Unit: u, Key: key, Entry: e})
	}
	return out, perr
}

func sameEntry(a, b Entry) bool {
	return a.ID == b.ID && a.Pos == b.Pos && a.Archived == b.Archived && a.Repaired == b.Repaired && maps.Equal(a.Props, b.Props)
}

// addRepair adds a repair record to the batch: the ledger entry corrected
// to what the provider holds, and the record's ledger values to send on
// top of it (or, for an object the provider holds of a record the ledger
// says was deleted, its archive).
func (w *work) addRepair(r *kgo.Record) {
	var rp Repair
	if err := json.Unmarshal(r.Value, &rp); err != nil || rp.Topic == "" {
		if err == nil {
			err = fmt.Errorf("repair record without topic")
		}
		w.park("undecodable", err, r)
		return
	}
	u := state.Unit{Topic: rp.Topic, Partition: rp.Partition}
	log := w.e.log.With("topic", u.Topic, "partition", u.Partition, "repair_offset", r.Offset)
	if !w.e.q.holds(u) {
		w.repairsSkipped++
		log.Warn("repair of a record of a partition this instance does not hold: skipped; run syncline diff again")
		return
	}
	ck := string(u.Key(rp.Key))
	if w.pending[ck] != nil || w.e.q.get(u, rp.Key) != nil {
		w.repairsSkipped++
		log.Info("repair of a record with a retry or another repair pending: skipped; run syncline diff again")
		return
	}
	prev, err := w.ledgerOf(u, rp.Key)
	if err != nil {
		w.err = err
		return
	}
	if prev == nil || !sameEntry(*prev, rp.Expect) {
		w.repairsSkipped++
		log.Info("repair of a record changed since the diff: skipped")
		return
	}
	p := &pendingRec{u: u, key: rp.Key, pos: prev.Pos, rec: r, repair: true}
	if prev.Archived {
		if !rp.Found || rp.ID == "" || w.e.cfg.IgnoreDeletes {
			w.repairsSkipped++
			return
		}
		// The record was deleted, its object is back (restored at the
		// provider): archive it again.
		p.prev = &Entry{ID: rp.ID, Pos: prev.Pos, Props: rp.Props}
		p.del = true
	} else {
		fixed := Entry{Pos: prev.Pos, Props: map[string]string{}}
		if rp.Found {
			fixed.ID = rp.ID
			for k := range prev.Props {
				if v, ok := rp.Props[k]; ok {
					fixed.Props[k] = v
				}
			}
		}
		p.prev, p.props = &fixed, prev.Props
	}
	w.repairs++
	w.pending[ck] = p
	w.order = append(w.order, ck)
}

// holds reports whether unit u is held (assigned) here.
func (q *queue) holds(u state.Unit) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.held[u]
	return ok
}

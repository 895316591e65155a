package saas

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/schemas"
)

// Key reconciliation (deletes.reconcile). The keys the source emitted and
// has not deleted live in the object's compacted keys topic: every
// emitted record writes its key there in the same transaction (its
// position for a live key, a tombstone for a delete), so the set is as
// durable and exactly-once as the records, and scales with compaction
// (one small record per key) rather than with one checkpoint value.
//
// A reconciliation runs in the object's poll, after its updates and
// deletes, so no record of the object is emitted while it runs:
//
//	load:    the key set, read from the keys topic up to the last offset
//	         this run produced there (waiting for it to become stable)
//	list:    every page of the keys-only listing; each key listed is
//	         removed from the set. An error ends the reconciliation with
//	         nothing emitted; the next poll starts it over
//	verify:  each key left is requested on its own when verify is set:
//	         only a 404/410 keeps it a delete
//	emit:    op=d for each key left, at its last position + 1 µs (it sorts
//	         after the version it deletes and before any later one), with
//	         its tombstone, in transactions of up to reconcileBatch; the
//	         last one also stores Reconciled. A kill in between restarts
//	         the reconciliation: the keys deleted already are tombstoned
//	         in the key set, so none is deleted twice.
//
// A record created while the listing is read is not in the key set (the
// object's updates wait), so it cannot be taken for deleted.

// reconcile runs a key reconciliation when one is due.
func (r *run) reconcile(ctx context.Context, ob *object, st *ObjectState) error {
	rc := ob.cfg.Deletes.Reconcile
	if !st.Synced || st.Window != nil || st.Backfill != nil {
		return nil // the initial sync, or a window cut by max_runtime, goes first
	}
	started := time.Now()
	if st.Reconciled == 0 {
		// The first reconciliation is an interval after the initial sync.
		st.Reconciled = started.UnixMicro()
		return r.commit(ctx, ob, st, nil, nil)
	}
	if started.Before(time.UnixMicro(st.Reconciled).Add(rc.Interval)) || started.Before(ob.reconcileAfter) {
		return nil
	}
	// skip ends this reconciliation without deletes; the next is tried
	// in a while (the object's polls go on meanwhile).
	skip := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ob.reconcileAfter = time.Now().Add(min(rc.Interval, 5*time.Minute))
		r.log.Warn("key reconciliation skipped, no deletes emitted; it is tried again", "object", ob.cfg.Name, "at", ob.reconcileAfter.UTC(), "err", err)
		return nil
	}
	keys, err := r.loadKeys(ctx, ob)
	if err != nil {
		return err
	}
	emitted := len(keys)
	listed, err := r.listKeys(ctx, ob, keys)
	if err != nil {
		return skip(fmt.Errorf("listing the keys (%d listed so far; no deletes emitted): %w", listed, err))
	}
	if listed == 0 && emitted > 0 {
		return skip(fmt.Errorf("the listing has no keys at all, and %d were emitted: taken for a faulty listing", emitted))
	}
	// Keys changed within the grace may be missing from a lagging listing.
	recent := started.Add(-rc.Grace).UnixMicro()
	var gone []string
	for _, id := range slices.Sorted(maps.Keys(keys)) {
		if keys[id] <= recent {
			gone = append(gone, id)
		}
	}
	if rc.MaxDeleteFraction < 1 && float64(len(gone)) > rc.MaxDeleteFraction*float64(emitted) {
		return skip(fmt.Errorf("the listing of %d keys lacks %d of the %d emitted, more than max_delete_fraction %.2f: taken for a short listing (raise max_delete_fraction to let such a delete through)",
			listed, len(gone), emitted, rc.MaxDeleteFraction))
	}
	if ob.verify != nil && len(gone) > 0 {
		kept := gone[:0]
		for _, id := range gone {
			ok, err := r.verifyGone(ctx, ob, id)
			if err != nil {
				return skip(fmt.Errorf("verifying key %s (no deletes emitted): %w", id, err))
			}
			if ok {
				kept = append(kept, id)
			}
		}
		gone = kept
	}
	r.log.Info("key reconciliation", "object", ob.cfg.Name, "listed", listed, "emitted", emitted, "gone", len(gone))
	batch := r.reconcileBatch
	if batch <= 0 {
		batch = 1000
	}
	for i := 0; ; i += batch {
		chunk := gone[i:min(i+batch, len(gone))]
		var out []*kgo.Record
		for _, id := range chunk {
			ch := r.deleteChange(ob, id, keys[id]+1)
			ch.Source.CommitMs = started.UnixMilli()
			krs, err := r.encode(ob, ch)
			if err != nil {
				return err
			}
			out = append(out, krs...)
		}
		last := i+batch >= len(gone)
		if last {
			st.Reconciled = started.UnixMicro()
		}
		if len(chunk) > 0 {
			r.reconcileChunks.Add(1)
		}
		if err := r.commit(ctx, ob, st, out, map[schemas.Op]int{schemas.OpDelete: len(chunk)}); err != nil {
			return err
		}
		if last {
			r.reconciles.Add(1)
			return nil
		}
	}
}

// listKeys reads the keys listing through, removing each listed key from
// keys, and returns how many it listed.
func (r *run) listKeys(ctx context.Context, ob *object, keys map[string]int64) (int, error) {
	rc := ob.cfg.Deletes.Reconcile
	w := &Window{Page: initialPage(rc.Pagination)}
	listed := 0
	for {
		recs, next, err := r.fetch(ctx, ob.keys, rc.Pagination, rc.RecordsPath, w, Mark{}, ob.cfg.Cursor.Format)
		if err != nil {
			return listed, err
		}
		for i, rec := range recs {
			id, err := recordID(rec, rc.IDField)
			if err != nil {
				return listed, fmt.Errorf("record %d of the page at %+v: %w", i, w.Page, err)
			}
			delete(keys, id)
		}
		listed += len(recs)
		if next == nil {
			return listed, nil
		}
		if *next == w.Page {
			return listed, fmt.Errorf("the page at %+v names itself as the next one", w.Page)
		}
		w.Page = *next
	}
}

// verifyGone requests a key the listing lacked: true for 404 or 410.
func (r *run) verifyGone(ctx context.Context, ob *object, id string) (bool, error) {
	target, body, err := r.request(ob.verify, vars{ID: id})
	if err != nil {
		return false, err
	}
	_, err = r.http.do(ctx, ob.verify.method, target, body)
	var he *HTTPError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusGone):
		return true, nil
	}
	return false, err
}

// loadKeys reads the object's key set: each live key with its last
// position. It first waits until the last record this run produced to
// the keys topic is stable (a commit's markers may trail its answer).
func (r *run) loadKeys(ctx context.Context, ob *object) (map[string]int64, error) {
	r.mu.Lock()
	want := maps.Clone(ob.keysEnd)
	r.mu.Unlock()
	adm := kadm.NewClient(r.cl)
	for deadline := time.Now().Add(time.Minute); len(want) > 0; {
		ends, err := adm.ListCommittedOffsets(ctx, ob.keysTopic)
		if err != nil {
			return nil, fmt.Errorf("list offsets of %s: %w", ob.keysTopic, err)
		}
		for p, off := range want {
			if e, ok := ends.Lookup(ob.keysTopic, p); ok && e.Err == nil && e.Offset > off {
				delete(want, p)
			}
		}
		if len(want) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: the last committed keys are not readable after a minute", ob.keysTopic)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	keys := map[string]int64{}
	var bad error
	err := kafka.ReadAll(ctx, r.kafkaOpts, ob.keysTopic, func(rec *kgo.Record) {
		if rec.Value == nil {
			delete(keys, string(rec.Key))
			return
		}
		pos, err := strconv.ParseUint(string(rec.Value), 16, 64)
		if err != nil && bad == nil {
			bad = fmt.Errorf("%s: key %q holds %q, not a position", ob.keysTopic, rec.Key, rec.Value)
		}
		keys[string(rec.Key)] = int64(pos)
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, fmt.Errorf("read the key set: %w", err)
	}
	return keys, nil
}

// bootstrapKeys fills the keys topic of an object whose keys were not
// kept until now (reconciliation just configured): from its raw topic,
// the last op of each key (what retention left of it). A new object has
// nothing to fill. The last transaction stores Keys.
func (r *run) bootstrapKeys(ctx context.Context, ob *object, st *ObjectState, resumed bool) error {
	st.Keys = true
	if !resumed {
		return nil // the first commit stores Keys with the first keys
	}
	keys := map[string][]byte{}
	var order []string
	var bad error
	err := kafka.ReadAll(ctx, r.kafkaOpts, ob.topic, func(rec *kgo.Record) {
		ch, err := r.serde.Decode(ctx, rec.Key, rec.Value)
		if err != nil {
			if bad == nil {
				bad = err
			}
			return
		}
		id := fmt.Sprint(ch.Key["id"])
		if _, ok := keys[id]; !ok {
			order = append(order, id)
		}
		keys[id] = nil
		if ch.Op != schemas.OpDelete {
			keys[id] = []byte(ch.Source.Position)
		}
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return fmt.Errorf("read %s to fill the key set: %w", ob.topic, err)
	}
	r.log.Info("filling the key set from the raw topic", "object", ob.cfg.Name, "keys", len(keys))
	const chunk = 5000
	for i := 0; ; i += chunk {
		var out []*kgo.Record
		for _, id := range order[i:min(i+chunk, len(order))] {
			out = append(out, &kgo.Record{Topic: ob.keysTopic, Key: []byte(id), Value: keys[id]})
		}
		if i+chunk >= len(order) {
			return r.commit(ctx, ob, st, out, nil)
		}
		// The chunks before the last store the checkpoint as it was: a
		// kill makes the next run fill the set again.
		st.Keys = false
		err := r.commit(ctx, ob, st, out, nil)
		st.Keys = true
		if err != nil {
			return err
		}
	}
}

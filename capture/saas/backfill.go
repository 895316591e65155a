package saas

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/schemas"
)

// runBackfill reads the object's list endpoint (Object.Backfill) page by
// page, each page's records as op=r committed with the page token; done
// is false when the deadline cut it (it continues at the next poll). Once
// through, the object is synced and its updates start at the backfill's
// start, below which they are not read (Floor): what changed before it
// is in the snapshot.
func (r *run) runBackfill(ctx context.Context, ob *object, st *ObjectState, deadline time.Time) (bool, error) {
	o := ob.cfg
	b := o.Backfill
	if st.Backfill == nil {
		start, err := r.backfillStart(ctx, ob)
		if err != nil {
			return false, err
		}
		st.Backfill = &BackfillState{Start: start, Page: initialPage(b.Pagination)}
		r.log.Info("backfilling from the list endpoint; the updates start after it", "object", o.Name, "updates_from", time.UnixMicro(start).UTC())
	}
	for {
		if time.Now().After(deadline) {
			r.log.Info("max_runtime reached; the backfill continues at the next poll", "object", o.Name, "read", st.Backfill.Read)
			return false, nil
		}
		bs := st.Backfill
		recs, next, err := r.fetch(ctx, ob.backfill, b.Pagination, b.RecordsPath, &Window{Page: bs.Page}, Mark{}, o.Cursor.Format)
		if err != nil {
			return false, err
		}
		// The snapshot sorts just before the start: a change the updates
		// read from the start on sorts after it.
		ts := bs.Start - 1
		var out []*kgo.Record
		for i, rec := range recs {
			id, err := recordID(rec, b.IDField)
			if err != nil {
				return false, fmt.Errorf("record %d of the backfill page at %+v: %w", i, bs.Page, err)
			}
			row, err := r.row(ob, rec, id, ts)
			if err != nil {
				return false, fmt.Errorf("record %s: %w", id, err)
			}
			krs, err := r.encode(ob, &schemas.Change{Table: ob.table, Op: schemas.OpRead, Key: schemas.Row{"id": id}, After: row, Source: r.sourceBlock(ob, ts)})
			if err != nil {
				return false, err
			}
			out = append(out, krs...)
		}
		bs.Read += len(recs)
		if next == nil {
			st.Backfill, st.Synced = nil, true
			st.Cursor = Mark{TS: bs.Start, Floor: bs.Start}
		} else {
			bs.Page = *next
		}
		if err := r.commit(ctx, ob, st, out, map[schemas.Op]int{schemas.OpRead: len(recs)}); err != nil {
			return false, err
		}
		if st.Backfill == nil {
			r.log.Info("backfill complete", "object", o.Name, "read", bs.Read)
			return true, nil
		}
	}
}

// backfillStart is where the updates start after a backfill, recorded
// before its first page: now minus the lookback and settle or, when the
// request lists the newest first (an events API), its newest record's
// updated-at if that is earlier (the provider's clock, should ours run
// ahead), in whole seconds.
func (r *run) backfillStart(ctx context.Context, ob *object) (int64, error) {
	o := ob.cfg
	now := time.Now()
	start := now.Add(-o.Cursor.Lookback - o.Cursor.Settle).UnixMicro()
	if o.Pagination.Order == "descending" {
		p := o.Pagination
		p.Limit = 1
		w := &Window{Until: now.UnixMicro(), Page: initialPage(p)}
		if !o.Cursor.Start.IsZero() {
			w.Since = o.Cursor.Start.UnixMicro()
		}
		recs, _, err := r.fetch(ctx, ob.req, p, o.RecordsPath, w, Mark{}, o.Cursor.Format)
		if err != nil {
			return 0, fmt.Errorf("newest record before the backfill: %w", err)
		}
		if len(recs) > 0 {
			if _, ts, err := recordKey(recs[0], ob.idField, o.Cursor.Field, o.Cursor.Format); err == nil {
				start = min(start, ts)
			}
		}
	}
	return time.UnixMicro(start).Truncate(time.Second).UnixMicro(), nil
}

package changes

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/schemas"
)

// fillUnavailable completes the unchanged TOAST columns Postgres did not
// send (ch.Unavailable): from the key's last row in state where state has
// them, otherwise by re-reading them from the source. It reports false when
// the record was parked in the DLQ instead. An error fails the batch: the
// source cannot be reached now, and the batch is retried from the
// committed offsets.
func (t *txn) fillUnavailable(ctx context.Context, r *kgo.Record, ch *schemas.Change, prevRow schemas.Row) (bool, error) {
	var missing []string
	for _, f := range ch.Unavailable {
		// A row stored under an older schema version lacks columns added
		// since (absent there is not NULL), so those are re-read too.
		if v, ok := prevRow[f]; ok {
			ch.After[f] = v
		} else {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		ch.Unavailable = nil
		return true, nil
	}
	key := ch.Key
	if key == nil {
		key = ch.After
	}
	src := ch.Table.Source
	row, err := t.p.rr.reread(ctx, ch.Table, key, missing)
	var retry retryableError
	switch {
	case err == nil:
		t.p.m.ToastRereads.WithLabelValues(src, rereadOK).Inc()
		for _, f := range missing {
			ch.After[f] = row[f]
		}
		ch.Unavailable = nil
		t.p.log.Debug("unchanged TOAST columns re-read from the source", "table", ch.Table.ID(), "columns", missing, "position", ch.Source.Position)
		return true, nil
	case errors.Is(err, errNoSource):
		t.park(ctx, "toast_unavailable", fmt.Errorf("unchanged TOAST columns %v of %s have no stored value to fill from, and %w (source %q)",
			missing, ch.Table.ID(), err, src), r)
		return false, nil
	case errors.Is(err, errRowDeleted):
		t.p.m.ToastRereads.WithLabelValues(src, rereadRowDeleted).Inc()
		t.park(ctx, "toast_row_deleted", fmt.Errorf("unchanged TOAST columns %v of %s have no stored value to fill from, and re-reading them failed: %w; its delete follows on the stream",
			missing, ch.Table.ID(), err), r)
		return false, nil
	case errors.As(err, &retry):
		t.p.m.ToastRereads.WithLabelValues(src, rereadRetry).Inc()
		return false, fmt.Errorf("unchanged TOAST columns %v of %s need a re-read from the source, which cannot be reached now: %w", missing, ch.Table.ID(), err)
	default:
		t.p.m.ToastRereads.WithLabelValues(src, rereadFailed).Inc()
		t.park(ctx, "toast_reread_failed", fmt.Errorf("unchanged TOAST columns %v of %s have no stored value to fill from, and re-reading them from source %q failed: %w",
			missing, ch.Table.ID(), src, err), r)
		return false, nil
	}
}

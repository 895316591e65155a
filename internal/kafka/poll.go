package kafka

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// PollBatch collects a batch of up to max records: one poll, then more
// until max records or until wait has passed since the first one. poll is
// the PollRecords of a client or a GroupTransactSession; fetch errors other
// than the context's are logged.
func PollBatch(ctx context.Context, poll func(context.Context, int) kgo.Fetches, max int, wait time.Duration, log *slog.Logger) kgo.Fetches {
	fs := poll(ctx, max)
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		}
	})
	if fs.NumRecords() == 0 {
		return fs
	}
	deadline := time.Now().Add(wait)
	for n := fs.NumRecords(); n < max; n = fs.NumRecords() {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		pctx, cancel := context.WithTimeout(ctx, left)
		more := poll(pctx, max-n)
		cancel()
		if more.NumRecords() == 0 {
			break
		}
		fs = append(fs, more...)
	}
	return fs
}

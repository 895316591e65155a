package saas

import (
	"context"
	"log/slog"
	"slices"
	"sync"
)

// Object is what a provider holds of one object a sink wrote: its id and
// the values of the mapped fields, rendered as the ledger holds them (""
// for a field the provider has no value for).
type Object struct {
	ID    string
	Props map[string]string
}

// Reader reads what a provider holds of the objects a sink wrote, for
// syncline diff (internal/reconcile compares it with the ledger). Each
// SaaS sink package implements it with its provider's read API, paced and
// retried like the sink's calls; it needs no state directory.
type Reader interface {
	// ReadIDs reads objects by the provider's id. The answer holds the
	// live objects found, by id: an id the provider does not hold, or
	// holds deleted or archived, is absent.
	ReadIDs(ctx context.Context, ids []string) (map[string]Object, error)
	// ReadKeys reads objects by key field value; the answer holds the
	// live objects found, by Key of their key field value.
	ReadKeys(ctx context.Context, keys []string) (map[string]Object, error)
	// Key is a key field value as the provider compares it.
	Key(v string) string
}

// ReadEach reads ids with one call each, at most n calls at a time, for
// APIs that read one object per call: fetch returns the object and
// whether the provider holds it live. The answer is by id.
func ReadEach(ctx context.Context, ids []string, n int, fetch func(ctx context.Context, id string) (Object, bool, error)) (map[string]Object, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	var mu sync.Mutex
	out := make(map[string]Object, len(ids))
	err := Parallel(ctx, ids, n, func(ctx context.Context, id string) error {
		o, ok, err := fetch(ctx, id)
		if err != nil || !ok {
			return err
		}
		mu.Lock()
		out[id] = o
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadValue renders a value of a provider's JSON answer as the ledger
// holds values (FormatValue; null is "").
func ReadValue(v any) string {
	if v == nil {
		return ""
	}
	return FormatValue(v)
}

// ReadProps are the mapped fields of one object: names (in order) with
// their values as value finds them in the provider's answer.
func ReadProps(names []string, value func(name string) any) map[string]string {
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[n] = ReadValue(value(n))
	}
	return out
}

// BuildReader is what the sinks' NewReader share: cfg validated and
// defaulted by check (as the sink's New does, without the state), then the
// reader built with log (default slog.Default()).
func BuildReader[C, R any](cfg C, check func(C) (C, error), log *slog.Logger, build func(C, *slog.Logger) R) (R, error) {
	cfg, err := check(cfg)
	if err != nil {
		var zero R
		return zero, err
	}
	if log == nil {
		log = slog.Default()
	}
	return build(cfg, log), nil
}

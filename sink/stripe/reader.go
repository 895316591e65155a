package stripe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	sinksaas "syncline/sink/saas"
)

// Reader reads the customers a sink wrote, for syncline diff (a
// sinksaas.Reader): GET /v1/customers/{id}, max_concurrent at a time,
// paced by the sink's token bucket and retried like its calls (429s, 5xx,
// Stripe-Should-Retry). A customer Stripe answers deleted: true for, or
// 404 resource_missing, is not found. It needs no state directory.
type Reader struct {
	cfg   Config
	c     *client
	names []string
}

// NewReader validates cfg (as New does, without the state) and returns a
// reader of its customers.
func NewReader(cfg Config, log *slog.Logger) (*Reader, error) {
	return sinksaas.BuildReader(cfg, Config.withDefaults, log, func(cfg Config, log *slog.Logger) *Reader {
		return &Reader{cfg: cfg, c: newClient(cfg, log.With("sink", cfg.Name)), names: sinksaas.SortedNames(cfg.Fields)}
	})
}

// Key is a key_field value as compared: as Stripe holds it.
func (r *Reader) Key(v string) string { return v }

// ReadIDs reads customers by id.
func (r *Reader) ReadIDs(ctx context.Context, ids []string) (map[string]sinksaas.Object, error) {
	return sinksaas.ReadEach(ctx, ids, r.cfg.MaxConcurrent, r.get)
}

// ReadKeys refuses: the ledger holds the customer id of every customer
// the sink wrote, and Stripe has no read by an arbitrary field that is
// consistent with its writes (search is eventually consistent).
func (r *Reader) ReadKeys(_ context.Context, keys []string) (map[string]sinksaas.Object, error) {
	if len(keys) == 0 {
		return map[string]sinksaas.Object{}, nil
	}
	return nil, fmt.Errorf("stripe sink %q: %d ledger records have no Stripe customer id; customers cannot be read by key_field %s", r.cfg.Name, len(keys), r.cfg.KeyField)
}

func (r *Reader) get(ctx context.Context, id string) (sinksaas.Object, bool, error) {
	obj, err := r.c.call(ctx, http.MethodGet, "/v1/customers/"+url.PathEscape(id), nil, "")
	if isMissing(err) {
		return sinksaas.Object{}, false, nil
	}
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) {
		err = fmt.Errorf("%w (check sinks[].stripe.api_key and its permission to read customers)", err)
	}
	if err != nil {
		return sinksaas.Object{}, false, fmt.Errorf("stripe sink %q: read customer %s: %w", r.cfg.Name, id, err)
	}
	if deleted, _ := obj["deleted"].(bool); deleted {
		return sinksaas.Object{}, false, nil
	}
	got, _ := obj["id"].(string)
	return sinksaas.Object{ID: got, Props: sinksaas.ReadProps(r.names, func(f string) any { return field(obj, f) })}, true, nil
}

// field is the value of a mapped field in a customer object: a standard
// param, address.<part>, or a metadata key.
func field(obj map[string]any, f string) any {
	if slices.Contains(StandardParams, f) {
		return obj[f]
	}
	if part, ok := strings.CutPrefix(f, "address."); ok {
		addr, _ := obj["address"].(map[string]any)
		return addr[part]
	}
	md, _ := obj["metadata"].(map[string]any)
	return md[strings.TrimPrefix(f, "metadata.")]
}

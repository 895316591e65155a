// Package stripe is a sink that creates, updates and deletes Stripe
// customers from change records, exactly once in effect.
//
// The consuming, the ledger (only changed fields are sent; a redelivered
// or unchanged record sends nothing), the retry queue, the DLQ and the
// Kafka transaction are sink/saas's Engine; this package is its Writer.
// The ledger keeps the Stripe customer id of each record.
//
//   - A record the ledger holds a customer id for is updated: POST
//     /v1/customers/{id} with its changed fields, form-encoded as Stripe
//     takes them (email, name, phone, description, address[...];
//     metadata[<field>] for any other field).
//   - A record without one is created in two calls: POST /v1/customers
//     with no params under an idempotency key derived from (topic, record
//     key) alone, then the update above with all its fields. A crash
//     after the create and before the Kafka commit re-sends the same
//     create, which Stripe answers from its idempotency store with the
//     customer it created, however the record changed meanwhile: no
//     second customer.
//   - A delete deletes the ledger's customer (DELETE /v1/customers/{id});
//     a record never written has nothing to delete (not_found).
//   - A repair of a customer deleted at Stripe (the ledger knows the
//     record but holds no customer id, see sink/saas Repair) is one POST
//     /v1/customers with its fields under the repair's key, the same for
//     every delivery of the repair record.
//
// Every POST carries an Idempotency-Key: for updates the key of the
// change, derived from (topic, record key, source position) by
// sink/saas, so a call re-sent by a retry or after a crash is applied
// once. Stripe keeps keys for 24 hours.
//
// Errors: 429, 409 and 5xx (or what Stripe-Should-Retry says) and network
// errors are retried with backoff; a call that still fails fails the
// batch, which is retried from the committed offsets. Any other 4xx
// refuses the record (an invalid email, an unknown param): it is parked
// in the DLQ with reason rejected and Stripe's message. 404 to an update
// (the customer was deleted at Stripe) creates the customer anew. 401 and
// 403 stop the sink.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/metrics"
	"syncline/schemas"
	sinksaas "syncline/sink/saas"
)

// Sink writes change topics to Stripe customers.
type Sink struct {
	*sinksaas.Engine
}

// New validates cfg, opens the ledger store and returns the sink.
func New(cfg Config, kafkaOpts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*Sink, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	w := &writer{cfg: cfg}
	eng, err := sinksaas.Build(sinksaas.EngineConfig{
		Name: cfg.Name, Kind: "stripe sink", Fields: cfg.Fields, KeyField: cfg.KeyField,
		IgnoreDeletes: cfg.DeleteMode == DeleteIgnore, BatchSize: 100, Stream: cfg.Stream,
	}, w, func(e *sinksaas.Engine) { w.eng, w.c = e, newClient(cfg, e.Log()) }, kafkaOpts, serde, m, log)
	if err != nil {
		return nil, err
	}
	return &Sink{Engine: eng}, nil
}

type writer struct {
	cfg Config
	c   *client
	eng *sinksaas.Engine
}

// Write implements sinksaas.Writer: one call per op (two for a new
// customer), MaxConcurrent at a time.
func (s *writer) Write(ctx context.Context, ops []*sinksaas.Op) error {
	return sinksaas.Parallel(ctx, ops, s.cfg.MaxConcurrent, s.write)
}

func (s *writer) write(ctx context.Context, op *sinksaas.Op) error {
	if op.Delete {
		if op.Prev == nil || op.Prev.ID == "" {
			op.Missing(fmt.Errorf("no Stripe customer for %s %s in the ledger", s.cfg.KeyField, op.Key))
			return nil
		}
		_, err := s.call(ctx, op, "delete", http.MethodDelete, "/v1/customers/"+url.PathEscape(op.Prev.ID), nil, "")
		if isMissing(err) {
			op.Missing(err)
			return nil
		}
		if err == nil {
			op.Wrote("")
		}
		return err
	}
	if op.Prev != nil && op.Prev.ID != "" {
		_, err := s.call(ctx, op, "update", http.MethodPost, "/v1/customers/"+url.PathEscape(op.Prev.ID), form(op.Send), op.IdempotencyKey)
		if !isMissing(err) {
			if err == nil && op.Outcome == sinksaas.Pending {
				op.Wrote(op.Prev.ID)
			}
			return err
		}
		// Deleted at Stripe: create the customer anew, all fields.
		return s.create(ctx, op)
	}
	if op.Prev != nil {
		// The ledger knows the record but holds no customer for it (a
		// repair of one deleted at Stripe, see sink/saas Repair): one
		// create with its fields, under the op's own key (a repair's is
		// the same for every delivery of the repair record).
		return s.createWith(ctx, op, op.Send, op.IdempotencyKey)
	}
	return s.create(ctx, op)
}

// createWith creates a customer with fields under key.
func (s *writer) createWith(ctx context.Context, op *sinksaas.Op, fields map[string]string, key string) error {
	obj, err := s.call(ctx, op, "create", http.MethodPost, "/v1/customers", form(fields), key)
	if err != nil || op.Outcome != sinksaas.Pending {
		return err
	}
	id, _ := obj["id"].(string)
	if id == "" {
		return fmt.Errorf("stripe create answer has no id")
	}
	op.Wrote(id)
	return nil
}

// create creates the customer of a record: an empty customer under the
// record's own idempotency key, so every attempt gets the one Stripe
// created first, then its fields under the change's key. A customer
// Stripe refuses the fields of is deleted again: no empty customer is
// left behind.
func (s *writer) create(ctx context.Context, op *sinksaas.Op) error {
	// (The record key without its 5-byte schema id prefix.)
	key := sinksaas.IdempotencyKey(op.Record.Topic, op.Record.Key[5:], "create")
	obj, err := s.call(ctx, op, "create", http.MethodPost, "/v1/customers", url.Values{}, key)
	if err != nil || op.Outcome != sinksaas.Pending {
		return err
	}
	id, _ := obj["id"].(string)
	if id == "" {
		return fmt.Errorf("stripe create answer has no id")
	}
	_, err = s.call(ctx, op, "update", http.MethodPost, "/v1/customers/"+url.PathEscape(id), form(op.Props), op.IdempotencyKey)
	if isMissing(err) {
		// The record's customer was deleted since (the record was
		// deleted and is back): a customer of this change.
		obj, err = s.call(ctx, op, "create", http.MethodPost, "/v1/customers", form(op.Props), op.IdempotencyKey+"-create")
		id, _ = obj["id"].(string)
	}
	switch {
	case err != nil:
		return err
	case op.Outcome == sinksaas.Rejected:
		if _, err := s.call(ctx, op, "delete", http.MethodDelete, "/v1/customers/"+url.PathEscape(id), nil, ""); err != nil && !isMissing(err) {
			return err
		}
	case id == "":
		return fmt.Errorf("stripe create answer has no id")
	default:
		op.Wrote(id)
	}
	return nil
}

// form is the params of fields.
func form(fields map[string]string) url.Values {
	f := url.Values{}
	for k, v := range fields {
		f.Set(Param(k), v)
	}
	return f
}

// call makes one call for op and counts it; a refusal retrying does not
// cure rejects op (nil error), 401 and 403 are Fatal.
func (s *writer) call(ctx context.Context, op *sinksaas.Op, endpoint, method, path string, form url.Values, idem string) (map[string]any, error) {
	obj, err := s.c.call(ctx, method, path, form, idem)
	s.eng.CountCall(endpoint, err)
	var ae *APIError
	if !errors.As(err, &ae) {
		return obj, err
	}
	switch {
	case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
		return nil, sinksaas.Fatal{Err: fmt.Errorf("%w (check sinks[].stripe.api_key and its permissions on customers)", err)}
	case ae.Status == http.StatusNotFound && ae.Code == "resource_missing":
		return nil, err
	case ae.Status == http.StatusNotFound:
		return nil, sinksaas.Fatal{Err: fmt.Errorf("%w (check sinks[].stripe.base_url)", err)}
	case ae.transient():
		return nil, err
	}
	op.Reject(fmt.Errorf("stripe refused the %s of %s %s: %w", endpoint, s.cfg.KeyField, op.Key, err))
	return nil, nil
}

func isMissing(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Code == "resource_missing"
}

// Package hubspot is a sink that upserts change records into HubSpot CRM
// objects, exactly once in effect.
//
// The consuming, the ledger, the retry queue, the DLQ and the transaction
// are sink/saas's Engine (see its doc); this package is its Writer, which
// turns the engine's ops into HubSpot batch calls of at most batch_size
// inputs:
//
//   - a record the ledger holds an object id for is updated by that id
//     (batch/update), so a changed id_property value, and a retry of that
//     change before it committed, update the same object; an id HubSpot no
//     longer holds (the object was deleted or merged there) is upserted
//     anew;
//   - a record without a ledger id is upserted by id_property
//     (batch/upsert): a crash after the call and before the commit re-sends
//     the upsert, which HubSpot applies as an update of the object the
//     first attempt created;
//   - a delete archives the ledger's object id (batch/archive); a delete of
//     a record without a ledger entry looks its object up by id_property
//     (batch/read) and archives it if found (delete_mode archive).
//
// A call HubSpot refuses as a whole with a 4xx other than 401, 403, 404
// and 429 (a 400 for one invalid input, 409, 413, 422) is bisected down
// to the inputs it refuses, which are rejected (the DLQ, reason rejected,
// with HubSpot's message); the errors of a 207 Multi-Status name inputs:
// a retryable category (RATE_LIMITS, INTERNAL_ERROR, ...) or status (429,
// 5xx) sends the input to the retry queue, any other rejects it. 429 and
// 5xx of a whole call are retried with backoff (Retry-After and the
// X-HubSpot-RateLimit-* headers honoured, capture/saas's client); a call
// that still fails fails the batch, which is retried from the committed
// offsets. 401, 403 and 404 stop the sink with what to check.
//
// Reader reads the sink's objects back (batch/read) for syncline diff,
// which compares them with the ledger; repairs come back through the
// engine's repair topic (sink/saas Repair).
package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/capture/saas"
	"syncline/internal/metrics"
	"syncline/schemas"
	sinksaas "syncline/sink/saas"
)

// Sink writes change topics to HubSpot.
type Sink struct {
	*sinksaas.Engine
}

// New validates cfg, opens the ledger store and returns the sink.
func New(cfg Config, kafkaOpts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*Sink, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.StateDir == "" {
		return nil, fmt.Errorf("hubspot sink %q: no state directory", cfg.Name)
	}
	w := &writer{cfg: cfg}
	eng, err := sinksaas.NewEngine(sinksaas.EngineConfig{
		Name: cfg.Name, Kind: "hubspot sink", Fields: cfg.Properties, KeyField: cfg.IDProperty,
		IgnoreDeletes: cfg.DeleteMode == DeleteIgnore, BatchSize: cfg.BatchSize, Stream: cfg.Stream,
	}, w, kafkaOpts, serde, m, log)
	if err != nil {
		return nil, err
	}
	w.m = eng.Metrics()
	w.http = httpClient(cfg, eng.Log())
	return &Sink{Engine: eng}, nil
}

// httpClient is the API client of cfg: bearer token, HubSpot's rate-limit
// headers, retries of 429 and 5xx.
func httpClient(cfg Config, log *slog.Logger) *saas.HTTPClient {
	return saas.NewHTTPClient(saas.Config{
		Auth: saas.Auth{Type: "bearer", Token: cfg.Token},
		RateLimit: saas.RateLimit{
			RequestsPerSecond: cfg.RequestsPerSecond, Burst: cfg.Burst, MaxConcurrent: 1,
			RemainingHeader: "X-HubSpot-RateLimit-Remaining", ResetHeader: "X-HubSpot-RateLimit-Interval-Milliseconds",
		},
		Retry:          saas.Retry{MaxAttempts: cfg.MaxAttempts, InitialBackoff: cfg.InitialBackoff, MaxBackoff: cfg.MaxBackoff},
		RequestTimeout: cfg.RequestTimeout,
	}, log)
}

// writer makes the HubSpot calls of the engine's ops.
type writer struct {
	cfg  Config
	http *saas.HTTPClient
	m    *metrics.Metrics
}

// Write implements sinksaas.Writer.
func (h *writer) Write(ctx context.Context, ops []*sinksaas.Op) error {
	var updates, upserts, lookups, archives []*sinksaas.Op
	for _, op := range ops {
		switch {
		case op.Delete && op.Prev != nil && op.Prev.ID != "":
			archives = append(archives, op)
		case op.Delete:
			lookups = append(lookups, op)
		case op.Prev != nil && op.Prev.ID != "":
			updates = append(updates, op)
		default:
			upserts = append(upserts, op)
		}
	}
	n := h.cfg.BatchSize
	if err := sinksaas.Bisect(updates, n, func(b []*sinksaas.Op) error { return h.update(ctx, b) }, refused, h.what("update")); err != nil {
		return err
	}
	for _, op := range updates {
		if op.Outcome == sinksaas.Pending {
			// HubSpot no longer holds the object (deleted or merged
			// there): upsert the record anew, all its properties.
			op.Prev, op.Send = nil, op.Props
			upserts = append(upserts, op)
		}
	}
	if err := sinksaas.Bisect(upserts, n, func(b []*sinksaas.Op) error { return h.upsert(ctx, b) }, refused, h.what("upsert")); err != nil {
		return err
	}
	if err := sinksaas.Bisect(lookups, n, func(b []*sinksaas.Op) error { return h.read(ctx, b) }, refused, h.what("lookup")); err != nil {
		return err
	}
	for _, op := range lookups {
		if op.Outcome == sinksaas.Pending {
			archives = append(archives, op)
		}
	}
	return sinksaas.Bisect(archives, n, func(b []*sinksaas.Op) error { return h.archive(ctx, b) }, refused, h.what("archive"))
}

func (h *writer) what(action string) func(*sinksaas.Op) string {
	return func(op *sinksaas.Op) string {
		return fmt.Sprintf("HubSpot refused the %s of %s %s", action, h.cfg.IDProperty, op.Key)
	}
}

// refused: a whole call refused for a reason retrying does not cure.
func refused(err error) bool {
	var he *saas.HTTPError
	return errors.As(err, &he) && sinksaas.RefusedStatus(he.Status)
}

func (h *writer) url(action string) string {
	return h.cfg.BaseURL + "/crm/v3/objects/" + h.cfg.ObjectType + "/batch/" + action
}

func (h *writer) call(ctx context.Context, endpoint string, body []byte) (map[string]any, error) {
	_, v, err := h.http.Do(ctx, http.MethodPost, h.url(endpoint), body)
	res := "ok"
	if err != nil {
		res = "error"
	}
	h.m.SinkAPICalls.WithLabelValues(h.cfg.Name, endpoint, res).Inc()
	var he *saas.HTTPError
	if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden || he.Status == http.StatusNotFound) {
		// Refused credentials or an unknown object type do not heal by
		// retrying: stop with what to check, as the warehouse sink does
		// on access errors (nothing is lost: the offsets did not move).
		return nil, sinksaas.Fatal{Err: fmt.Errorf("%w (check sinks[].hubspot.token, its scopes (crm.objects.%s.write) and object_type)", err, h.cfg.ObjectType)}
	}
	if err != nil {
		return nil, err
	}
	resp, _ := v.(map[string]any)
	return resp, nil
}

func (h *writer) norm(v string) string {
	if h.cfg.IDProperty == "email" {
		return strings.ToLower(v)
	}
	return v
}

// batchErr is one entry of a batch answer's errors.
type batchErr struct {
	msg       string
	ids       []string
	category  string
	retryable bool
}

// retryableCategories are the error categories of a batch answer that a
// later attempt of the same input can cure.
var retryableCategories = map[string]bool{
	"RATE_LIMIT": true, "RATE_LIMITS": true, "TOO_MANY_REQUESTS": true, "INTERNAL_ERROR": true,
	"SERVICE_UNAVAILABLE": true, "TIMEOUT": true, "LOCKED": true,
}

func batchErrors(resp map[string]any) []batchErr {
	errs, _ := resp["errors"].([]any)
	var out []batchErr
	for _, e := range errs {
		m, _ := e.(map[string]any)
		be := batchErr{}
		be.msg, _ = m["message"].(string)
		be.category, _ = m["category"].(string)
		be.retryable = retryableCategories[be.category]
		if s := fmt.Sprint(m["status"]); s == "429" || (len(s) == 3 && s[0] == '5') {
			be.retryable = true
		}
		ctxm, _ := m["context"].(map[string]any)
		ids, _ := ctxm["ids"].([]any)
		for _, x := range ids {
			if s, ok := x.(string); ok {
				be.ids = append(be.ids, s)
			}
		}
		if be.msg == "" {
			be.msg = be.category
		}
		out = append(out, be)
	}
	return out
}

// outcomes applies a batch answer's errors to the ops they name (by
// keyOf) and rejects the pending ops no error names when there are errors
// (a multi-status answer whose errors do not name an input: it was not
// written, and retrying it would fail the same way). It returns the ops an
// OBJECT_NOT_FOUND error names, left Pending.
func (h *writer) outcomes(resp map[string]any, ops []*sinksaas.Op, keyOf func(*sinksaas.Op) string, action string) map[*sinksaas.Op]bool {
	by := map[string]*sinksaas.Op{}
	for _, op := range ops {
		by[keyOf(op)] = op
	}
	errs := batchErrors(resp)
	notFound := map[*sinksaas.Op]bool{}
	var msgs []string
	for _, be := range errs {
		msgs = append(msgs, be.msg)
		for _, id := range be.ids {
			op := by[h.norm(id)]
			if op == nil || op.Outcome != sinksaas.Pending {
				continue
			}
			err := fmt.Errorf("HubSpot refused the %s of %s %s: %s", action, h.cfg.IDProperty, op.Key, be.msg)
			switch {
			case be.category == "OBJECT_NOT_FOUND":
				notFound[op] = true
			case be.retryable:
				op.RetryLater(err)
			default:
				op.Reject(err)
			}
		}
	}
	if len(errs) > 0 {
		for _, op := range ops {
			if op.Outcome == sinksaas.Pending && !notFound[op] {
				op.Reject(fmt.Errorf("HubSpot did not %s %s %s: %s", action, h.cfg.IDProperty, op.Key, strings.Join(msgs, "; ")))
			}
		}
	}
	return notFound
}

type jin struct {
	IDProperty string            `json:"idProperty,omitempty"`
	ID         string            `json:"id"`
	Properties map[string]string `json:"properties,omitempty"`
}

func inputs(ins []jin) []byte {
	b, _ := json.Marshal(struct {
		Inputs []jin `json:"inputs"`
	}{ins})
	return b
}

// upsert sends one batch upsert by id_property.
func (h *writer) upsert(ctx context.Context, ops []*sinksaas.Op) error {
	idp := h.cfg.IDProperty
	var ins []jin
	for _, op := range ops {
		send := make(map[string]string, len(op.Send)+1)
		for k, v := range op.Send {
			send[k] = v
		}
		// Always sent: HubSpot's results then carry it, which is how
		// they are matched to the inputs.
		send[idp] = op.Key
		ins = append(ins, jin{IDProperty: idp, ID: op.Key, Properties: send})
	}
	resp, err := h.call(ctx, "upsert", inputs(ins))
	if err != nil {
		return err
	}
	by := map[string]*sinksaas.Op{}
	for _, op := range ops {
		by[h.norm(op.Key)] = op
	}
	results, _ := resp["results"].([]any)
	for _, r := range results {
		m, _ := r.(map[string]any)
		props, _ := m["properties"].(map[string]any)
		id, _ := m["id"].(string)
		key, _ := props[idp].(string)
		if op := by[h.norm(key)]; op != nil && id != "" && op.Outcome == sinksaas.Pending {
			op.Wrote(id)
		}
	}
	for op := range h.outcomes(resp, ops, func(op *sinksaas.Op) string { return h.norm(op.Key) }, "upsert") {
		op.Reject(fmt.Errorf("HubSpot refused the upsert of %s %s: object not found", h.cfg.IDProperty, op.Key))
	}
	for _, op := range ops {
		if op.Outcome == sinksaas.Pending {
			return fmt.Errorf("upsert answer has no result for %s %s", h.cfg.IDProperty, op.Key)
		}
	}
	return nil
}

// update sends one batch update by object id; ops HubSpot does not hold
// the object of stay Pending.
func (h *writer) update(ctx context.Context, ops []*sinksaas.Op) error {
	var ins []jin
	for _, op := range ops {
		ins = append(ins, jin{ID: op.Prev.ID, Properties: op.Send})
	}
	resp, err := h.call(ctx, "update", inputs(ins))
	if err != nil {
		return err
	}
	by := map[string]*sinksaas.Op{}
	for _, op := range ops {
		by[op.Prev.ID] = op
	}
	results, _ := resp["results"].([]any)
	for _, r := range results {
		m, _ := r.(map[string]any)
		id, _ := m["id"].(string)
		if op := by[id]; op != nil && op.Outcome == sinksaas.Pending {
			op.Wrote(id)
		}
	}
	gone := h.outcomes(resp, ops, func(op *sinksaas.Op) string { return h.norm(op.Prev.ID) }, "update")
	for _, op := range ops {
		if op.Outcome == sinksaas.Pending && !gone[op] {
			return fmt.Errorf("update answer has no result for object %s", op.Prev.ID)
		}
	}
	return nil
}

// read looks the objects of deletes up by id_property: a found object's id
// is set on the op (still Pending, to be archived); one HubSpot does not
// hold is Missing.
func (h *writer) read(ctx context.Context, ops []*sinksaas.Op) error {
	idp := h.cfg.IDProperty
	req := struct {
		IDProperty string   `json:"idProperty"`
		Properties []string `json:"properties"`
		Inputs     []jin    `json:"inputs"`
	}{IDProperty: idp, Properties: []string{idp}}
	for _, op := range ops {
		req.Inputs = append(req.Inputs, jin{ID: op.Key})
	}
	body, _ := json.Marshal(req)
	resp, err := h.call(ctx, "read", body)
	if err != nil {
		return err
	}
	by := map[string]*sinksaas.Op{}
	for _, op := range ops {
		by[h.norm(op.Key)] = op
	}
	found := map[*sinksaas.Op]bool{}
	results, _ := resp["results"].([]any)
	for _, r := range results {
		m, _ := r.(map[string]any)
		props, _ := m["properties"].(map[string]any)
		id, _ := m["id"].(string)
		key, _ := props[idp].(string)
		if op := by[h.norm(key)]; op != nil && id != "" && op.Outcome == sinksaas.Pending {
			op.ObjectID = id
			found[op] = true
		}
	}
	for _, be := range batchErrors(resp) {
		for _, id := range be.ids {
			if op := by[h.norm(id)]; op != nil && !found[op] && op.Outcome == sinksaas.Pending {
				if be.category == "OBJECT_NOT_FOUND" {
					op.Missing(fmt.Errorf("no %s with %s %s: %s", h.cfg.ObjectType, idp, op.Key, be.msg))
				} else if be.retryable {
					op.RetryLater(fmt.Errorf("HubSpot refused the lookup of %s %s: %s", idp, op.Key, be.msg))
				} else {
					op.Reject(fmt.Errorf("HubSpot refused the lookup of %s %s: %s", idp, op.Key, be.msg))
				}
			}
		}
	}
	for _, op := range ops {
		if op.Outcome == sinksaas.Pending && !found[op] {
			op.Missing(fmt.Errorf("no %s with %s %s", h.cfg.ObjectType, idp, op.Key))
		}
	}
	return nil
}

// archive archives the objects of deletes: the ledger's id, or the one a
// lookup found.
func (h *writer) archive(ctx context.Context, ops []*sinksaas.Op) error {
	var b bytes.Buffer
	b.WriteString(`{"inputs":[`)
	for i, op := range ops {
		if i > 0 {
			b.WriteByte(',')
		}
		id := op.ObjectID
		if op.Prev != nil && op.Prev.ID != "" {
			id = op.Prev.ID
		}
		j, _ := json.Marshal(map[string]string{"id": id})
		b.Write(j)
	}
	b.WriteString(`]}`)
	if _, err := h.call(ctx, "archive", b.Bytes()); err != nil {
		return err
	}
	for _, op := range ops {
		op.Wrote("")
	}
	return nil
}

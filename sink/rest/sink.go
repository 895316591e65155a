// Package rest is a sink that upserts change records into a generic REST
// API, exactly once in effect.
//
// The consuming, the ledger (only changed fields are sent; a redelivered
// or unchanged record sends nothing), the retry queue, the DLQ and the
// Kafka transaction are sink/saas's Engine; this package is its Writer. A
// record is written with the upsert request template (PUT
// /v1/customers/{id}, say) and a JSON object of its changed fields plus
// id_field; with upsert.batch_field, up to batch_size records go in one
// request as {"<batch_field>": [...]}. A delete uses the delete template
// (DELETE /v1/customers/{id}); a 404 answer to it counts as not_found.
//
// Every request carries an idempotency key (Idempotency-Key by default):
// for one record, the key of its change, derived from (topic, record key,
// source position), so a request re-sent after a crash between the call
// and the Kafka commit, or by the client's own retries, is the same
// request and an API that honours idempotency keys applies it once. A
// batch request's key derives from the keys of its records in order; it
// repeats when the same records are batched again.
//
// Failures: 429, 5xx and network errors are retried with exponential
// backoff and jitter, Retry-After honoured; a request that still fails
// fails the batch, which is retried from the committed offsets. A 4xx
// other than 401, 403, 404 and 408 refuses the record (a batch is bisected
// down to the records refused): it is parked in the DLQ with reason
// rejected and the API's answer. 401 and 403, and 404 to an upsert (a
// wrong base_url or path), stop the sink with what to check.
package rest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/metrics"
	"syncline/schemas"
	sinksaas "syncline/sink/saas"
)

// Sink writes change topics to a REST API.
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
	eng, err := sinksaas.NewEngine(sinksaas.EngineConfig{
		Name: cfg.Name, Kind: "rest sink", Fields: cfg.Fields, KeyField: cfg.IDField,
		IgnoreDeletes: cfg.Delete.Path == "", BatchSize: cfg.BatchSize, Stream: cfg.Stream,
	}, w, kafkaOpts, serde, m, log)
	if err != nil {
		return nil, err
	}
	w.m, w.c = eng.Metrics(), newClient(cfg, eng.Log())
	return &Sink{Engine: eng}, nil
}

type writer struct {
	cfg Config
	c   *client
	m   *metrics.Metrics
}

// Write implements sinksaas.Writer.
func (r *writer) Write(ctx context.Context, ops []*sinksaas.Op) error {
	var ups, dels []*sinksaas.Op
	for _, op := range ops {
		if op.Delete {
			dels = append(dels, op)
		} else {
			ups = append(ups, op)
		}
	}
	size := func(req Request) int {
		if req.BatchField == "" {
			return 1
		}
		return r.cfg.BatchSize
	}
	what := func(action string) func(*sinksaas.Op) string {
		return func(op *sinksaas.Op) string {
			return fmt.Sprintf("the API refused the %s of %s %s", action, r.cfg.IDField, op.Key)
		}
	}
	err := sinksaas.Bisect(ups, size(r.cfg.Upsert), func(b []*sinksaas.Op) error { return r.send(ctx, "upsert", r.cfg.Upsert, b) }, refused, what("upsert"))
	if err != nil {
		return err
	}
	return sinksaas.Bisect(dels, size(r.cfg.Delete), func(b []*sinksaas.Op) error { return r.send(ctx, "delete", r.cfg.Delete, b) }, refused, what("delete"))
}

func refused(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && sinksaas.RefusedStatus(se.Status)
}

// item is the body of one record: its changed fields and id_field.
func (r *writer) item(op *sinksaas.Op) map[string]string {
	out := make(map[string]string, len(op.Send)+1)
	for k, v := range op.Send {
		out[k] = v
	}
	out[r.cfg.IDField] = op.Key
	return out
}

// path fills a template's placeholders.
func (r *writer) path(tmpl string, op *sinksaas.Op) string {
	return placeholderRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := m[1 : len(m)-1]
		v := op.Key
		if name != "id" && name != r.cfg.IDField {
			v = op.Props[name]
		}
		return url.PathEscape(v)
	})
}

// send makes one request for ops (one, or a batch).
func (r *writer) send(ctx context.Context, endpoint string, req Request, ops []*sinksaas.Op) error {
	var body []byte
	path, idem := req.Path, ops[0].IdempotencyKey
	if req.BatchField != "" {
		items := make([]map[string]string, len(ops))
		h := sha256.New()
		for i, op := range ops {
			if op.Delete {
				items[i] = map[string]string{r.cfg.IDField: op.Key}
			} else {
				items[i] = r.item(op)
			}
			h.Write([]byte(op.IdempotencyKey))
		}
		body, _ = json.Marshal(map[string]any{req.BatchField: items})
		idem = hex.EncodeToString(h.Sum(nil)[:16])
	} else {
		path = r.path(req.Path, ops[0])
		if !ops[0].Delete {
			body, _ = json.Marshal(r.item(ops[0]))
		}
	}
	_, resp, err := r.c.do(ctx, req.Method, path, body, idem)
	res := "ok"
	if err != nil {
		res = "error"
	}
	r.m.SinkAPICalls.WithLabelValues(r.cfg.Name, endpoint, res).Inc()
	var se *StatusError
	if errors.As(err, &se) {
		switch {
		case se.Status == http.StatusNotFound && endpoint == "delete" && req.BatchField == "":
			ops[0].Missing(err)
			return nil
		case se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden || se.Status == http.StatusNotFound:
			return sinksaas.Fatal{Err: fmt.Errorf("%w (check sinks[].rest.auth, base_url and %s.path)", err, endpoint)}
		}
	}
	if err != nil {
		return err
	}
	for _, op := range ops {
		op.Wrote(r.objectID(op, resp, req.BatchField == ""))
	}
	return nil
}

// objectID is the API's id of a written record: the id of a single
// request's JSON answer when it has one, else the id_field value.
func (r *writer) objectID(op *sinksaas.Op, resp []byte, single bool) string {
	if op.Delete {
		return ""
	}
	if single && len(resp) > 0 {
		var m map[string]any
		if json.Unmarshal(resp, &m) == nil {
			switch id := m["id"].(type) {
			case string:
				if id != "" {
					return id
				}
			case float64:
				return strings.TrimSuffix(fmt.Sprintf("%f", id), ".000000")
			}
		}
	}
	return op.Key
}

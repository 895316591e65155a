// Package salesforce is a sink that upserts change records into one
// Salesforce sObject type by an external id field, exactly once in
// effect.
//
// The consuming, the ledger (only changed fields are sent; a redelivered
// or unchanged record sends nothing), the retry queue, the DLQ and the
// Kafka transaction are sink/saas's Engine; this package is its Writer:
//
//   - upserts go in sObject collections calls of at most batch_size (200)
//     records, PATCH /services/data/vNN.N/composite/sobjects/{SObject}/
//     {ExternalIdField} with allOrNone false: each record carries its
//     changed fields and its external id, and Salesforce matches it to
//     the record holding that id or creates one. A crash after the call
//     and before the Kafka commit re-sends the same upserts, which update
//     what the first call created: no duplicate. The ledger keeps the
//     Salesforce record id. A record the ledger held that Salesforce
//     created anew (deleted there) is sent again with all its fields;
//   - deletes go in DELETE /services/data/vNN.N/composite/sobjects?ids=
//     calls of the ledger's ids (allOrNone false); ENTITY_IS_DELETED and
//     INVALID_CROSS_REFERENCE_KEY count as not_found, as does a record
//     never written.
//
// Per-record results map to the engine's outcomes: success is written;
// UNABLE_TO_LOCK_ROW, REQUEST_LIMIT_EXCEEDED, SERVER_UNAVAILABLE and
// similar go to the retry queue; any other error (DUPLICATE_VALUE,
// REQUIRED_FIELD_MISSING, INVALID_EMAIL_ADDRESS, ...) rejects the record
// to the DLQ with Salesforce's status code, message and fields. A call
// refused as a whole with a 400 is bisected down to the records refused.
// 429, 5xx and 403 REQUEST_LIMIT_EXCEEDED are retried with backoff; a call
// that still fails fails the batch, which is retried from the committed
// offsets. 401, another 403 and 404 stop the sink.
package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/capture/saas"
	"syncline/internal/metrics"
	"syncline/schemas"
	sinksaas "syncline/sink/saas"
)

// limitCode is Salesforce's answer past the org's API request limit.
const limitCode = "REQUEST_LIMIT_EXCEEDED"

// retryable are the per-record status codes a later attempt can cure.
var retryable = map[string]bool{
	"UNABLE_TO_LOCK_ROW": true, limitCode: true, "SERVER_UNAVAILABLE": true, "UNKNOWN_EXCEPTION": true,
	"TXN_SECURITY_METERING_ERROR": true, "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY_TIMEOUT": true,
}

// Sink writes change topics to Salesforce.
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
		Name: cfg.Name, Kind: "salesforce sink", Fields: cfg.Fields, KeyField: cfg.ExternalIDField,
		IgnoreDeletes: cfg.DeleteMode == DeleteIgnore, BatchSize: cfg.BatchSize, Stream: cfg.Stream,
	}, w, w.wire, kafkaOpts, serde, m, log)
	if err != nil {
		return nil, err
	}
	return &Sink{Engine: eng}, nil
}

func (s *writer) wire(eng *sinksaas.Engine) {
	s.eng = eng
	s.http = httpClient(s.cfg, eng.Log())
}

// httpClient is the sink's (and its Reader's) client: the bearer token,
// the pacing, and retries of 429, 5xx and REQUEST_LIMIT_EXCEEDED.
func httpClient(cfg Config, log *slog.Logger) *saas.HTTPClient {
	return saas.NewHTTPClient(saas.Config{
		Auth:           saas.Auth{Type: "bearer", Token: cfg.AccessToken},
		RateLimit:      saas.RateLimit{RequestsPerSecond: cfg.RequestsPerSecond, Burst: cfg.Burst, MaxConcurrent: 1},
		Retry:          saas.Retry{MaxAttempts: cfg.MaxAttempts, InitialBackoff: cfg.InitialBackoff, MaxBackoff: cfg.MaxBackoff, RetryOn: []string{limitCode}},
		RequestTimeout: cfg.RequestTimeout,
	}, log)
}

type writer struct {
	cfg  Config
	http *saas.HTTPClient
	eng  *sinksaas.Engine
}

// Write implements sinksaas.Writer.
func (s *writer) Write(ctx context.Context, ops []*sinksaas.Op) error {
	var ups, dels []*sinksaas.Op
	for _, op := range ops {
		switch {
		case !op.Delete:
			ups = append(ups, op)
		case op.Prev != nil && op.Prev.ID != "":
			dels = append(dels, op)
		default:
			op.Missing(fmt.Errorf("no Salesforce id for %s %s in the ledger", s.cfg.ExternalIDField, op.Key))
		}
	}
	n := s.cfg.BatchSize
	if err := sinksaas.Bisect(ups, n, func(b []*sinksaas.Op) error { return s.upsert(ctx, b) }, sinksaas.Refused, s.what("upsert")); err != nil {
		return err
	}
	// Records the ledger held that Salesforce created anew (deleted
	// there): send them again with all their fields.
	var again []*sinksaas.Op
	for _, op := range ups {
		if op.Outcome == sinksaas.Pending {
			op.Prev, op.Send = nil, op.Props
			again = append(again, op)
		}
	}
	if err := sinksaas.Bisect(again, n, func(b []*sinksaas.Op) error { return s.upsert(ctx, b) }, sinksaas.Refused, s.what("upsert")); err != nil {
		return err
	}
	return sinksaas.Bisect(dels, n, func(b []*sinksaas.Op) error { return s.delete(ctx, b) }, sinksaas.Refused, s.what("delete"))
}

func (s *writer) what(action string) func(*sinksaas.Op) string {
	return func(op *sinksaas.Op) string {
		return fmt.Sprintf("Salesforce refused the %s of %s %s", action, s.cfg.ExternalIDField, op.Key)
	}
}

func (s *writer) base() string {
	return s.cfg.InstanceURL + "/services/data/v" + s.cfg.APIVersion + "/composite/sobjects"
}

func (s *writer) call(ctx context.Context, endpoint, method, u string, body []byte) ([]any, error) {
	_, v, err := s.http.Do(ctx, method, u, body)
	s.eng.CountCall(endpoint, err)
	var he *saas.HTTPError
	if errors.As(err, &he) {
		switch {
		case he.Status == http.StatusForbidden && strings.Contains(he.Body, limitCode):
			// Out of API requests for now: the batch is retried.
			return nil, err
		case he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden || he.Status == http.StatusNotFound:
			return nil, sinksaas.Fatal{Err: fmt.Errorf("%w (check sinks[].salesforce.access_token, instance_url, sobject and the user's permissions on it)", err)}
		}
	}
	if err != nil {
		return nil, err
	}
	results, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s %s: the answer is not a list of results", method, endpoint)
	}
	return results, nil
}

type result struct {
	id      string
	success bool
	created bool
	code    string
	msg     string
}

func parseResult(r any) result {
	m, _ := r.(map[string]any)
	res := result{}
	res.id, _ = m["id"].(string)
	res.success, _ = m["success"].(bool)
	res.created, _ = m["created"].(bool)
	errs, _ := m["errors"].([]any)
	var msgs []string
	for _, e := range errs {
		em, _ := e.(map[string]any)
		code, _ := em["statusCode"].(string)
		msg, _ := em["message"].(string)
		if res.code == "" {
			res.code = code
		}
		if fs, _ := em["fields"].([]any); len(fs) > 0 {
			var names []string
			for _, f := range fs {
				names = append(names, fmt.Sprint(f))
			}
			msg += " (fields: " + strings.Join(names, ", ") + ")"
		}
		msgs = append(msgs, code+": "+msg)
	}
	res.msg = strings.Join(msgs, "; ")
	return res
}

// outcome sets a failed result's outcome on op.
func (s *writer) outcome(op *sinksaas.Op, action string, r result) {
	err := fmt.Errorf("Salesforce refused the %s of %s %s: %s", action, s.cfg.ExternalIDField, op.Key, r.msg)
	if retryable[r.code] {
		op.RetryLater(err)
	} else {
		op.Reject(err)
	}
}

// upsert sends one collections upsert; an op the ledger held an id for
// that Salesforce created anew stays Pending.
func (s *writer) upsert(ctx context.Context, ops []*sinksaas.Op) error {
	recs := make([]map[string]any, len(ops))
	for i, op := range ops {
		rec := map[string]any{"attributes": map[string]string{"type": s.cfg.SObject}}
		for k, v := range op.Send {
			if v == "" {
				rec[k] = nil // clears the field
			} else {
				rec[k] = v
			}
		}
		rec[s.cfg.ExternalIDField] = op.Key
		recs[i] = rec
	}
	body, _ := json.Marshal(map[string]any{"allOrNone": false, "records": recs})
	u := s.base() + "/" + url.PathEscape(s.cfg.SObject) + "/" + url.PathEscape(s.cfg.ExternalIDField)
	results, err := s.call(ctx, "upsert", http.MethodPatch, u, body)
	if err != nil {
		return err
	}
	if len(results) != len(ops) {
		return fmt.Errorf("upsert answer has %d results for %d records", len(results), len(ops))
	}
	for i, op := range ops {
		r := parseResult(results[i])
		switch {
		case !r.success:
			s.outcome(op, "upsert", r)
		case r.created && op.Prev != nil && len(op.Send) < len(op.Props):
			// Left Pending: sent again with every field.
		default:
			op.Wrote(r.id)
		}
	}
	return nil
}

// delete deletes the ledger's records of ops.
func (s *writer) delete(ctx context.Context, ops []*sinksaas.Op) error {
	ids := make([]string, len(ops))
	for i, op := range ops {
		ids[i] = op.Prev.ID
	}
	u := s.base() + "?allOrNone=false&ids=" + url.QueryEscape(strings.Join(ids, ","))
	results, err := s.call(ctx, "delete", http.MethodDelete, u, nil)
	if err != nil {
		return err
	}
	if len(results) != len(ops) {
		return fmt.Errorf("delete answer has %d results for %d records", len(results), len(ops))
	}
	for i, op := range ops {
		r := parseResult(results[i])
		switch {
		case r.success:
			op.Wrote("")
		case r.code == "ENTITY_IS_DELETED" || r.code == "INVALID_CROSS_REFERENCE_KEY":
			op.Missing(fmt.Errorf("salesforce has no %s %s: %s", s.cfg.SObject, op.Prev.ID, r.msg))
		default:
			s.outcome(op, "delete", r)
		}
	}
	return nil
}

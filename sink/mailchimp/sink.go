// Package mailchimp is a sink that upserts change records into a
// Mailchimp audience's members, exactly once in effect.
//
// The consuming, the ledger (only changed fields are sent; a redelivered
// or unchanged record sends nothing), the retry queue, the DLQ and the
// Kafka transaction are sink/saas's Engine; this package is its Writer:
//
//   - with batch_size 1, each member is one PUT
//     /3.0/lists/{list_id}/members/{subscriber_hash} (the MD5 of the
//     lower-cased email; the ledger's, when the address changed), with
//     email_address, status_if_new and the changed merge_fields,
//     max_concurrent at a time;
//   - with batch_size > 1, up to batch_size (500) members per POST
//     /3.0/lists/{list_id} (batch subscribe with update_existing), the
//     per-member errors mapped to the members; a member whose address
//     changed still goes by PUT, as batch subscribe matches by address;
//   - a delete archives the member (DELETE .../members/{hash}); a 404
//     counts as not_found.
//
// Upserts by subscriber hash and by address are their own idempotency: a
// crash between the call and the Kafka commit re-sends the same writes,
// which update the member the first one created. The ledger keeps the
// member's id (its hash).
//
// Errors: 429 (Mailchimp's limit of 10 simultaneous connections), 5xx and
// network errors are retried with backoff; a call that still fails fails
// the batch, which is retried from the committed offsets. A 400 for a
// member, or its entry in a batch answer's errors (an invalid address, a
// forgotten one, a required merge field), rejects it to the DLQ with
// Mailchimp's message. 401, 403 and 404 to an upsert (a wrong key or list)
// stop the sink.
package mailchimp

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
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

// Sink writes change topics to Mailchimp members.
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
		Name: cfg.Name, Kind: "mailchimp sink", Fields: cfg.Fields, KeyField: cfg.EmailField,
		IgnoreDeletes: cfg.DeleteMode == DeleteIgnore, BatchSize: max(cfg.BatchSize, 100), Stream: cfg.Stream,
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

// httpClient is the sink's (and its Reader's) client: basic
// authentication with any user name and the key, the pacing and the cap
// on connections, retries of 429 and 5xx.
func httpClient(cfg Config, log *slog.Logger) *saas.HTTPClient {
	return saas.NewHTTPClient(saas.Config{
		Auth:           saas.Auth{Type: "api_key", Header: "Authorization", Key: "Basic " + base64.StdEncoding.EncodeToString([]byte("syncline:"+cfg.APIKey))},
		RateLimit:      saas.RateLimit{RequestsPerSecond: cfg.RequestsPerSecond, Burst: cfg.MaxConcurrent, MaxConcurrent: cfg.MaxConcurrent},
		Retry:          saas.Retry{MaxAttempts: cfg.MaxAttempts, InitialBackoff: cfg.InitialBackoff, MaxBackoff: cfg.MaxBackoff},
		RequestTimeout: cfg.RequestTimeout,
	}, log)
}

type writer struct {
	cfg  Config
	http *saas.HTTPClient
	eng  *sinksaas.Engine
}

// Hash is a member's subscriber hash: the MD5 of the lower-cased email.
func Hash(email string) string {
	h := md5.Sum([]byte(strings.ToLower(email)))
	return hex.EncodeToString(h[:])
}

// hashOf is the hash an op's member is written at: the ledger's, else
// the address's.
func hashOf(op *sinksaas.Op) string {
	if op.Prev != nil && op.Prev.ID != "" {
		return op.Prev.ID
	}
	return Hash(op.Key)
}

// Write implements sinksaas.Writer.
func (s *writer) Write(ctx context.Context, ops []*sinksaas.Op) error {
	var single, batch []*sinksaas.Op
	for _, op := range ops {
		if op.Delete || s.cfg.BatchSize == 1 || hashOf(op) != Hash(op.Key) {
			single = append(single, op)
		} else {
			batch = append(batch, op)
		}
	}
	what := func(op *sinksaas.Op) string {
		return fmt.Sprintf("Mailchimp refused the batch subscribe of %s", op.Key)
	}
	if err := sinksaas.Bisect(batch, s.cfg.BatchSize, func(b []*sinksaas.Op) error { return s.batch(ctx, b) }, sinksaas.Refused, what); err != nil {
		return err
	}
	return sinksaas.Parallel(ctx, single, s.cfg.MaxConcurrent, s.one)
}

// member is the body of one member: its address, status_if_new and the
// changed merge fields.
func (s *writer) member(op *sinksaas.Op) map[string]any {
	mf := map[string]string{}
	for k, v := range op.Send {
		if k != s.cfg.EmailField {
			mf[k] = v
		}
	}
	m := map[string]any{"email_address": op.Key, "status_if_new": s.cfg.StatusIfNew}
	if len(mf) > 0 {
		m["merge_fields"] = mf
	}
	return m
}

func (s *writer) call(ctx context.Context, endpoint, method, path string, body []byte) (map[string]any, error) {
	_, v, err := s.http.Do(ctx, method, s.cfg.BaseURL+"/3.0/lists/"+s.cfg.ListID+path, body)
	s.eng.CountCall(endpoint, err)
	var he *saas.HTTPError
	if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden || (he.Status == http.StatusNotFound && endpoint != "archive")) {
		return nil, sinksaas.Fatal{Err: fmt.Errorf("%w (check sinks[].mailchimp.api_key, base_url and list_id)", err)}
	}
	m, _ := v.(map[string]any)
	return m, err
}

// one writes one op by subscriber hash: a PUT, or an archive.
func (s *writer) one(ctx context.Context, op *sinksaas.Op) error {
	path := "/members/" + hashOf(op)
	if op.Delete {
		_, err := s.call(ctx, "archive", http.MethodDelete, path, nil)
		var he *saas.HTTPError
		switch {
		case errors.As(err, &he) && he.Status == http.StatusNotFound:
			op.Missing(err)
		case err == nil:
			op.Wrote("")
		default:
			return err
		}
		return nil
	}
	body, _ := json.Marshal(s.member(op))
	resp, err := s.call(ctx, "upsert", http.MethodPut, path, body)
	if sinksaas.Refused(err) {
		op.Reject(fmt.Errorf("Mailchimp refused the upsert of %s: %w", op.Key, err))
		return nil
	}
	if err != nil {
		return err
	}
	id, _ := resp["id"].(string)
	op.Wrote(id)
	return nil
}

// batch sends one batch subscribe with update_existing.
func (s *writer) batch(ctx context.Context, ops []*sinksaas.Op) error {
	members := make([]map[string]any, len(ops))
	by := map[string]*sinksaas.Op{}
	for i, op := range ops {
		members[i] = s.member(op)
		by[strings.ToLower(op.Key)] = op
	}
	body, _ := json.Marshal(map[string]any{"members": members, "update_existing": true})
	resp, err := s.call(ctx, "batch", http.MethodPost, "", body)
	if err != nil {
		return err
	}
	for _, k := range []string{"new_members", "updated_members"} {
		list, _ := resp[k].([]any)
		for _, x := range list {
			m, _ := x.(map[string]any)
			email, _ := m["email_address"].(string)
			id, _ := m["id"].(string)
			if op := by[strings.ToLower(email)]; op != nil && op.Outcome == sinksaas.Pending {
				op.Wrote(id)
			}
		}
	}
	errs, _ := resp["errors"].([]any)
	for _, x := range errs {
		m, _ := x.(map[string]any)
		email, _ := m["email_address"].(string)
		msg, _ := m["error"].(string)
		code, _ := m["error_code"].(string)
		if op := by[strings.ToLower(email)]; op != nil && op.Outcome == sinksaas.Pending {
			op.Reject(fmt.Errorf("Mailchimp refused the batch subscribe of %s: %s: %s", op.Key, code, msg))
		}
	}
	for _, op := range ops {
		if op.Outcome == sinksaas.Pending {
			return fmt.Errorf("batch subscribe answer has no result for %s", op.Key)
		}
	}
	return nil
}

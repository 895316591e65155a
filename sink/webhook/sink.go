// Package webhook is a sink that POSTs batches of change events as signed
// JSON to an HTTP endpoint, at least once.
//
// It consumes change topics read_committed in the consumer group
// syncline-sink-<name>. A batch is what one poll returns, up to max_batch
// records collected for at most batch_timeout; it is POSTed as
//
//	{"sink": "<name>", "events": [{"id": "<topic>/<partition>/<offset>",
//	  "table": "<source>.<schema>.<table>", "op": "c|u|d|r|t",
//	  "position": "<source position>", "committed_at": "<RFC 3339>",
//	  "key": {...}, "before": {...}|null, "after": {...}|null}, ...]}
//
// with the headers Content-Type: application/json, X-Syncline-Timestamp
// (Unix seconds of the attempt), X-Syncline-Signature: sha256=<hex of
// HMAC-SHA256(secret, "<timestamp>.<body>")> and Idempotency-Key (the hex
// SHA-256 of the body: the same batch content always has the same key).
//
// Values: integers, floats and booleans as JSON numbers and booleans;
// NaN and ±Infinity, decimals, numerics and money as strings (exact);
// json/jsonb columns embedded as JSON; bytes base64 (standard, padded);
// timestamptz RFC 3339 in UTC, timestamp (without time zone) as
// 2006-01-02T15:04:05.999999, date as 2006-01-02, time as 15:04:05.999999,
// ±infinity dates and timestamps as "infinity"/"-infinity"; arrays as JSON
// arrays; every other type as the text Postgres prints.
//
// Offsets are committed only after a 2xx answer, so an event is delivered
// at least once: after a crash or a restart the events after the last 2xx
// are POSTed again with the same ids, which receivers deduplicate on. The
// events of one partition (so of one key) are posted in offset order and
// the next batch waits for the answer to the previous one, so per-key
// order holds. 408, 429, 5xx, timeouts and network errors are retried
// with exponential backoff (a longer Retry-After wins); another answer
// (4xx, or a redirect, which is not followed) is permanent: the batch's
// records are parked in the DLQ with reason rejected, the status and the
// start of the body, and the sink goes on.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/dlq"
	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/retry"
	"syncline/internal/topics"
	"syncline/schemas"
)

// Signature headers.
const (
	HeaderSignature = "X-Syncline-Signature"
	HeaderTimestamp = "X-Syncline-Timestamp"
	HeaderIdemKey   = "Idempotency-Key"
)

// Sink POSTs change topics to a webhook.
type Sink struct {
	cfg       Config
	kafkaOpts []kgo.Opt
	serde     *schemas.Serde
	dlq       *dlq.DLQ
	m         *metrics.Metrics
	log       *slog.Logger
	http      *http.Client
	host      string
	stage     string
	lag       *kafka.Lag
	ready     atomic.Bool
}

// Stage is the sink's stage name in the DLQ: sink.<name>.
func (s *Sink) Stage() string { return s.stage }

// New validates cfg and returns the sink. d parks rejected and
// undecodable records; nil parks them with a producer of the sink's own.
func New(cfg Config, kafkaOpts []kgo.Opt, serde *schemas.Serde, d *dlq.DLQ, m *metrics.Metrics, log *slog.Logger) (*Sink, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if serde == nil {
		return nil, fmt.Errorf("webhook sink %q: no serde", cfg.Name)
	}
	if m == nil {
		m = metrics.New(prometheus.NewRegistry())
	}
	if log == nil {
		log = slog.Default()
	}
	u, _ := url.Parse(cfg.URL)
	return &Sink{
		cfg: cfg, kafkaOpts: kafkaOpts, serde: serde, dlq: d, m: m, log: log.With("sink", cfg.Name),
		http: &http.Client{
			Timeout: cfg.Timeout,
			// A redirect is answered as it is: permanent, not followed
			// (the body would not be re-signed for another receiver).
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		host: u.Host, stage: "sink." + cfg.Name, lag: kafka.NewLag(),
	}, nil
}

// Ready reports whether the sink is consuming.
func (s *Sink) Ready() bool { return s.ready.Load() }

// Run consumes and delivers until ctx is done. A failure of Kafka (a DLQ
// write or an offset commit) reconnects and resumes from the committed
// offsets.
func (s *Sink) Run(ctx context.Context) error {
	defer s.ready.Store(false)
	for failures := 0; ctx.Err() == nil; failures++ {
		err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.m.SinkErrors.WithLabelValues(s.cfg.Name, "retryable").Inc()
		s.log.Error("sink failed; resuming from the committed offsets", "err", err)
		retry.Sleep(ctx, retry.Delay(failures))
	}
	return nil
}

func (s *Sink) session(ctx context.Context) error {
	dlqTopic := topics.DLQ(s.cfg.TopicPrefix)
	group := "syncline-sink-" + s.cfg.Name
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, s.kafkaOpts...),
		kgo.ConsumeTopics(s.cfg.Topics...),
		kgo.ConsumerGroup(group),
		kgo.InstanceID(group+"-"+s.cfg.InstanceID),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		// A batch is delivered and committed before its partitions can
		// move to another member, which would post them concurrently.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(s.forget),
		kgo.OnPartitionsLost(s.forget),
	)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	// Leaving the group waits for a blocked rebalance.
	defer cl.AllowRebalance()
	if err := kafka.EnsureTopics(ctx, kadm.NewClient(cl), kafka.TopicSpec{Name: dlqTopic, Partitions: 1, RF: s.cfg.RF}); err != nil {
		return err
	}
	d := s.dlq
	if d == nil {
		d = dlq.New(dlqTopic, cl, s.m)
	}
	s.ready.Store(true)
	defer s.ready.Store(false)
	s.log.Info("webhook sink started", "group", group, "topics", s.cfg.Topics, "host", s.host)
	for ctx.Err() == nil {
		fs := kafka.PollBatch(ctx, cl.PollRecords, s.cfg.MaxBatch, s.cfg.BatchTimeout, s.log)
		if ctx.Err() != nil {
			// Records polled and not committed are delivered on restart.
			return nil
		}
		if fs.NumRecords() > 0 {
			s.m.ConsumerLag.WithLabelValues(s.stage).Set(float64(s.lag.Observe(fs)))
			if err := s.batch(ctx, cl, d, fs); err != nil {
				return err
			}
		}
		cl.AllowRebalance()
	}
	return nil
}

func (s *Sink) forget(_ context.Context, _ *kgo.Client, rs map[string][]int32) {
	s.m.ConsumerLag.WithLabelValues(s.stage).Set(float64(s.lag.Forget(rs)))
}

// errStopped: the context ended before the batch was delivered; nothing
// of it was committed.
var errStopped = errors.New("stopped")

// batch delivers one batch and commits its offsets. It returns an error
// only when Kafka failed (nothing after the delivery was committed) or
// ctx ended.
func (s *Sink) batch(ctx context.Context, cl *kgo.Client, d *dlq.DLQ, fs kgo.Fetches) error {
	var recs, sent []*kgo.Record
	var commitMs []int64
	body := append(append([]byte(`{"sink":`), appendString(nil, s.cfg.Name)...), `,"events":[`...)
	var parkErr error
	fs.EachRecord(func(r *kgo.Record) {
		recs = append(recs, r)
		if parkErr != nil {
			return
		}
		ch, err := s.serde.Decode(ctx, r.Key, r.Value)
		if err != nil {
			s.m.SinkErrors.WithLabelValues(s.cfg.Name, "decode").Inc()
			s.m.SinkWrites.WithLabelValues(s.cfg.Name, "error").Inc()
			s.log.Warn("undecodable record parked in the DLQ", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			parkErr = d.Park(context.WithoutCancel(ctx), s.stage, "undecodable", err, r)
			return
		}
		if len(sent) > 0 {
			body = append(body, ',')
		}
		body = appendEvent(body, fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset), ch)
		sent = append(sent, r)
		commitMs = append(commitMs, ch.Source.CommitMs)
	})
	if parkErr != nil {
		return parkErr
	}
	body = append(body, "]}"...)
	if len(sent) > 0 {
		rej, err := s.deliver(ctx, body)
		if err != nil {
			return err
		}
		if rej != nil {
			s.m.SinkErrors.WithLabelValues(s.cfg.Name, "permanent").Inc()
			s.m.SinkWrites.WithLabelValues(s.cfg.Name, "error").Add(float64(len(sent)))
			s.log.Warn("webhook refused a batch; its records are parked in the DLQ", "status", rej.status, "records", len(sent))
			for _, r := range sent {
				if err := d.Park(context.WithoutCancel(ctx), s.stage, "rejected", rej, r); err != nil {
					return err
				}
			}
		} else {
			s.m.SinkWrites.WithLabelValues(s.cfg.Name, "ok").Add(float64(len(sent)))
			now := time.Now()
			lat := s.m.EndToEndLatency.WithLabelValues(s.cfg.Name)
			for _, ms := range commitMs {
				if ms > 0 {
					lat.Observe(now.Sub(time.UnixMilli(ms)).Seconds())
				}
			}
		}
	}
	// Delivered (or parked): commit even when shutting down, so the
	// batch is not posted again.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := cl.CommitRecords(cctx, recs...); err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	return nil
}

// rejection is a permanent answer.
type rejection struct {
	status int
	body   string
}

func (r *rejection) Error() string {
	if r.body == "" {
		return fmt.Sprintf("the webhook answered %d %s", r.status, http.StatusText(r.status))
	}
	return fmt.Sprintf("the webhook answered %d %s: %s", r.status, http.StatusText(r.status), r.body)
}

// deliver POSTs body until a 2xx (nil, nil) or a permanent answer
// (rejection, nil); it returns errStopped when ctx ends first.
func (s *Sink) deliver(ctx context.Context, body []byte) (*rejection, error) {
	sum := sha256.Sum256(body)
	idem := hex.EncodeToString(sum[:])
	for attempt := 0; ; attempt++ {
		status, wait, rbody, err := s.attempt(ctx, body, idem)
		if ctx.Err() != nil {
			return nil, errStopped
		}
		switch {
		case err == nil && status/100 == 2:
			s.m.SinkAPICalls.WithLabelValues(s.cfg.Name, "post", "ok").Inc()
			return nil, nil
		case err == nil && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests && status/100 != 5:
			s.m.SinkAPICalls.WithLabelValues(s.cfg.Name, "post", "error").Inc()
			return &rejection{status: status, body: rbody}, nil
		}
		s.m.SinkErrors.WithLabelValues(s.cfg.Name, "retryable").Inc()
		d := s.backoff(attempt)
		if wait > d {
			d = min(wait, s.cfg.MaxRetryAfter)
		}
		if err != nil {
			s.log.Warn("webhook request failed; retrying", "attempt", attempt+1, "in", d, "err", err)
		} else {
			s.log.Warn("webhook answered a retryable status; retrying", "attempt", attempt+1, "status", status, "in", d)
		}
		if !retry.Sleep(ctx, d) {
			return nil, errStopped
		}
	}
}

// backoff is InitialBackoff doubling per attempt up to MaxBackoff, with
// jitter (between half and all of it).
func (s *Sink) backoff(attempt int) time.Duration {
	d := s.cfg.InitialBackoff
	for i := 0; i < attempt && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// attempt sends one POST; it returns the status, the Retry-After wait (0
// if none) and the start of the answer's body.
func (s *Sink) attempt(ctx context.Context, body []byte, idem string) (int, time.Duration, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, "", err
	}
	for _, h := range s.cfg.Headers {
		req.Header.Set(h.Name, h.Value)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(s.cfg.Secret, ts, body))
	req.Header.Set(HeaderIdemKey, idem)
	resp, err := s.http.Do(req)
	if err != nil {
		// The error names the URL, which may carry a credential.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After")), strings.TrimSpace(string(b)), nil
}

// Sign returns the X-Syncline-Signature value of body sent at timestamp
// ts (Unix seconds, as in X-Syncline-Timestamp): "sha256=" and the hex
// HMAC-SHA256 of "<ts>.<body>" keyed by secret.
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether sig is the signature of body at ts with secret,
// comparing in constant time (what a receiver does; see Sign).
func Verify(secret, ts string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sig))
}

// retryAfter parses a Retry-After value: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

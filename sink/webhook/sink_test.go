package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/testenv"
	"syncline/internal/topics"
	"syncline/schemas"
)

const (
	secret     = "whsec-test-0123456789"
	authHeader = "Bearer hdr-secret-42"
)

var topic = topics.Change("syncline", "app", "public", "orders")

// event is an event as the receiver decodes it.
type event struct {
	ID          string                     `json:"id"`
	Table       string                     `json:"table"`
	Op          string                     `json:"op"`
	Position    string                     `json:"position"`
	CommittedAt string                     `json:"committed_at"`
	Key         map[string]json.RawMessage `json:"key"`
	Before      map[string]json.RawMessage `json:"before"`
	After       map[string]json.RawMessage `json:"after"`
}

// receiver is a webhook endpoint that verifies every request and answers
// what respond says (nil: 200).
type receiver struct {
	t  testing.TB
	mu sync.Mutex
	// respond decides the answer to the n-th request (from 0) after the
	// events were read; nil answers 200.
	respond  func(n int, evs []event) (status int, header http.Header, body string)
	requests int
	// acked lists the events of 2xx answers, in order; seen all events
	// received, in order.
	acked, seen []event
	bad         []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	fail := func(f string, a ...any) {
		rc.bad = append(rc.bad, fmt.Sprintf(f, a...))
		w.WriteHeader(http.StatusUnauthorized)
	}
	ts := r.Header.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	switch {
	case r.Method != http.MethodPost:
		fail("method %s", r.Method)
		return
	case r.Header.Get("Content-Type") != "application/json":
		fail("content type %q", r.Header.Get("Content-Type"))
		return
	case err != nil || time.Since(time.Unix(sec, 0)) > 5*time.Minute:
		fail("timestamp %q", ts)
		return
	case !Verify(secret, ts, body, r.Header.Get(HeaderSignature)):
		fail("signature %q does not verify", r.Header.Get(HeaderSignature))
		return
	case r.Header.Get("Authorization") != authHeader:
		fail("configured header missing")
		return
	}
	sum := sha256.Sum256(body)
	if r.Header.Get(HeaderIdemKey) != hex.EncodeToString(sum[:]) {
		fail("idempotency key %q is not the body's hash", r.Header.Get(HeaderIdemKey))
		return
	}
	var b struct {
		Sink   string  `json:"sink"`
		Events []event `json:"events"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Sink != "hook" {
		fail("body %q: %v", body, err)
		return
	}
	n := rc.requests
	rc.requests++
	rc.seen = append(rc.seen, b.Events...)
	status, h, rb := http.StatusOK, http.Header(nil), ""
	if rc.respond != nil {
		status, h, rb = rc.respond(n, b.Events)
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	if status/100 == 2 {
		rc.acked = append(rc.acked, b.Events...)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, rb)
}

func (rc *receiver) set(f func(n int, evs []event) (int, http.Header, string)) {
	rc.mu.Lock()
	rc.respond = f
	rc.mu.Unlock()
}

func (rc *receiver) snapshot() (acked, seen []event, requests int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		rc.t.Errorf("receiver refused requests: %v", rc.bad)
	}
	return append([]event(nil), rc.acked...), append([]event(nil), rc.seen...), rc.requests
}

type env struct {
	t     testing.TB
	ctx   context.Context
	k     *testenv.Kafka
	prod  *kgo.Client
	serde *schemas.Serde
	m     *metrics.Metrics
	table *schemas.Table
	rc    *receiver
	srv   *httptest.Server
	logs  *lockedBuf
	seq   int
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	k := testenv.StartKafka(t)
	prod := k.Client(t)
	if err := kafka.EnsureTopics(ctx, kadm.NewClient(prod), kafka.TopicSpec{Name: topic, Partitions: 3, RF: 1}); err != nil {
		t.Fatal(err)
	}
	cols := []schemas.Column{
		{Name: "id", PGType: "integer", Kind: schemas.KindInt32, Key: true},
		{Name: "version", PGType: "bigint", Kind: schemas.KindInt64},
		{Name: "note", PGType: "text", Kind: schemas.KindString},
		{Name: "doc", PGType: "jsonb", Kind: schemas.KindJSON},
	}
	schemas.SanitizeFields(cols)
	rc := &receiver{t: t}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return &env{t: t, ctx: ctx, k: k, prod: prod, serde: schemas.NewSerde(k.RegistryClient(t)), m: metrics.New(prometheus.NewRegistry()),
		table: &schemas.Table{System: "postgres", Source: "app", DB: "app", Schema: "public", Name: "orders", Columns: cols},
		rc:    rc, srv: srv, logs: &lockedBuf{}}
}

func (e *env) config() Config {
	return Config{
		Name: "hook", URL: e.srv.URL + "/hooks/syncline", Secret: secret,
		Headers: []Header{{Name: "Authorization", Value: authHeader}},
		Topics:  []string{topic}, MaxBatch: 25, BatchTimeout: 50 * time.Millisecond, Timeout: 5 * time.Second,
		InitialBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}
}

type running struct {
	cancel context.CancelFunc
	done   chan error
}

func (e *env) start(cfg Config) *running {
	e.t.Helper()
	log := slog.New(slog.NewTextHandler(io.MultiWriter(e.logs, testWriter{e.t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg, e.k.Opts(), e.serde, nil, e.m, log)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	e.t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		panic(err)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// produce writes n changes: versions 1, 2, ... of keys 0..keys-1 in turn,
// so each key's versions must arrive in increasing order.
func (e *env) produce(n, keys int) {
	e.t.Helper()
	enc, err := e.serde.Encoder(e.ctx, topic, e.table)
	if err != nil {
		e.t.Fatal(err)
	}
	var recs []*kgo.Record
	for range n {
		e.seq++
		id := int32(e.seq % keys)
		op := schemas.OpUpdate
		if e.seq <= keys {
			op = schemas.OpCreate
		}
		ch := &schemas.Change{Table: e.table, Op: op,
			After: schemas.Row{"id": id, "version": int64(e.seq), "note": fmt.Sprintf("n<%d>", e.seq), "doc": fmt.Sprintf(`{"seq": %d}`, e.seq)},
			Source: schemas.Source{System: "postgres", Name: "app", DB: "app", Schema: "public", Table: "orders",
				Position: fmt.Sprintf("%016X/0", e.seq), CommitMs: time.Now().UnixMilli()}}
		k, v, err := enc.Encode(ch)
		if err != nil {
			e.t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: k, Value: v})
	}
	if err := e.prod.ProduceSync(e.ctx, recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// caughtUp waits until the sink's group committed the end of the topic.
func (e *env) caughtUp() {
	e.t.Helper()
	adm := kadm.NewClient(e.prod)
	testenv.WaitFor(e.t, 60*time.Second, "the sink to commit the end of its topic", func() bool {
		ends, err := adm.ListEndOffsets(e.ctx, topic)
		if err != nil {
			return false
		}
		com, err := adm.FetchOffsets(e.ctx, "syncline-sink-hook")
		if err != nil {
			return false
		}
		ok := true
		ends.Each(func(lo kadm.ListedOffset) {
			c, found := com.Lookup(lo.Topic, lo.Partition)
			if lo.Offset > 0 && (!found || c.At < lo.Offset) {
				ok = false
			}
		})
		return ok
	})
}

func version(t testing.TB, ev event) int {
	var v int
	if err := json.Unmarshal(ev.After["version"], &v); err != nil {
		t.Fatalf("event %s: version %s: %v", ev.ID, ev.After["version"], err)
	}
	return v
}

// checkAll asserts that acked holds versions 1..n, each id always with
// the same content, and that each key's first deliveries come in
// increasing version order.
func checkAll(t *testing.T, acked []event, n int) {
	t.Helper()
	byID := map[string]event{}
	byVersion := map[int]string{}
	last := map[string]int{}
	for _, ev := range acked {
		v := version(t, ev)
		if prev, ok := byID[ev.ID]; ok {
			if fmt.Sprint(prev) != fmt.Sprint(ev) {
				t.Errorf("id %s delivered with different content:\n%v\n%v", ev.ID, prev, ev)
			}
			continue
		}
		byID[ev.ID] = ev
		if other, dup := byVersion[v]; dup {
			t.Errorf("version %d delivered under two ids %s and %s", v, other, ev.ID)
		}
		byVersion[v] = ev.ID
		k := string(ev.Key["id"])
		if v <= last[k] {
			t.Errorf("key %s: version %d delivered after %d", k, v, last[k])
		}
		last[k] = v
	}
	for v := 1; v <= n; v++ {
		if _, ok := byVersion[v]; !ok {
			t.Errorf("version %d never acknowledged", v)
		}
	}
	if len(byVersion) != n {
		t.Errorf("%d distinct events acknowledged, want %d", len(byVersion), n)
	}
}

func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// Every event arrives signed, with its fields rendered, in per-key order.
func TestDeliversSignedBatchesInKeyOrder(t *testing.T) {
	e := newEnv(t)
	e.produce(200, 7)
	e.start(e.config())
	e.caughtUp()
	acked, _, requests := e.rc.snapshot()
	checkAll(t, acked, 200)
	if requests < 200/25 {
		t.Errorf("%d requests for 200 events in batches of at most 25", requests)
	}
	ev := acked[0]
	if ev.Table != "app.public.orders" || (ev.Op != "c" && ev.Op != "u") || ev.Position == "" {
		t.Errorf("event fields: %+v", ev)
	}
	if _, err := time.Parse(time.RFC3339, ev.CommittedAt); err != nil {
		t.Errorf("committed_at %q: %v", ev.CommittedAt, err)
	}
	parts := strings.Split(ev.ID, "/")
	if len(parts) != 3 || parts[0] != topic {
		t.Errorf("id %q is not <topic>/<partition>/<offset>", ev.ID)
	}
	if ev.Before != nil {
		t.Errorf("before %v, want null", ev.Before)
	}
	v := version(t, ev)
	if got, want := string(ev.After["doc"]), fmt.Sprintf(`{"seq":%d}`, v); got != want {
		t.Errorf("jsonb doc rendered as %s, want the JSON %s", got, want)
	}
	if got, want := string(ev.After["note"]), fmt.Sprintf(`"n\u003c%d\u003e"`, v); got != want && got != fmt.Sprintf(`"n<%d>"`, v) {
		t.Errorf("note rendered as %s", got)
	}
	if got := counter(t, e.m.SinkWrites.WithLabelValues("hook", "ok")); got != 200 {
		t.Errorf("sink_writes_total{ok} = %v, want 200", got)
	}
}

// A storm of 500s, 503s, 429s (with Retry-After), answers the receiver
// processed but failed, and slow answers past the timeout loses nothing.
func TestStormLosesNothing(t *testing.T) {
	e := newEnv(t)
	e.rc.set(func(n int, _ []event) (int, http.Header, string) {
		switch {
		case n == 1:
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}, `{"error":"slow down"}`
		case n == 4:
			time.Sleep(600 * time.Millisecond) // past the client timeout
			return http.StatusOK, nil, ""
		case n < 30 && n%3 == 0:
			return http.StatusInternalServerError, nil, "boom"
		case n < 30 && n%3 == 2:
			return http.StatusServiceUnavailable, nil, "try later"
		case n < 30 && n%5 == 1:
			return http.StatusTooManyRequests, nil, ""
		}
		return http.StatusOK, nil, ""
	})
	cfg := e.config()
	cfg.Timeout = 300 * time.Millisecond
	e.produce(150, 5)
	e.start(cfg)
	e.caughtUp()
	acked, seen, requests := e.rc.snapshot()
	checkAll(t, acked, 150)
	if len(seen) <= len(acked) || requests < 20 {
		t.Errorf("the storm did not happen: %d requests, %d events seen, %d acked", requests, len(seen), len(acked))
	}
	if got := counter(t, e.m.SinkErrors.WithLabelValues("hook", "retryable")); got < 10 {
		t.Errorf("sink_errors_total{retryable} = %v, want the retried attempts", got)
	}
	if got := counter(t, e.m.SinkWrites.WithLabelValues("hook", "error")); got != 0 {
		t.Errorf("sink_writes_total{error} = %v, want 0", got)
	}
	noSecrets(t, e.logs.String())
}

func noSecrets(t *testing.T, logs string) {
	t.Helper()
	for _, s := range []string{secret, authHeader, "hdr-secret-42"} {
		if strings.Contains(logs, s) {
			t.Errorf("a secret (%q) is in the logs", s)
		}
	}
}

// A 400 parks the batch's records in the DLQ with the status and body, and
// the sink goes on with the next batches; the secrets are in no log line.
func TestRejectedBatchParkedAndSinkContinues(t *testing.T) {
	e := newEnv(t)
	var rejected []event
	e.rc.set(func(n int, evs []event) (int, http.Header, string) {
		if n == 0 {
			rejected = evs
			return http.StatusBadRequest, nil, `{"error":"unknown field doc"}`
		}
		return http.StatusOK, nil, ""
	})
	e.produce(60, 4)
	e.start(e.config())
	e.caughtUp()
	e.produce(40, 4)
	e.caughtUp()
	acked, _, _ := e.rc.snapshot()
	if len(rejected) == 0 {
		t.Fatal("no batch was rejected")
	}
	got := map[int]bool{}
	for _, ev := range acked {
		got[version(t, ev)] = true
	}
	for _, ev := range rejected {
		if got[version(t, ev)] {
			t.Errorf("rejected version %d was acknowledged later", version(t, ev))
		}
		got[version(t, ev)] = true
	}
	for v := 1; v <= 100; v++ {
		if !got[v] {
			t.Errorf("version %d neither acknowledged nor rejected", v)
		}
	}
	// The DLQ holds exactly the rejected records.
	dl := readDLQ(t, e, len(rejected))
	for _, r := range dl {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		if h["syncline.reason"] != "rejected" || h["syncline.stage"] != "sink.hook" ||
			!strings.Contains(h["syncline.error"], "400") || !strings.Contains(h["syncline.error"], "unknown field doc") {
			t.Errorf("DLQ headers %v", h)
		}
	}
	if got := counter(t, e.m.SinkWrites.WithLabelValues("hook", "error")); got != float64(len(rejected)) {
		t.Errorf("sink_writes_total{error} = %v, want %d", got, len(rejected))
	}
	if got := counter(t, e.m.SinkErrors.WithLabelValues("hook", "permanent")); got != 1 {
		t.Errorf("sink_errors_total{permanent} = %v, want 1", got)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "parked in the DLQ") {
		t.Errorf("the rejection was not logged:\n%s", logs)
	}
	noSecrets(t, logs)
}

func readDLQ(t *testing.T, e *env, want int) []*kgo.Record {
	t.Helper()
	cl := e.k.Client(t, kgo.ConsumeTopics(topics.DLQ("syncline")), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	for len(out) < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	// Nothing more arrives.
	ctx2, cancel2 := context.WithTimeout(e.ctx, 500*time.Millisecond)
	defer cancel2()
	cl.PollFetches(ctx2).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	if len(out) != want {
		t.Fatalf("%d DLQ records, want %d", len(out), want)
	}
	return out
}

// A restart resumes from the committed offsets: the events after the last
// 2xx are delivered again with the same ids, the acknowledged ones are not.
func TestRestartResumesFromLastAcknowledged(t *testing.T) {
	e := newEnv(t)
	e.produce(50, 6)
	r := e.start(e.config())
	e.caughtUp()
	phase1, _, _ := e.rc.snapshot()
	// The receiver now reads everything and acknowledges nothing.
	e.rc.set(func(int, []event) (int, http.Header, string) { return http.StatusBadGateway, nil, "" })
	e.produce(50, 6)
	testenv.WaitFor(t, 30*time.Second, "the new events to be posted", func() bool {
		_, seen, _ := e.rc.snapshot()
		return len(seen) > len(phase1)+10
	})
	r.stop()
	_, seen2, _ := e.rc.snapshot()
	unacked := map[string]event{}
	for _, ev := range seen2[len(phase1):] {
		unacked[ev.ID] = ev
	}
	e.rc.set(nil)
	e.start(e.config())
	e.caughtUp()
	acked, _, _ := e.rc.snapshot()
	checkAll(t, acked, 100)
	ackedBefore := map[string]bool{}
	for _, ev := range phase1 {
		ackedBefore[ev.ID] = true
	}
	again := map[string]event{}
	for _, ev := range acked[len(phase1):] {
		if ackedBefore[ev.ID] {
			t.Errorf("event %s acknowledged before the restart was delivered again", ev.ID)
		}
		again[ev.ID] = ev
	}
	for id, ev := range unacked {
		a, ok := again[id]
		if !ok {
			t.Errorf("unacknowledged event %s was not redelivered", id)
		} else if fmt.Sprint(a) != fmt.Sprint(ev) {
			t.Errorf("event %s redelivered with different content", id)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	base := Config{Name: "hook", URL: "https://example.com/h?token=abc", Secret: "s", Topics: []string{"t"}}
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.URL = "ftp://x" }, "url is not an http:// or https:// URL"},
		{func(c *Config) { c.Secret = "" }, "secret is empty"},
		{func(c *Config) { c.Headers = []Header{{Name: "X-Syncline-Signature", Value: "x"}} }, "headers[0].name X-Syncline-Signature is set by the sink itself"},
		{func(c *Config) { c.Headers = []Header{{Name: "Bad Name", Value: "x"}} }, `headers[0].name "Bad Name" is not a valid header name`},
		{func(c *Config) { c.Headers = []Header{{Name: "X-A", Value: "a\nb"}} }, "headers[0].value (of X-A)"},
		{func(c *Config) { c.Topics = nil }, "no topics"},
	} {
		c := base
		tc.mut(&c)
		_, err := c.withDefaults()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err %v, want %q", err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "token=abc") {
			t.Errorf("error %v shows the URL", err)
		}
	}
	if _, err := base.withDefaults(); err != nil {
		t.Fatal(err)
	}
}

// Package saastest holds what the tests of the SaaS sinks share: a kfake
// broker with a change topic of a people table, change records, waiting
// for a sink's group to catch up, and the DLQ.
package saastest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/dlq"
	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/testenv"
	"syncline/internal/topics"
	"syncline/schemas"
	sinksaas "syncline/sink/saas"
)

// Env is one test's broker, change topic and metrics.
type Env struct {
	T     testing.TB
	Ctx   context.Context
	K     *testenv.Kafka
	Prod  *kgo.Client
	Serde *schemas.Serde
	M     *metrics.Metrics
	Table *schemas.Table
	Dir   string
	// Topic is the change topic of app.public.people (3 partitions).
	Topic string

	lsn int
}

// New starts kfake and creates the change topic.
func New(t testing.TB) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	k := testenv.StartKafka(t)
	prod := k.Client(t)
	topic := topics.Change("syncline", "app", "public", "people")
	if err := kafka.EnsureTopics(ctx, kadm.NewClient(prod), kafka.TopicSpec{Name: topic, Partitions: 3, RF: 1}); err != nil {
		t.Fatal(err)
	}
	cols := []schemas.Column{
		{Name: "id", PGType: "integer", Kind: schemas.KindInt32, Key: true},
		{Name: "email", PGType: "text", Kind: schemas.KindString},
		{Name: "first_name", PGType: "text", Kind: schemas.KindString},
		{Name: "phone", PGType: "text", Kind: schemas.KindString},
	}
	schemas.SanitizeFields(cols)
	tbl := &schemas.Table{System: "postgres", Source: "app", DB: "app", Schema: "public", Name: "people", Columns: cols}
	return &Env{T: t, Ctx: ctx, K: k, Prod: prod, Serde: schemas.NewSerde(k.RegistryClient(t)),
		M: metrics.New(prometheus.NewRegistry()), Table: tbl, Dir: t.TempDir(), Topic: topic}
}

// Stream is a sink's stream of the change topic for tests: short batch
// timeout, the state in the test's directory.
func (e *Env) Stream() sinksaas.Stream {
	return sinksaas.Stream{Topics: []string{e.Topic}, BatchTimeout: 50 * time.Millisecond, Partitions: 2, StateDir: e.Dir, TxnTimeout: 20 * time.Second}
}

// Opts are the Kafka client options of the broker.
func (e *Env) Opts() []kgo.Opt { return e.K.Opts() }

// Logger logs to the test at warn level.
func (e *Env) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{e.T}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Change is a change of person id at the next position; a delete's
// before image has only the key.
func (e *Env) Change(op schemas.Op, id int32, email, name string) *schemas.Change {
	e.lsn++
	row := schemas.Row{"id": id, "email": email, "first_name": nil, "phone": nil}
	if name != "" {
		row["first_name"] = name
	}
	ch := &schemas.Change{Table: e.Table, Op: op, After: row, Source: schemas.Source{System: "postgres", Name: "app", DB: "app",
		Schema: "public", Table: "people", Position: fmt.Sprintf("%016X/0", e.lsn), CommitMs: time.Now().UnixMilli()}}
	if op == schemas.OpDelete {
		ch.Before, ch.After = schemas.Row{"id": id, "email": nil, "first_name": nil, "phone": nil}, nil
	}
	return ch
}

// Produce encodes and produces changes to the change topic.
func (e *Env) Produce(chs ...*schemas.Change) []*kgo.Record {
	e.T.Helper()
	var recs []*kgo.Record
	for _, ch := range chs {
		enc, err := e.Serde.Encoder(e.Ctx, e.Topic, ch.Table)
		if err != nil {
			e.T.Fatal(err)
		}
		k, v, err := enc.Encode(ch)
		if err != nil {
			e.T.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: e.Topic, Key: k, Value: v})
	}
	if err := e.Prod.ProduceSync(e.Ctx, recs...).FirstErr(); err != nil {
		e.T.Fatal(err)
	}
	return recs
}

// CaughtUp waits until the group committed the end of the change topic.
func (e *Env) CaughtUp(group string) { e.T.Helper(); e.CaughtUpWith(group, e.Topic) }

// CaughtUpWith waits until the group committed the end of topic.
func (e *Env) CaughtUpWith(group, topic string) {
	e.T.Helper()
	adm := kadm.NewClient(e.Prod)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ends, err := adm.ListEndOffsets(e.Ctx, topic)
		if err != nil {
			e.T.Fatal(err)
		}
		com, err := adm.FetchOffsets(e.Ctx, group)
		if err == nil {
			ok := true
			ends.Each(func(lo kadm.ListedOffset) {
				c, found := com.Lookup(lo.Topic, lo.Partition)
				if lo.Offset > 0 && (!found || c.At < lo.Offset) {
					ok = false
				}
			})
			if ok {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.T.Fatalf("sink did not catch up with %s within 60s", topic)
}

// DLQAdmin is the admin of the DLQ (as `syncline dlq` uses it).
func (e *Env) DLQAdmin() *dlq.Admin {
	return dlq.NewAdmin(e.Opts(), topics.DLQ("syncline"), topics.DLQReplays("syncline"), "test-dlq-admin")
}

// DLQEntries lists the DLQ entries of stage not replayed yet.
func (e *Env) DLQEntries(stage string) []dlq.Entry {
	e.T.Helper()
	es, err := e.DLQAdmin().List(e.Ctx, dlq.Filter{Stage: stage})
	if err != nil {
		e.T.Fatal(err)
	}
	return es
}

// Start runs the engine eng returns (unless err is set: the test fails),
// with its BeforeCommit hook set to hook.
func (e *Env) Start(eng func() *sinksaas.Engine, err error, hook func() error) *Running {
	e.T.Helper()
	if err != nil {
		e.T.Fatal(err)
	}
	en := eng()
	en.BeforeCommit = hook
	return e.Go(en.Run)
}

// CrashBeforeCommit is a BeforeCommit hook that fails every batch after
// its API calls, as a process killed before its commit; crashed is
// closed at the first.
func CrashBeforeCommit() (hook func() error, crashed <-chan struct{}) {
	ch := make(chan struct{})
	var once sync.Once
	return func() error {
		once.Do(func() { close(ch) })
		return errors.New("crash before commit")
	}, ch
}

// Running is a sink running in the background.
type Running struct {
	cancel context.CancelFunc
	done   chan error
}

// Go runs run until Stop (or the test's end); Stop fails the test when
// run returned an error.
func (e *Env) Go(run func(context.Context) error) *Running {
	ctx, cancel := context.WithCancel(e.Ctx)
	r := &Running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx) }()
	e.T.Cleanup(r.Stop)
	return r
}

// Stop stops the sink and waits for it.
func (r *Running) Stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		panic(err)
	}
}

// Counter reads a counter.
func Counter(t testing.TB, c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

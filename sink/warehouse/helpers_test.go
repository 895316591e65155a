package warehouse

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"syncline/internal/dlq"
	"syncline/internal/metrics"
	"syncline/internal/testenv"
	"syncline/internal/topics"
	"syncline/schemas"
)

var pg *testenv.Postgres

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	srv, err := testenv.StartPostgresServer(ctx, "", 0, nil)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start postgres:", err)
		os.Exit(1)
	}
	pg = testenv.NewPostgres(srv)
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

// fakeRegistry is an in-memory Confluent-compatible registry: ids are
// global, a subject re-registering the same text gets the same id, and an
// unknown id is the registry's 404/40403.
type fakeRegistry struct {
	mu      sync.Mutex
	byID    map[int]string
	ids     map[string]int // schema text -> id
	version map[string]int // subject -> latest version
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{byID: map[int]string{}, ids: map[string]int{}, version: map[string]int{}}
}

func (r *fakeRegistry) CreateSchema(_ context.Context, subject string, s sr.Schema) (sr.SubjectSchema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.ids[s.Schema]
	if !ok {
		id = len(r.byID) + 1
		r.byID[id] = s.Schema
		r.ids[s.Schema] = id
	}
	r.version[subject]++
	return sr.SubjectSchema{Subject: subject, Version: r.version[subject], ID: id, Schema: s}, nil
}

func (r *fakeRegistry) SchemaByID(_ context.Context, id int) (sr.Schema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.byID[id]
	if !ok {
		return sr.Schema{}, &sr.ResponseError{StatusCode: 404, ErrorCode: 40403, Message: fmt.Sprintf("Schema %d not found", id)}
	}
	return sr.Schema{Schema: s, Type: sr.TypeAvro}, nil
}

// env is one test's world: a database, an in-process Kafka, a registry.
type env struct {
	t        *testing.T
	db       string
	dsn      string
	cluster  *kfake.Cluster
	prod     *kgo.Client
	adm      *kadm.Client
	serde    *schemas.Serde
	registry *fakeRegistry
	dlq      *dlq.DLQ
	reg      *prometheus.Registry
	m        *metrics.Metrics
	ctx      context.Context
}

var dbSeq atomic.Int64

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	db := fmt.Sprintf("wh_%d", dbSeq.Add(1))
	e := &env{t: t, db: db, ctx: ctx}
	e.dsn = pg.CreateDatabase(t, db)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e.cluster = c
	e.prod, err = kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.prod.Close)
	e.adm = kadm.NewClient(e.prod)
	e.registry = newFakeRegistry()
	e.serde = schemas.NewSerde(e.registry)
	e.reg = prometheus.NewRegistry()
	e.m = metrics.New(e.reg)
	e.createTopic(topics.DLQ("syncline"), 1)
	e.dlq = dlq.New(topics.DLQ("syncline"), e.prod, e.m)
	return e
}

func (e *env) createTopic(name string, partitions int32) {
	e.t.Helper()
	resp, err := e.adm.CreateTopic(e.ctx, partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		e.t.Fatalf("create topic %s: %v", name, err)
	}
}

func (e *env) kafkaOpts() []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(e.cluster.ListenAddrs()...)}
}

// config returns a sink config for tables (all from source "app", schema
// "public"), each read from its change topic.
func (e *env) config(name string, tables ...*schemas.Table) Config {
	cfg := Config{Name: name, DSN: e.dsn, Schema: "analytics", BatchSize: 100, BatchTimeout: 50 * time.Millisecond}
	for _, t := range tables {
		cfg.Tables = append(cfg.Tables, TableRef{Source: t.Source, Schema: t.Schema, Table: t.Name})
		cfg.Topics = append(cfg.Topics, topicOf(t))
	}
	return cfg
}

func topicOf(t *schemas.Table) string { return topics.Change("syncline", t.Source, t.Schema, t.Name) }

type runningSink struct {
	*Sink
	stop func()
}

// start runs a sink until stop (or the end of the test); Run must return nil.
func (e *env) start(cfg Config) *runningSink {
	e.t.Helper()
	s, err := New(cfg, e.kafkaOpts(), e.serde, e.dlq, e.m, testLogger(e.t))
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run returned %v, want nil after cancel", err)
				}
			case <-time.After(time.Minute):
				e.t.Errorf("Run did not return within a minute of cancel")
			}
		})
	}
	e.t.Cleanup(stop)
	return &runningSink{s, stop}
}

func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("SYNCLINE_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// produce encodes changes and produces them (non-transactionally, in order)
// to the table's change topic.
func (e *env) produce(changes ...*schemas.Change) {
	e.t.Helper()
	var recs []*kgo.Record
	for _, ch := range changes {
		enc, err := e.serde.Encoder(e.ctx, topicOf(ch.Table), ch.Table)
		if err != nil {
			e.t.Fatal(err)
		}
		k, v, err := enc.Encode(ch)
		if err != nil {
			e.t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: topicOf(ch.Table), Key: k, Value: v})
	}
	e.produceRaw(recs...)
}

func (e *env) produceRaw(recs ...*kgo.Record) {
	e.t.Helper()
	if err := e.prod.ProduceSync(e.ctx, recs...).FirstErr(); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
}

// waitCaughtUp waits until the sink's stored offsets reach the end of the
// topics of tables.
func (e *env) waitCaughtUp(sink string, tables ...*schemas.Table) {
	e.t.Helper()
	var names []string
	for _, t := range tables {
		names = append(names, topicOf(t))
	}
	ends, err := e.adm.ListEndOffsets(e.ctx, names...)
	if err != nil {
		e.t.Fatal(err)
	}
	want := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = o.Offset
		}
	})
	e.eventually(60*time.Second, func() (bool, string) {
		got := e.storedOffsets(sink)
		for k, w := range want {
			if got[k] < w {
				return false, fmt.Sprintf("stored offsets %v, want at least %v", got, want)
			}
		}
		return true, ""
	})
}

// storedOffsets returns "<topic>/<partition>" -> next_offset for sink.
func (e *env) storedOffsets(sink string) map[string]int64 {
	out := map[string]int64{}
	conn := e.conn()
	defer conn.Close(context.Background())
	rows, err := conn.Query(e.ctx, `SELECT topic, partition, next_offset FROM analytics._syncline_offsets WHERE sink = $1`, sink)
	if err != nil {
		return out // not created yet
	}
	for rows.Next() {
		var t string
		var p int32
		var n int64
		if err := rows.Scan(&t, &p, &n); err != nil {
			e.t.Fatal(err)
		}
		out[fmt.Sprintf("%s/%d", t, p)] = n
	}
	return out
}

func (e *env) conn() *pgx.Conn {
	e.t.Helper()
	conn, err := pgx.Connect(e.ctx, e.dsn)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := conn.Exec(e.ctx, "SET TimeZone = 'UTC'"); err != nil {
		e.t.Fatal(err)
	}
	return conn
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	conn := e.conn()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(e.ctx, sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// query returns every row of sql with each value as text ("NULL" for NULL).
func (e *env) query(sql string, args ...any) []string {
	e.t.Helper()
	conn := e.conn()
	defer conn.Close(context.Background())
	rows, err := conn.Query(e.ctx, sql, args...)
	if err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			e.t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				parts[i] = "NULL"
			} else {
				parts[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// rows returns the target table's rows, columns cast to text, ordered by
// the first column.
func (e *env) rows(table string, cols ...string) []string {
	e.t.Helper()
	var sel []string
	for _, c := range cols {
		sel = append(sel, quoteIdent(c)+"::text")
	}
	return e.query("SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent("analytics", table) + " ORDER BY 1")
}

// eventually polls cond until it holds or timeout passes.
func (e *env) eventually(timeout time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v: %s", timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// installWriteCounter records every row written to the target (by
// trigger) in analytics.writes, so a test can prove a replay wrote nothing.
func (e *env) installWriteCounter(table string) {
	e.t.Helper()
	ident := quoteIdent("analytics", table)
	e.exec(`CREATE TABLE IF NOT EXISTS analytics.writes (n bigserial, tg_op text, tbl text);
CREATE OR REPLACE FUNCTION analytics.count_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO analytics.writes (tg_op, tbl) VALUES (TG_OP, TG_TABLE_NAME); RETURN NULL; END $$;
CREATE TRIGGER count_writes AFTER INSERT OR UPDATE OR DELETE ON ` + ident + ` FOR EACH ROW EXECUTE FUNCTION analytics.count_write();
CREATE TRIGGER count_truncates AFTER TRUNCATE ON ` + ident + ` FOR EACH STATEMENT EXECUTE FUNCTION analytics.count_write();`)
}

func (e *env) writes() int {
	e.t.Helper()
	r := e.query("SELECT count(*) FROM analytics.writes")
	var n int
	fmt.Sscan(r[0], &n)
	return n
}

func (e *env) counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		e.t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// dlqRecords reads the DLQ topic until n records arrived.
func (e *env) dlqRecords(n int) []*kgo.Record {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.ListenAddrs()...), kgo.ConsumeTopics(topics.DLQ("syncline")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("DLQ has %d records, want %d", len(out), n)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Change builders.

func pos(lsn int) string { return fmt.Sprintf("%016X/%016X", lsn, 0) }

func change(t *schemas.Table, op schemas.Op, p string, before, after schemas.Row) *schemas.Change {
	return &schemas.Change{Table: t, Op: op, Before: before, After: after, Source: schemas.Source{
		System: "postgres", Name: t.Source, DB: "app", Schema: t.Schema, Table: t.Name,
		Position: p, CommitMs: time.Now().UnixMilli(),
	}, TsMs: time.Now().UnixMilli()}
}

func ins(t *schemas.Table, lsn int, after schemas.Row) *schemas.Change {
	return change(t, schemas.OpCreate, pos(lsn), nil, after)
}

func upd(t *schemas.Table, lsn int, before, after schemas.Row) *schemas.Change {
	return change(t, schemas.OpUpdate, pos(lsn), before, after)
}

func del(t *schemas.Table, lsn int, before schemas.Row) *schemas.Change {
	return change(t, schemas.OpDelete, pos(lsn), before, nil)
}

func trunc(t *schemas.Table, lsn int) *schemas.Change {
	return change(t, schemas.OpTruncate, pos(lsn), nil, nil)
}

func newTable(name string, cols ...schemas.Column) *schemas.Table {
	schemas.SanitizeFields(cols)
	return &schemas.Table{System: "postgres", Source: "app", DB: "app", Schema: "public", Name: name, Columns: cols}
}

// people is the small table most scenarios use.
func people() *schemas.Table {
	return newTable("people",
		schemas.Column{Name: "id", PGType: "integer", Kind: schemas.KindInt32, Key: true},
		schemas.Column{Name: "name", PGType: "text", Kind: schemas.KindString},
	)
}

func person(id int32, name string) schemas.Row {
	r := schemas.Row{"id": id, "name": nil}
	if name != "" {
		r["name"] = name
	}
	return r
}

type nopProducer struct{}

func (nopProducer) ProduceSync(context.Context, ...*kgo.Record) kgo.ProduceResults { return nil }

func dlqStub() *dlq.DLQ {
	return dlq.New(topics.DLQ("syncline"), nopProducer{}, metrics.New(prometheus.NewRegistry()))
}

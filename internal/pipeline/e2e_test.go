package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"syncline/internal/config"
	"syncline/internal/pipeline"
	"syncline/internal/testenv"
	"syncline/schemas"
)

// harness runs the whole pipeline in process on the embedded default
// against a throwaway Postgres holding a source and a warehouse database.
type harness struct {
	t       *testing.T
	pg      *testenv.Postgres
	srcDSN  string
	whDSN   string
	dataDir string
	cfgText string

	logs lockedBuffer // everything the pipeline logged

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
	addrs  pipeline.Addrs
}

const schemaSQL = `
CREATE TABLE customers (
	id bigint PRIMARY KEY,
	email text NOT NULL,
	name varchar(80),
	balance numeric(12,2),
	score double precision,
	active boolean DEFAULT true,
	born date,
	created_at timestamptz DEFAULT now(),
	prefs jsonb,
	tags text[],
	photo bytea,
	bio text
);
CREATE TABLE orders (
	tenant int NOT NULL,
	id int NOT NULL,
	customer_id bigint,
	amount numeric(10,2),
	note text,
	PRIMARY KEY (tenant, id)
);`

func newHarness(t *testing.T) *harness {
	t.Helper()
	pg := testenv.StartPostgres(t)
	h := &harness{t: t, pg: pg, dataDir: t.TempDir()}
	h.srcDSN = pg.CreateDatabase(t, "app")
	h.whDSN = pg.CreateDatabase(t, "warehouse")
	pg.Exec(t, "app", schemaSQL)
	h.cfgText = fmt.Sprintf(`
name: e2e
data_dir: %s
kafka:
  partitions: 3
  embedded: {listen: 127.0.0.1:0}
registry: {listen: 127.0.0.1:0}
http: {listen: 127.0.0.1:0}
sources:
  - name: app
    type: postgres
    dsn: ${APP_DSN}
    tables: [public.customers, public.orders]
    batch_max_wait: 20ms
sinks:
  - name: wh
    type: postgres
    dsn: ${WH_DSN}
    schema: analytics
    from: [app.*]
    batch_timeout: 50ms
`, h.dataDir)
	t.Setenv("APP_DSN", h.srcDSN)
	t.Setenv("WH_DSN", h.whDSN)
	return h
}

func (h *harness) start() {
	h.t.Helper()
	path := filepath.Join(h.dataDir, "pipeline.yaml")
	if err := os.WriteFile(path, []byte(h.cfgText), 0o600); err != nil {
		h.t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		h.t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan pipeline.Addrs, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{h.t}, &h.logs), &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() {
		done <- pipeline.Run(ctx, cfg, pipeline.Options{Logger: log, Registry: prometheus.NewRegistry(), Started: func(a pipeline.Addrs) { started <- a }})
	}()
	select {
	case a := <-started:
		h.mu.Lock()
		h.addrs, h.cancel, h.done = a, cancel, done
		h.mu.Unlock()
	case err := <-done:
		cancel()
		h.t.Fatalf("pipeline did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		h.t.Fatal("pipeline did not start within 60s")
	}
	h.t.Cleanup(func() { h.stop() })
}

// stop cancels the pipeline (as SIGTERM does) and waits for it to return.
func (h *harness) stop() {
	h.mu.Lock()
	cancel, done := h.cancel, h.done
	h.cancel, h.done = nil, nil
	h.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			h.t.Errorf("pipeline returned an error on shutdown: %v", err)
		}
	case <-time.After(60 * time.Second):
		h.t.Fatal("pipeline did not stop within 60s of cancellation")
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// rows returns each row of query as its text form, in order.
func rows(t *testing.T, dsn, query string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rs, err := conn.Query(ctx, "SELECT t::text FROM ("+query+") t")
	if err != nil {
		return []string{"query error: " + err.Error()}
	}
	out, err := pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil {
		return []string{"query error: " + err.Error()}
	}
	return out
}

const (
	customerCols = "id, email, name, balance, score, active, born, created_at, prefs, tags, photo, bio"
	orderCols    = "tenant, id, customer_id, amount, note"
)

// waitInSync waits until the warehouse tables equal the source tables,
// column for column, and fails with the first difference otherwise.
func (h *harness) waitInSync(timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		diff := h.diff()
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("warehouse not in sync with source after %v: %s", timeout, diff)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *harness) diff() string {
	for _, tc := range []struct{ table, cols, order string }{
		{"customers", customerCols, "id"},
		{"orders", orderCols, "tenant, id"},
	} {
		src := rows(h.t, h.srcDSN, fmt.Sprintf("SELECT %s FROM public.%s ORDER BY %s", tc.cols, tc.table, tc.order))
		wh := rows(h.t, h.whDSN, fmt.Sprintf("SELECT %s FROM analytics.%s ORDER BY %s", tc.cols, tc.table, tc.order))
		if len(src) == 0 && len(wh) == 1 && strings.Contains(wh[0], "does not exist") {
			continue // the sink creates a table with its first change
		}
		if len(src) != len(wh) {
			return fmt.Sprintf("%s: source has %d rows, warehouse %d (first warehouse row: %.200v)", tc.table, len(src), len(wh), first(wh))
		}
		for i := range src {
			if src[i] != wh[i] {
				return fmt.Sprintf("%s row %d:\n source    %.300s\n warehouse %.300s", tc.table, i, src[i], wh[i])
			}
		}
	}
	return ""
}

func first(s []string) string {
	if len(s) == 0 {
		return "<none>"
	}
	return s[0]
}

// topicRecords reads every committed record of topic.
func (h *harness) topicRecords(topic string) []*kgo.Record {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.addrs.Brokers...))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		h.t.Fatal(err)
	}
	want := map[int32]int64{}
	offs := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			offs[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(h.addrs.Brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}))
	if err != nil {
		h.t.Fatal(err)
	}
	defer rd.Close()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			h.t.Fatalf("reading %s: %v (still waiting for %v)", topic, ctx.Err(), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}

func (h *harness) serde() *schemas.Serde {
	cl, err := sr.NewClient(sr.URLs(h.addrs.Registry))
	if err != nil {
		h.t.Fatal(err)
	}
	return schemas.NewSerde(cl)
}

// keyCounts decodes topic and counts records per primary key of customers.
func (h *harness) customerOps(topic string) map[int64][]string {
	h.t.Helper()
	s := h.serde()
	out := map[int64][]string{}
	for _, r := range h.topicRecords(topic) {
		ch, err := s.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			h.t.Fatalf("decode %s@%d: %v", topic, r.Offset, err)
		}
		if ch.Key == nil {
			continue
		}
		id := ch.Key["id"].(int64)
		out[id] = append(out[id], string(ch.Op))
	}
	return out
}

func (h *harness) metrics() string {
	h.t.Helper()
	resp, err := http.Get(h.addrs.HTTP + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

const bigText = `SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, 3200) g` // ~100 KB, incompressible

func TestPipelineKeepsWarehouseEqualToSourceAcrossRestarts(t *testing.T) {
	h := newHarness(t)
	// Rows present before the pipeline first starts: the initial snapshot.
	h.pg.Exec(t, "app", `
		INSERT INTO customers (id, email, name, balance, score, born, prefs, tags, photo, bio)
		SELECT g, 'user'||g||'@example.com', 'Ünïcödé ' || g, g * 1.25, g / 3.0, date '1990-01-01' + g,
		       jsonb_build_object('g', g), ARRAY['a', 'b c', NULL], decode('00ff' || lpad(to_hex(g), 4, '0'), 'hex'), NULL
		FROM generate_series(1, 200) g;
		INSERT INTO orders SELECT 1, g, g, g * 10.5, 'order ' || g FROM generate_series(1, 50) g;`)
	h.pg.Exec(t, "app", "UPDATE customers SET bio = ("+bigText+") WHERE id IN (1, 2)")
	h.start()
	h.waitInSync(90 * time.Second)

	t.Run("the initial snapshot delivers each row exactly once", func(t *testing.T) {
		raw := h.customerOps("syncline.raw.app.public.customers")
		changes := h.customerOps("syncline.app.public.customers")
		for id := int64(1); id <= 200; id++ {
			if got := strings.Join(raw[id], ","); got != "r" {
				t.Errorf("raw topic, customer %d: ops %q, want exactly one r", id, got)
			}
			if got := strings.Join(changes[id], ","); got != "r" {
				t.Errorf("change topic, customer %d: ops %q, want exactly one r", id, got)
			}
		}
	})

	t.Run("inserts, updates, deletes and multi-row transactions arrive", func(t *testing.T) {
		h.pg.Exec(t, "app", `
			BEGIN;
			INSERT INTO customers (id, email, balance) VALUES (1001, 'new@example.com', 10.00), (1002, 'two@example.com', NULL);
			UPDATE customers SET balance = balance + 1, tags = ARRAY['x'] WHERE id BETWEEN 10 AND 30;
			DELETE FROM customers WHERE id BETWEEN 40 AND 45;
			INSERT INTO orders VALUES (2, 1, 1001, 99.99, 'tenant two');
			COMMIT;`)
		h.pg.Exec(t, "app", "UPDATE orders SET id = 500 WHERE tenant = 1 AND id = 7") // key change
		h.pg.Exec(t, "app", "DELETE FROM orders WHERE tenant = 1 AND id = 8")
		h.waitInSync(30 * time.Second)
	})

	t.Run("an update beside a 100 KB TOASTed column keeps the column", func(t *testing.T) {
		h.pg.Exec(t, "app", "UPDATE customers SET email = 'changed@example.com' WHERE id = 1")
		h.waitInSync(30 * time.Second)
		got := rows(t, h.whDSN, "SELECT length(bio) FROM analytics.customers WHERE id = 1")
		if len(got) != 1 || got[0] != "(102400)" {
			t.Fatalf("bio length in warehouse: %v, want (102400)", got)
		}
	})

	t.Run("a graceful stop mid-stream and a restart lose and repeat nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, h.srcDSN)
			if err != nil {
				return
			}
			defer conn.Close(context.Background())
			for i := 0; ctx.Err() == nil; i++ {
				id := 2000 + i
				err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, `INSERT INTO customers (id, email, balance) VALUES ($1, $2, $3)`, id, fmt.Sprintf("load%d@example.com", id), id); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, `UPDATE customers SET score = $1 WHERE id = ($1 % 150) + 50`, id)
					return err
				})
				if err != nil && ctx.Err() == nil {
					t.Errorf("load: %v", err)
					return
				}
			}
		}()
		time.Sleep(700 * time.Millisecond)
		h.stop()
		time.Sleep(300 * time.Millisecond) // writes continue while syncline is down
		cancel()
		wg.Wait()
		h.start()
		h.waitInSync(60 * time.Second)
		for _, topic := range []string{"syncline.raw.app.public.customers", "syncline.app.public.customers"} {
			n := 0
			for id, ops := range h.customerOps(topic) {
				if id >= 2000 {
					n++
					if strings.Join(ops, ",") != "c" {
						t.Errorf("customer %d inserted once but %s has ops %v", id, topic, ops)
					}
				}
			}
			if n < 10 {
				t.Errorf("%s: only %d customers inserted during the stop test; the load did not run", topic, n)
			}
		}
	})

	t.Run("metrics and health endpoints answer", func(t *testing.T) {
		m := h.metrics()
		for _, want := range []string{
			`syncline_source_events_total{op="c",source="app",table="public.customers"}`,
			`syncline_sink_writes_total{result="ok",sink="wh"}`,
			`syncline_end_to_end_latency_seconds_count{sink="wh"}`,
			`syncline_noop_updates_dropped_total`,
			`syncline_duplicates_dropped_total`,
			`syncline_consumer_lag_records{stage="changes"}`,
			`syncline_consumer_lag_records{stage="sink.wh"}`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		for _, p := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(h.addrs.HTTP + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s: %s", p, resp.Status)
			}
		}
	})
}

func TestReplayedRawRecordProducesNothing(t *testing.T) {
	h := newHarness(t)
	h.pg.Exec(t, "app", "INSERT INTO customers (id, email) SELECT g, 'u'||g||'@x.org' FROM generate_series(1, 20) g")
	h.start()
	h.waitInSync(90 * time.Second)
	h.pg.Exec(t, "app", "UPDATE customers SET name = 'updated' WHERE id = 5")
	h.waitInSync(30 * time.Second)

	raw := h.topicRecords("syncline.raw.app.public.customers")
	changesBefore := len(h.topicRecords("syncline.app.public.customers"))
	syncedBefore := rows(t, h.whDSN, "SELECT id, _syncline_synced_at, _syncline_position FROM analytics.customers ORDER BY id")

	// Replay every raw record as it is (same positions), as a resent
	// capture would.
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.addrs.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var replay []*kgo.Record
	for _, r := range raw {
		replay = append(replay, &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value})
	}
	if err := cl.ProduceSync(context.Background(), replay...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A fresh change after the replay proves the stage has read past it.
	h.pg.Exec(t, "app", "UPDATE customers SET name = 'after replay' WHERE id = 6")
	h.waitInSync(30 * time.Second)

	changesAfter := h.topicRecords("syncline.app.public.customers")
	if got := len(changesAfter) - changesBefore; got != 1 {
		t.Errorf("replaying %d raw records added %d change records, want 1 (the fresh update only)", len(replay), got)
	}
	syncedAfter := rows(t, h.whDSN, "SELECT id, _syncline_synced_at, _syncline_position FROM analytics.customers ORDER BY id")
	for i := range syncedBefore {
		if i == 5 { // id 6 was updated on purpose
			continue
		}
		if syncedBefore[i] != syncedAfter[i] {
			t.Errorf("warehouse row written again by the replay:\n before %s\n after  %s", syncedBefore[i], syncedAfter[i])
		}
	}
	if !strings.Contains(h.metrics(), `syncline_duplicates_dropped_total{stage="changes"} `+fmt.Sprint(len(replay))) {
		t.Errorf("duplicates metric does not count the %d replayed records:\n%s", len(replay), grep(h.metrics(), "duplicates"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

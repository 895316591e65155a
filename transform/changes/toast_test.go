package changes_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/capture/postgres"
	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/testenv"
	"syncline/schemas"
	"syncline/transform/changes"
)

// toastEnv runs real capture from a throwaway Postgres into the in-process
// Kafka, and the changes stage on its raw topics.
type toastEnv struct {
	t        *testing.T
	pg       *testenv.Postgres
	k        *testenv.Kafka
	dsn      string
	serde    *schemas.Serde
	stateDir string
	m        *metrics.Metrics
	tables   []string
}

func newToastEnv(t *testing.T, ddl string, tables ...string) *toastEnv {
	pg := testenv.StartPostgres(t)
	e := &toastEnv{t: t, pg: pg, k: testenv.StartKafka(t), dsn: pg.CreateDatabase(t, "app"), stateDir: t.TempDir(), tables: tables,
		m: metrics.New(prometheus.NewRegistry())}
	pg.Exec(t, "app", ddl)
	e.serde = schemas.NewSerde(e.k.RegistryClient(t))
	var specs []kafka.TopicSpec
	for _, tb := range tables {
		specs = append(specs, kafka.TopicSpec{Name: rawOf(tb), Partitions: 2}, kafka.TopicSpec{Name: changeOf(tb), Partitions: 2})
	}
	if err := kafka.EnsureTopics(context.Background(), kadm.NewClient(e.k.Client(t)), specs...); err != nil {
		t.Fatal(err)
	}
	return e
}

func rawOf(table string) string    { return "syncline.raw.app.public." + table }
func changeOf(table string) string { return "syncline.app.public." + table }

func (e *toastEnv) log() *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// capture runs capture of the env's tables until the returned stop.
func (e *toastEnv) capture(noSnapshot bool) (stop func()) {
	e.t.Helper()
	cfg := postgres.Config{Name: "app", DSN: e.dsn, NoSnapshot: noSnapshot, BatchMaxWait: 10 * time.Millisecond, Partitions: 2}
	for _, tb := range e.tables {
		cfg.Tables = append(cfg.Tables, postgres.TableName{Schema: "public", Name: tb})
	}
	src := postgres.New(cfg, e.k.Opts(), e.serde, metrics.New(prometheus.NewRegistry()), e.log())
	return e.run("capture", src.Run, src.Ready)
}

// stage runs the changes stage, re-reading from the env's source, until
// the returned stop.
func (e *toastEnv) stage() (stop func()) {
	e.t.Helper()
	var topics []string
	for _, tb := range e.tables {
		topics = append(topics, rawOf(tb))
	}
	p, err := changes.New(changes.Config{TopicPrefix: "syncline", Partitions: 2, StateDir: e.stateDir, Topics: topics,
		SourceDSNs: map[string]string{"app": e.dsn}, RereadTimeout: 3 * time.Second}, e.k.Opts(), e.serde, e.m, e.log())
	if err != nil {
		e.t.Fatal(err)
	}
	return e.run("changes stage", p.Run, p.Ready)
}

func (e *toastEnv) run(what string, run func(context.Context) error, ready func() bool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	testenv.WaitFor(e.t, 30*time.Second, what+" ready", ready)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("%s: %v", what, err)
		}
	}
	e.t.Cleanup(stop)
	return stop
}

// records waits until topic holds at least n committed records and
// returns them decoded, in offset order per partition.
func (e *toastEnv) records(topic string, n int) []*schemas.Change {
	e.t.Helper()
	var out []*schemas.Change
	for _, r := range e.rawRecords(topic, n, 30*time.Second) {
		ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, ch)
	}
	return out
}

func (e *toastEnv) rawRecords(topic string, n int, timeout time.Duration) []*kgo.Record {
	e.t.Helper()
	cl := e.k.Client(e.t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("%s: %d records after %v, want %d", topic, len(out), timeout, n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// endOffset is the number of records ever written to topic (all partitions).
func (e *toastEnv) endOffset(topic string) int64 {
	e.t.Helper()
	ends, err := kadm.NewClient(e.k.Client(e.t)).ListEndOffsets(context.Background(), topic)
	if err != nil {
		e.t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// sourceText returns the text form of column col of row id of table.
func (e *toastEnv) sourceText(table, col string, id int) string {
	e.t.Helper()
	var s string
	conn, err := pgx.Connect(context.Background(), e.dsn)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	err = conn.QueryRow(context.Background(), fmt.Sprintf("SELECT %s::text FROM %s WHERE id = $1", col, table), id).Scan(&s)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// text renders field f of row as Postgres prints it ("<absent>" when
// missing): FormatText's form read back through the column's type, so it
// compares with what the source prints whatever quoting FormatText uses.
func (e *toastEnv) text(tbl *schemas.Table, row schemas.Row, f string) string {
	e.t.Helper()
	v, ok := row[f]
	if !ok {
		return "<absent>"
	}
	if v == nil {
		return "<null>"
	}
	c, found := tbl.Column(f)
	if !found {
		e.t.Fatalf("no column %s", f)
	}
	s, err := schemas.FormatText(c, v)
	if err != nil {
		e.t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), e.dsn)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), fmt.Sprintf("SELECT $1::%s::text", c.PGType), s).Scan(&s); err != nil {
		e.t.Fatalf("%s as %s: %v", f, c.PGType, err)
	}
	return s
}

// bigText is >2 KB of random hex: incompressible, so Postgres stores it out
// of line (TOAST) and sends it as "unchanged" in updates that leave it alone.
const bigText = `(SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, 200) g)`

// bigArray is a text[] of large random elements, TOASTed as a whole.
const bigArray = `ARRAY[` + bigText + `, ` + bigText + `, NULL, ` + bigText + `]`

const docsDDL = `CREATE TABLE %[1]s (id int PRIMARY KEY, title text, body text, tags text[]);`

func TestToastColumnsStayCompleteAcrossUpdates(t *testing.T) {
	e := newToastEnv(t, fmt.Sprintf(docsDDL, "docs")+fmt.Sprintf(docsDDL, "docs_full")+`ALTER TABLE docs_full REPLICA IDENTITY FULL;`,
		"docs", "docs_full")
	e.capture(false)
	e.stage()
	for _, table := range []string{"docs", "docs_full"} {
		t.Run(table, func(t *testing.T) {
			e.pg.Exec(t, "app", fmt.Sprintf(`INSERT INTO %s VALUES (1, 't0', %s, %s)`, table, bigText, bigArray))
			body1, tags1 := e.sourceText(table, "body", 1), e.sourceText(table, "tags", 1)
			for i := 1; i <= 3; i++ {
				e.pg.Exec(t, "app", fmt.Sprintf(`UPDATE %s SET title = 't%d' WHERE id = 1`, table, i))
			}
			// A new TOASTed value, then more updates beside it.
			e.pg.Exec(t, "app", fmt.Sprintf(`UPDATE %s SET body = %s, tags = %s WHERE id = 1`, table, bigText, bigArray))
			body2, tags2 := e.sourceText(table, "body", 1), e.sourceText(table, "tags", 1)
			for i := 4; i <= 5; i++ {
				e.pg.Exec(t, "app", fmt.Sprintf(`UPDATE %s SET title = 't%d' WHERE id = 1`, table, i))
			}
			if len(body1) < 6000 || len(tags1) < 18000 || body1 == body2 || tags1 == tags2 {
				t.Fatalf("test data: body %d chars, tags %d chars", len(body1), len(tags1))
			}

			raw := e.records(rawOf(table), 7)
			unavailable := 0
			for _, ch := range raw {
				if schemas.Has(ch.Unavailable, "body") && schemas.Has(ch.Unavailable, "tags") {
					unavailable++
				}
			}
			if table == "docs" && unavailable != 5 {
				t.Errorf("raw topic: %d updates with body and tags unavailable, want 5 (the values were not TOASTed?)", unavailable)
			}

			out := e.records(changeOf(table), 7)
			if len(out) != 7 {
				t.Fatalf("change topic: %d records, want 7", len(out))
			}
			want := []struct{ title, body, tags string }{
				{"t0", body1, tags1}, {"t1", body1, tags1}, {"t2", body1, tags1}, {"t3", body1, tags1},
				{"t3", body2, tags2}, {"t4", body2, tags2}, {"t5", body2, tags2},
			}
			for i, ch := range out {
				if len(ch.Unavailable) > 0 {
					t.Errorf("record %d: unavailable %v on a change topic", i, ch.Unavailable)
				}
				got := []string{e.text(ch.Table, ch.After, "title"), e.text(ch.Table, ch.After, "body"), e.text(ch.Table, ch.After, "tags")}
				if got[0] != want[i].title || got[1] != want[i].body || got[2] != want[i].tags {
					t.Errorf("record %d (%s): after title %q, body %.40q (%d chars), tags %.40q (%d chars); want title %q, body %.40q, tags %.40q",
						i, ch.Op, got[0], got[1], len(got[1]), got[2], len(got[2]), want[i].title, want[i].body, want[i].tags)
				}
				if i > 0 {
					if b := e.text(ch.Table, ch.Before, "body"); b != want[i-1].body {
						t.Errorf("record %d: before body %.40q (%d chars), want the previous value", i, b, len(b))
					}
				}
			}
			if n := testutil.ToFloat64(e.m.ToastRereads.WithLabelValues("app", "ok")); n != 0 {
				t.Errorf("%v re-reads: state had every value", n)
			}
		})
	}
}

// The raw topic holds an update whose TOAST columns are unavailable and no
// earlier record of its key (capture started with snapshot never after
// the row was written): the stage re-reads them from the source.
func TestToastStateLostRereadsTheRow(t *testing.T) {
	e := newToastEnv(t, fmt.Sprintf(docsDDL, "docs"), "docs")
	e.pg.Exec(t, "app", fmt.Sprintf(`INSERT INTO docs VALUES (1, 'before capture', %s, %s), (2, 'two', 'small', '{a}')`, bigText, bigArray))
	e.capture(true)
	e.pg.Exec(t, "app", `UPDATE docs SET title = 'updated' WHERE id = 1`)
	raw := e.records(rawOf("docs"), 1)
	if !schemas.Has(raw[0].Unavailable, "body") || !schemas.Has(raw[0].Unavailable, "tags") {
		t.Fatalf("raw update: unavailable %v, want body and tags", raw[0].Unavailable)
	}
	e.stage()
	ch := e.records(changeOf("docs"), 1)[0]
	if ch.Op != schemas.OpUpdate || len(ch.Unavailable) > 0 {
		t.Errorf("op %s unavailable %v", ch.Op, ch.Unavailable)
	}
	for _, col := range []string{"title", "body", "tags"} {
		if got, want := e.text(ch.Table, ch.After, col), e.sourceText("docs", col, 1); got != want {
			t.Errorf("%s: %.40q (%d chars), want the source's %.40q (%d chars)", col, got, len(got), want, len(want))
		}
	}
	if n := testutil.ToFloat64(e.m.ToastRereads.WithLabelValues("app", "ok")); n != 1 {
		t.Errorf("syncline_toast_rereads_total{result=ok} = %v, want 1", n)
	}

	// The re-read value is now state: the next update is filled from it.
	e.pg.Exec(t, "app", `UPDATE docs SET title = 'again' WHERE id = 1`)
	chs := e.records(changeOf("docs"), 2)
	if got, want := e.text(chs[1].Table, chs[1].After, "body"), e.sourceText("docs", "body", 1); got != want || chs[1].After["title"] != "again" {
		t.Errorf("second update: title %v body %.40q, want %.40q", chs[1].After["title"], got, want)
	}
	if n := testutil.ToFloat64(e.m.ToastRereads.WithLabelValues("app", "ok")); n != 1 {
		t.Errorf("syncline_toast_rereads_total{result=ok} = %v after an update state could fill, want still 1", n)
	}
}

// A row deleted at the source before the stage re-reads it cannot be
// completed: the update goes to the DLQ with a reason saying so, and the
// stream goes on (its delete, later changes).
func TestToastRowDeletedBeforeTheRereadGoesToTheDLQ(t *testing.T) {
	e := newToastEnv(t, fmt.Sprintf(docsDDL, "docs"), "docs")
	e.pg.Exec(t, "app", fmt.Sprintf(`INSERT INTO docs VALUES (1, 'doomed', %s, %s)`, bigText, bigArray))
	e.capture(true)
	e.pg.Exec(t, "app", `UPDATE docs SET title = 'touched' WHERE id = 1`)
	e.pg.Exec(t, "app", `DELETE FROM docs WHERE id = 1`)
	e.pg.Exec(t, "app", `INSERT INTO docs VALUES (2, 'after', 'small', '{a,b}')`)
	e.records(rawOf("docs"), 3)
	e.stage()

	out := e.records(changeOf("docs"), 2)
	if out[0].Op != schemas.OpDelete || out[0].Key["id"] != int32(1) || out[1].Op != schemas.OpCreate || out[1].After["id"] != int32(2) {
		t.Errorf("change topic: %s %v, %s %v; want the delete of 1 and the insert of 2", out[0].Op, out[0].Key, out[1].Op, out[1].After)
	}
	dlq := e.rawRecords("_syncline.dlq", 1, 30*time.Second)
	h := map[string]string{}
	for _, hd := range dlq[0].Headers {
		h[hd.Key] = string(hd.Value)
	}
	if h["syncline.reason"] != "toast_row_deleted" || !strings.Contains(h["syncline.error"], "no longer exists at the source") ||
		!strings.Contains(h["syncline.error"], "body") {
		t.Errorf("DLQ headers %v: want reason toast_row_deleted and an error naming the columns and the deleted row", h)
	}
	if n := testutil.ToFloat64(e.m.ToastRereads.WithLabelValues("app", "row_deleted")); n != 1 {
		t.Errorf("syncline_toast_rereads_total{result=row_deleted} = %v, want 1", n)
	}
	if n := testutil.ToFloat64(e.m.DLQRecords.WithLabelValues("changes", "toast_row_deleted")); n != 1 {
		t.Errorf("syncline_dlq_records_total{reason=toast_row_deleted} = %v, want 1", n)
	}
}

// A source that is down when a re-read is needed holds the batch back (no
// DLQ, no placeholder); once it is back, the change arrives complete.
func TestToastRereadWaitsForASourceThatIsDown(t *testing.T) {
	e := newToastEnv(t, fmt.Sprintf(docsDDL, "docs"), "docs")
	e.pg.Exec(t, "app", fmt.Sprintf(`INSERT INTO docs VALUES (1, 'first', %s, %s)`, bigText, bigArray))
	stopCapture := e.capture(true)
	e.pg.Exec(t, "app", `UPDATE docs SET title = 'second' WHERE id = 1`)
	e.records(rawOf("docs"), 1)
	body, tags := e.sourceText("docs", "body", 1), e.sourceText("docs", "tags", 1)
	stopCapture()
	e.pg.Stop(t)

	e.stage()
	testenv.WaitFor(t, 30*time.Second, "a re-read retried", func() bool {
		return testutil.ToFloat64(e.m.ToastRereads.WithLabelValues("app", "retry")) >= 2
	})
	if n := e.endOffset(changeOf("docs")); n != 0 {
		t.Errorf("change topic has %d records while the source is down", n)
	}
	if n := testutil.ToFloat64(e.m.DLQRecords.WithLabelValues("changes", "toast_row_deleted")) +
		testutil.ToFloat64(e.m.DLQRecords.WithLabelValues("changes", "toast_reread_failed")) +
		testutil.ToFloat64(e.m.DLQRecords.WithLabelValues("changes", "toast_unavailable")); n != 0 {
		t.Errorf("%v records parked while the source is down", n)
	}

	e.pg.Restart(t)
	ch := e.records(changeOf("docs"), 1)[0]
	if ch.After["title"] != "second" || e.text(ch.Table, ch.After, "body") != body || e.text(ch.Table, ch.After, "tags") != tags {
		t.Errorf("after the source came back: title %v, body %d chars, tags %d chars", ch.After["title"], len(e.text(ch.Table, ch.After, "body")), len(e.text(ch.Table, ch.After, "tags")))
	}
	if n := testutil.ToFloat64(e.m.ToastRereads.WithLabelValues("app", "ok")); n != 1 {
		t.Errorf("syncline_toast_rereads_total{result=ok} = %v, want 1", n)
	}
}

package reconcile

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	"syncline/sink/warehouse"
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

var dbSeq atomic.Int64

// world is a source and a warehouse database.
type world struct {
	t              *testing.T
	ctx            context.Context
	srcDB, whDB    string
	srcDSN, whDSN  string
	srcConn, whCon *pgx.Conn
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	n := dbSeq.Add(1)
	w := &world{t: t, ctx: ctx, srcDB: fmt.Sprintf("src_%d", n), whDB: fmt.Sprintf("wh_%d", n)}
	w.srcDSN = pg.CreateDatabase(t, w.srcDB)
	w.whDSN = pg.CreateDatabase(t, w.whDB)
	w.srcConn = pg.Conn(t, w.srcDB)
	w.whCon = pg.Conn(t, w.whDB)
	return w
}

func (w *world) src(sql string, args ...any) {
	w.t.Helper()
	if _, err := w.srcConn.Exec(w.ctx, sql, args...); err != nil {
		w.t.Fatalf("source: %s: %v", sql, err)
	}
}

func (w *world) wh(sql string, args ...any) {
	w.t.Helper()
	if _, err := w.whCon.Exec(w.ctx, sql, args...); err != nil {
		w.t.Fatalf("warehouse: %s: %v", sql, err)
	}
}

func (w *world) whCount(sql string) int {
	w.t.Helper()
	var n int
	if err := w.whCon.QueryRow(w.ctx, sql).Scan(&n); err != nil {
		w.t.Fatalf("warehouse: %s: %v", sql, err)
	}
	return n
}

func (w *world) table() Table {
	return Table{Source: "app", SourceDSN: w.srcDSN, SourceSchema: "public", SourceTable: "items",
		SinkDSN: w.whDSN, SinkSchema: "analytics", SinkTable: "items"}
}

const rows = 3000

// sourceItems creates public.items (composite key) with rows rows.
func (w *world) sourceItems() {
	w.src(`CREATE TABLE public.items (region int, id int, name text, amount numeric(10,2), note text, PRIMARY KEY (region, id))`)
	w.src(fmt.Sprintf(`INSERT INTO public.items SELECT g %% 7, g, 'item ' || g, g * 1.25, CASE WHEN g %% 5 = 0 THEN NULL ELSE 'n' || g END FROM generate_series(1, %d) g`, rows))
}

// warehouseItems creates analytics.items as the sink would, with amount
// widened, filled with the same rows.
func (w *world) warehouseItems(soft bool) {
	del := ""
	if soft {
		del = ", _syncline_deleted boolean NOT NULL DEFAULT false"
	}
	w.wh(`CREATE SCHEMA analytics`)
	w.wh(`CREATE TABLE analytics.items (region int NOT NULL, id int NOT NULL, name text, amount numeric(14,4), note text,
		_syncline_position text NOT NULL, _syncline_op text NOT NULL, _syncline_synced_at timestamptz NOT NULL` + del + `, PRIMARY KEY (region, id))`)
	w.wh(fmt.Sprintf(`INSERT INTO analytics.items SELECT g %% 7, g, 'item ' || g, g * 1.25, CASE WHEN g %% 5 = 0 THEN NULL ELSE 'n' || g END,
		'0000000000000001/0000000000000000', 'r', now() FROM generate_series(1, %d) g`, rows))
}

func keys(ks [][]string) []string {
	var out []string
	for _, k := range ks {
		out = append(out, strings.Join(k, ","))
	}
	return out
}

func wantKeys(t *testing.T, what string, got [][]string, want ...string) {
	t.Helper()
	if g := keys(got); !slices.Equal(g, want) {
		t.Errorf("%s = %v, want %v", what, g, want)
	}
}

// wantDiff checks a result's missing, extra and different keys.
func wantDiff(t *testing.T, res *Result, missing, extra, different []string) {
	t.Helper()
	wantKeys(t, "missing", res.Missing, missing...)
	wantKeys(t, "extra", res.Extra, extra...)
	wantKeys(t, "different", res.Different, different...)
}

func TestCompareFindsEachKindOfDifference(t *testing.T) {
	w := newWorld(t)
	w.sourceItems()
	w.warehouseItems(false)

	res, err := Compare(w.ctx, w.table(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Drift() != 0 || res.SourceRows != rows || res.SinkRows != rows {
		t.Fatalf("in-sync tables: drift %d (missing %v, extra %v, different %v), rows %d/%d", res.Drift(), res.Missing, res.Extra, res.Different, res.SourceRows, res.SinkRows)
	}
	if res.Stats.RowsFetched != 0 {
		t.Errorf("in-sync tables fetched %d rows, want only checksums", res.Stats.RowsFetched)
	}
	wantKeys(t, "key columns", [][]string{res.KeyColumns}, "region,id")

	w.wh(`UPDATE analytics.items SET name = 'changed' WHERE region = 1 AND id = 1500`) // 1500 % 7 = 2: wrong key
	w.wh(`UPDATE analytics.items SET name = 'changed' WHERE region = 2 AND id = 1500`)
	w.wh(`DELETE FROM analytics.items WHERE region = 3 AND id = 2000`) // 2000 % 7 = 5: no such row
	w.wh(`DELETE FROM analytics.items WHERE region = 5 AND id = 2000`)
	w.wh(`INSERT INTO analytics.items VALUES (4, 99999, 'extra', 1, NULL, '0000000000000001/0000000000000000', 'r', now())`)
	w.wh(`UPDATE analytics.items SET note = '' WHERE region = 0 AND id = 35`) // NULL in the source

	res, err = Compare(w.ctx, w.table(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantDiff(t, res, []string{"5,2000"}, []string{"4,99999"}, []string{"0,35", "2,1500"})
	if res.Stats.RowsFetched >= 2*rows/2 {
		t.Errorf("fetched %d (key, hash) rows of %d per side: bisection should read far fewer", res.Stats.RowsFetched, rows)
	}
	if res.Stats.LeafRanges == 0 || res.Stats.Ranges < 3 {
		t.Errorf("stats %+v: want bisection into ranges", res.Stats)
	}

	// The same with tiny leaves: deeper bisection finds the same rows.
	res, err = Compare(w.ctx, w.table(), Options{LeafRows: 2, Fanout: 3})
	if err != nil {
		t.Fatal(err)
	}
	wantDiff(t, res, []string{"5,2000"}, []string{"4,99999"}, []string{"0,35", "2,1500"})
}

func TestCompareCutsByTheKeyHistogram(t *testing.T) {
	w := newWorld(t)
	// Composite key led by a column with many values: ANALYZE keeps a
	// histogram of it, which cuts the table into its first ranges.
	const cols = `(id int, sub int, v text, PRIMARY KEY (id, sub))`
	w.src(`CREATE TABLE public.items ` + cols)
	w.src(`INSERT INTO public.items SELECT g / 2, g % 2, 'v' || g FROM generate_series(0, 9999) g`)
	w.src(`ANALYZE public.items`)
	w.wh(`CREATE SCHEMA analytics`)
	w.wh(`CREATE TABLE analytics.items (id int, sub int, v text, _syncline_position text NOT NULL DEFAULT '', _syncline_op text NOT NULL DEFAULT 'r',
		_syncline_synced_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id, sub))`)
	w.wh(`INSERT INTO analytics.items (id, sub, v) SELECT g / 2, g % 2, 'v' || g FROM generate_series(0, 9999) g`)
	w.wh(`UPDATE analytics.items SET v = 'x' WHERE id = 2500 AND sub = 1`)
	w.wh(`DELETE FROM analytics.items WHERE id = 4999 AND sub = 0`)
	w.wh(`INSERT INTO analytics.items (id, sub, v) VALUES (-5, 0, 'extra'), (1000, 7, 'extra')`)
	res, err := Compare(w.ctx, w.table(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantDiff(t, res, []string{"4999,0"}, []string{"-5,0", "1000,7"}, []string{"2500,1"})
	if res.Stats.TopRanges <= 16 {
		t.Errorf("stats %+v: want the histogram's ranges (more than the fanout) first", res.Stats)
	}
	if res.SourceRows != 10000 || res.SinkRows != 10001 {
		t.Errorf("rows %d/%d, want 10000/10001", res.SourceRows, res.SinkRows)
	}
}

func TestCompareSoftDeletedRowsAreAbsent(t *testing.T) {
	w := newWorld(t)
	w.sourceItems()
	w.warehouseItems(true)
	w.wh(`UPDATE analytics.items SET _syncline_deleted = true WHERE region = 1 AND id = 8`)
	w.wh(`INSERT INTO analytics.items VALUES (6, 77777, 'gone', 1, NULL, '0000000000000001/0000000000000000', 'd', now(), true)`)
	res, err := Compare(w.ctx, w.table(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantDiff(t, res, []string{"1,8"}, nil, nil)
}

func TestCompareErrorsNameTheProblem(t *testing.T) {
	w := newWorld(t)
	w.sourceItems()
	_, err := Compare(w.ctx, w.table(), Options{})
	if err == nil || !strings.Contains(err.Error(), "analytics.items does not exist") {
		t.Errorf("err = %v, want it to say the warehouse table does not exist", err)
	}
	tb := w.table()
	tb.SourceTable = "nope"
	_, err = Compare(w.ctx, tb, Options{})
	if err == nil || !strings.Contains(err.Error(), "public.nope does not exist") {
		t.Errorf("err = %v, want it to say the source table does not exist", err)
	}
}

// onMessage is a slog handler that calls f for every record with msg.
type onMessage struct {
	msg string
	f   func()
}

func (h onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h onMessage) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.msg) {
		h.f()
	}
	return nil
}
func (h onMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h onMessage) WithGroup(string) slog.Handler      { return h }

func TestSettlePassDropsRowsThatCaughtUp(t *testing.T) {
	w := newWorld(t)
	w.sourceItems()
	w.warehouseItems(false)
	w.wh(`UPDATE analytics.items SET name = 'lagging' WHERE region = 2 AND id = 100`)
	w.wh(`UPDATE analytics.items SET name = 'lost' WHERE region = 3 AND id = 101`)
	// The "sink catches up" on row (2, 100) while the comparison waits.
	log := slog.New(onMessage{"rows differ; checking them again", func() {
		w.wh(`UPDATE analytics.items SET name = 'item 100' WHERE region = 2 AND id = 100`)
	}})
	res, err := Compare(w.ctx, w.table(), Options{Settle: 50 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	wantKeys(t, "different", res.Different, "3,101")
	if res.Stats.Rechecked != 2 || res.Stats.CaughtUp != 1 {
		t.Errorf("stats %+v: want 2 rechecked, 1 caught up", res.Stats)
	}
}

// itemsTable is the change-topic schema of public.items.
func itemsTable() *schemas.Table {
	t := &schemas.Table{System: "postgres", Source: "app", DB: "app", Schema: "public", Name: "items"}
	add := func(name, pgType string, oid uint32, typmod int32, key bool) {
		c := schemas.Column{Name: name, PGType: pgType, Key: key}
		c.SetType(oid, typmod, 0, -1, ',')
		t.Columns = append(t.Columns, c)
	}
	add("region", "integer", 23, -1, true)
	add("id", "integer", 23, -1, true)
	add("name", "text", 25, -1, false)
	add("amount", "numeric(10,2)", 1700, (10<<16|2)+4, false)
	add("note", "text", 25, -1, false)
	schemas.SanitizeFields(t.Columns)
	return t
}

func itemRow(t *testing.T, tbl *schemas.Table, g int) schemas.Row {
	t.Helper()
	vals := map[string]*string{}
	s := func(v string) *string { return &v }
	vals["region"], vals["id"], vals["name"] = s(fmt.Sprint(g%7)), s(fmt.Sprint(g)), s(fmt.Sprintf("item %d", g))
	vals["amount"] = s(fmt.Sprintf("%.2f", float64(g)*1.25))
	if g%5 != 0 {
		vals["note"] = s(fmt.Sprintf("n%d", g))
	}
	row := schemas.Row{}
	for _, c := range tbl.Columns {
		if vals[c.Name] == nil {
			row[c.Field] = nil
			continue
		}
		v, err := schemas.ParseText(c, *vals[c.Name])
		if err != nil {
			t.Fatal(err)
		}
		row[c.Field] = v
	}
	return row
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// deliveredWorld runs a warehouse sink (with its repair topic) over the
// embedded broker and registry, and delivers the source's rows through the
// change topic, so the warehouse holds what a pipeline would have written.
type deliveredWorld struct {
	*world
	k        *testenv.Kafka
	serde    *schemas.Serde
	prod     *kgo.Client
	repairer *Repairer
	writes   func() int
}

func newDelivered(t *testing.T) *deliveredWorld {
	w := newWorld(t)
	w.sourceItems()
	k := testenv.StartKafka(t)
	d := &deliveredWorld{world: w, k: k}
	d.serde = schemas.NewSerde(k.RegistryClient(t))
	d.prod = k.Client(t)
	tbl := itemsTable()
	change := topics.Change("syncline", "app", "public", "items")
	repair := RepairTopic("syncline", "wh")
	if err := kafka.EnsureTopics(w.ctx, kadm.NewClient(d.prod),
		kafka.TopicSpec{Name: change, Partitions: 3}, kafka.TopicSpec{Name: repair, Partitions: 3},
		kafka.TopicSpec{Name: topics.DLQ("syncline"), Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(prometheus.NewRegistry())
	sk, err := warehouse.New(warehouse.Config{
		Name: "wh", DSN: w.whDSN, Schema: "analytics", BatchSize: 500, BatchTimeout: 50 * time.Millisecond,
		Tables: []warehouse.TableRef{{Source: "app", Schema: "public", Table: "items"}}, Topics: []string{change},
	}, k.Opts(), d.serde, dlq.New(topics.DLQ("syncline"), d.prod, m), m, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := sk.SetRepairTopic(repair); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sk.Run(ctx) }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("sink Run: %v", err)
			}
		})
	})
	enc, err := d.serde.Encoder(w.ctx, change, tbl)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for g := 1; g <= rows; g++ {
		ch := &schemas.Change{Table: tbl, Op: schemas.OpRead, After: itemRow(t, tbl, g),
			Source: schemas.Source{System: "postgres", Name: "app", Schema: "public", Table: "items", Position: Position(1)}}
		key, val, err := enc.Encode(ch)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: change, Key: key, Value: val})
	}
	if err := d.prod.ProduceSync(w.ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, time.Minute, "the sink delivered the rows", func() bool {
		var n int
		err := w.whCon.QueryRow(w.ctx, "SELECT count(*) FROM analytics.items").Scan(&n)
		return err == nil && n == rows
	})
	// Count every write to the warehouse table from here on.
	w.wh(`CREATE TABLE analytics.writes (n bigserial, tg_op text);
CREATE FUNCTION analytics.count_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO analytics.writes (tg_op) VALUES (TG_OP); RETURN NULL; END $$;
CREATE TRIGGER count_writes AFTER INSERT OR UPDATE OR DELETE ON analytics.items FOR EACH ROW EXECUTE FUNCTION analytics.count_write()`)
	d.writes = func() int { return w.whCount("SELECT count(*) FROM analytics.writes") }
	d.repairer = &Repairer{Topic: repair, TopicPrefix: "syncline", Producer: d.prod, Serde: d.serde, Registry: k.RegistryClient(t)}
	return d
}

func TestRepairHealsThroughTheSink(t *testing.T) {
	d := newDelivered(t)
	w := d.world
	res, err := Compare(w.ctx, w.table(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Drift() != 0 {
		t.Fatalf("after delivery: drift %d (missing %v, extra %v, different %v)", res.Drift(), res.Missing, res.Extra, res.Different)
	}
	// The warehouse loses a row, one goes stale, one appears from nowhere.
	w.wh(`DELETE FROM analytics.items WHERE region = 5 AND id = 2000`)
	w.wh(`UPDATE analytics.items SET amount = 0, note = NULL WHERE region = 2 AND id = 1500`)
	w.wh(`INSERT INTO analytics.items VALUES (4, 99999, 'extra', 1, NULL, '0000000000000001/0000000000000000', 'r', now())`)
	before := d.writes()

	res, err = Compare(w.ctx, w.table(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantDiff(t, res, []string{"5,2000"}, []string{"4,99999"}, []string{"2,1500"})
	rep, err := d.repairer.Repair(w.ctx, w.table(), res)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Upserts != 2 || rep.Deletes != 1 || rep.Gone != 0 {
		t.Errorf("repaired %+v, want 2 upserts and 1 delete", rep)
	}
	testenv.WaitFor(t, time.Minute, "the sink applied the repair", func() bool { return d.writes()-before >= 3 })
	res, err = Compare(w.ctx, w.table(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Drift() != 0 {
		t.Errorf("after repair: drift %d (missing %v, extra %v, different %v)", res.Drift(), res.Missing, res.Extra, res.Different)
	}
	if n := d.writes() - before; n != 3 {
		t.Errorf("the repair wrote %d rows, want exactly the 3 that differed", n)
	}
	var pos, op string
	if err := w.whCon.QueryRow(w.ctx, `SELECT _syncline_position, _syncline_op FROM analytics.items WHERE region = 5 AND id = 2000`).Scan(&pos, &op); err != nil {
		t.Fatal(err)
	}
	if pos != rep.Position || op != "r" {
		t.Errorf("repaired row has position %q op %q, want %q r", pos, op, rep.Position)
	}

	// A repair record never overwrites a newer change: a change at a
	// later position arrives first, then a repair carrying an older
	// position (as when the repair's read raced that change).
	newer := Position(1 << 62)
	w.wh(`UPDATE analytics.items SET name = 'newer', _syncline_position = $1 WHERE region = 1 AND id = 8`, newer)
	stale := &Result{KeyColumns: []string{"region", "id"}, Different: [][]string{{"1", "8"}}}
	before = d.writes()
	if _, err := d.repairer.Repair(w.ctx, w.table(), stale); err != nil {
		t.Fatal(err)
	}
	// 3 records of the first repair, 1 of this one.
	testenv.WaitFor(t, time.Minute, "the sink consumed the repair record", func() bool {
		return w.whCount(`SELECT coalesce(sum(next_offset), 0) FROM analytics._syncline_offsets WHERE topic = '`+d.repairer.Topic+`'`) == 4
	})
	if n := d.writes() - before; n != 0 {
		t.Errorf("%d writes after a repair older than the row, want none", n)
	}
	if got := w.whCount(`SELECT count(*) FROM analytics.items WHERE region = 1 AND id = 8 AND name = 'newer'`); got != 1 {
		t.Errorf("the newer row was overwritten by an older repair")
	}

	// An "extra" row the source holds again by the time of the repair
	// (deleted and re-inserted after the diff) is upserted, not deleted.
	back := &Result{KeyColumns: []string{"region", "id"}, Extra: [][]string{{"0", "77"}}}
	rep, err = d.repairer.Repair(w.ctx, w.table(), back)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deletes != 0 || rep.Upserts != 1 {
		t.Errorf("repair of an extra key the source has: %+v, want 1 upsert and no delete", rep)
	}
	testenv.WaitFor(t, time.Minute, "the sink consumed the last repair record", func() bool {
		return w.whCount(`SELECT coalesce(sum(next_offset), 0) FROM analytics._syncline_offsets WHERE topic = '`+d.repairer.Topic+`'`) == 5
	})
	if got := w.whCount(`SELECT count(*) FROM analytics.items WHERE region = 0 AND id = 77`); got != 1 {
		t.Errorf("the row the source holds is gone from the warehouse after the repair")
	}
}

func TestSchedulerReportsDriftAndRepairs(t *testing.T) {
	d := newDelivered(t)
	w := d.world
	w.wh(`DELETE FROM analytics.items WHERE region = 5 AND id = 2000`)
	w.wh(`UPDATE analytics.items SET name = 'stale' WHERE region = 2 AND id = 1500`)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	runs := make(chan []*Result, 100)
	sc := &Scheduler{Sink: "wh", Tables: []Table{w.table()}, Interval: 100 * time.Millisecond, Options: Options{Settle: 10 * time.Millisecond},
		Repairer: d.repairer, Metrics: m, Log: testLogger(t), Done: func(r []*Result) { runs <- r }}
	gauge := func() float64 {
		var out dto.Metric
		if err := m.DriftRows.WithLabelValues("wh", "app.public.items").Write(&out); err != nil {
			t.Fatal(err)
		}
		return out.GetGauge().GetValue()
	}

	// Another process of the sink holds the lock: the run is skipped.
	h := fnv.New64a()
	h.Write([]byte("syncline.reconcile\x00wh"))
	lockConn := pg.Conn(t, w.whDB)
	if _, err := lockConn.Exec(w.ctx, "SELECT pg_advisory_lock($1)", int64(h.Sum64())); err != nil {
		t.Fatal(err)
	}
	if res := sc.RunOnce(w.ctx, sc.Options, testLogger(t)); res != nil {
		t.Errorf("RunOnce under another process's lock compared: %+v", res)
	}
	if _, err := lockConn.Exec(w.ctx, "SELECT pg_advisory_unlock($1)", int64(h.Sum64())); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- sc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	first := <-runs
	if len(first) != 1 || first[0].Drift() != 2 {
		t.Fatalf("first run: %+v", first)
	}
	if g := gauge(); g != 2 {
		t.Errorf("syncline_drift_rows after the first run = %v, want 2", g)
	}
	var rows dto.Metric
	if err := m.ReconciledRows.WithLabelValues("wh", "app.public.items").Write(&rows); err != nil {
		t.Fatal(err)
	}
	if got := rows.GetGauge().GetValue(); got != float64(first[0].SourceRows) || got == 0 {
		t.Errorf("syncline_reconciled_rows = %v, want the source's %d rows", got, first[0].SourceRows)
	}
	deadline := time.After(time.Minute)
	for {
		select {
		case r := <-runs:
			if r[0].Error != "" {
				t.Fatalf("run failed: %s", r[0].Error)
			}
			if r[0].Drift() != 0 {
				continue // the sink has not applied the repair yet
			}
			if g := gauge(); g != 0 {
				t.Errorf("syncline_drift_rows after the repair = %v, want 0", g)
			}
			if n := w.whCount(`SELECT count(*) FROM analytics.items WHERE (region, id) IN ((5, 2000), (2, 1500)) AND name LIKE 'item %'`); n != 2 {
				t.Errorf("%d of the 2 rows repaired", n)
			}
			return
		case <-deadline:
			t.Fatal("the scheduled repair did not bring the drift to 0 within a minute")
		}
	}
}

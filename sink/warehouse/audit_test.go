package warehouse

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/dlq"
	"syncline/internal/metrics"
	"syncline/internal/topics"
	"syncline/schemas"
)

// auditRows returns the audit log of table, oldest first, as
// "operation|key|key_text|source_position|source_op|partition@offset".
func (e *env) auditRows(table string) []string {
	e.t.Helper()
	return e.query(`SELECT operation, key::text, key_text, source_position, source_op, kafka_partition || '@' || kafka_offset
FROM analytics._syncline_audit WHERE table_name = $1 ORDER BY written_at, source_position COLLATE "C"`, table)
}

func (e *env) auditCount() int {
	e.t.Helper()
	var n int
	fmt.Sscan(e.query("SELECT count(*) FROM analytics._syncline_audit")[0], &n)
	return n
}

// auditEnv starts sink "wh" over people() with cfg changed by set.
func auditEnv(t *testing.T, set func(*Config)) (*env, *schemas.Table) {
	e := newEnv(t)
	tbl := people()
	e.createTopic(topicOf(tbl), 1)
	cfg := e.config("wh", tbl)
	if set != nil {
		set(&cfg)
	}
	e.start(cfg)
	return e, tbl
}

func checkAudit(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("audit rows:\n got %q\nwant %q", got, want)
	}
}

// summary renders entries as "operation|key|source_op|offset".
func summary(es []AuditEntry) []string {
	var out []string
	for _, a := range es {
		out = append(out, fmt.Sprintf("%s|%s|%s|%d", a.Operation, a.Key, a.SourceOp, a.Offset))
	}
	return out
}

func TestAuditLogRecordsEachWriteWithItsChange(t *testing.T) {
	e, tbl := auditEnv(t, nil)
	started := time.Now()
	steps := [][]*schemas.Change{
		{ins(tbl, 1, person(1, "a")), ins(tbl, 2, person(2, "b"))},
		{upd(tbl, 3, person(1, "a"), person(1, "aa"))},
		{del(tbl, 4, person(1, "aa"))},
		{upd(tbl, 5, person(2, "b"), person(7, "b"))}, // the key changes: 2 goes, 7 appears
	}
	for _, step := range steps {
		e.produce(step...)
		e.waitCaughtUp("wh", tbl)
	}
	want := []string{
		`insert|{"id": 1}|id=1|` + pos(1) + `|c|0@0`,
		`insert|{"id": 2}|id=2|` + pos(2) + `|c|0@1`,
		`update|{"id": 1}|id=1|` + pos(3) + `|u|0@2`,
		`delete|{"id": 1}|id=1|` + pos(4) + `|d|0@3`,
		`delete|{"id": 2}|id=2|` + pos(5) + `|u|0@4`,
		`insert|{"id": 7}|id=7|` + pos(5) + `|u|0@4`,
	}
	t.Run("insert, update and delete of a key are three audit rows with their ops, positions and offsets", func(t *testing.T) {
		got := e.auditRows("people")
		slices.Sort(got[4:]) // the key change's two rows share one position
		checkAudit(t, got, want)
		meta := e.query(`SELECT DISTINCT sink, kafka_topic, source_committed_at IS NOT NULL, written_at >= $1
FROM analytics._syncline_audit`, started.Add(-time.Second))
		if wantMeta := []string{"wh|" + topicOf(tbl) + "|true|true"}; !slices.Equal(meta, wantMeta) {
			t.Errorf("sink, topic, commit time, written at = %q, want %q", meta, wantMeta)
		}
	})
	t.Run("QueryAudit returns a record's history newest first", func(t *testing.T) {
		conn := e.conn()
		defer conn.Close(e.ctx)
		got, err := QueryAudit(e.ctx, conn, "analytics", AuditFilter{Sink: "wh", Table: "people", Key: map[string]any{"id": 1}})
		if err != nil {
			t.Fatal(err)
		}
		wantHist := []string{`delete|{"id": 1}|d|3`, `update|{"id": 1}|u|2`, `insert|{"id": 1}|c|0`}
		if !slices.Equal(summary(got), wantHist) {
			t.Errorf("history:\n got %q\nwant %q", summary(got), wantHist)
		}
		if got[0].Position != pos(4) || got[0].Topic != topicOf(tbl) || got[0].Partition != 0 || got[0].CommittedAt == nil ||
			got[0].KeyText != "id=1" || got[0].Table != "people" || got[0].Sink != "wh" {
			t.Errorf("newest entry = %+v", got[0])
		}
		byText, err := QueryAudit(e.ctx, conn, "analytics", AuditFilter{Table: "people", KeyText: map[string]string{"id": "1"}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(summary(byText), wantHist) {
			t.Errorf("history by key text:\n got %q\nwant %q", summary(byText), wantHist)
		}
		limited, err := QueryAudit(e.ctx, conn, "analytics", AuditFilter{Table: "people", Key: map[string]any{"id": 1}, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(summary(limited), wantHist[:1]) {
			t.Errorf("limit 1: %q", summary(limited))
		}
		future, err := QueryAudit(e.ctx, conn, "analytics", AuditFilter{Table: "people", Since: time.Now().Add(time.Hour)})
		if err != nil || len(future) != 0 {
			t.Errorf("since an hour from now: %q, %v; want nothing", summary(future), err)
		}
		if _, err := QueryAudit(e.ctx, conn, "nowhere", AuditFilter{}); err == nil || !strings.Contains(err.Error(), "no audit log in schema nowhere") {
			t.Errorf("schema without an audit log: err = %v", err)
		}
	})
	t.Run("the key is queryable with a jsonb containment", func(t *testing.T) {
		got := e.query(`SELECT operation FROM analytics._syncline_audit WHERE key @> '{"id": 7}'`)
		if !slices.Equal(got, []string{"insert"}) {
			t.Errorf("key @> {id: 7}: %q", got)
		}
	})
	t.Run("a replay writes no rows and adds no audit rows", func(t *testing.T) {
		e.installWriteCounter("people")
		// The last step only: a hard-deleted key keeps no position, so an
		// older insert replayed after its delete would come back (doc.go).
		e.produce(steps[3]...)
		e.waitCaughtUp("wh", tbl)
		if n := e.writes(); n != 0 {
			t.Errorf("%d rows written by the replay, want 0", n)
		}
		if got := e.auditCount(); got != len(want) {
			t.Errorf("%d audit rows after the replay, want %d", got, len(want))
		}
	})
	t.Run("a change older than the row is skipped and not audited", func(t *testing.T) {
		e.produce(upd(tbl, 2, person(7, "b"), person(7, "older")))
		e.waitCaughtUp("wh", tbl)
		if got := e.auditCount(); got != len(want) {
			t.Errorf("%d audit rows, want %d", got, len(want))
		}
	})
}

func TestRejectedRowsAreNotAudited(t *testing.T) {
	e, tbl := auditEnv(t, nil)
	e.produce(ins(tbl, 1, person(1, "a")), ins(tbl, 2, person(2, "b")))
	e.waitCaughtUp("wh", tbl)
	// The warehouse gains a rule the source does not have.
	e.exec(`ALTER TABLE analytics.people ADD CONSTRAINT not_bad CHECK (name <> 'bad')`)
	// One batch: 1's update and 3's insert are rejected, 2's update and 4's
	// insert commit.
	e.produce(upd(tbl, 3, person(1, "a"), person(1, "bad")), upd(tbl, 4, person(2, "b"), person(2, "bb")),
		ins(tbl, 5, person(3, "bad")), ins(tbl, 6, person(4, "d")))
	e.waitCaughtUp("wh", tbl)
	if recs := e.dlqRecords(2); header(recs[0], "syncline.reason") != "rejected" {
		t.Errorf("DLQ headers = %v", recs[0].Headers)
	}
	got := e.auditRows("people")
	slices.Sort(got[2:])
	checkAudit(t, got, []string{
		`insert|{"id": 1}|id=1|` + pos(1) + `|c|0@0`,
		`insert|{"id": 2}|id=2|` + pos(2) + `|c|0@1`,
		`insert|{"id": 4}|id=4|` + pos(6) + `|c|0@5`,
		`update|{"id": 2}|id=2|` + pos(4) + `|u|0@3`,
	})
}

func TestTruncatesAreOneAuditRowInARecordsHistory(t *testing.T) {
	e, tbl := auditEnv(t, nil)
	e.produce(ins(tbl, 1, person(1, "a")), ins(tbl, 2, person(2, "b")))
	e.waitCaughtUp("wh", tbl)
	e.produce(trunc(tbl, 3), ins(tbl, 4, person(2, "again")))
	e.waitCaughtUp("wh", tbl)

	got := e.auditRows("people")
	want := []string{
		`insert|{"id": 1}|id=1|` + pos(1) + `|c|0@0`,
		`insert|{"id": 2}|id=2|` + pos(2) + `|c|0@1`,
		`truncate|{}||` + pos(3) + `|t|0@2`,
		`insert|{"id": 2}|id=2|` + pos(4) + `|c|0@3`,
	}
	checkAudit(t, got, want)
	conn := e.conn()
	defer conn.Close(e.ctx)
	hist, err := QueryAudit(e.ctx, conn, "analytics", AuditFilter{Table: "people", Key: map[string]any{"id": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if wantHist := []string{`truncate|{}|t|2`, `insert|{"id": 1}|c|0`}; !slices.Equal(summary(hist), wantHist) {
		t.Errorf("history of id 1:\n got %q\nwant %q", summary(hist), wantHist)
	}
}

func TestSoftDeletesAreAudited(t *testing.T) {
	e, tbl := auditEnv(t, func(c *Config) {
		c.SoftDelete = true
	})
	for _, ch := range []*schemas.Change{ins(tbl, 1, person(1, "a")), del(tbl, 2, person(1, "a")), ins(tbl, 3, person(1, "back"))} {
		e.produce(ch)
		e.waitCaughtUp("wh", tbl)
	}
	// A delete of a key the warehouse never had still writes a row (marked
	// deleted); replayed changes write nothing.
	e.produce(del(tbl, 4, person(9, "x")))
	e.waitCaughtUp("wh", tbl)
	e.installWriteCounter("people")
	e.produce(ins(tbl, 1, person(1, "a")), del(tbl, 2, person(1, "a")), ins(tbl, 3, person(1, "back")), del(tbl, 4, person(9, "x")))
	e.waitCaughtUp("wh", tbl)
	if n := e.writes(); n != 0 {
		t.Errorf("%d rows written by the replay, want 0", n)
	}
	got := e.auditRows("people")
	want := []string{
		`insert|{"id": 1}|id=1|` + pos(1) + `|c|0@0`,
		`soft_delete|{"id": 1}|id=1|` + pos(2) + `|d|0@1`,
		`update|{"id": 1}|id=1|` + pos(3) + `|c|0@2`,
		`soft_delete|{"id": 9}|id=9|` + pos(4) + `|d|0@3`,
	}
	checkAudit(t, got, want)
}

func TestAuditKeysOfSeveralColumnsAndOddNames(t *testing.T) {
	e := newEnv(t)
	tbl := newTable("line_items",
		schemas.Column{Name: "order", PGType: "bigint", Kind: schemas.KindInt64, Key: true},
		schemas.Column{Name: "it's", PGType: "text", Kind: schemas.KindString, Key: true},
		schemas.Column{Name: "qty", PGType: "integer", Kind: schemas.KindInt32},
	)
	e.createTopic(topicOf(tbl), 1)
	e.start(e.config("wh", tbl))
	row := schemas.Row{"order": int64(10), tbl.Columns[1].Field: "x y", "qty": int32(2)}
	e.produce(ins(tbl, 1, row), del(tbl, 2, row.Clone()))
	e.waitCaughtUp("wh", tbl)
	e.produce(ins(tbl, 3, row))
	e.waitCaughtUp("wh", tbl)
	// The insert and delete of one batch collapse to a delete of a row that
	// is not there: nothing written, nothing audited.
	got := e.auditRows("line_items")
	want := []string{`insert|{"it's": "x y", "order": 10}|order=10, it's=x y|` + pos(3) + `|c|0@2`}
	checkAudit(t, got, want)
	conn := e.conn()
	defer conn.Close(e.ctx)
	for _, f := range []AuditFilter{
		{Table: "line_items", Key: map[string]any{"order": 10}},
		{Table: "line_items", KeyText: map[string]string{"order": "10", "it's": "x y"}},
	} {
		hist, err := QueryAudit(e.ctx, conn, "analytics", f)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].Operation != AuditInsert {
			t.Errorf("filter %+v: %q", f, summary(hist))
		}
		var key map[string]any
		if err := json.Unmarshal(hist[0].Key, &key); err != nil || key["it's"] != "x y" || key["order"] != float64(10) {
			t.Errorf("key = %s (%v)", hist[0].Key, err)
		}
	}
	if hist, err := QueryAudit(e.ctx, conn, "analytics", AuditFilter{Table: "line_items", KeyText: map[string]string{"order": "11"}}); err != nil || len(hist) != 0 {
		t.Errorf("another key: %q, %v; want nothing", summary(hist), err)
	}
}

func TestAuditRetentionPrunesOldRowsOfItsSinkOnly(t *testing.T) {
	e, tbl := auditEnv(t, func(c *Config) {
		c.AuditRetention = time.Hour
		c.AuditPruneEvery = 100 * time.Millisecond
	})
	e.produce(ins(tbl, 1, person(1, "a")))
	e.waitCaughtUp("wh", tbl)
	// More old rows than one prune batch, and old rows of another sink.
	e.exec(`INSERT INTO analytics._syncline_audit (sink, table_name, key, key_text, operation, source_position, source_op,
	kafka_topic, kafka_partition, kafka_offset, written_at)
SELECT s, 'people', jsonb_build_object('id', g), 'id=' || g, 'insert', '', 'c', 't', 0, g, now() - interval '2 hours'
FROM generate_series(1, 12000) g, (VALUES ('wh'), ('other')) v(s)`)
	e.eventually(60*time.Second, func() (bool, string) {
		got := e.query(`SELECT sink, count(*) FROM analytics._syncline_audit GROUP BY 1 ORDER BY 1`)
		return slices.Equal(got, []string{"other|12000", "wh|1"}), fmt.Sprintf("rows per sink %q, want other|12000 and wh|1", got)
	})
	if got := e.query(`SELECT key::text, kafka_offset FROM analytics._syncline_audit WHERE sink = 'wh'`); !slices.Equal(got, []string{`{"id": 1}|0`}) {
		t.Errorf("kept rows %q, want the sink's own recent write", got)
	}
	e.exec("ANALYZE analytics._syncline_audit")
	plan := strings.Join(e.query(`EXPLAIN SELECT * FROM analytics._syncline_audit WHERE table_name = 'people' AND key @> '{"id": 5}'`), "\n")
	if !strings.Contains(plan, "_syncline_audit_key") {
		t.Errorf("a key lookup does not use the key index:\n%s", plan)
	}
}

func TestAuditOffWritesNoAuditLog(t *testing.T) {
	e, tbl := auditEnv(t, func(c *Config) {
		c.AuditOff = true
	})
	e.produce(ins(tbl, 1, person(1, "a")), trunc(tbl, 2), ins(tbl, 3, person(2, "b")), del(tbl, 4, person(2, "b")))
	e.waitCaughtUp("wh", tbl)
	e.produce(ins(tbl, 5, person(3, "c")))
	e.waitCaughtUp("wh", tbl)
	if got := e.rows("people", "id", "name"); !slices.Equal(got, []string{"3|c"}) {
		t.Errorf("rows = %q", got)
	}
	if got := e.query(`SELECT to_regclass('analytics._syncline_audit') IS NULL`); got[0] != "true" {
		t.Errorf("the audit table exists with the audit log off")
	}
}

// BenchmarkApplyAudit measures the sink alone applying a backlog of
// changes (inserts of benchRows keys, then an update of each), with the
// audit log off and on:
//
//	go test -run '^$' -bench ApplyAudit -benchtime 3x -count 2 ./sink/warehouse/
func BenchmarkApplyAudit(b *testing.B) {
	const benchRows = 50000
	for _, mode := range []struct {
		name string
		off  bool
	}{{"off", true}, {"on", false}} {
		b.Run("audit="+mode.name, func(b *testing.B) {
			var elapsed time.Duration
			var changes, wal int64
			for i := 0; i < b.N; i++ {
				d, n, w := benchApply(b, benchRows, mode.off)
				elapsed, changes, wal = elapsed+d, changes+n, wal+w
			}
			b.ReportMetric(float64(changes)/elapsed.Seconds(), "changes/s")
			b.ReportMetric(float64(wal)/float64(2*benchRows*b.N), "WAL-bytes/change")
		})
	}
}

// benchApply produces the backlog into a fresh database and topic, then
// times a sink from its first committed batch (so that joining the group
// is not counted) until it has stored the last offset, and returns the
// time and the changes applied in it, and the WAL the whole apply wrote
// (the test server has no other load: a figure free of the machine's noise).
func benchApply(b *testing.B, rows int, auditOff bool) (time.Duration, int64, int64) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dsn := pg.CreateDatabase(b, fmt.Sprintf("bench_%d", dbSeq.Add(1)))
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	serde := schemas.NewSerde(newFakeRegistry())
	tbl := newTable("orders",
		schemas.Column{Name: "id", PGType: "bigint", Kind: schemas.KindInt64, Key: true},
		schemas.Column{Name: "customer", PGType: "text", Kind: schemas.KindString},
		schemas.Column{Name: "amount", PGType: "bigint", Kind: schemas.KindInt64},
		schemas.Column{Name: "status", PGType: "text", Kind: schemas.KindString},
	)
	for _, topic := range []string{topicOf(tbl), topics.DLQ("syncline")} {
		if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 4, 1, nil, topic); err != nil || resp.Err != nil {
			b.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
		}
	}
	enc, err := serde.Encoder(ctx, topicOf(tbl), tbl)
	if err != nil {
		b.Fatal(err)
	}
	var recs []*kgo.Record
	lsn := 0
	row := func(id int, status string) schemas.Row {
		return schemas.Row{"id": int64(id), "customer": fmt.Sprint("customer-", id%977), "amount": int64(id * 3), "status": status}
	}
	for pass, status := range []string{"new", "paid"} {
		for id := 0; id < rows; id++ {
			lsn++
			ch := ins(tbl, lsn, row(id, status))
			if pass == 1 {
				ch = upd(tbl, lsn, row(id, "new"), row(id, status))
			}
			k, v, err := enc.Encode(ch)
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Topic: topicOf(tbl), Key: k, Value: v})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	m := metrics.New(prometheus.NewRegistry())
	cfg := Config{Name: "wh", DSN: dsn, Schema: "analytics", AuditOff: auditOff,
		Tables: []TableRef{{Source: tbl.Source, Schema: tbl.Schema, Table: tbl.Name}}, Topics: []string{topicOf(tbl)}}
	s, err := New(cfg, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, serde, dlq.New(topics.DLQ("syncline"), cl, m), m,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	var lsn0 string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn0); err != nil {
		b.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	var start time.Time
	var first int64
	for {
		var n int64
		err := conn.QueryRow(ctx, "SELECT coalesce(sum(next_offset), 0) FROM analytics._syncline_offsets").Scan(&n)
		if err == nil && n > 0 && start.IsZero() {
			start, first = time.Now(), n
			b.StartTimer()
		}
		if err == nil && n == int64(len(recs)) {
			break
		}
		if ctx.Err() != nil {
			b.Fatalf("the sink did not catch up: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	var wal int64
	if err := conn.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint", lsn0).Scan(&wal); err != nil {
		b.Fatal(err)
	}
	var audited int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM analytics._syncline_audit").Scan(&audited); err == nil && audited != 2*rows {
		b.Fatalf("%d audit rows, want %d", audited, 2*rows)
	}
	return elapsed, int64(len(recs)) - first, wal
}

package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/capture/postgres"
	"syncline/internal/testenv"
	"syncline/schemas"
)

type env struct {
	t     *testing.T
	pg    *testenv.Postgres
	k     *testenv.Kafka
	dsn   string
	serde *schemas.Serde
}

func newEnv(t *testing.T, ddl string) *env {
	pg := testenv.StartPostgres(t)
	e := &env{t: t, pg: pg, k: testenv.StartKafka(t), dsn: pg.CreateDatabase(t, "app")}
	pg.Exec(t, "app", ddl)
	e.serde = schemas.NewSerde(e.k.RegistryClient(t))
	return e
}

// run starts a source until the returned stop is called, and returns once
// its initial snapshot is done. The snapshot is a DBLog backfill running
// beside the stream: a row written while it runs may legitimately appear
// both as a streamed change and as a backfill read, so tests that assert
// exact per-key sequences write only after it (backfill tests that want the
// overlap use runSource).
func (e *env) run(cfg postgres.Config) (stop func()) {
	src, stop := e.runSource(cfg)
	testenv.WaitFor(e.t, 60*time.Second, "the initial snapshot", func() bool {
		for _, bf := range src.Backfills() {
			if bf.State == postgres.BackfillRunning || bf.State == postgres.BackfillPaused {
				return false
			}
		}
		return true
	})
	return stop
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// records waits until topic holds n committed records and returns them.
func (e *env) records(topic string, n int) []*kgo.Record {
	e.t.Helper()
	cl := e.k.Client(e.t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("%s: got %d records, want %d", topic, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func TestCapturedValuesMatchWhatPostgresPrints(t *testing.T) {
	e := newEnv(t, `CREATE TABLE v (
		id serial PRIMARY KEY, b boolean, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
		n numeric(20,6), nu numeric, m money, t text, vc varchar(10), c char(4), by bytea,
		d date, ts timestamp(3), tstz timestamptz, tm time, u uuid, j json, jb jsonb, x xml,
		arr int[], iv interval, r int4range, ip inet, e_col bit(3))`)
	stop := e.run(postgres.Config{Tables: []postgres.TableName{{Schema: "public", Name: "v"}}})
	defer stop()
	e.pg.Exec(t, "app", `INSERT INTO v (b,i2,i4,i8,f4,f8,n,nu,m,t,vc,c,by,d,ts,tstz,tm,u,j,jb,x,arr,iv,r,ip,e_col) VALUES
		(true, -32768, 2147483647, -9223372036854775808, 'NaN', '-Infinity', 12345678901234.123456, '1e-30', '$1,234.56',
		 'multi-byte: 日本語 ✓', 'ten chars!', 'ab', '\x00ff7f', '0044-03-15 BC', '2024-02-29 23:59:59.999', '12345-06-07 08:09:10+02',
		 '24:00:00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": {"c": null}}', '<x>y</x>',
		 '{{1,NULL},{3,4}}', '-1 year +2 days -03:04:05', '[1,10)', '10.0.0.0/8', B'101'),
		(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'empty', NULL, NULL),
		(false, 32767, -2147483648, 9223372036854775807, 'Infinity', 'NaN', 'NaN', '-Infinity', '-$92,233,720,368,547,758.08',
		 '', '', '', '\x', 'infinity', '-infinity', 'infinity', '00:00:00', '00000000-0000-0000-0000-000000000000', 'null', '[]', 'text',
		 '{1,NULL,3}', 'P0D', '(,)', '::1', B'000')`)
	recs := e.records("syncline.raw.app.public.v", 3)
	conn := e.pg.Conn(t, "app")
	for _, r := range recs {
		ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		id := ch.After["id"].(int32)
		for _, c := range ch.Table.Columns {
			var want *string
			q := fmt.Sprintf(`SELECT %s::text FROM v WHERE id = $1`, c.Name)
			if err := conn.QueryRow(context.Background(), q, id).Scan(&want); err != nil {
				t.Fatal(err)
			}
			v := ch.After[c.Field]
			if want == nil || v == nil {
				if (want == nil) != (v == nil) {
					t.Errorf("row %d column %s: captured %v, Postgres %v", id, c.Name, v, want)
				}
				continue
			}
			got, err := schemas.FormatText(c, v)
			if err != nil {
				t.Fatal(err)
			}
			// Compare as Postgres sees it: cast both texts to the column type.
			var same bool
			q = fmt.Sprintf(`SELECT $1::%s IS NOT DISTINCT FROM $2::%s`, c.PGType, c.PGType)
			if c.PGType == "json" || c.PGType == "xml" {
				q = `SELECT $1 = $2`
			}
			if err := conn.QueryRow(context.Background(), q, got, *want).Scan(&same); err != nil {
				t.Fatalf("column %s: %v", c.Name, err)
			}
			if !same {
				t.Errorf("row %d column %s (%s): captured %q, Postgres prints %q", id, c.Name, c.PGType, got, *want)
			}
		}
	}
}

// A timestamp past 294247-01-10 04:00:54.775806 UTC is a valid Postgres
// timestamp that timestamp-micros (a long of microseconds since 1970)
// cannot hold: the one value that still goes to the DLQ. (NaN and
// ±infinity are carried; see types_test.go.)
func TestUnrepresentableValueGoesToTheDLQAndTheStreamContinues(t *testing.T) {
	e := newEnv(t, `CREATE TABLE p (id int PRIMARY KEY, price numeric(10,2), due timestamp)`)
	stop := e.run(postgres.Config{Tables: []postgres.TableName{{Schema: "public", Name: "p"}}})
	defer stop()
	e.pg.Exec(t, "app", `INSERT INTO p VALUES (1, 'NaN', '294270-01-01 00:00:00')`)
	e.pg.Exec(t, "app", `INSERT INTO p VALUES (2, 9.99, 'infinity')`)
	dlq := e.records("_syncline.dlq", 1)
	h := map[string]string{}
	for _, hd := range dlq[0].Headers {
		h[hd.Key] = string(hd.Value)
	}
	if h["syncline.reason"] != "unrepresentable_value" || !strings.Contains(h["syncline.error"], `"due"`) {
		t.Errorf("DLQ headers %v: want reason unrepresentable_value naming column due", h)
	}
	if !strings.Contains(string(dlq[0].Value), `"294270-01-01 00:00:00"`) || !strings.Contains(string(dlq[0].Value), `"NaN"`) {
		t.Errorf("DLQ record does not keep the values: %s", dlq[0].Value)
	}
	recs := e.records("syncline.raw.app.public.p", 1)
	ch, err := e.serde.Decode(context.Background(), recs[0].Key, recs[0].Value)
	if err != nil || ch.After["id"] != int32(2) || ch.After["due"] != schemas.PlusInfinity {
		t.Errorf("the next row did not flow: %v %v", ch, err)
	}
}

func TestRestartResumesWithoutRepeatingOrLosing(t *testing.T) {
	e := newEnv(t, `CREATE TABLE r (id int PRIMARY KEY, v text)`)
	cfg := postgres.Config{Tables: []postgres.TableName{{Schema: "public", Name: "r"}}}
	e.pg.Exec(t, "app", `INSERT INTO r SELECT g, 'snap' FROM generate_series(1, 100) g`)
	stop := e.run(cfg)
	e.pg.Exec(t, "app", `INSERT INTO r SELECT g, 'a' FROM generate_series(101, 200) g`)
	e.records("syncline.raw.app.public.r", 200)
	stop()
	e.pg.Exec(t, "app", `INSERT INTO r SELECT g, 'while down' FROM generate_series(201, 300) g`)
	stop = e.run(cfg)
	defer stop()
	e.pg.Exec(t, "app", `UPDATE r SET v = 'after' WHERE id <= 10`)
	e.records("syncline.raw.app.public.r", 310)
	// A marker row committed last: once it is on the topic, every earlier
	// transaction (and any duplicate of one) is too.
	e.pg.Exec(t, "app", `INSERT INTO r VALUES (0, 'marker')`)
	seen := map[string]int{}
	for _, r := range e.records("syncline.raw.app.public.r", 311) {
		ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		seen[fmt.Sprintf("%v/%s", ch.Key["id"], ch.Op)]++
	}
	if seen["0/c"] != 1 {
		t.Errorf("the marker row was not read last exactly once (seen %d): the topic has extra records", seen["0/c"])
	}
	for id := 1; id <= 300; id++ {
		op := "c"
		if id <= 100 {
			op = "r"
		}
		if n := seen[fmt.Sprintf("%d/%s", id, op)]; n != 1 {
			t.Errorf("row %d op %s captured %d times, want 1", id, op, n)
		}
	}
	for id := 1; id <= 10; id++ {
		if n := seen[fmt.Sprintf("%d/u", id)]; n != 1 {
			t.Errorf("update of row %d captured %d times, want 1", id, n)
		}
	}
}

func TestKeyChangeIsADeleteAndAnInsertUnderEveryIdentity(t *testing.T) {
	e := newEnv(t, `CREATE TABLE kd (id int PRIMARY KEY, big text);
		CREATE TABLE kf (id int PRIMARY KEY, big text); ALTER TABLE kf REPLICA IDENTITY FULL;`)
	stop := e.run(postgres.Config{NoSnapshot: true, Tables: []postgres.TableName{{Schema: "public", Name: "kd"}, {Schema: "public", Name: "kf"}}})
	defer stop()
	for _, table := range []string{"kd", "kf"} {
		t.Run("table "+table, func(t *testing.T) {
			e.pg.Exec(t, "app", fmt.Sprintf(`INSERT INTO %s SELECT 1, string_agg(md5(g::text), '') FROM generate_series(1, 2000) g`, table))
			e.pg.Exec(t, "app", fmt.Sprintf(`UPDATE %s SET id = 2 WHERE id = 1`, table))
			for _, r := range e.records("syncline.raw.app.public."+table, 3) {
				ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
				if err != nil {
					t.Fatal(err)
				}
				if ch.Op == schemas.OpCreate && ch.Key["id"] == int32(2) && table == "kf" && len(ch.Unavailable) > 0 {
					t.Errorf("insert of the new key still lacks %v although the full old row was sent", ch.Unavailable)
				}
			}
			// Per key (the keys may sit on different partitions, read in
			// any order): the old key inserted then deleted, the new one
			// inserted.
			if got := e.opsOf("syncline.raw.app.public."+table, 3); got != "id=1: c d | id=2: c" {
				t.Errorf("ops %s, want id=1: c d | id=2: c", got)
			}
		})
	}
}

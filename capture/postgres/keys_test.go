package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"syncline/capture/postgres"
	"syncline/internal/metrics"
)

// opsOf decodes n records of topic and renders them per key, in the order
// of the key's partition: "key: op op …", keys sorted. Keys are k=v pairs
// in key-column order.
func (e *env) opsOf(topic string, n int) string {
	e.t.Helper()
	byKey := map[string][]string{}
	for _, r := range e.records(topic, n) {
		ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			e.t.Fatal(err)
		}
		var parts []string
		for _, c := range ch.Table.KeyColumns() {
			v := ch.Key[c.Field]
			if tm, ok := v.(time.Time); ok {
				v = tm.Format(time.DateOnly)
			}
			parts = append(parts, fmt.Sprintf("%s=%v", c.Name, v))
		}
		k := strings.Join(parts, ",")
		byKey[k] = append(byKey[k], string(ch.Op))
	}
	var out []string
	for k, ops := range byKey {
		out = append(out, k+": "+strings.Join(ops, " "))
	}
	slices.Sort(out)
	return strings.Join(out, " | ")
}

func TestKeysFollowPrimaryKeyIdentityIndexConfigurationOrTheWholeRow(t *testing.T) {
	e := newEnv(t, `
		CREATE TABLE comp (tenant int, id int, v text, PRIMARY KEY (tenant, id));
		CREATE TABLE byidx (id int PRIMARY KEY, email text NOT NULL UNIQUE, v text);
		ALTER TABLE byidx REPLICA IDENTITY USING INDEX byidx_email_key;
		CREATE TABLE events (tenant int, seq int, v text); ALTER TABLE events REPLICA IDENTITY FULL;
		CREATE TABLE bag (a int, b text); ALTER TABLE bag REPLICA IDENTITY FULL;`)
	stop := e.run(postgres.Config{NoSnapshot: true,
		Keys: map[postgres.TableName][]string{{Schema: "public", Name: "events"}: {"tenant", "seq"}},
		Tables: []postgres.TableName{{Schema: "public", Name: "comp"}, {Schema: "public", Name: "byidx"},
			{Schema: "public", Name: "events"}, {Schema: "public", Name: "bag"}}})
	defer stop()
	e.pg.Exec(t, "app", `
		INSERT INTO comp VALUES (1, 1, 'a'), (2, 1, 'b'); UPDATE comp SET v = 'c' WHERE tenant = 2; UPDATE comp SET id = 5 WHERE tenant = 1; DELETE FROM comp WHERE tenant = 2;
		INSERT INTO byidx VALUES (1, 'x@example.com', 'a'); UPDATE byidx SET v = 'b'; UPDATE byidx SET email = 'y@example.com'; DELETE FROM byidx;
		INSERT INTO events VALUES (7, 1, 'a'); UPDATE events SET v = 'b'; DELETE FROM events;
		INSERT INTO bag VALUES (1, 'x'); UPDATE bag SET b = 'y'; DELETE FROM bag;`)
	for _, tc := range []struct {
		table string
		n     int
		want  string
	}{
		{"comp", 6, "tenant=1,id=1: c d | tenant=1,id=5: c | tenant=2,id=1: c u d"},
		// REPLICA IDENTITY USING INDEX: the identity index is the key.
		{"byidx", 5, "email=x@example.com: c u d | email=y@example.com: c d"},
		// Configured key columns on a table without a primary key.
		{"events", 3, "tenant=7,seq=1: c u d"},
		// No key at all: the whole row is the key, so an update is a
		// delete of the old row and an insert of the new.
		{"bag", 4, "a=1,b=x: c d | a=1,b=y: c d"},
	} {
		if got := e.opsOf("syncline.raw.app.public."+tc.table, tc.n); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.table, got, tc.want)
		}
	}
}

func TestConfiguredKeyOutsideTheReplicaIdentityIsRefused(t *testing.T) {
	e := newEnv(t, `CREATE TABLE c (id int PRIMARY KEY, email text)`)
	cfg := postgres.Config{Name: "app", DSN: e.dsn, Keys: map[postgres.TableName][]string{{Schema: "public", Name: "c"}: {"email"}},
		Tables: []postgres.TableName{{Schema: "public", Name: "c"}}}
	src := postgres.New(cfg, e.k.Opts(), e.serde, metrics.New(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := src.Run(ctx)
	if !errors.Is(err, postgres.ErrPermanent) || !strings.Contains(err.Error(), "REPLICA IDENTITY FULL") || !strings.Contains(err.Error(), `"email"`) {
		t.Fatalf("got %v; want a permanent error naming the column and REPLICA IDENTITY FULL", err)
	}
}

func TestPartitionedTableIsCapturedThroughItsRoot(t *testing.T) {
	e := newEnv(t, `
		CREATE TABLE m (id int, at date, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
		CREATE TABLE m_2025 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
		CREATE TABLE m_2026 PARTITION OF m FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
		INSERT INTO m VALUES (1, '2025-03-01', 'snap'), (2, '2026-03-01', 'snap');`)
	stop := e.run(postgres.Config{Tables: []postgres.TableName{{Schema: "public", Name: "m"}}})
	defer stop()
	e.pg.Exec(t, "app", `INSERT INTO m VALUES (3, '2026-05-01', 'new'); UPDATE m SET v = 'moved', at = '2025-06-01' WHERE id = 2`)
	// Moving a row to another partition is a key change: delete + insert.
	got := e.opsOf("syncline.raw.app.public.m", 5)
	want := "id=1,at=2025-03-01: r | id=2,at=2025-06-01: c | id=2,at=2026-03-01: r d | id=3,at=2026-05-01: c"
	if got != want {
		t.Errorf("partitioned table:\n got %s\nwant %s", got, want)
	}
}

// Identifiers that need quoting are captured; Avro names are sanitized
// deterministically and the original names are kept in the schema.
func TestIdentifiersThatNeedQuoting(t *testing.T) {
	e := newEnv(t, `CREATE SCHEMA "My Schema";
		CREATE TABLE "My Schema"."Odd.Name ü" ("Id" int PRIMARY KEY, "a b" text, "x""y" text, "naïve" text, "2nd" int)`)
	tn := postgres.TableName{Schema: "My Schema", Name: "Odd.Name ü"}
	stop := e.run(postgres.Config{Tables: []postgres.TableName{tn}})
	defer stop()
	e.pg.Exec(t, "app", `INSERT INTO "My Schema"."Odd.Name ü" VALUES (1, 'space', 'quote', 'accent', 2)`)
	topic := "syncline.raw.app.My_Schema.Odd_Name__"
	recs := e.records(topic, 1)
	ch, err := e.serde.Decode(context.Background(), recs[0].Key, recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Table.Schema != "My Schema" || ch.Table.Name != "Odd.Name ü" {
		t.Errorf("table names %q.%q, want the originals", ch.Table.Schema, ch.Table.Name)
	}
	want := map[string]string{"Id": "Id", "a b": "a_b", `x"y`: "x_y", "naïve": "na_ve", "2nd": "_2nd"}
	for _, c := range ch.Table.Columns {
		if want[c.Name] != c.Field {
			t.Errorf("column %q has field %q, want %q", c.Name, c.Field, want[c.Name])
		}
	}
	if ch.After["a_b"] != "space" || ch.After["x_y"] != "quote" || ch.After["na_ve"] != "accent" || ch.After["_2nd"] != int32(2) {
		t.Errorf("values %v", ch.After)
	}
	// The registered schema keeps every original name.
	ss, err := e.k.RegistryClient(t).SchemaByVersion(context.Background(), topic+"-value", -1)
	if err != nil {
		t.Fatal(err)
	}
	for orig := range want {
		if !strings.Contains(ss.Schema.Schema, fmt.Sprintf("%q", orig)) {
			t.Errorf("registered schema lacks the original column name %q", orig)
		}
	}
}

// A captured table renamed while syncline runs keeps flowing to the topics
// of its configured name.
func TestRenamedTableKeepsFlowing(t *testing.T) {
	e := newEnv(t, `CREATE TABLE before_rename (id int PRIMARY KEY)`)
	stop := e.run(postgres.Config{NoSnapshot: true, Tables: []postgres.TableName{{Schema: "public", Name: "before_rename"}}})
	defer stop()
	e.pg.Exec(t, "app", `INSERT INTO before_rename VALUES (1); ALTER TABLE before_rename RENAME TO after_rename; INSERT INTO after_rename VALUES (2)`)
	if got := e.opsOf("syncline.raw.app.public.before_rename", 2); got != "id=1: c | id=2: c" {
		t.Errorf("got %v", got)
	}
}

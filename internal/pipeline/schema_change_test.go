package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// The source table goes through ADD COLUMN, DROP COLUMN, RENAME COLUMN and
// two widening type changes with rows written between each step: every
// step registers a new schema version on the raw and the change topic, and
// the warehouse table evolves (adds columns, widens types) without losing a
// row or a value.
func TestSchemaChangesEvolveTheWarehouse(t *testing.T) {
	h := newHarness(t)
	h.pg.Exec(t, "app", `CREATE TABLE evolve (id int PRIMARY KEY, n int, code varchar(10), gone text, old_name text);
		INSERT INTO evolve SELECT g, g, 'c' || g, 'g' || g, 'o' || g FROM generate_series(1, 3) g`)
	h.cfgText = strings.Replace(h.cfgText, "tables: [public.customers, public.orders]", "tables: [public.customers, public.orders, public.evolve]", 1)
	h.start()
	same := func(cols string) {
		t.Helper()
		waitEqual(t, h.srcDSN, h.whDSN, "SELECT "+cols+" FROM %s ORDER BY id", "public.evolve", "analytics.evolve", 60*time.Second)
	}
	same("id, n, code, gone, old_name")

	steps := []struct{ name, sql, cols string }{
		{"add column", `ALTER TABLE evolve ADD COLUMN added text;
			INSERT INTO evolve SELECT g, g, 'c' || g, 'g' || g, 'o' || g, 'a' || g FROM generate_series(4, 6) g;
			UPDATE evolve SET added = 'a1' WHERE id = 1`, "id, n, code, gone, old_name, added"},
		{"drop column", `ALTER TABLE evolve DROP COLUMN gone;
			INSERT INTO evolve (id, n, code, old_name, added) SELECT g, g, 'c' || g, 'o' || g, 'a' || g FROM generate_series(7, 9) g;
			UPDATE evolve SET n = 100 WHERE id = 2`, "id, n, code, old_name, added"},
		{"rename column", `ALTER TABLE evolve RENAME COLUMN old_name TO new_name;
			INSERT INTO evolve (id, n, code, new_name, added) SELECT g, g, 'c' || g, 'r' || g, 'a' || g FROM generate_series(10, 12) g;
			UPDATE evolve SET new_name = 'r3' WHERE id = 3`, "id, n, code, added"},
		{"int to bigint", `ALTER TABLE evolve ALTER COLUMN n TYPE bigint;
			INSERT INTO evolve (id, n, code, new_name, added) SELECT g, 5000000000 + g, 'c' || g, 'r' || g, 'a' || g FROM generate_series(13, 15) g;
			UPDATE evolve SET n = 9000000000 WHERE id = 4`, "id, n, code, added"},
		{"varchar(10) to varchar(50)", `ALTER TABLE evolve ALTER COLUMN code TYPE varchar(50);
			INSERT INTO evolve (id, n, code, new_name, added) SELECT g, g, repeat('x', 40) || g, 'r' || g, 'a' || g FROM generate_series(16, 18) g;
			UPDATE evolve SET code = repeat('y', 50) WHERE id = 5`, "id, n, code, added"},
	}
	for _, st := range steps {
		h.pg.Exec(t, "app", st.sql)
		same(st.cols) // fails the test, naming the difference, if the step did not arrive
	}

	t.Run("every row with the right values", func(t *testing.T) {
		// A renamed column is a new column to the warehouse: filled by the
		// changes written after the rename (rows 3, 4, 5 and 10 on).
		var want []string
		for id := 1; id <= 18; id++ {
			n, code, added, newName := fmt.Sprint(id), fmt.Sprintf("c%d", id), fmt.Sprintf("a%d", id), ""
			switch {
			case id == 2:
				n, added = "100", ""
			case id == 3:
				added, newName = "", "r3"
			case id == 4:
				n, newName = "9000000000", "o4"
			case id == 5:
				code, newName = strings.Repeat("y", 50), "o5"
			case id >= 16:
				code, newName = strings.Repeat("x", 40)+fmt.Sprint(id), fmt.Sprintf("r%d", id)
			case id >= 13:
				n, newName = fmt.Sprint(5000000000+id), fmt.Sprintf("r%d", id)
			case id >= 10:
				newName = fmt.Sprintf("r%d", id)
			}
			want = append(want, fmt.Sprintf("(%d,%s,%s,%s,%s)", id, n, code, added, newName))
		}
		var got []string
		deadline := time.Now().Add(30 * time.Second)
		for {
			got = rows(t, h.whDSN, "SELECT id, n, code, added, new_name FROM analytics.evolve ORDER BY id")
			if slices.Equal(got, want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !slices.Equal(got, want) {
			t.Errorf("warehouse rows:\n got %v\nwant %v", got, want)
		}
	})
	t.Run("dropped and renamed-away columns stay, NULL for rows written after", func(t *testing.T) {
		got := rows(t, h.whDSN, "SELECT id, gone, old_name FROM analytics.evolve ORDER BY id")
		want := []string{"(1,g1,o1)", "(2,g2,o2)", "(3,g3,o3)", "(4,g4,o4)", "(5,g5,o5)", "(6,g6,o6)",
			"(7,,o7)", "(8,,o8)", "(9,,o9)", "(10,,)", "(11,,)", "(12,,)", "(13,,)", "(14,,)", "(15,,)", "(16,,)", "(17,,)", "(18,,)"}
		if !slices.Equal(got, want) {
			t.Errorf("dropped columns:\n got %v\nwant %v", got, want)
		}
	})
	t.Run("the warehouse columns have the widened types", func(t *testing.T) {
		got := rows(t, h.whDSN, `SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
			WHERE attrelid = 'analytics.evolve'::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_syncline%' ORDER BY attnum`)
		want := []string{"(id,integer)", "(n,bigint)", `(code,"character varying(50)")`, "(gone,text)", "(old_name,text)", "(added,text)", "(new_name,text)"}
		if !slices.Equal(got, want) {
			t.Errorf("columns:\n got %v\nwant %v", got, want)
		}
	})
	t.Run("the registry holds a version per step on both topics", func(t *testing.T) {
		cl, err := sr.NewClient(sr.URLs(h.addrs.Registry))
		if err != nil {
			t.Fatal(err)
		}
		for _, subject := range []string{"syncline.raw.app.public.evolve-value", "syncline.app.public.evolve-value"} {
			vs, err := cl.SubjectVersions(context.Background(), subject)
			if err != nil || len(vs) != 1+len(steps) {
				t.Errorf("%s: versions %v (%v), want %d", subject, vs, err, 1+len(steps))
				continue
			}
			latest, err := cl.SchemaByVersion(context.Background(), subject, -1)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{`"syncline.pg_type":"bigint"`, `"syncline.pg_type":"character varying(50)"`, `"new_name"`} {
				if !strings.Contains(latest.Schema.Schema, want) {
					t.Errorf("%s latest schema lacks %s", subject, want)
				}
			}
			if strings.Contains(latest.Schema.Schema, `"gone"`) || strings.Contains(latest.Schema.Schema, `"old_name"`) {
				t.Errorf("%s latest schema still has a dropped or renamed column", subject)
			}
		}
	})
}

// A type change the warehouse cannot follow safely (timestamp →
// timestamptz: the conversion depends on a time zone only the source knew)
// passes the registry (both are timestamp-micros) but stops that warehouse
// table only: /readyz names it, the other tables keep flowing.
func TestAnUnsafeTypeChangeStopsOnlyThatWarehouseTable(t *testing.T) {
	h := newHarness(t)
	h.pg.Exec(t, "app", `CREATE TABLE events (id int PRIMARY KEY, at timestamp);
		INSERT INTO events VALUES (1, '2024-01-01 10:00'), (2, '2024-01-02 10:00');
		INSERT INTO customers (id, email) VALUES (1, 'one@example.com')`)
	h.cfgText = strings.Replace(h.cfgText, "tables: [public.customers, public.orders]", "tables: [public.customers, public.orders, public.events]", 1)
	h.start()
	waitEqual(t, h.srcDSN, h.whDSN, "SELECT id, at FROM %s ORDER BY id", "public.events", "analytics.events", 60*time.Second)
	h.waitInSync(60 * time.Second)

	h.pg.Exec(t, "app", `ALTER TABLE events ALTER COLUMN at TYPE timestamptz; INSERT INTO events VALUES (3, '2024-01-03 10:00+00')`)
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email) VALUES (2, 'two@example.com'), (3, 'three@example.com')`)
	h.waitInSync(60 * time.Second) // customers keep flowing

	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(h.addrs.HTTP + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "analytics.events") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %s %q, want 503 naming the stopped table", resp.Status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"sink wh", "column at", "timestamp without time zone", "timestamp with time zone"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz body %q lacks %q", body, want)
		}
	}
	if got := rows(t, h.whDSN, "SELECT id, at FROM analytics.events ORDER BY id"); !slices.Equal(got, []string{`(1,"2024-01-01 10:00:00")`, `(2,"2024-01-02 10:00:00")`}) {
		t.Errorf("stopped table changed: %v", got)
	}
	if got := rows(t, h.whDSN, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'analytics.events'::regclass AND attname = 'at'"); !slices.Equal(got, []string{"(\"timestamp without time zone\")"}) {
		t.Errorf("stopped table's column type: %v", got)
	}
}

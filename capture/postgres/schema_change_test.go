package postgres_test

import (
	"context"
	"strings"
	"testing"

	"syncline/capture/postgres"
)

// Compatible schema changes register new schema versions and keep
// flowing; an incompatible one stops only that table, parking its changes
// in the DLQ with what to do, while the other tables keep flowing.
func TestSchemaChangesNewVersionsOrAStoppedTable(t *testing.T) {
	e := newEnv(t, `CREATE TABLE s (id int PRIMARY KEY, n int, gone text); CREATE TABLE other (id int PRIMARY KEY)`)
	stop := e.run(postgres.Config{NoSnapshot: true, Tables: []postgres.TableName{{Schema: "public", Name: "s"}, {Schema: "public", Name: "other"}}})
	defer stop()
	e.pg.Exec(t, "app", `INSERT INTO s VALUES (1, 1, 'x')`)
	e.pg.Exec(t, "app", `ALTER TABLE s ADD COLUMN added text; INSERT INTO s VALUES (2, 2, 'x', 'new')`)
	e.pg.Exec(t, "app", `ALTER TABLE s DROP COLUMN gone; INSERT INTO s VALUES (3, 3, 'new')`)
	e.pg.Exec(t, "app", `ALTER TABLE s RENAME COLUMN added TO renamed; INSERT INTO s VALUES (4, 4, 'new')`)
	e.pg.Exec(t, "app", `ALTER TABLE s ALTER COLUMN n TYPE bigint; INSERT INTO s VALUES (5, 5000000000, 'new')`)
	var fields []string
	for _, r := range e.records("syncline.raw.app.public.s", 5) {
		ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range ch.Table.Columns {
			names = append(names, c.Name+":"+c.PGType)
		}
		fields = append(fields, strings.Join(names, ","))
	}
	for _, want := range []string{
		"id:integer,n:integer,gone:text",
		"id:integer,n:integer,gone:text,added:text",
		"id:integer,n:integer,added:text",
		"id:integer,n:integer,renamed:text",
		"id:integer,n:bigint,renamed:text",
	} {
		found := false
		for _, f := range fields {
			found = found || f == want
		}
		if !found {
			t.Errorf("no record with columns %s; got %v", want, fields)
		}
	}
	vs, err := e.k.RegistryClient(t).SubjectVersions(context.Background(), "syncline.raw.app.public.s-value")
	if err != nil || len(vs) != 5 {
		t.Errorf("subject versions %v (%v), want 5", vs, err)
	}

	// int → text: Avro cannot read the old records with the new schema.
	e.pg.Exec(t, "app", `ALTER TABLE s ALTER COLUMN n TYPE text; INSERT INTO s VALUES (6, 'six', 'new')`)
	e.pg.Exec(t, "app", `INSERT INTO other VALUES (1)`)
	dlq := e.records("_syncline.dlq", 1)
	h := map[string]string{}
	for _, hd := range dlq[0].Headers {
		h[hd.Key] = string(hd.Value)
	}
	if h["syncline.reason"] != "schema_incompatible" || !strings.Contains(h["syncline.error"], "incompatible") || !strings.Contains(h["syncline.error"], "compatibility") {
		t.Errorf("DLQ headers %v: want reason schema_incompatible and what to do", h)
	}
	if !strings.Contains(string(dlq[0].Value), `"six"`) {
		t.Errorf("DLQ record lacks the row's values: %s", dlq[0].Value)
	}
	if got := e.opsOf("syncline.raw.app.public.other", 1); got != "id=1: c" {
		t.Errorf("other table: %s", got)
	}
}

package warehouse

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"syncline/schemas"
	"syncline/sink/saas"
)

// golden is the shape of an entity topic's records that the write-back
// sink reads: id, fields, _sources, _provenance.
func goldenTable() *schemas.Table {
	cols := []schemas.Column{
		{Name: "id", PGType: "text", Kind: schemas.KindString, Key: true},
		{Name: "email", PGType: "text", Kind: schemas.KindString},
		{Name: "name", PGType: "text", Kind: schemas.KindString},
		{Name: "visits", PGType: "text", Kind: schemas.KindString},
		{Name: "_sources", PGType: "jsonb", Kind: schemas.KindJSON},
		{Name: "_provenance", PGType: "jsonb", Kind: schemas.KindJSON},
	}
	schemas.SanitizeFields(cols)
	return &schemas.Table{System: "syncline", Source: "entity", DB: "entity", Schema: "entity", Name: "contact", Columns: cols}
}

var goldenSeq int

// goldenRec is a golden record of contact id with members srcs; prov maps
// a field to the record ("source:key") its value came from.
func goldenRec(id string, srcs []string, fields map[string]string, prov map[string]string) *schemas.Change {
	goldenSeq++
	row := schemas.Row{"id": id, "email": nil, "name": nil, "visits": nil}
	for k, v := range fields {
		row[k] = v
	}
	sj, _ := json.Marshal(srcs)
	p := map[string]map[string]string{}
	for f, ref := range prov {
		src, key, _ := strings.Cut(ref, ":")
		p[f] = map[string]string{"source": src, "key": key}
	}
	pj, _ := json.Marshal(p)
	row["_sources"], row["_provenance"] = string(sj), string(pj)
	return &schemas.Change{Table: goldenTable(), Op: schemas.OpUpdate, After: row, Key: schemas.Row{"id": id},
		Source: schemas.Source{System: "syncline", Name: "entity", Schema: "entity", Table: "contact",
			Position: fmt.Sprintf("%020d", goldenSeq), CommitMs: time.Now().UnixMilli()},
		TsMs: time.Now().UnixMilli()}
}

func (e *env) writeBackConfig(insert bool) Config {
	cfg := e.config("app_back", goldenTable())
	cfg.WriteBack = &WriteBack{Schema: "public", Table: "customers", System: "app", Insert: insert,
		Columns: map[string]saas.Property{"email": {From: "email"}, "name": {From: "name"}, "visits": {From: "visits"}}}
	return cfg
}

func (e *env) customersTable() {
	e.t.Helper()
	e.exec(`CREATE TABLE public.customers (id bigserial PRIMARY KEY, email text, name text, visits int);
INSERT INTO public.customers (email, name, visits) VALUES ('ann@example.com', 'Ann', 1), ('bob@example.com', 'Bob', 2);
CREATE SCHEMA analytics;
CREATE TABLE analytics.writes (n bigserial, tg_op text, tbl text);
CREATE FUNCTION analytics.count_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO analytics.writes (tg_op, tbl) VALUES (TG_OP, TG_TABLE_NAME); RETURN NULL; END $$;
CREATE TRIGGER count_writes AFTER INSERT OR UPDATE OR DELETE ON public.customers FOR EACH ROW EXECUTE FUNCTION analytics.count_write();`)
}

func (e *env) customers() string {
	return strings.Join(e.query(`SELECT id::text || ':' || coalesce(email, '-') || ':' || coalesce(name, '-') || ':' || coalesce(visits::text, '-') FROM public.customers ORDER BY id`), " ")
}

func (e *env) produceGolden(chs ...*schemas.Change) {
	e.t.Helper()
	e.produce(chs...)
	e.waitCaughtUp("app_back", goldenTable())
}

// The write-back sink writes the golden values into the rows of the
// members from its system, only where they differ, never a value that
// came from the table itself, and nothing again on a replay.
func TestWriteBackWritesGoldenValuesIntoMemberRows(t *testing.T) {
	e := newEnv(t)
	e.customersTable()
	e.createTopic(topicOf(goldenTable()), 1)
	e.start(e.writeBackConfig(false))

	// Ann's name was edited in the CRM; her email and visits came from
	// the app. Bob's golden record has only app values. A contact only in
	// the CRM has no row to write and insert is off.
	ann := goldenRec("app:1", []string{"app:1", "crm:9"}, map[string]string{"email": "ann@example.com", "name": "Ann Lee", "visits": "1"},
		map[string]string{"email": "app:1", "name": "crm:9", "visits": "app:1"})
	bob := goldenRec("app:2", []string{"app:2"}, map[string]string{"email": "bob@example.com", "name": "Bob", "visits": "2"},
		map[string]string{"email": "app:2", "name": "app:2", "visits": "app:2"})
	cal := goldenRec("crm:5", []string{"crm:5"}, map[string]string{"email": "cal@example.com", "name": "Cal"}, map[string]string{"email": "crm:5", "name": "crm:5"})
	e.produceGolden(ann, bob, cal)
	if got, want := e.customers(), "1:ann@example.com:Ann Lee:1 2:bob@example.com:Bob:2"; got != want {
		t.Fatalf("customers = %q, want %q", got, want)
	}
	if w := e.writes(); w != 1 {
		t.Fatalf("%d row writes, want 1 (Ann's name)", w)
	}

	// A golden value from the app itself is not written back, even when
	// the table holds another one: the table's is newer, on its way.
	bob2 := goldenRec("app:2", []string{"app:2"}, map[string]string{"email": "bob@example.com", "name": "Robert", "visits": "2"},
		map[string]string{"email": "app:2", "name": "app:2", "visits": "app:2"})
	// Replaying Ann's record writes nothing.
	e.produceGolden(bob2, ann)
	if got, want := e.customers(), "1:ann@example.com:Ann Lee:1 2:bob@example.com:Bob:2"; got != want {
		t.Fatalf("customers = %q, want %q", got, want)
	}
	if w := e.writes(); w != 1 {
		t.Fatalf("%d row writes, want still 1", w)
	}

	// Two members from the app (two rows merged into one contact): both
	// rows get the golden values, also the one that came from the other
	// row.
	both := goldenRec("app:1", []string{"app:1", "app:2", "crm:9"}, map[string]string{"email": "ann@example.com", "name": "Ann Lee", "visits": "7"},
		map[string]string{"email": "app:1", "name": "crm:9", "visits": "crm:9"})
	e.produceGolden(both)
	if got, want := e.customers(), "1:ann@example.com:Ann Lee:7 2:ann@example.com:Ann Lee:7"; got != want {
		t.Fatalf("customers = %q, want %q", got, want)
	}
}

// A column changed in the table since the sink last saw it is not
// overwritten: the edit is on its way through capture and the merge
// decides. When the golden record comes again (the entities stage emits
// it again when the table's edit loses), the sink writes it.
func TestWriteBackLeavesANewerTableEditAlone(t *testing.T) {
	e := newEnv(t)
	e.customersTable()
	e.createTopic(topicOf(goldenTable()), 1)
	e.start(e.writeBackConfig(false))
	prov := map[string]string{"email": "app:1", "name": "crm:9", "visits": "app:1"}
	e.produceGolden(goldenRec("app:1", []string{"app:1", "crm:9"}, map[string]string{"email": "ann@example.com", "name": "Ann Lee", "visits": "1"}, prov))
	if got, want := e.customers(), "1:ann@example.com:Ann Lee:1 2:bob@example.com:Bob:2"; got != want {
		t.Fatalf("customers = %q, want %q", got, want)
	}
	// Someone edits Ann's name in the app, and before that edit reaches
	// the entity, the CRM's next edit does.
	e.exec(`UPDATE public.customers SET name = 'Annie' WHERE id = 1`)
	e.produceGolden(goldenRec("app:1", []string{"app:1", "crm:9"}, map[string]string{"email": "ann@example.com", "name": "Ann B. Lee", "visits": "1"}, prov))
	if got, want := e.customers(), "1:ann@example.com:Annie:1 2:bob@example.com:Bob:2"; got != want {
		t.Fatalf("the app's newer edit was overwritten: customers = %q, want %q", got, want)
	}
	// The app's edit reached the entity and lost (say it was older): the
	// golden record comes again, and now the sink has seen the table's
	// value and writes.
	e.produceGolden(goldenRec("app:1", []string{"app:1", "crm:9"}, map[string]string{"email": "ann@example.com", "name": "Ann B. Lee", "visits": "1"}, prov))
	if got, want := e.customers(), "1:ann@example.com:Ann B. Lee:1 2:bob@example.com:Bob:2"; got != want {
		t.Fatalf("customers = %q, want %q", got, want)
	}
	// The ledger survives a restart of the sink: the sink still knows
	// what the row held.
	ledger := e.query(`SELECT key || ' ' || known::text FROM analytics._syncline_writeback ORDER BY key`)
	if len(ledger) != 1 || !strings.Contains(ledger[0], `"name": "Ann B. Lee"`) {
		t.Fatalf("ledger = %q", ledger)
	}
}

// With insert, a golden record without a row in the table gets one, once:
// a newer version of it arriving before the new row's capture joined the
// entity updates that row. A value the column cannot take is parked and
// the rest of the batch is written.
func TestWriteBackInsertsOnceAndParksValuesTheTableRefuses(t *testing.T) {
	e := newEnv(t)
	e.customersTable()
	e.createTopic(topicOf(goldenTable()), 1)
	e.start(e.writeBackConfig(true))
	prov := map[string]string{"email": "crm:5", "name": "crm:5", "visits": "crm:5"}
	e.produceGolden(goldenRec("crm:5", []string{"crm:5"}, map[string]string{"email": "cal@example.com", "name": "Cal", "visits": "3"}, prov))
	e.produceGolden(goldenRec("crm:5", []string{"crm:5"}, map[string]string{"email": "cal@example.com", "name": "Cal Smith", "visits": "3"}, prov))
	if got, want := e.customers(), "1:ann@example.com:Ann:1 2:bob@example.com:Bob:2 3:cal@example.com:Cal Smith:3"; got != want {
		t.Fatalf("customers = %q, want %q", got, want)
	}
	// visits "many" cannot be an int: parked with the database's message;
	// Bob's change in the same batch is written.
	bad := goldenRec("app:1", []string{"app:1"}, map[string]string{"email": "ann@example.com", "name": "Ann", "visits": "many"}, prov)
	good := goldenRec("app:2", []string{"app:2"}, map[string]string{"email": "bob@example.com", "name": "Bobby", "visits": "2"}, prov)
	e.produceGolden(bad, good)
	if got, want := e.customers(), "1:ann@example.com:Ann:1 2:bob@example.com:Bobby:2 3:cal@example.com:Cal Smith:3"; got != want {
		t.Fatalf("customers = %q, want %q", got, want)
	}
	recs := e.dlqRecords(1)
	if r := header(recs[0], "syncline.reason"); r != "rejected" {
		t.Errorf("DLQ reason %q, want rejected", r)
	}
	if msg := header(recs[0], "syncline.error"); !strings.Contains(msg, "integer") {
		t.Errorf("DLQ error %q does not name the problem", msg)
	}
}

// A configuration naming what the database does not have stops the sink
// with an error that says so.
func TestWriteBackRefusesAMissingTableOrColumn(t *testing.T) {
	e := newEnv(t)
	e.customersTable()
	for _, tc := range []struct {
		mutate func(*WriteBack)
		want   string
	}{
		{func(w *WriteBack) { w.Table = "clients" }, "write-back table public.clients does not exist"},
		{func(w *WriteBack) { w.Columns["phone"] = saas.Property{From: "phone"} }, `has no column "phone" (write_back.columns)`},
		{func(w *WriteBack) { w.Key = "email" }, `write_back.key "email" is not its primary key (id)`},
	} {
		cfg := e.writeBackConfig(false)
		tc.mutate(cfg.WriteBack)
		s, err := New(cfg, e.kafkaOpts(), e.serde, e.dlq, e.m, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = s.Run(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run = %v, want an error containing %q", err, tc.want)
		}
	}
}

// A row the app deletes is not inserted again for its entity (the app
// owns its rows), and a member key that cannot be a key of the table (a
// composite key's JSON array, text in an integer key) is parked with its
// reason while the record's other rows and the rest of the batch are
// written: it does not stop the sink.
func TestWriteBackNeitherResurrectsDeletedRowsNorStopsOnForeignKeys(t *testing.T) {
	e := newEnv(t)
	e.customersTable()
	e.createTopic(topicOf(goldenTable()), 1)
	e.start(e.writeBackConfig(true))
	prov := map[string]string{"email": "app:1", "name": "crm:9", "visits": "app:1"}
	e.produceGolden(goldenRec("app:1", []string{"app:1", "crm:9"}, map[string]string{"email": "ann@example.com", "name": "Ann Lee", "visits": "1"}, prov))
	if got, want := e.customers(), "1:ann@example.com:Ann Lee:1 2:bob@example.com:Bob:2"; got != want {
		t.Fatalf("customers = %q, want %q", got, want)
	}
	// The app deletes Ann; the entity keeps her CRM member (and its values).
	e.exec(`DELETE FROM public.customers WHERE id = 1`)
	e.produceGolden(goldenRec("app:1", []string{"crm:9"}, map[string]string{"email": "ann@example.com", "name": "Ann B. Lee", "visits": "1"},
		map[string]string{"email": "crm:9", "name": "crm:9", "visits": "crm:9"}))
	if got, want := e.customers(), "2:bob@example.com:Bob:2"; got != want {
		t.Fatalf("the deleted row came back: customers = %q, want %q", got, want)
	}
	// Bob's record also names a row "[\"acme\",\"7\"]" and "x7", which
	// cannot be bigint keys: parked, and Bob's row is still written.
	bob := goldenRec("app:2", []string{`app:["acme","7"]`, "app:2", "app:x7"}, map[string]string{"email": "bob@example.com", "name": "Bobby", "visits": "2"},
		map[string]string{"email": "app:2", "name": "crm:3", "visits": "app:2"})
	e.produceGolden(bob)
	if got, want := e.customers(), "2:bob@example.com:Bobby:2"; got != want {
		t.Fatalf("customers = %q, want %q", got, want)
	}
	recs := e.dlqRecords(1)
	if r := header(recs[0], "syncline.reason"); r != "invalid_row" {
		t.Errorf("DLQ reason %q, want invalid_row", r)
	}
	if msg := header(recs[0], "syncline.error"); !strings.Contains(msg, "x7") || !strings.Contains(msg, "composite keys are not supported") {
		t.Errorf("DLQ error %q does not name the keys and the reason", msg)
	}
	// The sink goes on: a later change is written.
	e.produceGolden(goldenRec("app:2", []string{"app:2"}, map[string]string{"email": "bob@example.com", "name": "Robert", "visits": "2"},
		map[string]string{"email": "app:2", "name": "crm:3", "visits": "app:2"}))
	if got, want := e.customers(), "2:bob@example.com:Robert:2"; got != want {
		t.Fatalf("customers = %q, want %q", got, want)
	}
}

package warehouse

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"syncline/schemas"
)

// captureSession are the session settings capture reads values with.
var captureSession = map[string]string{
	"DateStyle": "ISO, YMD", "IntervalStyle": "iso_8601", "TimeZone": "UTC",
	"extra_float_digits": "3", "bytea_output": "hex", "lc_monetary": "C",
}

func connectAs(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range captureSession {
		cfg.RuntimeParams[k] = v
	}
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// textRows runs sql and returns every value as its type's output text
// (nil for NULL).
func textRows(t *testing.T, conn *pgx.Conn, sql string) [][]*string {
	t.Helper()
	res := conn.PgConn().ExecParams(context.Background(), sql, nil, nil, nil, nil).Read()
	if res.Err != nil {
		t.Fatalf("%s: %v", sql, res.Err)
	}
	var out [][]*string
	for _, r := range res.Rows {
		row := make([]*string, len(r))
		for i, v := range r {
			if v != nil {
				s := string(v)
				row[i] = &s
			}
		}
		out = append(out, row)
	}
	return out
}

// typeBase resolves a type through its domains, and an array's element
// too, as capture's catalog does.
func typeBase(t *testing.T, conn *pgx.Conn, oid uint32, typmod int32) (base uint32, mod int32, elem uint32, elemMod int32, delim byte) {
	t.Helper()
	resolve := func(oid uint32, typmod int32) (uint32, int32, uint32, byte) {
		for {
			var typtype, d string
			var baseOID, elemOID uint32
			var baseMod int32
			var isArray bool
			if err := conn.QueryRow(context.Background(), `
				SELECT t.typtype::text, t.typbasetype, t.typtypmod, t.typelem, coalesce(e.typarray = t.oid, false), coalesce(e.typdelim::text, ',')
				FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem WHERE t.oid = $1`, oid).Scan(&typtype, &baseOID, &baseMod, &elemOID, &isArray, &d); err != nil {
				t.Fatal(err)
			}
			if typtype != "d" {
				if !isArray {
					elemOID = 0
				}
				return oid, typmod, elemOID, d[0]
			}
			if typmod == -1 {
				typmod = baseMod
			}
			oid = baseOID
		}
	}
	base, mod, elem, delim = resolve(oid, typmod)
	if elem != 0 {
		elem, elemMod, _, _ = resolve(elem, mod)
	}
	return
}

// Every type of schemas/testdata/types.sql, read from a source database
// as capture reads it, goes through Avro and the sink into the warehouse
// and prints there exactly as in the source. Types the warehouse lacks
// (enums, domains, composites, extension types) fall back to their kind's
// type and still print the same.
func TestTypesEveryTypeArrivesAsTheSourcePrintsIt(t *testing.T) {
	e := newEnv(t)
	srcDB := e.db + "_src"
	srcDSN := pg.CreateDatabase(t, srcDB)
	sql, err := os.ReadFile("../../schemas/testdata/types.sql")
	if err != nil {
		t.Fatal(err)
	}
	pg.Exec(t, srcDB, string(sql))
	src := connectAs(t, srcDSN)
	ctx := context.Background()

	rows, err := src.Query(ctx, `SELECT attname, atttypid, atttypmod, format_type(atttypid, NULLIF(atttypmod, -1))
		FROM pg_attribute WHERE attrelid = 'types'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`)
	if err != nil {
		t.Fatal(err)
	}
	type attr struct {
		name, pgType string
		oid          uint32
		typmod       int32
	}
	attrs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (attr, error) {
		var a attr
		err := r.Scan(&a.name, &a.oid, &a.typmod, &a.pgType)
		return a, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var cols []schemas.Column
	var names []string
	for _, a := range attrs {
		c := schemas.Column{Name: a.name, PGType: a.pgType, Key: a.name == "id"}
		c.SetType(typeBase(t, src, a.oid, a.typmod))
		cols = append(cols, c)
		names = append(names, pgx.Identifier{a.name}.Sanitize())
	}
	tbl := newTable("types", cols...)
	list := strings.Join(names, ", ")
	srcRows := textRows(t, src, "SELECT "+list+" FROM types ORDER BY id")
	if len(srcRows) < 4 {
		t.Fatalf("source has %d rows", len(srcRows))
	}

	e.createTopic(topicOf(tbl), 1)
	var changes []*schemas.Change
	for i, r := range srcRows {
		row := schemas.Row{}
		for j, c := range tbl.Columns {
			if r[j] == nil {
				row[c.Field] = nil
				continue
			}
			v, err := schemas.ParseText(c, *r[j])
			if err != nil {
				t.Fatalf("row %d: %v", i+1, err)
			}
			row[c.Field] = v
		}
		changes = append(changes, ins(tbl, i+1, row))
	}
	e.produce(changes...)
	e.start(e.config("wh", tbl))
	e.waitCaughtUp("wh", tbl)

	wh := connectAs(t, e.dsn)
	whRows := textRows(t, wh, "SELECT "+list+" FROM analytics.types ORDER BY id")
	if len(whRows) != len(srcRows) {
		t.Fatalf("warehouse has %d rows, source %d", len(whRows), len(srcRows))
	}
	show := func(s *string) string {
		if s == nil {
			return "NULL"
		}
		return fmt.Sprintf("%q", *s)
	}
	for i := range srcRows {
		for j, c := range tbl.Columns {
			if show(whRows[i][j]) != show(srcRows[i][j]) {
				t.Errorf("row %d column %s (%s): warehouse %s, source %s", i+1, c.Name, c.PGType, show(whRows[i][j]), show(srcRows[i][j]))
			}
		}
	}

	t.Run("types the warehouse lacks fall back to the kind's type", func(t *testing.T) {
		got := e.query(`SELECT attname || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'analytics.types'::regclass AND attname IN ('e', 'dp', 'dp2', 'da', 'ds', 'dst', 'dia', 'dc', 'co', 'hs', 'ct', 'lt', 'ae', 'aco', 'adp', 'ada', 'ahs', 'act', 'm', 'an', 'iv', 'ivd', 'g')
ORDER BY attnum`)
		want := []string{"m money", "iv interval", "ivd interval day to second(2)",
			"e text", "dp integer", "dp2 integer", "da numeric(10,2)", "ds text", "dst timestamp with time zone", "dia integer[]", "dc money",
			"co text", "hs text", "ct text", "lt text",
			"an numeric(10,2)[]", "ae text[]", "aco text[]", "adp integer[]", "ada numeric(10,2)[]", "ahs text[]", "act text[]"}
		if !slices.Equal(got, want) {
			t.Errorf("warehouse columns:\n got %q\nwant %q", got, want)
		}
	})
}

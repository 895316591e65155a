package postgres_test

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"syncline/capture/postgres"
	"syncline/internal/testenv"
	"syncline/schemas"
)

// typesSQL creates table "types": every built-in type family with edge
// values, enums, domains, composites, extension types, a generated column.
func typesSQL(t *testing.T) string {
	b, err := os.ReadFile("../../schemas/testdata/types.sql")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// outputText returns what the type's output function prints for the first
// column of query's single row (nil for NULL): what clients, pg_dump and
// pgoutput see. (A ::text cast can differ: xml keeps its declaration.)
func outputText(t *testing.T, conn *pgx.Conn, query string, args ...string) *string {
	t.Helper()
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	res := conn.PgConn().ExecParams(context.Background(), query, params, nil, nil, nil).Read()
	if res.Err != nil {
		t.Errorf("%s %q: %v", query, args, res.Err)
		return nil
	}
	if len(res.Rows) != 1 {
		t.Fatalf("%s: %d rows, want 1", query, len(res.Rows))
	}
	if res.Rows[0][0] == nil {
		return nil
	}
	s := string(res.Rows[0][0])
	return &s
}

// compareWithPostgres checks every column of a captured row against what
// Postgres prints for the same row: the captured value rendered by
// FormatText, read back through the column's type, prints the same.
func compareWithPostgres(t *testing.T, conn *pgx.Conn, table string, ch *schemas.Change, row schemas.Row, id int32) {
	t.Helper()
	for _, c := range ch.Table.Columns {
		want := outputText(t, conn, fmt.Sprintf(`SELECT %s FROM %s WHERE id = %d`, pgx.Identifier{c.Name}.Sanitize(), table, id))
		v, present := row[c.Field]
		if !present {
			t.Errorf("row %d column %s: missing from the captured row", id, c.Name)
			continue
		}
		if want == nil || v == nil {
			if (want == nil) != (v == nil) {
				t.Errorf("row %d column %s: captured %#v, Postgres %v", id, c.Name, v, want)
			}
			continue
		}
		got, err := schemas.FormatText(c, v)
		if err != nil {
			t.Errorf("row %d column %s: %v", id, c.Name, err)
			continue
		}
		back := outputText(t, conn, fmt.Sprintf(`SELECT $1::%s`, c.PGType), got)
		if back == nil || *back != *want {
			t.Errorf("row %d column %s (%s): captured %q (reads back as %v), Postgres prints %q", id, c.Name, c.PGType, got, deref(back), *want)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *s)
}

// Every type, captured by the snapshot and by the stream, comes back as
// exactly what Postgres holds; NaN, ±Infinity and ±infinity are carried,
// not parked.
func TestTypesEveryTypeIsCapturedLosslessly(t *testing.T) {
	e := newEnv(t, typesSQL(t)+`; ALTER TABLE types REPLICA IDENTITY FULL;`)
	conn := e.pg.Conn(t, "app")
	ctx := context.Background()
	var snapRows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM types`).Scan(&snapRows); err != nil {
		t.Fatal(err)
	}
	src, stop := e.runSource(postgres.Config{Tables: []postgres.TableName{{Schema: "public", Name: "types"}}})
	defer stop()
	// The initial snapshot is a backfill read while streaming: wait for
	// it, so the copies below are not read by it as well.
	testenv.WaitFor(t, 30*time.Second, "initial snapshot", func() bool { return backfillState(src, "public.types") == postgres.BackfillDone })
	// The same values again through the stream: copy every row.
	var cols []string
	rows, err := conn.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = 'types'::regclass AND attnum > 1 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		cols = append(cols, pgx.Identifier{n}.Sanitize())
	}
	list := strings.Join(cols, ", ")
	e.pg.Exec(t, "app", `INSERT INTO types (`+list+`) SELECT `+list+` FROM types ORDER BY id`)
	// An update carries the full old row (REPLICA IDENTITY FULL) and a
	// delete too.
	e.pg.Exec(t, "app", `UPDATE types SET t = 'updated' WHERE id = 1`)
	e.pg.Exec(t, "app", `DELETE FROM types WHERE id = 2`)

	want := 2*snapRows + 2
	recs := e.records("syncline.raw.app.public.types", want)
	if len(recs) != want {
		t.Fatalf("%d records, want %d", len(recs), want)
	}
	ops := map[schemas.Op]int{}
	var deleted schemas.Row
	var updated *schemas.Change
	byID := map[int32]schemas.Row{}
	var tab *schemas.Table
	for _, r := range recs {
		ch, err := e.serde.Decode(ctx, r.Key, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		tab = ch.Table
		ops[ch.Op]++
		switch ch.Op {
		case schemas.OpDelete:
			deleted = ch.Before
		case schemas.OpUpdate:
			updated = ch
			byID[ch.After["id"].(int32)] = ch.After
		default:
			id := ch.After["id"].(int32)
			if _, dup := byID[id]; !dup || id != 1 {
				byID[id] = ch.After
			}
			if id != 1 && id != 2 {
				compareWithPostgres(t, conn, "types", ch, ch.After, id)
			}
		}
	}
	if ops[schemas.OpRead] != snapRows || ops[schemas.OpCreate] != snapRows || ops[schemas.OpUpdate] != 1 || ops[schemas.OpDelete] != 1 {
		t.Errorf("ops %v, want %d r, %d c, 1 u, 1 d", ops, snapRows, snapRows)
	}
	if updated == nil || deleted == nil {
		t.Fatal("the update or the delete was not captured")
	}
	compareWithPostgres(t, conn, "types", updated, updated.After, 1)
	// The delete's old row is row 2 as it was; its copy (row 2+snapRows)
	// still holds the same values.
	deleted = deleted.Clone()
	deleted["id"] = int32(2 + snapRows)
	compareWithPostgres(t, conn, "types", &schemas.Change{Table: tab}, deleted, int32(2+snapRows))
	for _, c := range tab.Columns {
		if c.Name != "t" && !schemas.ValueEqual(updated.Before[c.Field], updated.After[c.Field]) {
			t.Errorf("update of row 1: before.%s = %#v, after %#v", c.Name, updated.Before[c.Field], updated.After[c.Field])
		}
	}

	t.Run("kinds", func(t *testing.T) {
		type k struct {
			kind, elem schemas.Kind
			p, s       int
		}
		for name, w := range map[string]k{
			"b": {kind: schemas.KindBool}, "i2": {kind: schemas.KindInt32}, "o": {kind: schemas.KindInt64},
			"f4": {kind: schemas.KindFloat32}, "n": {kind: schemas.KindDecimal, p: 20, s: 6}, "n1": {kind: schemas.KindDecimal, p: 1},
			"nu": {kind: schemas.KindNumeric}, "nneg": {kind: schemas.KindNumeric}, "nover": {kind: schemas.KindNumeric},
			"m": {kind: schemas.KindMoney, p: 19, s: 2}, "qc": {kind: schemas.KindString}, "by": {kind: schemas.KindBytes},
			"d": {kind: schemas.KindDate}, "ts0": {kind: schemas.KindTimestamp}, "tz6": {kind: schemas.KindTimestampTZ},
			"tm0": {kind: schemas.KindTime}, "ttz": {kind: schemas.KindString}, "iv": {kind: schemas.KindInterval},
			"ivd": {kind: schemas.KindInterval}, "j": {kind: schemas.KindJSON}, "jb": {kind: schemas.KindJSON},
			"x": {kind: schemas.KindXML}, "u": {kind: schemas.KindUUID}, "r4": {kind: schemas.KindString},
			"e": {kind: schemas.KindString}, "dp": {kind: schemas.KindInt32}, "dp2": {kind: schemas.KindInt32},
			"da": {kind: schemas.KindDecimal, p: 10, s: 2}, "ds": {kind: schemas.KindString}, "dst": {kind: schemas.KindTimestampTZ},
			"dia": {kind: schemas.KindArray, elem: schemas.KindInt32}, "dc": {kind: schemas.KindMoney, p: 19, s: 2},
			"co": {kind: schemas.KindString}, "hs": {kind: schemas.KindString}, "ct": {kind: schemas.KindString}, "lt": {kind: schemas.KindString},
			"ai": {kind: schemas.KindArray, elem: schemas.KindInt32}, "a2": {kind: schemas.KindArray, elem: schemas.KindInt32},
			"an": {kind: schemas.KindArray, elem: schemas.KindDecimal, p: 10, s: 2}, "anu": {kind: schemas.KindArray, elem: schemas.KindNumeric},
			"atz": {kind: schemas.KindArray, elem: schemas.KindTimestampTZ}, "aiv": {kind: schemas.KindArray, elem: schemas.KindInterval},
			"am": {kind: schemas.KindArray, elem: schemas.KindMoney, p: 19, s: 2}, "ae": {kind: schemas.KindArray, elem: schemas.KindString},
			"abox": {kind: schemas.KindString}, "adp": {kind: schemas.KindArray, elem: schemas.KindInt32},
			"ada": {kind: schemas.KindArray, elem: schemas.KindDecimal, p: 10, s: 2}, "ahs": {kind: schemas.KindArray, elem: schemas.KindString},
		} {
			c, ok := tab.Column(name)
			if !ok {
				t.Errorf("column %s not captured", name)
				continue
			}
			if c.Kind != w.kind || c.ElemKind != w.elem || c.Precision != w.p || c.Scale != w.s {
				t.Errorf("column %s (%s): kind %s/%s (%d,%d), want %s/%s (%d,%d)", name, c.PGType, c.Kind, c.ElemKind, c.Precision, c.Scale, w.kind, w.elem, w.p, w.s)
			}
		}
		for name, pgType := range map[string]string{"e": "mood", "dp": "posint", "da": "amount", "dia": "intarr", "ahs": "hstore[]", "a2": "integer[]"} {
			if c, _ := tab.Column(name); c.PGType != pgType {
				t.Errorf("column %s: pg_type %q, want %q", name, c.PGType, pgType)
			}
		}
		if _, ok := tab.Column("g"); ok {
			t.Error("generated column g was captured; pgoutput (Postgres 15) does not send generated columns")
		}
	})

	t.Run("values Avro cannot carry natively have their documented encoding", func(t *testing.T) {
		r1, r2, r3 := byID[int32(1+snapRows)], byID[int32(2+snapRows)], byID[int32(3+snapRows)]
		for _, tc := range []struct {
			row  schemas.Row
			f    string
			want any
		}{
			{r1, "n", "NaN"}, {r2, "nu", "Infinity"}, {r1, "nu", "NaN"},
			{r1, "d", schemas.MinusInfinity}, {r2, "d", schemas.PlusInfinity},
			{r1, "ts3", schemas.MinusInfinity}, {r2, "tz0", schemas.PlusInfinity}, {r2, "dst", schemas.PlusInfinity},
			{r1, "m", new(big.Rat).SetFrac64(-9223372036854775808, 100)},
			{r1, "iv", "P-1Y2DT-3H-4M-5S"},
			{r1, "ai", []any{int32(1), nil, int32(3)}},
			{r1, "a2", "{{1,NULL},{3,4}}"},
			{r3, "a2", "[0:1]={5,6}"},
			{r2, "ai", []any{}},
			{r1, "an", []any{big.NewRat(3, 2), "NaN", nil}},
			{r1, "ad", []any{schemas.PlusInfinity, schemas.MinusInfinity, mustDate(t, "0044-03-15 BC"), mustDate(t, "12345-01-01")}},
			{r2, "atz", `{"294270-01-01 00:00:00+00"}`}, // past timestamp-micros: the literal, lossless
			{r1, "abox", "{(1,1),(0,0);(2,2),(1,1)}"},
		} {
			if !schemas.ValueEqual(tc.row[tc.f], tc.want) {
				t.Errorf("%s = %#v, want %#v", tc.f, tc.row[tc.f], tc.want)
			}
		}
	})
}

func mustDate(t *testing.T, s string) any {
	v, err := schemas.ParseText(schemas.Column{Name: "d", Kind: schemas.KindDate}, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

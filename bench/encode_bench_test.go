// Package bench holds syncline's benchmarks: the end-to-end throughput
// harness is bench/cdcbench (make bench); this file has Go micro-benchmarks
// of the per-row work on the hot path, for one 10-column row:
//
//	go test -run '^$' -bench . -benchmem ./bench/
//
// ParseText is what capture does per column of a pgoutput text tuple,
// EncodeKey/EncodeValue what it does per change before producing to Kafka;
// DecodeValue is the changes stage's and the sink's per-record decode, and
// FormatText the sink's per-column rendering.
package bench_test

import (
	"math/big"
	"testing"
	"time"

	"syncline/schemas"
)

// benchTable is a 10-column customers-like table.
func benchTable() *schemas.Table {
	cols := []schemas.Column{
		{Name: "id", PGType: "bigint", Kind: schemas.KindInt64, Key: true},
		{Name: "email", PGType: "text", Kind: schemas.KindString},
		{Name: "name", PGType: "text", Kind: schemas.KindString},
		{Name: "balance", PGType: "numeric(12,2)", Kind: schemas.KindDecimal, Precision: 12, Scale: 2},
		{Name: "created_at", PGType: "timestamp with time zone", Kind: schemas.KindTimestampTZ},
		{Name: "active", PGType: "boolean", Kind: schemas.KindBool},
		{Name: "prefs", PGType: "jsonb", Kind: schemas.KindJSON},
		{Name: "score", PGType: "double precision", Kind: schemas.KindFloat64},
		{Name: "birthday", PGType: "date", Kind: schemas.KindDate},
		{Name: "ext_id", PGType: "uuid", Kind: schemas.KindUUID},
	}
	schemas.SanitizeFields(cols)
	return &schemas.Table{System: "postgres", Source: "app", DB: "app", Schema: "public", Name: "customers", Columns: cols}
}

// benchText is the row as pgoutput sends it (text format), column by column.
var benchText = []string{
	"123456",
	"user123456@example.com",
	"Customer e10adc3949ba",
	"98765.43",
	"2024-02-29 12:30:00.123456+00",
	"t",
	`{"tags": ["t3", "t7"], "theme": "dark", "newsletter": false}`,
	"0.8125",
	"1990-06-15",
	"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
}

func benchRow() schemas.Row {
	return schemas.Row{
		"id": int64(123456), "email": "user123456@example.com", "name": "Customer e10adc3949ba",
		"balance": big.NewRat(9876543, 100), "created_at": time.Date(2024, 2, 29, 12, 30, 0, 123456000, time.UTC),
		"active": true, "prefs": `{"tags": ["t3", "t7"], "theme": "dark", "newsletter": false}`,
		"score": 0.8125, "birthday": time.Date(1990, 6, 15, 0, 0, 0, 0, time.UTC),
		"ext_id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
	}
}

// benchInsert is a raw-topic insert envelope, as capture produces it.
func benchInsert() *schemas.Change {
	after := benchRow()
	return &schemas.Change{
		Op: schemas.OpCreate, Key: schemas.Row{"id": after["id"]}, After: after, TsMs: 1700000000123,
		Source: schemas.Source{System: "postgres", Name: "app", DB: "app", Schema: "public", Table: "customers",
			Position: "00000000016B3748/0000000000000001", TxID: 771, LSN: 23803720, CommitMs: 1700000000000},
	}
}

// benchUpdate is a change-topic update envelope (before and after images).
func benchUpdate() *schemas.Change {
	ch := benchInsert()
	ch.Op = schemas.OpUpdate
	ch.Before = ch.After.Clone()
	ch.Before["balance"] = big.NewRat(100, 1)
	ch.Changed = []string{"balance"}
	return ch
}

func newCodec(b testing.TB) *schemas.Codec {
	c, err := schemas.NewCodec(benchTable())
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// TestBenchRowRoundTrips keeps the benchmark inputs honest: they encode,
// decode back, and the text form parses to the same values.
func TestBenchRowRoundTrips(t *testing.T) {
	c := newCodec(t)
	for _, ch := range []*schemas.Change{benchInsert(), benchUpdate()} {
		b, err := c.EncodeValue(ch)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.DecodeValue(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Op != ch.Op || got.Source != ch.Source {
			t.Errorf("round trip: got %v %+v, want %v %+v", got.Op, got.Source, ch.Op, ch.Source)
		}
		for f, want := range ch.After {
			if !schemas.ValueEqual(got.After[f], want) {
				t.Errorf("after[%s] = %v, want %v", f, got.After[f], want)
			}
		}
	}
	row := benchRow()
	for i, col := range c.Table.Columns {
		v, err := schemas.ParseText(col, benchText[i])
		if err != nil {
			t.Fatal(err)
		}
		if !schemas.ValueEqual(v, row[col.Field]) {
			t.Errorf("ParseText(%s, %q) = %v, want %v", col.Name, benchText[i], v, row[col.Field])
		}
	}
}

func BenchmarkParseTextRow(b *testing.B) {
	cols := benchTable().Columns
	b.ReportAllocs()
	for b.Loop() {
		for i, col := range cols {
			if _, err := schemas.ParseText(col, benchText[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkFormatTextRow(b *testing.B) {
	cols := benchTable().Columns
	row := benchRow()
	b.ReportAllocs()
	for b.Loop() {
		for _, col := range cols {
			if _, err := schemas.FormatText(col, row[col.Field]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkEncodeKey(b *testing.B) {
	c := newCodec(b)
	key := benchInsert().Key
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.EncodeKey(key); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEncode(b *testing.B, ch *schemas.Change) {
	c := newCodec(b)
	enc, err := c.EncodeValue(ch)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.EncodeValue(ch); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, ch *schemas.Change) {
	c := newCodec(b)
	enc, err := c.EncodeValue(ch)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecodeValue(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeValueInsert(b *testing.B) { benchEncode(b, benchInsert()) }
func BenchmarkEncodeValueUpdate(b *testing.B) { benchEncode(b, benchUpdate()) }
func BenchmarkDecodeValueInsert(b *testing.B) { benchDecode(b, benchInsert()) }
func BenchmarkDecodeValueUpdate(b *testing.B) { benchDecode(b, benchUpdate()) }

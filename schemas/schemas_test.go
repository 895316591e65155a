package schemas

import (
	"errors"
	"flag"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func customersTable() *Table {
	cols := []Column{
		{Name: "id", PGType: "bigint", Kind: KindInt64, Key: true},
		{Name: "email", PGType: "text", Kind: KindString},
		{Name: "balance", PGType: "numeric(12,2)", Kind: KindDecimal, Precision: 12, Scale: 2},
		{Name: "active", PGType: "boolean", Kind: KindBool},
		{Name: "created at", PGType: "timestamp with time zone", Kind: KindTimestampTZ},
		{Name: "born", PGType: "date", Kind: KindDate},
		{Name: "photo", PGType: "bytea", Kind: KindBytes},
		{Name: "score", PGType: "double precision", Kind: KindFloat64},
		{Name: "ext_id", PGType: "uuid", Kind: KindUUID},
		{Name: "prefs", PGType: "jsonb", Kind: KindJSON},
		{Name: "wake", PGType: "time without time zone", Kind: KindTime},
		{Name: "tags", PGType: "text[]", Kind: KindString},
	}
	SanitizeFields(cols)
	return &Table{System: "postgres", Source: "app", DB: "shop", Schema: "public", Name: "customers", Columns: cols}
}

func ordersTable() *Table {
	cols := []Column{
		{Name: "tenant", PGType: "integer", Kind: KindInt32, Key: true},
		{Name: "order-id", PGType: "integer", Kind: KindInt32, Key: true},
		{Name: "order_id", PGType: "text", Kind: KindString},
		{Name: "1st", PGType: "real", Kind: KindFloat32},
		{Name: "Größe", PGType: "character varying(20)", Kind: KindString},
	}
	SanitizeFields(cols)
	return &Table{System: "postgres", Source: "app", DB: "shop", Schema: "sales dept", Name: "orders", Columns: cols}
}

func TestSanitizedNamesAreValidAndDeterministic(t *testing.T) {
	tab := ordersTable()
	want := []string{"tenant", "order_id", "order_id_2", "_1st", "Gr__e"}
	for i, c := range tab.Columns {
		if c.Field != want[i] {
			t.Errorf("column %q: field %q, want %q", c.Name, c.Field, want[i])
		}
	}
	if _, err := NewCodec(tab); err != nil {
		t.Fatalf("sanitized schema does not compile: %v", err)
	}
}

func TestGeneratedSchemasMatchGoldenFiles(t *testing.T) {
	for _, tab := range []*Table{customersTable(), ordersTable(), typesTable()} {
		for kind, got := range map[string]string{"key": tab.KeySchema(), "value": tab.ValueSchema()} {
			path := filepath.Join("testdata", "golden", AvroName(tab.Schema)+"."+tab.Name+"."+kind+".avsc")
			if *update {
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./schemas -update to create)", err)
			}
			if string(want) != got+"\n" {
				t.Errorf("%s differs from golden file:\n got %s\nwant %s", path, got, want)
			}
		}
	}
}

func TestTableRoundTripsThroughItsSchemas(t *testing.T) {
	for _, tab := range []*Table{customersTable(), ordersTable(), typesTable()} {
		got, err := TableFromSchemas(tab.KeySchema(), tab.ValueSchema())
		if err != nil {
			t.Fatal(err)
		}
		if got.ID() != tab.ID() || got.System != tab.System || got.DB != tab.DB {
			t.Errorf("table identity: got %+v", got)
		}
		if len(got.Columns) != len(tab.Columns) {
			t.Fatalf("columns: got %d want %d", len(got.Columns), len(tab.Columns))
		}
		for i := range tab.Columns {
			if got.Columns[i] != tab.Columns[i] {
				t.Errorf("column %d: got %+v want %+v", i, got.Columns[i], tab.Columns[i])
			}
		}
	}
}

func TestEnvelopeRoundTrips(t *testing.T) {
	tab := customersTable()
	c, err := NewCodec(tab)
	if err != nil {
		t.Fatal(err)
	}
	after := Row{
		"id": int64(42), "email": "ada@example.com", "balance": big.NewRat(-12345, 100), "active": true,
		"created_at": time.Date(2024, 2, 29, 12, 30, 0, 123456000, time.UTC),
		"born":       time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC),
		"photo":      []byte{0, 1, 2, 255}, "score": math.NaN(), "ext_id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"prefs": `{"a": [1, 2]}`, "wake": 7*time.Hour + 30*time.Minute + 5*time.Microsecond, "tags": `{a,"b c"}`,
	}
	before := after.Clone()
	before["email"] = nil
	ch := &Change{Op: OpUpdate, Before: before, After: after, Changed: []string{"email"}, Unavailable: []string{"photo"},
		TsMs: 1700000000001, Source: Source{System: "postgres", Name: "app", DB: "shop", Schema: "public", Table: "customers",
			Position: "00000000016B3748/0000000000000001", TxID: 771, LSN: 23803720, CommitMs: 1700000000000}}
	b, err := c.EncodeValue(ch)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DecodeValue(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Op != ch.Op || got.Source != ch.Source || got.TsMs != ch.TsMs {
		t.Errorf("envelope metadata: got %+v / %+v", got.Op, got.Source)
	}
	if len(got.Changed) != 1 || got.Changed[0] != "email" || len(got.Unavailable) != 1 || got.Unavailable[0] != "photo" {
		t.Errorf("changed/unavailable: %v %v", got.Changed, got.Unavailable)
	}
	if f := ChangedFields(tab, after, got.After); f != nil {
		t.Errorf("after differs after round trip in %v", f)
	}
	if f := ChangedFields(tab, got.Before, got.After); len(f) != 1 || f[0] != "email" {
		t.Errorf("before/after differ in %v, want [email]", f)
	}
	k, err := c.EncodeKey(after)
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.DecodeKey(k)
	if err != nil || key["id"] != int64(42) || len(key) != 1 {
		t.Errorf("key round trip: %v %v", key, err)
	}
}

func TestDecodersRejectGarbageWithAnError(t *testing.T) {
	c, err := NewCodec(customersTable())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{nil, {0xff}, {2, 0, 0, 0}, make([]byte, 40)} {
		if _, err := c.DecodeValue(b); err == nil {
			t.Errorf("DecodeValue(%x): no error", b)
		}
	}
	if _, err := SchemaID([]byte{1, 0, 0, 0, 1}); err == nil {
		t.Error("SchemaID accepted magic byte 1")
	}
}

func TestTextValuesRoundTrip(t *testing.T) {
	cases := []struct {
		col  Column
		text string
		want string // "" means same as text
	}{
		{Column{Name: "b", Kind: KindBool}, "t", ""},
		{Column{Name: "i", Kind: KindInt32}, "-2147483648", ""},
		{Column{Name: "l", Kind: KindInt64}, "9223372036854775807", ""},
		{Column{Name: "oid", Kind: KindInt64}, "4294967295", ""},
		{Column{Name: "f", Kind: KindFloat32}, "3.4028235e+38", ""},
		{Column{Name: "d", Kind: KindFloat64}, "-Infinity", ""},
		{Column{Name: "d", Kind: KindFloat64}, "NaN", ""},
		{Column{Name: "d", Kind: KindFloat64}, "1.2345678901234568e-300", ""},
		{Column{Name: "n", Kind: KindDecimal, Precision: 20, Scale: 4}, "-1234567890123456.0001", ""},
		{Column{Name: "n", Kind: KindDecimal, Precision: 5, Scale: 2}, "0.10", ""},
		{Column{Name: "by", Kind: KindBytes}, `\x00ff10`, ""},
		{Column{Name: "dt", Kind: KindDate}, "2024-02-29", ""},
		{Column{Name: "dt", Kind: KindDate}, "0044-03-15 BC", ""},
		{Column{Name: "dt", Kind: KindDate}, "12345-01-01", ""},
		{Column{Name: "ts", Kind: KindTimestamp}, "2024-02-29 23:59:59.999999", ""},
		{Column{Name: "ts", Kind: KindTimestamp}, "2024-02-29 23:59:59", ""},
		{Column{Name: "tz", Kind: KindTimestampTZ}, "2024-02-29 23:59:59.5+02", "2024-02-29 21:59:59.5+00"},
		{Column{Name: "tz", Kind: KindTimestampTZ}, "1900-01-01 00:00:00+05:53:28", "1899-12-31 18:06:32+00"},
		{Column{Name: "t", Kind: KindTime}, "13:14:15.000016", ""},
		{Column{Name: "s", Kind: KindString}, "héllo ☃", ""},
	}
	for _, tc := range cases {
		t.Run(string(tc.col.Kind)+" "+tc.text+" comes back as Postgres input", func(t *testing.T) {
			v, err := ParseText(tc.col, tc.text)
			if err != nil {
				t.Fatal(err)
			}
			got, err := FormatText(tc.col, v)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == "" {
				want = tc.text
			}
			if tc.col.Kind == KindTime {
				want = "13:14:15.000016"
			}
			if got != want {
				t.Errorf("got %q want %q", got, want)
			}
		})
	}
}

func TestUnrepresentableValuesAreErrors(t *testing.T) {
	for _, tc := range []struct {
		col  Column
		text string
	}{
		// timestamp-micros since 1970 in a long ends in year 294247;
		// Postgres goes on to 294276.
		{Column{Name: "ts", Kind: KindTimestamp}, "294270-01-01 00:00:00"},
		{Column{Name: "tz", Kind: KindTimestampTZ}, "294247-01-10 04:00:54.775807+00"}, // MaxInt64 µs: the infinity sentinel
	} {
		_, err := ParseText(tc.col, tc.text)
		if !errors.Is(err, ErrUnrepresentable) || !strings.Contains(err.Error(), `"`+tc.col.Name+`"`) {
			t.Errorf("%s %q: error %v, want ErrUnrepresentable naming the column", tc.col.Kind, tc.text, err)
		}
	}
	// The last representable instant is fine.
	if _, err := ParseText(Column{Name: "tz", Kind: KindTimestampTZ}, "294247-01-10 04:00:54.775806+00"); err != nil {
		t.Errorf("last representable timestamp: %v", err)
	}
}

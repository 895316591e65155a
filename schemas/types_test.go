package schemas

import (
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

// typesTable has a column of every kind, arrays of several element kinds
// and a key with a union-typed (decimal) column.
func typesTable() *Table {
	arr := func(name, pgType string, elem Kind, p, s int) Column {
		return Column{Name: name, PGType: pgType, Kind: KindArray, ElemKind: elem, Precision: p, Scale: s}
	}
	cols := []Column{
		{Name: "id", PGType: "bigint", Kind: KindInt64, Key: true},
		{Name: "k", PGType: "numeric(5,0)", Kind: KindDecimal, Precision: 5, Scale: 0, Key: true},
		{Name: "b", PGType: "boolean", Kind: KindBool},
		{Name: "i4", PGType: "integer", Kind: KindInt32},
		{Name: "i8", PGType: "bigint", Kind: KindInt64},
		{Name: "f4", PGType: "real", Kind: KindFloat32},
		{Name: "f8", PGType: "double precision", Kind: KindFloat64},
		{Name: "n", PGType: "numeric(20,6)", Kind: KindDecimal, Precision: 20, Scale: 6},
		{Name: "nu", PGType: "numeric", Kind: KindNumeric},
		{Name: "m", PGType: "money", Kind: KindMoney, Precision: 19, Scale: 2},
		{Name: "t", PGType: "text", Kind: KindString},
		{Name: "by", PGType: "bytea", Kind: KindBytes},
		{Name: "d", PGType: "date", Kind: KindDate},
		{Name: "ts", PGType: "timestamp(3) without time zone", Kind: KindTimestamp},
		{Name: "tz", PGType: "timestamp with time zone", Kind: KindTimestampTZ},
		{Name: "tm", PGType: "time without time zone", Kind: KindTime},
		{Name: "iv", PGType: "interval", Kind: KindInterval},
		{Name: "u", PGType: "uuid", Kind: KindUUID},
		{Name: "j", PGType: "jsonb", Kind: KindJSON},
		{Name: "x", PGType: "xml", Kind: KindXML},
		arr("ai", "integer[]", KindInt32, 0, 0),
		arr("an", "numeric(10,2)[]", KindDecimal, 10, 2),
		arr("atz", "timestamp with time zone[]", KindTimestampTZ, 0, 0),
		arr("at", "text[]", KindString, 0, 0),
		arr("am", "money[]", KindMoney, 19, 2),
		arr("ad", "date[]", KindDate, 0, 0),
		arr("ab", "bytea[]", KindBytes, 0, 0),
	}
	SanitizeFields(cols)
	return &Table{System: "postgres", Source: "app", DB: "shop", Schema: "public", Name: "types", Columns: cols}
}

func col(tab *Table, name string) Column {
	c, ok := tab.Column(name)
	if !ok {
		panic(name)
	}
	return c
}

// Every value Postgres can print comes back as the same Postgres input and
// survives an Avro round trip.
func TestEveryKindRoundTripsThroughTextAndAvro(t *testing.T) {
	tab := typesTable()
	codec, err := NewCodec(tab)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		col, text, want string // want "" means text
	}{
		{"k", "NaN", ""},
		{"k", "-99999", ""},
		{"n", "NaN", ""},
		{"n", "-12345678901234.123456", ""},
		{"n", "0.000001", ""},
		{"nu", "1e-30", "ERROR"},
		{"nu", "0.000000000000000000000000000001", ""},
		{"nu", "1.500", ""},
		{"nu", "-Infinity", ""},
		{"nu", "Infinity", ""},
		{"nu", "NaN", ""},
		{"m", "$1,234.56", "1234.56"},
		{"m", "-$1,234.56", "-1234.56"},
		{"m", "-$92,233,720,368,547,758.08", "-92233720368547758.08"},
		{"m", "$92,233,720,368,547,758.07", "92233720368547758.07"},
		{"m", "$0.00", "0.00"},
		{"d", "infinity", ""},
		{"d", "-infinity", ""},
		{"d", "4713-01-01 BC", ""},
		{"d", "5874897-12-31", ""},
		{"d", "0001-01-01 BC", ""},
		{"ts", "infinity", ""},
		{"ts", "-infinity", ""},
		{"ts", "4713-01-01 00:00:00 BC", ""},
		{"ts", "294247-01-10 04:00:54.775806", ""},
		{"tz", "12345-06-07 06:09:10.123456+00", ""},
		{"tz", "-infinity", ""},
		{"tm", "24:00:00", "24:00:00.000000"},
		{"tm", "00:00:00", "00:00:00.000000"},
		{"iv", "P-1Y2DT-3H-4M-5S", ""},
		{"iv", "PT0S", ""},
		{"iv", "1 day", "ERROR"},
		{"t", "multi-byte: 日本語 ✓ 🎉", ""},
		{"x", "<x>y</x>", ""},
		{"ai", "{}", ""},
		{"ai", "{1,NULL,-2147483648}", `{"1",NULL,"-2147483648"}`},
		{"ai", "{{1,NULL},{3,4}}", ""},
		{"ai", "[0:1]={1,2}", ""},
		{"ai", "{1,x}", "ERROR"},
		{"an", "{1.50,NaN,NULL}", `{"1.50","NaN",NULL}`},
		{"atz", "{infinity,\"2024-02-29 23:59:59.5+00\",-infinity}", `{"infinity","2024-02-29 23:59:59.5+00","-infinity"}`},
		{"atz", `{"294270-01-01 00:00:00+00"}`, ""}, // an element Avro cannot carry: the literal
		{"at", `{"a b","NULL",NULL,"","x\\y\"z","{}",日本}`, `{"a b","NULL",NULL,"","x\\y\"z","{}","日本"}`},
		{"am", `{"$1,234.56","-$0.01"}`, `{"1234.56","-0.01"}`},
		{"ad", "{infinity,\"0044-03-15 BC\"}", `{"infinity","0044-03-15 BC"}`},
		{"ab", `{"\\x00ff",NULL}`, `{"\\x00ff",NULL}`},
	}
	for _, tc := range cases {
		c := col(tab, tc.col)
		t.Run(tc.col+" "+tc.text, func(t *testing.T) {
			v, err := ParseText(c, tc.text)
			if tc.want == "ERROR" {
				if err == nil || !strings.Contains(err.Error(), `"`+c.Name+`"`) {
					t.Fatalf("ParseText = %v, %v: want an error naming the column", v, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := FormatText(c, v)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == "" {
				want = tc.text
			}
			if got != want {
				t.Errorf("FormatText = %q, want %q", got, want)
			}
			row := Row{"id": int64(1), "k": big.NewRat(1, 1), c.Field: v}
			if c.Key {
				row = Row{"id": int64(1), c.Field: v}
			}
			b, err := codec.EncodeValue(&Change{Op: OpCreate, After: row})
			if err != nil {
				t.Fatal(err)
			}
			ch, err := codec.DecodeValue(b)
			if err != nil {
				t.Fatal(err)
			}
			if !ValueEqual(ch.After[c.Field], v) {
				t.Errorf("Avro round trip: got %#v, want %#v", ch.After[c.Field], v)
			}
			kb, err := codec.EncodeKey(row)
			if err != nil {
				t.Fatal(err)
			}
			key, err := codec.DecodeKey(kb)
			if err != nil || !ValueEqual(key["k"], row["k"]) || key["id"] != int64(1) {
				t.Errorf("key round trip: %v, %v", key, err)
			}
		})
	}
}

func TestInfinityIsCarriedAsTheLogicalTypesExtremes(t *testing.T) {
	tab := typesTable()
	c := col(tab, "tz")
	for inf, want := range map[Infinity]int64{PlusInfinity: math.MaxInt64, MinusInfinity: math.MinInt64} {
		m, n, err := c.toAvro(inf)
		if err != nil || m != "long.timestamp-micros" || n != want {
			t.Errorf("timestamp %v: %s %v %v, want long %d", inf, m, n, err, want)
		}
	}
	d := col(tab, "d")
	for inf, want := range map[Infinity]int32{PlusInfinity: math.MaxInt32, MinusInfinity: math.MinInt32} {
		m, n, err := d.toAvro(inf)
		if err != nil || m != "int.date" || n != want {
			t.Errorf("date %v: %s %v %v, want int %d", inf, m, n, err, want)
		}
	}
	n := col(tab, "n")
	if m, v, err := n.toAvro("NaN"); err != nil || m != "string" || v != "NaN" {
		t.Errorf("numeric NaN: %s %v %v, want the string member", m, v, err)
	}
}

func TestEncodeRefusesValuesThatWouldNotRoundTripAndNamesTheField(t *testing.T) {
	tab := typesTable()
	codec, err := NewCodec(tab)
	if err != nil {
		t.Fatal(err)
	}
	for field, v := range map[string]any{
		"n":   big.NewRat(1, 3),                                  // not a finite decimal
		"k":   big.NewRat(123456, 1),                             // more digits than numeric(5,0)
		"m":   big.NewRat(1, 1000),                               // money has cents
		"i4":  int64(1),                                          // wrong Go type
		"d":   time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC),      // not a date
		"ts":  time.Date(2024, 1, 1, 12, 0, 0, 1, time.UTC),      // nanoseconds
		"tz":  time.Date(294270, 1, 1, 0, 0, 0, 0, time.UTC),     // past timestamp-micros
		"tm":  25 * time.Hour,                                    // not a time of day
		"nu":  "12abc",                                           // not a number
		"ai":  []any{int32(1), "x"},                              // bad element
		"atz": Infinity(3),                                       // neither infinity
		"an":  []any{big.NewRat(1, 1), "nope", big.NewRat(2, 1)}, // bad special value
	} {
		_, err := codec.EncodeValue(&Change{Op: OpCreate, After: Row{"id": int64(1), "k": big.NewRat(1, 1), field: v}})
		if err == nil || !strings.Contains(err.Error(), "field "+field+":") {
			t.Errorf("%s = %#v: error %v, want one naming field %s", field, v, err, field)
		}
	}
}

func TestColumnSetTypeResolvesKinds(t *testing.T) {
	for _, tc := range []struct {
		oid, elem          uint32
		typmod, elemTypmod int32
		delim              byte
		want               Column
	}{
		{oid: oidNumeric, typmod: 10<<16 | 2 + 4, want: Column{Kind: KindDecimal, Precision: 10, Scale: 2}},
		{oid: oidNumeric, typmod: -1, want: Column{Kind: KindNumeric}},
		{oid: oidNumeric, typmod: 3<<16 | 5 + 4, want: Column{Kind: KindNumeric}},                     // scale > precision
		{oid: oidNumeric, typmod: 2<<16 | int32(uint16(0xfffd)) + 4, want: Column{Kind: KindNumeric}}, // negative scale
		{oid: oidMoney, typmod: -1, want: Column{Kind: KindMoney, Precision: 19, Scale: 2}},
		{oid: oidInterval, typmod: -1, want: Column{Kind: KindInterval}},
		{oid: oidXML, typmod: -1, want: Column{Kind: KindXML}},
		{oid: 1007, elem: oidInt4, typmod: -1, elemTypmod: -1, delim: ',', want: Column{Kind: KindArray, ElemKind: KindInt32}},
		{oid: 1231, elem: oidNumeric, typmod: 10<<16 | 2 + 4, elemTypmod: 10<<16 | 2 + 4, delim: ',', want: Column{Kind: KindArray, ElemKind: KindDecimal, Precision: 10, Scale: 2}},
		{oid: 1020, elem: 603, typmod: -1, elemTypmod: -1, delim: ';', want: Column{Kind: KindString}}, // box[]
		{oid: 3904, typmod: -1, want: Column{Kind: KindString}},                                        // int4range
	} {
		var c Column
		c.SetType(tc.oid, tc.typmod, tc.elem, tc.elemTypmod, tc.delim)
		if c != tc.want {
			t.Errorf("SetType(%d, %d, %d): %+v, want %+v", tc.oid, tc.typmod, tc.elem, c, tc.want)
		}
	}
}

func TestArrayLiteralsSplitLikePostgres(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // "<nil>" for NULL
		ok   bool
		err  bool
	}{
		{in: "{}", want: []string{}, ok: true},
		{in: `{a,"b,c",NULL,"NULL",""}`, want: []string{"a", "b,c", "<nil>", "NULL", ""}, ok: true},
		{in: `{"\\\""}`, want: []string{`\"`}, ok: true},
		{in: "{{1},{2}}"},
		{in: "[1:1]={1}"},
		{in: "{", err: true},
		{in: "{a,}", err: true},
		{in: `{"a}`, err: true},
		{in: "{a}b", err: true},
		{in: "x", err: true},
	} {
		got, ok, err := splitArray(tc.in, ',')
		if (err != nil) != tc.err || ok != tc.ok {
			t.Errorf("%q: ok %v err %v", tc.in, ok, err)
			continue
		}
		if !ok {
			continue
		}
		var s []string
		for _, e := range got {
			if e == nil {
				s = append(s, "<nil>")
			} else {
				s = append(s, *e)
			}
		}
		if strings.Join(s, "|") != strings.Join(tc.want, "|") || len(s) != len(tc.want) {
			t.Errorf("%q: %q, want %q", tc.in, s, tc.want)
		}
	}
}

func TestOldSchemasStillDecode(t *testing.T) {
	// A decimal field registered before NaN got its string member.
	tab := &Table{System: "postgres", Source: "app", DB: "shop", Schema: "public", Name: "old", Columns: []Column{
		{Name: "id", Field: "id", Kind: KindInt32, Key: true},
		{Name: "p", Field: "p", Kind: KindDecimal, Precision: 10, Scale: 2},
	}}
	old := strings.Replace(tab.ValueSchema(), `"scale":2,"type":"bytes"},"string"]`, `"scale":2,"type":"bytes"}]`, 1)
	if old == tab.ValueSchema() {
		t.Fatal("test setup: could not build the old schema")
	}
	got, err := TableFromSchemas(tab.KeySchema(), old)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCodecFromSchemas(got, tab.KeySchema(), old)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.EncodeValue(&Change{Op: OpCreate, After: Row{"id": int32(1), "p": big.NewRat(5, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := c.DecodeValue(b)
	if err != nil || !ValueEqual(ch.After["p"], big.NewRat(5, 2)) {
		t.Errorf("old schema round trip: %v %v", ch, err)
	}
	// NaN cannot be written with the old schema: an error, not a panic.
	if _, err := c.EncodeValue(&Change{Op: OpCreate, After: Row{"id": int32(1), "p": "NaN"}}); err == nil {
		t.Error("NaN encoded with a schema that has no string member")
	}
}

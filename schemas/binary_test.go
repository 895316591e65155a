package schemas

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// referenceCodec is codec with the direct writer turned off: goavro
// encodes from generic maps, the reference the direct writer must match.
func referenceCodec(c *Codec) *Codec {
	return &Codec{Table: c.Table, key: c.key, value: c.value, keyCols: c.keyCols}
}

// sameEncoding checks that the direct writer and goavro give identical
// bytes for ch's envelope and key, or both refuse it. It reports whether
// the envelope was encoded.
func sameEncoding(t *testing.T, codec *Codec, ch *Change) bool {
	t.Helper()
	ref := referenceCodec(codec)
	got, gerr := codec.EncodeValue(ch)
	want, werr := ref.EncodeValue(ch)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("envelope: direct writer error %v, goavro error %v", gerr, werr)
	}
	if gerr == nil && !bytes.Equal(got, want) {
		t.Fatalf("envelope bytes differ:\ndirect %x\ngoavro %x\nrow %#v", got, want, ch.After)
	}
	encoded := gerr == nil
	if ch.After == nil {
		return encoded
	}
	gk, gerr := codec.EncodeKey(ch.After)
	wk, werr := ref.EncodeKey(ch.After)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("key: direct writer error %v, goavro error %v", gerr, werr)
	}
	if gerr == nil && !bytes.Equal(gk, wk) {
		t.Fatalf("key bytes differ:\ndirect %x\ngoavro %x", gk, wk)
	}
	return encoded
}

// randomRow is a row of values for tab's columns drawn by the fuzz target's
// generator from random bytes: valid values, values of the wrong type and
// values the type refuses.
func randomRow(rng *rand.Rand, tab *Table) Row {
	data := make([]byte, rng.IntN(256))
	for j := range data {
		data[j] = byte(rng.Uint32())
	}
	return rowFrom(&fuzzBytes{data}, tab)
}

func TestDirectWriterMatchesGoavroOnRandomRows(t *testing.T) {
	tab := typesTable()
	codec, err := NewCodec(tab)
	if err != nil {
		t.Fatal(err)
	}
	if !codec.direct {
		t.Fatal("a codec of the table's own schemas does not use the direct writer")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	encoded := 0
	const rows = 20000
	for i := range rows {
		row := randomRow(rng, tab)
		ch := &Change{Op: OpUpdate, After: row, Source: Source{System: "postgres", Name: "app", DB: "shop", Schema: "public", Table: "types", Position: fmt.Sprint(i), CommitMs: int64(i)}}
		switch i % 4 {
		case 0:
			ch.Before = row
			ch.Changed = []string{"b", "t"}
		case 1:
			ch.Unavailable = []string{}
			ch.Source.TxID, ch.Source.LSN, ch.TsMs = int64(i), -int64(i), 1<<40
		case 2:
			ch.Source.Snapshot = "true"
		}
		if sameEncoding(t, codec, ch) {
			encoded++
		}
	}
	// Most random rows hold some value the type refuses; enough must
	// encode for the comparison to mean something.
	if encoded < rows/10 {
		t.Errorf("only %d of %d random rows encoded", encoded, rows)
	}
	t.Logf("%d of %d random rows encoded, identically", encoded, rows)
}

func TestDirectWriterDecimalsMatchGoavroAtByteBoundaries(t *testing.T) {
	tab := typesTable()
	codec, err := NewCodec(tab)
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, s := range []string{"0", "1", "127", "128", "255", "256", "32767", "32768", "65535", "9223372036854775807", "9223372036854775808", "18446744073709551616", strings.Repeat("9", 20)} {
		vals = append(vals, s, "-"+s)
	}
	for _, v := range vals {
		r, _ := new(big.Rat).SetString(v)
		n := new(big.Rat).Quo(r, big.NewRat(1000000, 1)) // numeric(20,6): 14 integer digits
		if len(strings.TrimPrefix(v, "-")) > 20 {
			continue
		}
		row := Row{"id": int64(1), "k": big.NewRat(-99999, 1), "n": n, "an": []any{new(big.Rat).Quo(r, big.NewRat(100, 1)), nil, "NaN"}}
		if len(strings.TrimPrefix(v, "-")) <= 10 {
			row["m"] = new(big.Rat).Quo(r, big.NewRat(100, 1))
		} else {
			delete(row, "an")
		}
		if !sameEncoding(t, codec, &Change{Op: OpCreate, After: row}) {
			t.Errorf("%s: not encoded", v)
		}
	}
}

func TestCodecFromOtherSchemaTextUsesGoavro(t *testing.T) {
	tab := typesTable()
	c, err := NewCodecFromSchemas(tab, tab.KeySchema(), strings.Replace(tab.ValueSchema(), `"connect.name"`, `"x.connect.name"`, 1))
	if err != nil {
		t.Fatal(err)
	}
	if c.direct {
		t.Error("a codec of schema text that is not the table's own uses the direct writer")
	}
}

func TestFirstMemberIsTheFirstAvroMember(t *testing.T) {
	for _, k := range []Kind{KindBool, KindInt32, KindInt64, KindFloat32, KindFloat64, KindDecimal, KindNumeric, KindMoney, KindString, KindBytes, KindDate, KindTimestamp, KindTimestampTZ, KindTime, KindInterval, KindUUID, KindJSON, KindXML, KindArray} {
		c := Column{Name: "c", Kind: k, ElemKind: KindInt32, Precision: 10, Scale: 2}
		if got, want := c.firstMember(), memberName(c.avroMembers()[0]); got != want {
			t.Errorf("%s: firstMember %q, avroMembers' first %q", k, got, want)
		}
	}
}

func TestDirectWriterRefusesWhatGoavroRefusesNamingTheField(t *testing.T) {
	tab := typesTable()
	codec, err := NewCodec(tab)
	if err != nil {
		t.Fatal(err)
	}
	base := func() Row { return Row{"id": int64(1), "k": big.NewRat(7, 1)} }
	cases := []struct {
		name, field string
		v           any
	}{
		{"a string in an int column", "i4", "12"},
		{"a decimal beyond its precision", "n", big.NewRat(1e15, 1)},
		{"a decimal with too many fractional digits", "n", big.NewRat(1, 3)},
		{"a bad special numeric", "k", "Inf"},
		{"money beyond 64 bits", "m", new(big.Rat).SetFrac(new(big.Int).Lsh(big.NewInt(1), 70), big.NewInt(1))},
		{"an array element of the wrong type", "ai", []any{int32(1), "x"}},
		{"a time past midnight", "tm", int64(5)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			row := base()
			row[tc.field] = tc.v
			ch := &Change{Op: OpCreate, After: row}
			if sameEncoding(t, codec, ch) {
				t.Fatalf("encoded %#v", tc.v)
			}
			_, err := codec.EncodeValue(ch)
			if err == nil || !strings.Contains(err.Error(), "field "+tc.field+":") {
				t.Errorf("error %v does not name field %s", err, tc.field)
			}
		})
	}
	if _, err := codec.EncodeKey(Row{"id": int64(1)}); err == nil || !strings.Contains(err.Error(), `key column "k" is NULL`) {
		t.Errorf("NULL key column: %v", err)
	}
}

// sameDecoding checks that the direct reader and goavro decode b to equal
// changes (same Go types, same values), or both refuse it.
func sameDecoding(t *testing.T, codec *Codec, b []byte) {
	t.Helper()
	got, gerr := codec.DecodeValue(b)
	want, werr := referenceCodec(codec).DecodeValue(b)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("decode %x: direct reader error %v, goavro error %v", b, gerr, werr)
	}
	if gerr != nil {
		return
	}
	if got.Op != want.Op || got.Source != want.Source || got.TsMs != want.TsMs ||
		!reflect.DeepEqual(got.Changed, want.Changed) || !reflect.DeepEqual(got.Unavailable, want.Unavailable) {
		t.Fatalf("decode: direct %+v\ngoavro %+v", got, want)
	}
	for _, rows := range [][2]Row{{got.Before, want.Before}, {got.After, want.After}} {
		if (rows[0] == nil) != (rows[1] == nil) || len(rows[0]) != len(rows[1]) {
			t.Fatalf("rows differ: direct %#v, goavro %#v", rows[0], rows[1])
		}
		for f, w := range rows[1] {
			g, ok := rows[0][f]
			if !ok || !sameValue(g, w) {
				t.Fatalf("field %s: direct %#v (%T), goavro %#v (%T)", f, g, g, w, w)
			}
		}
	}
}

// sameValue is ValueEqual that also wants the same Go types and, for
// times, the same location.
func sameValue(a, b any) bool {
	if reflect.TypeOf(a) != reflect.TypeOf(b) || !ValueEqual(a, b) {
		return false
	}
	switch x := a.(type) {
	case time.Time:
		return x.Location() == b.(time.Time).Location()
	case []any:
		y := b.([]any)
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
	}
	return true
}

func TestDirectReaderMatchesGoavro(t *testing.T) {
	tab := typesTable()
	codec, err := NewCodec(tab)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	decoded := 0
	for i := range 20000 {
		row := randomRow(rng, tab)
		ch := &Change{Op: OpUpdate, Before: row, After: row, Changed: []string{"t"}, Unavailable: []string{}, Source: Source{System: "postgres", Name: "app", Position: fmt.Sprint(i), TxID: int64(i), Snapshot: "last"}}
		b, err := codec.EncodeValue(ch)
		if err != nil {
			continue
		}
		sameDecoding(t, codec, b)
		decoded++
		// Garbage: a truncated or corrupted record is an error for both.
		sameDecoding(t, codec, b[:rng.IntN(len(b))])
		c := append([]byte{}, b...)
		c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
		if got, err := codec.DecodeValue(c); err == nil && got == nil {
			t.Fatal("nil change without an error")
		}
		if k, err := codec.EncodeKey(row); err == nil {
			gk, gerr := codec.DecodeKey(k)
			wk, werr := referenceCodec(codec).DecodeKey(k)
			if gerr != nil || werr != nil || len(gk) != len(wk) {
				t.Fatalf("key: direct %v %v, goavro %v %v", gk, gerr, wk, werr)
			}
			for f := range wk {
				if !sameValue(gk[f], wk[f]) {
					t.Fatalf("key field %s: direct %#v, goavro %#v", f, gk[f], wk[f])
				}
			}
		}
	}
	if decoded < 2000 {
		t.Errorf("only %d records to decode", decoded)
	}
}

// parseSmallDecimal, the fast path, accepts only what the slow path
// accepts, with the same value.
func TestSmallDecimalFastPathAgreesWithTheSlowPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	chars := "0123456789-.e+ "
	fast := 0
	for range 200000 {
		var b strings.Builder
		for range 1 + rng.IntN(22) {
			if rng.IntN(4) == 0 {
				b.WriteByte(chars[rng.IntN(len(chars))])
			} else {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		s := b.String()
		p := 1 + rng.IntN(25)
		sc := rng.IntN(p + 1)
		r, ok := parseSmallDecimal(s, p, sc)
		want, err := parseDecimalSlow(s, p, sc)
		if !ok {
			continue
		}
		fast++
		if err != nil {
			t.Fatalf("%q as decimal(%d,%d): fast path %v, slow path refuses: %v", s, p, sc, r, err)
		}
		if r.Cmp(want) != 0 {
			t.Fatalf("%q as decimal(%d,%d): fast path %v, slow path %v", s, p, sc, r, want)
		}
	}
	for _, s := range []string{"0", "-0", "0.00", "123.45", "-99999999.99", "0.000001", "999999999999999999"} {
		if _, ok := parseSmallDecimal(s, 18, 6); !ok && s != "999999999999999999" {
			t.Errorf("%q: fast path declined", s)
		}
	}
	if fast < 1000 {
		t.Errorf("only %d strings took the fast path", fast)
	}
}

// Money's Avro type is decimal(19,2) whatever the column's Scale says.
func TestDirectWriterUsesMoneysSchemaScale(t *testing.T) {
	cols := []Column{{Name: "id", Kind: KindInt64, Key: true}, {Name: "m", PGType: "money", Kind: KindMoney}}
	SanitizeFields(cols)
	codec, err := NewCodec(&Table{System: "postgres", Source: "app", DB: "d", Schema: "public", Name: "m", Columns: cols})
	if err != nil {
		t.Fatal(err)
	}
	ch := &Change{Op: OpCreate, After: Row{"id": int64(1), "m": big.NewRat(3, 2)}}
	if !sameEncoding(t, codec, ch) {
		t.Fatal("not encoded")
	}
	b, _ := codec.EncodeValue(ch)
	got, err := codec.DecodeValue(b)
	if err != nil || got.After["m"].(*big.Rat).Cmp(big.NewRat(3, 2)) != 0 {
		t.Errorf("decoded %v, %v", got, err)
	}
}

func TestDirectReaderRefusesAMinInt64BlockCount(t *testing.T) {
	// Branch 1 of ["null", array], then a block count that -n cannot make
	// positive.
	r := &reader{b: append([]byte{unionIndex(1)}, appendLong(nil, math.MinInt64)...)}
	r.optStrings()
	if r.err == nil {
		t.Error("a block count of MinInt64 was accepted")
	}
}

package schemas

// The Avro binary writer syncline's own schemas are encoded with. goavro
// encodes from generic maps (a map per row and a union wrapper per value),
// which made Avro encoding the largest share of capture's CPU; this writes
// the same bytes straight from a Row. It only serves schemas generated from
// the codec's Table (KeySchema, ValueSchema), whose shapes it knows; a codec
// built from other schema text uses goavro. The tests check that both give
// identical bytes.

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
)

// appendLong appends v as an Avro long (zig-zag varint); Avro ints are
// encoded the same way.
func appendLong(b []byte, v int64) []byte {
	return binary.AppendUvarint(b, uint64((v<<1)^(v>>63)))
}

func appendString(b []byte, s string) []byte {
	b = appendLong(b, int64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = appendLong(b, int64(len(p)))
	return append(b, p...)
}

// unionIndex is the one-byte encoding of union branch i (i < 64).
func unionIndex(i int) byte { return byte(i << 1) }

// appendDecimal appends r as an Avro bytes decimal of the given scale: the
// unscaled value in big-endian two's complement, in the fewest bytes.
// toAvro has checked that r has at most scale fractional digits.
func appendDecimal(b []byte, r *big.Rat, scale int) []byte {
	var n *big.Int
	if r.IsInt() && scale == 0 {
		n = r.Num()
	} else {
		n = new(big.Int).Mul(r.Num(), pow10(scale))
		if !r.IsInt() {
			n.Quo(n, r.Denom())
		}
	}
	if n.IsInt64() {
		return appendBytes(b, minimalTwos(n.Int64()))
	}
	switch n.Sign() {
	case 0:
		return appendBytes(b, []byte{0})
	case 1:
		p := n.Bytes()
		if p[0]&0x80 != 0 {
			p = append([]byte{0}, p...)
		}
		return appendBytes(b, p)
	}
	// Negative: 2^(8k) + n in k bytes, k the fewest that keep the sign bit.
	k := n.BitLen()/8 + 1
	p := new(big.Int).Add(n, new(big.Int).Lsh(big.NewInt(1), uint(8*k))).Bytes()
	if len(p) < k { // leading zero bytes dropped by Bytes: cannot happen for a negative n, but keep the width
		p = append(make([]byte, k-len(p)), p...)
	}
	if len(p) >= 2 && p[0] == 0xff && p[1]&0x80 != 0 {
		p = p[1:]
	}
	return appendBytes(b, p)
}

// minimalTwos is v in big-endian two's complement, in the fewest bytes.
func minimalTwos(v int64) []byte {
	var full [8]byte
	binary.BigEndian.PutUint64(full[:], uint64(v))
	i := 0
	for i < 7 {
		if v >= 0 && full[i] == 0 && full[i+1]&0x80 == 0 {
			i++
			continue
		}
		if v < 0 && full[i] == 0xff && full[i+1]&0x80 != 0 {
			i++
			continue
		}
		break
	}
	return full[i:]
}

// appendAvro appends non-nil v as a member of c's Avro type (see
// avroMembers) and returns the member's index among them.
func (c Column) appendAvro(b []byte, v any) ([]byte, int, error) {
	if c.Kind == KindArray {
		switch x := v.(type) {
		case string:
			return appendString(b, x), 1, nil
		case []any:
			e := c.Elem()
			if e.Kind == KindArray || e.Kind == "" {
				e.Kind = KindString
			}
			if len(x) > 0 {
				b = appendLong(b, int64(len(x)))
				for i, el := range x {
					var err error
					if b, err = e.appendNullable(b, el); err != nil {
						return nil, 0, fmt.Errorf("array column %q element %d: %w", c.Name, i+1, err)
					}
				}
			}
			return append(b, 0), 0, nil
		}
		return nil, 0, fmt.Errorf("%s column %q: unsupported Go value %T", c.Kind, c.Name, v)
	}
	member, n, err := c.toAvro(v)
	if err != nil {
		return nil, 0, err
	}
	idx := 0
	if c.Kind == KindDecimal && member == "string" {
		idx = 1
	}
	switch x := n.(type) {
	case bool:
		if x {
			return append(b, 1), idx, nil
		}
		return append(b, 0), idx, nil
	case int32:
		return appendLong(b, int64(x)), idx, nil
	case int64:
		return appendLong(b, x), idx, nil
	case float32:
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(x)), idx, nil
	case float64:
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(x)), idx, nil
	case string:
		return appendString(b, x), idx, nil
	case []byte:
		return appendBytes(b, x), idx, nil
	case *big.Rat:
		return appendDecimal(b, x, c.decimalScale()), idx, nil
	}
	return nil, 0, fmt.Errorf("%s column %q: no Avro encoding for %T", c.Kind, c.Name, n)
}

// decimalScale is the scale of c's decimal member: money's is fixed by
// its schema (decimal(19,2)) whatever the column says.
func (c Column) decimalScale() int {
	if c.Kind == KindMoney {
		return moneyScale
	}
	return c.Scale
}

// appendNullable appends v as the ["null", members...] union of c.
func (c Column) appendNullable(b []byte, v any) ([]byte, error) {
	if v == nil {
		return append(b, unionIndex(0)), nil
	}
	at := len(b)
	b, mi, err := c.appendAvro(append(b, 0), v)
	if err != nil {
		return nil, err
	}
	b[at] = unionIndex(1 + mi)
	return b, nil
}

// appendKey appends the Key record of row.
func (c *Codec) appendKey(b []byte, row Row) ([]byte, error) {
	for _, col := range c.keyCols {
		v := row[col.Field]
		if v == nil {
			return nil, fmt.Errorf("table %s: key column %q is NULL", c.Table.ID(), col.Name)
		}
		union := col.Kind == KindDecimal || col.Kind == KindArray // two members
		at := len(b)
		if union {
			b = append(b, 0)
		}
		var mi int
		var err error
		if b, mi, err = col.appendAvro(b, v); err != nil {
			return nil, fmt.Errorf("table %s: key field %s: %w", c.Table.ID(), col.Field, err)
		}
		if union {
			b[at] = unionIndex(mi)
		}
	}
	return b, nil
}

// appendRow appends the ["null", Value] union of r.
func (c *Codec) appendRow(b []byte, r Row) ([]byte, error) {
	if r == nil {
		return append(b, unionIndex(0)), nil
	}
	b = append(b, unionIndex(1))
	for _, col := range c.Table.Columns {
		var err error
		if b, err = col.appendNullable(b, r[col.Field]); err != nil {
			return nil, fmt.Errorf("table %s: field %s: %w", c.Table.ID(), col.Field, err)
		}
	}
	return b, nil
}

func appendOptString(b []byte, s string) []byte {
	if s == "" {
		return append(b, unionIndex(0))
	}
	return appendString(append(b, unionIndex(1)), s)
}

func appendOptLong(b []byte, v int64) []byte {
	if v == 0 {
		return append(b, unionIndex(0))
	}
	return appendLong(append(b, unionIndex(1)), v)
}

func appendOptStrings(b []byte, s []string) []byte {
	if s == nil {
		return append(b, unionIndex(0))
	}
	b = append(b, unionIndex(1))
	if len(s) > 0 {
		b = appendLong(b, int64(len(s)))
		for _, x := range s {
			b = appendString(b, x)
		}
	}
	return append(b, 0)
}

// appendEnvelope appends the Envelope record of ch.
func (c *Codec) appendEnvelope(b []byte, ch *Change) ([]byte, error) {
	var err error
	if b, err = c.appendRow(b, ch.Before); err != nil {
		return nil, err
	}
	if b, err = c.appendRow(b, ch.After); err != nil {
		return nil, err
	}
	s := &ch.Source
	b = appendString(b, Version)
	b = appendString(b, s.System) // connector
	b = appendString(b, s.System)
	b = appendString(b, s.Name)
	b = appendLong(b, s.CommitMs)
	b = appendOptString(b, s.Snapshot)
	b = appendString(b, s.DB)
	b = appendString(b, s.Schema)
	b = appendString(b, s.Table)
	b = appendOptLong(b, s.TxID)
	b = appendOptLong(b, s.LSN)
	b = appendString(b, s.Position)
	b = appendString(b, string(ch.Op))
	b = appendOptLong(b, ch.TsMs)
	b = appendOptStrings(b, ch.Changed)
	return appendOptStrings(b, ch.Unavailable), nil
}

package schemas

// The Avro binary reader of syncline's own schemas: the inverse of
// binary.go, producing the same Rows goavro's generic decoding followed by
// fromAvro produces (the tests compare both). It serves codecs whose
// schemas are the ones generated from their Table; records written with
// other schema text are decoded by goavro.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"
)

// reader reads Avro binary values from b. The first error sticks; reads
// after it return zero values.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) long() int64 {
	if r.err != nil {
		return 0
	}
	u, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad or truncated varint")
		return 0
	}
	r.off += n
	return int64(u>>1) ^ -int64(u&1)
}

func (r *reader) int() int32 {
	v := r.long()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail("int %d out of range", v)
		return 0
	}
	return int32(v)
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail("length %d past the end (%d bytes left)", n, len(r.b)-r.off)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) bytes() []byte {
	n := r.long()
	if r.err != nil {
		return nil
	}
	if n < 0 || n > int64(len(r.b)-r.off) {
		r.fail("length %d past the end (%d bytes left)", n, len(r.b)-r.off)
		return nil
	}
	return r.take(int(n))
}

func (r *reader) string() string {
	p := r.bytes()
	if r.err != nil {
		return ""
	}
	return string(p)
}

// union reads a branch index below n.
func (r *reader) union(n int) int {
	i := r.long()
	if r.err == nil && (i < 0 || i >= int64(n)) {
		r.fail("union branch %d of %d", i, n)
		return 0
	}
	return int(i)
}

// readMember reads member mi of c's Avro type and returns c's Go value.
func (c Column) readMember(r *reader, mi int) any {
	if c.Kind == KindArray {
		if mi == 1 {
			return r.string()
		}
		e := c.Elem()
		if e.Kind == KindArray || e.Kind == "" {
			e.Kind = KindString
		}
		members := 1
		if e.Kind == KindDecimal {
			members = 2
		}
		out := []any{}
		for r.err == nil {
			n := r.long()
			if n == 0 {
				break
			}
			if n < 0 { // a block with its size in bytes
				if n == math.MinInt64 {
					r.fail("bad array block count %d", n)
					break
				}
				n = -n
				r.long()
			}
			if n > int64(len(r.b)-r.off) { // each item takes a byte at least
				r.fail("array block of %d items past the end", n)
				break
			}
			for range n {
				if i := r.union(1 + members); i > 0 {
					out = append(out, e.readMember(r, i-1))
				} else {
					out = append(out, nil)
				}
			}
		}
		return out
	}
	if c.Kind == KindDecimal && mi == 1 {
		return r.string()
	}
	switch c.Kind {
	case KindBool:
		p := r.take(1)
		if len(p) == 1 {
			if p[0] > 1 {
				r.fail("boolean byte %d", p[0])
			}
			return p[0] == 1
		}
		return nil
	case KindInt32:
		return r.int()
	case KindInt64:
		return r.long()
	case KindFloat32:
		if p := r.take(4); len(p) == 4 {
			return math.Float32frombits(binary.LittleEndian.Uint32(p))
		}
		return nil
	case KindFloat64:
		if p := r.take(8); len(p) == 8 {
			return math.Float64frombits(binary.LittleEndian.Uint64(p))
		}
		return nil
	case KindDecimal, KindMoney:
		p := r.bytes()
		if r.err != nil {
			return nil
		}
		n := new(big.Int)
		if len(p) <= 8 && len(p) > 0 {
			var v int64
			for _, x := range p {
				v = v<<8 | int64(x)
			}
			if shift := 64 - 8*len(p); shift > 0 { // sign-extend
				v = v << shift >> shift
			}
			n.SetInt64(v)
		} else {
			n.SetBytes(p)
			if len(p) > 0 && p[0]&0x80 != 0 {
				n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(p))))
			}
		}
		return new(big.Rat).SetFrac(n, pow10(c.decimalScale()))
	case KindBytes:
		p := r.bytes()
		if r.err != nil {
			return nil
		}
		return append([]byte{}, p...)
	case KindDate:
		d := r.int()
		switch d {
		case dateInfinity:
			return PlusInfinity
		case dateMinusInf:
			return MinusInfinity
		}
		return time.Unix(int64(d)*86400, 0).UTC()
	case KindTimestamp, KindTimestampTZ:
		us := r.long()
		switch us {
		case math.MaxInt64:
			return PlusInfinity
		case math.MinInt64:
			return MinusInfinity
		}
		s := us / 1e6
		return time.Unix(s, (us-s*1e6)*1e3).UTC()
	case KindTime:
		return time.Duration(r.long()) * time.Microsecond
	}
	return r.string()
}

// readRow reads the ["null", Value] union of a row.
func (c *Codec) readRow(r *reader) Row {
	if r.union(2) == 0 {
		return nil
	}
	row := make(Row, len(c.Table.Columns))
	for _, col := range c.Table.Columns {
		members := 1
		if col.Kind == KindDecimal || col.Kind == KindArray {
			members = 2
		}
		if i := r.union(1 + members); i > 0 {
			row[col.Field] = col.readMember(r, i-1)
		} else {
			row[col.Field] = nil
		}
		if r.err != nil {
			r.err = fmt.Errorf("field %s: %w", col.Field, r.err)
			return nil
		}
	}
	return row
}

func (r *reader) optString() string {
	if r.union(2) == 1 {
		return r.string()
	}
	return ""
}

func (r *reader) optLong() int64 {
	if r.union(2) == 1 {
		return r.long()
	}
	return 0
}

func (r *reader) optStrings() []string {
	if r.union(2) == 0 {
		return nil
	}
	out := []string{}
	for r.err == nil {
		n := r.long()
		if n == 0 {
			break
		}
		if n < 0 {
			if n == math.MinInt64 {
				r.fail("bad array block count %d", n)
				break
			}
			n = -n
			r.long()
		}
		if n > int64(len(r.b)-r.off) {
			r.fail("array block of %d items past the end", n)
			break
		}
		for range n {
			out = append(out, r.string())
		}
	}
	return out
}

var errTrailing = errors.New("trailing bytes")

// readEnvelope decodes an Envelope record.
func (c *Codec) readEnvelope(b []byte) (*Change, error) {
	r := &reader{b: b}
	ch := &Change{Table: c.Table}
	ch.Before = c.readRow(r)
	if r.err != nil {
		return nil, fmt.Errorf("table %s: decode before: %w", c.Table.ID(), r.err)
	}
	ch.After = c.readRow(r)
	if r.err != nil {
		return nil, fmt.Errorf("table %s: decode after: %w", c.Table.ID(), r.err)
	}
	s := &ch.Source
	r.string() // version
	r.string() // connector
	s.System = r.string()
	s.Name = r.string()
	s.CommitMs = r.long()
	s.Snapshot = r.optString()
	s.DB = r.string()
	s.Schema = r.string()
	s.Table = r.string()
	s.TxID = r.optLong()
	s.LSN = r.optLong()
	s.Position = r.string()
	ch.Op = Op(r.string())
	ch.TsMs = r.optLong()
	ch.Changed = r.optStrings()
	ch.Unavailable = r.optStrings()
	if r.err == nil && r.off != len(b) {
		r.err = fmt.Errorf("%d %w", len(b)-r.off, errTrailing)
	}
	if r.err != nil {
		return nil, fmt.Errorf("table %s: decode envelope: %w", c.Table.ID(), r.err)
	}
	return ch, nil
}

// readKey decodes a Key record.
func (c *Codec) readKey(b []byte) (Row, error) {
	r := &reader{b: b}
	row := make(Row, len(c.keyCols))
	for _, col := range c.keyCols {
		mi := 0
		if col.Kind == KindDecimal || col.Kind == KindArray {
			mi = r.union(2)
		}
		row[col.Field] = col.readMember(r, mi)
		if r.err != nil {
			return nil, fmt.Errorf("table %s: decode key field %s: %w", c.Table.ID(), col.Field, r.err)
		}
	}
	if r.off != len(b) {
		return nil, fmt.Errorf("table %s: decode key: %d trailing bytes", c.Table.ID(), len(b)-r.off)
	}
	return row, nil
}

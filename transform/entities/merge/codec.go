package merge

// State encoding, version 1. All integers are varints (encoding/binary;
// signed ones zig-zag), strings and byte strings are uvarint length then
// bytes, maps are written sorted by key, so equal states encode to equal
// bytes:
//
//	state    = version(1) type id flags(bit0 deleted)
//	           n×record  n×field  n×synced  n×pending  n×decided
//	record   = source key updpos delpos                  (sorted by Ref)
//	field    = name value prov n×contrib                 (sorted by name)
//	contrib  = record-index value flags(bit0 set, bit1 retained)
//	           position commit seen review                (sorted by Ref)
//	prov     = source key position commit policy reason
//	synced   = sink n×(field value)
//	pending  = id field kind source key position commit value current
//	           proposed reason                            (entity from state)
//	decided  = id decision(1 approve, 2 reject)
//	value    = tag payload: 0 null, 1 false, 2 true, 3 int32, 4 int64,
//	           5 float32 (IEEE bits, 4 bytes LE), 6 float64 (8 bytes LE),
//	           7 *big.Rat (text "a/b"), 8 string, 9 bytes,
//	           10 time (unix seconds, nanoseconds; decoded in UTC),
//	           11 time.Duration, 12 array (n×value, no nested arrays)
//
// where n× is a uvarint count followed by that many items.

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"time"

	"syncline/schemas"
)

// Version is the state encoding version Encode writes.
const Version byte = 1

// Encode returns the binary encoding of s (see the format above).
func Encode(s *State) ([]byte, error) { return AppendEncode(nil, s) }

// AppendEncode appends the encoding of s to b.
func AppendEncode(b []byte, s *State) ([]byte, error) {
	b = append(b, Version)
	b = appendString(b, s.Type)
	b = appendString(b, s.ID)
	flags := byte(0)
	if s.Deleted {
		flags |= 1
	}
	b = append(b, flags)
	refs := sortedKeys(s.Records)
	index := make(map[string]uint64, len(refs))
	b = binary.AppendUvarint(b, uint64(len(refs)))
	for i, r := range refs {
		rec := s.Records[r]
		if Ref(rec.Source, rec.Key) != r {
			return nil, fmt.Errorf("encode state %s %s: record %q filed under another ref", s.Type, s.ID, rec.Key)
		}
		index[r] = uint64(i)
		b = appendString(b, rec.Source)
		b = appendString(b, rec.Key)
		b = appendString(b, rec.UpdPos)
		b = appendString(b, rec.DelPos)
	}
	var err error
	b = binary.AppendUvarint(b, uint64(len(s.Fields)))
	for _, n := range sortedKeys(s.Fields) {
		f := s.Fields[n]
		b = appendString(b, n)
		if b, err = appendValue(b, f.Value); err != nil {
			return nil, fmt.Errorf("encode state %s %s: field %s: %w", s.Type, s.ID, n, err)
		}
		b = appendProv(b, f.Prov)
		b = binary.AppendUvarint(b, uint64(len(f.Contribs)))
		for _, r := range sortedKeys(f.Contribs) {
			c := f.Contribs[r]
			i, ok := index[r]
			if !ok || Ref(c.Source, c.Key) != r {
				return nil, fmt.Errorf("encode state %s %s: field %s: contribution of unknown record %q", s.Type, s.ID, n, c.Key)
			}
			b = binary.AppendUvarint(b, i)
			if b, err = appendValue(b, c.Value); err != nil {
				return nil, fmt.Errorf("encode state %s %s: field %s: %w", s.Type, s.ID, n, err)
			}
			fl := byte(0)
			if c.Set {
				fl |= 1
			}
			if c.Retained {
				fl |= 2
			}
			b = append(b, fl)
			b = appendString(b, c.Position)
			b = binary.AppendVarint(b, c.CommitMs)
			b = appendString(b, c.Seen)
			b = appendString(b, c.Review)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.Synced)))
	for _, sink := range sortedKeys(s.Synced) {
		m := s.Synced[sink]
		b = appendString(b, sink)
		b = binary.AppendUvarint(b, uint64(len(m)))
		for _, n := range sortedKeys(m) {
			b = appendString(b, n)
			if b, err = appendValue(b, m[n]); err != nil {
				return nil, fmt.Errorf("encode state %s %s: synced %s field %s: %w", s.Type, s.ID, sink, n, err)
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.Pending)))
	for _, id := range sortedKeys(s.Pending) {
		it := s.Pending[id]
		for _, str := range []string{id, it.Field, string(it.Kind), it.Source, it.Key, it.Position} {
			b = appendString(b, str)
		}
		b = binary.AppendVarint(b, it.CommitMs)
		for _, v := range []any{it.Value, it.Current, it.Proposed} {
			if b, err = appendValue(b, v); err != nil {
				return nil, fmt.Errorf("encode state %s %s: review %s: %w", s.Type, s.ID, id, err)
			}
		}
		b = appendString(b, it.Reason)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Decided)))
	for _, id := range sortedKeys(s.Decided) {
		b = appendString(b, id)
		switch s.Decided[id] {
		case Approve:
			b = append(b, 1)
		case Reject:
			b = append(b, 2)
		default:
			return nil, fmt.Errorf("encode state %s %s: review %s: decision %q", s.Type, s.ID, id, s.Decided[id])
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendProv(b []byte, p Provenance) []byte {
	b = appendString(b, p.Source)
	b = appendString(b, p.Key)
	b = appendString(b, p.Position)
	b = binary.AppendVarint(b, p.CommitMs)
	b = appendString(b, string(p.Policy))
	return appendString(b, p.Reason)
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, 0), nil
	case bool:
		if x {
			return append(b, 2), nil
		}
		return append(b, 1), nil
	case int32:
		return binary.AppendVarint(append(b, 3), int64(x)), nil
	case int64:
		return binary.AppendVarint(append(b, 4), x), nil
	case float32:
		return binary.LittleEndian.AppendUint32(append(b, 5), math.Float32bits(x)), nil
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, 6), math.Float64bits(x)), nil
	case *big.Rat:
		if x == nil {
			return append(b, 0), nil
		}
		return appendString(append(b, 7), x.String()), nil
	case string:
		return appendString(append(b, 8), x), nil
	case []byte:
		return appendString(append(b, 9), string(x)), nil
	case time.Time:
		b = binary.AppendVarint(append(b, 10), x.Unix())
		return binary.AppendUvarint(b, uint64(x.Nanosecond())), nil
	case time.Duration:
		return binary.AppendVarint(append(b, 11), int64(x)), nil
	case []any:
		b = binary.AppendUvarint(append(b, 12), uint64(len(x)))
		for i, e := range x {
			if _, nested := e.([]any); nested {
				return nil, fmt.Errorf("element %d: nested array", i)
			}
			var err error
			if b, err = appendValue(b, e); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

// reader decodes; after the first error every read returns zero values
// and the error (naming the offset) is kept.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("offset %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end of data")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.off += n
	return v
}

// varint reads a zig-zag signed varint (binary.AppendVarint).
func (r *reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// count reads a count of items of at least one byte each.
func (r *reader) count() int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)-r.off) {
		r.fail("count %d exceeds the %d bytes left", n, len(r.b)-r.off)
		return 0
	}
	return int(n)
}

func (r *reader) raw(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.off {
		r.fail("length %d exceeds the %d bytes left", n, len(r.b)-r.off)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)-r.off) {
		r.fail("string length %d exceeds the %d bytes left", n, len(r.b)-r.off)
		return ""
	}
	return string(r.raw(int(n)))
}

func (r *reader) value(nested bool) any {
	start := r.off
	switch tag := r.byte(); tag {
	case 0:
		return nil
	case 1:
		return false
	case 2:
		return true
	case 3:
		v := r.varint()
		if v < math.MinInt32 || v > math.MaxInt32 {
			r.fail("int32 value %d out of range", v)
		}
		return int32(v)
	case 4:
		return r.varint()
	case 5:
		p := r.raw(4)
		if p == nil {
			return nil
		}
		return math.Float32frombits(binary.LittleEndian.Uint32(p))
	case 6:
		p := r.raw(8)
		if p == nil {
			return nil
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(p))
	case 7:
		s := r.string()
		if r.err != nil {
			return nil
		}
		x, ok := new(big.Rat).SetString(s)
		if !ok {
			r.off = start
			r.fail("bad rational %q", s)
			return nil
		}
		return x
	case 8:
		return r.string()
	case 9:
		return []byte(r.string())
	case 10:
		sec := r.varint()
		ns := r.uvarint()
		if ns >= 1e9 {
			r.fail("nanoseconds %d out of range", ns)
			return nil
		}
		return time.Unix(sec, int64(ns)).UTC()
	case 11:
		return time.Duration(r.varint())
	case 12:
		if nested {
			r.off = start
			r.fail("nested array")
			return nil
		}
		n := r.count()
		out := make([]any, n)
		for i := range out {
			out[i] = r.value(true)
		}
		return out
	default:
		if r.err == nil {
			r.off = start
			r.fail("unknown value tag %d", tag)
		}
	}
	return nil
}

func (r *reader) prov() Provenance {
	return Provenance{Source: r.string(), Key: r.string(), Position: r.string(), CommitMs: r.varint(),
		Policy: Policy(r.string()), Reason: r.string()}
}

// Decode decodes a state Encode wrote. It never panics: bad bytes give an
// error naming the offset.
func Decode(b []byte) (*State, error) {
	r := &reader{b: b}
	if v := r.byte(); r.err == nil && v != Version {
		return nil, fmt.Errorf("decode entity state: version %d, want %d", v, Version)
	}
	s := &State{Type: r.string(), ID: r.string()}
	flags := r.byte()
	s.Deleted = flags&1 != 0
	if flags&^1 != 0 {
		r.fail("unknown state flags %#x", flags)
	}
	var refs []string
	if n := r.count(); n > 0 {
		s.Records = make(map[string]*Record, n)
		refs = make([]string, 0, n)
		slab := make([]Record, n)
		for i := range n {
			rec := &slab[i]
			rec.Source, rec.Key, rec.UpdPos, rec.DelPos = r.string(), r.string(), r.string(), r.string()
			ref := Ref(rec.Source, rec.Key)
			if _, dup := s.Records[ref]; dup {
				r.fail("record %q twice", rec.Key)
			}
			s.Records[ref] = rec
			refs = append(refs, ref)
		}
	}
	if n := r.count(); n > 0 {
		s.Fields = make(map[string]*FieldState, n)
		for range n {
			name := r.string()
			f := &FieldState{Value: r.value(false), Prov: r.prov()}
			nc := r.count()
			f.Contribs = make(map[string]*Contribution, nc)
			slab := make([]Contribution, nc) // one allocation per field
			for j := range nc {
				i := r.uvarint()
				if r.err == nil && i >= uint64(len(refs)) {
					r.fail("contribution of record %d, state has %d", i, len(refs))
				}
				if r.err != nil {
					break
				}
				rec := s.Records[refs[i]]
				c := &slab[j]
				c.Source, c.Key, c.Value = rec.Source, rec.Key, r.value(false)
				fl := r.byte()
				c.Set, c.Retained = fl&1 != 0, fl&2 != 0
				c.Position, c.CommitMs, c.Seen, c.Review = r.string(), r.varint(), r.string(), r.string()
				f.Contribs[refs[i]] = c
			}
			s.Fields[name] = f
		}
	}
	if n := r.count(); n > 0 {
		s.Synced = make(map[string]map[string]any, n)
		for range n {
			sink := r.string()
			nf := r.count()
			m := make(map[string]any, nf)
			for range nf {
				name := r.string()
				m[name] = r.value(false)
			}
			s.Synced[sink] = m
		}
	}
	if n := r.count(); n > 0 {
		s.Pending = make(map[string]*ReviewItem, n)
		for range n {
			it := &ReviewItem{ID: r.string(), EntityType: s.Type, Entity: s.ID, Field: r.string(), Kind: HoldKind(r.string()),
				Source: r.string(), Key: r.string(), Position: r.string(), CommitMs: r.varint()}
			it.Value, it.Current, it.Proposed = r.value(false), r.value(false), r.value(false)
			it.Reason = r.string()
			s.Pending[it.ID] = it
		}
	}
	if n := r.count(); n > 0 {
		s.Decided = make(map[string]Decision, n)
		for range n {
			id := r.string()
			switch d := r.byte(); d {
			case 1:
				s.Decided[id] = Approve
			case 2:
				s.Decided[id] = Reject
			default:
				if r.err == nil {
					r.fail("unknown decision %d", d)
				}
			}
		}
	}
	if r.err == nil && r.off != len(b) {
		r.fail("%d trailing bytes", len(b)-r.off)
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode entity state: %w", r.err)
	}
	return s, nil
}

// ChangeVersion is the change encoding version EncodeChange writes.
const ChangeVersion byte = 1

// EncodeChange returns the binary encoding of a change, in the value
// encoding of the state (so every value type a state carries survives):
//
//	change = version(1) entity source key op commit position n×(name value)
func EncodeChange(ch Change) ([]byte, error) {
	b := []byte{ChangeVersion}
	b = appendString(b, ch.Entity)
	b = appendString(b, ch.Source)
	b = appendString(b, ch.Key)
	b = appendString(b, string(ch.Op))
	b = binary.AppendVarint(b, ch.CommitMs)
	b = appendString(b, ch.Position)
	b = binary.AppendUvarint(b, uint64(len(ch.Fields)))
	var err error
	for _, n := range sortedKeys(ch.Fields) {
		b = appendString(b, n)
		if b, err = appendValue(b, ch.Fields[n]); err != nil {
			return nil, fmt.Errorf("encode change of %s %s: field %s: %w", ch.Source, ch.Key, n, err)
		}
	}
	return b, nil
}

// DecodeChange decodes a change EncodeChange wrote. It never panics.
func DecodeChange(b []byte) (Change, error) {
	r := &reader{b: b}
	if v := r.byte(); r.err == nil && v != ChangeVersion {
		return Change{}, fmt.Errorf("decode entity change: version %d, want %d", v, ChangeVersion)
	}
	ch := Change{Entity: r.string(), Source: r.string(), Key: r.string(), Op: schemas.Op(r.string()), CommitMs: r.varint(), Position: r.string()}
	if n := r.count(); n > 0 {
		ch.Fields = make(map[string]any, n)
		for range n {
			name := r.string()
			ch.Fields[name] = r.value(false)
		}
	}
	if r.err == nil && r.off != len(b) {
		r.fail("%d trailing bytes", len(b)-r.off)
	}
	if r.err != nil {
		return Change{}, fmt.Errorf("decode entity change: %w", r.err)
	}
	return ch, nil
}

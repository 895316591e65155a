package schemas

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/linkedin/goavro/v2"
)

// Op is the kind of change, as in Debezium.
type Op string

// The ops.
const (
	OpCreate   Op = "c"
	OpUpdate   Op = "u"
	OpDelete   Op = "d"
	OpRead     Op = "r" // snapshot or backfill read
	OpTruncate Op = "t"
)

// Row is a row keyed by Avro field name; values are Go values of the column
// kinds, nil for NULL.
type Row map[string]any

// Source is the envelope's source block.
type Source struct {
	System   string // "postgres"
	Name     string // configured source name
	DB       string
	Schema   string
	Table    string
	Position string // orders changes of one source; see capture packages for the format
	TxID     int64  // 0 when unknown
	LSN      int64  // 0 when not Postgres
	CommitMs int64  // source commit time, ms since epoch
	Snapshot string // "", "true", "last"
}

// Change is one decoded change record.
type Change struct {
	Table       *Table
	Op          Op
	Key         Row
	Before      Row // nil when absent
	After       Row // nil when absent (deletes)
	Source      Source
	TsMs        int64    // capture time
	Changed     []string // fields whose value changed (change topics)
	Unavailable []string // after-fields the source did not send (raw topics)
}

// Version is written into source.version.
const Version = "0.1.0"

// Codec encodes and decodes one table's keys and envelopes (Avro binary, no
// wire-format header). It is safe for concurrent use.
type Codec struct {
	Table *Table
	key   *goavro.Codec
	value *goavro.Codec
	// direct: the schemas are the ones generated from Table, so the
	// direct binary writer (binary.go) encodes them.
	direct   bool
	keyCols  []Column
	sizeHint atomic.Int64 // bytes of the last envelope, plus slack
}

var codecOpts = &goavro.CodecOption{EnableDecimalBinarySpecCompliantEncoding: true}

// NewCodec builds the codecs of t's key and envelope schemas.
func NewCodec(t *Table) (*Codec, error) {
	return NewCodecFromSchemas(t, t.KeySchema(), t.ValueSchema())
}

// NewCodecFromSchemas builds codecs from schema text (e.g. from a registry).
func NewCodecFromSchemas(t *Table, keySchema, valueSchema string) (*Codec, error) {
	k, err := goavro.NewCodecWithOptions(keySchema, codecOpts)
	if err != nil {
		return nil, fmt.Errorf("table %s: key schema: %w", t.ID(), err)
	}
	v, err := goavro.NewCodecWithOptions(valueSchema, codecOpts)
	if err != nil {
		return nil, fmt.Errorf("table %s: value schema: %w", t.ID(), err)
	}
	direct := keySchema == t.KeySchema() && valueSchema == t.ValueSchema()
	return &Codec{Table: t, key: k, value: v, direct: direct, keyCols: t.KeyColumns()}, nil
}

// Direct reports whether the codec encodes and decodes with syncline's
// own binary writer and reader (its schemas are the ones generated from its
// Table) rather than goavro's generic maps.
func (c *Codec) Direct() bool { return c.direct }

// EncodeKey encodes the key columns of row.
func (c *Codec) EncodeKey(row Row) ([]byte, error) { return c.AppendKey(nil, row) }

// AppendKey appends the encoding of row's key columns to b.
func (c *Codec) AppendKey(b []byte, row Row) ([]byte, error) {
	if c.direct {
		return c.appendKey(b, row)
	}
	m := make(map[string]any, len(row))
	for _, col := range c.Table.KeyColumns() {
		v := row[col.Field]
		if v == nil {
			return nil, fmt.Errorf("table %s: key column %q is NULL", c.Table.ID(), col.Name)
		}
		member, n, err := col.toAvro(v)
		if err != nil {
			return nil, fmt.Errorf("table %s: key field %s: %w", c.Table.ID(), col.Field, err)
		}
		if len(col.avroMembers()) > 1 {
			n = goavro.Union(member, n)
		}
		m[col.Field] = n
	}
	b, err := c.key.BinaryFromNative(b, m)
	if err != nil {
		return nil, fmt.Errorf("table %s: encode key: %w", c.Table.ID(), err)
	}
	return b, nil
}

// DecodeKey decodes a key.
func (c *Codec) DecodeKey(b []byte) (Row, error) {
	if c.direct {
		return c.readKey(b)
	}
	n, rest, err := c.key.NativeFromBinary(b)
	if err != nil {
		return nil, fmt.Errorf("table %s: decode key: %w", c.Table.ID(), err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("table %s: decode key: %d trailing bytes", c.Table.ID(), len(rest))
	}
	m, ok := n.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("table %s: decode key: got %T, want a record", c.Table.ID(), n)
	}
	r := make(Row, len(m))
	for k, x := range m {
		col, ok := c.Table.Column(k)
		if !ok {
			return nil, fmt.Errorf("table %s: decode key: unknown field %s", c.Table.ID(), k)
		}
		v, err := col.fromAvro(unwrap(x))
		if err != nil {
			return nil, fmt.Errorf("table %s: decode key field %s: %w", c.Table.ID(), k, err)
		}
		r[k] = v
	}
	return r, nil
}

func (c *Codec) valueNative(r Row) (any, error) {
	if r == nil {
		return nil, nil
	}
	m := make(map[string]any, len(c.Table.Columns))
	for _, col := range c.Table.Columns {
		v := r[col.Field]
		if v == nil {
			m[col.Field] = nil
			continue
		}
		member, n, err := col.toAvro(v)
		if err != nil {
			return nil, fmt.Errorf("table %s: field %s: %w", c.Table.ID(), col.Field, err)
		}
		m[col.Field] = goavro.Union(member, n)
	}
	return goavro.Union(c.Table.Namespace()+".Value", m), nil
}

func strArray(s []string) any {
	if s == nil {
		return nil
	}
	a := make([]any, len(s))
	for i, v := range s {
		a[i] = v
	}
	return goavro.Union("array", a)
}

func nullable(name string, v any, zero bool) any {
	if zero {
		return nil
	}
	return goavro.Union(name, v)
}

// EncodeValue encodes the envelope of ch.
func (c *Codec) EncodeValue(ch *Change) ([]byte, error) { return c.AppendValue(nil, ch) }

// AppendValue appends the encoding of ch's envelope to b.
func (c *Codec) AppendValue(b []byte, ch *Change) ([]byte, error) {
	if c.direct {
		// Room for a record like the last one, so the buffer is
		// allocated once.
		if hint := int(c.sizeHint.Load()); cap(b)-len(b) < hint {
			b = slices.Grow(b, hint)
		}
		start := len(b)
		b, err := c.appendEnvelope(b, ch)
		if err == nil {
			c.sizeHint.Store(int64(len(b)-start) + 64)
		}
		return b, err
	}
	before, err := c.valueNative(ch.Before)
	if err != nil {
		return nil, err
	}
	after, err := c.valueNative(ch.After)
	if err != nil {
		return nil, err
	}
	s := ch.Source
	src := map[string]any{
		"version": Version, "connector": s.System, "system": s.System, "name": s.Name,
		"ts_ms": s.CommitMs, "snapshot": nullable("string", s.Snapshot, s.Snapshot == ""),
		"db": s.DB, "schema": s.Schema, "table": s.Table,
		"txId": nullable("long", s.TxID, s.TxID == 0), "lsn": nullable("long", s.LSN, s.LSN == 0),
		"position": s.Position,
	}
	m := map[string]any{
		"before": before, "after": after, "source": src, "op": string(ch.Op),
		"ts_ms":       nullable("long", ch.TsMs, ch.TsMs == 0),
		"changed":     strArray(ch.Changed),
		"unavailable": strArray(ch.Unavailable),
	}
	b, err = c.value.BinaryFromNative(b, m)
	if err != nil {
		return nil, fmt.Errorf("table %s: encode envelope: %w", c.Table.ID(), err)
	}
	return b, nil
}

// DecodeValue decodes an envelope. The Key of the result is left nil.
func (c *Codec) DecodeValue(b []byte) (*Change, error) {
	if c.direct {
		return c.readEnvelope(b)
	}
	n, rest, err := c.value.NativeFromBinary(b)
	if err != nil {
		return nil, fmt.Errorf("table %s: decode envelope: %w", c.Table.ID(), err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("table %s: decode envelope: %d trailing bytes", c.Table.ID(), len(rest))
	}
	m := n.(map[string]any)
	ch := &Change{Table: c.Table, Op: Op(m["op"].(string))}
	if ch.Before, err = c.unwrapRow(m["before"]); err != nil {
		return nil, fmt.Errorf("table %s: decode before: %w", c.Table.ID(), err)
	}
	if ch.After, err = c.unwrapRow(m["after"]); err != nil {
		return nil, fmt.Errorf("table %s: decode after: %w", c.Table.ID(), err)
	}
	src := m["source"].(map[string]any)
	ch.Source = Source{
		System: src["system"].(string), Name: src["name"].(string), DB: src["db"].(string),
		Schema: src["schema"].(string), Table: src["table"].(string), Position: src["position"].(string),
		CommitMs: src["ts_ms"].(int64),
	}
	if v := unwrap(src["snapshot"]); v != nil {
		ch.Source.Snapshot = v.(string)
	}
	if v := unwrap(src["txId"]); v != nil {
		ch.Source.TxID = v.(int64)
	}
	if v := unwrap(src["lsn"]); v != nil {
		ch.Source.LSN = v.(int64)
	}
	if v := unwrap(m["ts_ms"]); v != nil {
		ch.TsMs = v.(int64)
	}
	ch.Changed = unwrapStrings(m["changed"])
	ch.Unavailable = unwrapStrings(m["unavailable"])
	return ch, nil
}

func unwrap(v any) any {
	if u, ok := v.(map[string]any); ok {
		for _, x := range u {
			return x
		}
	}
	return v
}

func (c *Codec) unwrapRow(v any) (Row, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := unwrap(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("got %T, want a record", unwrap(v))
	}
	r := make(Row, len(m))
	for k, x := range m {
		col, ok := c.Table.Column(k)
		if !ok {
			// A field the table does not know (a reader schema with fewer
			// columns): kept as goavro decoded it.
			r[k] = unwrap(x)
			continue
		}
		v, err := col.fromAvro(unwrap(x))
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		r[k] = v
	}
	return r, nil
}

func unwrapStrings(v any) []string {
	v = unwrap(v)
	if v == nil {
		return nil
	}
	a := v.([]any)
	out := make([]string, len(a))
	for i, s := range a {
		out[i] = s.(string)
	}
	return out
}

// ValueEqual reports whether two column values are the same value.
// NaN equals NaN (a row whose float is NaN did not change); arrays are
// equal when their elements are.
func ValueEqual(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !ValueEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case *big.Rat:
		y, ok := b.(*big.Rat)
		return ok && x.Cmp(y) == 0
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (math.IsNaN(x) && math.IsNaN(y)))
	case float32:
		y, ok := b.(float32)
		return ok && (x == y || (x != x && y != y))
	}
	return reflect.DeepEqual(a, b)
}

// ChangedFields returns, in table order, the fields whose values differ
// between before and after.
func ChangedFields(t *Table, before, after Row) []string {
	var out []string
	for _, c := range t.Columns {
		if !ValueEqual(before[c.Field], after[c.Field]) {
			out = append(out, c.Field)
		}
	}
	return out
}

// Clone returns a shallow copy of r.
func (r Row) Clone() Row {
	if r == nil {
		return nil
	}
	out := make(Row, len(r))
	for k, v := range r {
		out[k] = v
	}
	return out
}

// Has reports whether s contains f.
func Has(s []string, f string) bool { return slices.Contains(s, f) }

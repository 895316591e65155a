package webhook

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"syncline/schemas"
)

// appendEvent appends the JSON of one change: its id, table, op,
// position, committed_at, key, before and after.
func appendEvent(b []byte, id string, ch *schemas.Change) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"table":`...)
	b = appendString(b, ch.Table.ID())
	b = append(b, `,"op":`...)
	b = appendString(b, string(ch.Op))
	b = append(b, `,"position":`...)
	b = appendString(b, ch.Source.Position)
	b = append(b, `,"committed_at":`...)
	if ch.Source.CommitMs > 0 {
		b = appendString(b, time.UnixMilli(ch.Source.CommitMs).UTC().Format(time.RFC3339Nano))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"key":`...)
	b = appendRow(b, ch.Table, ch.Key, true)
	b = append(b, `,"before":`...)
	b = appendRow(b, ch.Table, ch.Before, false)
	b = append(b, `,"after":`...)
	b = appendRow(b, ch.Table, ch.After, false)
	return append(b, '}')
}

// appendRow writes a row as an object keyed by column name, in the table's
// column order; nil is null.
func appendRow(b []byte, t *schemas.Table, r schemas.Row, keyOnly bool) []byte {
	if r == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	n := 0
	for _, c := range t.Columns {
		if keyOnly && !c.Key {
			continue
		}
		v, ok := r[c.Field]
		if !ok {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendString(b, c.Name)
		b = append(b, ':')
		k := c.Kind
		if k == schemas.KindArray {
			k = c.ElemKind
		}
		b = appendValue(b, k, v)
	}
	return append(b, '}')
}

// appendValue renders one column value (see the package documentation).
func appendValue(b []byte, kind schemas.Kind, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case float32:
		return appendFloat(b, float64(x), 32)
	case float64:
		return appendFloat(b, x, 64)
	case *big.Rat:
		return appendString(b, ratString(x))
	case string:
		if kind == schemas.KindJSON && json.Valid([]byte(x)) {
			var buf bytes.Buffer
			if json.Compact(&buf, []byte(x)) == nil {
				return append(b, buf.Bytes()...)
			}
		}
		return appendString(b, x)
	case []byte:
		return appendString(b, base64.StdEncoding.EncodeToString(x))
	case time.Time:
		switch kind {
		case schemas.KindDate:
			return appendString(b, x.UTC().Format("2006-01-02"))
		case schemas.KindTimestamp:
			// A timestamp without time zone: the wall clock, no offset.
			return appendString(b, x.UTC().Format("2006-01-02T15:04:05.999999"))
		}
		return appendString(b, x.UTC().Format(time.RFC3339Nano))
	case time.Duration:
		return appendString(b, timeOfDay(x))
	case schemas.Infinity:
		if x == schemas.MinusInfinity {
			return appendString(b, "-infinity")
		}
		return appendString(b, "infinity")
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, kind, e)
		}
		return append(b, ']')
	}
	j, err := json.Marshal(v)
	if err != nil {
		return appendString(b, fmt.Sprint(v))
	}
	return append(b, j...)
}

func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return appendString(b, "NaN")
	case math.IsInf(f, 1):
		return appendString(b, "Infinity")
	case math.IsInf(f, -1):
		return appendString(b, "-Infinity")
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

// ratString prints a decimal exactly, without trailing zeros.
func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	// A decimal from Avro has a power-of-ten denominator: 30 digits cover
	// any scale Postgres numeric columns carry in practice.
	s := r.FloatString(30)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}

func timeOfDay(d time.Duration) string {
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	s := d / time.Second
	us := (d - s*time.Second) / time.Microsecond
	out := fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	if us > 0 {
		out += strings.TrimRight(fmt.Sprintf(".%06d", us), "0")
	}
	return out
}

func appendString(b []byte, s string) []byte {
	j, _ := json.Marshal(s)
	return append(b, j...)
}

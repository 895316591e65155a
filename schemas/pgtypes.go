package schemas

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Kind is how a column's values are represented in Avro and in Go.
type Kind string

// The kinds. The comment gives the Avro type and the Go value type.
const (
	KindBool        Kind = "bool"        // boolean; bool
	KindInt32       Kind = "int32"       // int; int32
	KindInt64       Kind = "int64"       // long; int64
	KindFloat32     Kind = "float32"     // float; float32 (NaN and ±Inf carried natively)
	KindFloat64     Kind = "float64"     // double; float64 (NaN and ±Inf carried natively)
	KindDecimal     Kind = "decimal"     // bytes decimal(precision, scale); *big.Rat
	KindString      Kind = "string"      // string; string (text form of any type without a native mapping)
	KindBytes       Kind = "bytes"       // bytes; []byte
	KindDate        Kind = "date"        // int date; time.Time (UTC midnight)
	KindTimestamp   Kind = "timestamp"   // long timestamp-micros; time.Time (UTC wall clock of a timestamp without time zone)
	KindTimestampTZ Kind = "timestamptz" // long timestamp-micros; time.Time (UTC instant)
	KindTime        Kind = "time"        // long time-micros; time.Duration since midnight
	KindUUID        Kind = "uuid"        // string uuid; string
	KindJSON        Kind = "json"        // string (io.debezium.data.Json); string
)

// Well-known Postgres type OIDs that have a native mapping.
const (
	oidBool        = 16
	oidBytea       = 17
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidXML         = 142
	oidFloat4      = 700
	oidFloat8      = 701
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestampTZ = 1184
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// KindForType returns the Kind used for a Postgres type given its OID and
// type modifier. Types without a native mapping are carried as their text
// form (KindString), which is lossless; see the README's type table.
// Constrained numerics map to Avro decimal; unconstrained numeric has no
// fixed scale and is carried as text.
func KindForType(oid uint32, typmod int32) Kind {
	switch oid {
	case oidBool:
		return KindBool
	case oidInt2, oidInt4:
		return KindInt32
	case oidInt8, oidOID:
		return KindInt64
	case oidFloat4:
		return KindFloat32
	case oidFloat8:
		return KindFloat64
	case oidNumeric:
		if typmod >= 4 {
			return KindDecimal
		}
		return KindString
	case oidBytea:
		return KindBytes
	case oidDate:
		return KindDate
	case oidTimestamp:
		return KindTimestamp
	case oidTimestampTZ:
		return KindTimestampTZ
	case oidTime:
		return KindTime
	case oidUUID:
		return KindUUID
	case oidJSON, oidJSONB, oidXML:
		return KindJSON
	default:
		return KindString
	}
}

// NumericPrecisionScale decodes a numeric type modifier.
func NumericPrecisionScale(typmod int32) (precision, scale int) {
	if typmod < 4 {
		return 0, 0
	}
	m := typmod - 4
	return int((m >> 16) & 0xffff), int(int16(m & 0xffff))
}

// avroType returns the Avro type (as a JSON-able value) of a column.
func (c Column) avroType() any {
	switch c.Kind {
	case KindBool:
		return "boolean"
	case KindInt32:
		return "int"
	case KindInt64:
		return "long"
	case KindFloat32:
		return "float"
	case KindFloat64:
		return "double"
	case KindDecimal:
		return map[string]any{"type": "bytes", "logicalType": "decimal", "precision": c.Precision, "scale": c.Scale}
	case KindBytes:
		return "bytes"
	case KindDate:
		return map[string]any{"type": "int", "logicalType": "date"}
	case KindTimestamp, KindTimestampTZ:
		return map[string]any{"type": "long", "logicalType": "timestamp-micros"}
	case KindTime:
		return map[string]any{"type": "long", "logicalType": "time-micros"}
	case KindUUID:
		return map[string]any{"type": "string", "logicalType": "uuid"}
	case KindJSON:
		return map[string]any{"type": "string", "connect.name": "io.debezium.data.Json"}
	default:
		return "string"
	}
}

// ErrUnrepresentable is wrapped by ParseText when a value cannot be carried by
// its column's Avro type (numeric NaN in a decimal column, infinite dates).
var ErrUnrepresentable = fmt.Errorf("value not representable in the column's Avro type")

// ParseText converts a Postgres text-format value of column c into its Go
// value (see Kind).
func ParseText(c Column, s string) (any, error) {
	switch c.Kind {
	case KindBool:
		switch s {
		case "t", "true":
			return true, nil
		case "f", "false":
			return false, nil
		}
		return nil, fmt.Errorf("column %q: bad bool %q", c.Name, s)
	case KindInt32:
		v, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		return int32(v), nil
	case KindInt64:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			// oid is unsigned 32-bit; it fits int64.
			u, uerr := strconv.ParseUint(s, 10, 64)
			if uerr != nil || u > math.MaxInt64 {
				return nil, fmt.Errorf("column %q: %w", c.Name, err)
			}
			v = int64(u)
		}
		return v, nil
	case KindFloat32:
		f, err := parseFloat(s, 32)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		return float32(f), nil
	case KindFloat64:
		f, err := parseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		return f, nil
	case KindDecimal:
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return nil, fmt.Errorf("column %q: numeric %q: %w", c.Name, s, ErrUnrepresentable)
		}
		return r, nil
	case KindBytes:
		if !strings.HasPrefix(s, `\x`) {
			return nil, fmt.Errorf("column %q: bytea not in hex format", c.Name)
		}
		b, err := hex.DecodeString(s[2:])
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		return b, nil
	case KindDate:
		t, err := parsePGTime(s, "2006-01-02")
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		return t, nil
	case KindTimestamp:
		t, err := parsePGTime(s, "2006-01-02 15:04:05.999999")
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		return t, nil
	case KindTimestampTZ:
		t, err := parsePGTime(s, "2006-01-02 15:04:05.999999Z07")
		if err != nil {
			t, err = parsePGTime(s, "2006-01-02 15:04:05.999999Z07:00")
		}
		if err != nil {
			t, err = parsePGTime(s, "2006-01-02 15:04:05.999999Z07:00:00")
		}
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		return t.UTC(), nil
	case KindTime:
		t, err := time.Parse("15:04:05.999999", s)
		if err != nil {
			if s == "24:00:00" {
				return 24 * time.Hour, nil
			}
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
			time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()), nil
	default:
		return s, nil
	}
}

func parseFloat(s string, bits int) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, bits)
}

// parsePGTime parses Postgres' ISO date/time output, including BC dates.
// infinity cannot be carried by Avro's logical types.
func parsePGTime(s, layout string) (time.Time, error) {
	if s == "infinity" || s == "-infinity" {
		return time.Time{}, fmt.Errorf("%q: %w", s, ErrUnrepresentable)
	}
	bc := strings.HasSuffix(s, " BC")
	if bc {
		s = strings.TrimSuffix(s, " BC")
	}
	// Years past 9999 have more than four digits; time.Parse wants four.
	extra := 0
	if i := strings.IndexByte(s, '-'); i > 4 {
		y, err := strconv.Atoi(s[:i])
		if err != nil {
			return time.Time{}, err
		}
		extra = y - 2000
		s = "2000" + s[i:]
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, err
	}
	if extra != 0 {
		t = t.AddDate(extra, 0, 0)
	}
	if bc {
		// 1 BC is year 0 in the proleptic Gregorian calendar Go uses.
		t = t.AddDate(1-2*t.Year(), 0, 0)
	}
	return t, nil
}

// FormatText renders a Go value of column c in a form Postgres accepts as
// input for the column's type. It is the inverse of ParseText.
func FormatText(c Column, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", fmt.Errorf("column %q: FormatText of NULL", c.Name)
	case bool:
		if x {
			return "t", nil
		}
		return "f", nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int:
		return strconv.Itoa(x), nil
	case float32:
		return formatFloat(float64(x), 32), nil
	case float64:
		return formatFloat(x, 64), nil
	case *big.Rat:
		return x.FloatString(c.Scale), nil
	case []byte:
		return `\x` + hex.EncodeToString(x), nil
	case time.Duration:
		h := x / time.Hour
		m := (x % time.Hour) / time.Minute
		s := (x % time.Minute) / time.Second
		us := (x % time.Second) / time.Microsecond
		return fmt.Sprintf("%02d:%02d:%02d.%06d", h, m, s, us), nil
	case time.Time:
		x = x.UTC()
		y := x.Year()
		suffix := ""
		if y <= 0 {
			suffix = " BC"
			x = x.AddDate(1-2*y, 0, 0)
		}
		var out string
		switch c.Kind {
		case KindDate:
			out = x.Format("2006-01-02")
		case KindTimestampTZ:
			out = x.Format("2006-01-02 15:04:05.999999") + "+00"
		default:
			out = x.Format("2006-01-02 15:04:05.999999")
		}
		return out + suffix, nil
	case string:
		return x, nil
	default:
		return "", fmt.Errorf("column %q: unsupported Go type %T", c.Name, v)
	}
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

package entities

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"syncline/schemas"
)

// valueText is the text of a value as the entity topic and people see it:
// exact decimals, RFC 3339 times, JSON arrays.
func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case *big.Rat:
		return ratText(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case time.Duration:
		return x.String()
	case []byte:
		return string(x)
	case []any:
		b, _ := json.Marshal(jsonValue(x))
		return string(b)
	}
	return fmt.Sprint(v)
}

// ratText is r as an exact decimal when it has one (a numeric column's
// value always does), else as a fraction.
func ratText(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	for prec := 1; prec <= 40; prec++ {
		s := r.FloatString(prec)
		if back, ok := new(big.Rat).SetString(s); ok && back.Cmp(r) == 0 {
			return s
		}
	}
	return r.RatString()
}

// jsonValue maps a value to what encoding/json writes faithfully.
func jsonValue(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int32, int64, int, float64:
		return v
	case float32:
		return float64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	}
	return valueText(v)
}

// convert gives v the Go type of kind (the field's declared type); the
// error says why it cannot.
func convert(kind schemas.Kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch kind {
	case schemas.KindString:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return valueText(v), nil
	case schemas.KindJSON:
		if s, ok := v.(string); ok {
			if !json.Valid([]byte(s)) {
				b, _ := json.Marshal(s)
				return string(b), nil
			}
			return s, nil
		}
		b, err := json.Marshal(jsonValue(v))
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case schemas.KindInt64:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int32:
			return int64(x), nil
		case int:
			return int64(x), nil
		case float64:
			if x == float64(int64(x)) {
				return int64(x), nil
			}
		case *big.Rat:
			if x.IsInt() && x.Num().IsInt64() {
				return x.Num().Int64(), nil
			}
		case string:
			if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return i, nil
			}
		}
	case schemas.KindFloat64:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case int32:
			return float64(x), nil
		case int:
			return float64(x), nil
		case *big.Rat:
			f, _ := x.Float64()
			return f, nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, nil
			}
		}
	case schemas.KindNumeric:
		// Carried as *big.Rat, so policies compare and sum numbers
		// (min, max, sum, anomaly); written as exact decimal text.
		switch x := v.(type) {
		case *big.Rat:
			return x, nil
		case int64:
			return new(big.Rat).SetInt64(x), nil
		case int32:
			return new(big.Rat).SetInt64(int64(x)), nil
		case int:
			return new(big.Rat).SetInt64(int64(x)), nil
		case float64:
			if r, ok := new(big.Rat).SetString(strconv.FormatFloat(x, 'g', -1, 64)); ok {
				return r, nil
			}
		case float32:
			if r, ok := new(big.Rat).SetString(strconv.FormatFloat(float64(x), 'g', -1, 32)); ok {
				return r, nil
			}
		case string:
			if r, ok := new(big.Rat).SetString(strings.TrimSpace(x)); ok {
				return r, nil
			}
		}
	case schemas.KindBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "t", "yes", "1":
				return true, nil
			case "false", "f", "no", "0":
				return false, nil
			}
		case int64:
			if x == 0 || x == 1 {
				return x == 1, nil
			}
		}
	case schemas.KindTimestampTZ:
		t, err := toTime(v)
		if err != nil {
			return nil, err
		}
		// Microseconds, as the entity topic's timestamps carry them.
		t = t.Truncate(time.Microsecond)
		if t.Year() < 1 || t.Year() > 9999 {
			return nil, fmt.Errorf("timestamp %s is out of range", t.Format(time.RFC3339))
		}
		return t, nil
	default:
		return nil, fmt.Errorf("unsupported field type %s", kind)
	}
	return nil, fmt.Errorf("%s %q is not a %s", typeName(v), valueText(v), kind)
}

func toTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		s := strings.TrimSpace(x)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil
			}
		}
	case int64:
		// Epoch milliseconds, as SaaS APIs write them.
		return time.UnixMilli(x).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%s %q is not a timestamp", typeName(v), valueText(v))
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "text"
	case int32, int64, int:
		return "integer"
	case float32, float64:
		return "number"
	case *big.Rat:
		return "decimal"
	case bool:
		return "boolean"
	case time.Time:
		return "timestamp"
	}
	return fmt.Sprintf("%T", v)
}

// keyText renders a source record's key: the key column's value, or the
// key columns' values in table order as a JSON array.
func keyText(t *schemas.Table, key schemas.Row) string {
	cols := t.KeyColumns()
	if len(cols) == 1 {
		return valueText(key[cols[0].Field])
	}
	// Several columns: a JSON array, so ("a,b", "c") and ("a", "b,c")
	// stay two keys.
	parts := make([]any, len(cols))
	for i, c := range cols {
		if v := key[c.Field]; v != nil {
			parts[i] = valueText(v)
		}
	}
	b, _ := json.Marshal(parts)
	return string(b)
}

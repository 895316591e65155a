package schemas

import (
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/linkedin/goavro/v2"
)

// firstMember is memberName(c.avroMembers()[0]) without building the
// members: goavro's name of the member most values of c are carried by.
func (c Column) firstMember() string {
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
	case KindDecimal, KindMoney:
		return "bytes.decimal"
	case KindBytes:
		return "bytes"
	case KindDate:
		return "int.date"
	case KindTimestamp, KindTimestampTZ:
		return "long.timestamp-micros"
	case KindTime:
		return "long.time-micros"
	case KindArray:
		return "array"
	}
	return "string"
}

// toAvro converts a Go value of column c (see Kind) into goavro's native
// form and names the union member that carries it. It refuses values that
// would not decode to an equal value.
func (c Column) toAvro(v any) (member string, native any, err error) {
	first := c.firstMember()
	wrong := func() (string, any, error) {
		return "", nil, fmt.Errorf("%s column %q: unsupported Go value %T", c.Kind, c.Name, v)
	}
	switch c.Kind {
	case KindBool:
		if _, ok := v.(bool); !ok {
			return wrong()
		}
		return first, v, nil
	case KindInt32:
		if _, ok := v.(int32); !ok {
			return wrong()
		}
		return first, v, nil
	case KindInt64:
		if _, ok := v.(int64); !ok {
			return wrong()
		}
		return first, v, nil
	case KindFloat32:
		if _, ok := v.(float32); !ok {
			return wrong()
		}
		return first, v, nil
	case KindFloat64:
		if _, ok := v.(float64); !ok {
			return wrong()
		}
		return first, v, nil
	case KindDecimal:
		switch x := v.(type) {
		case *big.Rat:
			if x == nil {
				return wrong()
			}
			if err := checkDecimal(x, c.Precision, c.Scale); err != nil {
				return "", nil, fmt.Errorf("decimal(%d,%d) column %q: %w", c.Precision, c.Scale, c.Name, err)
			}
			return first, x, nil
		case string:
			if !isSpecialNumeric(x) {
				return "", nil, fmt.Errorf("decimal column %q: string value %q, want NaN, Infinity or -Infinity", c.Name, trunc(x))
			}
			return "string", x, nil
		}
		return wrong()
	case KindMoney:
		x, ok := v.(*big.Rat)
		if !ok || x == nil {
			return wrong()
		}
		if err := checkMoney(x); err != nil {
			return "", nil, fmt.Errorf("money column %q: %w", c.Name, err)
		}
		return first, x, nil
	case KindNumeric:
		x, ok := v.(string)
		if !ok {
			return wrong()
		}
		if !isSpecialNumeric(x) && !isPlainNumber(x) {
			return "", nil, fmt.Errorf("numeric column %q: bad numeric %q", c.Name, trunc(x))
		}
		return first, x, nil
	case KindBytes:
		if _, ok := v.([]byte); !ok {
			return wrong()
		}
		return first, v, nil
	case KindDate:
		switch x := v.(type) {
		case Infinity:
			return infinityNative[int32](c, first, x, dateInfinity, dateMinusInf)
		case time.Time:
			d, err := dateDays(x)
			if err != nil {
				return "", nil, fmt.Errorf("date column %q: %w", c.Name, err)
			}
			return first, d, nil
		}
		return wrong()
	case KindTimestamp, KindTimestampTZ:
		switch x := v.(type) {
		case Infinity:
			return infinityNative[int64](c, first, x, microsInfinity, microsMinusInf)
		case time.Time:
			us, err := timestampMicros(x)
			if err != nil {
				return "", nil, fmt.Errorf("%s column %q: %w", c.Kind, c.Name, err)
			}
			return first, us, nil
		}
		return wrong()
	case KindTime:
		x, ok := v.(time.Duration)
		if !ok {
			return wrong()
		}
		if x < 0 || x > 24*time.Hour || x%time.Microsecond != 0 {
			return "", nil, fmt.Errorf("time column %q: %v is not a time of day in microseconds", c.Name, x)
		}
		return first, int64(x / time.Microsecond), nil
	case KindArray:
		switch x := v.(type) {
		case string:
			return "string", x, nil
		case []any:
			e := c.Elem()
			if e.Kind == KindArray || e.Kind == "" {
				e.Kind = KindString
			}
			out := make([]any, len(x))
			for i, el := range x {
				if el == nil {
					continue
				}
				m, n, err := e.toAvro(el)
				if err != nil {
					return "", nil, fmt.Errorf("array column %q element %d: %w", c.Name, i+1, err)
				}
				out[i] = goavro.Union(m, n)
			}
			return first, out, nil
		}
		return wrong()
	default: // the string kinds
		if _, ok := v.(string); !ok {
			return wrong()
		}
		return first, v, nil
	}
}

func infinityNative[T int32 | int64](c Column, member string, x Infinity, plus, minus T) (string, any, error) {
	switch x {
	case PlusInfinity:
		return member, plus, nil
	case MinusInfinity:
		return member, minus, nil
	}
	return "", nil, fmt.Errorf("%s column %q: bad %v", c.Kind, c.Name, x)
}

// fromAvro converts a value goavro decoded (union wrapper removed) into the
// Go value of column c.
func (c Column) fromAvro(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.Kind {
	case KindDate:
		t, ok := v.(time.Time)
		if !ok {
			break
		}
		switch t.Unix() / 86400 {
		case dateInfinity:
			return PlusInfinity, nil
		case dateMinusInf:
			return MinusInfinity, nil
		}
		return t, nil
	case KindTimestamp, KindTimestampTZ:
		t, ok := v.(time.Time)
		if !ok {
			break
		}
		// Wrapping arithmetic: exact whenever the true value fits.
		switch t.Unix()*microsPerSecond + int64(t.Nanosecond()/1000) {
		case math.MaxInt64:
			return PlusInfinity, nil
		case math.MinInt64:
			return MinusInfinity, nil
		}
		return t, nil
	case KindArray:
		a, ok := v.([]any)
		if !ok {
			break
		}
		e := c.Elem()
		out := make([]any, len(a))
		for i, x := range a {
			y, err := e.fromAvro(unwrap(x))
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i+1, err)
			}
			out[i] = y
		}
		return out, nil
	}
	return v, nil
}

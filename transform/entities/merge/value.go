package merge

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"
	"time"

	"syncline/schemas"
)

// normValue checks that v is a value the state can carry and returns it in
// its canonical Go type (int becomes int64).
func normValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, int32, int64, float32, float64, string, time.Time, time.Duration:
		return v, nil
	case int:
		return int64(x), nil
	case *big.Rat:
		if x == nil {
			return nil, nil
		}
		return v, nil
	case []byte:
		return v, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			if _, nested := e.([]any); nested {
				return nil, fmt.Errorf("element %d: nested arrays are not supported", i)
			}
			n, err := normValue(e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

func equal(a, b any) bool { return schemas.ValueEqual(a, b) }

// typeRank orders the Go types of values: null < bool < int32 < int64 <
// float32 < float64 < *big.Rat < string < time < duration < bytes < array.
func typeRank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case bool:
		return 1
	case int32:
		return 2
	case int64:
		return 3
	case float32:
		return 4
	case float64:
		return 5
	case *big.Rat:
		return 6
	case string:
		return 7
	case time.Time:
		return 8
	case time.Duration:
		return 9
	case []byte:
		return 10
	case []any:
		return 11
	}
	return 12
}

// kindRank is typeRank with the numeric types as one kind (2).
func kindRank(v any) int {
	if r := typeRank(v); r < 2 || r > 6 {
		return r
	}
	return 2
}

// compareValues is a total order over the values normValue accepts;
// numbers of different Go types compare by value (NaN after every other
// number; equal values of different types ordered by type).
func compareValues(a, b any) int {
	ra, rb := kindRank(a), kindRank(b)
	if ra != rb {
		return cmpInt(ra, rb)
	}
	switch x := a.(type) {
	case nil:
		return 0
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case int32, int64, float32, float64, *big.Rat:
		if c := compareNumbers(a, b); c != 0 {
			return c
		}
		return cmpInt(typeRank(a), typeRank(b))
	case string:
		return strings.Compare(x, b.(string))
	case time.Time:
		return x.Compare(b.(time.Time))
	case time.Duration:
		return cmpInt(int64(x), int64(b.(time.Duration)))
	case []byte:
		return bytes.Compare(x, b.([]byte))
	case []any:
		y := b.([]any)
		for i := 0; i < len(x) && i < len(y); i++ {
			if c := compareValues(x[i], y[i]); c != 0 {
				return c
			}
		}
		return cmpInt(len(x), len(y))
	}
	return strings.Compare(fmt.Sprintf("%T%v", a, a), fmt.Sprintf("%T%v", b, b))
}

func cmpInt[T int | int64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isNumber(v any) bool { return kindRank(v) == 2 }

// toFloat returns v as a float64 (numbers only).
func toFloat(v any) float64 {
	switch x := v.(type) {
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case float32:
		return float64(x)
	case float64:
		return x
	case *big.Rat:
		f, _ := x.Float64()
		return f
	}
	return math.NaN()
}

// toRat returns v exactly as a rational; false for NaN and infinities.
func toRat(v any) (*big.Rat, bool) {
	switch x := v.(type) {
	case int32:
		return new(big.Rat).SetInt64(int64(x)), true
	case int64:
		return new(big.Rat).SetInt64(x), true
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(float64(x)), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(x), true
	case *big.Rat:
		return x, true
	}
	return nil, false
}

func compareNumbers(a, b any) int {
	ra, oka := toRat(a)
	rb, okb := toRat(b)
	if oka && okb {
		return ra.Cmp(rb)
	}
	fa, fb := toFloat(a), toFloat(b)
	na, nb := math.IsNaN(fa), math.IsNaN(fb)
	switch {
	case na && nb:
		return 0
	case na:
		return 1
	case nb:
		return -1
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}

// sumValues adds numbers: int64 when all are integers (a *big.Rat when
// that overflows), float64 when any is a float, else a *big.Rat. The
// values are added in the order given; callers sort them first so the
// float sum does not depend on arrival order.
func sumValues(vs []any) any {
	if len(vs) == 0 {
		return nil
	}
	anyFloat, anyRat := false, false
	for _, v := range vs {
		switch v.(type) {
		case float32, float64:
			anyFloat = true
		case *big.Rat:
			anyRat = true
		}
	}
	if anyFloat {
		var s float64
		for _, v := range vs {
			s += toFloat(v)
		}
		return s
	}
	if !anyRat {
		var s int64
		overflow := false
		for _, v := range vs {
			x := int64(0)
			switch n := v.(type) {
			case int32:
				x = int64(n)
			case int64:
				x = n
			}
			t := s + x
			if (x > 0 && t < s) || (x < 0 && t > s) {
				overflow = true
				break
			}
			s = t
		}
		if !overflow {
			return s
		}
	}
	s := new(big.Rat)
	for _, v := range vs {
		r, _ := toRat(v)
		s.Add(s, r)
	}
	return s
}

// union returns the sorted distinct elements of vs (an array contributes
// its elements); nil when there are none.
func union(vs []any) any {
	var all []any
	for _, v := range vs {
		if a, ok := v.([]any); ok {
			for _, e := range a {
				if e != nil {
					all = append(all, e)
				}
			}
		} else if v != nil {
			all = append(all, v)
		}
	}
	if len(all) == 0 {
		return nil
	}
	sort.SliceStable(all, func(i, j int) bool { return compareValues(all[i], all[j]) < 0 })
	out := all[:1]
	for _, e := range all[1:] {
		if compareValues(e, out[len(out)-1]) != 0 {
			out = append(out, e)
		}
	}
	return out
}

// anomalous reports whether a move from a to b exceeds factor (both
// numbers), with the ratio it found.
func anomalous(a, b any, factor float64) (bool, string) {
	if !isNumber(a) || !isNumber(b) {
		return false, ""
	}
	fa, fb := toFloat(a), toFloat(b)
	if math.IsNaN(fa) || math.IsNaN(fb) {
		return fa != fb && !(math.IsNaN(fa) && math.IsNaN(fb)), "to or from NaN"
	}
	if (fa < 0) != (fb < 0) && fa != 0 && fb != 0 {
		return true, "sign changed"
	}
	lo, hi := math.Abs(fa), math.Abs(fb)
	if lo > hi {
		lo, hi = hi, lo
	}
	if lo == 0 {
		return hi != 0, "from or to zero"
	}
	r := hi / lo
	return r > factor, fmt.Sprintf("moved by a factor of %.4g", r)
}

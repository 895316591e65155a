package merge

import (
	"math"
	"math/big"
	"testing"
	"time"

	"syncline/schemas"
)

func TestSumValues(t *testing.T) {
	huge := big.NewRat(math.MaxInt64, 1)
	huge.Add(huge, big.NewRat(math.MaxInt64, 1))
	tests := []struct {
		name string
		in   []any
		want any
	}{
		{"integers give an int64", []any{int32(2), int64(3)}, int64(5)},
		{"an overflowing integer sum gives an exact rational", []any{int64(math.MaxInt64), int64(math.MaxInt64)}, huge},
		{"a negative overflow too", []any{int64(math.MinInt64), int64(-1)}, new(big.Rat).Sub(big.NewRat(math.MinInt64, 1), big.NewRat(1, 1))},
		{"a float makes the sum a float", []any{int64(1), float32(0.5)}, float64(1.5)},
		{"rationals stay exact", []any{big.NewRat(1, 3), int64(1)}, big.NewRat(4, 3)},
		{"nothing sums to null", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sumValues(tt.in); !schemas.ValueEqual(got, tt.want) {
				t.Fatalf("sum %v = %v (%T), want %v (%T)", tt.in, got, got, tt.want, tt.want)
			}
		})
	}
}

func TestCompareValuesIsATotalOrder(t *testing.T) {
	ts := time.Unix(10, 0).UTC()
	// In ascending order.
	vals := []any{nil, false, true, int64(-3), int32(1), int64(1), float32(1), float64(1.5), big.NewRat(7, 4),
		math.Inf(1), math.NaN(), "", "a", "b", ts, ts.Add(time.Second), time.Second, []byte{0}, []byte{1}, []any{"a"}, []any{"a", nil}}
	for i, a := range vals {
		for j, b := range vals {
			got := compareValues(a, b)
			want := cmpInt(i, j)
			if got != want {
				t.Errorf("compare(%v (%T), %v (%T)) = %d, want %d", a, a, b, b, got, want)
			}
		}
	}
}

func TestUnionIsSortedAndDistinct(t *testing.T) {
	got := union([]any{[]any{"b", int64(1), nil}, "a", int64(1), []any{}, nil, int32(1)})
	want := []any{int32(1), int64(1), "a", "b"}
	if !schemas.ValueEqual(got, want) {
		t.Fatalf("union %v, want %v", got, want)
	}
	if union([]any{nil, []any{nil}}) != nil {
		t.Fatal("union of nulls is not null")
	}
}

package schemas

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Kind is how a column's values are represented in Avro and in Go.
type Kind string

// The kinds. The comment gives the Avro type and the Go value type; the
// README's type table says which Postgres types map to which kind.
const (
	KindBool        Kind = "bool"        // boolean; bool
	KindInt32       Kind = "int32"       // int; int32
	KindInt64       Kind = "int64"       // long; int64
	KindFloat32     Kind = "float32"     // float; float32 (NaN and ±Inf carried natively)
	KindFloat64     Kind = "float64"     // double; float64 (NaN and ±Inf carried natively)
	KindDecimal     Kind = "decimal"     // union of bytes decimal(precision, scale) and string; *big.Rat, or string "NaN", "Infinity", "-Infinity"
	KindNumeric     Kind = "numeric"     // string; string: numeric as Postgres prints it (unconstrained numeric, or a scale Avro decimal cannot express)
	KindMoney       Kind = "money"       // bytes decimal(19, 2); *big.Rat
	KindString      Kind = "string"      // string; string (text form of any type without a native mapping)
	KindBytes       Kind = "bytes"       // bytes; []byte
	KindDate        Kind = "date"        // int date; time.Time (UTC midnight) or Infinity (math.MaxInt32/MinInt32 days)
	KindTimestamp   Kind = "timestamp"   // long timestamp-micros; time.Time (UTC wall clock of a timestamp without time zone) or Infinity (math.MaxInt64/MinInt64)
	KindTimestampTZ Kind = "timestamptz" // long timestamp-micros; time.Time (UTC instant) or Infinity (math.MaxInt64/MinInt64)
	KindTime        Kind = "time"        // long time-micros; time.Duration since midnight
	KindInterval    Kind = "interval"    // string (io.debezium.time.Interval); string: ISO 8601 as Postgres prints it with IntervalStyle=iso_8601
	KindUUID        Kind = "uuid"        // string uuid; string
	KindJSON        Kind = "json"        // string (io.debezium.data.Json); string
	KindXML         Kind = "xml"         // string (io.debezium.data.Xml); string
	// KindArray is a union of an Avro array of nullable elements of the
	// column's ElemKind and a string. A one-dimensional array with lower
	// bound 1 is a []any of element values (nil for NULL); any other array
	// (several dimensions, explicit bounds, or an element the element kind
	// cannot carry) is a string holding Postgres' array literal.
	KindArray Kind = "array"
)

// Infinity is the value of a date or timestamp column holding Postgres'
// 'infinity' (PlusInfinity) or '-infinity' (MinusInfinity). In Avro it is
// the extreme of the logical type's underlying int or long, as in Debezium.
type Infinity int

// The two infinities.
const (
	PlusInfinity  Infinity = 1
	MinusInfinity Infinity = -1
)

func (i Infinity) String() string {
	switch i {
	case PlusInfinity:
		return "infinity"
	case MinusInfinity:
		return "-infinity"
	}
	return fmt.Sprintf("Infinity(%d)", int(i))
}

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
	oidMoney       = 790
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestampTZ = 1184
	oidInterval    = 1186
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// Money is carried as decimal(moneyPrecision, moneyScale): Postgres' money
// is a 64-bit count of cents.
const (
	moneyPrecision = 19
	moneyScale     = 2
)

// KindForType returns the Kind used for a scalar Postgres type given its OID
// (domains resolved to their base type) and type modifier. Types without a
// native mapping are carried as their text form (KindString), which is
// lossless; see the README's type table. Constrained numerics map to Avro
// decimal; unconstrained numeric, and numeric(p,s) with a negative scale or
// one above the precision (which Avro decimal cannot express), are carried
// as text (KindNumeric). Arrays are described by Column.SetType.
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
		if p, s := NumericPrecisionScale(typmod); typmod >= 4 && p >= 1 && s >= 0 && s <= p {
			return KindDecimal
		}
		return KindNumeric
	case oidMoney:
		return KindMoney
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
	case oidInterval:
		return KindInterval
	case oidUUID:
		return KindUUID
	case oidJSON, oidJSONB:
		return KindJSON
	case oidXML:
		return KindXML
	default:
		return KindString
	}
}

// SetType sets c's Kind, ElemKind, Precision and Scale for a column of
// Postgres type oid with modifier typmod, both with domains resolved to
// their base type. elem is the element type of an array type (its domains
// resolved too, elemTypmod its modifier), 0 for any other type; delim is
// the element type's array delimiter. Arrays whose delimiter is not a comma
// (box[]) are carried as text.
func (c *Column) SetType(oid uint32, typmod int32, elem uint32, elemTypmod int32, delim byte) {
	c.Kind, c.ElemKind, c.Precision, c.Scale = KindForType(oid, typmod), "", 0, 0
	if elem != 0 {
		if delim != ',' {
			c.Kind = KindString
			return
		}
		c.Kind, c.ElemKind, typmod = KindArray, KindForType(elem, elemTypmod), elemTypmod
	}
	switch c.kindOfValues() {
	case KindDecimal:
		c.Precision, c.Scale = NumericPrecisionScale(typmod)
	case KindMoney:
		c.Precision, c.Scale = moneyPrecision, moneyScale
	}
}

// kindOfValues is the kind of the column's scalar values: its elements'
// kind for an array.
func (c Column) kindOfValues() Kind {
	if c.Kind == KindArray {
		return c.ElemKind
	}
	return c.Kind
}

// Elem is the column describing an array column's elements.
func (c Column) Elem() Column {
	e := c
	e.Kind, e.ElemKind, e.Key = c.ElemKind, "", false
	return e
}

// NumericPrecisionScale decodes a numeric type modifier.
func NumericPrecisionScale(typmod int32) (precision, scale int) {
	if typmod < 4 {
		return 0, 0
	}
	m := typmod - 4
	return int((m >> 16) & 0xffff), int(int16(m & 0xffff))
}

// avroMembers returns the column's Avro type as the list of its non-null
// union members (JSON-able values), most with a single member.
func (c Column) avroMembers() []any {
	switch c.Kind {
	case KindBool:
		return []any{"boolean"}
	case KindInt32:
		return []any{"int"}
	case KindInt64:
		return []any{"long"}
	case KindFloat32:
		return []any{"float"}
	case KindFloat64:
		return []any{"double"}
	case KindDecimal:
		// The string member carries NaN, Infinity and -Infinity.
		return []any{decimalType(c.Precision, c.Scale), "string"}
	case KindMoney:
		return []any{decimalType(moneyPrecision, moneyScale)}
	case KindBytes:
		return []any{"bytes"}
	case KindDate:
		return []any{map[string]any{"type": "int", "logicalType": "date"}}
	case KindTimestamp, KindTimestampTZ:
		return []any{map[string]any{"type": "long", "logicalType": "timestamp-micros"}}
	case KindTime:
		return []any{map[string]any{"type": "long", "logicalType": "time-micros"}}
	case KindUUID:
		return []any{map[string]any{"type": "string", "logicalType": "uuid"}}
	case KindJSON:
		return []any{map[string]any{"type": "string", "connect.name": "io.debezium.data.Json"}}
	case KindXML:
		return []any{map[string]any{"type": "string", "connect.name": "io.debezium.data.Xml"}}
	case KindInterval:
		return []any{map[string]any{"type": "string", "connect.name": "io.debezium.time.Interval"}}
	case KindArray:
		e := c.Elem()
		if e.Kind == KindArray || e.Kind == "" {
			e.Kind = KindString
		}
		items := append([]any{"null"}, e.avroMembers()...)
		return []any{map[string]any{"type": "array", "items": items}, "string"}
	default:
		return []any{"string"}
	}
}

func decimalType(precision, scale int) map[string]any {
	return map[string]any{"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}
}

// avroType returns the Avro type (as a JSON-able value) of a non-null
// column: its single member, or a union of its members.
func (c Column) avroType() any {
	m := c.avroMembers()
	if len(m) == 1 {
		return m[0]
	}
	return m
}

// memberName is goavro's name of a union member: the primitive type,
// "array", or "type.logicalType" for the logical types goavro implements.
func memberName(t any) string {
	switch t := t.(type) {
	case string:
		return t
	case map[string]any:
		typ, _ := t["type"].(string)
		lt, _ := t["logicalType"].(string)
		if lt == "" || lt == "uuid" {
			return typ
		}
		return typ + "." + lt
	}
	return "string"
}

// ErrUnrepresentable is wrapped by ParseText when a value cannot be carried
// by its column's Avro type: a timestamp past 294247-01-10 04:00:54.775806
// UTC, which timestamp-micros (microseconds since 1970 in a long) cannot
// hold although Postgres can.
var ErrUnrepresentable = fmt.Errorf("value not representable in the column's Avro type")

// ParseText converts a Postgres text-format value of column c into its Go
// value (see Kind). Errors name the column.
func ParseText(c Column, s string) (any, error) {
	v, err := parseText(c, s)
	if err != nil {
		return nil, fmt.Errorf("column %q (%s): %w", c.Name, c.Kind, err)
	}
	return v, nil
}

func parseText(c Column, s string) (any, error) {
	switch c.Kind {
	case KindBool:
		switch s {
		case "t", "true":
			return true, nil
		case "f", "false":
			return false, nil
		}
		return nil, fmt.Errorf("bad bool %q", s)
	case KindInt32:
		v, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, err
		}
		return int32(v), nil
	case KindInt64:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			// oid is unsigned 32-bit; it fits int64.
			u, uerr := strconv.ParseUint(s, 10, 64)
			if uerr != nil || u > math.MaxInt64 {
				return nil, err
			}
			v = int64(u)
		}
		return v, nil
	case KindFloat32:
		f, err := parseFloat(s, 32)
		if err != nil {
			return nil, err
		}
		return float32(f), nil
	case KindFloat64:
		f, err := parseFloat(s, 64)
		if err != nil {
			return nil, err
		}
		return f, nil
	case KindDecimal:
		if isSpecialNumeric(s) {
			return s, nil
		}
		return parseDecimal(s, c.Precision, c.Scale)
	case KindMoney:
		return parseMoney(s)
	case KindNumeric:
		if !isSpecialNumeric(s) && !isPlainNumber(s) {
			return nil, fmt.Errorf("bad numeric %q", s)
		}
		return s, nil
	case KindBytes:
		if !strings.HasPrefix(s, `\x`) {
			return nil, fmt.Errorf("bytea not in hex format")
		}
		return hex.DecodeString(s[2:])
	case KindDate:
		if inf, ok := parseInfinity(s); ok {
			return inf, nil
		}
		t, err := parsePGTime(s, "2006-01-02")
		if err != nil {
			return nil, err
		}
		if _, err := dateDays(t); err != nil {
			return nil, err
		}
		return t, nil
	case KindTimestamp, KindTimestampTZ:
		if inf, ok := parseInfinity(s); ok {
			return inf, nil
		}
		var t time.Time
		var err error
		if c.Kind == KindTimestamp {
			t, err = parsePGTime(s, "2006-01-02 15:04:05.999999")
		} else {
			t, err = parsePGTime(s, "2006-01-02 15:04:05.999999Z07")
			if err != nil {
				t, err = parsePGTime(s, "2006-01-02 15:04:05.999999Z07:00")
			}
			if err != nil {
				t, err = parsePGTime(s, "2006-01-02 15:04:05.999999Z07:00:00")
			}
		}
		if err != nil {
			return nil, err
		}
		t = t.UTC()
		if _, err := timestampMicros(t); err != nil {
			return nil, err
		}
		return t, nil
	case KindTime:
		if s == "24:00:00" {
			return 24 * time.Hour, nil
		}
		t, err := time.Parse("15:04:05.999999", s)
		if err != nil {
			return nil, err
		}
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
			time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()), nil
	case KindInterval:
		if !strings.HasPrefix(s, "P") {
			return nil, fmt.Errorf("interval %q is not ISO 8601 (the connection must use IntervalStyle=iso_8601)", s)
		}
		return s, nil
	case KindArray:
		return parseArray(c, s)
	default:
		return s, nil
	}
}

// isSpecialNumeric reports whether s is one of numeric's special values.
func isSpecialNumeric(s string) bool {
	return s == "NaN" || s == "Infinity" || s == "-Infinity"
}

// isPlainNumber reports whether s has the form numeric's output has:
// an optional minus, digits, optionally a point and digits.
func isPlainNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	ip, fp, dot := strings.Cut(s, ".")
	return allDigits(ip) && ip != "" && (!dot || (fp != "" && allDigits(fp)))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDecimal parses a plain decimal number that must fit
// decimal(precision, scale) exactly.
func parseDecimal(s string, precision, scale int) (*big.Rat, error) {
	if r, ok := parseSmallDecimal(s, precision, scale); ok {
		return r, nil
	}
	return parseDecimalSlow(s, precision, scale)
}

// parseSmallDecimal is parseDecimal's fast path for the common case: a
// plain [-]digits[.digits] of at most 18 digits that fits the type. It
// reports false for anything else, which the slow path parses or refuses.
func parseSmallDecimal(s string, precision, scale int) (*big.Rat, bool) {
	i, neg := 0, false
	if i < len(s) && s[i] == '-' {
		neg, i = true, 1
	}
	var n int64
	digits, frac, dot := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 18 {
				return nil, false
			}
			n = n*10 + int64(c-'0')
			if n != 0 || dot {
				digits++
			}
			if dot {
				frac++
			}
		case c == '.' && !dot && i > 0 && s[i-1] >= '0' && s[i-1] <= '9' && i+1 < len(s):
			dot = true
		default:
			return nil, false
		}
	}
	if (neg && len(s) == 1) || len(s) == 0 || frac > scale || precision < 1 || scale > precision {
		return nil, false
	}
	// Integer digits of the value must fit precision - scale.
	intDigits := 0
	for x := n / pow10s64[frac]; x != 0; x /= 10 {
		intDigits++
	}
	if intDigits > precision-scale {
		return nil, false
	}
	if neg {
		n = -n
	}
	return new(big.Rat).SetFrac64(n, pow10s64[frac]), true
}

// pow10s64 are the powers of ten that fit an int64.
var pow10s64 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

func parseDecimalSlow(s string, precision, scale int) (*big.Rat, error) {
	if !isPlainNumber(s) {
		return nil, fmt.Errorf("bad numeric %q", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("bad numeric %q", s)
	}
	if err := checkDecimal(r, precision, scale); err != nil {
		return nil, err
	}
	return r, nil
}

// checkDecimal reports whether r is exactly representable as
// decimal(precision, scale).
func checkDecimal(r *big.Rat, precision, scale int) error {
	if precision < 1 || scale < 0 || scale > precision {
		return fmt.Errorf("decimal(%d,%d) is not a valid Avro decimal", precision, scale)
	}
	n := new(big.Int).Mul(r.Num(), pow10(scale))
	q, m := new(big.Int).QuoRem(n, r.Denom(), new(big.Int))
	if m.Sign() != 0 {
		return fmt.Errorf("%s has more than %d digits after the point", r.RatString(), scale)
	}
	if q.CmpAbs(pow10(precision)) >= 0 {
		return fmt.Errorf("%s has more than %d digits", r.FloatString(scale), precision)
	}
	return nil
}

// pow10s caches the powers of ten decimals of common precisions need.
var pow10s = func() []*big.Int {
	out := make([]*big.Int, 100)
	for i := range out {
		out[i] = new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(i)), nil)
	}
	return out
}()

// pow10 returns 10^n. The result may be shared: callers must not modify it.
func pow10(n int) *big.Int {
	if n >= 0 && n < len(pow10s) {
		return pow10s[n]
	}
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// parseMoney parses money as Postgres prints it with lc_monetary=C:
// "$1,234.56", "-$1,234.56".
func parseMoney(s string) (*big.Rat, error) {
	t := s
	neg := false
	if strings.HasPrefix(t, "(") && strings.HasSuffix(t, ")") {
		t, neg = t[1:len(t)-1], true
	}
	if strings.HasPrefix(t, "-") {
		t, neg = t[1:], !neg
	}
	t = strings.TrimPrefix(t, "$")
	ip, fp, dot := strings.Cut(t, ".")
	groups := strings.Split(ip, ",")
	for i, g := range groups {
		if g == "" || !allDigits(g) || (i > 0 && len(g) != 3) {
			return nil, fmt.Errorf("bad money %q (want the form lc_monetary=C prints, like -$1,234.56)", s)
		}
	}
	if dot && (fp == "" || !allDigits(fp)) {
		return nil, fmt.Errorf("bad money %q", s)
	}
	num := strings.Join(groups, "")
	if dot {
		num += "." + fp
	}
	if neg {
		num = "-" + num
	}
	r, _ := new(big.Rat).SetString(num)
	if err := checkMoney(r); err != nil {
		return nil, fmt.Errorf("money %q: %w", s, err)
	}
	return r, nil
}

var (
	minMoney = new(big.Rat).SetFrac(big.NewInt(math.MinInt64), big.NewInt(100))
	maxMoney = new(big.Rat).SetFrac(big.NewInt(math.MaxInt64), big.NewInt(100))
)

func checkMoney(r *big.Rat) error {
	if err := checkDecimal(r, moneyPrecision, moneyScale); err != nil {
		return err
	}
	if r.Cmp(minMoney) < 0 || r.Cmp(maxMoney) > 0 {
		return fmt.Errorf("%s is out of money's range", r.FloatString(2))
	}
	return nil
}

func parseInfinity(s string) (Infinity, bool) {
	switch s {
	case "infinity":
		return PlusInfinity, true
	case "-infinity":
		return MinusInfinity, true
	}
	return 0, false
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

// parsePGTime parses Postgres' ISO date/time output, including BC dates and
// years past 9999.
func parsePGTime(s, layout string) (time.Time, error) {
	orig := s
	bc := strings.HasSuffix(s, " BC")
	if bc {
		s = strings.TrimSuffix(s, " BC")
	}
	// Years past 9999 have more than four digits; time.Parse wants four.
	extra := 0
	if i := strings.IndexByte(s, '-'); i > 4 {
		if i > 7 || !allDigits(s[:i]) {
			return time.Time{}, fmt.Errorf("bad date/time %q", orig)
		}
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
		if t.Month() == 2 && t.Day() == 29 && !isLeap(t.Year()+extra) {
			return time.Time{}, fmt.Errorf("bad date/time %q: day out of range", orig)
		}
		t = t.AddDate(extra, 0, 0)
	}
	if bc {
		// 1 BC is year 0 in the proleptic Gregorian calendar Go uses.
		y := t.Year()
		if y < 1 {
			return time.Time{}, fmt.Errorf("bad date/time %q", orig)
		}
		if t.Month() == 2 && t.Day() == 29 && !isLeap(1-y) {
			return time.Time{}, fmt.Errorf("bad date/time %q: day out of range", orig)
		}
		t = t.AddDate(1-2*y, 0, 0)
	}
	return t, nil
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// Sentinels of ±infinity in Avro (Debezium's convention).
const (
	dateInfinity    = math.MaxInt32
	dateMinusInf    = math.MinInt32
	microsInfinity  = math.MaxInt64
	microsMinusInf  = math.MinInt64
	microsPerSecond = 1_000_000
)

// dateDays returns the days since 1970-01-01 of a date (UTC midnight).
func dateDays(t time.Time) (int32, error) {
	sec := t.Unix()
	if sec%86400 != 0 || t.Nanosecond() != 0 {
		return 0, fmt.Errorf("date %s is not a UTC midnight", t.Format(time.RFC3339Nano))
	}
	d := sec / 86400
	if d <= dateMinusInf || d >= dateInfinity {
		return 0, fmt.Errorf("date %s: %w", t.Format("2006-01-02"), ErrUnrepresentable)
	}
	return int32(d), nil
}

// timestampMicros returns the microseconds since 1970-01-01 UTC of t,
// which must fit a long other than the infinity sentinels.
func timestampMicros(t time.Time) (int64, error) {
	if t.Nanosecond()%1000 != 0 {
		return 0, fmt.Errorf("timestamp %s has sub-microsecond precision", t.UTC().Format(time.RFC3339Nano))
	}
	sec, us := t.Unix(), int64(t.Nanosecond()/1000)
	const maxSec, minSec = math.MaxInt64 / microsPerSecond, math.MinInt64/microsPerSecond - 1
	ok := sec > minSec && sec < maxSec ||
		sec == maxSec && us < math.MaxInt64%microsPerSecond ||
		sec == minSec && us > microsPerSecond+math.MinInt64%microsPerSecond
	if !ok {
		return 0, fmt.Errorf("timestamp %s is outside what timestamp-micros can carry (294247-01-10 04:00:54.775806 UTC at most): %w",
			t.UTC().Format("2006-01-02 15:04:05.999999"), ErrUnrepresentable)
	}
	// The product may wrap past the long's range when the sum does not.
	return sec*microsPerSecond + us, nil
}

// parseArray parses an array column's text: a one-dimensional array with
// lower bound 1 becomes its elements; any other array (several dimensions,
// explicit bounds), or one with an element the element kind cannot carry,
// stays the literal.
func parseArray(c Column, s string) (any, error) {
	elems, ok, err := splitArray(s, ',')
	if err != nil {
		return nil, err
	}
	if !ok {
		return s, nil
	}
	e := c.Elem()
	out := make([]any, len(elems))
	for i, el := range elems {
		if el == nil {
			continue
		}
		v, err := parseText(e, *el)
		if errors.Is(err, ErrUnrepresentable) {
			return s, nil
		}
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i+1, err)
		}
		out[i] = v
	}
	return out, nil
}

// splitArray splits Postgres' text form of an array into its elements (nil
// for NULL). ok is false for an array literal of another shape than one
// dimension with lower bound 1.
func splitArray(s string, delim byte) (elems []*string, ok bool, err error) {
	if strings.HasPrefix(s, "[") {
		return nil, false, nil // explicit bounds: [2:3]={...}
	}
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false, fmt.Errorf("malformed array literal %q", trunc(s))
	}
	if s[1] == '{' {
		return nil, false, nil // several dimensions
	}
	elems = []*string{}
	if s == "{}" {
		return elems, true, nil
	}
	i := 1
	for {
		var b strings.Builder
		quoted := false
		if i < len(s) && s[i] == '"' {
			quoted = true
			i++
			for {
				if i >= len(s)-1 {
					return nil, false, fmt.Errorf("malformed array literal %q: unterminated quoted element", trunc(s))
				}
				ch := s[i]
				if ch == '"' {
					i++
					break
				}
				if ch == '\\' {
					i++
					if i >= len(s)-1 {
						return nil, false, fmt.Errorf("malformed array literal %q: dangling backslash", trunc(s))
					}
					ch = s[i]
				}
				b.WriteByte(ch)
				i++
			}
		} else {
			for i < len(s)-1 && s[i] != delim {
				ch := s[i]
				if ch == '"' || ch == '{' || ch == '}' || ch == '\\' {
					return nil, false, fmt.Errorf("malformed array literal %q: unexpected %q at offset %d", trunc(s), ch, i)
				}
				b.WriteByte(ch)
				i++
			}
		}
		el := b.String()
		if !quoted && el == "" {
			return nil, false, fmt.Errorf("malformed array literal %q: empty element at offset %d", trunc(s), i)
		}
		if !quoted && strings.EqualFold(el, "NULL") {
			elems = append(elems, nil)
		} else {
			elems = append(elems, &el)
		}
		if i == len(s)-1 {
			return elems, true, nil
		}
		if s[i] != delim {
			return nil, false, fmt.Errorf("malformed array literal %q: expected %q at offset %d", trunc(s), delim, i)
		}
		i++
	}
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// FormatText renders a Go value of column c in a form Postgres accepts as
// input for the column's type. It is the inverse of ParseText.
func FormatText(c Column, v any) (string, error) {
	s, err := formatText(c, v)
	if err != nil {
		return "", fmt.Errorf("column %q (%s): %w", c.Name, c.Kind, err)
	}
	return s, nil
}

func formatText(c Column, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", fmt.Errorf("FormatText of NULL")
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
		if x == nil {
			return "", fmt.Errorf("nil *big.Rat")
		}
		return ratString(x, c.Scale)
	case []byte:
		return `\x` + hex.EncodeToString(x), nil
	case time.Duration:
		if x < 0 || x > 24*time.Hour {
			return "", fmt.Errorf("time of day %v out of range", x)
		}
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
	case Infinity:
		if x != PlusInfinity && x != MinusInfinity {
			return "", fmt.Errorf("bad %v", x)
		}
		return x.String(), nil
	case string:
		return x, nil
	case []any:
		return formatArray(c, x)
	default:
		return "", fmt.Errorf("unsupported Go type %T", v)
	}
}

// ratString renders r exactly, with at least scale digits after the point.
func ratString(r *big.Rat, scale int) (string, error) {
	if scale < 0 {
		scale = 0
	}
	// A fraction has a finite decimal expansion when its denominator has no
	// prime factors but 2 and 5; that many digits render it exactly.
	d := new(big.Int).Set(r.Denom())
	digits := 0
	for _, p := range []int64{2, 5} {
		n := 0
		bp := big.NewInt(p)
		m := new(big.Int)
		for {
			q, rem := new(big.Int).QuoRem(d, bp, m)
			if rem.Sign() != 0 {
				break
			}
			d, n = q, n+1
		}
		digits = max(digits, n)
	}
	if d.Cmp(big.NewInt(1)) != 0 {
		return "", fmt.Errorf("%s has no finite decimal form", r.RatString())
	}
	return r.FloatString(max(digits, scale)), nil
}

// formatArray renders a one-dimensional array literal, every element quoted.
func formatArray(c Column, elems []any) (string, error) {
	e := c.Elem()
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		if v == nil {
			b.WriteString("NULL")
			continue
		}
		s, err := formatText(e, v)
		if err != nil {
			return "", fmt.Errorf("element %d: %w", i+1, err)
		}
		b.WriteByte('"')
		for j := 0; j < len(s); j++ {
			if s[j] == '"' || s[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String(), nil
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

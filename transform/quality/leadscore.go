package quality

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Lead scores are whole numbers in [MinLeadScore, MaxLeadScore].
const (
	MinLeadScore = 0
	MaxLeadScore = 100
)

// LeadScore auto-corrects a lead score to a whole number from 0 to 100: a
// number or numeric text ("85.6", " 90 ", "72%", "85,5") is rounded half
// away from zero, then clamped (120 becomes 100, -5 becomes 0). corrected
// describes what was changed, "" when the value was already a whole number
// in range. The error wraps [ErrInvalid] for values that are not numbers
// ("high", true, NaN).
func LeadScore(v any) (score int64, corrected string, err error) {
	f, exact, err := toFloat(v)
	if err != nil {
		return 0, "", err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, "", invalidf("lead score %v is not a finite number", v)
	}
	var notes []string
	r := math.Round(f)
	if r != f || !exact {
		notes = append(notes, fmt.Sprintf("rounded %s to %s", fmtFloat(f), fmtFloat(r)))
	}
	c := math.Min(math.Max(r, MinLeadScore), MaxLeadScore)
	if c != r {
		notes = append(notes, fmt.Sprintf("clamped %s to %d", fmtFloat(r), int64(c)))
	}
	return int64(c), strings.Join(notes, ", "), nil
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// toFloat converts a numeric value or numeric text to float64. exact is
// false for a big rational that is not a whole number, whose float64 may
// round to one.
func toFloat(v any) (f float64, exact bool, err error) {
	switch x := v.(type) {
	case int:
		return float64(x), true, nil
	case int8:
		return float64(x), true, nil
	case int16:
		return float64(x), true, nil
	case int32:
		return float64(x), true, nil
	case int64:
		return float64(x), true, nil
	case uint:
		return float64(x), true, nil
	case uint8:
		return float64(x), true, nil
	case uint16:
		return float64(x), true, nil
	case uint32:
		return float64(x), true, nil
	case uint64:
		return float64(x), true, nil
	case float32:
		return float64(x), true, nil
	case float64:
		return x, true, nil
	case *big.Rat:
		if x == nil {
			break
		}
		f, _ := x.Float64()
		return f, x.IsInt(), nil
	case json.Number:
		return parseNumber(string(x))
	case []byte:
		return parseNumber(string(x))
	case string:
		return parseNumber(x)
	}
	return 0, false, invalidf("%s (%T) is not a number", fmt.Sprint(v), v)
}

func parseNumber(s string) (float64, bool, error) {
	t := strings.TrimFunc(s, isSpace)
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	if strings.Count(t, ",") == 1 && !strings.Contains(t, ".") {
		t = strings.Replace(t, ",", ".", 1) // decimal comma
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || strings.ContainsAny(t, "xXpP_") || strings.EqualFold(strings.TrimLeft(t, "+-"), "nan") ||
		strings.HasPrefix(strings.ToLower(strings.TrimLeft(t, "+-")), "inf") {
		return 0, false, invalidf("%q is not a number", s)
	}
	return f, true, nil
}

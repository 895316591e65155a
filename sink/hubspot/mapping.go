package hubspot

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"syncline/schemas"
	"syncline/transform/quality"
)

// invalidRow is a row the mapping refuses: it can never be written.
type invalidRow struct{ msg string }

func (e *invalidRow) Error() string { return e.msg }

// mapRow computes the HubSpot properties of an after image. An
// *invalidRow error means the row can never be written.
func mapRow(props map[string]Property, names []string, row schemas.Row) (map[string]string, error) {
	out := make(map[string]string, len(props))
	for _, name := range names {
		p := props[name]
		v := ""
		has := false
		if p.From != "" {
			raw, ok := row[p.From]
			if !ok {
				return nil, &invalidRow{fmt.Sprintf("property %s: the row has no column %q", name, p.From)}
			}
			if raw != nil {
				v, has = formatValue(raw), true
			}
		}
		if has && p.Transform != "" {
			nv, err := normalize(p, v)
			if err != nil {
				return nil, &invalidRow{fmt.Sprintf("property %s (column %s): %v", name, p.From, err)}
			}
			v = nv
		}
		if !has || v == "" {
			if p.Value != "" {
				v, has = p.Value, true
			}
		}
		if p.Required && (!has || v == "") {
			return nil, &invalidRow{fmt.Sprintf("property %s is required but column %s is empty", name, p.From)}
		}
		out[name] = v
	}
	return out, nil
}

func normalize(p Property, v string) (string, error) {
	switch p.Transform {
	case quality.NormalizeEmail:
		return quality.Email(v)
	case quality.NormalizePhone:
		n, err := quality.Phone(v, p.Region, false)
		return n.E164, err
	case quality.NormalizeCountry:
		return quality.Country(v)
	case quality.NormalizeCompany:
		return quality.CompanyName(v, "")
	case quality.NormalizeTrim:
		return strings.Join(strings.Fields(v), " "), nil
	case quality.NormalizeLower:
		return strings.ToLower(strings.Join(strings.Fields(v), " ")), nil
	case quality.NormalizeUpper:
		return strings.ToUpper(strings.Join(strings.Fields(v), " ")), nil
	}
	return v, nil
}

// formatValue renders a column value as a HubSpot property value: dates
// and times in ISO 8601 (UTC, milliseconds), decimals exactly, JSON as
// JSON.
func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000Z")
	case *big.Rat:
		if x.IsInt() {
			return x.Num().String()
		}
		s := x.FloatString(20)
		return strings.TrimRight(strings.TrimRight(s, "0"), ".")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []byte:
		return string(x)
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

func sortedNames(props map[string]Property) []string {
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

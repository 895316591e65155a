package saas

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"syncline/schemas"
	"syncline/transform/quality"
)

// Property maps one provider field (a HubSpot property, a REST body
// field): from a column (optionally through a normalizer) or a constant
// value.
type Property struct {
	// From is the column of the change's after image.
	From string
	// Transform is a normalizer applied to the column's value: email,
	// phone, country, company_name, trim, lowercase, uppercase.
	Transform quality.Normalizer
	// Region is the default region of phone numbers without a country
	// code (ISO 3166-1 alpha-2), for Transform phone.
	Region string
	// Value is a constant, or the default when the column is NULL.
	Value string
	// Required: a row without a value is invalid (parked in the DLQ).
	Required bool
}

// Transforms lists the normalizers a mapping may use.
var Transforms = []quality.Normalizer{
	quality.NormalizeEmail, quality.NormalizePhone, quality.NormalizeCountry, quality.NormalizeCompany,
	quality.NormalizeTrim, quality.NormalizeLower, quality.NormalizeUpper,
}

// ValidateMapping checks a mapping: every field has a source, every
// transform is known, and key (when set) is mapped. what names the sink in
// the error ("hubspot sink \"crm\"").
func ValidateMapping(what string, props map[string]Property, key, keyName string) error {
	if key != "" {
		if _, ok := props[key]; !ok {
			return fmt.Errorf("%s: %s %q is not in the mapping; map it, for example %s: {from: %s}", what, keyName, key, key, key)
		}
	}
	for _, name := range SortedNames(props) {
		p := props[name]
		if p.From == "" && p.Value == "" {
			return fmt.Errorf("%s: %s: set from (a column) or value (a constant)", what, name)
		}
		if p.Transform != "" && !slices.Contains(Transforms, p.Transform) {
			return fmt.Errorf("%s: %s.transform: unknown %q", what, name, p.Transform)
		}
	}
	return nil
}

// InvalidRow is a row the mapping refuses: it can never be written.
type InvalidRow struct{ msg string }

func (e *InvalidRow) Error() string { return e.msg }

// MapRow computes the mapped fields of an after image, names in order.
// An *InvalidRow error means the row can never be written.
func MapRow(props map[string]Property, names []string, row schemas.Row) (map[string]string, error) {
	out := make(map[string]string, len(props))
	for _, name := range names {
		p := props[name]
		v := ""
		has := false
		if p.From != "" {
			raw, ok := row[p.From]
			if !ok {
				return nil, &InvalidRow{fmt.Sprintf("property %s: the row has no column %q", name, p.From)}
			}
			if raw != nil {
				v, has = FormatValue(raw), true
			}
		}
		if has && p.Transform != "" {
			nv, err := normalize(p, v)
			if err != nil {
				return nil, &InvalidRow{fmt.Sprintf("property %s (column %s): %v", name, p.From, err)}
			}
			v = nv
		}
		if !has || v == "" {
			if p.Value != "" {
				v, has = p.Value, true
			}
		}
		if p.Required && (!has || v == "") {
			return nil, &InvalidRow{fmt.Sprintf("property %s is required but column %s is empty", name, p.From)}
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

// MapOne computes one mapped field of a row leniently (Required not
// enforced), for the key of a delete's before image; ok is false when the
// row lacks the column or the value is empty.
func MapOne(p Property, row schemas.Row) (string, bool) {
	v := ""
	if p.From != "" {
		raw, ok := row[p.From]
		if !ok {
			return "", false
		}
		if raw != nil {
			v = FormatValue(raw)
		}
	}
	if v != "" && p.Transform != "" {
		nv, err := normalize(p, v)
		if err != nil {
			return "", false
		}
		v = nv
	}
	if v == "" {
		v = p.Value
	}
	return v, v != ""
}

// FormatValue renders a column value as a provider field value: dates
// and times in ISO 8601 (UTC, milliseconds), decimals exactly, JSON as
// JSON.
func FormatValue(v any) string {
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

// SortedNames returns the mapped field names in order.
func SortedNames(props map[string]Property) []string {
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

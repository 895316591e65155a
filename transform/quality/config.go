package quality

import (
	"errors"
	"fmt"
	"strings"
)

// EntityConfig is the data-quality configuration of one entity: a base
// [Spec] that applies to records from every source, and per-source
// overlays. An overlay's fields replace the base's fields of the same name
// (whole: the base's settings for that field are not inherited); its rules
// are added after the base's, except that a rule with the name of a base
// rule replaces it; its transforms run after the base's; its
// freshness_field and score_field, when set, replace the base's.
type EntityConfig struct {
	Spec `yaml:",inline"`
	// Sources holds overlays by source name. Optional.
	Sources map[string]Spec `yaml:"sources"`
}

// Spec is one set of data-quality settings.
type Spec struct {
	// Fields configures fields by name: normalizer, requirement, what to do
	// with values that cannot be cleaned. Fields not named pass through
	// unchanged.
	Fields map[string]Field `yaml:"fields"`
	// Rules are conditional requirements and custom checks, evaluated in
	// order after normalization.
	Rules []Rule `yaml:"rules"`
	// Transforms compute fields with CEL expressions, in order.
	Transforms []Transform `yaml:"transforms"`
	// FreshnessField names the field that dates the record (a timestamp,
	// an RFC 3339 or YYYY-MM-DD string, or epoch seconds or milliseconds);
	// records older than 90 days lose 10 points of quality score, older
	// than a year 20. Default "": no freshness penalty.
	FreshnessField string `yaml:"freshness_field"`
	// ScoreField, when set, is the field the quality score (an int64 from 0
	// to 100) is written to in the cleaned record. Default "": the score
	// is only in [Result.Score].
	ScoreField string `yaml:"score_field"`
}

// Normalizer names a built-in field normalizer.
type Normalizer string

// Normalizers.
const (
	NormalizeNone       Normalizer = ""
	NormalizeEmail      Normalizer = "email"           // trimmed, lowercased, validated
	NormalizePhone      Normalizer = "phone"           // E.164
	NormalizePostalCode Normalizer = "postal_code"     // per-country format
	NormalizeCompany    Normalizer = "company_name"    // suffix, spacing, case
	NormalizeLeadScore  Normalizer = "lead_score"      // whole number 0–100
	NormalizeLifecycle  Normalizer = "lifecycle_stage" // one of a configured list
	NormalizeSize       Normalizer = "company_size"    // one of a list of ranges
	NormalizeCountry    Normalizer = "country"         // ISO 3166-1 alpha-2
	NormalizeTrim       Normalizer = "trim"            // white space trimmed and collapsed
	NormalizeLower      Normalizer = "lowercase"       // trim, then lowercase
	NormalizeUpper      Normalizer = "uppercase"       // trim, then uppercase
)

// Normalizers lists the built-in normalizers.
var Normalizers = []Normalizer{
	NormalizeEmail, NormalizePhone, NormalizePostalCode, NormalizeCompany, NormalizeLeadScore,
	NormalizeLifecycle, NormalizeSize, NormalizeCountry, NormalizeTrim, NormalizeLower, NormalizeUpper,
}

// OnInvalid says what happens to a value a normalizer cannot clean.
type OnInvalid string

// On-invalid actions.
const (
	// Reject makes the whole record invalid (it goes to the dead-letter
	// queue with the reason).
	Reject OnInvalid = "reject"
	// Flag keeps the original value and records an issue.
	Flag OnInvalid = "flag"
	// Drop removes the value (the field becomes null) and records an issue.
	Drop OnInvalid = "drop"
)

// Field configures one field. Keys other than normalize, required and
// on_invalid apply to one normalizer each; setting one for another
// normalizer is an error.
type Field struct {
	// Normalize names the normalizer (see [Normalizers]). Default "": the
	// value is not changed.
	Normalize Normalizer `yaml:"normalize"`
	// Required makes a null, absent or blank value a missing_required
	// issue (flagged, not rejected; 20 points off the quality score).
	Required bool `yaml:"required"`
	// OnInvalid is reject, flag or drop. Default reject for email, flag for
	// the others.
	OnInvalid OnInvalid `yaml:"on_invalid"`

	// Region (phone) is the ISO 3166-1 alpha-2 region assumed for numbers
	// written without a country code, such as "US". Default "": such
	// numbers are invalid.
	Region string `yaml:"region"`
	// Strict (phone) also checks numbers against the country's numbering
	// plan, not only their length. Default false.
	Strict bool `yaml:"strict"`
	// ExtensionField (phone) is the field an extension ("ext. 89") is
	// written to. Default "": the extension is reported as an issue of
	// severity info and not kept.
	ExtensionField string `yaml:"extension_field"`
	// Country (postal_code) is the country, ISO 3166-1 alpha-2 or a name,
	// of postal codes when the record does not say. Default "": the code is
	// only tidied.
	Country string `yaml:"country"`
	// CountryField (phone, postal_code) names the record field holding the
	// record's country; when it has a value it takes precedence over
	// region/country.
	CountryField string `yaml:"country_field"`
	// Suffix (company_name) is short, strip or keep; see [SuffixStyle].
	// Default short.
	Suffix SuffixStyle `yaml:"suffix"`
	// Stages (lifecycle_stage) lists the valid stages as they are to be
	// written. Default [DefaultLifecycleStages].
	Stages []string `yaml:"stages"`
	// Aliases (lifecycle_stage) maps other names to stages, on top of the
	// built-in variants ("MQL", "client", ...).
	Aliases map[string]string `yaml:"aliases"`
	// Ranges (company_size) lists the standard employee-count ranges,
	// ascending. Default [DefaultCompanySizes].
	Ranges []string `yaml:"ranges"`
	// Descriptions (company_size) maps descriptions to ranges, on top of
	// the built-in ones ("small", "enterprise", ...).
	Descriptions map[string]string `yaml:"descriptions"`
}

// Rule is a conditional requirement or a custom check. At least one of
// Require and Check is set.
type Rule struct {
	// Name identifies the rule in issues and errors. Required, unique.
	Name string `yaml:"name"`
	// When is a CEL condition; the rule applies only to records for which
	// it is true. Default "": always.
	When string `yaml:"when"`
	// Require lists fields that must be present (not null, not blank) when
	// the rule applies; each missing one is a missing_required issue.
	Require []string `yaml:"require"`
	// Check is a CEL condition that must hold when the rule applies;
	// otherwise the record gets a rule_failed issue.
	Check string `yaml:"check"`
	// Message explains a failure. Default: a message naming the rule.
	Message string `yaml:"message"`
	// OnFail is flag (record an issue) or reject (the record is invalid).
	// Default flag.
	OnFail OnInvalid `yaml:"on_fail"`
}

// Transform sets a field to the value of a CEL expression.
type Transform struct {
	// Field is the field written. Required.
	Field string `yaml:"field"`
	// Expr is the CEL expression. Required. A null result sets the field
	// to null.
	Expr string `yaml:"expr"`
	// When is a CEL condition; the transform runs only for records for
	// which it is true. Default "": always.
	When string `yaml:"when"`
	// Phase is before (the default: the result is then normalized like
	// the input) or after (runs on normalized values, its result is not
	// normalized).
	Phase Phase `yaml:"phase"`
}

// Phase says when a transform runs relative to the field normalizers.
type Phase string

// Phases.
const (
	Before Phase = "before"
	After  Phase = "after"
)

// ConfigError is one problem in a configuration. Compile and
// CompileEntity return these joined with errors.Join.
type ConfigError struct {
	// Path is the key path the problem is about, relative to the Spec or
	// EntityConfig, such as "fields.phone.region" or "rules[2].when".
	Path string
	// Msg describes the problem.
	Msg string
}

func (e *ConfigError) Error() string { return e.Path + ": " + e.Msg }

// WithPrefix returns err with prefix (such as "entities.contact.quality")
// put before the Path of each ConfigError in it.
func WithPrefix(prefix string, err error) error {
	if err == nil || prefix == "" {
		return err
	}
	errs := flatten(err, nil)
	for i, e := range errs {
		if ce, ok := e.(*ConfigError); ok {
			errs[i] = &ConfigError{Path: prefix + "." + ce.Path, Msg: ce.Msg}
		}
	}
	return errors.Join(errs...)
}

// flatten appends the leaves of a tree of joined errors to out.
func flatten(err error, out []error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = flatten(e, out)
		}
		return out
	}
	return append(out, err)
}

// fieldKeys lists, per key that applies to only some normalizers, which.
var fieldKeys = []struct {
	key  string
	set  func(Field) bool
	only []Normalizer
}{
	{"region", func(f Field) bool { return f.Region != "" }, []Normalizer{NormalizePhone}},
	{"strict", func(f Field) bool { return f.Strict }, []Normalizer{NormalizePhone}},
	{"extension_field", func(f Field) bool { return f.ExtensionField != "" }, []Normalizer{NormalizePhone}},
	{"country", func(f Field) bool { return f.Country != "" }, []Normalizer{NormalizePostalCode}},
	{"country_field", func(f Field) bool { return f.CountryField != "" }, []Normalizer{NormalizePhone, NormalizePostalCode}},
	{"suffix", func(f Field) bool { return f.Suffix != "" }, []Normalizer{NormalizeCompany}},
	{"stages", func(f Field) bool { return f.Stages != nil }, []Normalizer{NormalizeLifecycle}},
	{"aliases", func(f Field) bool { return f.Aliases != nil }, []Normalizer{NormalizeLifecycle}},
	{"ranges", func(f Field) bool { return f.Ranges != nil }, []Normalizer{NormalizeSize}},
	{"descriptions", func(f Field) bool { return f.Descriptions != nil }, []Normalizer{NormalizeSize}},
}

func quoteAll[T ~string](vs []T) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

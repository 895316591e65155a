package quality

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Issue codes. Codes are stable; messages are for people.
const (
	CodeMissingRequired  = "missing_required"        // a required field is null, absent or blank
	CodeInvalidEmail     = "invalid_email"           // not an email address
	CodeInvalidPhone     = "invalid_phone"           // not a phone number
	CodeInvalidPostal    = "invalid_postal_code"     // not in the country's format
	CodeInvalidCompany   = "invalid_company_name"    // nothing but punctuation
	CodeInvalidLeadScore = "invalid_lead_score"      // not a number
	CodeUnknownStage     = "unknown_lifecycle_stage" // not one of the stages
	CodeUnclearSize      = "unclear_company_size"    // no range fits, for review
	CodeInvalidCountry   = "invalid_country"         // not a country
	CodeInvalidType      = "invalid_type"            // a value of a type the normalizer cannot read
	CodeCorrected        = "corrected"               // info: a lead score was rounded or clamped
	CodePhoneExtension   = "phone_extension"         // info: an extension was split off
	CodeNotChecked       = "not_checked"             // info: a value could not be checked (unknown country)
	CodeRuleFailed       = "rule_failed"             // a rule's check was false
	CodeRuleError        = "rule_error"              // a rule's expression failed to evaluate
	CodeTransformError   = "transform_error"         // a transform's expression failed to evaluate
	CodeStale            = "stale"                   // info: freshness penalty applied
	CodeInvalidTimestamp = "invalid_timestamp"       // the freshness field is not a time
)

// Severity grades an issue.
type Severity string

// Severities.
const (
	// Info records a correction or a penalty; the value is fine.
	Info Severity = "info"
	// Warning flags a problem; the record passes.
	Warning Severity = "warning"
	// Error makes the record invalid.
	Error Severity = "error"
)

// Issue is one finding about a record.
type Issue struct {
	// Field is the field concerned, "" for a record-level issue (a check
	// rule).
	Field string
	// Code is one of the Code constants.
	Code string
	// Severity is info, warning or error.
	Severity Severity
	// Message says what is wrong, naming the value.
	Message string
	// Original is the field's value before normalization (nil when absent).
	Original any
	// Rule is the name of the rule that raised the issue, if any.
	Rule string
}

func (i Issue) String() string {
	var b strings.Builder
	if i.Field != "" {
		b.WriteString(i.Field + ": ")
	}
	if i.Rule != "" {
		fmt.Fprintf(&b, "rule %q: ", i.Rule)
	}
	b.WriteString(i.Code + ": " + i.Message)
	return b.String()
}

// Result is what [Pipeline.Apply] made of one record.
type Result struct {
	// Record is the cleaned copy of the record.
	Record map[string]any
	// Issues lists the findings: normalization problems in field-name
	// order, then missing required fields, then rule findings in rule
	// order, then freshness.
	Issues []Issue
	// Invalid is set when an issue has severity error: the record goes to
	// the dead-letter queue with Reason.
	Invalid bool
	// Reason joins the messages of the error issues; "" when valid.
	Reason string
	// Score is the quality score, 0 to 100 (see [Score]).
	Score int
}

// Quality score: base score and penalties, from the seeds' scoring criteria.
const (
	// BaseScore is the score of a complete, valid, fresh record.
	BaseScore = 100
	// MissingRequiredPenalty is taken per missing required field.
	MissingRequiredPenalty = 20
	// InvalidEmailPenalty is taken per field with an invalid email format.
	InvalidEmailPenalty = 25
	// StalePenalty is taken for a record older than StaleAfter.
	StalePenalty = 10
	// VeryStalePenalty replaces StalePenalty for a record older than
	// VeryStaleAfter.
	VeryStalePenalty = 20
	// StaleAfter is 90 days.
	StaleAfter = 90 * 24 * time.Hour
	// VeryStaleAfter is one year (365 days).
	VeryStaleAfter = 365 * 24 * time.Hour
)

// Score computes the quality score: [BaseScore] less [MissingRequiredPenalty]
// per missing required field, less [InvalidEmailPenalty] per invalid
// email, less [StalePenalty] when age is more than 90 days or
// [VeryStalePenalty] when it is more than a year (age 0: not dated), and
// never below 0.
func Score(missingRequired, invalidEmails int, age time.Duration) int {
	s := BaseScore - MissingRequiredPenalty*missingRequired - InvalidEmailPenalty*invalidEmails
	switch {
	case age > VeryStaleAfter:
		s -= VeryStalePenalty
	case age > StaleAfter:
		s -= StalePenalty
	}
	return max(s, 0)
}

// Observer sees every result, for metrics (scores, issue counts, invalid
// records). Observe is called from the goroutine that called Apply, after
// the result is complete; it must not keep or change r.
type Observer interface {
	Observe(entity, source string, r *Result)
}

// Option configures Compile and CompileEntity.
type Option func(*options)

type options struct {
	observer       Observer
	now            func() time.Time
	entity, source string
}

// WithObserver sets the observer every result is passed to.
func WithObserver(o Observer) Option { return func(opts *options) { opts.observer = o } }

// WithClock sets the clock [Pipeline.Apply] measures record age against.
// Default time.Now.
func WithClock(now func() time.Time) Option { return func(opts *options) { opts.now = now } }

// WithNames names the entity and source a pipeline from Compile is for,
// as passed to the Observer. CompileEntity sets them itself.
func WithNames(entity, source string) Option {
	return func(opts *options) { opts.entity, opts.source = entity, source }
}

// Pipeline cleans and scores records of one entity (from one source). It
// is immutable and safe for concurrent use.
type Pipeline struct {
	entity, source string
	fields         []*compiledField
	before, after  []*compiledTransform
	required       []string
	rules          []*compiledRule
	freshness      string
	scoreField     string
	observer       Observer
	now            func() time.Time
}

type compiledField struct {
	name      string
	norm      Normalizer
	onInvalid OnInvalid
	fn        normFunc
	code      string
}

type compiledTransform struct {
	field string
	when  *program
	prg   *program
}

type compiledRule struct {
	name        string
	when, check *program
	require     []string
	message     string
	ownMessage  bool // message was configured
	onFail      OnInvalid
}

// normFunc cleans a non-blank value. It may write other fields of rec
// (the phone extension). notes are info issues.
type normFunc func(v any, rec map[string]any) (out any, notes []Issue, err error)

// Entity is the compiled configuration of one entity: a pipeline for its
// records from each configured source, and one for other sources.
type Entity struct {
	base    *Pipeline
	sources map[string]*Pipeline
	others  sync.Map // source name → *Pipeline: the base, named for the source
}

// For returns the pipeline for records from source: the base Spec merged
// with the source's overlay, or the base alone when the source has none
// (named for source, as the Observer sees it). It is safe for concurrent
// use.
func (e *Entity) For(source string) *Pipeline {
	if p, ok := e.sources[source]; ok {
		return p
	}
	if p, ok := e.others.Load(source); ok {
		return p.(*Pipeline)
	}
	named := *e.base
	named.source = source
	p, _ := e.others.LoadOrStore(source, &named)
	return p.(*Pipeline)
}

// Compile checks spec and compiles it. The error joins a [*ConfigError]
// per problem, each naming the key (such as "fields.phone.region" or
// "rules[1].when"); CEL errors also give the line and column in the
// expression.
func Compile(spec Spec, opts ...Option) (*Pipeline, error) {
	o := applyOptions(opts)
	return compile(locate(spec, ""), o)
}

// CompileEntity compiles cfg for entity: its base Spec, and the base merged
// with each source's overlay (see [EntityConfig]).
func CompileEntity(entity string, cfg EntityConfig, opts ...Option) (*Entity, error) {
	o := applyOptions(opts)
	o.entity, o.source = entity, ""
	base := locate(cfg.Spec, "")
	bp, err := compile(base, o)
	if err != nil {
		return nil, err
	}
	e := &Entity{base: bp, sources: make(map[string]*Pipeline, len(cfg.Sources))}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(cfg.Sources)) {
		so := o
		so.source = name
		p, err := compile(mergeLocated(base, locate(cfg.Sources[name], "sources."+name+".")), so)
		if err != nil {
			errs = flatten(err, errs)
			continue
		}
		e.sources[name] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e, nil
}

func applyOptions(opts []Option) options {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// located is a Spec whose parts remember their key paths, so that a merged
// Spec's errors name the key the user wrote.
type located struct {
	fields     map[string]locatedField
	rules      []locatedRule
	transforms []locatedTransform
	freshness  string
	score      string
}

type locatedField struct {
	Field
	path string
}

type locatedRule struct {
	Rule
	path string
}

type locatedTransform struct {
	Transform
	path string
}

func locate(s Spec, prefix string) located {
	l := located{fields: make(map[string]locatedField, len(s.Fields)), freshness: s.FreshnessField, score: s.ScoreField}
	for name, f := range s.Fields {
		l.fields[name] = locatedField{f, prefix + "fields." + name}
	}
	for i, r := range s.Rules {
		l.rules = append(l.rules, locatedRule{r, fmt.Sprintf("%srules[%d]", prefix, i)})
	}
	for i, t := range s.Transforms {
		l.transforms = append(l.transforms, locatedTransform{t, fmt.Sprintf("%stransforms[%d]", prefix, i)})
	}
	return l
}

func mergeLocated(base, overlay located) located {
	out := located{fields: maps.Clone(base.fields), freshness: base.freshness, score: base.score}
	maps.Copy(out.fields, overlay.fields)
	out.rules = slices.Clone(base.rules)
	for _, r := range overlay.rules {
		if i := slices.IndexFunc(out.rules, func(b locatedRule) bool { return b.Name == r.Name }); i >= 0 && r.Name != "" {
			out.rules[i] = r
			continue
		}
		out.rules = append(out.rules, r)
	}
	out.transforms = append(slices.Clone(base.transforms), overlay.transforms...)
	if overlay.freshness != "" {
		out.freshness = overlay.freshness
	}
	if overlay.score != "" {
		out.score = overlay.score
	}
	return out
}

func compile(l located, o options) (*Pipeline, error) {
	p := &Pipeline{
		entity: o.entity, source: o.source, observer: o.observer, now: o.now,
		freshness: l.freshness, scoreField: l.score,
	}
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &ConfigError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	for _, name := range slices.Sorted(maps.Keys(l.fields)) {
		f := l.fields[name]
		if strings.TrimSpace(name) == "" {
			bad(f.path, "field name is empty")
			continue
		}
		if f.Required {
			p.required = append(p.required, name)
		}
		cf, err := compileField(name, f.Field, f.path)
		if err != nil {
			errs = append(errs, err...)
			continue
		}
		if cf != nil {
			p.fields = append(p.fields, cf)
		}
	}
	names := map[string]string{}
	for _, r := range l.rules {
		cr := &compiledRule{name: r.Name, require: r.Require, message: r.Message, ownMessage: r.Message != "", onFail: r.OnFail}
		switch {
		case strings.TrimSpace(r.Name) == "":
			bad(r.path+".name", "a rule needs a name")
		case names[r.Name] != "":
			bad(r.path+".name", "rule %q is also defined at %s", r.Name, names[r.Name])
		default:
			names[r.Name] = r.path
		}
		what := fmt.Sprintf("rule %q", r.Name)
		if len(r.Require) == 0 && r.Check == "" {
			bad(r.path, "%s needs require or check", what)
		}
		for i, f := range r.Require {
			if strings.TrimSpace(f) == "" {
				bad(fmt.Sprintf("%s.require[%d]", r.path, i), "empty field name")
			}
		}
		switch r.OnFail {
		case "":
			cr.onFail = Flag
		case Flag, Reject:
		default:
			bad(r.path+".on_fail", "%q is not flag or reject", r.OnFail)
		}
		var err error
		if r.When != "" {
			if cr.when, err = compileExpr(r.When, r.path+".when", what+" when", true); err != nil {
				bad(r.path+".when", "%v", err)
			}
		}
		if r.Check != "" {
			if cr.check, err = compileExpr(r.Check, r.path+".check", what+" check", true); err != nil {
				bad(r.path+".check", "%v", err)
			}
		}
		if cr.message == "" {
			cr.message = fmt.Sprintf("rule %q failed", r.Name)
		}
		p.rules = append(p.rules, cr)
	}
	for _, t := range l.transforms {
		if strings.TrimSpace(t.Field) == "" {
			bad(t.path+".field", "a transform needs the field it sets")
		}
		if strings.TrimSpace(t.Expr) == "" {
			bad(t.path+".expr", "a transform needs an expression")
			continue
		}
		prg, err := compileExpr(t.Expr, t.path+".expr", fmt.Sprintf("transform of %q", t.Field), false)
		if err != nil {
			bad(t.path+".expr", "%v", err)
			continue
		}
		ct := &compiledTransform{field: t.Field, prg: prg}
		if t.When != "" {
			if ct.when, err = compileExpr(t.When, t.path+".when", fmt.Sprintf("transform of %q when", t.Field), true); err != nil {
				bad(t.path+".when", "%v", err)
				continue
			}
		}
		switch t.Phase {
		case "", Before:
			p.before = append(p.before, ct)
		case After:
			p.after = append(p.after, ct)
		default:
			bad(t.path+".phase", "%q is not before or after", t.Phase)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// compileField checks one field's settings and builds its normalizer; nil
// when it has none.
func compileField(name string, f Field, path string) (*compiledField, []error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Path: path + key, Msg: fmt.Sprintf(format, args...)})
	}
	if f.Normalize != NormalizeNone && !slices.Contains(Normalizers, f.Normalize) {
		bad(".normalize", "%q is not a normalizer (one of %s)", f.Normalize, quoteAll(Normalizers))
		return nil, errs
	}
	for _, k := range fieldKeys {
		if k.set(f) && !slices.Contains(k.only, f.Normalize) {
			bad("."+k.key, "only applies to normalize: %s", quoteAll(k.only))
		}
	}
	cf := &compiledField{name: name, norm: f.Normalize, onInvalid: f.OnInvalid}
	switch f.OnInvalid {
	case "":
		cf.onInvalid = Flag
		if f.Normalize == NormalizeEmail {
			cf.onInvalid = Reject
		}
	case Reject, Flag, Drop:
		if f.Normalize == NormalizeNone {
			bad(".on_invalid", "needs a normalizer")
		}
	default:
		bad(".on_invalid", "%q is not reject, flag or drop", f.OnInvalid)
	}
	countryOf := func(rec map[string]any, def string) (string, string) {
		if f.CountryField == "" {
			return def, ""
		}
		s, ok := text(rec[f.CountryField])
		if !ok || strings.TrimFunc(s, isSpace) == "" {
			return def, ""
		}
		c, err := Country(s)
		if err != nil {
			return "", s
		}
		return c, ""
	}
	switch f.Normalize {
	case NormalizeNone:
		return nil, errs
	case NormalizeEmail:
		cf.code = CodeInvalidEmail
		cf.fn = textFunc(func(s string) (any, error) { return Email(s) })
	case NormalizePhone:
		cf.code = CodeInvalidPhone
		region := strings.ToUpper(strings.TrimSpace(f.Region))
		if region != "" && !validRegion(region) {
			bad(".region", "%q is not an ISO 3166-1 alpha-2 region code (such as US, GB, DE)", f.Region)
		}
		if f.ExtensionField == name {
			bad(".extension_field", "is the phone field itself")
		}
		cf.fn = func(v any, rec map[string]any) (any, []Issue, error) {
			s, ok := phoneText(v)
			if !ok {
				return nil, nil, typeError(v, "a phone number")
			}
			r, unknown := countryOf(rec, region)
			if unknown != "" {
				r = region
			}
			n, err := Phone(s, r, f.Strict)
			if err != nil {
				return nil, nil, err
			}
			var notes []Issue
			if n.Extension != "" {
				if f.ExtensionField != "" {
					rec[f.ExtensionField] = n.Extension
				} else {
					notes = append(notes, Issue{Code: CodePhoneExtension,
						Message: fmt.Sprintf("extension %q removed: E.164 has no extension (set extension_field to keep it)", n.Extension)})
				}
			}
			return n.E164, notes, nil
		}
	case NormalizePostalCode:
		cf.code = CodeInvalidPostal
		def := ""
		if f.Country != "" {
			c, err := Country(f.Country)
			if err != nil {
				bad(".country", "%q is not a country (ISO 3166-1 alpha-2 code or name)", f.Country)
			}
			def = c
		}
		cf.fn = func(v any, rec map[string]any) (any, []Issue, error) {
			country, unknown := countryOf(rec, def)
			s, ok := text(v)
			var notes []Issue
			if !ok {
				n, isNum := wholeNumber(v)
				if !isNum {
					return nil, nil, typeError(v, "a postal code")
				}
				s = strconv.FormatInt(n, 10)
				if d := postalDigits(country); len(s) < d {
					s = strings.Repeat("0", d-len(s)) + s
					notes = append(notes, Issue{Code: CodeCorrected,
						Message: fmt.Sprintf("postal code %v arrived as a number: leading zeros restored", v)})
				}
			}
			if unknown != "" {
				notes = append(notes, Issue{Code: CodeNotChecked,
					Message: fmt.Sprintf("postal code format not checked: %q in %s is not a known country", clip(unknown), f.CountryField)})
			}
			out, err := PostalCode(s, country)
			return out, notes, err
		}
	case NormalizeCompany:
		cf.code = CodeInvalidCompany
		style := f.Suffix
		if style == "" {
			style = SuffixShort
		} else if !slices.Contains(SuffixStyles, style) {
			bad(".suffix", "%q is not one of %s", f.Suffix, quoteAll(SuffixStyles))
		}
		cf.fn = textFunc(func(s string) (any, error) { return CompanyName(s, style) })
	case NormalizeLeadScore:
		cf.code = CodeInvalidLeadScore
		cf.fn = func(v any, _ map[string]any) (any, []Issue, error) {
			n, corrected, err := LeadScore(v)
			if err != nil {
				return nil, nil, err
			}
			var notes []Issue
			if corrected != "" {
				notes = append(notes, Issue{Code: CodeCorrected, Message: "lead score " + corrected})
			}
			return n, notes, nil
		}
	case NormalizeLifecycle:
		cf.code = CodeUnknownStage
		stages := f.Stages
		if stages == nil {
			stages = DefaultLifecycleStages
		}
		l, err := NewLifecycle(stages, f.Aliases)
		if err != nil {
			bad(".stages", "%v", err)
			return nil, errs
		}
		cf.fn = textFunc(func(s string) (any, error) { return l.Stage(s) })
	case NormalizeSize:
		cf.code = CodeUnclearSize
		ranges := f.Ranges
		if ranges == nil {
			ranges = DefaultCompanySizes
		}
		sizes, err := NewCompanySizes(ranges, f.Descriptions)
		if err != nil {
			bad(".ranges", "%v", err)
			return nil, errs
		}
		cf.fn = func(v any, _ map[string]any) (any, []Issue, error) {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			out, err := sizes.Size(v)
			return out, nil, err
		}
	case NormalizeCountry:
		cf.code = CodeInvalidCountry
		cf.fn = textFunc(func(s string) (any, error) { return Country(s) })
	case NormalizeTrim, NormalizeLower, NormalizeUpper:
		fold := map[Normalizer]func(string) string{
			NormalizeTrim: func(s string) string { return s }, NormalizeLower: strings.ToLower, NormalizeUpper: strings.ToUpper,
		}[f.Normalize]
		cf.fn = func(v any, _ map[string]any) (any, []Issue, error) {
			s, ok := v.(string)
			if !ok {
				return v, nil, nil
			}
			return fold(collapseSpaces(s)), nil, nil
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cf, nil
}

// textFunc adapts a string normalizer; values that are not text are
// invalid.
func textFunc(fn func(string) (any, error)) normFunc {
	return func(v any, _ map[string]any) (any, []Issue, error) {
		s, ok := text(v)
		if !ok {
			return nil, nil, typeError(v, "text")
		}
		out, err := fn(s)
		return out, nil, err
	}
}

type typeErr struct{ msg string }

func (e *typeErr) Error() string { return e.msg }
func (e *typeErr) Unwrap() error { return ErrInvalid }

func typeError(v any, want string) error {
	return &typeErr{fmt.Sprintf("%s (%T) is not %s", clip(fmt.Sprint(v)), v, want)}
}

func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

func phoneText(v any) (string, bool) {
	if s, ok := text(v); ok {
		return s, true
	}
	if n, ok := wholeNumber(v); ok && n > 0 {
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

// wholeNumber returns v as an int64 when it is a whole number.
func wholeNumber(v any) (int64, bool) {
	switch v.(type) {
	case string, []byte, json.Number:
		return 0, false
	}
	if r, ok := v.(*big.Rat); ok && (r == nil || !r.IsInt()) {
		return 0, false
	}
	f, _, err := toFloat(v)
	if err != nil || f != float64(int64(f)) {
		return 0, false
	}
	return int64(f), true
}

// blank reports a value that counts as missing: null, or empty or white
// space only text, or an empty list or map.
func blank(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimFunc(x, isSpace) == ""
	case []byte:
		return strings.TrimFunc(string(x), isSpace) == ""
	case []any:
		return len(x) == 0
	case []string:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// Apply cleans and scores record, measuring its age against the
// pipeline's clock. record is not modified.
func (p *Pipeline) Apply(record map[string]any) Result {
	return p.ApplyAt(record, p.now())
}

// ApplyAt is Apply with the age of the record measured at now (the
// record's commit time, say, for results that do not depend on when they
// are computed).
func (p *Pipeline) ApplyAt(record map[string]any, now time.Time) Result {
	rec := make(map[string]any, len(record)+2)
	maps.Copy(rec, record)
	var res Result
	issue := func(i Issue) {
		res.Issues = append(res.Issues, i)
		if i.Severity == Error {
			res.Invalid = true
		}
	}
	p.transform(p.before, rec, issue)

	invalidEmails := 0
	invalid := map[string]bool{}
	for _, f := range p.fields {
		v, present := rec[f.name]
		if blank(v) {
			if present && v != nil {
				rec[f.name] = nil
			}
			continue
		}
		out, notes, err := f.fn(v, rec)
		for _, n := range notes {
			n.Field, n.Severity, n.Original = f.name, Info, v
			issue(n)
		}
		if err == nil {
			rec[f.name] = out
			continue
		}
		invalid[f.name] = true
		code := f.code
		var te *typeErr
		if errors.As(err, &te) {
			code = CodeInvalidType
		}
		if f.norm == NormalizeEmail {
			invalidEmails++
		}
		sev := Warning
		switch f.onInvalid {
		case Reject:
			sev = Error
		case Drop:
			rec[f.name] = nil
		}
		issue(Issue{Field: f.name, Code: code, Severity: sev, Message: strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "), Original: v})
	}

	p.transform(p.after, rec, issue)

	missing := map[string]bool{}
	for _, name := range p.required {
		if blank(rec[name]) && !invalid[name] {
			missing[name] = true
			issue(Issue{Field: name, Code: CodeMissingRequired, Severity: Warning,
				Message: fmt.Sprintf("required field %s is missing", name), Original: record[name]})
		}
	}
	for _, r := range p.rules {
		p.rule(r, rec, record, missing, invalid, issue)
	}
	var age time.Duration
	if p.freshness != "" {
		if v := rec[p.freshness]; !blank(v) {
			t, ok := timeOf(v)
			switch {
			case !ok:
				issue(Issue{Field: p.freshness, Code: CodeInvalidTimestamp, Severity: Warning,
					Message: fmt.Sprintf("%q (%T) is not a time; freshness not scored", clip(fmt.Sprint(v)), v), Original: v})
			case now.Sub(t) > StaleAfter:
				age = now.Sub(t)
				pen := StalePenalty
				if age > VeryStaleAfter {
					pen = VeryStalePenalty
				}
				issue(Issue{Field: p.freshness, Code: CodeStale, Severity: Info,
					Message: fmt.Sprintf("record is %d days old: %d points off", int(age/(24*time.Hour)), pen), Original: v})
			}
		}
	}
	res.Score = Score(len(missing), invalidEmails, age)
	if p.scoreField != "" {
		rec[p.scoreField] = int64(res.Score)
	}
	res.Record = rec
	if res.Invalid {
		var reasons []string
		for _, i := range res.Issues {
			if i.Severity == Error {
				reasons = append(reasons, i.String())
			}
		}
		res.Reason = strings.Join(reasons, "; ")
	}
	if p.observer != nil {
		p.observer.Observe(p.entity, p.source, &res)
	}
	return res
}

func (p *Pipeline) transform(ts []*compiledTransform, rec map[string]any, issue func(Issue)) {
	for _, t := range ts {
		if t.when != nil {
			ok, err := t.when.evalBool(rec)
			if err != nil {
				issue(Issue{Field: t.field, Code: CodeTransformError, Severity: Warning,
					Message: fmt.Sprintf("%s: %v; field left unchanged", t.when.path, err), Original: rec[t.field]})
				continue
			}
			if !ok {
				continue
			}
		}
		out, err := t.prg.eval(rec)
		if err != nil {
			issue(Issue{Field: t.field, Code: CodeTransformError, Severity: Warning,
				Message: fmt.Sprintf("%s: %v; field left unchanged", t.prg.path, err), Original: rec[t.field]})
			continue
		}
		rec[t.field] = native(out)
	}
}

func (p *Pipeline) rule(r *compiledRule, rec, orig map[string]any, missing, invalid map[string]bool, issue func(Issue)) {
	sev := Warning
	if r.onFail == Reject {
		sev = Error
	}
	if r.when != nil {
		ok, err := r.when.evalBool(rec)
		if err != nil {
			issue(Issue{Code: CodeRuleError, Severity: Warning, Rule: r.name,
				Message: fmt.Sprintf("when: %v; rule not applied", err)})
			return
		}
		if !ok {
			return
		}
	}
	for _, f := range r.require {
		if !blank(rec[f]) || invalid[f] {
			continue
		}
		if missing[f] {
			continue // counted once, by the first requirement
		}
		missing[f] = true
		msg := fmt.Sprintf("%s is required", f)
		if r.ownMessage {
			msg = r.message
		}
		issue(Issue{Field: f, Code: CodeMissingRequired, Severity: sev, Rule: r.name, Message: msg, Original: orig[f]})
	}
	if r.check != nil {
		ok, err := r.check.evalBool(rec)
		switch {
		case err != nil:
			issue(Issue{Code: CodeRuleError, Severity: Warning, Rule: r.name,
				Message: fmt.Sprintf("check: %v; rule not applied", err)})
		case !ok:
			issue(Issue{Code: CodeRuleFailed, Severity: sev, Rule: r.name, Message: r.message})
		}
	}
}

// timeOf reads a record's date: a time.Time, RFC 3339 text (with or without
// fractional seconds or zone), a YYYY-MM-DD date, or a number of seconds
// (below 1e11) or milliseconds since the epoch.
func timeOf(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, !x.IsZero()
	case string:
		s := strings.TrimFunc(x, isSpace)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05", time.DateOnly} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	if n, ok := wholeNumber(v); ok {
		if n < 1e11 && n > -1e11 {
			return time.Unix(n, 0), true
		}
		return time.UnixMilli(n), true
	}
	return time.Time{}, false
}

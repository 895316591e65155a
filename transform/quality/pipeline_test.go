package quality

import (
	"bytes"
	"errors"
	"maps"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// seedsYAML is the configuration the seeds describe: the format rules, the
// required fields by record type and the two conditional requirements.
const seedsYAML = `
contact:
  fields:
    email: {normalize: email, required: true}
    last_name: {required: true}
    phone: {normalize: phone, region: US, country_field: country}
    country: {normalize: country}
    postal_code: {normalize: postal_code, country: US, country_field: country}
    company: {normalize: company_name}
    lead_score: {normalize: lead_score}
    lifecycle_stage: {normalize: lifecycle_stage}
    company_size: {normalize: company_size}
  rules:
    - name: state_with_country
      when: country != null
      require: [state]
      message: if country is provided, state/province should also be provided
    - name: lead_source_for_hot_leads
      when: lead_score != null && lead_score > 75
      require: [lead_source]
      message: lead source details are required for lead scores above 75
  freshness_field: updated_at
  score_field: quality_score
  sources:
    crm:
      fields:
        phone: {normalize: phone, region: GB}
      transforms:
        - field: email
          expr: 'has(record.email_address) ? email_address : email'
company:
  fields:
    name: {normalize: company_name, required: true}
    industry: {required: true}
opportunity:
  fields:
    amount: {required: true}
    close_date: {required: true}
    stage: {required: true}
`

func decodeEntities(t testing.TB, doc string) map[string]EntityConfig {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	var cfg map[string]EntityConfig
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return cfg
}

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func compileSeeds(t testing.TB, opts ...Option) map[string]*Entity {
	t.Helper()
	out := map[string]*Entity{}
	for name, cfg := range decodeEntities(t, seedsYAML) {
		e, err := CompileEntity(name, cfg, append([]Option{WithClock(func() time.Time { return now })}, opts...)...)
		if err != nil {
			t.Fatalf("compile %s: %v", name, err)
		}
		out[name] = e
	}
	return out
}

func goodContact() map[string]any {
	return map[string]any{
		"email":           "  Jane.Doe@Example.COM ",
		"first_name":      "Jane",
		"last_name":       "Doe",
		"phone":           "(555) 123-4567",
		"country":         "USA",
		"state":           "CA",
		"postal_code":     "941031234",
		"company":         "ACME, inc",
		"lead_score":      "42",
		"lifecycle_stage": "Sales Qualified Lead",
		"company_size":    "50-200 employees",
		"updated_at":      now.Add(-24 * time.Hour),
	}
}

func codes(r Result) []string {
	var out []string
	for _, i := range r.Issues {
		if i.Severity != Info {
			out = append(out, i.Field+":"+i.Code)
		}
	}
	return out
}

func TestApplyCleansAContact(t *testing.T) {
	p := compileSeeds(t)["contact"].For("app")
	in := goodContact()
	orig := maps.Clone(in)
	r := p.Apply(in)
	want := map[string]any{
		"email":           "jane.doe@example.com",
		"first_name":      "Jane",
		"last_name":       "Doe",
		"phone":           "+15551234567",
		"country":         "US",
		"state":           "CA",
		"postal_code":     "94103-1234",
		"company":         "Acme Inc.",
		"lead_score":      int64(42),
		"lifecycle_stage": "sales_qualified_lead",
		"company_size":    "51-200",
		"updated_at":      in["updated_at"],
		"quality_score":   int64(100),
	}
	if !reflect.DeepEqual(r.Record, want) {
		t.Errorf("record:\n got %v\nwant %v", r.Record, want)
	}
	if r.Invalid || r.Reason != "" || r.Score != 100 || len(r.Issues) != 0 {
		t.Errorf("got invalid=%v reason=%q score=%d issues=%v; want a valid record scoring 100 with no issues", r.Invalid, r.Reason, r.Score, r.Issues)
	}
	if !reflect.DeepEqual(in, orig) {
		t.Errorf("Apply changed its input: %v", in)
	}
}

// TestQualityScore checks the seeds' scoring criteria: "Completeness: -20
// points per missing required field; Format Validity: -25 points for
// invalid email format; Data Freshness: -10 points if >90 days old, -20 if
// >1 year; Base Score: 100 points for complete, valid records".
func TestQualityScore(t *testing.T) {
	entities := compileSeeds(t)
	day := 24 * time.Hour
	tests := []struct {
		name    string
		entity  string
		edit    func(map[string]any)
		score   int
		invalid bool
		issues  []string
	}{
		{"a complete, valid record scores the base 100", "contact", func(map[string]any) {}, 100, false, nil},
		{"one missing required field costs 20", "contact", func(r map[string]any) { delete(r, "last_name") }, 80, false,
			[]string{"last_name:missing_required"}},
		{"a blank required field is missing", "contact", func(r map[string]any) { r["last_name"] = "  " }, 80, false,
			[]string{"last_name:missing_required"}},
		{"two missing required fields cost 40", "contact", func(r map[string]any) { delete(r, "last_name"); r["email"] = nil }, 60, false,
			[]string{"email:missing_required", "last_name:missing_required"}},
		{"an invalid email costs 25 and rejects the record", "contact", func(r map[string]any) { r["email"] = "jane.doe@" }, 75, true,
			[]string{"email:invalid_email"}},
		{"exactly 90 days old is not stale", "contact", func(r map[string]any) { r["updated_at"] = now.Add(-90 * day) }, 100, false, nil},
		{"older than 90 days costs 10", "contact", func(r map[string]any) { r["updated_at"] = now.Add(-91 * day) }, 90, false, nil},
		{"older than a year costs 20", "contact", func(r map[string]any) { r["updated_at"] = now.Add(-366 * day) }, 80, false, nil},
		{"a timestamp as RFC 3339 text is read", "contact", func(r map[string]any) { r["updated_at"] = "2025-06-01T00:00:00Z" }, 80, false, nil},
		{"a timestamp in epoch milliseconds is read", "contact", func(r map[string]any) { r["updated_at"] = now.Add(-100 * day).UnixMilli() }, 90, false, nil},
		{"an unreadable timestamp is flagged and not scored", "contact", func(r map[string]any) { r["updated_at"] = "last tuesday" }, 100, false,
			[]string{"updated_at:invalid_timestamp"}},
		{"penalties add up", "contact", func(r map[string]any) {
			r["email"] = "not-an-email"
			delete(r, "last_name")
			r["updated_at"] = now.Add(-200 * day)
		}, 100 - 25 - 20 - 10, true, []string{"email:invalid_email", "last_name:missing_required"}},
		{"the score does not go below 0", "opportunity", func(r map[string]any) {
			for k := range r {
				delete(r, k)
			}
		}, 40, false, []string{"amount:missing_required", "close_date:missing_required", "stage:missing_required"}},
		{"country without state is a missing conditional field", "contact", func(r map[string]any) { delete(r, "state") }, 80, false,
			[]string{"state:missing_required"}},
		{"no country, no state needed", "contact", func(r map[string]any) { delete(r, "state"); delete(r, "country") }, 100, false, nil},
		{"a lead score above 75 requires the lead source", "contact", func(r map[string]any) { r["lead_score"] = "85.6" }, 80, false,
			[]string{"lead_source:missing_required"}},
		{"a lead score above 75 with its source is fine", "contact", func(r map[string]any) { r["lead_score"] = 90; r["lead_source"] = "webinar" }, 100, false, nil},
		{"a lead score of exactly 75 needs no source", "contact", func(r map[string]any) { r["lead_score"] = 75 }, 100, false, nil},
		{"company records need name and industry", "company", func(r map[string]any) {
			for k := range r {
				delete(r, k)
			}
			r["name"] = "globex corporation"
		}, 80, false, []string{"industry:missing_required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := goodContact()
			tt.edit(rec)
			r := entities[tt.entity].For("app").Apply(rec)
			if r.Score != tt.score || r.Invalid != tt.invalid || !reflect.DeepEqual(codes(r), tt.issues) {
				t.Fatalf("got score %d invalid %v issues %v; want score %d invalid %v issues %v (all: %v)",
					r.Score, r.Invalid, codes(r), tt.score, tt.invalid, tt.issues, r.Issues)
			}
			if tt.entity == "contact" && r.Record["quality_score"] != int64(tt.score) {
				t.Fatalf("quality_score field = %v, want %d", r.Record["quality_score"], tt.score)
			}
		})
	}
}

func TestScoreFloor(t *testing.T) {
	if got := Score(4, 1, 2*VeryStaleAfter); got != 0 {
		t.Fatalf("Score(4 missing, 1 invalid email, 2 years) = %d, want 0", got)
	}
	if got := Score(0, 0, 0); got != 100 {
		t.Fatalf("Score() = %d, want 100", got)
	}
}

func TestApplyIssues(t *testing.T) {
	p := compileSeeds(t)["contact"].For("app")
	rec := goodContact()
	rec["email"] = "jane doe@example.com"
	rec["phone"] = "(555) 123-4567 ext. 89"
	rec["lead_score"] = 120
	rec["company_size"] = "10-100"
	rec["lifecycle_stage"] = "VIP"
	rec["postal_code"] = "1234"
	r := p.Apply(rec)
	if !r.Invalid {
		t.Fatal("a record with an invalid email was not rejected")
	}
	if !strings.Contains(r.Reason, "email: invalid_email") || !strings.Contains(r.Reason, `"jane doe@example.com"`) {
		t.Errorf("reason %q does not name the field, the code and the value", r.Reason)
	}
	byCode := map[string]Issue{}
	for _, i := range r.Issues {
		byCode[i.Code] = i
	}
	checks := []struct {
		code, field string
		sev         Severity
		orig        any
	}{
		{CodeInvalidEmail, "email", Error, "jane doe@example.com"},
		{CodePhoneExtension, "phone", Info, "(555) 123-4567 ext. 89"},
		{CodeCorrected, "lead_score", Info, 120},
		{CodeUnclearSize, "company_size", Warning, "10-100"},
		{CodeUnknownStage, "lifecycle_stage", Warning, "VIP"},
		{CodeInvalidPostal, "postal_code", Warning, "1234"},
		{CodeMissingRequired, "lead_source", Warning, nil},
	}
	for _, c := range checks {
		i, ok := byCode[c.code]
		if !ok {
			t.Errorf("no %s issue in %v", c.code, r.Issues)
			continue
		}
		if i.Field != c.field || i.Severity != c.sev || !reflect.DeepEqual(i.Original, c.orig) || i.Message == "" {
			t.Errorf("%s issue = %+v; want field %s severity %s original %v", c.code, i, c.field, c.sev, c.orig)
		}
	}
	// Flagged values are kept as they were; corrected ones are corrected.
	if r.Record["company_size"] != "10-100" || r.Record["lifecycle_stage"] != "VIP" || r.Record["postal_code"] != "1234" {
		t.Errorf("flagged values were changed: %v", r.Record)
	}
	if r.Record["phone"] != "+15551234567" || r.Record["lead_score"] != int64(100) {
		t.Errorf("phone %v, lead score %v; want +15551234567 and 100", r.Record["phone"], r.Record["lead_score"])
	}
	if byCode[CodeMissingRequired].Rule != "lead_source_for_hot_leads" {
		t.Errorf("missing lead_source issue does not name the rule: %+v", byCode[CodeMissingRequired])
	}
	// 100 − 25 (invalid email) − 20 (lead_source, as the score was clamped to 100).
	if r.Score != 55 {
		t.Errorf("score %d, want 55", r.Score)
	}
}

func TestOnInvalidAndRules(t *testing.T) {
	p, err := Compile(Spec{
		Fields: map[string]Field{
			"email":  {Normalize: NormalizeEmail, OnInvalid: Drop},
			"phone":  {Normalize: NormalizePhone, Region: "US", ExtensionField: "phone_ext", OnInvalid: Reject},
			"zip":    {Normalize: NormalizePostalCode, Country: "US"},
			"stage":  {Normalize: NormalizeLifecycle, Stages: []string{"New", "Won"}, Required: true},
			"amount": {},
			"name":   {Normalize: NormalizeTrim},
		},
		Rules: []Rule{
			{Name: "positive_amount", When: "amount != null", Check: "amount > 0", Message: "amount must be positive", OnFail: Reject},
			{Name: "won_needs_amount", When: "stage == 'Won'", Require: []string{"amount"}},
			{Name: "typed", Check: "amount + 1 > 0"},
		},
		Transforms: []Transform{
			{Field: "name", When: "first != null && last != null", Expr: "first + ' ' + last.trim()"},
			{Field: "domain", When: "email != null", Expr: "email.split('@')[1]", Phase: After},
		},
	}, WithNames("deal", "billing"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("drop removes an invalid value and flags it", func(t *testing.T) {
		r := p.Apply(map[string]any{"email": "nope", "stage": "won", "amount": 10, "first": "Ada", "last": " Lovelace "})
		if r.Invalid || r.Record["email"] != nil || codes(r)[0] != "email:invalid_email" {
			t.Fatalf("got invalid %v email %v issues %v", r.Invalid, r.Record["email"], r.Issues)
		}
		if r.Score != 75 {
			t.Errorf("score %d, want 75 (invalid email)", r.Score)
		}
		if r.Record["name"] != "Ada Lovelace" || r.Record["stage"] != "Won" || r.Record["domain"] != nil {
			t.Errorf("record %v", r.Record)
		}
	})
	t.Run("after transforms see normalized values", func(t *testing.T) {
		r := p.Apply(map[string]any{"email": "Ada@Example.ORG", "stage": "new", "amount": 1})
		if r.Record["domain"] != "example.org" {
			t.Fatalf("domain %v, want example.org", r.Record["domain"])
		}
	})
	t.Run("reject on a phone makes the record invalid", func(t *testing.T) {
		r := p.Apply(map[string]any{"phone": "12", "stage": "new", "amount": 1})
		if !r.Invalid || !strings.Contains(r.Reason, "phone: invalid_phone") {
			t.Fatalf("invalid %v reason %q", r.Invalid, r.Reason)
		}
	})
	t.Run("the extension goes to its field", func(t *testing.T) {
		r := p.Apply(map[string]any{"phone": "212-555-0100 x7", "stage": "new", "amount": 1})
		if r.Record["phone"] != "+12125550100" || r.Record["phone_ext"] != "7" || len(r.Issues) != 0 {
			t.Fatalf("record %v issues %v", r.Record, r.Issues)
		}
	})
	t.Run("a failed check with on_fail reject rejects", func(t *testing.T) {
		r := p.Apply(map[string]any{"stage": "new", "amount": -5})
		if !r.Invalid || r.Reason != `rule "positive_amount": rule_failed: amount must be positive` {
			t.Fatalf("invalid %v reason %q", r.Invalid, r.Reason)
		}
	})
	t.Run("a conditional requirement applies only when its condition holds", func(t *testing.T) {
		r := p.Apply(map[string]any{"stage": "Won"})
		if got := codes(r); !reflect.DeepEqual(got, []string{"amount:missing_required", ":rule_error"}) {
			t.Fatalf("issues %v", r.Issues)
		}
		if r.Issues[1].Rule != "typed" || !strings.Contains(r.Issues[1].Message, "no such overload") {
			t.Errorf("rule error %+v", r.Issues[1])
		}
		if r.Score != 80 {
			t.Errorf("score %d, want 80", r.Score)
		}
	})
	t.Run("a required field missing is flagged, not rejected", func(t *testing.T) {
		r := p.Apply(map[string]any{"amount": 3})
		if r.Invalid || !reflect.DeepEqual(codes(r), []string{"stage:missing_required"}) {
			t.Fatalf("invalid %v issues %v", r.Invalid, r.Issues)
		}
	})
	t.Run("a number postal code gets its leading zero back", func(t *testing.T) {
		r := p.Apply(map[string]any{"zip": int64(2134), "stage": "new", "amount": 1})
		if r.Record["zip"] != "02134" {
			t.Fatalf("zip %v, want 02134", r.Record["zip"])
		}
	})
	t.Run("a value of the wrong type is an invalid_type issue", func(t *testing.T) {
		r := p.Apply(map[string]any{"email": 42, "stage": "new", "amount": 1})
		if got := codes(r); !reflect.DeepEqual(got, []string{"email:invalid_type"}) {
			t.Fatalf("issues %v", r.Issues)
		}
		if r.Score != 75 {
			t.Errorf("score %d, want 75: a number is not a valid email format", r.Score)
		}
	})
	t.Run("a nil record is an empty record", func(t *testing.T) {
		r := p.Apply(nil)
		if r.Record == nil || !reflect.DeepEqual(codes(r), []string{"stage:missing_required", ":rule_error"}) {
			t.Fatalf("record %v issues %v", r.Record, r.Issues)
		}
	})
}

func TestSourceOverlay(t *testing.T) {
	e := compileSeeds(t)["contact"]
	rec := goodContact()
	rec["phone"] = "020 7946 0958"
	delete(rec, "country")
	delete(rec, "email")
	rec["email_address"] = "Jane@Example.com"

	crm := e.For("crm").Apply(rec)
	if crm.Record["phone"] != "+442079460958" || crm.Record["email"] != "jane@example.com" {
		t.Errorf("crm overlay: phone %v email %v; want the GB region and the mapped email", crm.Record["phone"], crm.Record["email"])
	}
	app := e.For("app").Apply(rec)
	if app.Record["email"] != nil || app.Record["phone"] == "+442079460958" {
		t.Errorf("base pipeline used the crm overlay: %v", app.Record)
	}
	if !reflect.DeepEqual(codes(app), []string{"phone:invalid_phone", "email:missing_required"}) {
		t.Errorf("app issues %v", app.Issues)
	}
}

func TestCountryFieldDrivesPhoneAndPostal(t *testing.T) {
	p := compileSeeds(t)["contact"].For("app")
	rec := goodContact()
	rec["country"] = "United Kingdom"
	rec["phone"] = "020 7946 0958"
	rec["postal_code"] = "sw1a1aa"
	r := p.Apply(rec)
	if r.Record["country"] != "GB" || r.Record["phone"] != "+442079460958" || r.Record["postal_code"] != "SW1A 1AA" {
		t.Fatalf("record %v issues %v", r.Record, r.Issues)
	}
	rec["country"] = "Canada"
	rec["postal_code"] = "k1a0b1"
	if got := p.Apply(rec).Record["postal_code"]; got != "K1A 0B1" {
		t.Fatalf("Canadian postal code %v", got)
	}
	rec["country"] = "Atlantis"
	rec["phone"] = "+44 20 7946 0958"
	r = p.Apply(rec)
	if r.Record["postal_code"] != "K1A0B1" {
		t.Fatalf("postal code with unknown country: %v", r.Record["postal_code"])
	}
	found := false
	for _, i := range r.Issues {
		found = found || i.Code == CodeNotChecked && i.Field == "postal_code"
	}
	if !found || !reflect.DeepEqual(codes(r), []string{"country:invalid_country"}) {
		t.Fatalf("issues %v", r.Issues)
	}
}

type recordingObserver struct {
	mu   sync.Mutex
	seen []string
}

func (o *recordingObserver) Observe(entity, source string, r *Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, entity+"/"+source+"/"+strconv.Itoa(r.Score))
}

func TestObserver(t *testing.T) {
	o := &recordingObserver{}
	e := compileSeeds(t, WithObserver(o))["contact"]
	rec := goodContact()
	delete(rec, "last_name")
	e.For("crm").Apply(rec)
	e.For("web").Apply(goodContact())
	want := []string{"contact/crm/80", "contact/web/100"}
	if !reflect.DeepEqual(o.seen, want) {
		t.Fatalf("observed %v, want %v", o.seen, want)
	}
}

func TestApplyAtIsDeterministic(t *testing.T) {
	p := compileSeeds(t)["contact"].For("app")
	rec := goodContact()
	rec["updated_at"] = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := p.ApplyAt(rec, time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)).Score; got != 100 {
		t.Errorf("one month old: %d, want 100", got)
	}
	if got := p.ApplyAt(rec, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)).Score; got != 90 {
		t.Errorf("five months old: %d, want 90", got)
	}
}

func TestApplyConcurrently(t *testing.T) {
	p := compileSeeds(t)["contact"].For("crm")
	want := p.Apply(goodContact())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if got := p.Apply(goodContact()); !reflect.DeepEqual(got, want) {
					t.Errorf("concurrent Apply differs: %v", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestCELValues(t *testing.T) {
	p, err := Compile(Spec{Transforms: []Transform{
		{Field: "full", Expr: `record["first-name"] + " " + last`},
		{Field: "n", Expr: "count * 2"},
		{Field: "list", Expr: "[1, 'a', null]"},
		{Field: "map", Expr: "{'a': 1.5}"},
		{Field: "any_big", Expr: "tags.exists(t, t == 'vip')"},
		{Field: "year", Expr: "updated.getFullYear()"},
		{Field: "big", Expr: "price > 10.0"},
		{Field: "bound", Expr: "cel.bind(x, count + 1, x * x)"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Apply(map[string]any{
		"first-name": "Ada", "last": "Lovelace", "count": int64(21), "tags": []any{"a", "vip"},
		"updated": time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), "price": ratOf(25, 2),
	})
	want := map[string]any{
		"full": "Ada Lovelace", "n": int64(42), "list": []any{int64(1), "a", nil}, "map": map[string]any{"a": 1.5},
		"any_big": true, "year": int64(2024), "big": true, "bound": int64(484),
	}
	for k, v := range want {
		if !reflect.DeepEqual(r.Record[k], v) {
			t.Errorf("%s = %#v, want %#v", k, r.Record[k], v)
		}
	}
	if len(r.Issues) != 0 {
		t.Errorf("issues %v", r.Issues)
	}
}

func TestCELErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want []string
	}{
		{"a syntax error names the rule, the key and the position",
			Spec{Rules: []Rule{{Name: "hot", When: "lead_score >> 75", Require: []string{"x"}}}},
			[]string{`rules[0].when: rule "hot" when: 1:13: Syntax error`, "| lead_score >> 75", "^"}},
		{"an unknown function",
			Spec{Rules: []Rule{{Name: "f", Check: "frobnicate(email)"}}},
			[]string{`rules[0].check: rule "f" check: 1:11: undeclared reference to 'frobnicate'`}},
		{"a type error",
			Spec{Rules: []Rule{{Name: "t", Check: "1 + 'a' == 2"}}},
			[]string{`rules[0].check: rule "t" check: 1:3: found no matching overload for '_+_'`}},
		{"a condition that is not a bool",
			Spec{Rules: []Rule{{Name: "s", When: "'yes'", Require: []string{"x"}}}},
			[]string{`rules[0].when: rule "s" when must be a condition (bool), not string`}},
		{"a transform error names the field",
			Spec{Transforms: []Transform{{Field: "x", Expr: "a +"}}},
			[]string{`transforms[0].expr: transform of "x": 1:4: Syntax error`}},
		{"a multi-line expression gives the line",
			Spec{Rules: []Rule{{Name: "m", Check: "a == 1 &&\n  b.nope("}}},
			[]string{`rules[0].check: rule "m" check: 2:`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.spec)
			if err == nil {
				t.Fatal("compiled; want an error")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("%v is not a ConfigError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want []string
	}{
		{"an unknown normalizer", Spec{Fields: map[string]Field{"e": {Normalize: "emial"}}},
			[]string{`fields.e.normalize: "emial" is not a normalizer`}},
		{"a key for another normalizer", Spec{Fields: map[string]Field{"e": {Normalize: NormalizeEmail, Region: "US"}}},
			[]string{`fields.e.region: only applies to normalize: "phone"`}},
		{"a bad region", Spec{Fields: map[string]Field{"p": {Normalize: NormalizePhone, Region: "USA"}}},
			[]string{`fields.p.region: "USA" is not an ISO 3166-1 alpha-2 region code`}},
		{"a bad country", Spec{Fields: map[string]Field{"z": {Normalize: NormalizePostalCode, Country: "Narnia"}}},
			[]string{`fields.z.country: "Narnia" is not a country`}},
		{"a bad on_invalid", Spec{Fields: map[string]Field{"e": {Normalize: NormalizeEmail, OnInvalid: "ignore"}}},
			[]string{`fields.e.on_invalid: "ignore" is not reject, flag or drop`}},
		{"on_invalid without a normalizer", Spec{Fields: map[string]Field{"e": {OnInvalid: Drop}}},
			[]string{`fields.e.on_invalid: needs a normalizer`}},
		{"a bad suffix style", Spec{Fields: map[string]Field{"c": {Normalize: NormalizeCompany, Suffix: "long"}}},
			[]string{`fields.c.suffix: "long" is not one of "short", "strip", "keep"`}},
		{"duplicate stages", Spec{Fields: map[string]Field{"s": {Normalize: NormalizeLifecycle, Stages: []string{"Lead", "lead"}}}},
			[]string{`fields.s.stages: stages "Lead" and "lead" are the same stage`}},
		{"overlapping ranges", Spec{Fields: map[string]Field{"s": {Normalize: NormalizeSize, Ranges: []string{"1-10", "10-20"}}}},
			[]string{`fields.s.ranges: range "10-20" overlaps`}},
		{"a rule without a name or body", Spec{Rules: []Rule{{}}},
			[]string{"rules[0].name: a rule needs a name", `rules[0]: rule "" needs require or check`}},
		{"duplicate rule names", Spec{Rules: []Rule{{Name: "a", Check: "true"}, {Name: "a", Check: "true"}}},
			[]string{`rules[1].name: rule "a" is also defined at rules[0]`}},
		{"a bad on_fail", Spec{Rules: []Rule{{Name: "a", Check: "true", OnFail: "drop"}}},
			[]string{`rules[0].on_fail: "drop" is not flag or reject`}},
		{"a transform without field or expr", Spec{Transforms: []Transform{{}}},
			[]string{"transforms[0].field: a transform needs the field it sets", "transforms[0].expr: a transform needs an expression"}},
		{"a bad phase", Spec{Transforms: []Transform{{Field: "a", Expr: "1", Phase: "during"}}},
			[]string{`transforms[0].phase: "during" is not before or after`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.spec)
			if err == nil {
				t.Fatal("compiled; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEntityConfigErrorsNameTheSource(t *testing.T) {
	cfg := decodeEntities(t, `
contact:
  fields:
    email: {normalize: email}
  sources:
    crm:
      fields:
        phone: {normalize: phone, region: XX}
      rules:
        - {name: bad, check: "email ="}
`)["contact"]
	_, err := CompileEntity("contact", cfg)
	if err == nil {
		t.Fatal("compiled; want errors")
	}
	err = WithPrefix("entities.contact.quality", err)
	for _, w := range []string{
		`entities.contact.quality.sources.crm.fields.phone.region: "XX" is not an ISO 3166-1 alpha-2 region code`,
		`entities.contact.quality.sources.crm.rules[0].check: rule "bad" check: 1:7: Syntax error`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestYAMLRejectsUnknownKeys(t *testing.T) {
	dec := yaml.NewDecoder(bytes.NewReader([]byte("contact:\n  fields:\n    email: {normalise: email}\n")))
	dec.KnownFields(true)
	var cfg map[string]EntityConfig
	if err := dec.Decode(&cfg); err == nil || !strings.Contains(err.Error(), "normalise") {
		t.Fatalf("decode error %v; want one naming the unknown key", err)
	}
}

func ratOf(a, b int64) any { return big.NewRat(a, b) }

func TestOverlayReplacesRulesByName(t *testing.T) {
	e, err := CompileEntity("deal", EntityConfig{
		Spec: Spec{
			Fields: map[string]Field{"phone": {Normalize: NormalizePhone, Region: "US"}},
			Rules: []Rule{
				{Name: "amount", Check: "amount > 100", Message: "base"},
				{Name: "other", Check: "true"},
			},
			FreshnessField: "updated_at",
			ScoreField:     "score",
		},
		Sources: map[string]Spec{
			"billing": {
				Rules:          []Rule{{Name: "amount", Check: "amount > 1", Message: "billing"}, {Name: "extra", Check: "false", Message: "extra"}},
				FreshnessField: "modified",
				ScoreField:     "q",
			},
		},
	}, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{"amount": 50, "phone": int64(2125550100), "modified": now.Add(-400 * 24 * time.Hour)}
	base := e.For("app").Apply(rec)
	if got := codes(base); !reflect.DeepEqual(got, []string{":rule_failed"}) || base.Issues[0].Message != "base" {
		t.Errorf("base issues %v", base.Issues)
	}
	if base.Record["phone"] != "+12125550100" || base.Record["score"] != int64(100) {
		t.Errorf("base record %v", base.Record)
	}
	billing := e.For("billing").Apply(rec)
	if got := codes(billing); !reflect.DeepEqual(got, []string{":rule_failed"}) || billing.Issues[0].Message != "extra" {
		t.Errorf("billing issues %v: the overlay's amount rule should replace the base's", billing.Issues)
	}
	if billing.Score != 80 || billing.Record["q"] != int64(80) || billing.Record["score"] != nil {
		t.Errorf("billing score %d record %v; want 80 (a year old by modified) in q", billing.Score, billing.Record)
	}
}

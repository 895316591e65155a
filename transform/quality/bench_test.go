package quality

import (
	"testing"
	"time"
)

// BenchmarkApply measures records per second through the seeds' contact
// pipeline: a clean record (every normalizer succeeds, both rules
// evaluate), a messy one (issues on most fields) and a pipeline with only
// CEL rules and transforms.
func BenchmarkApply(b *testing.B) {
	e := compileSeeds(b)["contact"]
	messy := goodContact()
	messy["email"] = "  JANE DOE@example"
	messy["phone"] = "+44 20 7946 0958 ext. 12"
	messy["postal_code"] = "sw1a1aa"
	messy["company"] = "  acme   CORPORATION "
	messy["lead_score"] = "185.6"
	messy["lifecycle_stage"] = "VIP"
	messy["company_size"] = "10-100"
	messy["updated_at"] = now.Add(-400 * 24 * time.Hour)
	delete(messy, "last_name")

	celOnly, err := Compile(Spec{
		Rules: []Rule{
			{Name: "a", When: "country != null", Require: []string{"state"}},
			{Name: "b", When: "lead_score != null && int(lead_score) > 75", Require: []string{"lead_source"}},
			{Name: "c", Check: "email.endsWith('.com') || email.endsWith('.org')"},
		},
		Transforms: []Transform{
			{Field: "full_name", Expr: "first_name + ' ' + last_name"},
			{Field: "domain", Expr: "email.split('@')[1]"},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		p    *Pipeline
		rec  map[string]any
	}{
		{"clean", e.For("app"), goodContact()},
		{"messy", e.For("crm"), messy},
		{"cel_only", celOnly, goodContact()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = c.p.ApplyAt(c.rec, now)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkNormalizers measures each normalizer alone.
func BenchmarkNormalizers(b *testing.B) {
	sizes, _ := NewCompanySizes(DefaultCompanySizes, nil)
	stages, _ := NewLifecycle(DefaultLifecycleStages, nil)
	benches := []struct {
		name string
		fn   func()
	}{
		{"email", func() { _, _ = Email("  Jane.Doe@Example.COM ") }},
		{"phone", func() { _, _ = Phone("(555) 123-4567 ext. 89", "US", false) }},
		{"postal_code", func() { _, _ = PostalCode("sw1a1aa", "GB") }},
		{"company_name", func() { _, _ = CompanyName("  acme   CORPORATION ", SuffixShort) }},
		{"lead_score", func() { _, _, _ = LeadScore("85.6") }},
		{"lifecycle_stage", func() { _, _ = stages.Stage("Sales Qualified Lead") }},
		{"company_size", func() { _, _ = sizes.Size("50-200 employees") }},
		{"country", func() { _, _ = Country("United Kingdom") }},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bb.fn()
			}
		})
	}
}

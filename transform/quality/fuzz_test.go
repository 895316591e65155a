package quality

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzApply feeds arbitrary text to every normalizer and rule of the seeds'
// contact configuration. Properties: Apply never panics; the score is
// within [0, 100]; an invalid record has a reason; applying the pipeline
// to its own output changes no normalized field (normalizers are
// idempotent).
func FuzzApply(f *testing.F) {
	seeds := [][]string{
		{"Jane@Example.com", "(555) 123-4567 ext. 89", "sw1a1aa", "ACME, inc", "85.6", "Sales Qualified Lead", "50-200 employees", "United Kingdom"},
		{"  acme   CORPORATION ", "+44 20 7946 0958", "k1a0b1", "  acme   CORPORATION ", "-5", "MQL", "enterprise", "CA"},
		{"jörg@bücher.de", "0044 20 7946 0958", "12345-6789", "o'reilly media", "1e400", "VIP", "10k+", "USA"},
		{"", "", "", "", "", "", "", ""},
		{"@", "+", "-", ",", "%", "_", "+", "."},
		{"a@b.c", "x89", "GIR0AA", "Inc", "NaN", "customers", "less than 10", "Atlantis"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])
	}
	cfg := decodeEntities(f, seedsYAML)["contact"]
	e, err := CompileEntity("contact", cfg, WithClock(func() time.Time { return now }))
	if err != nil {
		f.Fatal(err)
	}
	p := e.For("crm")
	normalized := []string{"email", "phone", "postal_code", "company", "lead_score", "lifecycle_stage", "company_size", "country"}
	f.Fuzz(func(t *testing.T, email, phone, postal, company, score, stage, size, country string) {
		rec := map[string]any{
			"email": email, "phone": phone, "postal_code": postal, "company": company,
			"lead_score": score, "lifecycle_stage": stage, "company_size": size, "country": country,
			"last_name": company, "state": stage, "updated_at": score, "email_address": email,
		}
		r := p.Apply(rec)
		if r.Score < 0 || r.Score > 100 {
			t.Fatalf("score %d out of range", r.Score)
		}
		if r.Invalid != (r.Reason != "") {
			t.Fatalf("invalid %v with reason %q", r.Invalid, r.Reason)
		}
		for _, i := range r.Issues {
			if i.Code == "" || i.Message == "" || i.Severity == "" {
				t.Fatalf("incomplete issue %+v", i)
			}
		}
		again := p.Apply(r.Record)
		for _, k := range normalized {
			if !reflect.DeepEqual(again.Record[k], r.Record[k]) {
				t.Fatalf("%s not idempotent: %#v → %#v", k, r.Record[k], again.Record[k])
			}
		}
		// The exported normalizers agree with the pipeline and are
		// idempotent too.
		if out, err := CompanyName(company, SuffixStrip); err == nil {
			if again, err := CompanyName(out, SuffixStrip); err != nil || again != out {
				t.Fatalf("CompanyName strip not idempotent: %q → %q, %v", out, again, err)
			}
		}
		if out, err := Email(email); err == nil {
			if again, err := Email(out); err != nil || again != out {
				t.Fatalf("Email not idempotent: %q → %q, %v", out, again, err)
			}
			if strings.TrimSpace(out) != out {
				t.Fatalf("Email kept spaces: %q", out)
			}
		}
	})
}

package quality

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEExample compiles the configuration the README's Data quality
// section shows, so the documentation cannot drift from the code.
func TestREADMEExample(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Data quality\n")
	if !ok {
		t.Fatal("README has no Data quality section")
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	if !ok {
		t.Fatal("the Data quality section has no yaml example")
	}
	block, _, _ = strings.Cut(block, "```")
	for name, cfg := range decodeEntities(t, block) {
		e, err := CompileEntity(name, cfg)
		if err != nil {
			t.Fatalf("README example %s: %v", name, err)
		}
		r := e.For("crm").Apply(map[string]any{
			"email": "Jane@Example.com", "last_name": "Doe", "first_name": "Jane", "phone": "020 7946 0958",
			"lifecycle_stage": "Marketing Qualified Lead", "amount": 5,
		})
		if r.Invalid || r.Record["phone"] != "+442079460958" || r.Record["lifecycle_stage"] != "mql" ||
			r.Record["domain"] != "example.com" || r.Record["full_name"] != "Jane Doe" || r.Score != 100 {
			t.Fatalf("README example: %v %v", r.Record, r.Issues)
		}
	}
}

package saas

import (
	"encoding/json"
	"testing"
)

func TestCompositeRecordID(t *testing.T) {
	rec := map[string]any{"tenant": "acme", "n": json.Number("42"), "nested": map[string]any{"id": "x,y"}, "empty": ""}
	tests := []struct{ field, want, err string }{
		{field: "n", want: "42"},
		{field: "nested.id", want: "x,y"},
		{field: "tenant,n", want: `["acme","42"]`},
		{field: "tenant,nested.id", want: `["acme","x,y"]`},
		{field: "tenant,missing", err: `no id field "missing"`},
		{field: "tenant,empty", err: `id field "empty": empty or not a scalar`},
	}
	for _, tt := range tests {
		got, err := recordID(rec, tt.field)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("recordID(%q) error %v, want %q", tt.field, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("recordID(%q) = %q, %v; want %q", tt.field, got, err, tt.want)
		}
	}
}

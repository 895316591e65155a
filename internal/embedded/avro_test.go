package embedded

import (
	"strings"
	"testing"
)

func TestAvroNormalizedForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{
			name: "whitespace and attribute order do not matter",
			a:    `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`,
			b:    "{\n  \"fields\": [ {\"type\": \"long\", \"name\": \"id\"} ],\n  \"name\": \"Order\",\n  \"type\": \"record\"\n}",
			same: true,
		},
		{
			name: "a namespace attribute equals a dotted name",
			a:    `{"type":"record","name":"Order","namespace":"shop.v1","fields":[{"name":"id","type":"long"}]}`,
			b:    `{"type":"record","name":"shop.v1.Order","fields":[{"name":"id","type":"long"}]}`,
			same: true,
		},
		{
			name: "a primitive in object form equals its bare name",
			a:    `{"type":"string"}`,
			b:    `"string"`,
			same: true,
		},
		{
			name: "a named type referenced by short or full name is the same",
			a:    `{"type":"record","name":"a.R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}},{"name":"f","type":"E"}]}`,
			b:    `{"type":"record","name":"a.R","fields":[{"name":"e","type":{"type":"enum","name":"a.E","symbols":["X"]}},{"name":"f","type":"a.E"}]}`,
			same: true,
		},
		{
			name: "a different default makes a different schema",
			a:    `{"type":"record","name":"R","fields":[{"name":"n","type":"int","default":0}]}`,
			b:    `{"type":"record","name":"R","fields":[{"name":"n","type":"int","default":1}]}`,
		},
		{
			name: "adding a default makes a different schema",
			a:    `{"type":"record","name":"R","fields":[{"name":"n","type":"int"}]}`,
			b:    `{"type":"record","name":"R","fields":[{"name":"n","type":"int","default":1}]}`,
		},
		{
			name: "a logical type makes a different schema",
			a:    `{"type":"record","name":"R","fields":[{"name":"at","type":"long"}]}`,
			b:    `{"type":"record","name":"R","fields":[{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}]}`,
		},
		{
			name: "a custom property makes a different schema",
			a:    `{"type":"record","name":"R","fields":[{"name":"n","type":"int"}]}`,
			b:    `{"type":"record","name":"R","connect.name":"R","fields":[{"name":"n","type":"int"}]}`,
		},
		{
			name: "field order makes a different schema",
			a:    `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}`,
			b:    `{"type":"record","name":"R","fields":[{"name":"b","type":"int"},{"name":"a","type":"int"}]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := parseAvro(tc.a, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := parseAvro(tc.b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.normalized == b.normalized; got != tc.same {
				t.Errorf("same = %v, want %v\n a: %s\n b: %s", got, tc.same, a.normalized, b.normalized)
			}
		})
	}

	t.Run("the normalized form is itself a valid schema with the same normalized form", func(t *testing.T) {
		t.Parallel()
		in := `{"type":"record","name":"Order","namespace":"shop","doc":"an order","fields":[
			{"name":"id","type":"long","doc":"key"},
			{"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}},
			{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"],"default":"NEW"},"default":"NEW"},
			{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[{"name":"sku","type":"string"},{"name":"qty","type":"int","default":1}]}}},
			{"name":"next","type":["null","Order"],"default":null},
			{"name":"hash","type":{"type":"fixed","name":"MD5","size":16}},
			{"name":"tags","type":{"type":"map","values":"string"},"default":{}}
		]}`
		ps, err := parseAvro(in, nil)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseAvro(ps.normalized, nil)
		if err != nil {
			t.Fatalf("normalized form %s does not parse: %v", ps.normalized, err)
		}
		if again.normalized != ps.normalized {
			t.Errorf("normalizing twice changed the form:\n%s\n%s", ps.normalized, again.normalized)
		}
		if !strings.Contains(ps.normalized, `"name":"shop.Line"`) || strings.Contains(ps.normalized, `"namespace"`) {
			t.Errorf("normalized form does not use full names: %s", ps.normalized)
		}
	})
}

func TestAvroParsingRejectsInvalidSchemas(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, schema, wantErr string
	}{
		{"text that is not JSON is rejected", `{"type":`, "not valid JSON"},
		{"trailing data after the schema is rejected", `"int" "long"`, "trailing data"},
		{"an unknown type name is rejected", `{"type":"record","name":"R","fields":[{"name":"a","type":"Missing"}]}`, `unknown type "Missing"`},
		{"a record without fields is rejected", `{"type":"record","name":"R"}`, "fields"},
		{"a record without a name is rejected", `{"type":"record","fields":[]}`, "name"},
		{"an invalid record name is rejected", `{"type":"record","name":"1R","fields":[]}`, "invalid name"},
		{"two fields with one name are rejected", `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"long"}]}`, "two fields"},
		{"a type defined twice is rejected", `["null",{"type":"fixed","name":"F","size":1},{"type":"fixed","name":"F","size":2}]`, "defined twice"},
		{"a union inside a union is rejected", `["null",["int","long"]]`, "unions may not"},
		{"a union with a repeated type is rejected", `["int","string","int"]`, "twice"},
		{"a default of the wrong type is rejected", `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"zero"}]}`, "invalid default"},
		{"a fractional default for an int is rejected", `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1.5}]}`, "invalid default"},
		{"a union default that does not match the first branch is rejected", `{"type":"record","name":"R","fields":[{"name":"a","type":["null","int"],"default":5}]}`, "first branch"},
		{"an enum default that is not a symbol is rejected", `{"type":"enum","name":"E","symbols":["A"],"default":"B"}`, "not one of its symbols"},
		{"an enum with a repeated symbol is rejected", `{"type":"enum","name":"E","symbols":["A","A"]}`, "duplicate symbol"},
		{"a fixed without a size is rejected", `{"type":"fixed","name":"F"}`, "size"},
		{"a fixed default of the wrong length is rejected", `{"type":"record","name":"R","fields":[{"name":"h","type":{"type":"fixed","name":"F","size":2},"default":"abc"}]}`, "invalid default"},
		{"an array without items is rejected", `{"type":"array"}`, "items"},
		{"a map without values is rejected", `{"type":"map"}`, "values"},
		{"a number is not a schema", `42`, "must be a JSON string, object or array"},
		{"a string default for a double is rejected", `{"type":"record","name":"R","fields":[{"name":"d","type":"double","default":"NaN"}]}`, "invalid default"},
		{"an invalid field order is rejected", `{"type":"record","name":"R","fields":[{"name":"a","type":"int","order":"sideways"}]}`, "invalid order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseAvro(tc.schema, nil)
			if err == nil {
				t.Fatalf("parseAvro(%s) succeeded", tc.schema)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestAvroParsingAcceptsValidSchemas(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, schema string }{
		{"a bare primitive is a schema", `"bytes"`},
		{"a union of null and a record is a schema", `["null",{"type":"record","name":"R","fields":[]}]`},
		{"a self-referencing record is a schema", `{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"],"default":null}]}`},
		{"a nested type inherits the enclosing namespace", `{"type":"record","name":"R","namespace":"n","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}},{"name":"f","type":"n.E"}]}`},
		{"a name from the null namespace resolves inside a namespace", `{"type":"record","name":"Outer","fields":[{"name":"a","type":{"type":"record","name":"In","namespace":"x","fields":[{"name":"b","type":{"type":"fixed","name":"G","namespace":"","size":1}},{"name":"c","type":"G"}]}}]}`},
		{"record defaults are checked field by field", `{"type":"record","name":"R","fields":[{"name":"in","type":{"type":"record","name":"I","fields":[{"name":"x","type":"int"},{"name":"y","type":"int","default":2}]},"default":{"x":1}}]}`},
		{"debezium-style connect properties are kept", `{"type":"record","name":"Envelope","namespace":"pg.public.orders","fields":[{"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":{"type":"int","connect.default":0},"default":0},{"name":"created","type":{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}}],"connect.name":"pg.public.orders.Value"}],"default":null},{"name":"after","type":["null","Value"],"default":null},{"name":"op","type":"string"},{"name":"ts_ms","type":["null","long"],"default":null}],"connect.version":1,"connect.name":"pg.public.orders.Envelope"}`},
		{"decimal logical types on bytes are accepted", `{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := parseAvro(tc.schema, nil); err != nil {
				t.Fatalf("parseAvro: %v", err)
			}
		})
	}

	t.Run("a schema may use a named type from a referenced schema", func(t *testing.T) {
		t.Parallel()
		ref, err := parseAvro(`{"type":"record","name":"Address","namespace":"common","fields":[{"name":"street","type":"string"}]}`, nil)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := parseAvro(`{"type":"record","name":"Customer","namespace":"common","fields":[{"name":"home","type":"Address"}]}`, []*parsedSchema{ref})
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"name":"common.Customer","type":"record","fields":[{"name":"home","type":"common.Address"}]}`; ps.normalized != want {
			t.Errorf("normalized = %s, want %s (the referenced type by name only)", ps.normalized, want)
		}
		if ps.root.fields[0].typ != ref.root {
			t.Error("the field does not resolve to the referenced type")
		}
	})
}

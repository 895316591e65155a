package embedded

import (
	"slices"
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string) *avroNode {
	t.Helper()
	ps, err := parseAvro(text, nil)
	if err != nil {
		t.Fatalf("parsing %s: %v", text, err)
	}
	return ps.root
}

// rec builds a record schema named name from field JSON snippets.
func rec(name string, fields ...string) string {
	return `{"type":"record","name":"` + name + `","fields":[` + strings.Join(fields, ",") + `]}`
}

func TestSchemaResolution(t *testing.T) {
	t.Parallel()
	const (
		enumABC = `{"type":"enum","name":"E","symbols":["A","B","C"]}`
		enumAB  = `{"type":"enum","name":"E","symbols":["A","B"]}`
	)
	linkedList := func(extra string) string {
		return rec("Node", `{"name":"value","type":"int"}`, `{"name":"next","type":["null","Node"],"default":null}`+extra)
	}
	addressRecord := func(extraField string) string {
		fields := `{"name":"street","type":"string"}` + extraField
		return rec("Person",
			`{"name":"home","type":{"type":"record","name":"Address","fields":[`+fields+`]}}`,
			`{"name":"work","type":["null","Address"],"default":null}`)
	}

	for _, tc := range []struct {
		name           string
		reader, writer string
		// want lists the incompatibility kinds expected, in order; empty
		// means the reader can read the writer's data.
		want []string
		// wantPath, if set, is the reader path of the first issue.
		wantPath string
	}{
		// Primitives and promotions.
		{name: "identical primitives are compatible", reader: `"string"`, writer: `"string"`},
		{name: "an int is promoted to a long", reader: `"long"`, writer: `"int"`},
		{name: "an int is promoted to a float", reader: `"float"`, writer: `"int"`},
		{name: "an int is promoted to a double", reader: `"double"`, writer: `"int"`},
		{name: "a long is promoted to a float", reader: `"float"`, writer: `"long"`},
		{name: "a long is promoted to a double", reader: `"double"`, writer: `"long"`},
		{name: "a float is promoted to a double", reader: `"double"`, writer: `"float"`},
		{name: "a string is read as bytes", reader: `"bytes"`, writer: `"string"`},
		{name: "bytes are read as a string", reader: `"string"`, writer: `"bytes"`},
		{name: "a long cannot be narrowed to an int", reader: `"int"`, writer: `"long"`, want: []string{incompatTypeMismatch}},
		{name: "a double cannot be narrowed to a float", reader: `"float"`, writer: `"double"`, want: []string{incompatTypeMismatch}},
		{name: "a float cannot be read as a long", reader: `"long"`, writer: `"float"`, want: []string{incompatTypeMismatch}},
		{name: "an int cannot be read as a string", reader: `"string"`, writer: `"int"`, want: []string{incompatTypeMismatch}},
		{name: "null cannot be read as a boolean", reader: `"boolean"`, writer: `"null"`, want: []string{incompatTypeMismatch}},
		{name: "a logical type over the same primitive is compatible", reader: `{"type":"long","logicalType":"timestamp-millis"}`, writer: `"long"`},

		// Records.
		{
			name:   "a reader that adds a field with a default reads old data",
			reader: rec("R", `{"name":"a","type":"int"}`, `{"name":"b","type":"string","default":"x"}`),
			writer: rec("R", `{"name":"a","type":"int"}`),
		},
		{
			name:     "a reader that adds a field without a default cannot read old data",
			reader:   rec("R", `{"name":"a","type":"int"}`, `{"name":"b","type":"string"}`),
			writer:   rec("R", `{"name":"a","type":"int"}`),
			want:     []string{incompatReaderFieldNoDflt},
			wantPath: "/fields/1",
		},
		{
			name:   "a reader that drops a field ignores it in old data",
			reader: rec("R", `{"name":"a","type":"int"}`),
			writer: rec("R", `{"name":"a","type":"int"}`, `{"name":"b","type":"string"}`),
		},
		{
			name:   "a reader may reorder fields",
			reader: rec("R", `{"name":"b","type":"string"}`, `{"name":"a","type":"int"}`),
			writer: rec("R", `{"name":"a","type":"int"}`, `{"name":"b","type":"string"}`),
		},
		{
			name:   "a field renamed with an alias to its old name still matches",
			reader: rec("R", `{"name":"amount","type":"long","aliases":["amt"]}`),
			writer: rec("R", `{"name":"amt","type":"int"}`),
		},
		{
			name:   "a field renamed without an alias is a new field lacking a default",
			reader: rec("R", `{"name":"amount","type":"long"}`),
			writer: rec("R", `{"name":"amt","type":"int"}`),
			want:   []string{incompatReaderFieldNoDflt},
		},
		{
			name:   "a field whose type is promoted is compatible",
			reader: rec("R", `{"name":"n","type":"long"}`),
			writer: rec("R", `{"name":"n","type":"int"}`),
		},
		{
			name:     "a field whose type changes incompatibly is reported at its path",
			reader:   rec("R", `{"name":"id","type":"string"}`, `{"name":"n","type":"int"}`),
			writer:   rec("R", `{"name":"id","type":"string"}`, `{"name":"n","type":"string"}`),
			want:     []string{incompatTypeMismatch},
			wantPath: "/fields/1/type",
		},
		{
			name:   "a renamed record does not match",
			reader: rec("Order", `{"name":"a","type":"int"}`),
			writer: rec("Purchase", `{"name":"a","type":"int"}`),
			want:   []string{incompatNameMismatch},
		},
		{
			name:   "a renamed record with an alias to the old full name matches",
			reader: `{"type":"record","name":"Order","namespace":"shop","aliases":["legacy.Purchase"],"fields":[{"name":"a","type":"int"}]}`,
			writer: `{"type":"record","name":"Purchase","namespace":"legacy","fields":[{"name":"a","type":"int"}]}`,
		},
		{
			name:   "a record moved to another namespace matches by simple name, as in Java",
			reader: `{"type":"record","name":"Order","namespace":"v2","fields":[{"name":"a","type":"int"}]}`,
			writer: `{"type":"record","name":"Order","namespace":"v1","fields":[{"name":"a","type":"int"}]}`,
		},
		{
			name:   "a record cannot read a map",
			reader: rec("R", `{"name":"a","type":"int"}`),
			writer: `{"type":"map","values":"int"}`,
			want:   []string{incompatTypeMismatch},
		},
		{
			name:   "every problem in a record is reported",
			reader: rec("R", `{"name":"a","type":"int"}`, `{"name":"b","type":"int"}`, `{"name":"c","type":"int"}`),
			writer: rec("R", `{"name":"a","type":"string"}`),
			want:   []string{incompatTypeMismatch, incompatReaderFieldNoDflt, incompatReaderFieldNoDflt},
		},

		// Nested and named types.
		{
			name:     "a nested record that adds a field without a default is reported at the nested path",
			reader:   rec("Outer", `{"name":"inner","type":`+rec("Inner", `{"name":"x","type":"int"}`, `{"name":"y","type":"int"}`)+`}`),
			writer:   rec("Outer", `{"name":"inner","type":`+rec("Inner", `{"name":"x","type":"int"}`)+`}`),
			want:     []string{incompatReaderFieldNoDflt},
			wantPath: "/fields/0/type/fields/1",
		},
		{
			name:   "a nested record that adds a field with a default is compatible",
			reader: rec("Outer", `{"name":"inner","type":`+rec("Inner", `{"name":"x","type":"int"}`, `{"name":"y","type":"int","default":0}`)+`}`),
			writer: rec("Outer", `{"name":"inner","type":`+rec("Inner", `{"name":"x","type":"int"}`)+`}`),
		},
		{
			name:   "a named type used twice is checked through each use",
			reader: addressRecord(`,{"name":"zip","type":"string","default":""}`),
			writer: addressRecord(""),
		},
		{
			name:   "a named type used twice reports a missing default at its definition",
			reader: addressRecord(`,{"name":"zip","type":"string"}`),
			writer: addressRecord(""),
			want:   []string{incompatReaderFieldNoDflt, incompatMissingUnionBranch},
		},
		{
			name:   "a recursive type that adds a field with a default is compatible",
			reader: linkedList(`,{"name":"label","type":"string","default":""}`),
			writer: linkedList(""),
		},
		{
			name:   "a recursive type that adds a field without a default is not",
			reader: linkedList(`,{"name":"label","type":"string"}`),
			writer: linkedList(""),
			want:   []string{incompatReaderFieldNoDflt},
		},
		{
			name:   "array items are resolved recursively",
			reader: `{"type":"array","items":"long"}`,
			writer: `{"type":"array","items":"int"}`,
		},
		{
			name:     "array items of an incompatible type are reported",
			reader:   `{"type":"array","items":"int"}`,
			writer:   `{"type":"array","items":"string"}`,
			want:     []string{incompatTypeMismatch},
			wantPath: "/items",
		},
		{
			name:   "records inside arrays get defaults for new fields",
			reader: `{"type":"array","items":` + rec("Line", `{"name":"sku","type":"string"}`, `{"name":"qty","type":"int","default":1}`) + `}`,
			writer: `{"type":"array","items":` + rec("Line", `{"name":"sku","type":"string"}`) + `}`,
		},
		{
			name:     "map values of an incompatible type are reported",
			reader:   `{"type":"map","values":"boolean"}`,
			writer:   `{"type":"map","values":"double"}`,
			want:     []string{incompatTypeMismatch},
			wantPath: "/values",
		},

		// Enums and fixed.
		{name: "an enum that adds a symbol reads old data", reader: enumABC, writer: enumAB},
		{name: "an enum that drops a symbol cannot read old data", reader: enumAB, writer: enumABC, want: []string{incompatMissingEnumSymbols}},
		{
			name:   "an enum that drops a symbol but has a default reads old data",
			reader: `{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`,
			writer: enumABC,
		},
		{
			name:   "a renamed enum does not match",
			reader: `{"type":"enum","name":"F","symbols":["A","B"]}`,
			writer: enumAB,
			want:   []string{incompatNameMismatch},
		},
		{name: "a fixed of the same size is compatible", reader: `{"type":"fixed","name":"H","size":16}`, writer: `{"type":"fixed","name":"H","size":16}`},
		{
			name:   "a fixed of another size is not",
			reader: `{"type":"fixed","name":"H","size":32}`,
			writer: `{"type":"fixed","name":"H","size":16}`,
			want:   []string{incompatFixedSizeMismatch},
		},
		{
			name:   "a fixed cannot be read as bytes",
			reader: `"bytes"`,
			writer: `{"type":"fixed","name":"H","size":16}`,
			want:   []string{incompatTypeMismatch},
		},

		// Unions.
		{name: "a union that adds a branch reads old data", reader: `["null","string","int"]`, writer: `["null","string"]`},
		{
			name:   "a union that drops a branch cannot read old data of that branch",
			reader: `["null","string"]`,
			writer: `["null","string","int"]`,
			want:   []string{incompatMissingUnionBranch},
		},
		{name: "a union reads a plain value matching one of its branches", reader: `["null","string"]`, writer: `"string"`},
		{name: "a union reads a plain value promotable to one of its branches", reader: `["null","long"]`, writer: `"int"`},
		{
			name:   "a union with no branch for a plain value cannot read it",
			reader: `["null","string"]`,
			writer: `"int"`,
			want:   []string{incompatMissingUnionBranch},
		},
		{
			name:   "a plain reader cannot read the null branch of an optional writer",
			reader: `"string"`,
			writer: `["null","string"]`,
			want:   []string{incompatMissingUnionBranch},
		},
		{name: "a plain reader reads a single-branch union", reader: `"long"`, writer: `["int"]`},
		{name: "union branches are promoted", reader: `["null","double","bytes"]`, writer: `["null","int","string"]`},
		{
			name:   "records inside unions are resolved",
			reader: `["null",` + rec("A", `{"name":"x","type":"long"}`, `{"name":"y","type":"int","default":0}`) + `]`,
			writer: `["null",` + rec("A", `{"name":"x","type":"int"}`) + `]`,
		},
		{
			name:   "a record branch missing from the reader union is reported",
			reader: `[` + rec("A", `{"name":"x","type":"int"}`) + `]`,
			writer: `[` + rec("A", `{"name":"x","type":"int"}`) + `,` + rec("B", `{"name":"x","type":"int"}`) + `]`,
			want:   []string{incompatMissingUnionBranch},
		},
		{
			name:   "an optional field made required cannot read old nulls",
			reader: rec("R", `{"name":"email","type":"string"}`),
			writer: rec("R", `{"name":"email","type":["null","string"],"default":null}`),
			want:   []string{incompatMissingUnionBranch},
		},
		{
			name:   "a required field made optional reads old data",
			reader: rec("R", `{"name":"email","type":["null","string"],"default":null}`),
			writer: rec("R", `{"name":"email","type":"string"}`),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			issues := checkResolution(mustParse(t, tc.reader), mustParse(t, tc.writer), "new schema", "old schema")
			var kinds []string
			for _, is := range issues {
				kinds = append(kinds, is.kind)
			}
			if !slices.Equal(kinds, tc.want) {
				t.Fatalf("issues = %v, want kinds %v", issues, tc.want)
			}
			if tc.wantPath != "" && issues[0].path != tc.wantPath {
				t.Errorf("first issue at %q, want %q (%v)", issues[0].path, tc.wantPath, issues[0])
			}
			for _, is := range issues {
				if is.desc == "" || !strings.Contains(is.String(), "errorType:'"+is.kind+"'") {
					t.Errorf("badly formatted issue %q", is.String())
				}
			}
		})
	}
}

func TestCompatibilityLevels(t *testing.T) {
	t.Parallel()
	var (
		a          = rec("R", `{"name":"a","type":"int"}`)
		aDefault   = rec("R", `{"name":"a","type":"int","default":0}`)
		ab         = rec("R", `{"name":"a","type":"int"}`, `{"name":"b","type":"string"}`)
		abDefault  = rec("R", `{"name":"a","type":"int"}`, `{"name":"b","type":"string","default":""}`)
		empty      = rec("R")
		fString    = rec("R", `{"name":"f","type":"string"}`)
		fIntDflt   = rec("R", `{"name":"f","type":"int","default":0}`)
		aIntBDflt  = rec("R", `{"name":"a","type":"int","default":0}`, `{"name":"b","type":"string","default":""}`)
		aLongDflt  = rec("R", `{"name":"a","type":"long","default":0}`)
		unrelated  = `"string"`
		allLevels  = []compatLevel{compatNone, compatBackward, compatBackwardTransitive, compatForward, compatForwardTransitive, compatFull, compatFullTransitive}
		onlyLevels = func(ls ...compatLevel) map[compatLevel]bool {
			m := map[compatLevel]bool{}
			for _, l := range ls {
				m[l] = true
			}
			return m
		}
	)

	for _, tc := range []struct {
		name     string
		previous []string // oldest first
		proposed string
		// compatible lists the levels under which proposed is accepted.
		compatible map[compatLevel]bool
	}{
		{
			name:       "the first version of a subject is accepted under every level",
			proposed:   a,
			compatible: onlyLevels(allLevels...),
		},
		{
			name:       "adding a field with a default is accepted under every level",
			previous:   []string{a},
			proposed:   abDefault,
			compatible: onlyLevels(allLevels...),
		},
		{
			name:       "adding a field without a default is only forward compatible",
			previous:   []string{a},
			proposed:   ab,
			compatible: onlyLevels(compatNone, compatForward, compatForwardTransitive),
		},
		{
			name:       "removing a field without a default is only backward compatible",
			previous:   []string{ab},
			proposed:   a,
			compatible: onlyLevels(compatNone, compatBackward, compatBackwardTransitive),
		},
		{
			name:       "removing a field that had a default is fully compatible",
			previous:   []string{abDefault},
			proposed:   a,
			compatible: onlyLevels(allLevels...),
		},
		{
			name:       "widening a type is backward but not forward compatible",
			previous:   []string{aDefault},
			proposed:   aLongDflt,
			compatible: onlyLevels(compatNone, compatBackward, compatBackwardTransitive),
		},
		{
			name:       "an unrelated schema is only accepted under NONE",
			previous:   []string{a},
			proposed:   unrelated,
			compatible: onlyLevels(compatNone),
		},
		{
			// v1 {f: string}, v2 {} and proposed {f: int = 0}: fine
			// against v2, but it cannot read v1's string f.
			name:       "backward levels differ when only an older version conflicts",
			previous:   []string{fString, empty},
			proposed:   fIntDflt,
			compatible: onlyLevels(compatNone, compatBackward, compatForward, compatFull),
		},
		{
			// v1 {a: int}, v2 {a: int = 0}, proposed {}: v2 reads it
			// with a's default, but v1 has no default for a.
			name:       "forward levels differ when only an older reader lacks a default",
			previous:   []string{a, aDefault},
			proposed:   empty,
			compatible: onlyLevels(compatNone, compatBackward, compatBackwardTransitive, compatForward, compatFull),
		},
		{
			name:       "a schema compatible with every version is accepted transitively",
			previous:   []string{aDefault, aIntBDflt},
			proposed:   abDefault,
			compatible: onlyLevels(allLevels...),
		},
	} {
		for _, level := range allLevels {
			t.Run(tc.name+" ("+string(level)+")", func(t *testing.T) {
				t.Parallel()
				var prev []versionedSchema
				for i, p := range tc.previous {
					prev = append(prev, versionedSchema{version: i + 1, schema: mustParse(t, p), text: p})
				}
				msgs := checkCompatibility(level, mustParse(t, tc.proposed), prev)
				if got, want := len(msgs) == 0, tc.compatible[level]; got != want {
					t.Fatalf("compatible = %v, want %v; messages: %v", got, want, msgs)
				}
				if len(msgs) > 0 && !strings.Contains(msgs[len(msgs)-1], string(level)) {
					t.Errorf("messages do not name the level: %v", msgs)
				}
			})
		}
	}

	t.Run("levels parse case-insensitively and reject unknown names", func(t *testing.T) {
		t.Parallel()
		for _, in := range []string{"none", "Backward", "FULL_TRANSITIVE", " forward "} {
			if _, ok := parseCompatLevel(in); !ok {
				t.Errorf("parseCompatLevel(%q) failed", in)
			}
		}
		for _, in := range []string{"", "SIDEWAYS", "FULL-TRANSITIVE"} {
			if _, ok := parseCompatLevel(in); ok {
				t.Errorf("parseCompatLevel(%q) succeeded", in)
			}
		}
	})
}

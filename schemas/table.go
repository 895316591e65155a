package schemas

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Column is one column of a captured table.
type Column struct {
	Name      string // original SQL name, unquoted
	Field     string // Avro field name (sanitized, unique within the table)
	PGType    string // format_type() of the column, e.g. "character varying(20)"
	Kind      Kind
	ElemKind  Kind // for KindArray: the elements' kind
	Precision int  // for KindDecimal and KindMoney (of the elements, for arrays)
	Scale     int  // for KindDecimal and KindMoney (of the elements, for arrays)
	Key       bool // part of the key (primary key or replica identity)
}

// Table describes one captured table or SaaS object and names its schemas.
type Table struct {
	System  string // "postgres", "hubspot", …
	Source  string // configured source name
	DB      string // database name (Postgres)
	Schema  string // SQL schema, unquoted
	Name    string // table name, unquoted
	Columns []Column
}

// ID is the table's stable identifier inside syncline: "<source>.<schema>.<table>".
func (t *Table) ID() string { return t.Source + "." + t.Schema + "." + t.Name }

// KeyColumns returns the key columns in table order.
func (t *Table) KeyColumns() []Column {
	var out []Column
	for _, c := range t.Columns {
		if c.Key {
			out = append(out, c)
		}
	}
	return out
}

// Column returns the column with Avro field name field.
func (t *Table) Column(field string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Field == field {
			return c, true
		}
	}
	return Column{}, false
}

// Namespace is the Avro namespace of the table's records.
func (t *Table) Namespace() string {
	return "syncline." + AvroName(t.Source) + "." + AvroName(t.Schema) + "." + AvroName(t.Name)
}

// AvroName maps any identifier to a valid Avro name deterministically:
// characters outside [A-Za-z0-9_] become '_' and a leading digit gets a '_'
// prefix. Distinct identifiers can collide; SanitizeFields resolves that.
func AvroName(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// SanitizeFields sets Field for every column from its Name: AvroName, with
// collisions resolved in column order by suffixes _2, _3, …, so the result
// depends only on the column list.
func SanitizeFields(cols []Column) {
	used := map[string]bool{}
	for i := range cols {
		base := AvroName(cols[i].Name)
		name := base
		for n := 2; used[name]; n++ {
			name = fmt.Sprintf("%s_%d", base, n)
		}
		used[name] = true
		cols[i].Field = name
	}
}

func (c Column) fieldJSON(nullable bool) map[string]any {
	f := map[string]any{
		"name":            c.Field,
		"syncline.column": c.Name,
		"syncline.kind":   string(c.Kind),
	}
	if c.PGType != "" {
		f["syncline.pg_type"] = c.PGType
	}
	if c.Kind == KindArray {
		f["syncline.elem_kind"] = string(c.ElemKind)
	}
	if nullable {
		f["type"] = append([]any{"null"}, c.avroMembers()...)
		f["default"] = nil
	} else {
		f["type"] = c.avroType()
	}
	return f
}

// KeySchema is the Avro schema of the record key: the key columns, non-null.
func (t *Table) KeySchema() string {
	var fields []any
	for _, c := range t.KeyColumns() {
		fields = append(fields, c.fieldJSON(false))
	}
	if fields == nil {
		fields = []any{}
	}
	return mustJSON(map[string]any{
		"type": "record", "name": "Key", "namespace": t.Namespace(), "fields": fields,
		"syncline.table": t.tableProps(),
	})
}

func (t *Table) tableProps() map[string]any {
	return map[string]any{"system": t.System, "source": t.Source, "db": t.DB, "schema": t.Schema, "name": t.Name}
}

// sourceSchema is the envelope's source block: Debezium's fields plus
// syncline's system and position.
var sourceSchema = map[string]any{
	"type": "record", "name": "Source", "namespace": "syncline",
	"fields": []any{
		map[string]any{"name": "version", "type": "string"},
		map[string]any{"name": "connector", "type": "string"},
		map[string]any{"name": "system", "type": "string"},
		map[string]any{"name": "name", "type": "string"},
		map[string]any{"name": "ts_ms", "type": "long"},
		map[string]any{"name": "snapshot", "type": []any{"null", "string"}, "default": nil},
		map[string]any{"name": "db", "type": "string"},
		map[string]any{"name": "schema", "type": "string"},
		map[string]any{"name": "table", "type": "string"},
		map[string]any{"name": "txId", "type": []any{"null", "long"}, "default": nil},
		map[string]any{"name": "lsn", "type": []any{"null", "long"}, "default": nil},
		map[string]any{"name": "position", "type": "string"},
	},
}

// ValueSchema is the Avro schema of the change envelope.
func (t *Table) ValueSchema() string {
	var fields []any
	for _, c := range t.Columns {
		fields = append(fields, c.fieldJSON(true))
	}
	if fields == nil {
		fields = []any{}
	}
	value := map[string]any{"type": "record", "name": "Value", "namespace": t.Namespace(), "fields": fields}
	strArr := []any{"null", map[string]any{"type": "array", "items": "string"}}
	return mustJSON(map[string]any{
		"type": "record", "name": "Envelope", "namespace": t.Namespace(),
		"connect.name":   t.Namespace() + ".Envelope",
		"syncline.table": t.tableProps(),
		"fields": []any{
			map[string]any{"name": "before", "type": []any{"null", value}, "default": nil},
			map[string]any{"name": "after", "type": []any{"null", "Value"}, "default": nil},
			map[string]any{"name": "source", "type": sourceSchema},
			map[string]any{"name": "op", "type": "string"},
			map[string]any{"name": "ts_ms", "type": []any{"null", "long"}, "default": nil},
			map[string]any{"name": "changed", "type": strArr, "default": nil},
			map[string]any{"name": "unavailable", "type": strArr, "default": nil},
		},
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only static shapes are marshalled
	}
	return string(b)
}

// TableFromSchemas rebuilds a Table from the key and envelope schemas
// syncline registered, so a consumer needs nothing but the registry.
func TableFromSchemas(keySchema, valueSchema string) (*Table, error) {
	var env struct {
		Table  map[string]string `json:"syncline.table"`
		Fields []struct {
			Name string          `json:"name"`
			Type json.RawMessage `json:"type"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(valueSchema), &env); err != nil {
		return nil, fmt.Errorf("parse envelope schema: %w", err)
	}
	if env.Table == nil {
		return nil, fmt.Errorf("envelope schema has no syncline.table property: not written by syncline")
	}
	t := &Table{System: env.Table["system"], Source: env.Table["source"], DB: env.Table["db"], Schema: env.Table["schema"], Name: env.Table["name"]}
	var value struct {
		Fields []fieldProps `json:"fields"`
	}
	found := false
	for _, f := range env.Fields {
		if f.Name != "before" {
			continue
		}
		var union []json.RawMessage
		if err := json.Unmarshal(f.Type, &union); err != nil || len(union) != 2 {
			return nil, fmt.Errorf("envelope field before: want [null, Value]")
		}
		if err := json.Unmarshal(union[1], &value); err != nil {
			return nil, fmt.Errorf("envelope Value record: %w", err)
		}
		found = true
	}
	if !found {
		return nil, fmt.Errorf("envelope schema has no before field")
	}
	var key struct {
		Fields []fieldProps `json:"fields"`
	}
	if err := json.Unmarshal([]byte(keySchema), &key); err != nil {
		return nil, fmt.Errorf("parse key schema: %w", err)
	}
	keys := map[string]bool{}
	for _, f := range key.Fields {
		keys[f.Name] = true
	}
	for _, f := range value.Fields {
		c, err := f.column()
		if err != nil {
			return nil, err
		}
		c.Key = keys[c.Field]
		t.Columns = append(t.Columns, c)
	}
	return t, nil
}

type fieldProps struct {
	Name     string          `json:"name"`
	Column   string          `json:"syncline.column"`
	Kind     Kind            `json:"syncline.kind"`
	ElemKind Kind            `json:"syncline.elem_kind"`
	PGType   string          `json:"syncline.pg_type"`
	Type     json.RawMessage `json:"type"`
}

func (f fieldProps) column() (Column, error) {
	c := Column{Name: f.Column, Field: f.Name, Kind: f.Kind, PGType: f.PGType}
	if c.Name == "" {
		c.Name = f.Name
	}
	if c.Kind == "" {
		return c, fmt.Errorf("field %s: no syncline.kind property", f.Name)
	}
	if c.Kind == KindArray {
		if f.ElemKind == "" {
			return c, fmt.Errorf("field %s: array without syncline.elem_kind property", f.Name)
		}
		c.ElemKind = f.ElemKind
	}
	if k := c.kindOfValues(); k == KindDecimal || k == KindMoney {
		d, ok := findDecimal(f.Type, 0)
		if !ok {
			return c, fmt.Errorf("field %s: %s field without a decimal type", f.Name, k)
		}
		c.Precision, c.Scale = d.Precision, d.Scale
	}
	return c, nil
}

type decimalProps struct {
	LogicalType      string
	Precision, Scale int
}

// findDecimal finds the decimal logical type in a field's type: alone, a
// union member, or an array's items.
func findDecimal(raw json.RawMessage, depth int) (decimalProps, bool) {
	if depth > 4 {
		return decimalProps{}, false
	}
	var union []json.RawMessage
	if json.Unmarshal(raw, &union) == nil {
		for _, m := range union {
			if d, ok := findDecimal(m, depth+1); ok {
				return d, true
			}
		}
		return decimalProps{}, false
	}
	var t struct {
		decimalProps
		Items json.RawMessage
	}
	if json.Unmarshal(raw, &t) != nil {
		return decimalProps{}, false
	}
	if t.LogicalType == "decimal" {
		return t.decimalProps, true
	}
	if t.Items != nil {
		return findDecimal(t.Items, depth+1)
	}
	return decimalProps{}, false
}

package embedded

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/linkedin/goavro/v2"
)

// This file holds the registry's model of an Avro schema: a parser that
// resolves names the way the Avro specification (and the Java
// implementation Confluent uses) does, checks default values, and writes
// the normalized form that decides whether two schema texts are "the same
// schema" and so share an ID.

// avroType is the kind of an Avro schema node.
type avroType int

const (
	avroNull avroType = iota
	avroBoolean
	avroInt
	avroLong
	avroFloat
	avroDouble
	avroBytes
	avroString
	avroRecord
	avroEnum
	avroArray
	avroMap
	avroUnion
	avroFixed
)

var avroTypeNames = [...]string{
	avroNull:    "null",
	avroBoolean: "boolean",
	avroInt:     "int",
	avroLong:    "long",
	avroFloat:   "float",
	avroDouble:  "double",
	avroBytes:   "bytes",
	avroString:  "string",
	avroRecord:  "record",
	avroEnum:    "enum",
	avroArray:   "array",
	avroMap:     "map",
	avroUnion:   "union",
	avroFixed:   "fixed",
}

func (t avroType) String() string {
	if int(t) < len(avroTypeNames) {
		return avroTypeNames[t]
	}
	return "avroType(" + strconv.Itoa(int(t)) + ")"
}

func (t avroType) named() bool { return t == avroRecord || t == avroEnum || t == avroFixed }

var primitiveTypes = map[string]avroType{
	"null":    avroNull,
	"boolean": avroBoolean,
	"int":     avroInt,
	"long":    avroLong,
	"float":   avroFloat,
	"double":  avroDouble,
	"bytes":   avroBytes,
	"string":  avroString,
}

// avroNode is one parsed schema node. Named types are shared: every
// reference to a named type points at its single definition, so recursive
// schemas are cyclic graphs.
type avroNode struct {
	typ avroType

	// name is the full name of a record, enum or fixed.
	name string
	// aliases are full names of a named type.
	aliases []string

	fields      []*avroField // record
	symbols     []string     // enum
	enumDefault *string      // enum
	items       *avroNode    // array items, map values
	branches    []*avroNode  // union
	size        int          // fixed

	// props are the remaining attributes (doc, logicalType, precision,
	// custom properties ...), kept verbatim for the normalized form.
	props map[string]any
}

// avroField is one field of a record.
type avroField struct {
	name       string
	aliases    []string
	typ        *avroNode
	hasDefault bool
	def        any
	props      map[string]any // doc, order, custom properties
}

// displayName names a node in messages.
func (n *avroNode) displayName() string {
	if n.typ.named() {
		return n.name
	}
	return n.typ.String()
}

// simpleName is the last component of a named type's full name.
func (n *avroNode) simpleName() string {
	if i := strings.LastIndexByte(n.name, '.'); i >= 0 {
		return n.name[i+1:]
	}
	return n.name
}

var avroNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func validName(name string) bool { return avroNameRE.MatchString(name) }

func validFullName(full string) bool {
	for _, part := range strings.Split(full, ".") {
		if !validName(part) {
			return false
		}
	}
	return true
}

// avroParser parses one schema. Named types from referenced schemas are
// preloaded into names and marked external: they resolve like local
// definitions but the normalized form refers to them by name only, since
// their definition lives in another subject.
type avroParser struct {
	names    map[string]*avroNode
	external map[string]bool
}

func newAvroParser() *avroParser {
	return &avroParser{names: map[string]*avroNode{}, external: map[string]bool{}}
}

// addExternal makes the named types of a referenced schema resolvable.
func (p *avroParser) addExternal(names map[string]*avroNode) {
	for name, n := range names {
		if _, ok := p.names[name]; !ok {
			p.names[name] = n
			p.external[name] = true
		}
	}
}

// parsedSchema is a parsed, validated Avro schema.
type parsedSchema struct {
	root *avroNode
	// names holds every named type visible to this schema, including
	// those from references; a schema referencing this one sees them all.
	names map[string]*avroNode
	// normalized is the normalized form (see normalizedForm).
	normalized string
}

// parseAvro parses and validates schema text. refs are the parsed schemas
// the text references (Confluent schema references), in order.
func parseAvro(text string, refs []*parsedSchema) (*parsedSchema, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("schema is not valid JSON: trailing data after the schema")
	}
	p := newAvroParser()
	for _, r := range refs {
		p.addExternal(r.names)
	}
	root, err := p.parse(v, "", "")
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		// goavro is a second, independent validator: it catches
		// anything our parser is more lenient about.
		if _, err := goavro.NewCodec(text); err != nil {
			return nil, fmt.Errorf("invalid Avro schema: %w", err)
		}
	}
	ps := &parsedSchema{root: root, names: p.names}
	ps.normalized = p.normalizedForm(root)
	return ps, nil
}

func (p *avroParser) parse(v any, namespace, path string) (*avroNode, error) {
	switch v := v.(type) {
	case string:
		return p.resolve(v, namespace, path)
	case []any:
		return p.parseUnion(v, namespace, path)
	case map[string]any:
		return p.parseObject(v, namespace, path)
	default:
		return nil, fmt.Errorf("at %s: a schema must be a JSON string, object or array, not %s", pathOrRoot(path), jsonKind(v))
	}
}

func pathOrRoot(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// resolve turns a type name into a node: a primitive or a named type
// defined earlier (or in a reference). An unqualified name is looked up in
// the enclosing namespace first, then in the null namespace, as Java does.
func (p *avroParser) resolve(name, namespace, path string) (*avroNode, error) {
	if t, ok := primitiveTypes[name]; ok {
		return &avroNode{typ: t}, nil
	}
	if !strings.Contains(name, ".") && namespace != "" {
		if n, ok := p.names[namespace+"."+name]; ok {
			return n, nil
		}
	}
	if n, ok := p.names[name]; ok {
		return n, nil
	}
	return nil, fmt.Errorf("at %s: unknown type %q (named types must be defined before use, or come from a schema reference)", pathOrRoot(path), name)
}

func (p *avroParser) parseUnion(branches []any, namespace, path string) (*avroNode, error) {
	n := &avroNode{typ: avroUnion}
	seen := map[string]bool{}
	for i, b := range branches {
		bn, err := p.parse(b, namespace, path+"/"+strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		if bn.typ == avroUnion {
			return nil, fmt.Errorf("at %s/%d: unions may not immediately contain other unions", pathOrRoot(path), i)
		}
		key := bn.typ.String()
		if bn.typ.named() {
			key = bn.name
		}
		if seen[key] {
			return nil, fmt.Errorf("at %s: union contains %s twice", pathOrRoot(path), key)
		}
		seen[key] = true
		n.branches = append(n.branches, bn)
	}
	return n, nil
}

// reserved attributes are the ones the parser interprets; everything else
// becomes a prop.
var reservedAttrs = map[string]bool{
	"type": true, "name": true, "namespace": true, "aliases": true,
	"fields": true, "symbols": true, "items": true, "values": true,
	"size": true, "default": true,
}

func (p *avroParser) parseObject(obj map[string]any, namespace, path string) (*avroNode, error) {
	tv, ok := obj["type"]
	if !ok {
		return nil, fmt.Errorf("at %s: schema object has no \"type\"", pathOrRoot(path))
	}
	ts, ok := tv.(string)
	if !ok {
		// {"type": {...}} or {"type": [...]}: the nested schema is the
		// schema (Java accepts this form too).
		return p.parse(tv, namespace, path+"/type")
	}
	props := map[string]any{}
	for k, v := range obj {
		if !reservedAttrs[k] {
			props[k] = v
		}
	}

	if t, ok := primitiveTypes[ts]; ok {
		return &avroNode{typ: t, props: props}, nil
	}

	switch ts {
	case "array":
		items, ok := obj["items"]
		if !ok {
			return nil, fmt.Errorf("at %s: array has no \"items\"", pathOrRoot(path))
		}
		in, err := p.parse(items, namespace, path+"/items")
		if err != nil {
			return nil, err
		}
		return &avroNode{typ: avroArray, items: in, props: props}, nil
	case "map":
		values, ok := obj["values"]
		if !ok {
			return nil, fmt.Errorf("at %s: map has no \"values\"", pathOrRoot(path))
		}
		vn, err := p.parse(values, namespace, path+"/values")
		if err != nil {
			return nil, err
		}
		return &avroNode{typ: avroMap, items: vn, props: props}, nil
	case "record", "error", "enum", "fixed":
		return p.parseNamed(ts, obj, props, namespace, path)
	default:
		// {"type": "com.example.Foo"}: a reference to a named type.
		if len(props) == 0 {
			return p.resolve(ts, namespace, path)
		}
		return nil, fmt.Errorf("at %s: unknown type %q", pathOrRoot(path), ts)
	}
}

func (p *avroParser) parseNamed(kind string, obj, props map[string]any, namespace, path string) (*avroNode, error) {
	name, _ := obj["name"].(string)
	if name == "" {
		return nil, fmt.Errorf("at %s: %s has no \"name\"", pathOrRoot(path), kind)
	}
	ns := namespace
	if v, ok := obj["namespace"]; ok {
		s, ok := v.(string)
		if !ok && v != nil {
			return nil, fmt.Errorf("at %s: namespace of %s must be a string", pathOrRoot(path), name)
		}
		ns = s
	}
	full := name
	if strings.Contains(name, ".") {
		ns = name[:strings.LastIndexByte(name, '.')]
	} else if ns != "" {
		full = ns + "." + name
	}
	if !validFullName(full) {
		return nil, fmt.Errorf("at %s: invalid name %q", pathOrRoot(path), full)
	}
	if _, ok := primitiveTypes[full]; ok {
		return nil, fmt.Errorf("at %s: %q is a primitive type name and cannot name a %s", pathOrRoot(path), full, kind)
	}
	if _, dup := p.names[full]; dup {
		return nil, fmt.Errorf("at %s: type %q is defined twice", pathOrRoot(path), full)
	}
	aliases, err := parseAliases(obj["aliases"], ns, path, true)
	if err != nil {
		return nil, err
	}

	n := &avroNode{name: full, aliases: aliases, props: props}
	// Register before parsing children so records can refer to
	// themselves.
	p.names[full] = n

	switch kind {
	case "record", "error":
		n.typ = avroRecord
		if kind == "error" {
			// Keep the distinction for the normalized form.
			props["type"] = "error"
		}
		rawFields, ok := obj["fields"].([]any)
		if !ok {
			return nil, fmt.Errorf("at %s: record %s needs a \"fields\" array", pathOrRoot(path), full)
		}
		seen := map[string]bool{}
		for i, rf := range rawFields {
			fpath := path + "/fields/" + strconv.Itoa(i)
			f, err := p.parseField(rf, ns, fpath)
			if err != nil {
				return nil, err
			}
			if seen[f.name] {
				return nil, fmt.Errorf("at %s: record %s has two fields named %q", fpath, full, f.name)
			}
			seen[f.name] = true
			n.fields = append(n.fields, f)
		}
	case "enum":
		n.typ = avroEnum
		rawSyms, ok := obj["symbols"].([]any)
		if !ok {
			return nil, fmt.Errorf("at %s: enum %s needs a \"symbols\" array", pathOrRoot(path), full)
		}
		seen := map[string]bool{}
		for _, rs := range rawSyms {
			s, ok := rs.(string)
			if !ok || !validName(s) {
				return nil, fmt.Errorf("at %s: enum %s has invalid symbol %v", pathOrRoot(path), full, rs)
			}
			if seen[s] {
				return nil, fmt.Errorf("at %s: enum %s has duplicate symbol %q", pathOrRoot(path), full, s)
			}
			seen[s] = true
			n.symbols = append(n.symbols, s)
		}
		if dv, ok := obj["default"]; ok {
			ds, ok := dv.(string)
			if !ok || !seen[ds] {
				return nil, fmt.Errorf("at %s: enum %s default %v is not one of its symbols", pathOrRoot(path), full, dv)
			}
			n.enumDefault = &ds
		}
	case "fixed":
		n.typ = avroFixed
		size, ok := obj["size"].(json.Number)
		if !ok {
			return nil, fmt.Errorf("at %s: fixed %s needs a numeric \"size\"", pathOrRoot(path), full)
		}
		sz, err := size.Int64()
		if err != nil || sz < 0 || sz > math.MaxInt32 {
			return nil, fmt.Errorf("at %s: fixed %s has invalid size %s", pathOrRoot(path), full, size)
		}
		n.size = int(sz)
	}
	return n, nil
}

func parseAliases(v any, namespace, path string, qualify bool) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	raw, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("at %s: aliases must be an array of strings", pathOrRoot(path))
	}
	var out []string
	for _, a := range raw {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("at %s: aliases must be an array of strings", pathOrRoot(path))
		}
		if qualify && !strings.Contains(s, ".") && namespace != "" {
			s = namespace + "." + s
		}
		valid := validName(s)
		if qualify {
			valid = validFullName(s)
		}
		if !valid {
			return nil, fmt.Errorf("at %s: invalid alias %q", pathOrRoot(path), s)
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *avroParser) parseField(v any, namespace, path string) (*avroField, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("at %s: a field must be an object", path)
	}
	name, _ := obj["name"].(string)
	if !validName(name) {
		return nil, fmt.Errorf("at %s: invalid field name %q", path, name)
	}
	tv, ok := obj["type"]
	if !ok {
		return nil, fmt.Errorf("at %s: field %q has no type", path, name)
	}
	typ, err := p.parse(tv, namespace, path+"/type")
	if err != nil {
		return nil, err
	}
	aliases, err := parseAliases(obj["aliases"], "", path, false)
	if err != nil {
		return nil, err
	}
	f := &avroField{name: name, aliases: aliases, typ: typ, props: map[string]any{}}
	for k, v := range obj {
		switch k {
		case "name", "type", "aliases", "default":
		default:
			f.props[k] = v
		}
	}
	if order, ok := obj["order"]; ok {
		if s, _ := order.(string); s != "ascending" && s != "descending" && s != "ignore" {
			return nil, fmt.Errorf("at %s: field %q has invalid order %v", path, name, order)
		}
	}
	if dv, ok := obj["default"]; ok {
		if err := validateDefault(typ, dv, map[*avroNode]bool{}); err != nil {
			return nil, fmt.Errorf("at %s: invalid default for field %q: %w", path, name, err)
		}
		f.hasDefault = true
		f.def = dv
	}
	return f, nil
}

// validateDefault checks a field default against its type. A union's
// default must match the union's first branch, as the specification (and
// Avro's Java implementation) requires.
func validateDefault(n *avroNode, v any, active map[*avroNode]bool) error {
	bad := func() error { return fmt.Errorf("%s is not a valid %s", shortJSON(v), n.displayName()) }
	switch n.typ {
	case avroNull:
		if v != nil {
			return bad()
		}
	case avroBoolean:
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case avroInt, avroLong:
		num, ok := v.(json.Number)
		if !ok {
			return bad()
		}
		f, err := num.Float64()
		if err != nil || f != math.Trunc(f) {
			return bad()
		}
		if n.typ == avroInt && (f < math.MinInt32 || f > math.MaxInt32) {
			return bad()
		}
	case avroFloat, avroDouble:
		if _, ok := v.(json.Number); !ok {
			return bad()
		}
	case avroBytes, avroString:
		if _, ok := v.(string); !ok {
			return bad()
		}
	case avroFixed:
		s, ok := v.(string)
		if !ok || len([]rune(s)) != n.size {
			return bad()
		}
	case avroEnum:
		s, ok := v.(string)
		if !ok || !slices.Contains(n.symbols, s) {
			return bad()
		}
	case avroArray:
		arr, ok := v.([]any)
		if !ok {
			return bad()
		}
		for _, e := range arr {
			if err := validateDefault(n.items, e, active); err != nil {
				return err
			}
		}
	case avroMap:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		for _, e := range m {
			if err := validateDefault(n.items, e, active); err != nil {
				return err
			}
		}
	case avroUnion:
		if len(n.branches) == 0 {
			return bad()
		}
		if err := validateDefault(n.branches[0], v, active); err != nil {
			return fmt.Errorf("a union's default must match its first branch (%s): %w", n.branches[0].displayName(), err)
		}
	case avroRecord:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		if active[n] {
			return nil // recursive default; the outer level checks it
		}
		active[n] = true
		defer delete(active, n)
		for _, f := range n.fields {
			fv, ok := m[f.name]
			if !ok {
				if f.hasDefault {
					continue
				}
				return fmt.Errorf("record default %s lacks field %q", shortJSON(v), f.name)
			}
			if err := validateDefault(f.typ, fv, active); err != nil {
				return err
			}
		}
	}
	return nil
}

func shortJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// normalizedForm writes the schema in a normal form used to decide whether
// two schema texts are the same schema. It follows the rules of Avro's
// Parsing Canonical Form (full names, no namespace attribute, no
// whitespace, fixed attribute order, primitives as bare strings, a named
// type written in full once and by name afterwards) but, unlike PCF, keeps
// every other attribute: defaults, aliases, enum defaults, logical types,
// doc and custom properties. PCF drops those, so two schemas that resolve
// differently (a field with and without a default) or deserialize
// differently (long vs timestamp-millis) would share an ID. This matches
// what Confluent's registry does: it deduplicates on the parsed and
// re-serialized schema, not on PCF.
func (p *avroParser) normalizedForm(root *avroNode) string {
	var buf bytes.Buffer
	w := normWriter{buf: &buf, written: map[string]bool{}, external: p.external}
	w.node(root)
	return buf.String()
}

type normWriter struct {
	buf      *bytes.Buffer
	written  map[string]bool
	external map[string]bool
}

func (w *normWriter) str(s string) {
	b, _ := json.Marshal(s)
	w.buf.Write(b)
}

func (w *normWriter) raw(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("null")
	}
	w.buf.Write(b)
}

// props writes the sorted extra attributes, each preceded by a comma.
func (w *normWriter) props(props map[string]any) {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.buf.WriteByte(',')
		w.str(k)
		w.buf.WriteByte(':')
		w.raw(props[k])
	}
}

func (w *normWriter) node(n *avroNode) {
	switch n.typ {
	case avroUnion:
		w.buf.WriteByte('[')
		for i, b := range n.branches {
			if i > 0 {
				w.buf.WriteByte(',')
			}
			w.node(b)
		}
		w.buf.WriteByte(']')
		return
	case avroRecord, avroEnum, avroFixed:
		if w.written[n.name] || w.external[n.name] {
			w.str(n.name)
			return
		}
		w.written[n.name] = true
	default:
		if n.typ != avroArray && n.typ != avroMap && len(n.props) == 0 {
			w.str(n.typ.String())
			return
		}
	}

	props := n.props
	w.buf.WriteByte('{')
	if n.typ.named() {
		w.buf.WriteString(`"name":`)
		w.str(n.name)
		w.buf.WriteByte(',')
	}
	w.buf.WriteString(`"type":`)
	if t, ok := props["type"]; ok { // "error" records
		w.raw(t)
		props = withoutKey(props, "type")
	} else {
		w.str(n.typ.String())
	}
	switch n.typ {
	case avroRecord:
		w.buf.WriteString(`,"fields":[`)
		for i, f := range n.fields {
			if i > 0 {
				w.buf.WriteByte(',')
			}
			w.field(f)
		}
		w.buf.WriteByte(']')
	case avroEnum:
		w.buf.WriteString(`,"symbols":`)
		w.raw(n.symbols)
		if n.enumDefault != nil {
			w.buf.WriteString(`,"default":`)
			w.str(*n.enumDefault)
		}
	case avroArray:
		w.buf.WriteString(`,"items":`)
		w.node(n.items)
	case avroMap:
		w.buf.WriteString(`,"values":`)
		w.node(n.items)
	case avroFixed:
		w.buf.WriteString(`,"size":`)
		w.buf.WriteString(strconv.Itoa(n.size))
	}
	if len(n.aliases) > 0 {
		w.buf.WriteString(`,"aliases":`)
		w.raw(n.aliases)
	}
	w.props(props)
	w.buf.WriteByte('}')
}

func (w *normWriter) field(f *avroField) {
	w.buf.WriteString(`{"name":`)
	w.str(f.name)
	w.buf.WriteString(`,"type":`)
	w.node(f.typ)
	if f.hasDefault {
		w.buf.WriteString(`,"default":`)
		w.raw(f.def)
	}
	if len(f.aliases) > 0 {
		w.buf.WriteString(`,"aliases":`)
		w.raw(f.aliases)
	}
	w.props(f.props)
	w.buf.WriteByte('}')
}

func withoutKey(m map[string]any, key string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads and parses the configuration file at path; see [Parse].
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes a pipeline.yaml document. filename is used in error messages
// and to resolve relative paths (data_dir, TLS files, ${file:...}); it need
// not exist.
//
// Decoding is strict (unknown keys and type mismatches are errors), ${...}
// references are expanded from the process environment, defaults are
// applied, values are normalized and the result is validated with
// [Config.Validate]. All problems found are returned together, joined with
// errors.Join, as [*FieldError] values; the Config is returned only when
// there are none.
func Parse(data []byte, filename string) (*Config, error) {
	return parse(data, filename, parseOptions{
		lookupEnv: os.LookupEnv,
		readFile:  readSecretFile,
	})
}

type parseOptions struct {
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
}

func parse(data []byte, filename string, opts parseOptions) (*Config, error) {
	dir := "."
	if filename != "" {
		dir = filepath.Dir(filename)
	}
	root, err := parseYAML(data, filename)
	if err != nil {
		return nil, err
	}
	d := &decoder{
		file:   filename,
		dir:    dir,
		opts:   opts,
		lines:  map[string]int{},
		failed: map[string]bool{},
	}
	cfg := Default()
	d.decode(root, reflect.ValueOf(cfg).Elem(), "", 0)
	cfg.meta = &meta{file: filename, lines: d.lines}
	cfg.normalize(dir)

	errs := d.errs
	for _, err := range cfg.validate() {
		if fe, ok := err.(*FieldError); ok && d.failedAt(fe.Path) {
			continue // already reported while decoding
		}
		errs = append(errs, err)
	}
	if err := joinErrors(errs); err != nil {
		return nil, err
	}
	return cfg, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses data into its single document's root node.
func parseYAML(data []byte, filename string) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 has panicked on malformed input before; never let that
		// take the process down.
		if r := recover(); r != nil {
			root, err = nil, &FieldError{File: filename, Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	yamlErr := func(err error) error {
		msg := err.Error()
		fe := &FieldError{File: filename}
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			fe.Line, _ = strconv.Atoi(m[1])
			msg = m[2]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		fe.Msg = "invalid YAML: " + msg
		if strings.Contains(msg, "cannot start any token") && bytes.Contains(data, []byte("\t")) {
			fe.Msg += " (YAML must be indented with spaces, not tabs)"
		}
		return fe
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &FieldError{File: filename, Msg: "the configuration is empty; it needs at least a name and one source"}
		}
		return nil, yamlErr(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlErr(err)
	default:
		return nil, &FieldError{File: filename, Line: extra.Line, Msg: `found a second YAML document ("---"); the configuration must be a single document`}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &FieldError{File: filename, Msg: "the configuration is empty; it needs at least a name and one source"}
	}
	return doc.Content[0], nil
}

// maxDecodeSteps bounds the work of decoding documents that use aliases to
// repeat large subtrees.
const maxDecodeSteps = 1_000_000

// decoder walks a yaml.Node tree into a Config, recording the line of every
// key path and collecting problems.
type decoder struct {
	file   string
	dir    string
	opts   parseOptions
	lines  map[string]int
	failed map[string]bool // paths that had a decoding error
	errs   []error
	steps  int
}

func (d *decoder) errorf(line int, path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
	d.failed[path] = true
}

// failedAt reports whether path or one of its parents failed to decode.
func (d *decoder) failedAt(path string) bool {
	for p := path; ; p = parentPath(p) {
		if d.failed[p] {
			return true
		}
		if p == "" {
			return false
		}
	}
}

var durationType = reflect.TypeFor[time.Duration]()

// decode decodes n into v. line is where the key (or list item) for path
// starts; 0 means n's own line.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, line int) {
	if line == 0 {
		line = n.Line
	}
	if d.steps++; d.steps > maxDecodeSteps {
		if d.steps == maxDecodeSteps+1 {
			d.errorf(line, path, "the document is too large or repeats aliases too often")
		}
		return
	}
	n = resolveAlias(n)
	if n == nil {
		return
	}
	d.lines[path] = line
	if isNull(n) {
		// An empty value means "not set": keep the default (lists become
		// empty).
		if v.Kind() == reflect.Slice {
			v.SetZero()
		}
		return
	}
	switch t := v.Type(); {
	case t == durationType:
		s, ok := d.scalar(n, path, line, "a duration such as \"500ms\" or \"10s\"")
		if !ok {
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			hint := ""
			if _, err := strconv.ParseFloat(s, 64); err == nil {
				hint = " (a unit is required)"
			}
			d.errorf(line, path, "invalid duration %q%s; use a Go duration such as \"500ms\", \"10s\" or \"1m30s\"", s, hint)
			return
		}
		v.SetInt(int64(dur))
	case t.Kind() == reflect.String:
		s, ok := d.scalar(n, path, line, "a string")
		if !ok {
			return
		}
		v.SetString(s)
	case t.Kind() == reflect.Int:
		s, ok := d.scalar(n, path, line, "an integer")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(s, 10, strconv.IntSize)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				d.errorf(line, path, "integer %s is out of range", s)
			} else {
				d.errorf(line, path, "expected an integer, got %s", describeScalar(s))
			}
			return
		}
		v.SetInt(i)
	case t.Kind() == reflect.Bool:
		s, ok := d.scalar(n, path, line, "true or false")
		if !ok {
			return
		}
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.errorf(line, path, "expected true or false, got %s", describeScalar(s))
		}
	case t.Kind() == reflect.Float64:
		s, ok := d.scalar(n, path, line, "a number")
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.errorf(line, path, "expected a number, got %s", describeScalar(s))
			return
		}
		v.SetFloat(f)
	case t.Kind() == reflect.Pointer:
		elem := reflect.New(t.Elem())
		if def, ok := elem.Interface().(defaulter); ok {
			def.setDefaults()
		}
		d.decode(n, elem.Elem(), path, line)
		v.Set(elem)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		d.decodeMap(n, v, path, line)
	case t.Kind() == reflect.Slice:
		d.decodeList(n, v, path, line)
	case t.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path, line)
	default:
		panic("config: cannot decode into " + t.String())
	}
}

// scalar returns n's expanded value, or reports a type mismatch.
func (d *decoder) scalar(n *yaml.Node, path string, line int, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(line, path, "expected %s, got %s", want, describeNode(n))
		return "", false
	}
	return d.expand(n.Value, path, line)
}

func (d *decoder) decodeList(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(line, path, "expected a list (\"[a, b]\" or one \"- item\" per line), got %s", describeNode(n))
		return
	}
	list := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		elem := list.Index(i)
		if def, ok := elem.Addr().Interface().(defaulter); ok {
			def.setDefaults()
		}
		d.decode(item, elem, fmt.Sprintf("%s[%d]", path, i), 0)
	}
	v.Set(list)
}

// decodeMap decodes a mapping with free keys (names the user chooses, such
// as field names) into a map with string keys.
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string, line int) {
	m := reflect.MakeMap(v.Type())
	ok := d.eachKey(n, path, line, "name: value pairs", true, func(key, child string, p pair) {
		elem := reflect.New(v.Type().Elem())
		if def, ok := elem.Interface().(defaulter); ok {
			def.setDefaults()
		}
		d.decode(p.value, elem.Elem(), child, p.key.Line)
		m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), elem.Elem())
	})
	if ok {
		v.Set(m)
	}
}

// eachKey checks that n is a mapping of plain, distinct keys (non-empty
// when nonEmpty) and calls fn for each pair, with the key's path; it
// reports whether n was a mapping.
func (d *decoder) eachKey(n *yaml.Node, path string, line int, what string, nonEmpty bool, fn func(key, child string, p pair)) bool {
	if n.Kind != yaml.MappingNode {
		d.errorf(line, path, "expected a mapping (%s), got %s", what, describeNode(n))
		return false
	}
	seen := map[string]int{}
	for _, p := range d.pairs(n, path, map[*yaml.Node]bool{}) {
		if p.key.Kind != yaml.ScalarNode || (nonEmpty && p.key.Value == "") {
			must := "plain strings"
			if nonEmpty {
				must = "non-empty plain strings"
			}
			d.errorf(p.key.Line, path, "keys must be %s, got %s", must, describeNode(p.key))
			continue
		}
		key := p.key.Value
		child := joinPath(path, key)
		if first, dup := seen[key]; dup {
			d.errorf(p.key.Line, child, "duplicate key %q (first set on line %d); remove one of them", key, first)
			continue
		}
		seen[key] = p.key.Line
		fn(key, child, p)
	}
	return true
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, line int) {
	fields := fieldsOf(v.Type())
	d.eachKey(n, path, line, "key: value pairs", false, func(key, child string, p pair) {
		idx, ok := fields.index[key]
		if !ok {
			where := "at top level"
			if path != "" {
				where = "in " + path
			}
			d.errs = append(d.errs, &FieldError{
				File: d.file, Line: p.key.Line, Path: child, msgNamesKey: true,
				Msg: fmt.Sprintf("unknown key %q %s%s (known: %s)", key, where, didYouMean(key, fields.keys), strings.Join(fields.keys, ", ")),
			})
			return
		}
		d.decode(p.value, v.FieldByIndex(idx), child, p.key.Line)
	})
}

type pair struct{ key, value *yaml.Node }

// pairs returns n's key/value pairs with YAML merge keys ("<<: *base")
// applied: merged keys are added only when not set explicitly, earlier
// merges winning over later ones. visited guards against merge cycles.
func (d *decoder) pairs(n *yaml.Node, path string, visited map[*yaml.Node]bool) []pair {
	visited[n] = true
	var out []pair
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		out = append(out, pair{k, v})
	}
	if len(merges) == 0 {
		return out
	}
	have := map[string]bool{}
	for _, p := range out {
		have[p.key.Value] = true
	}
	merge := func(m *yaml.Node, line int) {
		m = resolveAlias(m)
		if m == nil || visited[m] {
			return
		}
		if m.Kind != yaml.MappingNode {
			d.errorf(line, path, "a merge key (<<) needs a mapping or a list of mappings, got %s", describeNode(m))
			return
		}
		for _, p := range d.pairs(m, path, visited) {
			if p.key.Kind == yaml.ScalarNode && !have[p.key.Value] {
				have[p.key.Value] = true
				out = append(out, p)
			}
		}
	}
	for _, m := range merges {
		if r := resolveAlias(m); r != nil && r.Kind == yaml.SequenceNode {
			for _, item := range r.Content {
				merge(item, item.Line)
			}
			continue
		}
		merge(m, m.Line)
	}
	return out
}

// resolveAlias follows alias nodes to the node they refer to.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 100 {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describeNode describes a node for "expected X, got Y" messages without
// quoting values of collections.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	}
	return "an unsupported YAML node"
}

// describeScalar quotes a (non-secret) scalar value for error messages,
// shortening long ones.
func describeScalar(s string) string {
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return strconv.Quote(s)
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// parentPath strips the last component of a key path: "a.b[1]" -> "a.b" ->
// "a" -> "".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// structFields maps the yaml keys of a struct type to field indexes.
type structFields struct {
	keys  []string // in declaration order
	index map[string][]int
}

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{index: map[string][]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		key, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || key == "-" {
			continue
		}
		if key == "" && opts == "inline" && sf.Type.Kind() == reflect.Struct {
			// The embedded struct's keys are this struct's keys.
			in := fieldsOf(sf.Type)
			for _, k := range in.keys {
				f.keys = append(f.keys, k)
				f.index[k] = append([]int{i}, in.index[k]...)
			}
			continue
		}
		if key == "" {
			continue
		}
		f.keys = append(f.keys, key)
		f.index[key] = []int{i}
	}
	fieldCache.Store(t, f)
	return f
}

// normalize applies derived defaults and canonical forms after decoding:
// relative paths are resolved against dir, brokers are split on commas,
// the SASL mechanism is upper-cased, table and schema names are put in
// canonical form, and slot and publication default to syncline_<name>.
// Values that do not parse are left for validate to report.
func (c *Config) normalize(dir string) {
	resolve := func(p *string) {
		if *p == "" || filepath.IsAbs(*p) {
			return
		}
		joined := filepath.Join(dir, *p)
		if abs, err := filepath.Abs(joined); err == nil {
			joined = abs
		}
		*p = joined
	}
	resolve(&c.DataDir)
	resolve(&c.HTTP.TLS.CertFile)
	resolve(&c.HTTP.TLS.KeyFile)
	resolve(&c.HTTP.TLS.ClientCAFile)
	for _, t := range []*TLS{&c.Kafka.TLS, &c.Registry.TLS} {
		resolve(&t.CAFile)
		resolve(&t.CertFile)
		resolve(&t.KeyFile)
	}

	if len(c.Kafka.Brokers) > 0 {
		var brokers []string
		var lines []int
		for i, b := range c.Kafka.Brokers {
			for part := range strings.SplitSeq(b, ",") {
				if part = strings.TrimSpace(part); part != "" {
					brokers = append(brokers, part)
					lines = append(lines, c.meta.line(fmt.Sprintf("kafka.brokers[%d]", i)))
				}
			}
		}
		if c.meta != nil {
			for i := range c.Kafka.Brokers {
				delete(c.meta.lines, fmt.Sprintf("kafka.brokers[%d]", i))
			}
			for i, l := range lines {
				if l > 0 {
					c.meta.lines[fmt.Sprintf("kafka.brokers[%d]", i)] = l
				}
			}
		}
		c.Kafka.Brokers = brokers
	}
	c.Kafka.SASL.Mechanism = SASLMechanism(strings.ToUpper(string(c.Kafka.SASL.Mechanism)))

	for i := range c.Sources {
		s := &c.Sources[i]
		for j, t := range s.Tables {
			if tn, err := ParseTableName(t); err == nil {
				s.Tables[j] = tn.String()
			}
		}
		if tn, err := ParseTableName(s.SignalTable); err == nil && s.SignalTable != "" {
			s.SignalTable = tn.String()
		}
		for j := range s.Keys {
			if tn, err := ParseTableName(s.Keys[j].Table); err == nil {
				s.Keys[j].Table = tn.String()
			}
		}
		if s.Name != "" && s.Slot == "" {
			s.Slot = slotPrefix + s.Name
		}
		if s.Name != "" && s.Publication == "" {
			s.Publication = slotPrefix + s.Name
		}
	}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		if name, err := parseIdent(s.Schema); err == nil {
			s.Schema = quoteIdent(name)
		}
		for j, entry := range s.From {
			if ref, err := parseFromEntry(entry); err == nil {
				if ref.all {
					s.From[j] = ref.source + ".*"
				} else {
					s.From[j] = SourceTable{Source: ref.source, Table: ref.table}.String()
				}
			}
		}
	}
}

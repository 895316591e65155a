package quality

import (
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// RecordVar is the CEL variable holding the whole record, a map from field
// name to value, for fields whose names are not CEL identifiers
// (record["first-name"]) and presence tests (has(record.phone)).
const RecordVar = "record"

// celCostLimit bounds the work one expression may do on one record, so a
// comprehension over a huge list cannot stall the stage.
const celCostLimit = 1_000_000

// celBase is the environment every expression is checked in: the standard
// library, the strings and math extensions, and the record variable.
var celBase = func() *cel.Env {
	env, err := cel.NewEnv(
		cel.Variable(RecordVar, cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(), ext.Math(), ext.Encoders(), ext.Bindings(), ext.Lists(),
	)
	if err != nil {
		panic(fmt.Sprintf("quality: CEL environment: %v", err))
	}
	return env
}()

// celTypeNames are identifiers CEL resolves itself; they are never record
// fields.
var celTypeNames = map[string]bool{
	"bool": true, "bytes": true, "double": true, "duration": true, "dyn": true, "int": true,
	"list": true, "map": true, "null_type": true, "string": true, "timestamp": true,
	"type": true, "uint": true, "optional_type": true, "math": true, "strings": true, "base64": true, "cel": true, "lists": true,
}

// program is one compiled expression.
type program struct {
	prg  cel.Program
	path string
}

// compileExpr compiles text, found at path (for messages, such as
// `rules[1].when`), in which every free identifier is a record field.
// wantBool requires a boolean result.
func compileExpr(text, path, what string, wantBool bool) (*program, error) {
	src := common.NewStringSource(text, path)
	parsed, iss := celBase.ParseSource(src)
	if iss.Err() != nil {
		return nil, celError(what, iss)
	}
	env := celBase
	if vars := freeIdents(parsed); len(vars) > 0 {
		opts := make([]cel.EnvOption, len(vars))
		for i, v := range vars {
			opts[i] = cel.Variable(v, cel.DynType)
		}
		var err error
		if env, err = celBase.Extend(opts...); err != nil {
			return nil, fmt.Errorf("%s: %v", what, err)
		}
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		return nil, celError(what, iss)
	}
	if wantBool && !checked.OutputType().IsExactType(cel.BoolType) && !checked.OutputType().IsExactType(cel.DynType) {
		return nil, fmt.Errorf("%s must be a condition (bool), not %s", what, checked.OutputType())
	}
	prg, err := env.Program(checked, cel.CostLimit(celCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	return &program{prg: prg, path: path}, nil
}

// celError formats CEL's issues as "what: line:col: message" with the
// line of the expression and a caret under the position.
func celError(what string, iss *cel.Issues) error {
	var b strings.Builder
	for i, e := range iss.Errors() {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %d:%d: %s", what, e.Location.Line(), e.Location.Column()+1, e.Message)
	}
	if s := iss.String(); strings.Contains(s, "\n") {
		// The snippet and caret CEL prints under its first error.
		lines := strings.Split(s, "\n")
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, " |") {
				b.WriteString("\n" + l)
			} else {
				break
			}
		}
	}
	return fmt.Errorf("%s", b.String())
}

// freeIdents returns the identifiers text refers to that are neither
// comprehension variables nor CEL's own names, sorted.
func freeIdents(a *cel.Ast) []string {
	root := ast.NavigateAST(a.NativeRep())
	bound := map[string]bool{}
	for _, c := range ast.MatchDescendants(root, ast.KindMatcher(ast.ComprehensionKind)) {
		comp := c.AsComprehension()
		bound[comp.IterVar()] = true
		bound[comp.AccuVar()] = true
		if comp.HasIterVar2() {
			bound[comp.IterVar2()] = true
		}
	}
	var out []string
	for _, id := range ast.MatchDescendants(root, ast.KindMatcher(ast.IdentKind)) {
		name := id.AsIdent()
		if bound[name] || celTypeNames[name] || name == RecordVar || slices.Contains(out, name) {
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// activation exposes a record to CEL: each field as a variable (null when
// absent) and the whole record as RecordVar.
type activation struct {
	rec map[string]any
}

func (a activation) ResolveName(name string) (any, bool) {
	if name == RecordVar {
		return celRecord(a.rec), true
	}
	return celValue(a.rec[name]), true
}

func (a activation) Parent() interpreter.Activation { return nil }

// celRecord converts the record's values that CEL does not know.
func celRecord(rec map[string]any) map[string]any {
	for _, v := range rec {
		if needsConversion(v) {
			m := make(map[string]any, len(rec))
			for k, v := range rec {
				m[k] = celValue(v)
			}
			return m
		}
	}
	return rec
}

func needsConversion(v any) bool {
	switch v.(type) {
	case nil, string, bool, int64, int32, int, float64, float32, []byte, time.Time, time.Duration,
		uint64, uint32, uint, []any, map[string]any, []string:
		return false
	}
	return true
}

// celValue converts the few Go values records hold that CEL's adapter does
// not: big rationals (Avro decimals) become doubles, other unknown types
// their text.
func celValue(v any) any {
	if !needsConversion(v) {
		return v
	}
	switch x := v.(type) {
	case *big.Rat:
		if x == nil {
			return nil
		}
		f, _ := x.Float64()
		return f
	case fmt.Stringer:
		return x.String()
	}
	return v
}

// eval runs p on rec.
func (p *program) eval(rec map[string]any) (ref.Val, error) {
	out, _, err := p.prg.Eval(activation{rec: rec})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// evalBool runs a condition.
func (p *program) evalBool(rec map[string]any) (bool, error) {
	out, err := p.eval(rec)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("result is %s, not bool", out.Type())
	}
	return bool(b), nil
}

var anyType = reflect.TypeFor[any]()

// native converts a CEL result to a Go value for the record: null → nil,
// int → int64, double → float64, string, bool, bytes, timestamp →
// time.Time, duration → time.Duration, lists → []any, maps →
// map[string]any (other keys as text).
func native(v ref.Val) any {
	switch x := v.(type) {
	case types.Null:
		return nil
	case types.Int:
		return int64(x)
	case types.Uint:
		return uint64(x)
	case types.Double:
		return float64(x)
	case types.String:
		return string(x)
	case types.Bool:
		return bool(x)
	case types.Bytes:
		return []byte(x)
	case types.Timestamp:
		return x.Time
	case types.Duration:
		return x.Duration
	case traits.Lister:
		n, _ := x.Size().(types.Int)
		out := make([]any, 0, int(n))
		it := x.Iterator()
		for it.HasNext() == types.True {
			out = append(out, native(it.Next()))
		}
		return out
	case traits.Mapper:
		out := map[string]any{}
		it := x.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			ks, ok := k.(types.String)
			key := string(ks)
			if !ok {
				key = fmt.Sprint(native(k))
			}
			out[key] = native(x.Get(k))
		}
		return out
	}
	if n, err := v.ConvertToNative(anyType); err == nil {
		return n
	}
	return v.Value()
}

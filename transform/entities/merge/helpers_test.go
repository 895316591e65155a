package merge

import (
	"bytes"
	"fmt"
	"testing"

	"syncline/schemas"
)

func newMerger(t testing.TB, cfg Config) *Merger {
	t.Helper()
	m, err := New("contact", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// up is an update of source record key at commit time ms and position pos.
func up(source, key string, ms int64, pos string, fields map[string]any) Change {
	return Change{Entity: "contact", Source: source, Key: key, Op: schemas.OpUpdate, CommitMs: ms, Position: pos, Fields: fields}
}

func del(source, key string, ms int64, pos string) Change {
	return Change{Entity: "contact", Source: source, Key: key, Op: schemas.OpDelete, CommitMs: ms, Position: pos}
}

// run applies changes in order and returns the final state and outputs.
func run(t testing.TB, m *Merger, st *State, chs ...Change) (*State, []Output) {
	t.Helper()
	if st == nil {
		st = NewState("contact", "c1")
	}
	var outs []Output
	for _, ch := range chs {
		var out Output
		var err error
		st, out, err = m.Apply(st, ch)
		if err != nil {
			t.Fatalf("apply %+v: %v", ch, err)
		}
		outs = append(outs, out)
	}
	return st, outs
}

func enc(t testing.TB, s *State) []byte {
	t.Helper()
	b, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameState fails unless a and b encode to the same bytes.
func sameState(t testing.TB, a, b *State, what string) {
	t.Helper()
	if ea, eb := enc(t, a), enc(t, b); !bytes.Equal(ea, eb) {
		t.Fatalf("%s: states differ:\n%s\n%s", what, dump(a), dump(b))
	}
}

func dump(s *State) string {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "deleted=%v golden=%v\n", s.Deleted, s.Golden())
	for _, n := range sortedKeys(s.Fields) {
		f := s.Fields[n]
		fmt.Fprintf(&buf, "  %s=%v %+v\n", n, f.Value, f.Prov)
		for _, r := range sortedKeys(f.Contribs) {
			fmt.Fprintf(&buf, "    %+v\n", *f.Contribs[r])
		}
	}
	for _, r := range sortedKeys(s.Records) {
		fmt.Fprintf(&buf, "  record %+v\n", *s.Records[r])
	}
	return buf.String()
}

func golden(s *State, f string) any {
	if fs := s.Fields[f]; fs != nil {
		return fs.Value
	}
	return nil
}

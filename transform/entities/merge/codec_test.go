package merge

import (
	"bytes"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"syncline/schemas"
)

// richState has every kind of value and every part of the state.
func richState(t testing.TB) *State {
	t.Helper()
	m := newMerger(t, scenarioConfig)
	ts := time.Date(2026, 12, 6, 10, 30, 0, 123456789, time.UTC)
	s, _ := run(t, m, nil,
		up("app", "k1", 100, "A1", map[string]any{
			"phone": "+15550001", "price": int64(100), "flag": true, "off": false, "i32": int32(-7),
			"f32": float32(1.5), "f64": math.Inf(-1), "nan": math.NaN(), "rat": big.NewRat(-12345, 100),
			"bytes": []byte{0, 1, 255}, "at": ts, "dur": 90 * time.Minute, "tags": []any{"a", int64(2), nil, ts},
			"name": "Ann", "nothing": nil, "lifetime_value": int64(7),
		}),
		up("billing", "k1", 110, "B1", map[string]any{"bank_account": "DE89", "billing_address": "1 Main St", "lifetime_value": float64(2.5)}),
		up("app", "k1", 120, "A2", map[string]any{"price": int64(1)}),
		up("crm", "k 2", 130, "C1", map[string]any{"name": "Annie", "phone": "+15550002"}),
		del("billing", "k1", 140, "B2"),
	)
	s, err := m.MarkSynced(s, "crm", map[string]any{"name": "Ann", "at": ts})
	if err != nil {
		t.Fatal(err)
	}
	ids := sortedKeys(s.Pending)
	if len(ids) < 2 {
		t.Fatalf("want pending reviews, have %v", ids)
	}
	if s, _, err = m.ApplyDecision(s, ids[0], Reject); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStateRoundTrip(t *testing.T) {
	for _, s := range []*State{NewState("contact", ""), NewState("contact", "c1"), richState(t)} {
		b := enc(t, s)
		got, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if b2 := enc(t, got); !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, b2)
		}
		if got.Type != s.Type || got.ID != s.ID || got.Deleted != s.Deleted || len(got.Fields) != len(s.Fields) ||
			len(got.Records) != len(s.Records) || len(got.Pending) != len(s.Pending) || len(got.Decided) != len(s.Decided) {
			t.Fatalf("decoded %s, want %s", dump(got), dump(s))
		}
		for n, f := range s.Fields {
			g := got.Fields[n]
			if !schemas.ValueEqual(g.Value, f.Value) || g.Prov != f.Prov || len(g.Contribs) != len(f.Contribs) {
				t.Fatalf("field %s: decoded %v %+v, want %v %+v", n, g.Value, g.Prov, f.Value, f.Prov)
			}
			for r, c := range f.Contribs {
				gc := *g.Contribs[r]
				wc := *c
				if !schemas.ValueEqual(gc.Value, wc.Value) {
					t.Fatalf("field %s record %q: value %v, want %v", n, r, gc.Value, wc.Value)
				}
				gc.Value, wc.Value = nil, nil
				if gc != wc {
					t.Fatalf("field %s record %q: %+v, want %+v", n, r, gc, wc)
				}
			}
		}
		for id, it := range s.Pending {
			g := got.Pending[id]
			if g == nil || g.Reason != it.Reason || g.Kind != it.Kind || g.Entity != it.Entity || !schemas.ValueEqual(g.Value, it.Value) {
				t.Fatalf("review %s: decoded %+v, want %+v", id, g, it)
			}
		}
		if !schemas.ValueEqual(got.Synced["crm"]["name"], s.Synced["crm"]["name"]) {
			t.Fatalf("synced %v, want %v", got.Synced, s.Synced)
		}
	}
}

func TestDecodedStateMergesLikeTheOriginal(t *testing.T) {
	m := newMerger(t, scenarioConfig)
	s := richState(t)
	d, err := Decode(enc(t, s))
	if err != nil {
		t.Fatal(err)
	}
	next := up("crm", "k 2", 200, "C2", map[string]any{"phone": "+1999", "price": int64(2), "lifetime_value": int64(1)})
	a, oa, err := m.Apply(s, next)
	if err != nil {
		t.Fatal(err)
	}
	b, ob, err := m.Apply(d, next)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, a, b, "after decode")
	if len(oa.Delta.Fields) != len(ob.Delta.Fields) || len(oa.Delta.Fields) == 0 {
		t.Fatalf("deltas %+v and %+v", oa.Delta, ob.Delta)
	}
}

func TestDecodeRejectsBadBytes(t *testing.T) {
	b := enc(t, richState(t))
	for i := range b {
		if _, err := Decode(b[:i]); err == nil {
			t.Fatalf("prefix of %d of %d bytes decoded", i, len(b))
		} else if !strings.Contains(err.Error(), "decode entity state: ") {
			t.Fatalf("error %v", err)
		}
	}
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"another version", append([]byte{9}, b[1:]...), "version 9, want 1"},
		{"trailing bytes", append(append([]byte{}, b...), 0), "1 trailing bytes"},
		{"a huge count", []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, "exceeds"},
		{"unknown flags", []byte{1, 0, 0, 4, 0, 0, 0, 0, 0}, "offset 4: unknown state flags 0x4"},
		{"an unknown value tag", []byte{1, 0, 0, 0, 0, 1, 1, 'x', 99}, "offset 8: unknown value tag 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.b); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEncodeRejectsUnsupportedValues(t *testing.T) {
	s := NewState("contact", "c1")
	s.Fields = map[string]*FieldState{"x": {Value: struct{}{}}}
	if _, err := Encode(s); err == nil || !strings.Contains(err.Error(), "field x: unsupported value type") {
		t.Fatalf("error %v", err)
	}
}

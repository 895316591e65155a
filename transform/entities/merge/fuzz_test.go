package merge

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"testing"
	"time"

	"syncline/schemas"
)

// fuzzValue turns a byte into a value of one of the supported kinds.
func fuzzValue(c byte, next byte) any {
	switch c % 12 {
	case 0:
		return nil
	case 1:
		return next%2 == 0
	case 2:
		return int32(int8(next))
	case 3:
		return int64(next) * int64(math.MaxInt64/200)
	case 4:
		return float32(next) / 3
	case 5:
		return []float64{math.NaN(), math.Inf(1), -0.0, 1e300, float64(next)}[next%5]
	case 6:
		return big.NewRat(int64(next)-100, int64(next%7)+1)
	case 7:
		return fmt.Sprintf("v%d", next%5)
	case 8:
		return []byte{next}
	case 9:
		return time.Unix(int64(next)*1000, int64(next)).UTC()
	case 10:
		return time.Duration(next) * time.Second
	}
	return []any{int64(next % 3), fmt.Sprint(next % 2), nil}
}

var fuzzFields = []string{"phone", "price", "bank_account", "name", "title", "lifetime_value", "tags", "company", "first_seen", "lead_score", "billing_address", "email"}

// FuzzApply drives a sequence of changes, decisions, sync marks and
// combinations from the input: none of them panics, errors leave the state
// as it was, and every state survives an encode/decode round trip.
func FuzzApply(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	f.Add([]byte("\x00\x01\x01\x05\x00\x03\x10\x00\x02\x01\x06\x00\x03\x01\x03\x00\x00\x00\x00\x00"))
	f.Add(bytes.Repeat([]byte{7, 3, 1, 200, 9, 4}, 20))
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg := scenarioConfig
		if len(in) > 0 && in[0]%2 == 1 {
			cfg.DeleteWhenNoSources = true
		}
		m, err := New("contact", cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := NewState("contact", "c1")
		at := func(i int) byte {
			if i < len(in) {
				return in[i]
			}
			return 0
		}
		for i := 1; i < len(in); i += 6 {
			op, src, pos, f1, v1, v2 := at(i), at(i+1), at(i+2), at(i+3), at(i+4), at(i+5)
			source := []string{"app", "crm", "billing", "email", ""}[src%5]
			key := fmt.Sprintf("k%d", src/5%3)
			position := fmt.Sprintf("%02X", pos)
			before := enc(t, s)
			var next *State
			switch op % 7 {
			case 0, 1, 2:
				fields := map[string]any{fuzzFields[int(f1)%len(fuzzFields)]: fuzzValue(v1, v2)}
				if op%3 == 2 {
					fields[fuzzFields[int(v2)%len(fuzzFields)]] = fuzzValue(v2, v1)
				}
				next, _, err = m.Apply(s, up(source, key, int64(int8(v2)), position, fields))
			case 3:
				next, _, err = m.Apply(s, Change{Entity: "contact", Source: source, Key: key, Op: schemas.OpDelete, CommitMs: int64(v1), Position: position})
			case 4:
				ids := sortedKeys(s.Pending)
				id := "unknown"
				if len(ids) > 0 {
					id = ids[int(v1)%len(ids)]
				}
				next, _, err = m.ApplyDecision(s, id, []Decision{Approve, Reject}[v2%2])
			case 5:
				next, err = m.MarkSynced(s, source, map[string]any{fuzzFields[int(f1)%len(fuzzFields)]: fuzzValue(v1, v2)})
			case 6:
				other, _, err2 := m.Apply(NewState("contact", "c2"), up(source, "other", int64(v1), position,
					map[string]any{fuzzFields[int(f1)%len(fuzzFields)]: fuzzValue(v1, v2)}))
				if err2 != nil {
					continue
				}
				next, _, err = m.Combine(s, other)
			}
			if !bytes.Equal(before, enc(t, s)) {
				t.Fatal("the state passed in was modified")
			}
			if err != nil {
				continue
			}
			b := enc(t, next)
			d, err := Decode(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !bytes.Equal(b, enc(t, d)) {
				t.Fatal("round trip differs")
			}
			s = d
		}
	})
}

// FuzzDecode: Decode never panics; what it accepts re-encodes to bytes
// that decode to the same state.
func FuzzDecode(f *testing.F) {
	f.Add(enc(f, richState(f)))
	f.Add(enc(f, NewState("contact", "c1")))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		b2, err := Encode(s)
		if err != nil {
			t.Fatalf("decoded state does not encode: %v", err)
		}
		s2, err := Decode(b2)
		if err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if b3 := enc(t, s2); !bytes.Equal(b2, b3) {
			t.Fatal("encoding not stable")
		}
	})
}

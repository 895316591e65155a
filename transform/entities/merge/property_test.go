package merge

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// orderConfig has every policy whose result must not depend on the
// arrival order of changes.
var orderConfig = Config{
	Sources: []string{"a", "b"}, // c is unlisted
	Fields: map[string]Field{
		"lww":  {Policy: LastWriterWins},
		"min":  {Policy: Min},
		"max":  {Policy: Max},
		"sum":  {Policy: Sum},
		"set":  {Policy: Set},
		"sor":  {SystemOfRecord: "a"},
		"prio": {SourcePriority: []string{"b", "a"}},
		"any":  {}, // default: last_writer_wins
	},
}

var orderFields = []string{"lww", "min", "max", "sum", "set", "sor", "prio", "any"}

func randValue(r *rand.Rand, field string) any {
	switch r.IntN(8) {
	case 0:
		return nil
	case 1:
		if field != "sum" {
			return fmt.Sprintf("s%d", r.IntN(4))
		}
	case 2:
		return float64(r.IntN(7)) / 10 // not exact in binary: the sum depends on the order of addition
	case 3:
		return int32(r.IntN(5))
	case 4:
		if field == "set" {
			return []any{int64(r.IntN(3)), fmt.Sprintf("t%d", r.IntN(3))}
		}
	}
	return int64(r.IntN(10) - 3)
}

// randChanges returns a history of changes of up to 3 sources and 2 keys
// per source: positions grow per source, commit times repeat often so the
// tie-breaks of the LWW order are exercised.
func randChanges(r *rand.Rand) []Change {
	n := 1 + r.IntN(24)
	pos := map[string]int{}
	var out []Change
	for range n {
		src := []string{"a", "b", "c"}[r.IntN(3)]
		key := []string{"k1", "k2"}[r.IntN(2)]
		pos[src]++
		p := fmt.Sprintf("%016X", pos[src]*7)
		ms := int64(r.IntN(6))
		if r.IntN(6) == 0 {
			out = append(out, del(src, key, ms, p))
			continue
		}
		fields := map[string]any{}
		for _, f := range orderFields {
			if r.IntN(3) == 0 {
				fields[f] = randValue(r, f)
			}
		}
		out = append(out, up(src, key, ms, p, fields))
	}
	return out
}

// interleave returns chs in a random arrival order that keeps the order of
// each source record's changes (the change topics are ordered per key;
// between records, sources and partitions there is no order).
func interleave(r *rand.Rand, chs []Change) []Change {
	var refs []string
	queues := map[string][]Change{}
	for _, ch := range chs {
		ref := Ref(ch.Source, ch.Key)
		if queues[ref] == nil {
			refs = append(refs, ref)
		}
		queues[ref] = append(queues[ref], ch)
	}
	out := make([]Change, 0, len(chs))
	for len(refs) > 0 {
		i := r.IntN(len(refs))
		q := queues[refs[i]]
		out = append(out, q[0])
		if queues[refs[i]] = q[1:]; len(q) == 1 {
			refs = append(refs[:i], refs[i+1:]...)
		}
	}
	return out
}

// histories calls f with 400 random histories and the state each gives
// when its changes arrive in the order they were made.
func histories(t *testing.T, seed uint64, f func(m *Merger, r *rand.Rand, i int, chs []Change, want *State)) {
	m := newMerger(t, orderConfig)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for i := range 400 {
		chs := randChanges(r)
		want, _ := run(t, m, nil, chs...)
		f(m, r, i, chs, want)
	}
}

func TestFinalStateDoesNotDependOnArrivalOrder(t *testing.T) {
	histories(t, 1, func(m *Merger, r *rand.Rand, i int, chs []Change, want *State) {
		for p := range 6 {
			perm := interleave(r, chs)
			// Redeliveries anywhere after the original.
			for range r.IntN(4) {
				j := r.IntN(len(perm))
				k := j + r.IntN(len(perm)-j)
				perm = append(perm[:k+1], append([]Change{perm[j]}, perm[k+1:]...)...)
			}
			got, _ := run(t, m, nil, perm...)
			sameState(t, want, got, fmt.Sprintf("history %d, permutation %d", i, p))
		}
	})
}

func TestRedeliveryChangesNothing(t *testing.T) {
	m := newMerger(t, scenarioConfig)
	r := rand.New(rand.NewPCG(3, 4))
	fields := []string{"phone", "price", "bank_account", "name", "title", "lifetime_value", "tags", "billing_address"}
	for range 300 {
		s := NewState("contact", "c1")
		var seen []Change
		for range 1 + r.IntN(15) {
			var ch Change
			if len(seen) > 0 && r.IntN(3) == 0 {
				ch = seen[r.IntN(len(seen))]
				next, out, err := m.Apply(s, ch)
				if err != nil {
					t.Fatal(err)
				}
				if !out.Empty() {
					t.Fatalf("redelivery of %+v produced %+v", ch, out)
				}
				sameState(t, s, next, "redelivery")
				continue
			}
			src := []string{"app", "crm", "billing"}[r.IntN(3)]
			p := fmt.Sprintf("%016X", len(seen)+1)
			if r.IntN(8) == 0 {
				ch = del(src, "k1", int64(len(seen)), p)
			} else {
				fv := map[string]any{}
				for _, f := range fields {
					if r.IntN(2) == 0 {
						switch f {
						case "price", "lifetime_value":
							fv[f] = []any{int64(1), int64(100), int64(50), nil}[r.IntN(4)]
						default:
							fv[f] = fmt.Sprintf("v%d", r.IntN(3))
						}
					}
				}
				ch = up(src, "k1", int64(len(seen)), p, fv)
			}
			var err error
			if s, _, err = m.Apply(s, ch); err != nil {
				t.Fatal(err)
			}
			seen = append(seen, ch)
			// Decide some pending items, twice.
			for _, id := range sortedKeys(s.Pending) {
				if r.IntN(2) == 0 {
					d := []Decision{Approve, Reject}[r.IntN(2)]
					if s, _, err = m.ApplyDecision(s, id, d); err != nil {
						t.Fatal(err)
					}
					again, out, err := m.ApplyDecision(s, id, d)
					if err != nil || out.Outcome != OutcomeAlreadyDecided || out.Delta != nil {
						t.Fatalf("second decision: %+v, %v", out, err)
					}
					sameState(t, s, again, "second decision")
				}
			}
		}
	}
}

func TestCombinedEntitiesEqualOneEntity(t *testing.T) {
	histories(t, 5, func(m *Merger, r *rand.Rand, i int, chs []Change, want *State) {
		// Each source record lands in one of two entities.
		side := map[string]bool{}
		a, b := NewState("contact", "c1"), NewState("contact", "c2")
		for _, ch := range chs {
			ref := Ref(ch.Source, ch.Key)
			if _, ok := side[ref]; !ok {
				side[ref] = r.IntN(2) == 0
			}
			var err error
			if side[ref] {
				a, _, err = m.Apply(a, ch)
			} else {
				b, _, err = m.Apply(b, ch)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		got, out, err := m.Combine(a, b)
		if err != nil {
			t.Fatal(err)
		}
		sameState(t, want, got, fmt.Sprintf("history %d combined", i))
		// The delta takes a's golden record to the combined one.
		g := a.Golden()
		if out.Delta != nil {
			for _, fc := range out.Delta.Fields {
				if fc.New == nil {
					delete(g, fc.Field)
				} else {
					g[fc.Field] = fc.New
				}
			}
		}
		wg := want.Golden()
		for k, v := range wg {
			if !equal(g[k], v) {
				t.Fatalf("history %d: delta gives %s=%v, want %v", i, k, g[k], v)
			}
		}
		if len(g) != len(wg) {
			t.Fatalf("history %d: delta gives %v, want %v", i, g, wg)
		}
	})
}

package merge

import (
	"fmt"
	"testing"
)

// benchChanges returns n changes of a contact held by three systems, each
// change touching six of the scenario fields.
func benchChanges(n int) []Change {
	srcs := []string{"app", "crm", "billing"}
	out := make([]Change, n)
	for i := range out {
		src := srcs[i%3]
		out[i] = up(src, "k1", int64(i/3), fmt.Sprintf("%016X", i+1), map[string]any{
			"phone":          fmt.Sprintf("+1555%07d", i%50),
			"email":          fmt.Sprintf("ann%d@example.com", i%7),
			"last_name":      "Smith",
			"price":          int64(100 + i%9),
			"lifetime_value": int64(i % 13),
			"tags":           []any{src, "customer"},
		})
	}
	return out
}

// BenchmarkApply measures merges per second: Apply (which copies the
// state) on a state kept in memory, and ApplyInPlace with the state
// decoded before and encoded after, as the stage does with the state it
// keeps in Badger.
func BenchmarkApply(b *testing.B) {
	m := newMerger(b, scenarioConfig)
	chs := benchChanges(4096)
	warm, _ := run(b, m, nil, chs[:30]...)
	b.Run("apply", func(b *testing.B) {
		b.ReportAllocs()
		s := warm
		i := 0
		for b.Loop() {
			ch := chs[30+i%(len(chs)-30)]
			ch.Position = fmt.Sprintf("%016X", 100000+i)
			var err error
			if s, _, err = m.Apply(s, ch); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "merges/s")
	})
	b.Run("decode+apply+encode", func(b *testing.B) {
		b.ReportAllocs()
		buf := enc(b, warm)
		i := 0
		for b.Loop() {
			s, err := Decode(buf)
			if err != nil {
				b.Fatal(err)
			}
			ch := chs[30+i%(len(chs)-30)]
			ch.Position = fmt.Sprintf("%016X", 100000+i)
			if _, err = m.ApplyInPlace(s, ch); err != nil {
				b.Fatal(err)
			}
			if buf, err = AppendEncode(buf[:0], s); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "merges/s")
		b.ReportMetric(float64(len(buf)), "state-bytes")
	})
}

package match_test

import (
	"fmt"
	"runtime"
	"testing"

	"syncline/transform/entities/match"
	"syncline/transform/entities/match/synth"
)

// BenchmarkAdd measures Index.Add (normalization, blocking, scoring and
// indexing of one record) with an index already holding the given number
// of records. The preload is outside the timer and done once per size (the
// testing package calls a benchmark several times with growing b.N; the
// index keeps growing across those calls, by at most the records added);
// the added records come from the same generator, so their blocks are as
// full as real ones.
func BenchmarkAdd(b *testing.B) {
	for _, size := range []int{10_000, 100_000, 1_000_000} {
		var (
			ix     *match.Index
			next   []match.Record
			pos    int
			heapMB float64
		)
		b.Run(fmt.Sprintf("indexed=%d", size), func(b *testing.B) {
			if ix == nil {
				const extra = 200_000
				ds := synth.Generate(99, size+extra)
				var err error
				if ix, err = match.NewIndex(match.DefaultConfig()); err != nil {
					b.Fatal(err)
				}
				for _, r := range ds.Records[:size] {
					if _, err := ix.Add(r); err != nil {
						b.Fatal(err)
					}
				}
				next = append([]match.Record(nil), ds.Records[size:]...)
				ds = synth.Dataset{}
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				heapMB = float64(ms.HeapAlloc) / (1 << 20) // the index and the 200k records still to add
				b.ResetTimer()
			}
			before := ix.Stats()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r := next[pos%len(next)]
				if pos >= len(next) {
					r.ID = fmt.Sprintf("%s#%d", r.ID, pos)
				}
				pos++
				if _, err := ix.Add(r); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			st := ix.Stats()
			b.ReportMetric(float64(st.Comparisons-before.Comparisons)/float64(b.N), "comparisons/add")
			b.ReportMetric(heapMB, "heap-MB")
		})
	}
}

// BenchmarkCompare measures scoring one pair, normalization included.
func BenchmarkCompare(b *testing.B) {
	cfg := match.DefaultConfig()
	x := match.Record{ID: "a", FirstName: "Robert", LastName: "Smith", Email: "bob.smith@acme.com", Phone: "(212) 555-0101", Company: "Acme, Inc.", City: "New York", PostalCode: "10001"}
	y := match.Record{ID: "b", FirstName: "Bob", LastName: "Smiht", Email: "BOB.SMITH@ACME.COM", Phone: "+1 212 555 0101", Company: "ACME Incorporated", City: "new york", PostalCode: "10001-1234"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := match.Compare(cfg, x, y); err != nil {
			b.Fatal(err)
		}
	}
}

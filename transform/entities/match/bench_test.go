package match_test

import (
	"fmt"
	"testing"

	"syncline/transform/entities/match"
	"syncline/transform/entities/match/synth"
)

// BenchmarkAdd measures Index.Add (normalization, blocking, scoring and
// indexing of one record) with an index already holding the given number
// of records. The preload is outside the timer; the added records come
// from the same generator, so their blocks are as full as real ones.
func BenchmarkAdd(b *testing.B) {
	for _, size := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("indexed=%d", size), func(b *testing.B) {
			const extra = 200_000
			ds := synth.Generate(99, size+extra)
			ix, err := match.NewIndex(match.DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range ds.Records[:size] {
				if _, err := ix.Add(r); err != nil {
					b.Fatal(err)
				}
			}
			next := ds.Records[size:]
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := next[i%len(next)]
				if i >= len(next) {
					r.ID = fmt.Sprintf("%s#%d", r.ID, i)
				}
				if _, err := ix.Add(r); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			st := ix.Stats()
			b.ReportMetric(float64(st.Comparisons)/float64(st.Records), "comparisons/add")
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

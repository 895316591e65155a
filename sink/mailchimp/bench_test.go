package mailchimp

import (
	"fmt"
	"testing"

	"syncline/internal/emulator/mailchimp"
)

// BenchmarkSinkAgainstRateLimit syncs n new members and then n updates
// through the sink against the emulator with Mailchimp's limit of 10
// simultaneous connections and the default pacing (50 calls/s, 4 at a
// time), one member per PUT and in batches of 500, and reports API calls
// per synced change and records/s.
//
//	go test -run '^$' -bench SinkAgainstRateLimit -benchtime 1x ./sink/mailchimp/
func BenchmarkSinkAgainstRateLimit(b *testing.B) {
	for _, tc := range []struct{ batch, n int }{{1, 500}, {MaxBatch, 5000}} {
		b.Run(fmt.Sprintf("batch_size=%d", tc.batch), func(b *testing.B) {
			for range b.N {
				e := newEnv(b, mailchimp.Options{MaxConnections: 10})
				cfg := e.config(tc.batch)
				cfg.RequestsPerSecond = DefaultRPS
				created, updated, _ := e.Timed(e.harness(cfg), tc.n)
				el := created + updated
				ws := e.Emu.WriteStats()
				if ws.Creates != tc.n || ws.Updates != tc.n {
					b.Fatalf("%d creates and %d updates, want %d each", ws.Creates, ws.Updates, tc.n)
				}
				b.ReportMetric(float64(ws.Calls)/float64(2*tc.n), "calls/change")
				b.ReportMetric(float64(2*tc.n)/el.Seconds(), "records/s")
				b.ReportMetric(float64(e.Emu.Stats().Limited), "429s")
			}
		})
	}
}

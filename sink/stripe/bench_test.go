package stripe

import (
	"testing"

	"syncline/internal/emulator/stripe"
)

// BenchmarkSinkAgainstRateLimit syncs 1,000 new records and then 1,000
// updates through the sink against the emulator limited to Stripe's
// live-mode 100 requests per second, with the default pacing (80/s, 4
// at a time), and reports API calls per synced change and records/s.
//
//	go test -run '^$' -bench SinkAgainstRateLimit -benchtime 1x ./sink/stripe/
func BenchmarkSinkAgainstRateLimit(b *testing.B) {
	const n = 1000
	for range b.N {
		e := newEnv(b, stripe.Options{RatePerSecond: 100})
		cfg := e.config()
		cfg.RequestsPerSecond, cfg.Burst = DefaultRPS, 5
		created, updated, calls := e.Timed(e.harness(cfg), n)
		ws := e.Emu.WriteStats()
		if ws.Creates != n || ws.Updates != 2*n {
			b.Fatalf("%d creates and %d updates, want %d and %d", ws.Creates, ws.Updates, n, 2*n)
		}
		b.ReportMetric(float64(calls)/float64(n), "calls/create")
		b.ReportMetric(float64(ws.Calls-calls)/float64(n), "calls/update")
		b.ReportMetric(float64(n)/created.Seconds(), "creates/s")
		b.ReportMetric(float64(n)/updated.Seconds(), "updates/s")
		b.ReportMetric(float64(e.Emu.Stats().Limited), "429s")
	}
}

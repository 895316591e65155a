package salesforce

import (
	"testing"
	"time"

	"syncline/internal/emulator/salesforce"
)

// BenchmarkSinkAgainstRateLimit syncs 4,000 new records and then 4,000
// updates through the sink against the emulator with an org's daily
// request limit (100,000 per 24 hours; Salesforce has no per-second
// limit) and the default pacing (10 calls/s, 200 records per call), and
// reports API calls per synced change and records/s.
//
//	go test -run '^$' -bench SinkAgainstRateLimit -benchtime 1x ./sink/salesforce/
func BenchmarkSinkAgainstRateLimit(b *testing.B) {
	const n = 4000
	for range b.N {
		e := newEnv(b, salesforce.Options{RequestLimit: 100000, LimitInterval: 24 * time.Hour})
		cfg := e.config()
		cfg.RequestsPerSecond, cfg.Burst = DefaultRPS, 1
		created, updated, _ := e.Timed(e.harness(cfg), n)
		el := created + updated
		ws := e.Emu.WriteStats()
		if ws.Creates != n || ws.Updates != n {
			b.Fatalf("%d creates and %d updates, want %d each", ws.Creates, ws.Updates, n)
		}
		b.ReportMetric(float64(ws.Calls)/float64(2*n), "calls/change")
		b.ReportMetric(float64(2*n)/el.Seconds(), "records/s")
		b.ReportMetric(float64(e.Emu.Stats().Limited), "limited")
	}
}

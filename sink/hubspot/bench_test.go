package hubspot

import (
	"fmt"
	"testing"
	"time"

	"syncline/internal/emulator/hubspot"
	"syncline/schemas"
)

// BenchmarkSinkAgainstRateLimit syncs 5,000 new records and then 5,000
// updates through the sink against the emulator with HubSpot's private app
// limit (100 requests per 10 s) and the sink's default pacing, and reports
// write calls per synced change and records/s.
//
//	go test -run '^$' -bench SinkAgainstRateLimit -benchtime 1x ./sink/hubspot/
func BenchmarkSinkAgainstRateLimit(b *testing.B) {
	const n = 5000
	for range b.N {
		e := newEnv(b, hubspot.Options{RateLimitMax: 100, RateLimitInterval: 10 * time.Second})
		cfg := e.config()
		cfg.RequestsPerSecond, cfg.Burst = DefaultRPS, 1
		var chs []*schemas.Change
		for i := range n {
			chs = append(chs, e.Change(schemas.OpCreate, int32(i), fmt.Sprintf("b%d@example.com", i), "x"))
		}
		for i := range n {
			chs = append(chs, e.Change(schemas.OpUpdate, int32(i), fmt.Sprintf("b%d@example.com", i), "y"))
		}
		start := time.Now()
		e.Produce(chs[:n]...)
		r := e.start(cfg, nil)
		e.caughtUp()
		e.Produce(chs[n:]...)
		e.caughtUp()
		el := time.Since(start)
		r.Stop()
		ws := e.emu.WriteStats()
		if ws.Creates != n || ws.Updates != n {
			b.Fatalf("%d creates and %d updates, want %d each", ws.Creates, ws.Updates, n)
		}
		calls := ws.Calls()
		b.ReportMetric(float64(calls)/float64(2*n), "calls/change")
		b.ReportMetric(float64(2*n)/el.Seconds(), "records/s")
		b.ReportMetric(float64(e.emu.Stats().RateLimited), "429s")
	}
}

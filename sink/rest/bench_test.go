package rest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"syncline/internal/emulator/rest"
	"syncline/schemas"
)

// BenchmarkSinkAgainstRateLimit syncs 2,000 new records and then 2,000
// updates through the sink against the emulator limited to 100 requests
// per second, one record per request and in batches of 100, and reports
// write calls per synced change and records/s.
//
//	go test -run '^$' -bench SinkAgainstRateLimit -benchtime 1x ./sink/rest/
func BenchmarkSinkAgainstRateLimit(b *testing.B) {
	const n = 2000
	for _, batch := range []bool{false, true} {
		b.Run(fmt.Sprintf("batch=%v", batch), func(b *testing.B) {
			for range b.N {
				e := newEnv(b, rest.Options{RateLimitMax: 100, RateLimitInterval: time.Second})
				cfg := e.config()
				cfg.RequestsPerSecond, cfg.Burst = 95, 5
				if batch {
					cfg.Upsert = Request{Method: http.MethodPost, Path: "/v1/customers/batch", BatchField: "items"}
					cfg.BatchSize = 100
				}
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
				b.ReportMetric(float64(ws.Calls)/float64(2*n), "calls/change")
				b.ReportMetric(float64(2*n)/el.Seconds(), "records/s")
				b.ReportMetric(float64(ws.RateLimited), "429s")
			}
		})
	}
}

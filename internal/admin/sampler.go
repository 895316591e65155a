package admin

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Point is the pipeline's throughput, lag, errors and latency over one
// sampling interval, derived from the process's own metrics (the same
// numbers Prometheus scrapes, so the console and Grafana agree).
type Point struct {
	Time    time.Time              `json:"time"`
	Sources map[string]SourcePoint `json:"sources"`
	Stages  map[string]StagePoint  `json:"stages"`
	Sinks   map[string]SinkPoint   `json:"sinks"`
	// DLQTotal is every record parked since the process started.
	DLQTotal float64 `json:"dlq_total"`
}

// SourcePoint is one source over an interval.
type SourcePoint struct {
	EventsPerSec float64 `json:"events_per_sec"`
	Events       float64 `json:"events_total"`
	LagBytes     float64 `json:"lag_bytes"`
}

// StagePoint is one consuming stage (the changes stage, a sink's consumer).
type StagePoint struct {
	LagRecords float64 `json:"lag_records"`
}

// SinkPoint is one sink over an interval. Latencies are seconds from
// source commit to sink acknowledgement, estimated from the histogram's
// buckets as Prometheus' histogram_quantile does; NaN-free: -1 when no
// change arrived in the interval.
type SinkPoint struct {
	WritesPerSec float64 `json:"writes_per_sec"`
	Writes       float64 `json:"writes_total"`
	ErrorsPerSec float64 `json:"errors_per_sec"`
	Errors       float64 `json:"errors_total"`
	// SuccessRate is ok row writes / all row writes over the interval,
	// and ErrorRate sink errors / all row writes (the alert rules'
	// definitions); 1 and 0 when nothing was written.
	SuccessRate float64 `json:"success_rate"`
	ErrorRate   float64 `json:"error_rate"`
	LatencyP50  float64 `json:"latency_p50_seconds"`
	LatencyP95  float64 `json:"latency_p95_seconds"`
	LatencyP99  float64 `json:"latency_p99_seconds"`
}

// sample is the raw counters at one instant.
type sample struct {
	t          time.Time
	srcEvents  map[string]float64
	srcLag     map[string]float64
	stageLag   map[string]float64
	sinkOK     map[string]float64
	sinkFail   map[string]float64 // writes with result != ok
	sinkErr    map[string]float64 // syncline_sink_errors_total
	sinkBucket map[string][]bucket
	dlq        float64
}

type bucket struct {
	le    float64
	count float64
}

// Sampler keeps a history of Points, taken every interval.
type Sampler struct {
	g        prometheus.Gatherer
	interval time.Duration
	keep     int

	mu      sync.Mutex
	prev    *sample // the one before last
	last    *sample
	history []Point
}

// NewSampler samples g every interval and keeps the last keep points.
func NewSampler(g prometheus.Gatherer, interval time.Duration, keep int) *Sampler {
	return &Sampler{g: g, interval: interval, keep: keep}
}

// Run samples until ctx ends.
func (s *Sampler) Run(ctx context.Context) {
	s.Sample()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sample()
		}
	}
}

// Sample takes one sample now and appends the point it completes.
func (s *Sampler) Sample() {
	cur := s.gather()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last != nil {
		s.history = append(s.history, derive(s.last, cur))
		if len(s.history) > s.keep {
			s.history = s.history[len(s.history)-s.keep:]
		}
	}
	s.prev, s.last = s.last, cur
}

// History returns the points, oldest first.
func (s *Sampler) History() []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Point(nil), s.history...)
}

// Current returns the point from the last sample to now (without keeping
// it), so a status asked for right after start or between samples is
// fresh; false before the first sample.
func (s *Sampler) Current() (Point, bool) {
	cur := s.gather()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return Point{}, false
	}
	if cur.t.Sub(s.last.t) < s.interval/4 && s.prev != nil {
		// Too short an interval for a steady rate: measure from the
		// sample before (the totals are as of now either way).
		return derive(s.prev, cur), true
	}
	return derive(s.last, cur), true
}

// Latest returns the newest point, or false before the second sample.
func (s *Sampler) Latest() (Point, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.history) == 0 {
		return Point{}, false
	}
	return s.history[len(s.history)-1], true
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func (s *Sampler) gather() *sample {
	cur := &sample{t: time.Now(), srcEvents: map[string]float64{}, srcLag: map[string]float64{}, stageLag: map[string]float64{},
		sinkOK: map[string]float64{}, sinkFail: map[string]float64{}, sinkErr: map[string]float64{}, sinkBucket: map[string][]bucket{}}
	mfs, _ := s.g.Gather() // a partial gather still has what it could collect
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "syncline_source_events_total":
				cur.srcEvents[label(m, "source")] += m.GetCounter().GetValue()
			case "syncline_source_lag_bytes":
				cur.srcLag[label(m, "source")] = m.GetGauge().GetValue()
			case "syncline_consumer_lag_records":
				cur.stageLag[label(m, "stage")] = m.GetGauge().GetValue()
			case "syncline_sink_writes_total":
				if label(m, "result") == "ok" {
					cur.sinkOK[label(m, "sink")] += m.GetCounter().GetValue()
				} else {
					cur.sinkFail[label(m, "sink")] += m.GetCounter().GetValue()
				}
			case "syncline_sink_errors_total":
				cur.sinkErr[label(m, "sink")] += m.GetCounter().GetValue()
			case "syncline_dlq_records_total":
				cur.dlq += m.GetCounter().GetValue()
			case "syncline_end_to_end_latency_seconds":
				var bs []bucket
				for _, b := range m.GetHistogram().GetBucket() {
					bs = append(bs, bucket{b.GetUpperBound(), float64(b.GetCumulativeCount())})
				}
				bs = append(bs, bucket{math.Inf(1), float64(m.GetHistogram().GetSampleCount())})
				cur.sinkBucket[label(m, "sink")] = bs
			}
		}
	}
	// Sinks that have not written yet still show.
	for name := range cur.sinkBucket {
		cur.sinkOK[name] += 0
	}
	for name := range cur.sinkErr {
		cur.sinkOK[name] += 0
	}
	return cur
}

func derive(prev, cur *sample) Point {
	secs := cur.t.Sub(prev.t).Seconds()
	if secs <= 0 {
		secs = 1
	}
	rate := func(now, before float64) float64 { return math.Max(0, now-before) / secs }
	p := Point{Time: cur.t.UTC(), Sources: map[string]SourcePoint{}, Stages: map[string]StagePoint{}, Sinks: map[string]SinkPoint{}, DLQTotal: cur.dlq}
	for src, v := range cur.srcEvents {
		p.Sources[src] = SourcePoint{EventsPerSec: rate(v, prev.srcEvents[src]), Events: v, LagBytes: cur.srcLag[src]}
	}
	for src, v := range cur.srcLag {
		if _, ok := p.Sources[src]; !ok {
			p.Sources[src] = SourcePoint{LagBytes: v}
		}
	}
	for st, v := range cur.stageLag {
		p.Stages[st] = StagePoint{LagRecords: v}
	}
	for sink, ok := range cur.sinkOK {
		okRate, failRate := rate(ok, prev.sinkOK[sink]), rate(cur.sinkFail[sink], prev.sinkFail[sink])
		errRate := rate(cur.sinkErr[sink], prev.sinkErr[sink])
		sp := SinkPoint{WritesPerSec: okRate, Writes: ok, ErrorsPerSec: errRate, Errors: cur.sinkErr[sink], SuccessRate: 1}
		if all := okRate + failRate; all > 0 {
			sp.SuccessRate, sp.ErrorRate = okRate/all, errRate/all
		} else if errRate > 0 {
			sp.SuccessRate, sp.ErrorRate = 0, 1
		}
		d := deltaBuckets(prev.sinkBucket[sink], cur.sinkBucket[sink])
		sp.LatencyP50, sp.LatencyP95, sp.LatencyP99 = quantile(0.5, d), quantile(0.95, d), quantile(0.99, d)
		p.Sinks[sink] = sp
	}
	return p
}

func deltaBuckets(prev, cur []bucket) []bucket {
	out := make([]bucket, len(cur))
	for i, b := range cur {
		out[i] = b
		if i < len(prev) && prev[i].le == b.le {
			out[i].count -= prev[i].count
		}
	}
	return out
}

// quantile estimates the q-quantile from cumulative buckets by linear
// interpolation inside the bucket it falls in; -1 when empty.
func quantile(q float64, bs []bucket) float64 {
	if len(bs) == 0 || bs[len(bs)-1].count <= 0 {
		return -1
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	rank := q * bs[len(bs)-1].count
	lo, loCount := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return lo // past the last finite bound: report that bound
			}
			if b.count == loCount {
				return b.le
			}
			return lo + (b.le-lo)*(rank-loCount)/(b.count-loCount)
		}
		lo, loCount = b.le, b.count
	}
	return lo
}

package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"syncline/capture/postgres"
	"syncline/internal/metrics"
)

func TestSamplerDerivesRatesAndLatency(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	s := NewSampler(reg, time.Second, 3)
	m.SourceEvents.WithLabelValues("app", "public.t", "c").Add(10)
	m.SinkWrites.WithLabelValues("wh", "ok").Add(100)
	s.Sample()
	if _, ok := s.Latest(); ok {
		t.Fatal("a point after one sample; want none until the second")
	}
	m.SourceEvents.WithLabelValues("app", "public.t", "u").Add(50)
	m.SinkWrites.WithLabelValues("wh", "ok").Add(99)
	m.SinkWrites.WithLabelValues("wh", "error").Add(1)
	m.SinkErrors.WithLabelValues("wh", "permanent").Add(1)
	m.SourceLagBytes.WithLabelValues("app").Set(4096)
	m.ConsumerLag.WithLabelValues("changes").Set(12)
	for range 90 {
		m.EndToEndLatency.WithLabelValues("wh").Observe(0.02)
	}
	for range 10 {
		m.EndToEndLatency.WithLabelValues("wh").Observe(3)
	}
	if p, ok := s.Current(); !ok || p.Sources["app"].Events != 60 || p.Sinks["wh"].Errors != 1 {
		t.Errorf("Current between samples: %v %+v; want the counters as of now", ok, p)
	}
	s.Sample()
	p, ok := s.Latest()
	if !ok {
		t.Fatal("no point after two samples")
	}
	src := p.Sources["app"]
	if src.Events != 60 || src.EventsPerSec <= 0 || src.LagBytes != 4096 {
		t.Errorf("source point %+v: want 60 events, a positive rate, 4096 lag bytes", src)
	}
	if p.Stages["changes"].LagRecords != 12 {
		t.Errorf("stage lag %+v", p.Stages)
	}
	sk := p.Sinks["wh"]
	if sk.Writes != 199 || sk.Errors != 1 || math.Abs(sk.SuccessRate-0.99) > 1e-9 || math.Abs(sk.ErrorRate-0.01) > 1e-9 {
		t.Errorf("sink point %+v: want 199 writes, 1 error, success 0.99, error rate 0.01", sk)
	}
	if sk.LatencyP50 <= 0 || sk.LatencyP50 > 0.05 || sk.LatencyP99 < 2.5 || sk.LatencyP99 > 5 {
		t.Errorf("latency p50 %v p99 %v: want p50 within the 0.02 s bucket, p99 within the 3 s one", sk.LatencyP50, sk.LatencyP99)
	}
	// Right after a sample, Current still has the totals as of now.
	m.DLQRecords.WithLabelValues("sink.wh", "rejected").Inc()
	if p, _ := s.Current(); p.DLQTotal != 1 || p.Sources["app"].EventsPerSec <= 0 {
		t.Errorf("Current just after a sample: %+v; want the DLQ count as of now and the rate over the previous interval", p)
	}
	// An idle interval: rates fall to zero, no latency, success stays 1.
	s.Sample()
	p, _ = s.Latest()
	if sk := p.Sinks["wh"]; sk.WritesPerSec != 0 || sk.LatencyP95 != -1 || sk.SuccessRate != 1 {
		t.Errorf("idle sink point %+v", sk)
	}
	s.Sample()
	s.Sample()
	if n := len(s.History()); n != 3 {
		t.Errorf("history keeps %d points, want 3", n)
	}
}

func TestQuantile(t *testing.T) {
	bs := []bucket{{0.1, 50}, {1, 90}, {10, 100}, {math.Inf(1), 100}}
	for _, c := range []struct{ q, want float64 }{{0.5, 0.1}, {0.7, 0.55}, {0.95, 5.5}, {1, 10}} {
		if got := quantile(c.q, bs); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := quantile(0.5, []bucket{{1, 0}, {math.Inf(1), 0}}); got != -1 {
		t.Errorf("quantile of nothing = %v, want -1", got)
	}
}

func TestHandler(t *testing.T) {
	var sent []postgres.Signal
	h := Handler(Options{
		Token: "tok",
		Components: []Component{
			{Name: "source app", Ready: func() bool { return true }, Status: func() any {
				return postgres.SourceStatus{Source: "app", Backfills: []postgres.Backfill{{ID: "b1/public.t", Table: "public.t", State: "running"}}}
			}},
			{Name: "sink wh", Ready: func() bool { return false }, NotReadyDetail: func() string { return "table analytics.t stopped" }},
		},
		Registry: prometheus.NewRegistry(),
		Signal: func(_ context.Context, source string, sg postgres.Signal) (postgres.Signal, error) {
			if source != "app" {
				return sg, BadRequest(fmt.Errorf("no source %q", source))
			}
			if sg.Where == "boom" {
				return sg, errors.New("connect to the source: refused")
			}
			if sg.ID == "" {
				sg.ID = "new"
			}
			sent = append(sent, sg)
			return sg, nil
		},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	call := func(method, path, token, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if method == "POST" && !strings.Contains(path, "form") {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		name, method, path, token, body string
		code                            int
		has                             string
	}{
		{"no token", "GET", "/api/v1/status", "", "", 401, "bearer token"},
		{"wrong token", "GET", "/api/v1/status", "nope", "", 401, "bearer token"},
		{"status", "GET", "/api/v1/status", "tok", "", 200, `"not_ready":"table analytics.t stopped"`},
		{"backfills", "GET", "/api/v1/backfills", "tok", "", 200, `"source":"app","id":"b1/public.t"`},
		{"unknown endpoint", "GET", "/api/v1/nope", "tok", "", 404, "no endpoint GET /api/v1/nope"},
		{"start", "POST", "/api/v1/backfills", "tok", `{"source":"app","tables":["public.t"]}`, 202, `"id":"new"`},
		{"start without source", "POST", "/api/v1/backfills", "tok", `{"tables":["public.t"]}`, 400, "source"},
		{"start on an unknown source", "POST", "/api/v1/backfills", "tok", `{"source":"crm"}`, 400, `no source \"crm\"`},
		{"unknown field", "POST", "/api/v1/backfills", "tok", `{"source":"app","table":"x"}`, 400, "unknown field"},
		{"source database down", "POST", "/api/v1/backfills", "tok", `{"source":"app","where":"boom"}`, 502, "refused"},
		{"pause finds the source by id", "POST", "/api/v1/backfills/b1%2Fpublic.t/pause", "tok", "", 202, `"type":"pause"`},
		{"unknown action", "POST", "/api/v1/backfills/b1/explode", "tok", "", 404, "unknown backfill action"},
		{"steer an unknown backfill", "POST", "/api/v1/backfills/zzz/cancel", "tok", "", 404, "no backfill"},
		{"no DLQ here", "GET", "/api/v1/dlq", "tok", "", 501, "not available"},
		{"probes stay open", "GET", "/readyz", "", "", 503, "not ready: sink wh (table analytics.t stopped)"},
		{"metrics stay open", "GET", "/metrics", "", "", 200, ""},
		{"the console is static", "GET", "/console/", "", "", 200, "<title>syncline console</title>"},
	} {
		code, body := call(c.method, c.path, c.token, c.body)
		if code != c.code || !strings.Contains(body, c.has) {
			t.Errorf("%s: %s %s: %d %s; want %d containing %q", c.name, c.method, c.path, code, body, c.code, c.has)
		}
	}
	// A web page cannot post a form or text to the API.
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/backfills", strings.NewReader(`{"source":"app"}`))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "text/plain")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("POST as text/plain: %v %v, want 415", resp.StatusCode, err)
	}
	if len(sent) != 2 || sent[1].Type != "pause" || sent[1].ID != "b1/public.t" {
		t.Errorf("signals sent: %+v", sent)
	}
	resp, err := http.Get(srv.URL + "/console/app.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("console CSP %q", csp)
	}
}

// Without a token, a request addressed to a host name (a DNS-rebinding
// page) is refused; localhost and IP addresses are served.
func TestNoTokenServesOnlyDirectHosts(t *testing.T) {
	h := Handler(Options{Components: []Component{{Name: "x", Ready: func() bool { return true }}}})
	for host, want := range map[string]int{"127.0.0.1:8080": 200, "localhost:8080": 200, "[::1]:8080": 200, "10.0.0.5": 200, "evil.example.com:8080": 403, "syncline.svc": 403} {
		req := httptest.NewRequest("GET", "/api/v1/status", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %s: %d, want %d (%s)", host, rec.Code, want, rec.Body)
		}
	}
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Host = "evil.example.com"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code == 403 {
		t.Errorf("/metrics refused by host name; the host check is for /api only")
	}
}

package saas

import (
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/metrics"
	"syncline/schemas"
)

// Build opens the engine of a sink whose Writer needs the engine itself
// (its logger, CountCall): wire gets it before Build returns, so before
// any Write.
func Build(cfg EngineConfig, w Writer, wire func(*Engine), kafkaOpts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*Engine, error) {
	eng, err := NewEngine(cfg, w, kafkaOpts, serde, m, log)
	if err != nil {
		return nil, err
	}
	wire(eng)
	return eng, nil
}

// CountCall counts one API call of the sink in
// syncline_sink_api_calls_total{sink,endpoint,result}: result ok, or error
// when err is set. Safe for concurrent use.
func (e *Engine) CountCall(endpoint string, err error) {
	res := "ok"
	if err != nil {
		res = "error"
	}
	e.m.SinkAPICalls.WithLabelValues(e.cfg.Name, endpoint, res).Inc()
}

package pipeline

import (
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/config"
	"syncline/internal/metrics"
	"syncline/schemas"
	"syncline/sink/rest"
)

// restSink builds a sink of type rest.
func restSink(cfg *config.Config, s config.Sink, o Options, kopts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*rest.Sink, error) {
	return rest.New(RESTConfig(cfg, s, o), kopts, serde, m, log)
}

// RESTConfig is the sink/rest configuration of a sink of type rest
// (syncline diff reads the API with it).
func RESTConfig(cfg *config.Config, s config.Sink, o Options) rest.Config {
	r := s.REST
	a := r.Auth
	rc := rest.Config{
		Name: s.Name, BaseURL: r.BaseURL,
		Auth:    rest.Auth{Type: a.Type, Token: a.Token.Value(), Header: a.Header, Key: a.Key.Value(), Username: a.Username, Password: a.Password.Value()},
		IDField: r.IDField, Fields: fieldMapping(r.Fields),
		Upsert:            rest.Request{Method: r.Upsert.Method, Path: r.Upsert.Path, BatchField: r.Upsert.BatchField},
		Delete:            rest.Request{Method: r.Delete.Method, Path: r.Delete.Path, BatchField: r.Delete.BatchField},
		Read:              rest.Request{Method: r.Read.Method, Path: r.Read.Path},
		IdempotencyHeader: r.IdempotencyHeader, RequestsPerSecond: r.RequestsPerSecond, Timeout: r.Timeout,
		BatchSize: min(s.BatchSize, 100), Stream: saasStream(cfg, s, o),
	}
	for _, h := range r.Headers {
		rc.Headers = append(rc.Headers, rest.Header{Name: h.Name, Value: h.Value.Value()})
	}
	return rc
}

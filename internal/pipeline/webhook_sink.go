package pipeline

import (
	"log/slog"
	"syncline/transform/entities"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/config"
	"syncline/internal/dlq"
	"syncline/internal/metrics"
	"syncline/internal/topics"
	"syncline/schemas"
	"syncline/sink/webhook"
)

// webhookSink builds a sink of type webhook.
func webhookSink(cfg *config.Config, s config.Sink, o Options, kopts []kgo.Opt, serde *schemas.Serde, d *dlq.DLQ, m *metrics.Metrics, log *slog.Logger) (*webhook.Sink, error) {
	w := s.Webhook
	wc := webhook.Config{
		Name: s.Name, URL: w.URL.Value(), Secret: w.Secret.Value(), Timeout: w.Timeout,
		MaxBatch: s.BatchSize, BatchTimeout: s.BatchTimeout,
		TopicPrefix: cfg.Kafka.TopicPrefix, RF: int16(cfg.Kafka.ReplicationFactor), InstanceID: o.InstanceID,
	}
	for _, h := range w.Headers {
		wc.Headers = append(wc.Headers, webhook.Header{Name: h.Name, Value: h.Value.Value()})
	}
	for _, st := range cfg.SinkTables(s) {
		wc.Topics = append(wc.Topics, topics.Change(cfg.Kafka.TopicPrefix, st.Source, st.Table.Schema, st.Table.Name))
	}
	for _, name := range cfg.SinkEntities(s) {
		wc.Topics = append(wc.Topics, entities.Topic(cfg.Kafka.TopicPrefix, name))
	}
	return webhook.New(wc, kopts, serde, d, m, log)
}

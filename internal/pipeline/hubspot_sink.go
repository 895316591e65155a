package pipeline

import (
	"log/slog"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/config"
	"syncline/internal/metrics"
	"syncline/internal/topics"
	"syncline/schemas"
	"syncline/sink/hubspot"
	sinksaas "syncline/sink/saas"
	"syncline/transform/quality"
)

// hubspotSink builds a sink of type hubspot.
func hubspotSink(cfg *config.Config, s config.Sink, o Options, kopts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*hubspot.Sink, error) {
	h := s.HubSpot
	hc := hubspot.Config{
		Name: s.Name, BaseURL: h.BaseURL, Token: h.Token.Value(), ObjectType: h.ObjectType, IDProperty: h.IDProperty,
		Properties: map[string]hubspot.Property{}, BatchSize: min(s.BatchSize, 100), BatchTimeout: s.BatchTimeout,
		DeleteMode: h.DeleteMode, RequestsPerSecond: float64(h.RequestsPerSecond),
		TopicPrefix: cfg.Kafka.TopicPrefix, Partitions: int32(cfg.Kafka.Partitions), RF: int16(cfg.Kafka.ReplicationFactor),
		InstanceID: o.InstanceID, StateDir: filepath.Join(cfg.DataDir, "state", "sink."+s.Name, o.InstanceID),
		StateKey: cfg.Transform.State.Key(), TxnTimeout: cfg.Kafka.TransactionTimeout,
		Retry: retryPolicy(s.Retry),
	}
	for _, p := range h.Properties {
		hc.Properties[p.Name] = hubspot.Property{From: p.From, Transform: quality.Normalizer(p.Transform), Region: p.Region, Value: p.Value, Required: p.Required}
	}
	for _, st := range cfg.SinkTables(s) {
		hc.Topics = append(hc.Topics, topics.Change(cfg.Kafka.TopicPrefix, st.Source, st.Table.Schema, st.Table.Name))
	}
	return hubspot.New(hc, kopts, serde, m, log)
}

// retryPolicy is the retry queue of a SaaS sink (zero values: the
// defaults of sink/saas).
func retryPolicy(r config.SinkRetry) sinksaas.RetryPolicy {
	return sinksaas.RetryPolicy{MaxAttempts: r.MaxAttempts, InitialBackoff: r.InitialBackoff, MaxBackoff: r.MaxBackoff}
}

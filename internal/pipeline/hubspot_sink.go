package pipeline

import (
	"log/slog"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/config"
	"syncline/internal/metrics"
	"syncline/internal/reconcile"
	"syncline/internal/topics"
	"syncline/schemas"
	"syncline/sink/hubspot"
	sinksaas "syncline/sink/saas"
	"syncline/transform/entities"
	"syncline/transform/quality"
)

// hubspotSink builds a sink of type hubspot.
func hubspotSink(cfg *config.Config, s config.Sink, o Options, kopts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*hubspot.Sink, error) {
	return hubspot.New(HubSpotConfig(cfg, s, o), kopts, serde, m, log)
}

// HubSpotConfig is the sink/hubspot configuration of a sink of type
// hubspot (syncline diff reads HubSpot with it).
func HubSpotConfig(cfg *config.Config, s config.Sink, o Options) hubspot.Config {
	h := s.HubSpot
	hc := hubspot.Config{
		Name: s.Name, BaseURL: h.BaseURL, Token: h.Token.Value(), ObjectType: h.ObjectType, IDProperty: h.IDProperty,
		BatchSize:  min(s.BatchSize, 100),
		DeleteMode: h.DeleteMode, RequestsPerSecond: float64(h.RequestsPerSecond), Stream: saasStream(cfg, s, o),
	}
	hc.Properties = fieldMapping(h.Properties)
	return hc
}

// saasStream is what a SaaS sink (hubspot, rest) consumes and where it
// keeps its state; zero retry values take sink/saas's defaults.
func saasStream(cfg *config.Config, s config.Sink, o Options) sinksaas.Stream {
	st := sinksaas.Stream{
		BatchTimeout: s.BatchTimeout,
		Retry:        sinksaas.RetryPolicy{MaxAttempts: s.Retry.MaxAttempts, InitialBackoff: s.Retry.InitialBackoff, MaxBackoff: s.Retry.MaxBackoff},
		TopicPrefix:  cfg.Kafka.TopicPrefix, Partitions: int32(cfg.Kafka.Partitions), RF: int16(cfg.Kafka.ReplicationFactor),
		InstanceID: o.InstanceID, StateDir: filepath.Join(cfg.DataDir, "state", "sink."+s.Name, o.InstanceID),
		StateKey: cfg.Transform.State.Key(), TxnTimeout: cfg.Kafka.TransactionTimeout,
		// Repairs of syncline diff --repair (hubspot sinks).
		RepairTopic: reconcile.RepairTopic(cfg.Kafka.TopicPrefix, s.Name),
		System:      s.System,
	}
	for _, t := range cfg.SinkTables(s) {
		st.Topics = append(st.Topics, topics.Change(cfg.Kafka.TopicPrefix, t.Source, t.Table.Schema, t.Table.Name))
	}
	for _, name := range cfg.SinkEntities(s) {
		st.Topics = append(st.Topics, entities.Topic(cfg.Kafka.TopicPrefix, name))
	}
	return st
}

// fieldMapping is the sink/saas mapping of configured properties.
func fieldMapping(ps []config.HubSpotSinkProperty) map[string]sinksaas.Property {
	out := make(map[string]sinksaas.Property, len(ps))
	for _, p := range ps {
		out[p.Name] = sinksaas.Property{From: p.From, Transform: quality.Normalizer(p.Transform), Region: p.Region, Value: p.Value, Required: p.Required}
	}
	return out
}

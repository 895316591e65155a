package pipeline

import (
	"time"

	"syncline/capture/saas"
	"syncline/internal/config"
)

// hubspotConfig is the capture configuration of a source of type hubspot.
func hubspotConfig(cfg *config.Config, s config.Source) saas.Config {
	h := s.HubSpot
	p := saas.HubSpot{
		Name: s.Name, BaseURL: h.BaseURL, Token: h.Token.Value(),
		PollInterval: h.PollInterval, Lookback: h.Lookback, Settle: h.Settle,
		RequestsPerSecond: float64(h.RequestsPerSecond),
	}
	for _, o := range h.Objects {
		ho := saas.HubSpotObject{Type: o.Type, Types: map[string]string{}}
		for i := range o.Properties {
			name, typ := o.Property(i)
			ho.Properties = append(ho.Properties, name)
			ho.Types[name] = typ
		}
		p.Objects = append(p.Objects, ho)
	}
	c := p.Config()
	c.TopicPrefix, c.Partitions, c.RF = cfg.Kafka.TopicPrefix, int32(cfg.Kafka.Partitions), int16(cfg.Kafka.ReplicationFactor)
	c.TxnTimeout = cfg.Kafka.TransactionTimeout
	if c.TxnTimeout <= 0 {
		c.TxnTimeout = 60 * time.Second
	}
	return c
}

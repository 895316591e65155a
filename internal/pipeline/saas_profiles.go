package pipeline

import (
	"time"

	"syncline/capture/saas"
	"syncline/internal/config"
)

// saasProfileConfig is the capture configuration of a source of type
// hubspot, salesforce, stripe, zendesk or mailchimp; ok is false for
// other types.
func saasProfileConfig(cfg *config.Config, s config.Source) (c saas.Config, ok bool) {
	switch s.Type {
	case config.SourceHubSpot:
		c = hubspotConfig(cfg, s)
	case config.SourceSalesforce:
		c = salesforceConfig(s)
	default:
		return saas.Config{}, false
	}
	c.TopicPrefix, c.Partitions, c.RF = cfg.Kafka.TopicPrefix, int32(cfg.Kafka.Partitions), int16(cfg.Kafka.ReplicationFactor)
	c.TxnTimeout = cfg.Kafka.TransactionTimeout
	if c.TxnTimeout <= 0 {
		c.TxnTimeout = 60 * time.Second
	}
	return c, true
}

// polling is a block's polling keys as a profile's settings.
func polling(p config.SaaSPolling) saas.Polling {
	return saas.Polling{PollInterval: p.PollInterval, Lookback: p.Lookback, Settle: p.Settle, RequestsPerSecond: p.RequestsPerSecond}
}

// profileObject is a block's object with its properties and their types.
func profileObject(typ string, props []string) saas.ProfileObject {
	o := saas.ProfileObject{Type: typ, Types: map[string]string{}}
	for _, p := range props {
		so := config.SaaSObject{Properties: []string{p}}
		path, t := so.Property(0)
		o.Properties = append(o.Properties, path)
		o.Types[path] = t
	}
	return o
}

func profileObjects(objs []config.SaaSObject) []saas.ProfileObject {
	var out []saas.ProfileObject
	for _, o := range objs {
		out = append(out, profileObject(o.Type, o.Properties))
	}
	return out
}

func salesforceConfig(s config.Source) saas.Config {
	b := s.Salesforce
	return saas.Salesforce{
		Name: s.Name, InstanceURL: b.InstanceURL, APIVersion: b.APIVersion, Token: b.Token.Value(),
		Objects: profileObjects(b.Objects), Polling: polling(b.SaaSPolling),
	}.Config()
}

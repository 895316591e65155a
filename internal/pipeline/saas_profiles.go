package pipeline

import (
	"strings"
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
	case config.SourceStripe:
		c = stripeConfig(s)
	case config.SourceZendesk:
		c = zendeskConfig(s)
	case config.SourceMailchimp:
		c = mailchimpConfig(s)
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
		path, t, _ := strings.Cut(p, ":")
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
		Objects: profileObjects(b.Objects), ReconcileInterval: b.ReconcileInterval, Polling: polling(b.SaaSPolling),
	}.Config()
}

func stripeConfig(s config.Source) saas.Config {
	b := s.Stripe
	return saas.Stripe{Name: s.Name, BaseURL: b.BaseURL, APIKey: b.APIKey.Value(), Objects: profileObjects(b.Objects), Polling: polling(b.SaaSPolling)}.Config()
}

func zendeskConfig(s config.Source) saas.Config {
	b := s.Zendesk
	return saas.Zendesk{
		Name: s.Name, Subdomain: b.Subdomain, BaseURL: b.BaseURL, Email: b.Email, APIToken: b.APIToken.Value(),
		Objects: profileObjects(b.Objects), Polling: polling(b.SaaSPolling),
	}.Config()
}

func mailchimpConfig(s config.Source) saas.Config {
	b := s.Mailchimp
	p := saas.Mailchimp{Name: s.Name, APIKey: b.APIKey.Value(), BaseURL: b.BaseURL, ReconcileInterval: b.ReconcileInterval, Polling: polling(b.SaaSPolling)}
	for _, l := range b.Lists {
		o := profileObject(l.Name, l.Properties)
		p.Lists = append(p.Lists, saas.MailchimpList{ID: l.ID, Name: l.Name, Properties: o.Properties, Types: o.Types})
	}
	return p.Config()
}

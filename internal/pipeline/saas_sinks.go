package pipeline

import (
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/config"
	"syncline/internal/metrics"
	"syncline/schemas"
	"syncline/sink/mailchimp"
	"syncline/sink/salesforce"
	"syncline/sink/stripe"
)

// saasSink builds a sink of type stripe, salesforce or mailchimp; ok is
// false for other types.
func saasSink(cfg *config.Config, s config.Sink, o Options, kopts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (component, bool, error) {
	switch s.Type {
	case config.SinkStripe:
		sk, err := stripe.New(StripeConfig(cfg, s, o), kopts, serde, m, log)
		return built(sk, err)
	case config.SinkSalesforce:
		sk, err := salesforce.New(SalesforceConfig(cfg, s, o), kopts, serde, m, log)
		return built(sk, err)
	case config.SinkMailchimp:
		sk, err := mailchimp.New(MailchimpConfig(cfg, s, o), kopts, serde, m, log)
		return built(sk, err)
	}
	return nil, false, nil
}

// StripeConfig is the sink/stripe configuration of a sink of type stripe
// (syncline diff reads Stripe with it).
func StripeConfig(cfg *config.Config, s config.Sink, o Options) stripe.Config {
	st := s.Stripe
	return stripe.Config{
		Name: s.Name, BaseURL: st.BaseURL, APIKey: st.APIKey.Value(), KeyField: st.KeyField, Fields: fieldMapping(st.Fields),
		DeleteMode: st.DeleteMode, RequestsPerSecond: st.RequestsPerSecond, MaxConcurrent: st.MaxConcurrent,
		Stream: saasStream(cfg, s, o),
	}
}

// SalesforceConfig is the sink/salesforce configuration of a sink of type
// salesforce (syncline diff reads Salesforce with it).
func SalesforceConfig(cfg *config.Config, s config.Sink, o Options) salesforce.Config {
	sf := s.Salesforce
	return salesforce.Config{
		Name: s.Name, InstanceURL: sf.InstanceURL, AccessToken: sf.AccessToken.Value(), APIVersion: sf.APIVersion,
		SObject: sf.SObject, ExternalIDField: sf.ExternalIDField, Fields: fieldMapping(sf.Fields),
		BatchSize: min(s.BatchSize, salesforce.MaxBatch), DeleteMode: sf.DeleteMode, RequestsPerSecond: sf.RequestsPerSecond,
		Stream: saasStream(cfg, s, o),
	}
}

// MailchimpConfig is the sink/mailchimp configuration of a sink of type
// mailchimp (syncline diff reads Mailchimp with it).
func MailchimpConfig(cfg *config.Config, s config.Sink, o Options) mailchimp.Config {
	mc := s.Mailchimp
	return mailchimp.Config{
		Name: s.Name, APIKey: mc.APIKey.Value(), BaseURL: mc.BaseURL, ListID: mc.ListID, EmailField: mc.EmailField,
		StatusIfNew: mc.StatusIfNew, Fields: fieldMapping(mc.Fields), BatchSize: min(s.BatchSize, mailchimp.MaxBatch),
		DeleteMode: mc.DeleteMode, RequestsPerSecond: mc.RequestsPerSecond, MaxConcurrent: mc.MaxConcurrent,
		Stream: saasStream(cfg, s, o),
	}
}

// built returns a sink New built, as saasSink does (no typed nil on
// error).
func built[T component](sk T, err error) (component, bool, error) {
	if err != nil {
		return nil, true, err
	}
	return sk, true, nil
}

package main

import (
	"fmt"
	"log/slog"
	"time"

	"syncline/internal/config"
	"syncline/internal/pipeline"
	"syncline/internal/reconcile"
	"syncline/sink/hubspot"
	"syncline/sink/mailchimp"
	"syncline/sink/rest"
	sinksaas "syncline/sink/saas"
	"syncline/sink/salesforce"
	"syncline/sink/stripe"
)

// saasSinkTypes are the sink types diff compares through their ledger
// and their provider's read API.
var saasSinkTypes = []config.SinkType{config.SinkHubSpot, config.SinkStripe, config.SinkSalesforce, config.SinkMailchimp}

// saasDiff is the comparison of a SaaS sink with its provider: the
// sink's reader and how the report names things.
func saasDiff(cfg *config.Config, sink config.Sink, settle time.Duration, log *slog.Logger) (*reconcile.SaaSDiff, error) {
	kopts, _, err := pipeline.OperatorClients(cfg)
	if err != nil {
		return nil, err
	}
	d := &reconcile.SaaSDiff{Sink: sink.Name, TopicPrefix: cfg.Kafka.TopicPrefix, Kafka: kopts, Settle: settle, Log: log}
	var rd sinksaas.Reader
	switch sink.Type {
	case config.SinkHubSpot:
		c := pipeline.HubSpotConfig(cfg, sink, pipeline.Options{})
		d.Object, d.Provider, d.KeyField, d.IgnoreDeletes = "hubspot "+c.ObjectType, "HubSpot", c.IDProperty, c.DeleteMode == hubspot.DeleteIgnore
		rd, err = hubspot.NewReader(c, nil, log)
	case config.SinkStripe:
		c := pipeline.StripeConfig(cfg, sink, pipeline.Options{})
		d.Object, d.Provider, d.KeyField, d.IgnoreDeletes = "stripe customers", "Stripe", c.KeyField, c.DeleteMode == stripe.DeleteIgnore
		rd, err = stripe.NewReader(c, log)
	case config.SinkSalesforce:
		c := pipeline.SalesforceConfig(cfg, sink, pipeline.Options{})
		d.Object, d.Provider, d.KeyField, d.IgnoreDeletes = "salesforce "+c.SObject, "Salesforce", c.ExternalIDField, c.DeleteMode == salesforce.DeleteIgnore
		rd, err = salesforce.NewReader(c, log)
	case config.SinkMailchimp:
		c := pipeline.MailchimpConfig(cfg, sink, pipeline.Options{})
		d.Object, d.Provider, d.KeyField, d.IgnoreDeletes = "mailchimp list "+c.ListID+" members", "Mailchimp", c.EmailField, c.DeleteMode == mailchimp.DeleteIgnore
		if d.KeyField == "" {
			d.KeyField = mailchimp.DefaultEmailField
		}
		rd, err = mailchimp.NewReader(c, log)
	case config.SinkREST:
		c := pipeline.RESTConfig(cfg, sink, pipeline.Options{})
		d.Object, d.Provider, d.KeyField, d.IgnoreDeletes = "rest "+c.BaseURL, "the API", c.IDField, c.Delete.Path == ""
		rd, err = rest.NewReader(c, log)
	default:
		return nil, fmt.Errorf("sink %s: type %s is not a SaaS sink diff compares", sink.Name, sink.Type)
	}
	if err != nil {
		return nil, err
	}
	d.Reader = rd
	return d, nil
}

package hubspot

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	sinksaas "syncline/sink/saas"
)

// Property maps one HubSpot property: from a column (optionally through a
// normalizer) or a constant value (the mapping of sink/saas).
type Property = sinksaas.Property

// Transforms lists the normalizers a property mapping may use.
var Transforms = sinksaas.Transforms

// Delete modes.
const (
	DeleteArchive = "archive"
	DeleteIgnore  = "ignore"
)

// Config configures one HubSpot sink.
type Config struct {
	// Name is the sink's name: metrics label, consumer group
	// syncline-sink-<Name>, ledger changelog <prefix>.state.sink.<Name>.
	Name string
	// BaseURL of the API; default https://api.hubapi.com.
	BaseURL string
	// Token is the private app access token. It is never logged.
	Token string
	// ObjectType is the CRM object type written (contacts, companies,
	// ...).
	ObjectType string
	// IDProperty is the unique property upserts match on (email for
	// contacts, or a custom unique property). It must be mapped.
	IDProperty string
	// Properties maps HubSpot property names to their source.
	Properties map[string]Property
	// BatchSize is the most inputs per API call, 1..100; default 100.
	BatchSize int
	// DeleteMode is archive (default) or ignore.
	DeleteMode string
	// RequestsPerSecond paces API calls; default 9 (HubSpot private
	// apps allow 100 per 10 s). Burst default 1. MaxConcurrent default 2.
	RequestsPerSecond float64
	Burst             int
	// RequestTimeout bounds one HTTP attempt; default 60s.
	RequestTimeout time.Duration
	// MaxAttempts per API call before the batch is retried from the
	// committed offsets; default 8. InitialBackoff 500ms, MaxBackoff 30s.
	MaxAttempts                int
	InitialBackoff, MaxBackoff time.Duration
	// Stream: the topics, the batch timeout (default 500ms), the retry
	// queue and the Kafka and state settings (sink/saas).
	sinksaas.Stream
}

// Defaults.
const (
	DefaultBaseURL   = "https://api.hubapi.com"
	DefaultBatchSize = 100
	DefaultRPS       = 9
)

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, fmt.Errorf("hubspot sink: name is empty")
	}
	errf := func(f string, a ...any) error {
		return fmt.Errorf("hubspot sink %q: "+f, append([]any{c.Name}, a...)...)
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, errf("base_url %q is not an http:// or https:// URL", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Token == "" {
		return c, errf("token is empty")
	}
	if c.ObjectType == "" {
		return c, errf("object_type is empty")
	}
	if c.IDProperty == "" {
		return c, errf("id_property is empty")
	}
	if _, ok := c.Properties[c.IDProperty]; !ok {
		return c, errf("id_property %q is not in properties; map it, for example %s: {from: %s}", c.IDProperty, c.IDProperty, c.IDProperty)
	}
	if err := sinksaas.ValidateMapping(fmt.Sprintf("hubspot sink %q: properties", c.Name), c.Properties, "", ""); err != nil {
		return c, err
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchSize > 100 {
		return c, errf("batch_size %d: HubSpot batch endpoints take at most 100 inputs", c.BatchSize)
	}
	switch c.DeleteMode {
	case "":
		c.DeleteMode = DeleteArchive
	case DeleteArchive, DeleteIgnore:
	default:
		return c, errf("delete_mode %q: use archive or ignore", c.DeleteMode)
	}
	if c.RequestsPerSecond <= 0 {
		c.RequestsPerSecond = DefaultRPS
	}
	return c, nil
}

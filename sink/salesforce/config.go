package salesforce

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	sinksaas "syncline/sink/saas"
)

// Delete modes.
const (
	DeleteDelete = "delete"
	DeleteIgnore = "ignore"
)

// Defaults.
const (
	DefaultAPIVersion = "60.0"
	// MaxBatch is the most records of one sObject collections call.
	MaxBatch = 200
	// DefaultRPS: Salesforce limits requests per rolling 24 hours (from
	// 100,000 per org), not per second; 10/s of 200 records each stays
	// far inside it.
	DefaultRPS = 10
)

var (
	apiVersionRE = regexp.MustCompile(`^[0-9]{2}\.[0-9]$`)
	apiNameRE    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
)

// Config configures one Salesforce sink.
type Config struct {
	// Name is the sink's name: metrics label, consumer group
	// syncline-sink-<Name>, ledger changelog _<prefix>.state.sink.<Name>.
	Name string
	// InstanceURL is the org's API root
	// (https://<domain>.my.salesforce.com). Required.
	InstanceURL string
	// AccessToken is an OAuth access token. It is never logged.
	AccessToken string
	// APIVersion default 60.0.
	APIVersion string
	// SObject is the object type written (Contact, Account, a custom
	// Thing__c). Required.
	SObject string
	// ExternalIDField is the external id field upserts match on; it must
	// be mapped.
	ExternalIDField string
	// Fields maps sObject fields to their source (sink/saas mapping).
	Fields map[string]sinksaas.Property
	// BatchSize is the most records per call, 1..200; default 200.
	BatchSize int
	// DeleteMode is delete (default) or ignore.
	DeleteMode string
	// RequestsPerSecond paces calls; default 10. Burst default 1.
	RequestsPerSecond float64
	Burst             int
	// RequestTimeout bounds one attempt; default 60s. MaxAttempts per
	// call before the batch is retried from the committed offsets:
	// default 8; InitialBackoff 500ms, MaxBackoff 30s.
	RequestTimeout             time.Duration
	MaxAttempts                int
	InitialBackoff, MaxBackoff time.Duration
	// Stream: the topics, the batch timeout, the retry queue and the
	// Kafka and state settings (sink/saas).
	sinksaas.Stream
}

// CheckAPIName reports what is wrong with an sObject or field API name
// ("" when nothing).
func CheckAPIName(name string) string {
	if !apiNameRE.MatchString(name) {
		return fmt.Sprintf("%q is not a Salesforce API name (letters, digits and '_', starting with a letter)", name)
	}
	return ""
}

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, fmt.Errorf("salesforce sink: name is empty")
	}
	errf := func(f string, a ...any) error {
		return fmt.Errorf("salesforce sink %q: "+f, append([]any{c.Name}, a...)...)
	}
	if u, err := url.Parse(c.InstanceURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, errf("instance_url %q is not an http:// or https:// URL", c.InstanceURL)
	}
	c.InstanceURL = strings.TrimRight(c.InstanceURL, "/")
	if c.AccessToken == "" {
		return c, errf("access_token is empty")
	}
	if c.APIVersion == "" {
		c.APIVersion = DefaultAPIVersion
	}
	c.APIVersion = strings.TrimPrefix(c.APIVersion, "v")
	if !apiVersionRE.MatchString(c.APIVersion) {
		return c, errf("api_version %q: use a version such as %s", c.APIVersion, DefaultAPIVersion)
	}
	if msg := CheckAPIName(c.SObject); msg != "" {
		return c, errf("sobject: %s", msg)
	}
	if msg := CheckAPIName(c.ExternalIDField); msg != "" {
		return c, errf("external_id_field: %s", msg)
	}
	if err := sinksaas.ValidateMapping(fmt.Sprintf("salesforce sink %q: fields", c.Name), c.Fields, c.ExternalIDField, "external_id_field"); err != nil {
		return c, err
	}
	for _, f := range sinksaas.SortedNames(c.Fields) {
		if msg := CheckAPIName(f); msg != "" {
			return c, errf("fields: %s", msg)
		}
	}
	if c.BatchSize <= 0 {
		c.BatchSize = MaxBatch
	}
	if c.BatchSize > MaxBatch {
		return c, errf("batch_size %d: sObject collections take at most %d records", c.BatchSize, MaxBatch)
	}
	switch c.DeleteMode {
	case "":
		c.DeleteMode = DeleteDelete
	case DeleteDelete, DeleteIgnore:
	default:
		return c, errf("delete_mode %q: use delete or ignore", c.DeleteMode)
	}
	if c.RequestsPerSecond <= 0 {
		c.RequestsPerSecond = DefaultRPS
	}
	return c, nil
}

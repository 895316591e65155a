package mailchimp

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	sinksaas "syncline/sink/saas"
)

// Delete modes.
const (
	DeleteArchive = "archive"
	DeleteIgnore  = "ignore"
)

// Defaults and limits.
const (
	DefaultEmailField  = "email_address"
	DefaultStatusIfNew = "subscribed"
	// MaxBatch is the most members of one batch subscribe call.
	MaxBatch = 500
	// DefaultRPS and DefaultMaxConcurrent stay below Mailchimp's limit
	// of 10 simultaneous connections per user.
	DefaultRPS           = 50
	DefaultMaxConcurrent = 4
)

// Statuses are the values of status_if_new.
var Statuses = []string{"subscribed", "unsubscribed", "pending", "transactional"}

var mergeTagRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,9}$`)

// Config configures one Mailchimp sink.
type Config struct {
	// Name is the sink's name: metrics label, consumer group
	// syncline-sink-<Name>, ledger changelog _<prefix>.state.sink.<Name>.
	Name string
	// APIKey is the API key, <key>-<dc>. It is never logged.
	APIKey string
	// BaseURL default https://<dc>.api.mailchimp.com (the key's
	// data center).
	BaseURL string
	// ListID is the audience written. Required.
	ListID string
	// EmailField is the mapped field holding the email address (the
	// member's key); default email_address. Every other field is a
	// merge tag (FNAME, LNAME, ...).
	EmailField string
	// StatusIfNew is the status of a member the sink adds: subscribed
	// (default), unsubscribed, pending or transactional.
	StatusIfNew string
	// Fields maps the email field and merge tags to their source.
	Fields map[string]sinksaas.Property
	// BatchSize: 1 (default) writes one member per PUT; up to 500
	// members per batch subscribe call.
	BatchSize int
	// DeleteMode is archive (default) or ignore.
	DeleteMode string
	// RequestsPerSecond paces calls; default 50. MaxConcurrent default 4.
	RequestsPerSecond float64
	MaxConcurrent     int
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

// CheckMergeTag reports what is wrong with a merge tag ("" when nothing).
func CheckMergeTag(tag string) string {
	if !mergeTagRE.MatchString(tag) {
		return fmt.Sprintf("%q is not a merge tag (up to 10 upper-case letters, digits and '_', starting with a letter)", tag)
	}
	return ""
}

// DataCenter is the data center of an API key ("" when it has none).
func DataCenter(key string) string {
	i := strings.LastIndexByte(key, '-')
	if i < 0 || i == len(key)-1 {
		return ""
	}
	return key[i+1:]
}

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, fmt.Errorf("mailchimp sink: name is empty")
	}
	errf := func(f string, a ...any) error {
		return fmt.Errorf("mailchimp sink %q: "+f, append([]any{c.Name}, a...)...)
	}
	if c.APIKey == "" {
		return c, errf("api_key is empty")
	}
	if c.BaseURL == "" {
		dc := DataCenter(c.APIKey)
		if dc == "" {
			return c, errf("api_key has no data center suffix (-us1, ...); set base_url")
		}
		c.BaseURL = "https://" + dc + ".api.mailchimp.com"
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, errf("base_url %q is not an http:// or https:// URL", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.ListID == "" {
		return c, errf("list_id is empty")
	}
	if c.EmailField == "" {
		c.EmailField = DefaultEmailField
	}
	if err := sinksaas.ValidateMapping(fmt.Sprintf("mailchimp sink %q: fields", c.Name), c.Fields, c.EmailField, "email_field"); err != nil {
		return c, err
	}
	for _, f := range sinksaas.SortedNames(c.Fields) {
		if msg := CheckMergeTag(f); f != c.EmailField && msg != "" {
			return c, errf("fields: %s", msg)
		}
	}
	if c.StatusIfNew == "" {
		c.StatusIfNew = DefaultStatusIfNew
	}
	if !slices.Contains(Statuses, c.StatusIfNew) {
		return c, errf("status_if_new %q: use %s", c.StatusIfNew, strings.Join(Statuses, ", "))
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1
	}
	if c.BatchSize > MaxBatch {
		return c, errf("batch_size %d: batch subscribe takes at most %d members", c.BatchSize, MaxBatch)
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
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	return c, nil
}

package stripe

import (
	"fmt"
	"net/url"
	"slices"
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
	DefaultBaseURL = "https://api.stripe.com"
	// DefaultRPS stays below Stripe's live-mode limit of 100 requests
	// per second (test mode allows 25).
	DefaultRPS           = 80
	DefaultMaxConcurrent = 4
)

// StandardParams are the customer params a field is sent as; any other
// field name is sent as metadata[<name>], and address.<part> as
// address[<part>].
var StandardParams = []string{"email", "name", "phone", "description"}

// AddressParts are the parts of address.<part> fields.
var AddressParts = []string{"line1", "line2", "city", "state", "postal_code", "country"}

// Config configures one Stripe customers sink.
type Config struct {
	// Name is the sink's name: metrics label, consumer group
	// syncline-sink-<Name>, ledger changelog _<prefix>.state.sink.<Name>.
	Name string
	// BaseURL of the API; default https://api.stripe.com.
	BaseURL string
	// APIKey is the secret (or restricted) key. It is never logged.
	APIKey string
	// KeyField is the mapped field that identifies a record (kept in the
	// customer's metadata unless it is a standard param). It must be
	// mapped.
	KeyField string
	// Fields maps customer params to their source (sink/saas mapping):
	// email, name, phone, description, address.<part>; metadata.<key>
	// or any other name goes to metadata.
	Fields map[string]sinksaas.Property
	// DeleteMode is delete (default: DELETE /v1/customers/{id}) or
	// ignore.
	DeleteMode string
	// RequestsPerSecond paces calls; default 80. Burst default 5.
	// MaxConcurrent calls at a time; default 4.
	RequestsPerSecond float64
	Burst             int
	MaxConcurrent     int
	// Timeout bounds one attempt; default 30s.
	Timeout time.Duration
	// MaxAttempts per call before the batch fails and is retried from
	// the committed offsets: default 8; InitialBackoff 500ms, MaxBackoff
	// 30s.
	MaxAttempts                int
	InitialBackoff, MaxBackoff time.Duration
	// Stream: the topics, the batch timeout, the retry queue and the
	// Kafka and state settings (sink/saas).
	sinksaas.Stream
}

// Param is the form param a field is sent as.
func Param(field string) string {
	if slices.Contains(StandardParams, field) {
		return field
	}
	if part, ok := strings.CutPrefix(field, "address."); ok {
		return "address[" + part + "]"
	}
	return "metadata[" + strings.TrimPrefix(field, "metadata.") + "]"
}

// CheckField reports what is wrong with a field name ("" when nothing).
func CheckField(field string) string {
	if part, ok := strings.CutPrefix(field, "address."); ok && !slices.Contains(AddressParts, part) {
		return fmt.Sprintf("address part %q: use one of %s", part, strings.Join(AddressParts, ", "))
	}
	key := strings.TrimPrefix(field, "metadata.")
	if !slices.Contains(StandardParams, field) && !strings.HasPrefix(field, "address.") {
		if key == "" || len(key) > 40 || strings.ContainsAny(key, "[]") {
			return fmt.Sprintf("metadata key %q: Stripe takes 1 to 40 characters without [ or ]", key)
		}
	}
	return ""
}

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, fmt.Errorf("stripe sink: name is empty")
	}
	errf := func(f string, a ...any) error {
		return fmt.Errorf("stripe sink %q: "+f, append([]any{c.Name}, a...)...)
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, errf("base_url %q is not an http:// or https:// URL", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.APIKey == "" {
		return c, errf("api_key is empty")
	}
	if c.KeyField == "" {
		return c, errf("key_field is empty")
	}
	if err := sinksaas.ValidateMapping(fmt.Sprintf("stripe sink %q: fields", c.Name), c.Fields, c.KeyField, "key_field"); err != nil {
		return c, err
	}
	md := 0
	for _, f := range sinksaas.SortedNames(c.Fields) {
		if msg := CheckField(f); msg != "" {
			return c, errf("fields: %s: %s", f, msg)
		}
		if strings.HasPrefix(Param(f), "metadata[") {
			md++
		}
	}
	if md > 50 {
		return c, errf("fields: %d metadata keys; Stripe takes at most 50", md)
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
	if c.Burst <= 0 {
		c.Burst = 5
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	return c, nil
}

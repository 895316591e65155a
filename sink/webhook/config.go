package webhook

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Header is one extra request header; its value may hold a credential
// and is never logged.
type Header struct {
	Name, Value string
}

// Config configures one webhook sink.
type Config struct {
	// Name is the sink's name: metrics label, consumer group
	// syncline-sink-<Name>, the "sink" field of every body.
	Name string
	// URL receives the POSTs (http:// or https://).
	URL string
	// Secret keys the HMAC-SHA256 signature. It is never logged.
	Secret string
	// Headers are sent with every request (an Authorization header, for
	// example). The headers the sink sets itself cannot be overridden.
	Headers []Header
	// Topics are the change topics to consume.
	Topics []string
	// MaxBatch is the most events per POST; default 500.
	MaxBatch int
	// BatchTimeout bounds how long a batch collects events after its
	// first one; default 500ms.
	BatchTimeout time.Duration
	// Timeout bounds one HTTP attempt; default 30s.
	Timeout time.Duration
	// InitialBackoff (default 500ms) doubles per failed attempt up to
	// MaxBackoff (default 30s); a longer Retry-After wins, up to
	// MaxRetryAfter (default 10m).
	InitialBackoff, MaxBackoff, MaxRetryAfter time.Duration

	// Kafka settings.
	TopicPrefix string
	RF          int16
	InstanceID  string
}

// Defaults.
const (
	DefaultMaxBatch     = 500
	DefaultBatchTimeout = 500 * time.Millisecond
	DefaultTimeout      = 30 * time.Second
)

// Reserved are the headers the sink sets on every request.
var Reserved = []string{"Content-Type", "X-Syncline-Signature", "X-Syncline-Timestamp", "Idempotency-Key"}

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, fmt.Errorf("webhook sink: name is empty")
	}
	errf := func(f string, a ...any) error {
		return fmt.Errorf("webhook sink %q: "+f, append([]any{c.Name}, a...)...)
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may carry credentials: say what is wrong, not what it is.
		return c, errf("url is not an http:// or https:// URL")
	}
	if c.Secret == "" {
		return c, errf("secret is empty")
	}
	for i, h := range c.Headers {
		if !validName(h.Name) {
			return c, errf("headers[%d].name %q is not a valid header name", i, h.Name)
		}
		if strings.ContainsAny(h.Value, "\r\n\x00") {
			return c, errf("headers[%d].value (of %s) contains characters not allowed in a header", i, h.Name)
		}
		for _, r := range Reserved {
			if strings.EqualFold(http.CanonicalHeaderKey(h.Name), r) {
				return c, errf("headers[%d].name %s is set by the sink itself", i, h.Name)
			}
		}
	}
	if len(c.Topics) == 0 {
		return c, errf("no topics")
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = DefaultBatchTimeout
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 10 * time.Minute
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = "syncline"
	}
	if c.InstanceID == "" {
		c.InstanceID = "0"
	}
	return c, nil
}

// validName reports whether n is an HTTP header name (an RFC 9110 token).
func validName(n string) bool {
	if n == "" {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

package rest

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	sinksaas "syncline/sink/saas"
)

// Auth is how requests authenticate.
type Auth struct {
	// Type is none (default), bearer, api_key or basic.
	Type string
	// Token (bearer); Header (default X-API-Key) and Key (api_key);
	// Username and Password (basic). Secrets are never logged.
	Token       string
	Header, Key string
	Username    string
	Password    string
}

// Request is the request template of one operation.
type Request struct {
	// Method default PUT (upsert), DELETE (delete).
	Method string
	// Path below BaseURL: {id} and {<field>} (upserts) are replaced by
	// the record's path-escaped values.
	Path string
	// BatchField, when set, sends up to BatchSize records per request as
	// {"<BatchField>": [...]} to Path (without placeholders).
	BatchField string
}

// Header is an extra request header.
type Header struct{ Name, Value string }

// Config configures one REST sink.
type Config struct {
	// Name is the sink's name: metrics label, consumer group
	// syncline-sink-<Name>, ledger changelog _<prefix>.state.sink.<Name>.
	Name string
	// BaseURL is the API root. Required.
	BaseURL string
	Auth    Auth
	// IDField is the mapped field that identifies a record ({id}).
	IDField string
	// Fields maps body fields to their source (sink/saas mapping).
	Fields map[string]sinksaas.Property
	// Upsert is required; Delete without a Path ignores deletes. Read
	// (method GET, a Path with {id}, no BatchField) reads one record
	// back for syncline diff (Reader); without a Path the sink cannot be
	// compared.
	Upsert, Delete, Read Request
	// IdempotencyHeader default Idempotency-Key.
	IdempotencyHeader string
	Headers           []Header
	// BatchSize is the most records per batch request, 1..100; default
	// 1 without a BatchField, 100 with one.
	BatchSize int
	// RequestsPerSecond paces requests; default 10; Burst default 1.
	RequestsPerSecond float64
	Burst             int
	// Timeout bounds one attempt; default 30s.
	Timeout time.Duration
	// MaxAttempts per request before the batch fails and is retried
	// from the committed offsets: default 8; InitialBackoff 500ms,
	// MaxBackoff 30s (Retry-After wins when longer).
	MaxAttempts                int
	InitialBackoff, MaxBackoff time.Duration
	// Stream: the topics, the batch timeout (default 500ms), the retry
	// queue and the Kafka and state settings (sink/saas).
	sinksaas.Stream
}

var placeholderRE = regexp.MustCompile(`\{([^{}]*)\}`)

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, fmt.Errorf("rest sink: name is empty")
	}
	errf := func(f string, a ...any) error {
		return fmt.Errorf("rest sink %q: "+f, append([]any{c.Name}, a...)...)
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, errf("base_url %q is not an http:// or https:// URL", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	switch c.Auth.Type {
	case "", "none":
		c.Auth.Type = "none"
	case "bearer":
		if c.Auth.Token == "" {
			return c, errf("auth.token is empty")
		}
	case "api_key":
		if c.Auth.Key == "" {
			return c, errf("auth.key is empty")
		}
		if c.Auth.Header == "" {
			c.Auth.Header = "X-API-Key"
		}
	case "basic":
		if c.Auth.Username == "" || c.Auth.Password == "" {
			return c, errf("auth.username and auth.password are required for basic")
		}
	default:
		return c, errf("auth.type %q: use none, bearer, api_key or basic", c.Auth.Type)
	}
	if c.IDField == "" {
		return c, errf("id_field is empty")
	}
	if err := sinksaas.ValidateMapping(fmt.Sprintf("rest sink %q: fields", c.Name), c.Fields, c.IDField, "id_field"); err != nil {
		return c, err
	}
	if c.Upsert.Path == "" {
		return c, errf("upsert.path is empty")
	}
	if c.Upsert.Method == "" {
		c.Upsert.Method = http.MethodPut
	}
	if c.Delete.Path != "" && c.Delete.Method == "" {
		c.Delete.Method = http.MethodDelete
	}
	c.Upsert.Method, c.Delete.Method = strings.ToUpper(c.Upsert.Method), strings.ToUpper(c.Delete.Method)
	if c.Read.Path != "" {
		if c.Read.Method == "" {
			c.Read.Method = http.MethodGet
		}
		c.Read.Method = strings.ToUpper(c.Read.Method)
		if c.Read.Method != http.MethodGet || c.Read.BatchField != "" {
			return c, errf("read: a GET of one record (method GET, no batch_field)")
		}
		phs := placeholderRE.FindAllStringSubmatch(c.Read.Path, -1)
		if len(phs) == 0 {
			return c, errf("read.path %q has no {id}", c.Read.Path)
		}
		for _, m := range phs {
			if m[1] != "id" && m[1] != c.IDField {
				return c, errf("read.path: only {id} is known for a read")
			}
		}
	}
	for _, r := range []struct {
		what string
		req  Request
	}{{"upsert", c.Upsert}, {"delete", c.Delete}} {
		for _, m := range placeholderRE.FindAllStringSubmatch(r.req.Path, -1) {
			if _, ok := c.Fields[m[1]]; !ok && m[1] != "id" {
				return c, errf("%s.path: placeholder {%s} is not a mapped field", r.what, m[1])
			}
			if r.what == "delete" && m[1] != "id" && m[1] != c.IDField {
				return c, errf("delete.path: only {id} is known for a delete")
			}
			if r.req.BatchField != "" {
				return c, errf("%s.path: a batch request has no placeholders", r.what)
			}
		}
	}
	if c.IdempotencyHeader == "" {
		c.IdempotencyHeader = "Idempotency-Key"
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1
		if c.Upsert.BatchField != "" {
			c.BatchSize = 100
		}
	}
	if c.BatchSize > 100 {
		c.BatchSize = 100
	}
	if c.RequestsPerSecond <= 0 {
		c.RequestsPerSecond = 10
	}
	if c.Burst <= 0 {
		c.Burst = 1
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

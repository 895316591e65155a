package config

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// WebhookSink is the webhook block of a sink of type webhook.
type WebhookSink struct {
	// URL receives the POSTs (http:// or https://). Required. It may
	// carry a credential and is not logged.
	URL Secret `yaml:"url"`
	// Secret keys the HMAC-SHA256 signature header. Required.
	Secret Secret `yaml:"secret"`
	// Headers are sent with every request, for example an Authorization
	// header; values are never logged.
	Headers []WebhookHeader `yaml:"headers"`
	// Timeout bounds one attempt; default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// WebhookHeader is one extra request header.
type WebhookHeader struct {
	Name  string `yaml:"name"`
	Value Secret `yaml:"value"`
}

// IsSet reports whether the webhook block is present.
func (w WebhookSink) IsSet() bool {
	return w.URL.IsSet() || w.Secret.IsSet() || len(w.Headers) > 0 || w.Timeout != 0
}

// webhookReserved are the headers the webhook sink sets itself.
var webhookReserved = []string{"Content-Type", "X-Syncline-Signature", "X-Syncline-Timestamp", "Idempotency-Key"}

// webhookSink checks a sink of type webhook.
func (v *validator) webhookSink(p string, s Sink) {
	w := s.Webhook
	wp := p + ".webhook"
	if !w.IsSet() {
		v.errorf(wp, "required for a sink of type webhook, for example:\n  webhook:\n    url: https://example.com/hooks/syncline\n    secret: ${WEBHOOK_SECRET}")
		return
	}
	if s.DSN.IsSet() {
		v.errorf(p+".dsn", "not used by a sink of type webhook; remove it")
	}
	if s.Reconcile.Interval != 0 {
		v.errorf(p+".reconcile.interval", "scheduled reconciliation is not supported for a sink of type webhook")
	}
	if !w.URL.IsSet() {
		v.errorf(wp+".url", "required: the endpoint the batches are POSTed to, for example url: https://example.com/hooks/syncline")
	} else if u, err := url.Parse(w.URL.Value()); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.errorf(wp+".url", "not an http:// or https:// URL")
	}
	if !w.Secret.IsSet() {
		v.errorf(wp+".secret", "required: the key of the X-Syncline-Signature HMAC, for example secret: ${WEBHOOK_SECRET}")
	}
	for i, h := range w.Headers {
		hp := fmt.Sprintf("%s.headers[%d]", wp, i)
		switch {
		case h.Name == "" || strings.ContainsAny(h.Name, " \t\r\n:()<>@,;\\\"/[]?={}"):
			v.errorf(hp+".name", "%q is not a header name", h.Name)
		default:
			for _, r := range webhookReserved {
				if http.CanonicalHeaderKey(h.Name) == r {
					v.errorf(hp+".name", "%s is set by the sink itself", r)
				}
			}
		}
		if strings.ContainsAny(h.Value.Value(), "\r\n\x00") {
			v.errorf(hp+".value", "contains a line break or NUL")
		}
	}
	if w.Timeout < 0 {
		v.errorf(wp+".timeout", "must not be negative")
	}
}

package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"

	sinksaas "syncline/sink/saas"
)

// APIError is an error answer of Stripe: the status and the error object
// ({"error": {"type", "code", "message", "param"}}).
type APIError struct {
	Method, Path string
	Status       int
	Type, Code   string
	Message      string
	Param        string
	// ShouldRetry is Stripe-Should-Retry: "true", "false" or "".
	ShouldRetry string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.Path, e.Status, e.Type)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Param != "" {
		s += " (param " + e.Param + ")"
	}
	return s
}

// transient: worth another attempt of the same request. Stripe says so
// in Stripe-Should-Retry; without it, 429, 409 (a lock or a concurrent
// request with the same key) and 5xx are.
func (e *APIError) transient() bool {
	switch e.ShouldRetry {
	case "true":
		return true
	case "false":
		return false
	}
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusConflict || e.Status >= 500
}

// client makes Stripe calls: form-encoded bodies, the key as bearer token,
// an Idempotency-Key on every POST, a token bucket, and retries of
// transient answers and network errors with backoff. Safe for concurrent
// use.
type client struct {
	cfg Config
	hc  *http.Client
	lim *rate.Limiter
	log *slog.Logger
}

func newClient(cfg Config, log *slog.Logger) *client {
	return &client{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}, lim: rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), cfg.Burst), log: log}
}

// call sends one request (every attempt with the same idempotency key)
// and decodes the answer's object.
func (c *client) call(ctx context.Context, method, path string, form url.Values, idem string) (map[string]any, error) {
	pol := sinksaas.RetryPolicy{InitialBackoff: c.cfg.InitialBackoff, MaxBackoff: c.cfg.MaxBackoff}
	for attempt := 1; ; attempt++ {
		obj, err := c.once(ctx, method, path, form, idem)
		if err == nil {
			return obj, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ae *APIError
		if errors.As(err, &ae) && !ae.transient() {
			return nil, err
		}
		if attempt >= c.cfg.MaxAttempts {
			return nil, fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		d := pol.Backoff(attempt)
		c.log.Warn("Stripe call failed; retrying", "method", method, "path", path, "attempt", attempt, "backoff", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func (c *client) once(ctx context.Context, method, path string, form url.Values, idem string) (map[string]any, error) {
	if err := c.lim.Wait(ctx); err != nil {
		return nil, err
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	req.Header.Set("Accept", "application/json")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	var v struct {
		Error *struct {
			Type, Code, Message, Param string
		} `json:"error"`
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := &APIError{Method: method, Path: path, Status: resp.StatusCode, ShouldRetry: resp.Header.Get("Stripe-Should-Retry")}
		if json.Unmarshal(raw, &v) == nil && v.Error != nil {
			ae.Type, ae.Code, ae.Message, ae.Param = v.Error.Type, v.Error.Code, v.Error.Message, v.Error.Param
		} else {
			ae.Message = strings.TrimSpace(string(raw[:min(len(raw), 300)]))
		}
		return nil, ae
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		// A truncated or garbled answer: the request is sent again with
		// the same key, which Stripe answers from its idempotency store.
		return nil, fmt.Errorf("%s %s: answer is not JSON: %w", method, path, err)
	}
	return obj, nil
}

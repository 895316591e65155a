package rest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	sinksaas "syncline/sink/saas"
)

// StatusError is a non-2xx answer the client does not retry, or the last
// of the retried ones.
type StatusError struct {
	Method, Path string // the path below base_url
	Status       int
	Body         string // the first bytes of the body
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// client sends the sink's requests: authenticated, paced by a token
// bucket, 429, 5xx and network errors retried with backoff (Retry-After
// wins when longer). It is safe for concurrent use.
type client struct {
	cfg Config
	hc  *http.Client
	lim *rate.Limiter
	log *slog.Logger
}

func newClient(cfg Config, log *slog.Logger) *client {
	return &client{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}, lim: rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), cfg.Burst), log: log}
}

// do sends one request with the idempotency key idem and returns the
// status and body of its 2xx answer.
func (c *client) do(ctx context.Context, method, path string, body []byte, idem string) (int, []byte, error) {
	pol := sinksaas.RetryPolicy{InitialBackoff: c.cfg.InitialBackoff, MaxBackoff: c.cfg.MaxBackoff}
	for attempt := 1; ; attempt++ {
		status, resp, wait, err := c.once(ctx, method, path, body, idem)
		if err == nil {
			return status, resp, nil
		}
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		var se *StatusError
		if errors.As(err, &se) && se.Status != http.StatusTooManyRequests && se.Status < 500 {
			return 0, nil, err
		}
		if attempt >= c.cfg.MaxAttempts {
			return 0, nil, fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		d := max(pol.Backoff(attempt), wait)
		c.log.Warn("request failed; retrying", "method", method, "path", path, "attempt", attempt, "backoff", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, nil, ctx.Err()
		case <-t.C:
		}
	}
}

// once makes one attempt; wait is the answer's Retry-After.
func (c *client) once(ctx context.Context, method, path string, body []byte, idem string) (int, []byte, time.Duration, error) {
	if err := c.lim.Wait(ctx); err != nil {
		return 0, nil, 0, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, rd)
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range c.cfg.Headers {
		req.Header.Set(h.Name, h.Value)
	}
	switch a := c.cfg.Auth; a.Type {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+a.Token)
	case "api_key":
		req.Header.Set(a.Header, a.Key)
	case "basic":
		req.SetBasicAuth(a.Username, a.Password)
	}
	if idem != "" {
		req.Header.Set(c.cfg.IdempotencyHeader, idem)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, nil, 0, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b := raw
		if len(b) > 512 {
			b = b[:512]
		}
		return 0, nil, retryAfter(resp.Header.Get("Retry-After")), &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: string(bytes.TrimSpace(b))}
	}
	return resp.StatusCode, raw, 0, nil
}

// retryAfter parses Retry-After: seconds or an HTTP date; 0 when absent.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

package saas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"
)

// HTTPError is a response the client does not retry (a 4xx other than 429
// and a 401 an OAuth2 refresh did not cure), or the last of the retried
// ones.
type HTTPError struct {
	Method, URL string // URL without its query
	Status      int
	Body        string // the first bytes of the body
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.URL, e.Status, e.Body)
}

// maxBody bounds a response body read into memory.
const maxBody = 64 << 20

// client sends the adapter's requests: authenticated, paced by a token
// bucket and a concurrency cap, retried with backoff. It is safe for
// concurrent use.
type client struct {
	cfg *Config
	hc  *http.Client
	lim *rate.Limiter
	sem chan struct{}
	log *slog.Logger

	mu         sync.Mutex
	pauseUntil time.Time // the provider said its window is used up
	ts         oauth2.TokenSource
	cc         *clientcredentials.Config

	// retries counts retried attempts (for tests and logs).
	retries int
}

func newClient(cfg *Config, log *slog.Logger) *client {
	lim := rate.NewLimiter(rate.Inf, 1)
	if cfg.RateLimit.RequestsPerSecond > 0 {
		lim = rate.NewLimiter(rate.Limit(cfg.RateLimit.RequestsPerSecond), cfg.RateLimit.Burst)
	}
	c := &client{cfg: cfg, hc: &http.Client{Timeout: cfg.RequestTimeout}, lim: lim, sem: make(chan struct{}, cfg.RateLimit.MaxConcurrent), log: log}
	if cfg.Auth.Type == "oauth2" {
		c.cc = &clientcredentials.Config{ClientID: cfg.Auth.ClientID, ClientSecret: cfg.Auth.ClientSecret, TokenURL: cfg.Auth.TokenURL, Scopes: cfg.Auth.Scopes}
		c.ts = c.cc.TokenSource(context.Background())
	}
	return c
}

// authorize sets the request's credentials.
func (c *client) authorize(req *http.Request) error {
	switch c.cfg.Auth.Type {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+c.cfg.Auth.Token)
	case "api_key":
		req.Header.Set(c.cfg.Auth.Header, c.cfg.Auth.Key)
	case "oauth2":
		c.mu.Lock()
		ts := c.ts
		c.mu.Unlock()
		tok, err := ts.Token()
		if err != nil {
			return fmt.Errorf("oauth2 token from %s: %w", c.cfg.Auth.TokenURL, err)
		}
		tok.SetAuthHeader(req)
	}
	return nil
}

// refreshToken drops the cached OAuth2 token, after a 401: the next
// request fetches a new one.
func (c *client) refreshToken() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ts = c.cc.TokenSource(context.Background())
}

// response is a decoded 2xx response.
type response struct {
	header http.Header
	body   any
}

// do sends one request, retrying 429, 5xx, network errors and bodies that
// are not JSON with exponential backoff and full jitter (the provider's
// Retry-After wins when it is longer), and returns the decoded body.
func (c *client) do(ctx context.Context, method, url string, body []byte) (*response, error) {
	refreshed := false
	var last error
	for attempt := 1; ; attempt++ {
		res, retryAfter, err := c.once(ctx, method, url, body)
		if err == nil {
			return res, nil
		}
		var he *HTTPError
		if errors.As(err, &he) && he.Status == http.StatusUnauthorized && c.cc != nil && !refreshed {
			// An expired or revoked token: fetch a new one once.
			refreshed = true
			c.refreshToken()
			attempt--
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !retryable(err) {
			return nil, err
		}
		last = err
		if attempt >= c.cfg.Retry.MaxAttempts {
			return nil, fmt.Errorf("giving up after %d attempts: %w", attempt, last)
		}
		d := c.backoff(attempt)
		if retryAfter > d {
			d = retryAfter
		}
		c.mu.Lock()
		c.retries++
		c.mu.Unlock()
		c.log.Warn("request failed; retrying", "method", method, "url", stripQuery(url), "attempt", attempt, "backoff", d, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
}

// backoff is full jitter: uniform in [0, min(max, initial·2^(attempt-1))].
func (c *client) backoff(attempt int) time.Duration {
	ceil := c.cfg.Retry.InitialBackoff << min(attempt-1, 30)
	if ceil <= 0 || ceil > c.cfg.Retry.MaxBackoff {
		ceil = c.cfg.Retry.MaxBackoff
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

// errRetryable marks failures worth another attempt.
type errRetryable struct{ err error }

func (e errRetryable) Error() string { return e.err.Error() }
func (e errRetryable) Unwrap() error { return e.err }

func retryable(err error) bool {
	var r errRetryable
	return errors.As(err, &r)
}

func (c *client) once(ctx context.Context, method, url string, body []byte) (*response, time.Duration, error) {
	c.mu.Lock()
	pause := time.Until(c.pauseUntil)
	c.mu.Unlock()
	if pause > 0 {
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(pause):
		}
	}
	if err := c.lim.Wait(ctx); err != nil {
		return nil, 0, err
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	defer func() { <-c.sem }()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, 0, fmt.Errorf("build request %s %s: %w", method, stripQuery(url), err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := c.authorize(req); err != nil {
		return nil, 0, errRetryable{err}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, errRetryable{fmt.Errorf("%s %s: %w", method, stripQuery(url), err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, 0, errRetryable{fmt.Errorf("%s %s: read body: %w", method, stripQuery(url), err)}
	}
	if len(raw) > maxBody {
		return nil, 0, fmt.Errorf("%s %s: response body larger than %d bytes", method, stripQuery(url), maxBody)
	}
	wait := c.notePause(resp.Header)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		he := &HTTPError{Method: method, URL: stripQuery(url), Status: resp.StatusCode, Body: snippet(raw)}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || c.retryOn(raw) {
			return nil, max(retryAfter(resp.Header), wait), errRetryable{he}
		}
		return nil, 0, he
	}
	if resp.StatusCode == http.StatusNoContent {
		return &response{header: resp.Header}, 0, nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, 0, errRetryable{fmt.Errorf("%s %s: %w", method, stripQuery(url), err)}
	}
	return &response{header: resp.Header, body: v}, 0, nil
}

// retryOn reports whether a 4xx body holds one of Retry.RetryOn.
func (c *client) retryOn(body []byte) bool {
	for _, s := range c.cfg.Retry.RetryOn {
		if s != "" && bytes.Contains(body, []byte(s)) {
			return true
		}
	}
	return false
}

// notePause reads the provider's rate-limit headers: with nothing left in
// its window, requests pause until it resets. It returns the pause.
func (c *client) notePause(h http.Header) time.Duration {
	rl := c.cfg.RateLimit
	if rl.RemainingHeader == "" {
		return 0
	}
	left, err := strconv.ParseFloat(h.Get(rl.RemainingHeader), 64)
	if err != nil || left > 0 {
		return 0
	}
	d := time.Second
	if rl.ResetHeader != "" {
		if v, err := strconv.ParseFloat(h.Get(rl.ResetHeader), 64); err == nil && v > 0 {
			switch {
			case strings.HasSuffix(strings.ToLower(rl.ResetHeader), "milliseconds"):
				d = time.Duration(v * float64(time.Millisecond))
			case v > 1e9: // an epoch timestamp
				d = time.Until(time.Unix(int64(v), 0))
			default:
				d = time.Duration(v * float64(time.Second))
			}
		}
	}
	d = min(max(d, 0), c.cfg.Retry.MaxBackoff)
	c.mu.Lock()
	if until := time.Now().Add(d); until.After(c.pauseUntil) {
		c.pauseUntil = until
	}
	c.mu.Unlock()
	return d
}

// retryAfter reads Retry-After as seconds or an HTTP date.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func stripQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

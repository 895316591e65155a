package saas

import (
	"context"
	"log/slog"
	"net/http"
)

// HTTPClient is the adapter's HTTP client for other packages (the SaaS
// sinks): authentication, a token bucket and a concurrency cap, a pause
// when the provider's rate-limit headers say its window is used up, and
// retries of 429, 5xx, network errors and bodies that are not JSON with
// exponential backoff and full jitter (Retry-After wins when longer). It
// is safe for concurrent use.
type HTTPClient struct{ c *client }

// NewHTTPClient returns a client configured by cfg's Auth, RateLimit,
// Retry and RequestTimeout (defaults as for a source); the other fields
// are not used.
func NewHTTPClient(cfg Config, log *slog.Logger) *HTTPClient {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	return &HTTPClient{c: newClient(&cfg, log)}
}

// Do sends one request and returns the headers and the decoded JSON body
// (numbers as json.Number; nil for 204 No Content) of its 2xx answer. A
// 4xx other than 429 is an *HTTPError, not retried; so is the last of the
// retried failures when the attempts run out.
func (h *HTTPClient) Do(ctx context.Context, method, url string, body []byte) (http.Header, any, error) {
	res, err := h.c.do(ctx, method, url, body)
	if err != nil {
		return nil, nil, err
	}
	return res.header, res.body, nil
}

// Retries returns the number of retried attempts so far.
func (h *HTTPClient) Retries() int {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.retries
}

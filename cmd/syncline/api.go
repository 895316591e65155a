package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"syncline/internal/config"
)

// apiClient calls the admin API of a running syncline process: the one at
// http.listen of the config (or --addr), with http.token, over HTTPS when
// http.tls is set (trusting its certificate, for self-signed setups, and
// the system's CAs).
type apiClient struct {
	base  string
	token string
	hc    *http.Client
}

func newAPIClient(path, addr string) (*apiClient, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if addr == "" {
		addr = cfg.HTTP.Listen
	}
	if addr == "" {
		return nil, fmt.Errorf("http.listen is disabled in %s; pass --addr of a running process", path)
	}
	ac := &apiClient{token: cfg.HTTP.Token.Value(), hc: &http.Client{}}
	scheme := "http://"
	if cfg.HTTP.TLS.Enabled() {
		scheme = "https://"
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if pem, err := os.ReadFile(cfg.HTTP.TLS.CertFile); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
		ac.hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	if !strings.Contains(addr, "://") {
		addr = scheme + addr
	}
	ac.base = strings.TrimRight(addr, "/")
	return ac, nil
}

// do sends a request (body JSON-encoded when not nil) and returns the
// response body of a 2xx answer; other answers are errors with the API's
// message.
func (a *apiClient) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is syncline running? %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(out)))
	}
	return out, nil
}

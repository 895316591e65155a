package pipeline

import (
	"encoding/base64"
	"testing"
	"time"

	"syncline/capture/saas"
	"syncline/internal/config"
)

// The http sources of the full example convert to adapter configurations
// the adapter accepts, with every setting carried over.
func TestHTTPSourceConfigOfTheFullExample(t *testing.T) {
	cfg, err := config.Load("../config/testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]saas.Config{}
	for _, s := range cfg.Sources {
		c, ok := pollSourceConfig(cfg, s)
		if s.Type != config.SourceHTTP {
			continue
		}
		if !ok {
			t.Fatalf("source %s: not polled", s.Name)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("source %s: the adapter refuses the configuration: %v", s.Name, err)
		}
		got[s.Name] = c
	}
	shop := got["shop"]
	if shop.System != "shop" || shop.TopicPrefix != "acme.cdc" || shop.Partitions != 12 || shop.TxnTimeout != 90*time.Second {
		t.Errorf("shop: system %q, kafka %q %d %v", shop.System, shop.TopicPrefix, shop.Partitions, shop.TxnTimeout)
	}
	if a := shop.Auth; a.Type != "oauth2" || a.ClientSecret != "shop-secret" || a.TokenURL != "https://auth.shop.example/oauth/token" || len(a.Scopes) != 1 {
		t.Errorf("shop auth %+v", a)
	}
	o := shop.Objects[0]
	if o.Cursor.Settle != 5*time.Second || o.Cursor.Lookback != 2*time.Minute || !o.Cursor.Start.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("cursor %+v", o.Cursor)
	}
	if p := o.Properties[2]; p.Path != "customer.email" || p.Column != "customer_email" || p.Type != "" {
		t.Errorf("property %+v", p)
	}
	if p := o.Properties[1]; p.Path != "total_cents" || p.Type != "int64" {
		t.Errorf("property %+v", p)
	}
	if d := o.Deletes; d == nil || len(d.StatusValues) != 2 || d.Request == nil || d.DeletedAtField != "deleted_at" || d.Pagination.Type != "page" {
		t.Errorf("deletes %+v", d)
	}
	if o.Ops == nil || o.Ops.Values["deleted"] != "d" || !o.Pagination.TieBreak || o.Pagination.MaxResults != 10000 {
		t.Errorf("ops %+v, pagination %+v", o.Ops, o.Pagination)
	}
	if shop.RateLimit.RemainingHeader != "X-RateLimit-Remaining" || shop.Retry.MaxAttempts != 10 || shop.MaxRuntime != 10*time.Minute || shop.RequestTimeout != 30*time.Second {
		t.Errorf("shop %+v %+v", shop.RateLimit, shop.Retry)
	}
	if id := got["ledger"].Objects[0].IDField; id != "account,number" {
		t.Errorf("ledger id field %q, want the composite account,number", id)
	}
	if a := got["ledger"].Auth; a.Type != "api_key" || a.Header != "X-Ledger-Key" || a.Key != "lk-example" {
		t.Errorf("ledger auth %+v", a)
	}
	if a := got["tickets"].Auth; a.Type != "bearer" || a.Token != "desk-token" {
		t.Errorf("tickets auth %+v", a)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("sync:legacy-pass"))
	if a := got["legacy"].Auth; a.Type != "api_key" || a.Header != "Authorization" || a.Key != want {
		t.Errorf("legacy auth %+v", a)
	}
	if s := got["legacy"].System; s != "http" {
		t.Errorf("legacy system %q, want the default http", s)
	}
}

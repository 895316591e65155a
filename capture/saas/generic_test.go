package saas

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/hubspot"
	"syncline/internal/emulator/rest"
	"syncline/internal/kafka"
	"syncline/internal/topics"
	"syncline/schemas"
)

func restConfig(name, baseURL string, paging rest.Paging) Config {
	query := map[string]string{"updated_since": "{{.Since}}", "limit": "{{.Limit}}"}
	switch paging {
	case rest.PagingOffset:
		query["offset"] = "{{.Offset}}"
	case rest.PagingPage:
		query["page"] = "{{.Page}}"
	}
	return Config{
		Name: name, System: "shop", BaseURL: baseURL,
		Auth:         Auth{Type: "api_key", Header: "X-API-Key", Key: "k-123"},
		RateLimit:    RateLimit{RequestsPerSecond: 1000, Burst: 10, RemainingHeader: "X-RateLimit-Remaining", ResetHeader: "X-RateLimit-Reset"},
		Retry:        Retry{MaxAttempts: 20, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		PollInterval: 50 * time.Millisecond,
		Objects: []Object{{
			Name:        "items",
			Request:     Request{Path: "/v1/items", Query: query},
			RecordsPath: "data",
			Cursor:      Cursor{Field: "updated_at", Lookback: time.Second},
			Pagination:  Pagination{Type: string(paging), Limit: 50},
			Properties:  []Property{{Path: "name"}, {Path: "amount", Type: "float64"}, {Path: "status"}},
			Deletes:     &Deletes{StatusField: "status", StatusValue: "deleted"},
		}},
	}
}

func TestGenericAdapterPaginationsWithAPIKeyRateLimitAndStatusDeletes(t *testing.T) {
	for _, paging := range []rest.Paging{rest.PagingOffset, rest.PagingPage, rest.PagingLink} {
		t.Run(string(paging)+" pagination reads every version once", func(t *testing.T) {
			e := newEnv(t, hubspot.Options{})
			api := rest.New(rest.Options{APIKey: "k-123", Paging: paging, RateLimitMax: 20, RateLimitInterval: 100 * time.Millisecond})
			srv := api.Start()
			defer srv.Close()
			base := time.Now().Add(-time.Hour).Truncate(time.Second)
			for i := range 1000 {
				api.Put(rest.Item{Name: fmt.Sprintf("item %d", i), Amount: float64(i) / 4, UpdatedAt: base.Add(time.Duration(i/40) * time.Second)})
			}
			name := "shop_" + string(paging)
			r := e.start(e.source(restConfig(name, srv.URL, paging)))
			r.settle(t)
			later := time.Now().Add(-time.Minute)
			for i, it := range api.Items()[:40] {
				it.UpdatedAt = later
				if i < 10 {
					it.Status = "deleted"
				} else {
					it.Name = "renamed"
				}
				api.Put(it)
			}
			r.settle(t)
			r.stop(t)
			chs := e.read(topics.Raw("syncline", name, "shop", "items"))
			versions := exactlyOnce(t, chs)
			ops := map[schemas.Op]int{}
			for _, ch := range chs {
				ops[ch.Op]++
				if ch.Op == schemas.OpUpdate && ch.After["name"] != "renamed" {
					t.Errorf("update %v", ch.After)
				}
			}
			if ops[schemas.OpRead] != 1000 || ops[schemas.OpUpdate] != 30 || ops[schemas.OpDelete] != 10 {
				t.Errorf("ops %v, want 1000 r, 30 u, 10 d", ops)
			}
			for _, it := range api.Items() {
				vs := versions[strconv.FormatInt(it.ID, 10)]
				if len(vs) == 0 || vs[len(vs)-1].at != it.UpdatedAt.UnixMicro() {
					t.Errorf("item %d: versions %v, want the last at %s", it.ID, vs, it.UpdatedAt)
				}
			}
		})
	}
}

func TestBulkImportWithinTheLookbackKeepsTheCheckpointBounded(t *testing.T) {
	// 12,000 contacts a millisecond apart, all inside the one-hour
	// lookback: the seen set would hold them all.
	e := newEnv(t, hubspot.Options{})
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	for i := range 12000 {
		e.emu.Create("contacts", map[string]string{"email": fmt.Sprintf("b%d@example.com", i)}, base.Add(time.Duration(i)*time.Millisecond))
	}
	cfg := e.profile("bulk", contacts)
	cfg.Lookback = time.Hour
	e.syncOnce(cfg.Config(), 12000)
	raw, err := kafka.ReadLatest(context.Background(), e.k.Opts(), topics.Offsets("syncline"), "saas/bulk/contacts")
	if err != nil || raw == nil {
		t.Fatalf("checkpoint: %v %q", err, raw)
	}
	var cp Checkpoint
	if err := json.Unmarshal(raw, &cp); err != nil {
		t.Fatal(err)
	}
	if n := len(cp.State.Cursor.Seen); n > maxSeen {
		t.Errorf("checkpoint seen set has %d entries, want at most %d", n, maxSeen)
	}
	if cp.State.Cursor.Floor == 0 || !cp.State.Synced || cp.State.Window != nil {
		t.Errorf("checkpoint %+v: want a floor, synced, no window in progress", cp.State.Cursor.Floor)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no base url", func(c *Config) { c.BaseURL = "" }, "base_url: required"},
		{"bearer without token", func(c *Config) { c.Auth = Auth{Type: "bearer"} }, "auth.token: required"},
		{"unknown auth", func(c *Config) { c.Auth = Auth{Type: "basic"} }, `auth.type: unknown "basic"`},
		{"no cursor field", func(c *Config) { c.Objects[0].Cursor.Field = "" }, "objects[0].cursor.field: required"},
		{"bad template", func(c *Config) { c.Objects[0].Request.Body = "{{.Since" }, "objects[0].request.body:"},
		{"token paging without path", func(c *Config) { c.Objects[0].Pagination = Pagination{Type: "token"} }, "objects[0].pagination.token_path: required"},
		{"unknown property type", func(c *Config) { c.Objects[0].Properties[0].Type = "money" }, `objects[0].properties[0].type: unknown "money"`},
		{"reserved column", func(c *Config) { c.Objects[0].Properties[0].Column = "_raw" }, `objects[0].properties[0].column: column "_raw" is used twice`},
		{"cap below the page", func(c *Config) { c.Objects[0].Pagination.MaxResults = 10 }, "objects[0].pagination.max_results: 10 is below the page limit 50"},
		{"reconcile without a request", func(c *Config) { c.Objects[0].Deletes.Reconcile = &Reconcile{} }, "objects[0].deletes.reconcile.request.path: required"},
		{"reconcile offset pages without verify", func(c *Config) {
			c.Objects[0].Deletes.Reconcile = &Reconcile{Request: Request{Path: "/v1/ids"}, Pagination: Pagination{Type: "offset"}}
		}, "objects[0].deletes.reconcile.verify: required with pagination type offset"},
		{"reconcile bad verify", func(c *Config) {
			c.Objects[0].Deletes.Reconcile = &Reconcile{Request: Request{Path: "/v1/ids"}, Pagination: Pagination{Type: "link"}, Verify: &Request{Path: "/v1/items/{{.ID"}}
		}, "objects[0].deletes.reconcile.verify.path:"},
		{"backfill without a request", func(c *Config) { c.Objects[0].Backfill = &Backfill{} }, "objects[0].backfill.request.path: required"},
		{"backfill token paging without path", func(c *Config) {
			c.Objects[0].Backfill = &Backfill{Request: Request{Path: "/v1/items"}, Pagination: Pagination{Type: "after_last"}}
		}, "objects[0].backfill.pagination.token_path: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := restConfig("x", "http://127.0.0.1:1", rest.PagingOffset)
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	c := restConfig("x", "http://127.0.0.1:1", rest.PagingOffset)
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	h := HubSpot{Name: "crm", Token: "t", Objects: []HubSpotObject{contacts}}.Config()
	if err := h.Validate(); err != nil {
		t.Fatalf("HubSpot profile: %v", err)
	}
	for _, p := range []Config{
		Mailchimp{Name: "mc", APIKey: "k-us6", Lists: []MailchimpList{{ID: "l1", Name: "news"}}}.Config(),
		Salesforce{Name: "sf", InstanceURL: "https://x.my.salesforce.com", Token: "t", Objects: []ProfileObject{{Type: "Account"}}}.Config(),
		Stripe{Name: "st", APIKey: "sk", Objects: []ProfileObject{{Type: "customer"}, {Type: "checkout.session"}}}.Config(),
	} {
		if err := p.Validate(); err != nil {
			t.Fatalf("%s profile: %v", p.System, err)
		}
	}
}

func TestRetryAfterAndRateLimitHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("Retry-After", "3")
	if d := retryAfter(h); d != 3*time.Second {
		t.Errorf("Retry-After 3: %v", d)
	}
	h.Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	if d := retryAfter(h); d < 59*time.Minute {
		t.Errorf("Retry-After as a date: %v", d)
	}
	h.Set("Retry-After", "soon")
	if d := retryAfter(h); d != 0 {
		t.Errorf("Retry-After garbage: %v", d)
	}
	cfg := &Config{RateLimit: RateLimit{RemainingHeader: "X-HubSpot-RateLimit-Remaining", ResetHeader: "X-HubSpot-RateLimit-Interval-Milliseconds"}, Retry: Retry{MaxBackoff: time.Minute}}
	c := &client{cfg: cfg}
	h = http.Header{}
	h.Set("X-HubSpot-RateLimit-Remaining", "0")
	h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
	if d := c.notePause(h); d != 10*time.Second {
		t.Errorf("pause %v, want 10s", d)
	}
	h.Set("X-HubSpot-RateLimit-Remaining", "3")
	if d := c.notePause(h); d != 0 {
		t.Errorf("pause with requests left: %v", d)
	}
	c.cfg.Retry = Retry{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for attempt := 1; attempt < 40; attempt++ {
		if d := c.backoff(attempt); d < 0 || d > time.Second || (attempt == 1 && d > 100*time.Millisecond) {
			t.Fatalf("backoff(%d) = %v", attempt, d)
		}
	}
}

func TestNextLink(t *testing.T) {
	tests := []struct{ header, want string }{
		{`<https://api.example.com/v1/items?cursor=abc>; rel="next", <https://api.example.com/v1/items?cursor=x>; rel="prev"`, "https://api.example.com/v1/items?cursor=abc"},
		{`</v1/items?cursor=abc>; rel="next"`, "http://h/v1/items?cursor=abc"},
		{`</v1/items?cursor=abc>; rel="prev"`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := nextLink(tt.header, "http://h/v1/items?limit=5"); got != tt.want {
			t.Errorf("nextLink(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

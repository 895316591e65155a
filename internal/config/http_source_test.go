package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"syncline/capture/saas"
)

// fullHTTPSource is the shop source of testdata/full.yaml.
func fullHTTPSource() HTTPSource {
	return HTTPSource{
		BaseURL: "https://api.shop.example", System: "shop",
		Auth: HTTPAuth{RESTAuth: RESTAuth{Type: "oauth2"}, TokenURL: "https://auth.shop.example/oauth/token", ClientID: "syncline", ClientSecret: "shop-secret", Scopes: []string{"orders.read"}},
		Objects: []HTTPObject{{
			Name: "orders",
			Request: saas.Request{Method: "POST", Path: "/v2/orders/search", Query: map[string]string{"limit": "{{.Limit}}"},
				Body: `{"updated_after": {{json .Since}}, "cursor": {{json .PageToken}}}`},
			RecordsPath: "results", IDField: "order.id", CreatedField: "order.created_at", RowPath: "order",
			Properties: []string{"total", "total_cents:int64", "customer.email", "paid:bool", "placed_at:timestamp", "lines:json"},
			Cursor:     HTTPCursor{Field: "order.updated_at", Format: "rfc3339", Start: "2024-01-01T00:00:00Z", Lookback: 2 * time.Minute},
			Pagination: saas.Pagination{Type: "token", TokenPath: "paging.next", MorePath: "has_more", EndPath: "end_of_stream",
				ExpiringTokens: true, Order: "ascending", Limit: 200, StartPage: 1, MaxResults: 10000, TieBreak: true},
			Deletes: &HTTPDeletes{
				StatusField: "order.status", StatusValues: []string{"deleted", "voided"},
				Request:     &saas.Request{Path: "/v2/orders/deleted", Query: map[string]string{"limit": "{{.Limit}}", "page": "{{.Page}}"}},
				RecordsPath: "deleted", IDField: "id", DeletedAtField: "deleted_at", Pagination: saas.Pagination{Type: "page", Limit: 50},
				Reconcile: &saas.Reconcile{
					Interval: 12 * time.Hour, Request: saas.Request{Path: "/v2/orders/ids", Query: map[string]string{"offset": "{{.Offset}}", "limit": "{{.Limit}}"}},
					RecordsPath: "ids", IDField: "order_id", Pagination: saas.Pagination{Type: "offset", Limit: 1000},
					Verify: &saas.Request{Path: "/v2/orders/{{.ID}}"},
				},
			},
			Ops: &saas.Ops{Field: "order.event", Values: map[string]string{"created": "c", "updated": "u", "deleted": "d"}},
		}},
		RateLimit:    saas.RateLimit{RequestsPerSecond: 5, Burst: 2, MaxConcurrent: 1, RemainingHeader: "X-RateLimit-Remaining", ResetHeader: "X-RateLimit-Reset"},
		Retry:        saas.Retry{MaxAttempts: 10, InitialBackoff: time.Second, MaxBackoff: time.Minute, RetryOn: []string{"RATE_LIMIT"}},
		PollInterval: 30 * time.Second, Settle: 5 * time.Second, MaxRuntime: 10 * time.Minute, RequestTimeout: 30 * time.Second,
	}
}

// fieldErrors returns each problem of err as "path: message".
func fieldErrors(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("not a FieldError: %v", err)
		}
		out = append(out, fe.Path+": "+fe.Msg)
	}
	walk(err)
	return out
}

func TestHTTPSource(t *testing.T) {
	t.Run("a minimal source parses; its objects are its tables and a sink reads them", func(t *testing.T) {
		doc := `name: x
sources:
  - name: shop
    type: http
    http:
      base_url: http://127.0.0.1:9000/api
      auth: {type: api_key, key: "${SHOP_KEY}"}
      objects:
        - name: items
          request: {path: /v1/items, query: {updated_since: "{{.Since}}", offset: "{{.Offset}}", limit: "{{.Limit}}"}}
          records_path: data
          properties: [name, "amount:float64"]
          cursor: {field: updated_at, lookback: 1s}
          pagination: {type: offset, limit: 50}
          deletes: {status_field: status, status_values: [deleted]}
        - name: orders
          request: {path: /v1/orders, query: {after: "{{slice .PageToken 1}}"}}   # fails only on an empty token: not a load error
          cursor: {field: modified_at, format: unix_ms}
          pagination: {type: link}
  - name: billing
    type: http
    http:
      base_url: https://billing.example
      system: billing
      objects: [{name: invoices, request: {path: /invoices}, cursor: {field: updated}, pagination: {type: none}}]
sinks:
  - {name: wh, type: postgres, dsn: host=h, from: [shop.http.items, shop.http.orders, billing.*]}
`
		t.Setenv("SHOP_KEY", "k-123")
		c, err := Parse([]byte(doc), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		h := c.Sources[0].HTTP
		if h.Auth.Key.Value() != "k-123" || h.Objects[0].Pagination.Limit != 50 || h.Objects[0].Cursor.Lookback != time.Second ||
			!slices.Equal(h.Objects[0].Deletes.StatusValues, []string{"deleted"}) || h.Objects[1].Deletes != nil {
			t.Errorf("decoded %+v", h)
		}
		want := [][]TableName{{{"http", "items"}, {"http", "orders"}}, {{"billing", "invoices"}}}
		for i, w := range want {
			if got := c.Sources[i].QualifiedTables(); !slices.Equal(got, w) {
				t.Errorf("source %d: QualifiedTables = %v, want %v", i, got, w)
			}
		}
		if n := len(c.SinkTables(c.Sinks[0])); n != 3 {
			t.Errorf("the sink reads %d tables, want 3", n)
		}
		if s := fmt.Sprintf("%v %+v", h, h); strings.Contains(s, "k-123") {
			t.Errorf("the API key prints: %s", s)
		}
	})
	t.Run("the README's example is valid", func(t *testing.T) {
		readme, err := os.ReadFile("../../README.md")
		if err != nil {
			t.Fatal(err)
		}
		_, section, ok := strings.Cut(string(readme), "### Generic HTTP source")
		_, block, ok2 := strings.Cut(section, "```yaml\n")
		block, _, ok3 := strings.Cut(block, "```")
		if !ok || !ok2 || !ok3 {
			t.Fatal("README has no yaml block under Generic HTTP source")
		}
		t.Setenv("SHOP_KEY", "k")
		t.Setenv("WH_DSN", "host=h")
		c, err := Parse([]byte("name: x\n"+block), "README.md")
		if err != nil {
			t.Fatal(err)
		}
		if n := len(c.SinkTables(c.Sinks[0])); n != 1 {
			t.Errorf("the sink reads %d tables, want 1", n)
		}
	})
	t.Run("the full example's start time parses", func(t *testing.T) {
		if got := fullHTTPSource().Objects[0].Cursor.StartTime(); !got.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("StartTime = %v", got)
		}
	})
	t.Run("problems name their keys", func(t *testing.T) {
		doc := `name: x
sources:
  - name: a
    type: http
    dsn: host=h
    http:
      base_url: ftp://x
      system: Shop
      auth: {type: oauth2, token: t, token_url: "not a url", client_secret: s}
      rate_limit: {requests_per_second: -1, reset_header: "X Reset"}
      retry: {initial_backoff: 10s, max_backoff: 1s}
      poll_interval: -1s
      objects:
        - name: Items
          request: {method: DELETE, path: "v1/items", query: {since: "{{.Since"}, body: "{{.Sinse}}"}
          properties: ["name", "name", "id"]
          cursor: {format: iso, start: yesterday, lookback: -1m}
          pagination: {type: cursor}
          deletes: {status_values: [deleted], records_path: x}
        - name: items2
          request: {path: /x}
          id_field: id
          id_fields: [a, "b c"]
          records_path: "bad path"
          cursor: {field: updated_at}
          pagination: {max_results: 10, limit: 50, order: sideways}
          deletes: {request: {path: "/deleted/{{if}}"}, pagination: {type: token}, reconcile: {interval: 30s, pagination: {type: offset}, max_delete_fraction: 1.5, grace: -1s}}
          ops: {values: {created: x}}
        - name: items2
          id_fields: [tenant]
          cursor: {field: updated_at}
          pagination: {type: page}
          deletes: {}
  - name: b
    type: http
  - name: c
    type: http
    hubspot: {token: t}
    http:
      base_url: https://x.example
      auth: {type: digest}
      objects: []
  - name: d
    type: postgres
    dsn: host=h
    tables: [t]
    http: {auth: {scopes: [x]}}
  - name: e
    type: http
    http:
      base_url: https://x.example
      auth: {type: basic, key: k}
      objects: [{name: o, cursor: {field: u}, pagination: {type: none}}]
`
		_, err := Parse([]byte(doc), "p.yaml")
		if err == nil {
			t.Fatal("Parse succeeded")
		}
		got := fieldErrors(t, err)
		for _, want := range []string{
			"sources[0]: dsn, tables, keys, signal_table and messages are for postgres sources; an http source lists its objects under http.objects",
			`sources[0].http.base_url: "ftp://x" is not an http:// or https:// URL`,
			`sources[0].http.system: "Shop" is not a schema name; use lowercase letters, digits and '_'`,
			"sources[0].http.auth.token: only with auth.type bearer (auth.type is oauth2)",
			`sources[0].http.auth.token_url: "not a url" is not an http:// or https:// URL`,
			"sources[0].http.auth.client_id: required with auth.type oauth2",
			"sources[0].http.rate_limit.requests_per_second: must not be negative (0: unlimited)",
			`sources[0].http.rate_limit.reset_header: "X Reset" is not an HTTP header name`,
			"sources[0].http.rate_limit.reset_header: needs rate_limit.remaining_header (the pause starts when it reaches 0)",
			"sources[0].http.retry.initial_backoff: 10s is above retry.max_backoff 1s",
			"sources[0].http.poll_interval: must not be negative",
			`sources[0].http.objects[0].name: "Items" is not a table name; use lowercase letters, digits and '_'`,
			`sources[0].http.objects[0].request.method: "DELETE": use GET or POST`,
			`sources[0].http.objects[0].request.path: "v1/items" must start with /: it is appended to base_url`,
			"sources[0].http.objects[0].request.body: invalid template: template: :1:2: executing \"\" at <.Sinse>: can't evaluate field Sinse in type saas.vars",
			"sources[0].http.objects[0].request.query.since: invalid template: template: :1: unclosed action",
			`sources[0].http.objects[0].properties[1]: duplicate property "name"`,
			`sources[0].http.objects[0].properties[2]: "id" is a reserved column name (id, updated_at, _raw)`,
			"sources[0].http.objects[0].cursor.field: required: the dot path of the updated-at field, for example cursor: {field: updated_at}",
			`sources[0].http.objects[0].cursor.format: unknown "iso"; use rfc3339, unix_ms or unix`,
			`sources[0].http.objects[0].cursor.start: "yesterday" is not an RFC 3339 time such as 2024-01-01T00:00:00Z`,
			"sources[0].http.objects[0].cursor.lookback: must not be negative",
			`sources[0].http.objects[0].pagination.type: unknown "cursor"; use token, next_url, after_last, offset, page, link or none`,
			"sources[0].http.objects[0].deletes.status_field: required with status_values: the dot path of the status field",
			"sources[0].http.objects[0].deletes: set status_field with status_values, request (an endpoint listing deleted records), or reconcile (a periodic listing of every key)",
			"sources[0].http.objects[0].deletes.records_path: only with deletes.request",
			"sources[0].http.objects[1].deletes.reconcile.interval: 30s: use 1m or more (each reconciliation lists every key); default 6h",
			`sources[0].http.objects[1].deletes.reconcile.request.path: required: the request listing every key, for example request: {path: /v1/items, query: {fields: id, offset: "{{.Offset}}"}}`,
			"sources[0].http.objects[1].deletes.reconcile.max_delete_fraction: 1.5: must be in (0, 1] (the share of the keys a listing may lack; default 0.5)",
			"sources[0].http.objects[1].deletes.reconcile.grace: -1s: must not be negative",
			"sources[0].http.objects[1].deletes.reconcile.verify: required with pagination type offset: a record deleted while the keys are listed shifts the later ones to pages already read, so a key the listing lacks is confirmed gone by a request of its own, for example verify: {path: /v1/items/{{.ID}}}",
			"sources[0].http.objects[1].id_fields: set id_field (one field) or id_fields (a composite key), not both",
			`sources[0].http.objects[1].id_fields[1]: "b c" is not a dot path (field names joined by '.')`,
			`sources[0].http.objects[1].records_path: "bad path" is not a dot path (field names joined by '.')`,
			"sources[0].http.objects[1].pagination.token_path: required with pagination type token (the default is token; set pagination.type for another style)",
			`sources[0].http.objects[1].pagination.order: unknown "sideways"; use ascending, descending or unordered`,
			"sources[0].http.objects[1].pagination.max_results: 10 is below the page limit 50",
			"sources[0].http.objects[1].deletes.request.path: invalid template: template: :1: missing value for if",
			"sources[0].http.objects[1].deletes.pagination.token_path: required with pagination type token (the default is token; set pagination.type for another style)",
			"sources[0].http.objects[1].deletes.deleted_at_field: required with deletes.request: the dot path of the deletion time",
			"sources[0].http.objects[1].ops.field: required with ops: the dot path of the field naming the change",
			`sources[0].http.objects[1].ops.values.created: "x": use c (create), u (update) or d (delete)`,
			`sources[0].http.objects[2].name: duplicate object "items2" (also objects[1])`,
			"sources[0].http.objects[2].id_fields: a composite key needs two or more fields; for one, write id_field: tenant",
			"sources[0].http.objects[2].deletes: set status_field with status_values, request (an endpoint listing deleted records), or reconcile (a periodic listing of every key)",
			"sources[1].http: required for a source of type http, for example:\n  http:\n    base_url: https://api.example.com\n    auth: {type: bearer, token: ${API_TOKEN}}\n    objects:\n      - name: items\n        request: {path: /v1/items, query: {updated_since: \"{{.Since}}\"}}\n        records_path: data\n        cursor: {field: updated_at}\n        pagination: {type: offset}",
			"sources[2].hubspot: only allowed for sources of type hubspot",
			`sources[2].http.auth.type: unknown "digest"; use none, bearer, api_key, basic or oauth2`,
			"sources[2].http.objects: at least one object is required, for example objects: [{name: items, request: {path: /v1/items}, cursor: {field: updated_at}}]",
			"sources[3].http: only allowed for sources of type http",
			"sources[4].http.auth.key: only with auth.type api_key (auth.type is basic)",
			"sources[4].http.auth.username: required with auth.type basic",
			"sources[4].http.auth.password: required: the password with auth.type basic, for example password: ${API_PASSWORD}",
		} {
			if !slices.Contains(got, want) {
				t.Errorf("errors lack %q", want)
			}
		}
		if t.Failed() {
			t.Logf("errors:\n%s", strings.Join(got, "\n"))
		}
	})
}

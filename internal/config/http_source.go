package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"syncline/capture/saas"
)

// HTTPSource is the http block of a source of type http: the generic
// declarative poll adapter of capture/saas (README, "Generic HTTP
// source"). Its objects are the source's tables, <system>.<name>.
type HTTPSource struct {
	// BaseURL is prepended to every request path. Required.
	BaseURL string `yaml:"base_url"`
	// System names the provider in source.system and is the schema of the
	// source's tables (topics <prefix>.raw.<source>.<system>.<object>).
	// Default "http".
	System string `yaml:"system"`
	// Auth is how requests authenticate; default none.
	Auth HTTPAuth `yaml:"auth"`
	// Objects are the object types polled, one table each. Required.
	Objects []HTTPObject `yaml:"objects"`
	// RateLimit is a token bucket plus a cap on requests in flight, and
	// the provider's rate-limit headers.
	RateLimit saas.RateLimit `yaml:"rate_limit"`
	// Retry is how 429, 5xx and network errors are retried.
	Retry saas.Retry `yaml:"retry"`
	// PollInterval default 1m; Settle (every object's window ends this far
	// behind now) default 0; MaxRuntime (one poll's bound) default 30m;
	// RequestTimeout default 60s.
	PollInterval   time.Duration `yaml:"poll_interval"`
	Settle         time.Duration `yaml:"settle"`
	MaxRuntime     time.Duration `yaml:"max_runtime"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// HTTPAuth is the auth block of an http source: a rest sink's auth
// (none, bearer, api_key or basic) or oauth2.
type HTTPAuth struct {
	RESTAuth `yaml:",inline"`
	// OAuth2 client credentials (type oauth2): the token is fetched from
	// TokenURL, refreshed before it expires and after a 401.
	TokenURL     string   `yaml:"token_url"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret Secret   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
}

// HTTPObject is one object type of an http source.
type HTTPObject struct {
	// Name is the table name: <system>.<name>. Required, unique.
	Name string `yaml:"name"`
	// Request fetches changed records; path, query values and body are
	// templates (README, "Generic HTTP source").
	Request saas.Request `yaml:"request"`
	// RecordsPath is the dot path of the records array in the response;
	// empty: the response is the array.
	RecordsPath string `yaml:"records_path"`
	// IDField is the dot path of the primary key; default "id". IDFields
	// instead are the paths of a composite key: the id column holds the
	// JSON array of their values.
	IDField  string   `yaml:"id_field"`
	IDFields []string `yaml:"id_fields"`
	// CreatedField, when set, tells creates from updates.
	CreatedField string `yaml:"created_field"`
	// RowPath is the dot path of the row within a record; default the
	// record.
	RowPath string `yaml:"row_path"`
	// Properties are the typed columns, "path" or "path:type" (types as
	// for hubspot; the column is the path with '_' for '.').
	Properties []string `yaml:"properties"`
	// Cursor is the updated-at field and its window. Required.
	Cursor HTTPCursor `yaml:"cursor"`
	// Pagination within one window; type default token.
	Pagination saas.Pagination `yaml:"pagination"`
	// Deletes detects deleted records; default none.
	Deletes *HTTPDeletes `yaml:"deletes"`
	// Ops takes each record's op from a field (an events API).
	Ops *saas.Ops `yaml:"ops"`
}

// HTTPCursor is the cursor block of an http object.
type HTTPCursor struct {
	// Field is the dot path of the updated-at. Required.
	Field string `yaml:"field"`
	// Format is rfc3339 (default), unix_ms or unix.
	Format string `yaml:"format"`
	// Start is where the first window starts, RFC 3339; default the
	// epoch.
	Start string `yaml:"start"`
	// Lookback re-reads this much before the last updated-at at every
	// poll; re-read records are deduplicated. Default 0: only the records
	// sharing the last updated-at (ordered by id) are re-read.
	Lookback time.Duration `yaml:"lookback"`
}

// StartTime returns Start parsed; zero when unset or invalid (Validate
// reports it).
func (c HTTPCursor) StartTime() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, c.Start)
	return t
}

// HTTPDeletes is the deletes block of an http object: a status field in
// the records, an endpoint listing deleted (archived) records, a periodic
// key reconciliation, or several of them.
type HTTPDeletes struct {
	// StatusField and StatusValues: a record whose status field holds one
	// of the values is a delete.
	StatusField  string   `yaml:"status_field"`
	StatusValues []string `yaml:"status_values"`
	// Request lists deleted records, read through at every poll; their
	// RecordsPath, IDField (default the object's) and Pagination as for
	// the object, DeletedAtField (required with Request) the deletion
	// time in the cursor's format.
	Request        *saas.Request   `yaml:"request"`
	RecordsPath    string          `yaml:"records_path"`
	IDField        string          `yaml:"id_field"`
	DeletedAtField string          `yaml:"deleted_at_field"`
	Pagination     saas.Pagination `yaml:"pagination"`
	// Reconcile lists every key periodically; the keys emitted that the
	// listing lacks are deletes (interval, request, records_path,
	// id_field, pagination, verify).
	Reconcile *saas.Reconcile `yaml:"reconcile"`
}

// IsSet reports whether the http block is present.
func (h HTTPSource) IsSet() bool {
	a := h.Auth
	return h.BaseURL != "" || h.System != "" || len(h.Objects) > 0 ||
		a.RESTAuth != (RESTAuth{}) || a.TokenURL != "" || a.ClientID != "" || a.ClientSecret.IsSet() || len(a.Scopes) > 0 ||
		h.RateLimit != (saas.RateLimit{}) || h.Retry.MaxAttempts != 0 || h.Retry.InitialBackoff != 0 ||
		h.Retry.MaxBackoff != 0 || len(h.Retry.RetryOn) > 0 ||
		h.PollInterval != 0 || h.Settle != 0 || h.MaxRuntime != 0 || h.RequestTimeout != 0
}

// SystemName is System or its default, "http".
func (h HTTPSource) SystemName() string {
	if h.System == "" {
		return "http"
	}
	return h.System
}

var (
	// httpNameRE: an object or system name, a table or schema name as
	// the warehouse writes it unquoted.
	httpNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	// headerRE: an HTTP header name (RFC 9110 token).
	headerRE = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
)

var (
	httpAuthTypes    = []string{"none", "bearer", "api_key", "basic", "oauth2"}
	httpPageTypes    = []string{"token", "next_url", "after_last", "offset", "page", "link", "none"}
	httpPageOrders   = []string{"ascending", "descending", "unordered"}
	httpCursorFormat = []string{"rfc3339", "unix_ms", "unix"}
)

// httpSource checks a source of type http and reports an http block on
// another type. It returns true when s is of type http.
func (v *validator) httpSource(p string, s Source) bool {
	if s.Type != SourceHTTP {
		if s.HTTP.IsSet() {
			v.errorf(p+".http", "only allowed for sources of type http")
		}
		return false
	}
	if s.DSN != "" || len(s.Tables) > 0 || len(s.Keys) > 0 || s.SignalTable != "" || len(s.Messages) > 0 {
		v.errorf(p, "dsn, tables, keys, signal_table and messages are for postgres sources; an http source lists its objects under http.objects")
	}
	for _, b := range []struct {
		typ SourceType
		set bool
	}{{SourceHubSpot, s.HubSpot.IsSet()}, {SourceSalesforce, s.Salesforce.IsSet()}, {SourceStripe, s.Stripe.IsSet()}, {SourceZendesk, s.Zendesk.IsSet()}, {SourceMailchimp, s.Mailchimp.IsSet()}} {
		if b.set {
			v.errorf(p+"."+string(b.typ), "only allowed for sources of type %s", b.typ)
		}
	}
	h := s.HTTP
	hp := p + ".http"
	if !h.IsSet() {
		v.errorf(hp, "required for a source of type http, for example:\n  http:\n    base_url: https://api.example.com\n    auth: {type: bearer, token: ${API_TOKEN}}\n    objects:\n      - name: items\n        request: {path: /v1/items, query: {updated_since: \"{{.Since}}\"}}\n        records_path: data\n        cursor: {field: updated_at}\n        pagination: {type: offset}")
		return true
	}
	v.baseURL(hp+".base_url", h.BaseURL, true)
	if h.System != "" && !httpNameRE.MatchString(h.System) {
		v.errorf(hp+".system", "%q is not a schema name; use lowercase letters, digits and '_'", h.System)
	}
	v.httpAuth(hp+".auth", h.Auth)
	rl := h.RateLimit
	if rl.RequestsPerSecond < 0 {
		v.errorf(hp+".rate_limit.requests_per_second", "must not be negative (0: unlimited)")
	}
	v.nonNegative(hp+".rate_limit.burst", rl.Burst)
	v.nonNegative(hp+".rate_limit.max_concurrent", rl.MaxConcurrent)
	v.header(hp+".rate_limit.remaining_header", rl.RemainingHeader)
	v.header(hp+".rate_limit.reset_header", rl.ResetHeader)
	if rl.ResetHeader != "" && rl.RemainingHeader == "" {
		v.errorf(hp+".rate_limit.reset_header", "needs rate_limit.remaining_header (the pause starts when it reaches 0)")
	}
	v.nonNegative(hp+".retry.max_attempts", h.Retry.MaxAttempts)
	for _, d := range []struct {
		key string
		d   time.Duration
	}{
		{"retry.initial_backoff", h.Retry.InitialBackoff}, {"retry.max_backoff", h.Retry.MaxBackoff},
		{"poll_interval", h.PollInterval}, {"settle", h.Settle}, {"max_runtime", h.MaxRuntime}, {"request_timeout", h.RequestTimeout},
	} {
		if d.d < 0 {
			v.errorf(hp+"."+d.key, "must not be negative")
		}
	}
	if h.Retry.MaxBackoff > 0 && h.Retry.InitialBackoff > h.Retry.MaxBackoff {
		v.errorf(hp+".retry.initial_backoff", "%s is above retry.max_backoff %s", h.Retry.InitialBackoff, h.Retry.MaxBackoff)
	}
	for i, s := range h.Retry.RetryOn {
		if s == "" {
			v.errorf(fmt.Sprintf("%s.retry.retry_on[%d]", hp, i), "empty string; list the texts whose presence in a 4xx body makes it retried")
		}
	}
	if len(h.Objects) == 0 {
		v.errorf(hp+".objects", "at least one object is required, for example objects: [{name: items, request: {path: /v1/items}, cursor: {field: updated_at}}]")
	}
	names := map[string]int{}
	for i, o := range h.Objects {
		op := fmt.Sprintf("%s.objects[%d]", hp, i)
		switch {
		case o.Name == "":
			v.errorf(op+".name", "required: the table name, lowercase letters, digits and '_'")
		case !httpNameRE.MatchString(o.Name):
			v.errorf(op+".name", "%q is not a table name; use lowercase letters, digits and '_'", o.Name)
		default:
			if j, dup := names[o.Name]; dup {
				v.errorf(op+".name", "duplicate object %q (also objects[%d])", o.Name, j)
			}
			names[o.Name] = i
		}
		v.httpObject(op, o)
	}
	return true
}

func (v *validator) httpAuth(key string, a HTTPAuth) {
	typ := a.Type
	if typ == "" {
		typ = "none"
	}
	if !slices.Contains(httpAuthTypes, typ) {
		v.errorf(key+".type", "unknown %q; use none, bearer, api_key, basic or oauth2", a.Type)
		return
	}
	// Keys of other types are mistakes: say which type they belong to.
	for _, k := range []struct {
		name, typ string
		set       bool
	}{
		{"token", "bearer", a.Token.IsSet()}, {"header", "api_key", a.Header != ""}, {"key", "api_key", a.Key.IsSet()},
		{"username", "basic", a.Username != ""}, {"password", "basic", a.Password.IsSet()},
		{"token_url", "oauth2", a.TokenURL != ""}, {"client_id", "oauth2", a.ClientID != ""},
		{"client_secret", "oauth2", a.ClientSecret.IsSet()}, {"scopes", "oauth2", len(a.Scopes) > 0},
	} {
		if k.set && k.typ != typ {
			v.errorf(key+"."+k.name, "only with auth.type %s (auth.type is %s)", k.typ, typ)
		}
	}
	switch typ {
	case "bearer":
		v.secret(key+".token", a.Token, "the bearer token with auth.type bearer, for example token: ${API_TOKEN}")
	case "api_key":
		v.header(key+".header", a.Header)
		v.secret(key+".key", a.Key, "the API key with auth.type api_key, for example key: ${API_KEY}")
	case "basic":
		if a.Username == "" {
			v.errorf(key+".username", "required with auth.type basic")
		}
		v.secret(key+".password", a.Password, "the password with auth.type basic, for example password: ${API_PASSWORD}")
	case "oauth2":
		v.baseURL(key+".token_url", a.TokenURL, true)
		if a.ClientID == "" {
			v.errorf(key+".client_id", "required with auth.type oauth2")
		}
		v.secret(key+".client_secret", a.ClientSecret, "the client secret with auth.type oauth2, for example client_secret: ${CLIENT_SECRET}")
	}
}

func (v *validator) httpObject(op string, o HTTPObject) {
	v.httpRequest(op+".request", o.Request)
	for _, f := range []struct{ key, path string }{
		{"records_path", o.RecordsPath}, {"id_field", o.IDField}, {"created_field", o.CreatedField}, {"row_path", o.RowPath},
	} {
		v.dotPath(op+"."+f.key, f.path)
	}
	switch {
	case o.IDField != "" && len(o.IDFields) > 0:
		v.errorf(op+".id_fields", "set id_field (one field) or id_fields (a composite key), not both")
	case len(o.IDFields) == 1:
		v.errorf(op+".id_fields", "a composite key needs two or more fields; for one, write id_field: %s", o.IDFields[0])
	}
	for j, f := range o.IDFields {
		if f == "" {
			v.errorf(fmt.Sprintf("%s.id_fields[%d]", op, j), "empty field path")
		}
		v.dotPath(fmt.Sprintf("%s.id_fields[%d]", op, j), f)
	}
	v.saasProperties(op, o.Properties, pathRE)
	c := o.Cursor
	if c.Field == "" {
		v.errorf(op+".cursor.field", "required: the dot path of the updated-at field, for example cursor: {field: updated_at}")
	} else {
		v.dotPath(op+".cursor.field", c.Field)
	}
	if c.Format != "" && !slices.Contains(httpCursorFormat, c.Format) {
		v.errorf(op+".cursor.format", "unknown %q; use rfc3339, unix_ms or unix", c.Format)
	}
	if c.Start != "" {
		if _, err := time.Parse(time.RFC3339Nano, c.Start); err != nil {
			v.errorf(op+".cursor.start", "%q is not an RFC 3339 time such as 2024-01-01T00:00:00Z", c.Start)
		}
	}
	if c.Lookback < 0 {
		v.errorf(op+".cursor.lookback", "must not be negative")
	}
	v.httpPagination(op+".pagination", o.Pagination)
	if d := o.Deletes; d != nil {
		dp := op + ".deletes"
		if d.StatusField == "" && d.Request == nil && d.Reconcile == nil {
			v.errorf(dp, "set status_field with status_values, request (an endpoint listing deleted records), or reconcile (a periodic listing of every key)")
		}
		if rc := d.Reconcile; rc != nil {
			v.httpReconcile(dp+".reconcile", *rc)
		}
		if d.StatusField != "" {
			v.dotPath(dp+".status_field", d.StatusField)
			if len(d.StatusValues) == 0 {
				v.errorf(dp+".status_values", "required with status_field, for example status_values: [deleted]")
			}
		} else if len(d.StatusValues) > 0 {
			v.errorf(dp+".status_field", "required with status_values: the dot path of the status field")
		}
		if d.Request != nil {
			v.httpRequest(dp+".request", *d.Request)
			v.httpPagination(dp+".pagination", d.Pagination)
			if d.DeletedAtField == "" {
				v.errorf(dp+".deleted_at_field", "required with deletes.request: the dot path of the deletion time")
			}
		} else {
			for _, k := range []struct {
				name string
				set  bool
			}{{"records_path", d.RecordsPath != ""}, {"id_field", d.IDField != ""}, {"deleted_at_field", d.DeletedAtField != ""}, {"pagination", d.Pagination != (saas.Pagination{})}} {
				if k.set {
					v.errorf(dp+"."+k.name, "only with deletes.request")
				}
			}
		}
		for _, f := range []struct{ key, path string }{{"records_path", d.RecordsPath}, {"id_field", d.IDField}, {"deleted_at_field", d.DeletedAtField}} {
			v.dotPath(dp+"."+f.key, f.path)
		}
	}
	if ops := o.Ops; ops != nil {
		if ops.Field == "" {
			v.errorf(op+".ops.field", "required with ops: the dot path of the field naming the change")
		}
		if len(ops.Values) == 0 {
			v.errorf(op+".ops.values", "at least one value is required, for example values: {customer.created: c}")
		}
		for k, val := range ops.Values {
			if val != "c" && val != "u" && val != "d" {
				v.errorf(op+".ops.values."+k, "%q: use c (create), u (update) or d (delete)", val)
			}
		}
	}
}

func (v *validator) httpReconcile(key string, rc saas.Reconcile) {
	if rc.Interval < 0 || (rc.Interval > 0 && rc.Interval < time.Minute) {
		v.errorf(key+".interval", "%s: use 1m or more (each reconciliation lists every key); default 6h", rc.Interval)
	}
	if rc.Request.Path == "" {
		v.errorf(key+".request.path", "required: the request listing every key, for example request: {path: /v1/items, query: {fields: id, offset: \"{{.Offset}}\"}}")
	}
	v.httpRequest(key+".request", rc.Request)
	v.dotPath(key+".records_path", rc.RecordsPath)
	v.dotPath(key+".id_field", rc.IDField)
	v.httpPagination(key+".pagination", rc.Pagination)
	if rc.MaxDeleteFraction < 0 || rc.MaxDeleteFraction > 1 {
		v.errorf(key+".max_delete_fraction", "%v: must be in (0, 1] (the share of the keys a listing may lack; default 0.5)", rc.MaxDeleteFraction)
	}
	if rc.Grace < 0 {
		v.errorf(key+".grace", "%s: must not be negative", rc.Grace)
	}
	if rc.Verify != nil {
		if rc.Verify.Path == "" {
			v.errorf(key+".verify.path", "required: the request of one record, templated with {{.ID}}, for example /v1/items/{{.ID}}")
		}
		v.httpRequest(key+".verify", *rc.Verify)
	} else if t := rc.Pagination.Type; t == "offset" || t == "page" || t == "link" {
		v.errorf(key+".verify", "required with pagination type %s: a record deleted while the keys are listed shifts the later ones to pages already read, so a key the listing lacks is confirmed gone by a request of its own, for example verify: {path: /v1/items/{{.ID}}}", t)
	}
}

func (v *validator) httpRequest(key string, r saas.Request) {
	switch strings.ToUpper(r.Method) {
	case "", "GET", "POST":
	default:
		v.errorf(key+".method", "%q: use GET or POST", r.Method)
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") && !strings.HasPrefix(r.Path, "{{") {
		v.errorf(key+".path", "%q must start with /: it is appended to base_url", r.Path)
	}
	v.template(key+".path", r.Path)
	v.template(key+".body", r.Body)
	for _, k := range slices.Sorted(maps.Keys(r.Query)) {
		v.template(key+".query."+k, r.Query[k])
	}
}

func (v *validator) httpPagination(key string, p saas.Pagination) {
	typ := p.Type
	if typ == "" {
		typ = "token"
	}
	switch {
	case !slices.Contains(httpPageTypes, typ):
		v.errorf(key+".type", "unknown %q; use token, next_url, after_last, offset, page, link or none", p.Type)
	case (typ == "token" || typ == "next_url" || typ == "after_last") && p.TokenPath == "":
		v.errorf(key+".token_path", "required with pagination type %s (the default is token; set pagination.type for another style)", typ)
	}
	for _, f := range []struct{ key, path string }{{"token_path", p.TokenPath}, {"more_path", p.MorePath}, {"end_path", p.EndPath}} {
		v.dotPath(key+"."+f.key, f.path)
	}
	if p.Order != "" && !slices.Contains(httpPageOrders, p.Order) {
		v.errorf(key+".order", "unknown %q; use ascending, descending or unordered", p.Order)
	}
	v.nonNegative(key+".limit", p.Limit)
	v.nonNegative(key+".max_results", p.MaxResults)
	limit := p.Limit
	if limit == 0 {
		limit = 100
	}
	if p.MaxResults > 0 && p.MaxResults < limit {
		v.errorf(key+".max_results", "%d is below the page limit %d", p.MaxResults, limit)
	}
}

func (v *validator) template(key, text string) {
	if err := saas.ParseTemplate(text); err != nil {
		v.errorf(key, "invalid template: %v", err)
	}
}

func (v *validator) dotPath(key, path string) {
	if path != "" && !pathRE.MatchString(path) {
		v.errorf(key, "%q is not a dot path (field names joined by '.')", path)
	}
}

func (v *validator) header(key, name string) {
	if name != "" && !headerRE.MatchString(name) {
		v.errorf(key, "%q is not an HTTP header name", name)
	}
}

func (v *validator) nonNegative(key string, n int) {
	if n < 0 {
		v.errorf(key, "must not be negative")
	}
}

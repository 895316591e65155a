package saas

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"

	"syncline/schemas"
)

// Config configures one SaaS source: a declarative description of how to
// poll an HTTP API for changed objects. The yaml tags are the keys of a
// `type: http` source in pipeline.yaml.
type Config struct {
	// Name is the source name; part of topic names. Required.
	Name string `yaml:"name"`
	// System names the provider in source.system; default "http".
	System string `yaml:"system"`
	// BaseURL is prepended to request paths. Required.
	BaseURL string `yaml:"base_url"`
	// Auth is how requests authenticate; default none.
	Auth Auth `yaml:"auth"`
	// Objects are the object types polled, one raw topic each. Required.
	Objects []Object `yaml:"objects"`
	// RateLimit bounds the request rate and concurrency.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Retry is how failed requests are retried.
	Retry Retry `yaml:"retry"`
	// PollInterval is the pause between polls; default 1m.
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxRuntime bounds one poll; an object whose window is not done by
	// then commits where it is and continues at the next poll. Default
	// 30m.
	MaxRuntime time.Duration `yaml:"max_runtime"`
	// RequestTimeout bounds one HTTP request; default 60s.
	RequestTimeout time.Duration `yaml:"request_timeout"`

	// Kafka settings, from the pipeline's kafka block.
	TopicPrefix string        `yaml:"-"`
	Partitions  int32         `yaml:"-"`
	RF          int16         `yaml:"-"`
	TxnTimeout  time.Duration `yaml:"-"`
}

// Auth configures request authentication.
type Auth struct {
	// Type is none (default), bearer, api_key or oauth2.
	Type string `yaml:"type"`
	// Token is the bearer token (type bearer).
	Token string `yaml:"token"`
	// Header and Key: the API key header and value (type api_key);
	// Header default "X-API-Key".
	Header string `yaml:"header"`
	Key    string `yaml:"key"`
	// OAuth2 client credentials (type oauth2): the token is fetched from
	// TokenURL, refreshed before it expires and after a 401.
	TokenURL     string   `yaml:"token_url"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
}

// RateLimit is a token bucket plus a cap on requests in flight.
type RateLimit struct {
	// RequestsPerSecond is the bucket's refill rate; 0 means unlimited.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Burst is the bucket size; default 1.
	Burst int `yaml:"burst"`
	// MaxConcurrent caps requests in flight; default 2.
	MaxConcurrent int `yaml:"max_concurrent"`
	// RemainingHeader names the response header holding the requests left
	// in the provider's window (X-RateLimit-Remaining style); at 0 the
	// client pauses for ResetHeader's duration before the next request.
	RemainingHeader string `yaml:"remaining_header"`
	// ResetHeader holds the time until the window resets, as seconds,
	// or as milliseconds when its name ends in "Milliseconds"; an epoch
	// timestamp in seconds is recognized too.
	ResetHeader string `yaml:"reset_header"`
}

// Retry configures retries of 429, 5xx, network errors and unreadable
// bodies: exponential backoff with full jitter, or the server's Retry-After.
type Retry struct {
	// MaxAttempts per request; default 8.
	MaxAttempts int `yaml:"max_attempts"`
	// InitialBackoff default 500ms; MaxBackoff default 30s.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	// RetryOn lists strings whose presence in the body of a 4xx answer
	// makes it retried like a 429 (Salesforce answers its API limit with
	// 403 REQUEST_LIMIT_EXCEEDED). Default none.
	RetryOn []string `yaml:"retry_on"`
}

// Object describes one object type.
type Object struct {
	// Name is the object type; the raw topic is
	// <prefix>.raw.<source>.<system>.<name>. Required.
	Name string `yaml:"name"`
	// Request fetches changed objects. Its templates see .Since/.Until
	// (the window, formatted as Cursor.Format), .SinceMs/.UntilMs,
	// .CursorID, .PageToken, .Offset, .Page, .Limit and .Tie (see
	// Pagination.TieBreak); func json quotes, rfc3339ms formats epoch
	// milliseconds with three fractional digits, seconds turns them into
	// epoch seconds.
	Request Request `yaml:"request"`
	// RecordsPath is the dot path of the records array in the response;
	// empty: the response is the array.
	RecordsPath string `yaml:"records_path"`
	// IDField is the dot path of the primary key in a record; default
	// "id". Several paths joined by commas (tenant,number) are a
	// composite key: the id is the JSON array of their values
	// (["acme","42"]).
	IDField string `yaml:"id_field"`
	// CreatedField, when set, tells creates (equal to the updated-at) from
	// updates.
	CreatedField string `yaml:"created_field"`
	// Cursor is the updated-at field and its window.
	Cursor Cursor `yaml:"cursor"`
	// Pagination within one window.
	Pagination Pagination `yaml:"pagination"`
	// Properties are typed columns taken from each record; the whole
	// record is also kept as JSON in the _raw column.
	Properties []Property `yaml:"properties"`
	// Deletes detects deleted objects; default none.
	Deletes *Deletes `yaml:"deletes"`
	// Ops, when set, takes each record's op from a field (an events API:
	// Stripe's event type); default none.
	Ops *Ops `yaml:"ops"`
	// RowPath is the dot path of the row within a record (the object an
	// event carries); properties and _raw are read from it, the id,
	// cursor, ops and status fields from the record. Default: the record.
	RowPath string `yaml:"row_path"`
	// Backfill, when set, reads the objects that exist from a list
	// endpoint before the first window, for a Request that only reaches
	// back so far (Stripe's events: 30 days); default none.
	Backfill *Backfill `yaml:"backfill"`
}

// Backfill is a snapshot of the existing objects read from a list
// endpoint as the initial sync: each listed object is op=r. Its start
// (the earliest of now minus the lookback and, for a descending request,
// the newest record's updated-at, in whole seconds) is recorded before
// the first page is read, and the updates are read from there on once
// the list is through, so a change made while it is read is not missed;
// the snapshot's records carry the position (and updated_at) one
// microsecond before the start, so those changes sort after them. The
// page token commits with the records: a killed backfill resumes.
type Backfill struct {
	// Request lists the objects (templated as the object's Request; the
	// window variables are empty). Required.
	Request Request `yaml:"request"`
	// RecordsPath, IDField (default "id") and Pagination: as for the
	// object, for Request; the records are the rows (no RowPath).
	RecordsPath string     `yaml:"records_path"`
	IDField     string     `yaml:"id_field"`
	Pagination  Pagination `yaml:"pagination"`
}

// Reconcile is delete detection by key reconciliation, for deletes an API
// shows nowhere (Mailchimp's permanently deleted members, Salesforce's
// records purged from the recycle bin): every Interval the object's
// primary keys are listed, and each key the source emitted and has not
// deleted that the listing lacks becomes op=d. The emitted keys are kept
// in a compacted topic, _<prefix>.state.keys.<source>.<object>, written
// in the same Kafka transaction as the records. The object's updates are
// not polled while its listing is read, so a record created meanwhile is
// not in that key set; a listing that fails or does not reach its last
// page emits nothing.
type Reconcile struct {
	// Interval between reconciliations; default 6h. The first one runs
	// an interval after the initial sync.
	Interval time.Duration `yaml:"interval"`
	// Request lists the keys (a keys-only request: fields=id, SELECT Id),
	// templated as the object's Request with empty window variables.
	// Required.
	Request Request `yaml:"request"`
	// RecordsPath, IDField (default the object's id_field) and Pagination
	// (type default token): as for the object, for Request.
	RecordsPath string     `yaml:"records_path"`
	IDField     string     `yaml:"id_field"`
	Pagination  Pagination `yaml:"pagination"`
	// Verify, when set, is requested for each key the listing lacks
	// (templated with .ID, the key): only a 404 or 410 answer makes it a
	// delete, a 2xx keeps it, anything else ends the reconciliation
	// without deletes. Required with offset, page and link pagination,
	// whose pages shift when a record is deleted while they are read.
	Verify *Request `yaml:"verify"`
	// MaxDeleteFraction: a listing that lacks more than this share of the
	// keys emitted is taken for a short listing (a cap, a provider fault
	// that still parses) and emits nothing; default 0.5, 1 allows any.
	MaxDeleteFraction float64 `yaml:"max_delete_fraction"`
	// Grace: a key whose last version is newer than this before the
	// listing started is not taken for deleted this time (a listing or
	// its index may lag behind the updates); default the cursor's
	// lookback plus settle, at least a minute.
	Grace time.Duration `yaml:"grace"`
}

// Ops maps the values of a record field to change operations.
type Ops struct {
	// Field is the dot path of the field. Required.
	Field string `yaml:"field"`
	// Values maps a field value to c (create), u (update) or d (delete);
	// records with a value not listed are skipped. Before the initial
	// sync is complete, c and u are r as for any record.
	Values map[string]string `yaml:"values"`
}

// Request is an HTTP request with templated query and body.
type Request struct {
	// Method default GET.
	Method string `yaml:"method"`
	// Path is appended to the base URL (templated).
	Path string `yaml:"path"`
	// Query parameters (values templated; an empty result is omitted).
	Query map[string]string `yaml:"query"`
	// Body is a template for the request body (JSON).
	Body string `yaml:"body"`
}

// Cursor describes the updated-at field.
type Cursor struct {
	// Field is the dot path of the updated-at. Required.
	Field string `yaml:"field"`
	// Format of Field and of .Since/.Until: rfc3339 (default), unix_ms or
	// unix.
	Format string `yaml:"format"`
	// Start is where the first window starts; default the epoch.
	Start time.Time `yaml:"start"`
	// Lookback re-reads this much before the last seen updated-at at every
	// poll, for records that become visible late (search indexes lag);
	// re-read records are deduplicated. Default 0: only records sharing
	// the last timestamp are re-read.
	Lookback time.Duration `yaml:"lookback"`
	// Settle keeps the window's end this far behind now, so records still
	// being indexed are read by the next poll. Default 0.
	Settle time.Duration `yaml:"settle"`
}

// Pagination describes how the pages of one window are fetched.
type Pagination struct {
	// Type is token (default), next_url, after_last, offset, page, link
	// or none.
	Type string `yaml:"type"`
	// TokenPath is the dot path of the next page token (type token); of
	// the next page's URL, absolute or relative to the request's
	// (type next_url: Salesforce's nextRecordsUrl); of the field of the
	// page's last record the next page starts after (type after_last:
	// Stripe's starting_after=<id>). The token is .PageToken.
	TokenPath string `yaml:"token_path"`
	// MorePath is the dot path of a boolean saying more pages follow
	// (has_more); when set, a false or missing value ends the window.
	MorePath string `yaml:"more_path"`
	// EndPath is the dot path of a boolean saying the page is the last
	// one (end_of_stream) although it carries a token.
	EndPath string `yaml:"end_path"`
	// ExpiringTokens says page tokens do not outlive the process
	// (Salesforce query locators expire): a window resumed from the
	// checkpoint starts a new query at the last updated-at it read (its
	// records there are in the seen set) instead of using the stored
	// token.
	ExpiringTokens bool `yaml:"expiring_tokens"`
	// Order is the order of a window's records: ascending (default: by
	// updated-at), descending (newest first: Stripe's lists) or
	// unordered (Mailchimp's list order). For the latter two the cursor
	// moves only when the window is complete, and the window keeps its
	// own seen set: for descending its head (within the lookback of its
	// latest updated-at) and the records at its oldest updated-at so
	// far; for unordered all of its records, up to 10,000 (past that
	// the oldest beyond the head are forgotten).
	Order string `yaml:"order"`
	// Limit is the page size passed as .Limit; default 100.
	Limit int `yaml:"limit"`
	// StartPage is the first page number (type page); default 1.
	StartPage int `yaml:"start_page"`
	// MaxResults is the most results the API pages over for one query
	// (HubSpot search: 10,000). Before a page would pass it, the window is
	// narrowed: a new query starts at the last updated-at seen.
	MaxResults int `yaml:"max_results"`
	// TieBreak says the request templates implement .Tie (records at
	// exactly .Since with an id above .CursorID, in id order, a page at a
	// time): when more records share one updated-at than MaxResults, they
	// are read that way instead of failing.
	TieBreak bool `yaml:"tie_break"`
}

// Property is a typed column taken from a record.
type Property struct {
	// Path is the dot path in the record. Required.
	Path string `yaml:"path"`
	// Column is the column name; default the last path element.
	Column string `yaml:"column"`
	// Type is string (default), int64, float64, bool, timestamp or json.
	Type string `yaml:"type"`
}

// Deletes describes delete detection.
type Deletes struct {
	// Request lists deleted (archived) objects; its records produce op=d.
	// It is read completely at every poll (such endpoints rarely filter
	// by time); deletes already emitted are deduplicated by
	// DeletedAtField.
	Request *Request `yaml:"request"`
	// RecordsPath, IDField, Pagination: as for the object, for Request.
	RecordsPath string     `yaml:"records_path"`
	IDField     string     `yaml:"id_field"`
	Pagination  Pagination `yaml:"pagination"`
	// DeletedAtField is the dot path of the deletion time in Request's
	// records (format as the cursor's). Required with Request.
	DeletedAtField string `yaml:"deleted_at_field"`
	// StatusField and StatusValue: a record of the main request whose
	// StatusField equals StatusValue, or one of StatusValues, is a delete.
	StatusField  string   `yaml:"status_field"`
	StatusValue  string   `yaml:"status_value"`
	StatusValues []string `yaml:"status_values"`
	// Reconcile detects deletes by listing the keys periodically.
	Reconcile *Reconcile `yaml:"reconcile"`
}

func (c *Config) defaults() {
	if c.System == "" {
		c.System = "http"
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Minute
	}
	if c.MaxRuntime <= 0 {
		c.MaxRuntime = 30 * time.Minute
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.RateLimit.Burst <= 0 {
		c.RateLimit.Burst = 1
	}
	if c.RateLimit.MaxConcurrent <= 0 {
		c.RateLimit.MaxConcurrent = 2
	}
	if c.Retry.MaxAttempts <= 0 {
		c.Retry.MaxAttempts = 8
	}
	if c.Retry.InitialBackoff <= 0 {
		c.Retry.InitialBackoff = 500 * time.Millisecond
	}
	if c.Retry.MaxBackoff <= 0 {
		c.Retry.MaxBackoff = 30 * time.Second
	}
	if c.Auth.Type == "api_key" && c.Auth.Header == "" {
		c.Auth.Header = "X-API-Key"
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = "syncline"
	}
	if c.Partitions <= 0 {
		c.Partitions = 4
	}
	if c.TxnTimeout <= 0 {
		c.TxnTimeout = 60 * time.Second
	}
	for i := range c.Objects {
		o := &c.Objects[i]
		if o.IDField == "" {
			o.IDField = "id"
		}
		if o.Cursor.Format == "" {
			o.Cursor.Format = "rfc3339"
		}
		o.Pagination.defaults()
		if d := o.Deletes; d != nil {
			if d.IDField == "" {
				d.IDField = o.IDField
			}
			d.Pagination.defaults()
			if rc := d.Reconcile; rc != nil {
				if rc.Interval <= 0 {
					rc.Interval = 6 * time.Hour
				}
				if rc.IDField == "" {
					rc.IDField = o.IDField
				}
				if rc.MaxDeleteFraction == 0 {
					rc.MaxDeleteFraction = 0.5
				}
				if rc.Grace == 0 {
					rc.Grace = max(o.Cursor.Lookback+o.Cursor.Settle, time.Minute)
				}
				rc.Pagination.defaults()
			}
		}
		if b := o.Backfill; b != nil {
			if b.IDField == "" {
				b.IDField = "id"
			}
			b.Pagination.defaults()
		}
	}
}

func (p *Pagination) defaults() {
	if p.Type == "" {
		p.Type = "token"
	}
	if p.Limit <= 0 {
		p.Limit = 100
	}
	if p.StartPage == 0 {
		p.StartPage = 1
	}
}

// Validate checks the configuration after defaults; errors name the key.
func (c *Config) Validate() error {
	c.defaults()
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if c.Name == "" {
		bad("name", "required")
	}
	if u, err := url.Parse(c.BaseURL); c.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		bad("base_url", "required: an http:// or https:// URL, got %q", c.BaseURL)
	}
	switch c.Auth.Type {
	case "", "none":
	case "bearer":
		if c.Auth.Token == "" {
			bad("auth.token", "required with auth.type bearer")
		}
	case "api_key":
		if c.Auth.Key == "" {
			bad("auth.key", "required with auth.type api_key")
		}
	case "oauth2":
		if c.Auth.TokenURL == "" || c.Auth.ClientID == "" || c.Auth.ClientSecret == "" {
			bad("auth", "auth.type oauth2 needs token_url, client_id and client_secret")
		}
	default:
		bad("auth.type", "unknown %q: use none, bearer, api_key or oauth2", c.Auth.Type)
	}
	if c.RateLimit.RequestsPerSecond < 0 {
		bad("rate_limit.requests_per_second", "must not be negative")
	}
	if len(c.Objects) == 0 {
		bad("objects", "at least one object is required")
	}
	seen := map[string]bool{}
	for i, o := range c.Objects {
		p := fmt.Sprintf("objects[%d]", i)
		if o.Name == "" {
			bad(p+".name", "required")
		} else if seen[o.Name] {
			bad(p+".name", "duplicate object %q", o.Name)
		}
		seen[o.Name] = true
		errs = append(errs, o.Request.validate(p+".request")...)
		if o.Cursor.Field == "" {
			bad(p+".cursor.field", "required: the dot path of the updated-at field")
		}
		if !slices.Contains([]string{"rfc3339", "unix_ms", "unix"}, o.Cursor.Format) {
			bad(p+".cursor.format", "unknown %q: use rfc3339, unix_ms or unix", o.Cursor.Format)
		}
		errs = append(errs, o.Pagination.validate(p+".pagination")...)
		cols := map[string]bool{"id": true, "updated_at": true, "_raw": true}
		for j, pr := range o.Properties {
			pp := fmt.Sprintf("%s.properties[%d]", p, j)
			if pr.Path == "" {
				bad(pp+".path", "required")
			}
			if _, ok := kinds[pr.Type]; !ok {
				bad(pp+".type", "unknown %q: use string, int64, float64, bool, timestamp or json", pr.Type)
			}
			if col := pr.column(); cols[col] {
				bad(pp+".column", "column %q is used twice (id, updated_at and _raw are reserved)", col)
			} else {
				cols[col] = true
			}
		}
		if d := o.Deletes; d != nil {
			if d.Request != nil {
				errs = append(errs, d.Request.validate(p+".deletes.request")...)
				errs = append(errs, d.Pagination.validate(p+".deletes.pagination")...)
				if d.DeletedAtField == "" {
					bad(p+".deletes.deleted_at_field", "required with deletes.request")
				}
			}
			if (d.StatusField == "") != (d.StatusValue == "" && len(d.StatusValues) == 0) {
				bad(p+".deletes.status_field", "status_field and status_value (or status_values) go together")
			}
			if rc := d.Reconcile; rc != nil {
				rp := p + ".deletes.reconcile"
				errs = append(errs, rc.Request.validate(rp+".request")...)
				errs = append(errs, rc.Pagination.validate(rp+".pagination")...)
				if rc.Request.Path == "" {
					bad(rp+".request.path", "required: the request listing the keys")
				}
				if rc.MaxDeleteFraction < 0 || rc.MaxDeleteFraction > 1 {
					bad(rp+".max_delete_fraction", "must be in (0, 1], not %v", rc.MaxDeleteFraction)
				}
				if rc.Grace < 0 {
					bad(rp+".grace", "must not be negative")
				}
				if rc.Verify != nil {
					errs = append(errs, rc.Verify.validate(rp+".verify")...)
				} else if t := rc.Pagination.Type; t == "offset" || t == "page" || t == "link" {
					bad(rp+".verify", "required with pagination type %s: a record deleted while the listing is read shifts the later ones to earlier pages, and a key it skips must be confirmed gone", t)
				}
			}
		}
		if b := o.Backfill; b != nil {
			errs = append(errs, b.Request.validate(p+".backfill.request")...)
			errs = append(errs, b.Pagination.validate(p+".backfill.pagination")...)
			if b.Request.Path == "" {
				bad(p+".backfill.request.path", "required: the request listing the objects")
			}
		}
		if ops := o.Ops; ops != nil {
			if ops.Field == "" {
				bad(p+".ops.field", "required with ops")
			}
			if len(ops.Values) == 0 {
				bad(p+".ops.values", "at least one value is required, for example {customer.created: c}")
			}
			for k, op := range ops.Values {
				if op != "c" && op != "u" && op != "d" {
					bad(p+".ops.values."+k, "%q: use c, u or d", op)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (r Request) validate(key string) []error {
	var errs []error
	switch strings.ToUpper(r.Method) {
	case "", "GET", "POST":
	default:
		errs = append(errs, fmt.Errorf("%s.method: %q: use GET or POST", key, r.Method))
	}
	for name, t := range map[string]string{"path": r.Path, "body": r.Body} {
		if _, err := newTemplate(t); err != nil {
			errs = append(errs, fmt.Errorf("%s.%s: %w", key, name, err))
		}
	}
	for k, v := range r.Query {
		if _, err := newTemplate(v); err != nil {
			errs = append(errs, fmt.Errorf("%s.query.%s: %w", key, k, err))
		}
	}
	return errs
}

func (p Pagination) validate(key string) []error {
	var errs []error
	switch p.Type {
	case "token", "next_url", "after_last":
		if p.TokenPath == "" {
			errs = append(errs, fmt.Errorf("%s.token_path: required with pagination type %s", key, p.Type))
		}
	case "offset", "page", "link", "none":
	default:
		errs = append(errs, fmt.Errorf("%s.type: unknown %q: use token, next_url, after_last, offset, page, link or none", key, p.Type))
	}
	switch p.Order {
	case "", "ascending", "descending", "unordered":
	default:
		errs = append(errs, fmt.Errorf("%s.order: unknown %q: use ascending, descending or unordered", key, p.Order))
	}
	if p.MaxResults < 0 {
		errs = append(errs, fmt.Errorf("%s.max_results: must not be negative", key))
	}
	if p.MaxResults > 0 && p.MaxResults < p.Limit {
		errs = append(errs, fmt.Errorf("%s.max_results: %d is below the page limit %d", key, p.MaxResults, p.Limit))
	}
	return errs
}

// kinds maps a property type to its column kind.
var kinds = map[string]schemas.Kind{
	"": schemas.KindString, "string": schemas.KindString, "int64": schemas.KindInt64, "float64": schemas.KindFloat64,
	"bool": schemas.KindBool, "timestamp": schemas.KindTimestampTZ, "json": schemas.KindJSON,
}

func (p Property) column() string {
	if p.Column != "" {
		return p.Column
	}
	i := strings.LastIndexByte(p.Path, '.')
	return p.Path[i+1:]
}

func newTemplate(text string) (*template.Template, error) {
	return template.New("").Funcs(templateFuncs).Option("missingkey=error").Parse(text)
}

// ParseTemplate checks a request template (path, query value or body) as
// the source compiles it, with its functions, for configuration loaders
// that report errors at load time. It also executes it once with empty
// values so that a misspelt variable (.Sinse) is reported too; other
// failures of that run (a function refusing an empty value) are not
// errors.
func ParseTemplate(text string) error {
	t, err := newTemplate(text)
	if err != nil {
		return err
	}
	if _, err := render(t, vars{}); err != nil && strings.Contains(err.Error(), "can't evaluate field") {
		return err
	}
	return nil
}

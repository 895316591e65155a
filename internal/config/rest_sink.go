package config

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// SinkRetry configures the retry queue of a SaaS sink (hubspot, rest):
// rows the provider refused for a transient reason are tried again after
// a backoff, and parked in the DLQ (reason retries_exhausted) after
// MaxAttempts attempts.
type SinkRetry struct {
	// MaxAttempts counts the first attempt; default 10.
	MaxAttempts int `yaml:"max_attempts"`
	// InitialBackoff before the first retry, doubling per attempt up to
	// MaxBackoff, with jitter: defaults 5s and 10m.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
}

// IsSet reports whether the retry block is present.
func (r SinkRetry) IsSet() bool {
	return r.MaxAttempts != 0 || r.InitialBackoff != 0 || r.MaxBackoff != 0
}

// RESTSink is the rest block of a sink of type rest: a generic REST API
// written one record per request or in batches.
type RESTSink struct {
	// BaseURL is the API root, http:// or https://. Required.
	BaseURL string `yaml:"base_url"`
	// Auth is how requests authenticate; default none.
	Auth RESTAuth `yaml:"auth"`
	// IDField is the mapped field that identifies a record at the API:
	// {id} in paths. Required; it must be one of Fields.
	IDField string `yaml:"id_field"`
	// Upsert is the request that creates or updates a record. Required.
	Upsert RESTRequest `yaml:"upsert"`
	// Delete is the request that deletes one; without it deletes are
	// ignored.
	Delete RESTRequest `yaml:"delete"`
	// Read is the request that reads one record back (GET, path with
	// {id}), for syncline diff; without it the sink cannot be compared.
	Read RESTRequest `yaml:"read"`
	// Fields map body fields to columns or constants. Required.
	Fields []HubSpotSinkProperty `yaml:"fields"`
	// IdempotencyHeader carries a key derived from (topic, key,
	// position) with every request; default Idempotency-Key.
	IdempotencyHeader string `yaml:"idempotency_header"`
	// Headers are sent with every request; values are never logged.
	Headers []WebhookHeader `yaml:"headers"`
	// RequestsPerSecond paces requests; default 10.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Timeout bounds one attempt; default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// RESTAuth is the authentication of a rest sink.
type RESTAuth struct {
	// Type is none (default), bearer, api_key or basic.
	Type string `yaml:"type"`
	// Token is the bearer token (type bearer).
	Token Secret `yaml:"token"`
	// Header and Key: the API key header (default X-API-Key) and value
	// (type api_key).
	Header string `yaml:"header"`
	Key    Secret `yaml:"key"`
	// Username and Password (type basic).
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
}

// RESTRequest is one request template of a rest sink.
type RESTRequest struct {
	// Method default PUT for upsert, DELETE for delete.
	Method string `yaml:"method"`
	// Path below BaseURL; {id} and, for upserts, {<field>} are replaced
	// by the record's (path-escaped) values, for example
	// /v1/customers/{id}.
	Path string `yaml:"path"`
	// BatchField, when set, sends up to batch_size records per request
	// as a JSON array under this field ({"items": [...]}); the path then
	// has no placeholders.
	BatchField string `yaml:"batch_field"`
}

// IsSet reports whether the rest block is present.
func (r RESTSink) IsSet() bool {
	return r.BaseURL != "" || r.Auth != (RESTAuth{}) || r.IDField != "" || r.Upsert != (RESTRequest{}) || r.Delete != (RESTRequest{}) || r.Read != (RESTRequest{}) ||
		len(r.Fields) > 0 || r.IdempotencyHeader != "" || len(r.Headers) > 0 || r.RequestsPerSecond != 0 || r.Timeout != 0
}

var (
	restPlaceholderRE = regexp.MustCompile(`\{([^{}]*)\}`)
	restMethods       = []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
)

// sinkSystem checks a sink's system: a configured source, and a SaaS sink.
func (v *validator) sinkSystem(p string, s Sink) {
	if s.System == "" {
		return
	}
	if s.WriteBack.IsSet() && s.Type == SinkPostgres {
		return // checked by writeBack
	}
	if !s.Type.saas() {
		v.errorf(p+".system", "only for sinks of type %s (the source that reads the system the sink writes)", listOf(saasSinkTypes))
		return
	}
	if _, ok := v.c.source(s.System); !ok {
		v.errorf(p+".system", "unknown source %q: name the source that reads the system this sink writes (two-way sync)", s.System)
	}
}

// sinkRetry checks the retry block of a sink.
func (v *validator) sinkRetry(p string, s Sink) {
	v.sinkSystem(p, s)
	r := s.Retry
	if !r.IsSet() {
		return
	}
	rp := p + ".retry"
	if !s.Type.saas() {
		v.errorf(rp, "only for sinks of type %s", listOf(saasSinkTypes))
		return
	}
	if r.MaxAttempts < 0 {
		v.errorf(rp+".max_attempts", "must not be negative")
	}
	if r.InitialBackoff < 0 {
		v.errorf(rp+".initial_backoff", "must not be negative")
	}
	if r.MaxBackoff < 0 {
		v.errorf(rp+".max_backoff", "must not be negative")
	}
	if r.InitialBackoff > 0 && r.MaxBackoff > 0 && r.MaxBackoff < r.InitialBackoff {
		v.errorf(rp+".max_backoff", "%v is below initial_backoff %v", r.MaxBackoff, r.InitialBackoff)
	}
}

// restSink checks a sink of type rest.
func (v *validator) restSink(p string, s Sink) {
	r := s.REST
	rp := p + ".rest"
	if !r.IsSet() {
		v.errorf(rp, "required for a sink of type rest, for example:\n  rest:\n    base_url: https://api.example.com\n    auth: {type: bearer, token: ${API_TOKEN}}\n    id_field: id\n    upsert: {method: PUT, path: /v1/customers/{id}}\n    delete: {method: DELETE, path: /v1/customers/{id}}\n    fields:\n      - {name: id, from: id}\n      - {name: email, from: email, transform: email}")
		return
	}
	if s.DSN.IsSet() {
		v.errorf(p+".dsn", "not used by a sink of type rest; remove it")
	}
	if s.Reconcile.Interval != 0 {
		v.errorf(p+".reconcile.interval", "scheduled reconciliation is not supported for a sink of type rest")
	}
	if u, err := url.Parse(r.BaseURL); r.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.errorf(rp+".base_url", "required: an http:// or https:// URL, for example base_url: https://api.example.com")
	}
	a := r.Auth
	ap := rp + ".auth"
	switch a.Type {
	case "", "none":
	case "bearer":
		if !a.Token.IsSet() {
			v.errorf(ap+".token", "required for auth type bearer, for example token: ${API_TOKEN}")
		}
	case "api_key":
		if !a.Key.IsSet() {
			v.errorf(ap+".key", "required for auth type api_key, for example key: ${API_KEY}")
		}
		if a.Header != "" && !validHeaderName(a.Header) {
			v.errorf(ap+".header", "%q is not a header name", a.Header)
		}
	case "basic":
		if a.Username == "" {
			v.errorf(ap+".username", "required for auth type basic")
		}
		if !a.Password.IsSet() {
			v.errorf(ap+".password", "required for auth type basic, for example password: ${API_PASSWORD}")
		}
	default:
		v.errorf(ap+".type", "unknown %q; use none, bearer, api_key or basic", a.Type)
	}
	names := map[string]int{}
	if len(r.Fields) == 0 {
		v.errorf(rp+".fields", "at least one field is required, for example fields: [{name: id, from: id}]")
	}
	for i, f := range r.Fields {
		fp := fmt.Sprintf("%s.fields[%d]", rp, i)
		if f.Name == "" {
			v.errorf(fp+".name", "required: the body field name")
		} else if j, dup := names[f.Name]; dup {
			v.errorf(fp+".name", "duplicate field %q (also fields[%d])", f.Name, j)
		} else {
			names[f.Name] = i
		}
		if f.From == "" && f.Value == "" {
			v.errorf(fp, "set from (a column) or value (a constant)")
		}
		if !slices.Contains(hubspotSinkTransforms, f.Transform) {
			v.errorf(fp+".transform", "unknown transform %q; use email, phone, country, company_name, trim, lowercase or uppercase", f.Transform)
		}
		if f.Region != "" && f.Transform != "phone" {
			v.errorf(fp+".region", "only for transform: phone")
		}
	}
	if r.IDField == "" {
		v.errorf(rp+".id_field", "required: the field that identifies a record at the API ({id} in paths), for example id_field: id")
	} else if _, ok := names[r.IDField]; !ok && len(r.Fields) > 0 {
		v.errorf(rp+".id_field", "%q is not one of the fields; map it, for example {name: %s, from: %s}", r.IDField, r.IDField, r.IDField)
	}
	if r.Upsert.Path == "" {
		v.errorf(rp+".upsert.path", "required, for example upsert: {method: PUT, path: /v1/customers/{id}}")
	}
	v.restRequest(rp+".upsert", r.Upsert, names)
	if r.Delete != (RESTRequest{}) {
		if r.Delete.Path == "" {
			v.errorf(rp+".delete.path", "required when delete is set, for example delete: {method: DELETE, path: /v1/customers/{id}}")
		}
		v.restRequest(rp+".delete", r.Delete, map[string]int{r.IDField: 0})
	}
	if r.Read != (RESTRequest{}) {
		v.restRead(rp+".read", r.Read, r.IDField)
	}
	if r.IdempotencyHeader != "" && !validHeaderName(r.IdempotencyHeader) {
		v.errorf(rp+".idempotency_header", "%q is not a header name", r.IdempotencyHeader)
	}
	for i, h := range r.Headers {
		hp := fmt.Sprintf("%s.headers[%d]", rp, i)
		if !validHeaderName(h.Name) {
			v.errorf(hp+".name", "%q is not a header name", h.Name)
		}
		if strings.ContainsAny(h.Value.Value(), "\r\n\x00") {
			v.errorf(hp+".value", "contains a line break or NUL")
		}
	}
	if r.RequestsPerSecond < 0 {
		v.errorf(rp+".requests_per_second", "must not be negative")
	}
	if r.Timeout < 0 {
		v.errorf(rp+".timeout", "must not be negative")
	}
}

func (v *validator) restRequest(p string, r RESTRequest, fields map[string]int) {
	if r.Method != "" && !slices.Contains(restMethods, strings.ToUpper(r.Method)) {
		v.errorf(p+".method", "%q: use POST, PUT, PATCH or DELETE", r.Method)
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
		v.errorf(p+".path", "%q must start with /", r.Path)
	}
	phs := restPlaceholderRE.FindAllStringSubmatch(r.Path, -1)
	if r.BatchField != "" && len(phs) > 0 {
		v.errorf(p+".path", "%q: a batch request (batch_field) has no placeholders", r.Path)
	}
	for _, ph := range phs {
		if _, ok := fields[ph[1]]; !ok && ph[1] != "id" {
			v.errorf(p+".path", "placeholder {%s} is not a mapped field", ph[1])
		}
	}
}

// restRead checks the read request of a rest sink: one record by {id}.
func (v *validator) restRead(p string, r RESTRequest, idField string) {
	if r.Method != "" && !strings.EqualFold(r.Method, http.MethodGet) {
		v.errorf(p+".method", "%q: a read is a GET", r.Method)
	}
	if r.BatchField != "" {
		v.errorf(p+".batch_field", "a read takes one record per request; remove batch_field")
	}
	switch {
	case r.Path == "":
		v.errorf(p+".path", "required when read is set, for example read: {path: /v1/customers/{id}}")
	case !strings.HasPrefix(r.Path, "/"):
		v.errorf(p+".path", "%q must start with /", r.Path)
	}
	phs := restPlaceholderRE.FindAllStringSubmatch(r.Path, -1)
	for _, ph := range phs {
		if ph[1] != "id" && ph[1] != idField {
			v.errorf(p+".path", "placeholder {%s}: only {id} is known for a read", ph[1])
		}
	}
	if r.Path != "" && len(phs) == 0 {
		v.errorf(p+".path", "%q has no {id}: a read names the record", r.Path)
	}
}

func validHeaderName(h string) bool {
	return h != "" && !strings.ContainsAny(h, " \t\r\n:()<>@,;\\\"/[]?={}")
}

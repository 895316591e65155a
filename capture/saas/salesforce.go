package saas

import (
	"slices"
	"strings"
	"time"
)

// Polling holds the settings the Salesforce, Stripe, Zendesk and
// Mailchimp profiles share; zero values take the profile's defaults.
type Polling struct {
	// Lookback and Settle: as in Cursor.
	Lookback time.Duration `yaml:"lookback"`
	Settle   time.Duration `yaml:"settle"`
	// RequestsPerSecond, Burst and MaxConcurrent: as in RateLimit.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	Burst             int     `yaml:"burst"`
	MaxConcurrent     int     `yaml:"max_concurrent"`
	// PollInterval, MaxRuntime, RequestTimeout, Retry: as in Config.
	PollInterval   time.Duration `yaml:"poll_interval"`
	MaxRuntime     time.Duration `yaml:"max_runtime"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
	Retry          Retry         `yaml:"retry"`
}

// config returns the generic Config of a profile with these settings,
// the profile's defaults (def) filling the zero ones.
func (p Polling) config(name, system, baseURL string, auth Auth, def Polling) Config {
	pick := func(v, d time.Duration) time.Duration {
		if v == 0 {
			return d
		}
		return v
	}
	if p.RequestsPerSecond == 0 {
		p.RequestsPerSecond = def.RequestsPerSecond
	}
	if p.MaxConcurrent == 0 {
		p.MaxConcurrent = def.MaxConcurrent
	}
	if p.Retry.RetryOn == nil {
		p.Retry.RetryOn = def.Retry.RetryOn
	}
	return Config{
		Name: name, System: system, BaseURL: baseURL, Auth: auth,
		RateLimit: RateLimit{RequestsPerSecond: p.RequestsPerSecond, Burst: p.Burst, MaxConcurrent: p.MaxConcurrent},
		Retry:     p.Retry, PollInterval: pick(p.PollInterval, def.PollInterval), MaxRuntime: p.MaxRuntime, RequestTimeout: p.RequestTimeout,
	}
}

// cursor returns a cursor on field with these settings' lookback and
// settle, the defaults filling zero ones.
func (p Polling) cursor(field, format string, def Polling) Cursor {
	c := Cursor{Field: field, Format: format, Lookback: p.Lookback, Settle: p.Settle}
	if c.Lookback == 0 {
		c.Lookback = def.Lookback
	}
	if c.Settle == 0 {
		c.Settle = def.Settle
	}
	return c
}

// properties are the typed columns of fields (dot paths into a record);
// a column is named after its path with dots as '_'.
func properties(fields []string, types map[string]string) []Property {
	var out []Property
	for _, f := range fields {
		out = append(out, Property{Path: f, Column: strings.ReplaceAll(f, ".", "_"), Type: types[f]})
	}
	return out
}

// tableName is the object (table, topic) name of an object type: lower
// case (sObject names are case-insensitive, and the tables of sinks'
// from entries fold to lower case), '_' for '.' (Stripe's
// checkout.session).
func tableName(typ string) string { return strings.ReplaceAll(strings.ToLower(typ), ".", "_") }

// Salesforce configures the Salesforce profile: each sObject type is read
// with a SOQL query on SystemModstamp (ties ordered by Id) through
// queryAll, which returns deleted records too (IsDeleted: op=d), paged
// with nextRecordsUrl. Records purged from the recycle bin (emptied, or
// hard deleted) vanish from queryAll: a key reconciliation every
// ReconcileInterval lists the ids (SELECT Id through queryAll, whose
// query locator fixes the result set) and makes each record it no longer
// holds op=d.
type Salesforce struct {
	// Name is the source name. Required.
	Name string `yaml:"name"`
	// InstanceURL is the org's API root
	// (https://yourorg.my.salesforce.com). Required.
	InstanceURL string `yaml:"instance_url"`
	// APIVersion default "61.0".
	APIVersion string `yaml:"api_version"`
	// Token is an OAuth access token (bearer). Either Token or Auth
	// (type oauth2: the client credentials flow, token_url
	// <instance>/services/oauth2/token) is required.
	Token string `yaml:"token"`
	Auth  Auth   `yaml:"auth"`
	// Objects are the sObject types polled (Type: the sObject API name,
	// Account, Contact, Invoice__c; Properties: field API names,
	// relationship paths such as Owner.Email allowed; Id,
	// SystemModstamp, CreatedDate and IsDeleted are always read).
	// Required.
	Objects []ProfileObject `yaml:"objects"`
	// ReconcileInterval is the time between key reconciliations; default
	// 6h.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// Polling: defaults lookback 2m (a long transaction commits with an
	// earlier SystemModstamp), settle 10s, 2 requests per second, poll
	// every minute; 403 REQUEST_LIMIT_EXCEEDED is retried.
	Polling `yaml:",inline"`
}

// ProfileObject is one object type of a profile.
type ProfileObject struct {
	// Type is the object type. Required.
	Type string `yaml:"type"`
	// Properties are the dot paths kept as typed columns (the column is
	// the path with '_' for '.'); Types maps a path to its column type
	// (default string).
	Properties []string          `yaml:"properties"`
	Types      map[string]string `yaml:"types"`
}

// SalesforceDefaults are the Salesforce profile's defaults.
var SalesforceDefaults = Polling{
	Lookback: 2 * time.Minute, Settle: 10 * time.Second, RequestsPerSecond: 2, MaxConcurrent: 2, PollInterval: time.Minute,
	Retry: Retry{RetryOn: []string{"REQUEST_LIMIT_EXCEEDED"}},
}

// salesforceFields are read for every sObject.
var salesforceFields = []string{"Id", "SystemModstamp", "CreatedDate", "IsDeleted"}

// Config returns the generic configuration of the profile.
func (s Salesforce) Config() Config {
	if s.APIVersion == "" {
		s.APIVersion = "61.0"
	}
	auth := s.Auth
	if auth.Type == "" {
		auth = Auth{Type: "bearer", Token: s.Token}
	}
	c := s.Polling.config(s.Name, "salesforce", s.InstanceURL, auth, SalesforceDefaults)
	for _, o := range s.Objects {
		fields := slices.Clone(salesforceFields)
		for _, f := range o.Properties {
			if !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
		// The window is [Since, Until) in milliseconds, SystemModstamp's
		// precision; the query locator fixes the result set, so pages
		// neither skip nor repeat records sharing a timestamp.
		q := "SELECT " + strings.Join(fields, ", ") + " FROM " + o.Type +
			" WHERE SystemModstamp >= {{rfc3339ms .SinceMs}} AND SystemModstamp < {{rfc3339ms .UntilMs}} ORDER BY SystemModstamp, Id"
		var own []string
		for _, f := range o.Properties {
			if !slices.Contains(salesforceFields, f) {
				own = append(own, f)
			}
		}
		c.Objects = append(c.Objects, Object{
			Name:         tableName(o.Type),
			Request:      Request{Path: "/services/data/v" + s.APIVersion + "/queryAll", Query: map[string]string{"q": q}},
			RecordsPath:  "records",
			IDField:      "Id",
			CreatedField: "CreatedDate",
			Cursor:       s.Polling.cursor("SystemModstamp", "rfc3339", SalesforceDefaults),
			// Query locators expire after 15 idle minutes: a resumed
			// window starts a new query at its last SystemModstamp.
			Pagination: Pagination{Type: "next_url", TokenPath: "nextRecordsUrl", Limit: 2000, ExpiringTokens: true},
			Properties: properties(own, o.Types),
			Deletes: &Deletes{StatusField: "IsDeleted", StatusValue: "true", Reconcile: &Reconcile{
				Interval: s.ReconcileInterval,
				Request: Request{Path: "/services/data/v" + s.APIVersion + "/queryAll", Query: map[string]string{
					"q": "SELECT Id FROM " + o.Type + " ORDER BY Id",
				}},
				RecordsPath: "records",
				Pagination:  Pagination{Type: "next_url", TokenPath: "nextRecordsUrl", Limit: 2000},
			}},
		})
	}
	return c
}

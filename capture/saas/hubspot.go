package saas

import (
	"encoding/json"
	"time"
)

// HubSpot configures the HubSpot CRM profile: a generic Config that reads
// each object type through the CRM search API ordered by its last-modified
// date, and its archived objects as deletes.
type HubSpot struct {
	// Name is the source name. Required.
	Name string `yaml:"name"`
	// BaseURL default https://api.hubapi.com.
	BaseURL string `yaml:"base_url"`
	// Token is a private app access token (bearer). Either Token or
	// OAuth2 (Auth with type oauth2) is required.
	Token string `yaml:"token"`
	// Auth overrides Token, for OAuth2 client credentials.
	Auth Auth `yaml:"auth"`
	// Objects are the CRM object types (contacts, companies, deals, …)
	// with the properties kept as typed columns. Required.
	Objects []HubSpotObject `yaml:"objects"`
	// PageSize of the search requests; default 200 (HubSpot's maximum).
	PageSize int `yaml:"page_size"`
	// Lookback default 5m: the search index lags behind writes.
	Lookback time.Duration `yaml:"lookback"`
	// Settle default 10s: the window ends this far behind now.
	Settle time.Duration `yaml:"settle"`
	// RequestsPerSecond default 4 (the search API allows 5 per second per
	// token); Burst default 1; MaxConcurrent default 2.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	Burst             int     `yaml:"burst"`
	MaxConcurrent     int     `yaml:"max_concurrent"`
	// PollInterval, MaxRuntime, RequestTimeout, Retry: as in Config.
	PollInterval   time.Duration `yaml:"poll_interval"`
	MaxRuntime     time.Duration `yaml:"max_runtime"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
	Retry          Retry         `yaml:"retry"`
}

// HubSpotObject is one CRM object type.
type HubSpotObject struct {
	// Type is the object type in the API path (contacts, companies, deals,
	// or a custom object's type id). Required.
	Type string `yaml:"type"`
	// Properties are HubSpot property names read as columns; Types maps a
	// property to its column type (default string).
	Properties []string          `yaml:"properties"`
	Types      map[string]string `yaml:"types"`
}

// hubspotSearchCap is the most results a HubSpot search pages over.
const hubspotSearchCap = 10000

// Config returns the generic configuration of the profile.
func (h HubSpot) Config() Config {
	if h.BaseURL == "" {
		h.BaseURL = "https://api.hubapi.com"
	}
	if h.PageSize <= 0 {
		h.PageSize = 200
	}
	if h.Lookback == 0 {
		h.Lookback = 5 * time.Minute
	}
	if h.Settle == 0 {
		h.Settle = 10 * time.Second
	}
	if h.RequestsPerSecond == 0 {
		h.RequestsPerSecond = 4
	}
	auth := h.Auth
	if auth.Type == "" {
		auth = Auth{Type: "bearer", Token: h.Token}
	}
	c := Config{
		Name: h.Name, System: "hubspot", BaseURL: h.BaseURL, Auth: auth,
		RateLimit: RateLimit{
			RequestsPerSecond: h.RequestsPerSecond, Burst: h.Burst, MaxConcurrent: h.MaxConcurrent,
			RemainingHeader: "X-HubSpot-RateLimit-Remaining", ResetHeader: "X-HubSpot-RateLimit-Interval-Milliseconds",
		},
		Retry: h.Retry, PollInterval: h.PollInterval, MaxRuntime: h.MaxRuntime, RequestTimeout: h.RequestTimeout,
	}
	for _, o := range h.Objects {
		// Contacts call their last-modified property lastmodifieddate,
		// the other objects hs_lastmodifieddate; both equal updatedAt.
		modified := "hs_lastmodifieddate"
		if o.Type == "contacts" {
			modified = "lastmodifieddate"
		}
		props, _ := json.Marshal(append([]string{}, o.Properties...))
		m, _ := json.Marshal(modified)
		// A tie drain reads the records modified exactly at SinceMs in
		// hs_object_id order, keyset-paged (no after token, so no cap).
		body := `{"filterGroups":[{"filters":[` +
			`{{if .Tie}}{"propertyName":` + string(m) + `,"operator":"EQ","value":"{{.SinceMs}}"}` +
			`{{if .CursorID}},{"propertyName":"hs_object_id","operator":"GT","value":{{json .CursorID}}}{{end}}` +
			`{{else}}{"propertyName":` + string(m) + `,"operator":"GTE","value":"{{.SinceMs}}"},` +
			`{"propertyName":` + string(m) + `,"operator":"LT","value":"{{.UntilMs}}"}{{end}}]}],` +
			`"sorts":[{"propertyName":{{if .Tie}}"hs_object_id"{{else}}` + string(m) + `{{end}},"direction":"ASCENDING"}],` +
			`"properties":` + string(props) + `,"limit":{{.Limit}}{{if .PageToken}},"after":{{json .PageToken}}{{end}}}`
		obj := Object{
			Name:         o.Type,
			Request:      Request{Method: "POST", Path: "/crm/v3/objects/" + o.Type + "/search", Body: body},
			RecordsPath:  "results",
			IDField:      "id",
			CreatedField: "createdAt",
			Cursor:       Cursor{Field: "updatedAt", Format: "rfc3339", Lookback: h.Lookback, Settle: h.Settle},
			Pagination:   Pagination{Type: "token", TokenPath: "paging.next.after", Limit: h.PageSize, MaxResults: hubspotSearchCap, TieBreak: true},
			Deletes: &Deletes{
				Request: &Request{Method: "GET", Path: "/crm/v3/objects/" + o.Type,
					Query: map[string]string{"archived": "true", "limit": "{{.Limit}}", "after": "{{.PageToken}}"}},
				RecordsPath: "results", IDField: "id", DeletedAtField: "archivedAt",
				Pagination: Pagination{Type: "token", TokenPath: "paging.next.after", Limit: 100},
			},
		}
		for _, p := range o.Properties {
			obj.Properties = append(obj.Properties, Property{Path: "properties." + p, Column: p, Type: o.Types[p]})
		}
		c.Objects = append(c.Objects, obj)
	}
	return c
}

package saas

import (
	"encoding/base64"
	"strings"
	"time"
)

// Zendesk configures the Zendesk Support profile: tickets and users are
// read through the cursor-based incremental exports
// (/api/v2/incremental/<type>/cursor.json), each poll starting a stream at
// the cursor's updated_at (start_time) and following after_cursor until
// end_of_stream. Deleted tickets (status "deleted") and deleted users
// (active false) are op=d.
type Zendesk struct {
	// Name is the source name. Required.
	Name string `yaml:"name"`
	// Subdomain gives the base URL https://<subdomain>.zendesk.com;
	// BaseURL overrides it. One of them is required.
	Subdomain string `yaml:"subdomain"`
	BaseURL   string `yaml:"base_url"`
	// Email and APIToken authenticate as <email>/token (basic). Required.
	Email    string `yaml:"email"`
	APIToken string `yaml:"api_token"`
	// Objects are tickets and/or users with the fields kept as columns.
	// Required.
	Objects []ProfileObject `yaml:"objects"`
	// Polling: defaults lookback 2m, settle 1m, 0.15 requests per second
	// (the exports allow 10 requests a minute), poll every minute.
	Polling `yaml:",inline"`
}

// ZendeskDefaults are the Zendesk profile's defaults.
var ZendeskDefaults = Polling{Lookback: 2 * time.Minute, Settle: time.Minute, RequestsPerSecond: 0.15, MaxConcurrent: 1, PollInterval: time.Minute}

// Config returns the generic configuration of the profile.
func (z Zendesk) Config() Config {
	if z.BaseURL == "" {
		z.BaseURL = "https://" + z.Subdomain + ".zendesk.com"
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(z.Email+"/token:"+z.APIToken))
	c := z.Polling.config(z.Name, "zendesk", z.BaseURL, Auth{Type: "api_key", Header: "Authorization", Key: basic}, ZendeskDefaults)
	for _, o := range z.Objects {
		del := &Deletes{StatusField: "status", StatusValue: "deleted"}
		if o.Type == "users" {
			del = &Deletes{StatusField: "active", StatusValue: "false"}
		}
		c.Objects = append(c.Objects, Object{
			Name: tableName(o.Type),
			// The export has no end time: records updated while a
			// stream is read come with it, and the cursor stops at the
			// window's end so the next poll re-reads (deduplicates) them.
			Request: Request{Path: "/api/v2/incremental/" + strings.ToLower(o.Type) + "/cursor.json", Query: map[string]string{
				"start_time": "{{if not .PageToken}}{{seconds .SinceMs}}{{end}}", "cursor": "{{.PageToken}}", "per_page": "{{.Limit}}",
			}},
			RecordsPath:  strings.ToLower(o.Type),
			IDField:      "id",
			CreatedField: "created_at",
			Cursor:       z.Polling.cursor("updated_at", "rfc3339", ZendeskDefaults),
			Pagination:   Pagination{Type: "token", TokenPath: "after_cursor", EndPath: "end_of_stream", Limit: 1000},
			Properties:   properties(o.Properties, o.Types),
			Deletes:      del,
		})
	}
	return c
}

package saas

import (
	"encoding/base64"
	"strings"
	"time"
)

// Mailchimp configures the Mailchimp Marketing profile: the members of
// each list (audience) changed since the cursor (since_last_changed),
// paged by offset and count (at most 1,000). Archived members are op=d;
// unsubscribed and cleaned members are updates with their status.
// Permanently deleted members ("delete-permanent") vanish from the list:
// a key reconciliation every ReconcileInterval lists the member ids
// (fields=members.id) and makes each member the list no longer holds
// op=d, once a GET of it answers 404 (offset pages shift when a member
// goes while they are read).
type Mailchimp struct {
	// Name is the source name. Required.
	Name string `yaml:"name"`
	// APIKey is a Marketing API key (basic auth); its -<dc> suffix gives
	// the base URL https://<dc>.api.mailchimp.com. Required.
	APIKey string `yaml:"api_key"`
	// BaseURL overrides the URL the key gives.
	BaseURL string `yaml:"base_url"`
	// Lists are the audiences read. Required.
	Lists []MailchimpList `yaml:"lists"`
	// ReconcileInterval is the time between key reconciliations; default
	// 6h.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// Polling: defaults lookback 2m (since_last_changed excludes the
	// time given, and last_changed has whole seconds), settle 1s, 5
	// requests per second, 2 in flight (Mailchimp allows 10
	// simultaneous connections), poll every minute.
	Polling `yaml:",inline"`
}

// MailchimpList is one audience: ID is the list id, Name the object
// (table) name; Properties and Types as in ProfileObject
// (merge_fields.FNAME, status, …).
type MailchimpList struct {
	ID         string            `yaml:"id"`
	Name       string            `yaml:"name"`
	Properties []string          `yaml:"properties"`
	Types      map[string]string `yaml:"types"`
}

// MailchimpDefaults are the Mailchimp profile's defaults.
var MailchimpDefaults = Polling{Lookback: 2 * time.Minute, Settle: time.Second, RequestsPerSecond: 5, MaxConcurrent: 2, PollInterval: time.Minute}

// mailchimpPage is the most members one request returns.
const mailchimpPage = 1000

// Config returns the generic configuration of the profile.
func (m Mailchimp) Config() Config {
	if m.BaseURL == "" {
		dc := "us1"
		if i := strings.LastIndexByte(m.APIKey, '-'); i >= 0 {
			dc = m.APIKey[i+1:]
		}
		m.BaseURL = "https://" + dc + ".api.mailchimp.com"
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("syncline:"+m.APIKey))
	c := m.Polling.config(m.Name, "mailchimp", m.BaseURL, Auth{Type: "api_key", Header: "Authorization", Key: basic}, MailchimpDefaults)
	for _, l := range m.Lists {
		c.Objects = append(c.Objects, Object{
			Name: tableName(l.Name),
			// Members come in list order, not by last_changed: the window
			// has no end, and the cursor stops at its end time so members
			// changed while it is read are re-read by the next poll.
			Request: Request{Path: "/3.0/lists/" + l.ID + "/members", Query: map[string]string{
				"since_last_changed": "{{.Since}}", "count": "{{.Limit}}", "offset": "{{.Offset}}",
			}},
			RecordsPath:  "members",
			IDField:      "id",
			CreatedField: "timestamp_opt",
			Cursor:       m.Polling.cursor("last_changed", "rfc3339", MailchimpDefaults),
			Pagination:   Pagination{Type: "offset", Limit: mailchimpPage, Order: "unordered"},
			Properties:   properties(l.Properties, l.Types),
			Deletes: &Deletes{StatusField: "status", StatusValue: "archived", Reconcile: &Reconcile{
				Interval: m.ReconcileInterval,
				Request: Request{Path: "/3.0/lists/" + l.ID + "/members", Query: map[string]string{
					"fields": "members.id,total_items", "count": "{{.Limit}}", "offset": "{{.Offset}}",
				}},
				RecordsPath: "members",
				Pagination:  Pagination{Type: "offset", Limit: mailchimpPage},
				Verify:      &Request{Path: "/3.0/lists/" + l.ID + "/members/{{.ID}}", Query: map[string]string{"fields": "id,status"}},
			}},
		})
	}
	return c
}

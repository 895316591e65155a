package saas

import (
	"strings"
	"time"
)

// Stripe configures the Stripe profile: each object type is read from
// the events API (/v1/events) in windows of their created time moving
// forward, each window paged with starting_after until has_more is false;
// an event's data.object is the row, <type>.created, .updated and
// .deleted events are op c, u and d. Stripe keeps events 30 days, so the
// initial sync is a backfill from the type's list endpoint
// (GET /v1/customers?limit=100&starting_after=…): every existing object
// is op=r, and the events are read forward from where the backfill
// started. A source stopped for longer than 30 days misses the changes
// of the days it was down.
type Stripe struct {
	// Name is the source name. Required.
	Name string `yaml:"name"`
	// BaseURL default https://api.stripe.com.
	BaseURL string `yaml:"base_url"`
	// APIKey is a secret or restricted key allowed to read events.
	// Required.
	APIKey string `yaml:"api_key"`
	// Objects are the object types (customer, product, price, invoice,
	// checkout.session, …) with the properties of data.object kept as
	// columns. Required.
	Objects []ProfileObject `yaml:"objects"`
	// Polling: defaults lookback 1m (events become visible in the list a
	// little after their created time), settle 2s, 20 requests per
	// second (Stripe allows 100 in live mode, 25 in test mode), poll
	// every minute.
	Polling `yaml:",inline"`
}

// StripeListPath is the list endpoint of an object type:
// /v1/customers, /v1/checkout/sessions. Types that events name under
// their parent (customer.subscription) are listed at the top level.
func StripeListPath(typ string) string {
	if p, ok := stripeListPaths[typ]; ok {
		return p
	}
	return "/v1/" + strings.ReplaceAll(typ, ".", "/") + "s"
}

var stripeListPaths = map[string]string{
	"customer.subscription": "/v1/subscriptions",
	"customer.tax_id":       "/v1/tax_ids",
}

// StripeDefaults are the Stripe profile's defaults.
var StripeDefaults = Polling{Lookback: time.Minute, Settle: 2 * time.Second, RequestsPerSecond: 20, MaxConcurrent: 2, PollInterval: time.Minute}

// Config returns the generic configuration of the profile.
func (s Stripe) Config() Config {
	if s.BaseURL == "" {
		s.BaseURL = "https://api.stripe.com"
	}
	c := s.Polling.config(s.Name, "stripe", s.BaseURL, Auth{Type: "bearer", Token: s.APIKey}, StripeDefaults)
	for _, o := range s.Objects {
		created, updated, deleted := o.Type+".created", o.Type+".updated", o.Type+".deleted"
		obj := Object{
			Name: tableName(o.Type),
			// Newest first within [Since, Until) in whole seconds; the
			// window is fixed, so starting_after pages through it
			// without skipping or repeating events that share a second.
			Request: Request{Path: "/v1/events", Query: map[string]string{
				"types[0]": created, "types[1]": updated, "types[2]": deleted,
				"created[gte]": "{{.Since}}", "created[lt]": "{{.Until}}",
				"limit": "{{.Limit}}", "starting_after": "{{.PageToken}}",
			}},
			RecordsPath: "data",
			IDField:     "data.object.id",
			RowPath:     "data.object",
			Cursor:      s.Polling.cursor("created", "unix", StripeDefaults),
			Pagination:  Pagination{Type: "after_last", TokenPath: "id", MorePath: "has_more", Limit: 100, Order: "descending"},
			Ops:         &Ops{Field: "type", Values: map[string]string{created: "c", updated: "u", deleted: "d"}},
			Properties:  properties(o.Properties, o.Types),
		}
		list := map[string]string{"limit": "{{.Limit}}", "starting_after": "{{.PageToken}}"}
		if o.Type == "subscription" || o.Type == "customer.subscription" {
			list["status"] = "all" // canceled ones are listed only so
		}
		obj.Backfill = &Backfill{
			Request:     Request{Path: StripeListPath(o.Type), Query: list},
			RecordsPath: "data",
			Pagination:  Pagination{Type: "after_last", TokenPath: "id", MorePath: "has_more", Limit: 100},
		}
		c.Objects = append(c.Objects, obj)
	}
	return c
}

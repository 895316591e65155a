package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// SaaSPolling holds the polling keys the salesforce, stripe, zendesk and
// mailchimp blocks share; zero values take the provider's defaults
// (README, "SaaS sources").
type SaaSPolling struct {
	PollInterval      time.Duration `yaml:"poll_interval"`
	Lookback          time.Duration `yaml:"lookback"`
	Settle            time.Duration `yaml:"settle"`
	RequestsPerSecond float64       `yaml:"requests_per_second"`
}

func (p SaaSPolling) isSet() bool {
	return p.PollInterval != 0 || p.Lookback != 0 || p.Settle != 0 || p.RequestsPerSecond != 0
}

// SaaSObject is one object type of a salesforce, stripe or zendesk source.
type SaaSObject struct {
	// Type is the object type. Required, unique.
	Type string `yaml:"type"`
	// Properties are the fields kept as columns (the whole object is kept
	// as JSON in _raw too), each "path" or "path:type" with type string
	// (default), int64, float64, bool, timestamp or json; a path may go
	// into nested objects with dots (metadata.plan), its column is the
	// path with '_' for '.'.
	Properties []string `yaml:"properties"`
}

// Property splits a properties entry into its path and type.
func (o SaaSObject) Property(i int) (path, typ string) {
	path, typ, _ = strings.Cut(o.Properties[i], ":")
	return path, typ
}

// SalesforceSource is the salesforce block of a source of type salesforce.
type SalesforceSource struct {
	// InstanceURL is the org's API root, https://<org>.my.salesforce.com.
	// Required.
	InstanceURL string `yaml:"instance_url"`
	// APIVersion default 61.0.
	APIVersion string `yaml:"api_version"`
	// Token is an OAuth access token. Required.
	Token Secret `yaml:"token"`
	// Objects are the sObject types (Account, Contact, Invoice__c; the
	// table is the name in lower case: salesforce.account), their
	// properties field API names. Required.
	Objects []SaaSObject `yaml:"objects"`
	// ReconcileInterval is the time between key reconciliations, which
	// find the records purged from the recycle bin; default 6h.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	SaaSPolling       `yaml:",inline"`
}

// IsSet reports whether the salesforce block is present.
func (s SalesforceSource) IsSet() bool {
	return s.InstanceURL != "" || s.APIVersion != "" || s.Token.IsSet() || len(s.Objects) > 0 || s.ReconcileInterval != 0 || s.SaaSPolling.isSet()
}

// StripeSource is the stripe block of a source of type stripe.
type StripeSource struct {
	// APIKey is a secret or restricted key (sk_…, rk_…) allowed to read
	// events. Required.
	APIKey Secret `yaml:"api_key"`
	// BaseURL default https://api.stripe.com.
	BaseURL string `yaml:"base_url"`
	// Objects are the object types whose events are read (customer,
	// product, price, invoice, subscription, checkout.session: table
	// stripe.checkout_session, …). Required.
	Objects     []SaaSObject `yaml:"objects"`
	SaaSPolling `yaml:",inline"`
}

// IsSet reports whether the stripe block is present.
func (s StripeSource) IsSet() bool {
	return s.APIKey.IsSet() || s.BaseURL != "" || len(s.Objects) > 0 || s.SaaSPolling.isSet()
}

// ZendeskSource is the zendesk block of a source of type zendesk.
type ZendeskSource struct {
	// Subdomain is the account's subdomain (<subdomain>.zendesk.com);
	// BaseURL overrides the URL it gives. One of them is required.
	Subdomain string `yaml:"subdomain"`
	BaseURL   string `yaml:"base_url"`
	// Email and APIToken authenticate as <email>/token. Required.
	Email    string `yaml:"email"`
	APIToken Secret `yaml:"api_token"`
	// Objects are tickets or users (the cursor-based incremental
	// exports). Required.
	Objects     []SaaSObject `yaml:"objects"`
	SaaSPolling `yaml:",inline"`
}

// IsSet reports whether the zendesk block is present.
func (s ZendeskSource) IsSet() bool {
	return s.Subdomain != "" || s.BaseURL != "" || s.Email != "" || s.APIToken.IsSet() || len(s.Objects) > 0 || s.SaaSPolling.isSet()
}

// MailchimpSource is the mailchimp block of a source of type mailchimp.
type MailchimpSource struct {
	// APIKey is a Marketing API key; its -<dc> suffix names the data
	// center (us6). Required.
	APIKey Secret `yaml:"api_key"`
	// BaseURL default https://<dc>.api.mailchimp.com.
	BaseURL string `yaml:"base_url"`
	// Lists are the audiences whose members are read. Required.
	Lists []MailchimpList `yaml:"lists"`
	// ReconcileInterval is the time between key reconciliations, which
	// find the permanently deleted members; default 6h.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	SaaSPolling       `yaml:",inline"`
}

// MailchimpList is one audience of a mailchimp source.
type MailchimpList struct {
	// ID is the list (audience) id. Required, unique.
	ID string `yaml:"id"`
	// Name is the table name, mailchimp.<name>. Required, unique.
	Name string `yaml:"name"`
	// Properties: as SaaSObject's (merge_fields.FNAME, status, …).
	Properties []string `yaml:"properties"`
}

// IsSet reports whether the mailchimp block is present.
func (s MailchimpSource) IsSet() bool {
	return s.APIKey.IsSet() || s.BaseURL != "" || len(s.Lists) > 0 || s.ReconcileInterval != 0 || s.SaaSPolling.isSet()
}

// SaaSTables returns the tables of a salesforce, stripe, zendesk or
// mailchimp source (schema: the provider); ok is false for other types.
func (s Source) SaaSTables() (out []TableName, ok bool) {
	// As capture/saas names them: lower case, '_' for '.'.
	add := func(objs []SaaSObject) {
		for _, o := range objs {
			out = append(out, TableName{Schema: string(s.Type), Name: strings.ReplaceAll(strings.ToLower(o.Type), ".", "_")})
		}
	}
	switch s.Type {
	case SourceSalesforce:
		add(s.Salesforce.Objects)
	case SourceStripe:
		add(s.Stripe.Objects)
	case SourceZendesk:
		add(s.Zendesk.Objects)
	case SourceMailchimp:
		for _, l := range s.Mailchimp.Lists {
			out = append(out, TableName{Schema: string(s.Type), Name: l.Name})
		}
	default:
		return nil, false
	}
	return out, true
}

var (
	// sobjectRE: an sObject API name; fieldRE: a field API name or a
	// relationship path (Owner.Email).
	sobjectRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	fieldRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$`)
	// stripeObjectRE: an object type as event types name it
	// (customer, checkout.session, issuing.card).
	stripeObjectRE = regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)*$`)
	// pathRE: a property path of a JSON object.
	pathRE = regexp.MustCompile(`^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$`)
	// listIDRE: a Mailchimp list id; dcRE: the data center suffix of an
	// API key.
	listIDRE = regexp.MustCompile(`^[a-z0-9]+$`)
	dcRE     = regexp.MustCompile(`-([a-z]+[0-9]+)$`)
)

var zendeskObjects = []string{"tickets", "users"}

// saasProfiles checks a source of type salesforce, stripe, zendesk or
// mailchimp, and that the other types carry none of their blocks. It
// returns true when s is of one of these types.
func (v *validator) saasProfiles(p string, s Source) bool {
	blocks := []struct {
		typ SourceType
		set bool
	}{{SourceSalesforce, s.Salesforce.IsSet()}, {SourceStripe, s.Stripe.IsSet()}, {SourceZendesk, s.Zendesk.IsSet()}, {SourceMailchimp, s.Mailchimp.IsSet()}}
	mine := false
	for _, b := range blocks {
		if b.typ == s.Type {
			mine = true
		} else if b.set {
			v.errorf(p+"."+string(b.typ), "only allowed for sources of type %s", b.typ)
		}
	}
	if !mine {
		return false
	}
	if s.DSN != "" || len(s.Tables) > 0 || len(s.Keys) > 0 || s.SignalTable != "" || len(s.Messages) > 0 {
		v.errorf(p, "dsn, tables, keys, signal_table and messages are for postgres sources; a %s source lists its objects in its %s block", s.Type, s.Type)
	}
	if s.HubSpot.IsSet() {
		v.errorf(p+".hubspot", "only allowed for sources of type hubspot")
	}
	bp := p + "." + string(s.Type)
	switch s.Type {
	case SourceSalesforce:
		c := s.Salesforce
		if !c.IsSet() {
			v.errorf(bp, "required for a source of type salesforce, for example:\n  salesforce:\n    instance_url: https://acme.my.salesforce.com\n    token: ${SALESFORCE_TOKEN}\n    objects:\n      - {type: Account, properties: [Name, \"AnnualRevenue:float64\"]}")
			return true
		}
		v.baseURL(bp+".instance_url", c.InstanceURL, true)
		if c.APIVersion != "" && !regexp.MustCompile(`^[0-9]+\.[0-9]$`).MatchString(c.APIVersion) {
			v.errorf(bp+".api_version", "%q is not an API version such as 61.0", c.APIVersion)
		}
		v.secret(bp+".token", c.Token, "an OAuth access token, for example token: ${SALESFORCE_TOKEN}")
		v.saasObjects(bp+".objects", c.Objects, "an sObject API name such as Account or Invoice__c", sobjectRE.MatchString, fieldRE)
		v.reconcileInterval(bp+".reconcile_interval", c.ReconcileInterval)
		v.saasPolling(bp, c.SaaSPolling)
	case SourceStripe:
		c := s.Stripe
		if !c.IsSet() {
			v.errorf(bp, "required for a source of type stripe, for example:\n  stripe:\n    api_key: ${STRIPE_API_KEY}\n    objects:\n      - {type: customer, properties: [email, name]}")
			return true
		}
		v.baseURL(bp+".base_url", c.BaseURL, false)
		v.secret(bp+".api_key", c.APIKey, "a secret or restricted key, for example api_key: ${STRIPE_API_KEY}")
		v.saasObjects(bp+".objects", c.Objects, "an object type as event types name it, such as customer or checkout.session", stripeObjectRE.MatchString, pathRE)
		v.saasPolling(bp, c.SaaSPolling)
	case SourceZendesk:
		c := s.Zendesk
		if !c.IsSet() {
			v.errorf(bp, "required for a source of type zendesk, for example:\n  zendesk:\n    subdomain: acme\n    email: ops@acme.com\n    api_token: ${ZENDESK_TOKEN}\n    objects:\n      - {type: tickets, properties: [subject, status]}")
			return true
		}
		if c.Subdomain == "" && c.BaseURL == "" {
			v.errorf(bp+".subdomain", "required (or base_url): the account's subdomain, acme for acme.zendesk.com")
		} else if c.Subdomain != "" && !listIDRE.MatchString(strings.ReplaceAll(c.Subdomain, "-", "")) {
			v.errorf(bp+".subdomain", "%q is not a subdomain; write acme for acme.zendesk.com", c.Subdomain)
		}
		v.baseURL(bp+".base_url", c.BaseURL, false)
		if c.Email == "" {
			v.errorf(bp+".email", "required: the agent's email address the API token belongs to")
		}
		v.secret(bp+".api_token", c.APIToken, "an API token, for example api_token: ${ZENDESK_TOKEN}")
		v.saasObjects(bp+".objects", c.Objects, "tickets or users (the cursor-based incremental exports)", func(t string) bool { return slices.Contains(zendeskObjects, t) }, pathRE)
		v.saasPolling(bp, c.SaaSPolling)
	case SourceMailchimp:
		c := s.Mailchimp
		if !c.IsSet() {
			v.errorf(bp, "required for a source of type mailchimp, for example:\n  mailchimp:\n    api_key: ${MAILCHIMP_API_KEY}\n    lists:\n      - {id: a1b2c3d4e5, name: newsletter, properties: [email_address, status]}")
			return true
		}
		v.secret(bp+".api_key", c.APIKey, "a Marketing API key ending in its data center, for example api_key: ${MAILCHIMP_API_KEY}")
		if c.APIKey.IsSet() && c.BaseURL == "" && !dcRE.MatchString(c.APIKey.Value()) {
			v.errorf(bp+".api_key", "does not end in a data center such as -us6; set base_url or use the key as Mailchimp shows it")
		}
		v.baseURL(bp+".base_url", c.BaseURL, false)
		if len(c.Lists) == 0 {
			v.errorf(bp+".lists", "at least one list is required, for example lists: [{id: a1b2c3d4e5, name: newsletter}]")
		}
		ids, names := map[string]int{}, map[string]int{}
		for i, l := range c.Lists {
			lp := fmt.Sprintf("%s.lists[%d]", bp, i)
			switch {
			case !listIDRE.MatchString(l.ID):
				v.errorf(lp+".id", "%q is not a list id; Mailchimp shows it under Audience settings, for example a1b2c3d4e5", l.ID)
			default:
				if j, dup := ids[l.ID]; dup {
					v.errorf(lp+".id", "duplicate list %q (also lists[%d])", l.ID, j)
				}
				ids[l.ID] = i
			}
			switch {
			case !objectTypeRE.MatchString(l.Name):
				v.errorf(lp+".name", "%q is not a table name; use lowercase letters, digits, '_' and '-'", l.Name)
			default:
				if j, dup := names[l.Name]; dup {
					v.errorf(lp+".name", "duplicate name %q (also lists[%d])", l.Name, j)
				}
				names[l.Name] = i
			}
			v.saasProperties(lp, l.Properties, pathRE)
		}
		v.reconcileInterval(bp+".reconcile_interval", c.ReconcileInterval)
		v.saasPolling(bp, c.SaaSPolling)
	}
	return true
}

// reconcileInterval checks the time between key reconciliations (0: the
// default); each lists every key, so less than a minute is a mistake.
func (v *validator) reconcileInterval(key string, d time.Duration) {
	if d < 0 || (d > 0 && d < time.Minute) {
		v.errorf(key, "%s: use 1m or more (each reconciliation lists every key); default 6h", d)
	}
}

func (v *validator) baseURL(key, raw string, required bool) {
	if raw == "" {
		if required {
			v.errorf(key, "required: an https:// URL")
		}
		return
	}
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.errorf(key, "%q is not an http:// or https:// URL", raw)
	}
}

func (v *validator) secret(key string, s Secret, what string) {
	if !s.IsSet() {
		v.errorf(key, "required: %s", what)
	}
}

func (v *validator) saasObjects(key string, objs []SaaSObject, what string, valid func(string) bool, path *regexp.Regexp) {
	if len(objs) == 0 {
		v.errorf(key, "at least one object type is required: %s", what)
	}
	seen := map[string]int{}
	for i, o := range objs {
		op := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case o.Type == "":
			v.errorf(op+".type", "required: %s", what)
		case !valid(o.Type):
			v.errorf(op+".type", "%q is not %s", o.Type, what)
		default:
			if j, dup := seen[o.Type]; dup {
				v.errorf(op+".type", "duplicate object type %q (also [%d])", o.Type, j)
			}
			seen[o.Type] = i
		}
		v.saasProperties(op, o.Properties, path)
	}
}

func (v *validator) saasProperties(key string, props []string, path *regexp.Regexp) {
	cols := map[string]bool{}
	for j, entry := range props {
		pp := fmt.Sprintf("%s.properties[%d]", key, j)
		name, typ, _ := strings.Cut(entry, ":")
		col := strings.ReplaceAll(name, ".", "_")
		switch {
		case name == "":
			v.errorf(pp, "empty property; write path or path:type")
		case !path.MatchString(name):
			v.errorf(pp, "%q is not a field path (names joined by '.')", name)
		case col == "id" || col == "updated_at" || col == "_raw":
			v.errorf(pp, "%q is a reserved column name (id, updated_at, _raw)", name)
		case cols[col]:
			v.errorf(pp, "duplicate property %q", name)
		}
		if !slices.Contains(hubspotPropertyTypes, typ) {
			v.errorf(pp, "unknown type %q in %q; use string, int64, float64, bool, timestamp or json", typ, entry)
		}
		cols[col] = true
	}
}

func (v *validator) saasPolling(key string, p SaaSPolling) {
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"poll_interval", p.PollInterval}, {"lookback", p.Lookback}, {"settle", p.Settle}} {
		if d.d < 0 {
			v.errorf(key+"."+d.key, "must not be negative")
		}
	}
	if p.RequestsPerSecond < 0 {
		v.errorf(key+".requests_per_second", "must not be negative")
	}
}

package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"syncline/sink/mailchimp"
	"syncline/sink/salesforce"
	"syncline/sink/stripe"
)

// SinkStripe creates, updates and deletes Stripe customers
// (sink/stripe); its settings are in the sink's stripe block.
const SinkStripe SinkType = "stripe"

// SinkSalesforce upserts into a Salesforce sObject by an external id
// (sink/salesforce); its settings are in the sink's salesforce block.
const SinkSalesforce SinkType = "salesforce"

// SinkMailchimp upserts audience members (sink/mailchimp); its settings
// are in the sink's mailchimp block.
const SinkMailchimp SinkType = "mailchimp"

// saasSinkTypes are the sink types of sink/saas's engine: they take the
// retry and system keys.
var saasSinkTypes = []SinkType{SinkHubSpot, SinkREST, SinkStripe, SinkSalesforce, SinkMailchimp}

// saas reports whether a sink type runs on sink/saas's engine.
func (t SinkType) saas() bool { return slices.Contains(saasSinkTypes, t) }

// StripeSink is the stripe block of a sink of type stripe: customers
// created and updated with idempotency keys.
type StripeSink struct {
	// APIKey is a secret or restricted key with write access to
	// customers. Required; never logged.
	APIKey Secret `yaml:"api_key"`
	// BaseURL default https://api.stripe.com.
	BaseURL string `yaml:"base_url"`
	// KeyField is the mapped field that identifies a record (kept in the
	// customer's metadata unless it is a standard param). Required; it
	// must be one of Fields.
	KeyField string `yaml:"key_field"`
	// Fields map customer params to columns or constants: email, name,
	// phone, description, address.<line1|line2|city|state|postal_code|
	// country>; metadata.<key> or any other name is sent as
	// metadata[<key>]. Required.
	Fields []HubSpotSinkProperty `yaml:"fields"`
	// DeleteMode is delete (default: a deleted row deletes its customer)
	// or ignore.
	DeleteMode string `yaml:"delete_mode"`
	// RequestsPerSecond paces calls; default 80 (Stripe allows 100 per
	// second in live mode, 25 in test mode).
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// MaxConcurrent calls at a time; default 4.
	MaxConcurrent int `yaml:"max_concurrent"`
}

// IsSet reports whether the stripe block is present.
func (s StripeSink) IsSet() bool {
	return s.APIKey.IsSet() || s.BaseURL != "" || s.KeyField != "" || len(s.Fields) > 0 || s.DeleteMode != "" || s.RequestsPerSecond != 0 || s.MaxConcurrent != 0
}

// SalesforceSink is the salesforce block of a sink of type salesforce:
// sObject collections upserts by an external id field.
type SalesforceSink struct {
	// InstanceURL is the org's API root, for example
	// https://acme.my.salesforce.com. Required.
	InstanceURL string `yaml:"instance_url"`
	// AccessToken is an OAuth access token. Required; never logged.
	AccessToken Secret `yaml:"access_token"`
	// APIVersion default 60.0.
	APIVersion string `yaml:"api_version"`
	// SObject is the object type written (Contact, Account, Thing__c).
	// Required.
	SObject string `yaml:"sobject"`
	// ExternalIDField is the external id field upserts match on.
	// Required; it must be one of Fields.
	ExternalIDField string `yaml:"external_id_field"`
	// Fields map sObject fields to columns or constants. Required.
	Fields []HubSpotSinkProperty `yaml:"fields"`
	// DeleteMode is delete (default: a deleted row deletes its record)
	// or ignore.
	DeleteMode string `yaml:"delete_mode"`
	// RequestsPerSecond paces calls; default 10.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
}

// IsSet reports whether the salesforce block is present.
func (s SalesforceSink) IsSet() bool {
	return s.InstanceURL != "" || s.AccessToken.IsSet() || s.APIVersion != "" || s.SObject != "" || s.ExternalIDField != "" ||
		len(s.Fields) > 0 || s.DeleteMode != "" || s.RequestsPerSecond != 0
}

// MailchimpSink is the mailchimp block of a sink of type mailchimp:
// members upserted by subscriber hash, or batch subscribed.
type MailchimpSink struct {
	// APIKey is the API key, <key>-<dc>. Required; never logged.
	APIKey Secret `yaml:"api_key"`
	// BaseURL default https://<dc>.api.mailchimp.com.
	BaseURL string `yaml:"base_url"`
	// ListID is the audience written. Required.
	ListID string `yaml:"list_id"`
	// EmailField is the mapped field holding the address; default
	// email_address. The other fields are merge tags.
	EmailField string `yaml:"email_field"`
	// StatusIfNew of members the sink adds: subscribed (default),
	// unsubscribed, pending or transactional.
	StatusIfNew string `yaml:"status_if_new"`
	// Fields map the email field and merge tags to columns or constants.
	// Required.
	Fields []HubSpotSinkProperty `yaml:"fields"`
	// DeleteMode is archive (default) or ignore.
	DeleteMode string `yaml:"delete_mode"`
	// RequestsPerSecond paces calls; default 50. MaxConcurrent default 4
	// (Mailchimp allows 10 simultaneous connections).
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	MaxConcurrent     int     `yaml:"max_concurrent"`
}

// IsSet reports whether the mailchimp block is present.
func (m MailchimpSink) IsSet() bool {
	return m.APIKey.IsSet() || m.BaseURL != "" || m.ListID != "" || m.EmailField != "" || m.StatusIfNew != "" ||
		len(m.Fields) > 0 || m.DeleteMode != "" || m.RequestsPerSecond != 0 || m.MaxConcurrent != 0
}

// saasSinkBlocks refuses the blocks of these sink types on a sink of
// another type.
func (v *validator) saasSinkBlocks(p string, s Sink) {
	if s.Type != SinkStripe && s.Stripe.IsSet() {
		v.errorf(p+".stripe", "only for a sink of type stripe")
	}
	if s.Type != SinkSalesforce && s.Salesforce.IsSet() {
		v.errorf(p+".salesforce", "only for a sink of type salesforce")
	}
	if s.Type != SinkMailchimp && s.Mailchimp.IsSet() {
		v.errorf(p+".mailchimp", "only for a sink of type mailchimp")
	}
}

// saasSink checks a sink of type stripe.
func (v *validator) saasSink(p string, s Sink) {
	if s.HubSpot.IsSet() {
		v.errorf(p+".hubspot", "only for a sink of type hubspot")
	}
	if s.DSN.IsSet() {
		v.errorf(p+".dsn", "not used by a sink of type %s; remove it", s.Type)
	}
	if s.Reconcile.Interval != 0 {
		v.errorf(p+".reconcile.interval", "scheduled reconciliation is not supported for a sink of type %s", s.Type)
	}
	switch s.Type {
	case SinkStripe:
		v.stripeSink(p, s.Stripe)
	case SinkSalesforce:
		v.salesforceSink(p, s.Salesforce)
	case SinkMailchimp:
		v.mailchimpSink(p, s.Mailchimp)
	}
}

func (v *validator) salesforceSink(p string, sf SalesforceSink) {
	sp := p + ".salesforce"
	if !sf.IsSet() {
		v.errorf(sp, "required for a sink of type salesforce, for example:\n  salesforce:\n    instance_url: https://acme.my.salesforce.com\n    access_token: ${SALESFORCE_TOKEN}\n    sobject: Contact\n    external_id_field: Ext_Id__c\n    fields:\n      - {name: Ext_Id__c, from: id}\n      - {name: Email, from: email, transform: email}")
		return
	}
	v.baseURL(sp+".instance_url", sf.InstanceURL, true)
	v.secret(sp+".access_token", sf.AccessToken, "an OAuth access token, for example access_token: ${SALESFORCE_TOKEN}")
	if sf.APIVersion != "" && !salesforceVersionRE.MatchString(sf.APIVersion) {
		v.errorf(sp+".api_version", "%q: use a version such as %s", sf.APIVersion, salesforce.DefaultAPIVersion)
	}
	if sf.SObject == "" {
		v.errorf(sp+".sobject", "required: the object type written, for example sobject: Contact")
	} else if msg := salesforce.CheckAPIName(sf.SObject); msg != "" {
		v.errorf(sp+".sobject", "%s", msg)
	}
	names := v.sinkFields(sp+".fields", sf.Fields, "sObject field API name")
	for i, f := range sf.Fields {
		if msg := salesforce.CheckAPIName(f.Name); f.Name != "" && msg != "" {
			v.errorf(fmt.Sprintf("%s.fields[%d].name", sp, i), "%s", msg)
		}
	}
	v.keyField(sp+".external_id_field", sf.ExternalIDField, names, len(sf.Fields) > 0)
	if sf.DeleteMode != "" && sf.DeleteMode != "delete" && sf.DeleteMode != "ignore" {
		v.errorf(sp+".delete_mode", "%q: use delete (default) or ignore", sf.DeleteMode)
	}
	if sf.RequestsPerSecond < 0 {
		v.errorf(sp+".requests_per_second", "must not be negative")
	}
}

func (v *validator) mailchimpSink(p string, mc MailchimpSink) {
	mp := p + ".mailchimp"
	if !mc.IsSet() {
		v.errorf(mp, "required for a sink of type mailchimp, for example:\n  mailchimp:\n    api_key: ${MAILCHIMP_API_KEY}\n    list_id: a1b2c3d4e5\n    fields:\n      - {name: email_address, from: email, transform: email, required: true}\n      - {name: FNAME, from: first_name}")
		return
	}
	v.secret(mp+".api_key", mc.APIKey, "the API key (<key>-<dc>), for example api_key: ${MAILCHIMP_API_KEY}")
	v.baseURL(mp+".base_url", mc.BaseURL, false)
	if mc.BaseURL == "" && mc.APIKey.IsSet() && mailchimp.DataCenter(mc.APIKey.Value()) == "" {
		v.errorf(mp+".api_key", "has no data center suffix (-us1, ...); set base_url")
	}
	if mc.ListID == "" {
		v.errorf(mp+".list_id", "required: the audience id, for example list_id: a1b2c3d4e5")
	}
	email := mc.EmailField
	if email == "" {
		email = mailchimp.DefaultEmailField
	}
	names := v.sinkFields(mp+".fields", mc.Fields, "merge tag or the email field")
	for i, f := range mc.Fields {
		if msg := mailchimp.CheckMergeTag(f.Name); f.Name != "" && f.Name != email && msg != "" {
			v.errorf(fmt.Sprintf("%s.fields[%d].name", mp, i), "%s (or the email field %s)", msg, email)
		}
	}
	v.keyField(mp+".email_field", email, names, len(mc.Fields) > 0)
	if mc.StatusIfNew != "" && !slices.Contains(mailchimp.Statuses, mc.StatusIfNew) {
		v.errorf(mp+".status_if_new", "%q: use %s", mc.StatusIfNew, strings.Join(mailchimp.Statuses, ", "))
	}
	if mc.DeleteMode != "" && mc.DeleteMode != "archive" && mc.DeleteMode != "ignore" {
		v.errorf(mp+".delete_mode", "%q: use archive (default) or ignore", mc.DeleteMode)
	}
	if mc.RequestsPerSecond < 0 {
		v.errorf(mp+".requests_per_second", "must not be negative")
	}
	if mc.MaxConcurrent < 0 || mc.MaxConcurrent > 10 {
		v.errorf(mp+".max_concurrent", "%d: between 0 (default 4) and 10, Mailchimp's limit of simultaneous connections", mc.MaxConcurrent)
	}
}

var salesforceVersionRE = regexp.MustCompile(`^v?[0-9]{2}\.[0-9]$`)

func (v *validator) stripeSink(p string, st StripeSink) {
	sp := p + ".stripe"
	if !st.IsSet() {
		v.errorf(sp, "required for a sink of type stripe, for example:\n  stripe:\n    api_key: ${STRIPE_API_KEY}\n    key_field: id\n    fields:\n      - {name: id, from: id}\n      - {name: email, from: email, transform: email}")
		return
	}
	v.secret(sp+".api_key", st.APIKey, "a secret or restricted key that can write customers, for example api_key: ${STRIPE_API_KEY}")
	v.baseURL(sp+".base_url", st.BaseURL, false)
	names := v.sinkFields(sp+".fields", st.Fields, "customer param")
	for i, f := range st.Fields {
		if msg := stripe.CheckField(f.Name); f.Name != "" && msg != "" {
			v.errorf(fmt.Sprintf("%s.fields[%d].name", sp, i), "%s", msg)
		}
	}
	v.keyField(sp+".key_field", st.KeyField, names, len(st.Fields) > 0)
	if st.DeleteMode != "" && st.DeleteMode != "delete" && st.DeleteMode != "ignore" {
		v.errorf(sp+".delete_mode", "%q: use delete (default) or ignore", st.DeleteMode)
	}
	if st.RequestsPerSecond < 0 {
		v.errorf(sp+".requests_per_second", "must not be negative")
	}
	if st.MaxConcurrent < 0 {
		v.errorf(sp+".max_concurrent", "must not be negative")
	}
}

// sinkFields checks a field mapping and returns its names by index.
func (v *validator) sinkFields(p string, fields []HubSpotSinkProperty, what string) map[string]int {
	names := map[string]int{}
	if len(fields) == 0 {
		v.errorf(p, "at least one field is required, for example fields: [{name: email, from: email}]")
	}
	for i, f := range fields {
		fp := fmt.Sprintf("%s[%d]", p, i)
		if f.Name == "" {
			v.errorf(fp+".name", "required: the %s", what)
		} else if j, dup := names[f.Name]; dup {
			v.errorf(fp+".name", "duplicate field %q (also [%d])", f.Name, j)
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
	return names
}

// keyField checks that the field identifying records is set and mapped.
func (v *validator) keyField(p, key string, names map[string]int, mapped bool) {
	if key == "" {
		v.errorf(p, "required: the mapped field that identifies a record, for example %s: id", p[strings.LastIndexByte(p, '.')+1:])
	} else if _, ok := names[key]; !ok && mapped {
		v.errorf(p, "%q is not one of the fields; map it, for example {name: %s, from: %s}", key, key, key)
	}
}

package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"time"
)

// objectTypeRE is what a HubSpot object type may look like: a standard
// type (contacts) or a custom object's id (2-123456 or p123_cars).
var objectTypeRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

var hubspotPropertyTypes = []string{"", "string", "int64", "float64", "bool", "timestamp", "json"}

// hubspot checks a source of type hubspot: the hubspot block is required,
// the Postgres keys are not allowed.
func (v *validator) hubspot(p string, s Source) {
	h := s.HubSpot
	if !h.IsSet() {
		v.errorf(p+".hubspot", "required for a source of type hubspot, for example:\n  hubspot:\n    token: ${HUBSPOT_TOKEN}\n    objects:\n      - {type: contacts, properties: [email, firstname]}")
		return
	}
	if s.DSN != "" || len(s.Tables) > 0 || len(s.Keys) > 0 || s.SignalTable != "" || len(s.Messages) > 0 {
		v.errorf(p, "dsn, tables, keys, signal_table and messages are for postgres sources; a hubspot source lists its objects under hubspot.objects")
	}
	hp := p + ".hubspot"
	if !h.Token.IsSet() {
		v.errorf(hp+".token", "required: a private app access token, for example token: ${HUBSPOT_TOKEN}")
	}
	if h.BaseURL != "" {
		if u, err := url.Parse(h.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf(hp+".base_url", "%q is not an http:// or https:// URL", h.BaseURL)
		}
	}
	if len(h.Objects) == 0 {
		v.errorf(hp+".objects", "at least one object type is required, for example objects: [{type: contacts, properties: [email]}]")
	}
	seen := map[string]int{}
	for i, o := range h.Objects {
		op := fmt.Sprintf("%s.objects[%d]", hp, i)
		switch {
		case o.Type == "":
			v.errorf(op+".type", "required: contacts, companies, deals, tickets or a custom object type id")
		case !objectTypeRE.MatchString(o.Type):
			v.errorf(op+".type", "%q is not an object type; use lowercase letters, digits, '_' and '-'", o.Type)
		default:
			if j, dup := seen[o.Type]; dup {
				v.errorf(op+".type", "duplicate object type %q (also objects[%d])", o.Type, j)
			}
			seen[o.Type] = i
		}
		props := map[string]bool{}
		for j := range o.Properties {
			pp := fmt.Sprintf("%s.properties[%d]", op, j)
			name, typ := o.Property(j)
			switch {
			case name == "":
				v.errorf(pp, "empty property name; write name or name:type")
			case name == "id" || name == "updated_at" || name == "_raw":
				v.errorf(pp, "%q is a reserved column name (id, updated_at, _raw)", name)
			case props[name]:
				v.errorf(pp, "duplicate property %q", name)
			}
			if !slices.Contains(hubspotPropertyTypes, typ) {
				v.errorf(pp, "unknown type %q in %q; use string, int64, float64, bool, timestamp or json", typ, o.Properties[j])
			}
			props[name] = true
		}
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"poll_interval", h.PollInterval}, {"lookback", h.Lookback}, {"settle", h.Settle}} {
		if d.d < 0 {
			v.errorf(hp+"."+d.key, "must not be negative")
		}
	}
	if h.RequestsPerSecond < 0 {
		v.errorf(hp+".requests_per_second", "must not be negative")
	}
}

var hubspotSinkTransforms = []string{"", "email", "phone", "country", "company_name", "trim", "lowercase", "uppercase"}

// hubspotSink checks a sink of type hubspot.
func (v *validator) hubspotSink(p string, s Sink) {
	h := s.HubSpot
	hp := p + ".hubspot"
	if !h.IsSet() {
		v.errorf(hp, "required for a sink of type hubspot, for example:\n  hubspot:\n    token: ${HUBSPOT_TOKEN}\n    object_type: contacts\n    id_property: email\n    properties:\n      - {name: email, from: email, transform: email, required: true}")
		return
	}
	if s.DSN.IsSet() {
		v.errorf(p+".dsn", "not used by a sink of type hubspot; remove it")
	}
	if s.Reconcile.Interval != 0 {
		v.errorf(p+".reconcile.interval", "scheduled reconciliation is not supported for a sink of type hubspot")
	}
	if !h.Token.IsSet() {
		v.errorf(hp+".token", "required: a private app access token, for example token: ${HUBSPOT_TOKEN}")
	}
	if h.BaseURL != "" {
		if u, err := url.Parse(h.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf(hp+".base_url", "%q is not an http:// or https:// URL", h.BaseURL)
		}
	}
	switch {
	case h.ObjectType == "":
		v.errorf(hp+".object_type", "required: contacts, companies, deals, tickets or a custom object type id")
	case !objectTypeRE.MatchString(h.ObjectType):
		v.errorf(hp+".object_type", "%q is not an object type; use lowercase letters, digits, '_' and '-'", h.ObjectType)
	}
	if len(h.Properties) == 0 {
		v.errorf(hp+".properties", "at least one property is required, for example properties: [{name: email, from: email}]")
	}
	names := map[string]int{}
	for i, pr := range h.Properties {
		pp := fmt.Sprintf("%s.properties[%d]", hp, i)
		switch {
		case pr.Name == "":
			v.errorf(pp+".name", "required: the HubSpot property name")
		default:
			if j, dup := names[pr.Name]; dup {
				v.errorf(pp+".name", "duplicate property %q (also properties[%d])", pr.Name, j)
			}
			names[pr.Name] = i
		}
		if pr.From == "" && pr.Value == "" {
			v.errorf(pp, "set from (a column) or value (a constant)")
		}
		if !slices.Contains(hubspotSinkTransforms, pr.Transform) {
			v.errorf(pp+".transform", "unknown transform %q; use email, phone, country, company_name, trim, lowercase or uppercase", pr.Transform)
		}
		if pr.Region != "" && pr.Transform != "phone" {
			v.errorf(pp+".region", "only for transform: phone")
		}
	}
	if h.IDProperty == "" {
		v.errorf(hp+".id_property", "required: the unique property upserts match on, for example id_property: email")
	} else if _, ok := names[h.IDProperty]; !ok && len(h.Properties) > 0 {
		v.errorf(hp+".id_property", "%q is not one of the properties; map it, for example {name: %s, from: %s}", h.IDProperty, h.IDProperty, h.IDProperty)
	}
	if h.DeleteMode != "" && h.DeleteMode != "archive" && h.DeleteMode != "ignore" {
		v.errorf(hp+".delete_mode", "%q: use archive (default) or ignore", h.DeleteMode)
	}
	if h.RequestsPerSecond < 0 {
		v.errorf(hp+".requests_per_second", "must not be negative")
	}
}

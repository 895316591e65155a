package config

import (
	"strings"
	"testing"
)

// sinkYAML is a pipeline with one postgres source and one sink of typ.
func sinkYAML(typ string) string {
	return `
name: t
sources:
  - name: app
    type: postgres
    dsn: postgres://localhost/app
    tables: [public.customers]
sinks:
  - name: s1
    type: ` + typ + `
    from: [app.public.customers]
`
}

type sinkCase struct{ extra, want string }

// checkSinkErrors parses base plus each case's lines and fails unless the
// error names the case's want; base plus ok must parse.
func checkSinkErrors(t *testing.T, base, ok string, cases []sinkCase) {
	t.Helper()
	for _, tc := range cases {
		_, err := Parse([]byte(base+tc.extra), "pipeline.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.extra, err, tc.want)
		}
	}
	if _, err := Parse([]byte(base+ok), "pipeline.yaml"); err != nil {
		t.Fatal(err)
	}
}

// refusedOn fails unless a block on a sink of another type is refused.
func refusedOn(t *testing.T, other, block, want string) {
	t.Helper()
	if _, err := Parse([]byte(sinkYAML(other)+block), "pipeline.yaml"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s block on a %s sink: %v, want %q", strings.Fields(block)[0], other, err, want)
	}
}

// A stripe block is checked key by key; it is refused on other sinks.
func TestStripeSinkValidation(t *testing.T) {
	ok := "    stripe: {api_key: sk_test_1, key_field: id, fields: [{name: id, from: id}, {name: email, from: email}]}\n"
	checkSinkErrors(t, sinkYAML("stripe"), ok, []sinkCase{
		{"", "sinks[0].stripe: required for a sink of type stripe"},
		{"    stripe: {key_field: id, fields: [{name: id, from: id}]}\n", "sinks[0].stripe.api_key: required"},
		{"    stripe: {api_key: k, base_url: ftp://x, key_field: id, fields: [{name: id, from: id}]}\n", `sinks[0].stripe.base_url: "ftp://x" is not an http:// or https:// URL`},
		{"    stripe: {api_key: k, fields: [{name: id, from: id}]}\n", "sinks[0].stripe.key_field: required"},
		{"    stripe: {api_key: k, key_field: key, fields: [{name: id, from: id}]}\n", `sinks[0].stripe.key_field: "key" is not one of the fields`},
		{"    stripe: {api_key: k, key_field: id, fields: [{name: id, from: id}, {name: address.town, from: city}]}\n", `sinks[0].stripe.fields[1].name: address part "town"`},
		{"    stripe: {api_key: k, key_field: id, fields: [{name: id, from: id}, {name: 'metadata.a[b]', from: city}]}\n", `sinks[0].stripe.fields[1].name: metadata key "a[b]"`},
		{"    stripe: {api_key: k, key_field: id, fields: [{name: id, from: id}, {name: id, from: x}]}\n", `sinks[0].stripe.fields[1].name: duplicate field "id"`},
		{"    stripe: {api_key: k, key_field: id, fields: [{name: id, from: id, transform: soundex}]}\n", `sinks[0].stripe.fields[0].transform: unknown transform "soundex"`},
		{"    stripe: {api_key: k, key_field: id, fields: [{name: id}]}\n", `sinks[0].stripe.fields[0]: set from (a column) or value (a constant)`},
		{"    stripe: {api_key: k, key_field: id, delete_mode: archive, fields: [{name: id, from: id}]}\n", `sinks[0].stripe.delete_mode: "archive": use delete (default) or ignore`},
		{"    stripe: {api_key: k, key_field: id, max_concurrent: -1, fields: [{name: id, from: id}]}\n", `sinks[0].stripe.max_concurrent: must not be negative`},
		{ok + "    dsn: postgres://x/y\n", "sinks[0].dsn: not used by a sink of type stripe"},
		{ok + "    retry: {max_attempts: -1}\n", "sinks[0].retry.max_attempts: must not be negative"},
	})
	checkSinkErrors(t, sinkYAML("stripe"), ok+"    retry: {max_attempts: 3}\n", nil)
	refusedOn(t, "rest", "    rest: {base_url: https://api.example.com, id_field: id, upsert: {path: '/v1/c/{id}'}, fields: [{name: id, from: id}]}\n"+ok, "sinks[0].stripe: only for a sink of type stripe")
}

// A salesforce block is checked key by key; it is refused on other sinks.
func TestSalesforceSinkValidation(t *testing.T) {
	ok := "    salesforce: {instance_url: https://x.my.salesforce.com, access_token: t, sobject: Contact, external_id_field: Ext__c, fields: [{name: Ext__c, from: id}]}\n"
	checkSinkErrors(t, sinkYAML("salesforce"), ok, []sinkCase{
		{"", "sinks[0].salesforce: required for a sink of type salesforce"},
		{"    salesforce: {access_token: t, sobject: Contact, external_id_field: Ext__c, fields: [{name: Ext__c, from: id}]}\n", "sinks[0].salesforce.instance_url: required"},
		{"    salesforce: {instance_url: https://x.example, sobject: Contact, external_id_field: Ext__c, fields: [{name: Ext__c, from: id}]}\n", "sinks[0].salesforce.access_token: required"},
		{"    salesforce: {instance_url: https://x.example, access_token: t, external_id_field: Ext__c, fields: [{name: Ext__c, from: id}]}\n", "sinks[0].salesforce.sobject: required"},
		{"    salesforce: {instance_url: https://x.example, access_token: t, sobject: 'My Thing', external_id_field: Ext__c, fields: [{name: Ext__c, from: id}]}\n", `sinks[0].salesforce.sobject: "My Thing" is not a Salesforce API name`},
		{"    salesforce: {instance_url: https://x.example, access_token: t, sobject: Contact, api_version: latest, external_id_field: Ext__c, fields: [{name: Ext__c, from: id}]}\n", `sinks[0].salesforce.api_version: "latest"`},
		{"    salesforce: {instance_url: https://x.example, access_token: t, sobject: Contact, fields: [{name: Ext__c, from: id}]}\n", "sinks[0].salesforce.external_id_field: required"},
		{"    salesforce: {instance_url: https://x.example, access_token: t, sobject: Contact, external_id_field: Key__c, fields: [{name: Ext__c, from: id}]}\n", `sinks[0].salesforce.external_id_field: "Key__c" is not one of the fields`},
		{"    salesforce: {instance_url: https://x.example, access_token: t, sobject: Contact, external_id_field: Ext__c, fields: [{name: Ext__c, from: id}, {name: 'e-mail', from: email}]}\n", `sinks[0].salesforce.fields[1].name: "e-mail" is not a Salesforce API name`},
		{"    salesforce: {instance_url: https://x.example, access_token: t, sobject: Contact, external_id_field: Ext__c, delete_mode: archive, fields: [{name: Ext__c, from: id}]}\n", `sinks[0].salesforce.delete_mode: "archive"`},
		{ok + "    reconcile: {interval: 1m}\n", "sinks[0].reconcile.interval: scheduled reconciliation is not supported for a sink of type salesforce"},
	})
	refusedOn(t, "stripe", "    stripe: {api_key: k, key_field: id, fields: [{name: id, from: id}]}\n"+ok, "sinks[0].salesforce: only for a sink of type salesforce")
}

// A mailchimp block is checked key by key; it is refused on other sinks.
func TestMailchimpSinkValidation(t *testing.T) {
	ok := "    mailchimp: {api_key: k-us1, list_id: L1, fields: [{name: email_address, from: email}]}\n"
	checkSinkErrors(t, sinkYAML("mailchimp"), ok, []sinkCase{
		{"", "sinks[0].mailchimp: required for a sink of type mailchimp"},
		{"    mailchimp: {list_id: L1, fields: [{name: email_address, from: email}]}\n", "sinks[0].mailchimp.api_key: required"},
		{"    mailchimp: {api_key: nodc, list_id: L1, fields: [{name: email_address, from: email}]}\n", "sinks[0].mailchimp.api_key: has no data center suffix"},
		{"    mailchimp: {api_key: k-us1, fields: [{name: email_address, from: email}]}\n", "sinks[0].mailchimp.list_id: required"},
		{"    mailchimp: {api_key: k-us1, list_id: L1, fields: [{name: FNAME, from: name}]}\n", `sinks[0].mailchimp.email_field: "email_address" is not one of the fields`},
		{"    mailchimp: {api_key: k-us1, list_id: L1, fields: [{name: email_address, from: email}, {name: first_name, from: name}]}\n", `sinks[0].mailchimp.fields[1].name: "first_name" is not a merge tag`},
		{"    mailchimp: {api_key: k-us1, list_id: L1, status_if_new: archived, fields: [{name: email_address, from: email}]}\n", `sinks[0].mailchimp.status_if_new: "archived"`},
		{"    mailchimp: {api_key: k-us1, list_id: L1, delete_mode: delete, fields: [{name: email_address, from: email}]}\n", `sinks[0].mailchimp.delete_mode: "delete": use archive (default) or ignore`},
		{"    mailchimp: {api_key: k-us1, list_id: L1, max_concurrent: 20, fields: [{name: email_address, from: email}]}\n", `sinks[0].mailchimp.max_concurrent: 20`},
	})
	refusedOn(t, "postgres", "    dsn: postgres://localhost/wh\n"+ok, "sinks[0].mailchimp: only for a sink of type mailchimp")
}

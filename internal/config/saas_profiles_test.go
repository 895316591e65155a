package config

import (
	"strings"
	"testing"
	"time"
)

// saasSource is a source of a SaaS profile type with the defaults Load
// fills in for every source, edited by set.
func saasSource(name string, typ SourceType, set func(*Source)) Source {
	s := Source{
		Name: name, Type: typ, Slot: "syncline_" + name, Publication: "syncline_" + name, Snapshot: SnapshotInitial,
		StatusInterval: 10 * time.Second, BatchMaxRecords: 10000, BatchMaxWait: 100 * time.Millisecond,
		HeartbeatInterval: 10 * time.Second, MaxBackfills: 2,
	}
	set(&s)
	return s
}

func TestSaaSProfileSources(t *testing.T) {
	t.Run("their objects are their tables and a sink reads them", func(t *testing.T) {
		doc := `name: x
sources:
  - name: sfdc
    type: salesforce
    salesforce:
      instance_url: https://acme.my.salesforce.com
      token: t
      objects: [{type: Account, properties: [Name]}, {type: Invoice__c}]
  - name: pay
    type: stripe
    stripe: {api_key: sk_1, objects: [{type: customer}, {type: checkout.session}]}
  - name: desk
    type: zendesk
    zendesk: {subdomain: acme, email: a@b.c, api_token: t, objects: [{type: tickets}]}
  - name: mc
    type: mailchimp
    mailchimp: {api_key: abc-us6, lists: [{id: a1b2, name: news}]}
sinks:
  - {name: wh, type: postgres, dsn: host=h, from: [sfdc.salesforce.account, pay.*, desk.zendesk.tickets, mc.mailchimp.news]}
`
		c, err := Parse([]byte(doc), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		want := [][]TableName{
			{{"salesforce", "account"}, {"salesforce", "invoice__c"}},
			{{"stripe", "customer"}, {"stripe", "checkout_session"}},
			{{"zendesk", "tickets"}},
			{{"mailchimp", "news"}},
		}
		for i, w := range want {
			got := c.Sources[i].QualifiedTables()
			if len(got) != len(w) {
				t.Fatalf("source %d: QualifiedTables = %v, want %v", i, got, w)
			}
			for j := range w {
				if got[j] != w[j] {
					t.Errorf("source %d: QualifiedTables = %v, want %v", i, got, w)
				}
			}
		}
		if n := len(c.SinkTables(c.Sinks[0])); n != 5 {
			t.Errorf("the sink reads %d tables, want 5", n)
		}
	})
	t.Run("problems name their keys", func(t *testing.T) {
		doc := `name: x
sources:
  - name: sfdc
    type: salesforce
    dsn: host=h
    salesforce:
      instance_url: ftp://x
      api_version: v61
      lookback: -1s
      reconcile_interval: 30s
      objects: [{type: "Account; DROP", properties: ["Name", "Name", "Bad Field", "id"]}]
  - name: pay
    type: stripe
    stripe: {objects: [{type: Customer}], requests_per_second: -1}
    zendesk: {subdomain: x}
  - name: desk
    type: zendesk
    zendesk: {api_token: t, objects: [{type: tickets, properties: ["x:money"]}, {type: views}]}
  - name: mc
    type: mailchimp
    mailchimp: {api_key: nodc, lists: [{id: A-1, name: news}, {id: a1, name: news}], reconcile_interval: -1h}
  - name: sf2
    type: salesforce
sinks:
  - {name: wh, type: postgres, dsn: host=h, from: [sfdc.*]}
`
		_, err := Parse([]byte(doc), "p.yaml")
		if err == nil {
			t.Fatal("Parse succeeded")
		}
		for _, want := range []string{
			"sources[0]: dsn, tables, keys, signal_table and messages are for postgres sources",
			`sources[0].salesforce.instance_url: "ftp://x" is not an http:// or https:// URL`,
			`sources[0].salesforce.api_version: "v61" is not an API version`,
			"sources[0].salesforce.token: required",
			"sources[0].salesforce.lookback: must not be negative",
			"sources[0].salesforce.reconcile_interval: 30s: use 1m or more",
			`sources[0].salesforce.objects[0].type: "Account; DROP" is not an sObject API name`,
			`sources[0].salesforce.objects[0].properties[1]: duplicate property "Name"`,
			`sources[0].salesforce.objects[0].properties[2]: "Bad Field" is not a field path`,
			`sources[0].salesforce.objects[0].properties[3]: "id" is a reserved column name`,
			"sources[1].stripe.api_key: required",
			`sources[1].stripe.objects[0].type: "Customer" is not an object type`,
			"sources[1].stripe.requests_per_second: must not be negative",
			"sources[1].zendesk: only allowed for sources of type zendesk",
			"sources[2].zendesk.subdomain: required (or base_url)",
			"sources[2].zendesk.email: required",
			`sources[2].zendesk.objects[0].properties[0]: unknown type "money"`,
			`sources[2].zendesk.objects[1].type: "views" is not tickets or users`,
			"sources[3].mailchimp.api_key: does not end in a data center",
			"sources[3].mailchimp.reconcile_interval: -1h0m0s: use 1m or more",
			`sources[3].mailchimp.lists[0].id: "A-1" is not a list id`,
			`sources[3].mailchimp.lists[1].name: duplicate name "news"`,
			"sources[4].salesforce: required for a source of type salesforce",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("errors lack %q:\n%v", want, err)
			}
		}
	})
}

package config

import (
	"strings"
	"testing"
)

func TestHubSpotSink(t *testing.T) {
	t.Run("a valid block parses", func(t *testing.T) {
		doc := `name: x
sources:
  - {name: app, type: postgres, dsn: host=h, tables: [customers]}
sinks:
  - name: crm
    type: hubspot
    from: [app.*]
    hubspot:
      token: pat-1
      object_type: contacts
      id_property: email
      properties:
        - {name: email, from: email, transform: email, required: true}
        - {name: lifecyclestage, value: lead}
`
		c, err := Parse([]byte(doc), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		h := c.Sinks[0].HubSpot
		if h.ObjectType != "contacts" || len(h.Properties) != 2 || !h.Properties[0].Required || h.Properties[1].Value != "lead" {
			t.Errorf("parsed %+v", h)
		}
	})
	t.Run("problems name their keys", func(t *testing.T) {
		doc := `name: x
sources:
  - {name: app, type: postgres, dsn: host=h, tables: [customers]}
sinks:
  - name: crm
    type: hubspot
    dsn: host=h
    from: [app.*]
    reconcile: {interval: 1h}
    hubspot:
      base_url: ftp://x
      object_type: Contacts
      id_property: mail
      delete_mode: hard
      properties:
        - {name: email, from: email, transform: soundex}
        - {name: email, region: US}
  - name: crm2
    type: hubspot
    from: [app.*]
  - name: wh
    type: postgres
    dsn: host=h
    from: [app.*]
    hubspot: {token: x}
`
		_, err := Parse([]byte(doc), "p.yaml")
		if err == nil {
			t.Fatal("Parse succeeded")
		}
		for _, want := range []string{
			"sinks[0].dsn: not used by a sink of type hubspot",
			"sinks[0].reconcile.interval: scheduled reconciliation is not supported",
			"sinks[0].hubspot.token: required",
			"sinks[0].hubspot.base_url: \"ftp://x\" is not an http:// or https:// URL",
			"sinks[0].hubspot.object_type: \"Contacts\" is not an object type",
			"sinks[0].hubspot.id_property: \"mail\" is not one of the properties",
			"sinks[0].hubspot.delete_mode: \"hard\": use archive (default) or ignore",
			"sinks[0].hubspot.properties[0].transform: unknown transform \"soundex\"",
			"sinks[0].hubspot.properties[1].name: duplicate property \"email\"",
			"sinks[0].hubspot.properties[1]: set from (a column) or value (a constant)",
			"sinks[0].hubspot.properties[1].region: only for transform: phone",
			"sinks[1].hubspot: required for a sink of type hubspot",
			"sinks[2].hubspot: only for a sink of type hubspot",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
	})
}

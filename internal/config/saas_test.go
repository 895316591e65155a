package config

import (
	"strings"
	"testing"
)

func TestHubSpotSource(t *testing.T) {
	t.Run("its objects are its tables and a sink reads them", func(t *testing.T) {
		doc := `name: x
sources:
  - name: crm
    type: hubspot
    hubspot:
      token: pat-1
      objects:
        - {type: contacts, properties: [email, "score:int64"]}
        - {type: deals}
sinks:
  - {name: wh, type: postgres, dsn: host=h, from: [crm.hubspot.contacts, crm.hubspot.deals]}
`
		c, err := Parse([]byte(doc), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		got := c.Sources[0].QualifiedTables()
		if len(got) != 2 || got[0] != (TableName{Schema: "hubspot", Name: "contacts"}) || got[1] != (TableName{Schema: "hubspot", Name: "deals"}) {
			t.Errorf("QualifiedTables = %v", got)
		}
		if name, typ := c.Sources[0].HubSpot.Objects[0].Property(1); name != "score" || typ != "int64" {
			t.Errorf("Property(1) = %q, %q", name, typ)
		}
	})
	t.Run("problems name their keys", func(t *testing.T) {
		doc := `name: x
sources:
  - name: crm
    type: hubspot
    dsn: host=h
    hubspot:
      base_url: ftp://x
      lookback: -1s
      objects:
        - {type: Contacts}
        - {type: deals, properties: [id, "amount:money", amount, amount]}
  - name: crm2
    type: hubspot
  - name: app
    type: postgres
    dsn: host=h
    tables: [t]
    hubspot: {token: x}
`
		_, err := Parse([]byte(doc), "p.yaml")
		if err == nil {
			t.Fatal("Parse succeeded")
		}
		for _, want := range []string{
			"sources[0]: dsn, tables, keys, signal_table and messages are for postgres sources",
			"sources[0].hubspot.token: required",
			`sources[0].hubspot.base_url: "ftp://x" is not an http:// or https:// URL`,
			"sources[0].hubspot.lookback: must not be negative",
			`sources[0].hubspot.objects[0].type: "Contacts" is not an object type`,
			`sources[0].hubspot.objects[1].properties[0]: "id" is a reserved column name`,
			`sources[0].hubspot.objects[1].properties[1]: unknown type "money"`,
			`sources[0].hubspot.objects[1].properties[3]: duplicate property "amount"`,
			"sources[1].hubspot: required for a source of type hubspot",
			"sources[2].hubspot: only allowed for sources of type hubspot",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("errors lack %q:\n%v", want, err)
			}
		}
	})
}

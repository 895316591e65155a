package config

import (
	"strings"
	"testing"
)

// writeBackYAML is a pipeline with a contact entity over the app's
// customers and a HubSpot source, and a postgres sink reading it.
func writeBackYAML(from string) string {
	return `
name: t
sources:
  - name: app
    type: postgres
    dsn: postgres://localhost/app
    tables: [public.customers]
  - name: crm
    type: hubspot
    hubspot: {token: pat, objects: [{type: contacts, properties: [email]}]}
entities:
  - name: contact
    sources:
      - from: app.public.customers
      - from: crm.hubspot.contacts
    fields: {email: {}, name: {}}
sinks:
  - name: s1
    type: postgres
    dsn: postgres://localhost/app
    from: [` + from + `]
`
}

// A write_back block is checked key by key, and refused where it cannot
// work.
func TestWriteBackValidation(t *testing.T) {
	ok := "    system: app\n    write_back: {table: public.customers, columns: [{name: name, from: name}]}\n"
	checkSinkErrors(t, writeBackYAML("entity.contact"), ok, []sinkCase{
		{"    system: app\n    write_back: {columns: [{name: name, from: name}]}\n", "sinks[0].write_back.table: required"},
		{"    system: app\n    write_back: {table: 'a.b.c', columns: [{name: name, from: name}]}\n", "sinks[0].write_back.table: invalid table name"},
		{"    system: app\n    write_back: {table: customers}\n", "sinks[0].write_back.columns: at least one field is required"},
		{"    system: app\n    write_back: {table: customers, columns: [{name: name}]}\n", "sinks[0].write_back.columns[0]: set from (a column) or value (a constant)"},
		{"    system: app\n    write_back: {table: customers, columns: [{name: name, from: name, transform: shout}]}\n", `sinks[0].write_back.columns[0].transform: unknown transform "shout"`},
		{"    write_back: {table: customers, columns: [{name: name, from: name}]}\n", "sinks[0].system: required with write_back"},
		{"    system: app\n    write_back: {table: public.orders, columns: [{name: name, from: name}]}\n", "sinks[0].write_back.table: public.orders is not the table source app streams into entity contact (public.customers)"},
		{"    system: app\n    write_back: {table: customers, columns: [{name: name, from: nmae}]}\n", `sinks[0].write_back.columns[0].from: "nmae" is not a field of entity contact`},
		{"    system: billing\n    write_back: {table: customers, columns: [{name: name, from: name}]}\n", `sinks[0].system: "billing" is not a source of entity contact; its sources: app, crm`},
	})
	// Only from one entity.
	if _, err := Parse([]byte(writeBackYAML("app.public.customers")+ok), "pipeline.yaml"); err == nil || !strings.Contains(err.Error(), "sinks[0].from: a write_back sink reads exactly one entity") {
		t.Errorf("write_back from a table: %v", err)
	}
	// Only on postgres sinks.
	refusedOn(t, "webhook", "    write_back: {table: customers, columns: [{name: name, from: name}]}\n", "sinks[0].write_back: only for a sink of type postgres")
}

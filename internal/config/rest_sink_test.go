package config

import (
	"strings"
	"testing"
)

func TestRESTSinkValidation(t *testing.T) {
	base := `
name: t
sources:
  - name: app
    type: postgres
    dsn: postgres://localhost/app
    tables: [public.customers]
sinks:
  - name: api
    type: rest
    from: [app.public.customers]
`
	ok := "    rest: {base_url: https://api.example.com, id_field: id, upsert: {path: '/v1/c/{id}'}, fields: [{name: id, from: id}]}\n"
	for _, tc := range []struct{ extra, want string }{
		{"", "sinks[0].rest: required for a sink of type rest"},
		{"    rest: {base_url: ftp://x, id_field: id, upsert: {path: /v1/c}, fields: [{name: id, from: id}]}\n", "sinks[0].rest.base_url: required: an http:// or https:// URL"},
		{"    rest: {base_url: https://x.example, id_field: key, upsert: {path: /v1/c}, fields: [{name: id, from: id}]}\n", `sinks[0].rest.id_field: "key" is not one of the fields`},
		{"    rest: {base_url: https://x.example, id_field: id, fields: [{name: id, from: id}]}\n", "sinks[0].rest.upsert.path: required"},
		{"    rest: {base_url: https://x.example, id_field: id, upsert: {path: '/v1/c/{nope}'}, fields: [{name: id, from: id}]}\n", "sinks[0].rest.upsert.path: placeholder {nope} is not a mapped field"},
		{"    rest: {base_url: https://x.example, id_field: id, upsert: {path: '/v1/c/{id}', batch_field: items}, fields: [{name: id, from: id}]}\n", "a batch request (batch_field) has no placeholders"},
		{"    rest: {base_url: https://x.example, id_field: id, upsert: {method: GET, path: /v1/c}, fields: [{name: id, from: id}]}\n", `sinks[0].rest.upsert.method: "GET": use POST, PUT, PATCH or DELETE`},
		{"    rest: {base_url: https://x.example, id_field: id, upsert: {path: /v1/c}, delete: {method: DELETE}, fields: [{name: id, from: id}]}\n", "sinks[0].rest.delete.path: required when delete is set"},
		{"    rest: {base_url: https://x.example, id_field: id, upsert: {path: /v1/c}, read: {method: POST, path: '/v1/c/{id}'}, fields: [{name: id, from: id}]}\n", `sinks[0].rest.read.method: "POST": a read is a GET`},
		{"    rest: {base_url: https://x.example, id_field: id, upsert: {path: /v1/c}, read: {path: /v1/c}, fields: [{name: id, from: id}]}\n", `sinks[0].rest.read.path: "/v1/c" has no {id}`},
		{"    rest: {base_url: https://x.example, id_field: id, upsert: {path: /v1/c}, read: {method: GET}, fields: [{name: id, from: id}]}\n", "sinks[0].rest.read.path: required when read is set"},
		{"    rest: {base_url: https://x.example, auth: {type: bearer}, id_field: id, upsert: {path: /v1/c}, fields: [{name: id, from: id}]}\n", "sinks[0].rest.auth.token: required for auth type bearer"},
		{"    rest: {base_url: https://x.example, auth: {type: basic, username: u}, id_field: id, upsert: {path: /v1/c}, fields: [{name: id, from: id}]}\n", "sinks[0].rest.auth.password: required for auth type basic"},
		{"    rest: {base_url: https://x.example, auth: {type: oauth}, id_field: id, upsert: {path: /v1/c}, fields: [{name: id, from: id}]}\n", `sinks[0].rest.auth.type: unknown "oauth"`},
		{"    rest: {base_url: https://x.example, id_field: id, upsert: {path: /v1/c}, fields: [{name: id, from: id, transform: soundex}]}\n", `sinks[0].rest.fields[0].transform: unknown transform "soundex"`},
		{ok + "    retry: {initial_backoff: 10s, max_backoff: 1s}\n", "sinks[0].retry.max_backoff: 1s is below initial_backoff 10s"},
		{ok + "    retry: {max_attempts: -1}\n", "sinks[0].retry.max_attempts: must not be negative"},
	} {
		_, err := Parse([]byte(base+tc.extra), "pipeline.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.extra, err, tc.want)
		}
	}
	if _, err := Parse([]byte(base+ok+"    retry: {max_attempts: 3}\n"), "pipeline.yaml"); err != nil {
		t.Fatal(err)
	}
	hook := strings.Replace(base, "type: rest", "type: webhook", 1)
	if _, err := Parse([]byte(hook+"    webhook: {url: https://x.example/h, secret: s}\n    retry: {max_attempts: 3}\n"), "pipeline.yaml"); err == nil || !strings.Contains(err.Error(), "sinks[0].retry: only for sinks of type hubspot, rest, stripe") {
		t.Errorf("retry on a webhook sink: %v", err)
	}
	if _, err := Parse([]byte(hook+"    webhook: {url: https://x.example/h, secret: s}\n"+strings.Replace(ok, "    rest:", "    rest:", 1)), "pipeline.yaml"); err == nil || !strings.Contains(err.Error(), "sinks[0].rest: only for a sink of type rest") {
		t.Errorf("rest block on a webhook sink: %v", err)
	}
}

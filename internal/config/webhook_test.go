package config

import (
	"strings"
	"testing"
)

func TestWebhookSinkValidation(t *testing.T) {
	base := `
name: t
sources:
  - name: app
    type: postgres
    dsn: postgres://localhost/app
    tables: [public.customers]
sinks:
  - name: hook
    type: webhook
    from: [app.public.customers]
`
	for _, tc := range []struct{ extra, want string }{
		{"", "sinks[0].webhook: required for a sink of type webhook"},
		{"    webhook: {url: https://x.example/h}\n", "sinks[0].webhook.secret: required"},
		{"    webhook: {url: ftp://x, secret: s}\n", "sinks[0].webhook.url: not an http:// or https:// URL"},
		{"    webhook: {url: https://x.example/h, secret: s, headers: [{name: X-Syncline-Signature, value: v}]}\n", "sinks[0].webhook.headers[0].name: X-Syncline-Signature is set by the sink itself"},
		{"    webhook: {url: https://x.example/h, secret: s, headers: [{name: 'a b', value: v}]}\n", `sinks[0].webhook.headers[0].name: "a b" is not a header name`},
		{"    dsn: postgres://x/y\n    webhook: {url: https://x.example/h, secret: s}\n", "sinks[0].dsn: not used by a sink of type webhook"},
	} {
		_, err := Parse([]byte(base+tc.extra), "pipeline.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.extra, err, tc.want)
		}
	}
	if _, err := Parse([]byte(base+"    webhook: {url: https://x.example/h, secret: s, headers: [{name: Authorization, value: Bearer y}]}\n"), "pipeline.yaml"); err != nil {
		t.Fatal(err)
	}
	pg := strings.Replace(base, "type: webhook", "type: postgres\n    dsn: postgres://x/y", 1)
	if _, err := Parse([]byte(pg+"    webhook: {url: https://x.example/h}\n"), "pipeline.yaml"); err == nil || !strings.Contains(err.Error(), "sinks[0].webhook: only for a sink of type webhook") {
		t.Errorf("webhook block on a postgres sink: %v", err)
	}
}

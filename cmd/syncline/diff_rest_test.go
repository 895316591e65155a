package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A rest sink without a read request cannot be compared: diff says what
// to set and exits 2.
func TestDiffRefusesRESTSinkWithoutRead(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`name: diff
data_dir: %s
sources: [{name: app, type: postgres, dsn: "postgres://127.0.0.1:1/app", tables: [people]}]
sinks:
  - name: api
    type: rest
    from: [app.public.people]
    rest:
      base_url: http://127.0.0.1:1
      id_field: id
      upsert: {path: "/v1/people/{id}"}
      fields: [{name: id, from: id}]
`, dir)
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := diffRun(t, bin, os.Environ(), "--config", path, "--sink", "api")
	if code != 2 || !strings.Contains(stderr, "set sinks[].rest.read") {
		t.Errorf("diff of a rest sink without read: exit %d, stderr %q; want 2 and what to set", code, stderr)
	}
}

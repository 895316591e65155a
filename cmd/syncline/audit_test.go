package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"syncline/internal/config"
	"syncline/internal/testenv"
	"syncline/sink/warehouse"
)

// TestAuditPrintsARecordsHistory runs the pipeline, changes a row three
// times at the source, and reads the row's history with `syncline audit`.
func TestAuditPrintsARecordsHistory(t *testing.T) {
	bin := buildBinary(t)
	pg := testenv.StartPostgres(t)
	src := pg.CreateDatabase(t, "app")
	wh := pg.CreateDatabase(t, "wh")
	pg.Exec(t, "app", "CREATE TABLE people (id int PRIMARY KEY, name text); INSERT INTO people VALUES (2, 'other')")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`name: audit
data_dir: %s
kafka: {embedded: {listen: "127.0.0.1:0"}}
registry: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:%d"}
sources: [{name: app, type: postgres, dsn: "${SRC}", tables: [people]}]
sinks: [{name: wh, type: postgres, dsn: "${WH}", schema: analytics, from: [app.public.people]}]
`, dir, freePort(t))
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "SRC="+src, "WH="+wh)
	startRun(t, bin, path, env)
	conn := pg.Conn(t, "wh")
	// The snapshot first, so that the row below arrives as a change.
	testenv.WaitFor(t, 90*time.Second, "the snapshot in the warehouse", func() bool {
		var n int
		return conn.QueryRow(t.Context(), "SELECT count(*) FROM analytics.people").Scan(&n) == nil && n == 1
	})
	waitAudit := func(n int) {
		t.Helper()
		testenv.WaitFor(t, 90*time.Second, fmt.Sprintf("%d audit rows of id 1", n), func() bool {
			var got int
			err := conn.QueryRow(t.Context(), `SELECT count(*) FROM analytics._syncline_audit WHERE key @> '{"id": 1}'`).Scan(&got)
			return err == nil && got == n
		})
	}
	// One change at a time, so that no batch collapses two of them.
	for i, sql := range []string{
		"INSERT INTO people VALUES (1, 'ann')",
		"UPDATE people SET name = 'anne' WHERE id = 1",
		"DELETE FROM people WHERE id = 1",
	} {
		pg.Exec(t, "app", sql)
		waitAudit(i + 1)
	}

	audit := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"audit", "--config", path}, args...)...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("syncline audit %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	t.Run("the table lists the record's writes newest first", func(t *testing.T) {
		out := audit("--sink", "wh", "people", "id=1")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "WRITTEN AT") {
			t.Fatalf("want a header and three rows:\n%s", out)
		}
		for i, want := range []struct{ op, srcOp string }{{"delete", "d"}, {"update", "u"}, {"insert", "c"}} {
			f := strings.Fields(lines[i+1])
			// WRITTEN AT is two fields (date and time).
			if len(f) < 10 || f[2] != want.op || f[3] != "people" || f[4] != "id=1" || f[5] != want.srcOp ||
				!strings.HasPrefix(f[9], "syncline.app.public.people/") {
				t.Errorf("row %d = %q, want operation %s, key id=1, source op %s and the change record", i, lines[i+1], want.op, want.srcOp)
			}
		}
		if strings.Contains(out, "id=2") {
			t.Errorf("another record's writes are listed:\n%s", out)
		}
	})
	t.Run("json output and a JSON key give the same history", func(t *testing.T) {
		var got []warehouse.AuditEntry
		if err := json.Unmarshal([]byte(audit("--sink", "wh", "app.public.people", `{"id": 1}`, "--output", "json")), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Operation != "delete" || got[2].Operation != "insert" || got[0].Offset <= got[2].Offset ||
			got[0].CommittedAt == nil || got[0].Position <= got[2].Position {
			t.Errorf("entries = %+v", got)
		}
		var key map[string]any
		if err := json.Unmarshal(got[0].Key, &key); err != nil || len(key) != 1 || key["id"] != float64(1) {
			t.Errorf("key = %s (%v), want {\"id\": 1}", got[0].Key, err)
		}
	})
	t.Run("bad input names the problem", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--sink", "nope", "people"}, `no sink "nope" in the config (its sinks: wh)`},
			{[]string{"--sink", "wh", "persons"}, `sink wh has no table "persons" (its tables: people)`},
			{[]string{"--sink", "wh", "people", "1"}, `key "1": use COLUMN=VALUE`},
			{[]string{"--sink", "wh", "people", "{id: 1}"}, "is not a JSON object"},
			{[]string{"--sink", "wh", "people", "--output", "yaml"}, `--output "yaml": use table or json`},
		} {
			cmd := exec.Command(bin, append([]string{"audit", "--config", path}, tc.args...)...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("audit %q: err %v, output %q; want an error with %q", tc.args, err, out, tc.want)
			}
		}
	})
}

func TestAuditArguments(t *testing.T) {
	t.Run("keys", func(t *testing.T) {
		key, text, err := parseAuditKey([]string{`{"id": 12345678901234567890}`})
		if err != nil || text != nil || fmt.Sprint(key["id"]) != "12345678901234567890" {
			t.Errorf("JSON key = %v, %v, %v; want the number kept exact", key, text, err)
		}
		key, text, err = parseAuditKey([]string{"a=1", "b=x=y"})
		if err != nil || key != nil || text["a"] != "1" || text["b"] != "x=y" {
			t.Errorf("pairs = %v, %v, %v", key, text, err)
		}
		for _, bad := range [][]string{{"{}"}, {`{"a": 1}`, "b=2"}, {"a=1", "a=2"}, {"=1"}} {
			if _, _, err := parseAuditKey(bad); err == nil {
				t.Errorf("key %q accepted", bad)
			}
		}
	})
	t.Run("since", func(t *testing.T) {
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		if got, err := parseSince("90m", now); err != nil || !got.Equal(now.Add(-90*time.Minute)) {
			t.Errorf("90m = %v, %v", got, err)
		}
		if got, err := parseSince("2026-01-01T00:00:00Z", now); err != nil || !got.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("a time = %v, %v", got, err)
		}
		for _, bad := range []string{"yesterday", "-1h"} {
			if _, err := parseSince(bad, now); err == nil {
				t.Errorf("--since %s accepted", bad)
			}
		}
	})
	t.Run("tables", func(t *testing.T) {
		cfg, err := config.Parse([]byte(`name: x
sources: [{name: app, type: postgres, dsn: "host=a", tables: [public.people, '"Sales"."Big Orders"']}]
sinks: [{name: wh, type: postgres, dsn: "host=w", from: [app.*]}]
`), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		for arg, want := range map[string]string{
			"people": "people", "public.people": "people", "app.public.people": "people",
			"Big Orders": "Big Orders", `"Sales"."Big Orders"`: "Big Orders", `app."Sales"."Big Orders"`: "Big Orders",
		} {
			if got, err := sinkTable(cfg, cfg.Sinks[0], arg); err != nil || got != want {
				t.Errorf("table %s = %q, %v; want %q", arg, got, err, want)
			}
		}
	})
}

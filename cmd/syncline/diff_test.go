package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"syncline/internal/testenv"
)

// diffRun runs `syncline diff` and returns its stdout, stderr and exit status.
func diffRun(t *testing.T, bin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"diff"}, args...)...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	t.Fatalf("diff: %v", err)
	return "", "", -1
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func metricsText(port int) string {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestDiffAndRepairThroughRun breaks a warehouse table that `syncline run`
// delivered, finds the damage with `syncline diff` and the scheduled
// reconciliation (syncline_drift_rows), and heals it with --repair.
func TestDiffAndRepairThroughRun(t *testing.T) {
	bin := buildBinary(t)
	pg := testenv.StartPostgres(t)
	src := pg.CreateDatabase(t, "app")
	wh := pg.CreateDatabase(t, "wh")
	pg.Exec(t, "app", `CREATE TABLE items (region int, id int, name text, PRIMARY KEY (region, id));
INSERT INTO items SELECT g % 7, g, 'item ' || g FROM generate_series(1, 2000) g`)
	dir := t.TempDir()
	httpPort, kafkaPort, regPort := freePort(t), freePort(t), freePort(t)
	cfg := fmt.Sprintf(`name: diff
data_dir: %s
kafka: {embedded: {listen: "127.0.0.1:%d"}}
registry: {listen: "127.0.0.1:%d"}
http: {listen: "127.0.0.1:%d"}
sources: [{name: app, type: postgres, dsn: "${SRC}", tables: [items]}]
sinks: [{name: wh, type: postgres, dsn: "${WH}", from: [app.*], reconcile: {interval: 1s, settle: 200ms}}]
`, dir, kafkaPort, regPort, httpPort)
	path := filepath.Join(dir, "p.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	env := append(os.Environ(), "SRC="+src, "WH="+wh)
	logs, stop := startRun(t, bin, path, env)
	conn := pg.Conn(t, "wh")
	count := func(q string) int {
		var n int
		if err := conn.QueryRow(t.Context(), q).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	testenv.WaitFor(t, 90*time.Second, "the snapshot in the warehouse", func() bool { return count("SELECT count(*) FROM public.items") == 2000 })

	if out, stderr, code := diffRun(t, bin, env, "--config", path, "--sink", "wh", "--settle", "0"); code != 0 {
		t.Fatalf("diff of delivered tables: exit %d\n%s%s", code, out, stderr)
	}
	testenv.WaitFor(t, 30*time.Second, "syncline_drift_rows 0", func() bool {
		return strings.Contains(metricsText(httpPort), `syncline_drift_rows{sink="wh",table="app.public.items"} 0`)
	})

	for _, q := range []string{
		`DELETE FROM public.items WHERE region = 5 AND id = 2000`,
		`UPDATE public.items SET name = 'stale' WHERE region = 2 AND id = 1500`,
		`INSERT INTO public.items (region, id, name, _syncline_position, _syncline_op, _syncline_synced_at) VALUES (4, 99999, 'extra', '', 'r', now())`,
	} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, code := diffRun(t, bin, env, "--config", path, "--sink", "wh", "--settle", "300ms")
	if code != 1 || !strings.Contains(out, "3 rows differ (1 missing, 1 extra, 1 different)") || !strings.Contains(out, "missing   region=5 id=2000") {
		t.Errorf("text report: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("syncline diff:\n%s", out)
	out, stderr, code = diffRun(t, bin, env, "--config", path, "--sink", "wh", "--output", "json", "--settle", "300ms")
	if code != 1 {
		t.Fatalf("diff of a damaged table: exit %d, want 1\n%s%s", code, out, stderr)
	}
	var rep struct {
		InSync bool `json:"in_sync"`
		Tables []struct {
			Table                     string
			Missing, Extra, Different [][]string
		} `json:"tables"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if rep.InSync || len(rep.Tables) != 1 || fmt.Sprint(rep.Tables[0].Missing) != "[[5 2000]]" ||
		fmt.Sprint(rep.Tables[0].Extra) != "[[4 99999]]" || fmt.Sprint(rep.Tables[0].Different) != "[[2 1500]]" {
		t.Errorf("report %+v, want missing (5,2000), extra (4,99999), different (2,1500)", rep)
	}
	testenv.WaitFor(t, 30*time.Second, "syncline_drift_rows 3", func() bool {
		return strings.Contains(metricsText(httpPort), `syncline_drift_rows{sink="wh",table="app.public.items"} 3`)
	})

	out, stderr, code = diffRun(t, bin, env, "--config", path, "--sink", "wh", "--repair", "app.public.items")
	if code != 1 || !strings.Contains(out, "repair sent: 2 upserts, 1 deletes") {
		t.Fatalf("diff --repair: exit %d, want 1 with the repair\n%s%s", code, out, stderr)
	}
	t.Logf("syncline diff --repair:\n%s", out)
	testenv.WaitFor(t, 60*time.Second, "diff in sync after the repair", func() bool {
		_, _, code := diffRun(t, bin, env, "--config", path, "--sink", "wh", "--settle", "0")
		return code == 0
	})
	if out, _, code := diffRun(t, bin, env, "--config", path, "--sink", "wh"); code != 0 || !strings.Contains(out, "app.public.items: in sync (2000 rows") {
		t.Errorf("diff after the repair: exit %d\n%s", code, out)
	} else {
		t.Logf("syncline diff after the repair:\n%s", out)
	}
	if n := count(`SELECT count(*) FROM public.items WHERE region = 2 AND id = 1500 AND name = 'item 1500'`); n != 1 {
		t.Errorf("the stale row was not repaired")
	}
	testenv.WaitFor(t, 30*time.Second, "syncline_drift_rows back to 0", func() bool {
		return strings.Contains(metricsText(httpPort), `syncline_drift_rows{sink="wh",table="app.public.items"} 0`)
	})

	if _, stderr, code := diffRun(t, bin, env, "--config", path, "--sink", "nope"); code != 2 || !strings.Contains(stderr, `no sink "nope"`) {
		t.Errorf("diff --sink nope: exit %d, stderr %q; want 2 naming the sink", code, stderr)
	}
	if _, stderr, code := diffRun(t, bin, env, "--config", path, "--sink", "wh", "public.nope"); code != 2 || !strings.Contains(stderr, "does not deliver table") {
		t.Errorf("diff of an unknown table: exit %d, stderr %q; want 2 naming the table", code, stderr)
	}
	if !strings.Contains(logs.String(), "reconciliation finished") {
		t.Errorf("no reconciliation summary in the logs")
	}

	// Without the pipeline, --repair cannot reach its broker and registry.
	stop()
	if _, err := conn.Exec(t.Context(), `DELETE FROM public.items WHERE region = 1 AND id = 1`); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = diffRun(t, bin, env, "--config", path, "--sink", "wh", "--repair", "--settle", "0")
	if code != 2 || !strings.Contains(stderr, "is the pipeline running?") || !strings.Contains(out, "missing   region=1 id=1") {
		t.Errorf("diff --repair without the pipeline: exit %d, want 2 saying so\n%s%s", code, out, stderr)
	}
}

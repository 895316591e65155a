package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"syncline/internal/testenv"
)

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "syncline")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startRun starts `syncline run --config path` with env. stop sends
// SIGTERM and waits for the exit (killing after 30 s); it runs at the end
// of the test too, printing the logs if the test failed.
func startRun(t *testing.T, bin, path string, env []string) (logs *lockedBuffer, stop func()) {
	t.Helper()
	logs = &lockedBuffer{}
	run := exec.Command(bin, "run", "--config", path)
	run.Env = env
	run.Stdout, run.Stderr = logs, logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			run.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				run.Process.Kill()
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("syncline run logs:\n%s", logs.String())
		}
	})
	return logs, stop
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestValidateNamesTheBadKey(t *testing.T) {
	bin := buildBinary(t)
	path := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(path, []byte("name: x\nkafka:\n  brokerz: [a:1]\nsources: []\n"), 0o600)
	out, err := exec.Command(bin, "validate", "--config", path).CombinedOutput()
	if err == nil {
		t.Fatalf("validate accepted a bad config: %s", out)
	}
	if !strings.Contains(string(out), "p.yaml:3") || !strings.Contains(string(out), "brokerz") {
		t.Errorf("error does not name the file, line and key:\n%s", out)
	}
}

func TestRunStopsCleanlyOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	pg := testenv.StartPostgres(t)
	src := pg.CreateDatabase(t, "app")
	wh := pg.CreateDatabase(t, "wh")
	pg.Exec(t, "app", "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' FROM generate_series(1, 50) g")
	dir := t.TempDir()
	httpPort := freePort(t)
	cfg := fmt.Sprintf(`name: sigterm
data_dir: %s
kafka: {embedded: {listen: "127.0.0.1:0"}}
registry: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:%d"}
sources: [{name: app, type: postgres, dsn: "${SRC}", tables: [t]}]
sinks: [{name: wh, type: postgres, dsn: "${WH}", from: [app.public.t]}]
`, dir, httpPort)
	path := filepath.Join(dir, "p.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "run", "--config", path)
	cmd.Env = append(os.Environ(), "SRC="+src, "WH="+wh)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 60*time.Second, "/readyz", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", httpPort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	conn := pg.Conn(t, "wh")
	testenv.WaitFor(t, 60*time.Second, "snapshot in the warehouse", func() bool {
		var n int
		return conn.QueryRow(t.Context(), "SELECT count(*) FROM public.t").Scan(&n) == nil && n == 50
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("syncline exited with %v after SIGTERM:\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("syncline did not exit within 30s of SIGTERM:\n%s", logs.String())
	}
	for _, dsn := range []string{src, wh} {
		if strings.Contains(logs.String(), dsn) {
			t.Errorf("the DSN %s appears in the logs", dsn)
		}
	}
	if !strings.Contains(logs.String(), "pipeline stopped") {
		t.Errorf("no graceful stop in the logs:\n%s", logs.String())
	}
}

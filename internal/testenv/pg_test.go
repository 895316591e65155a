package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func pgCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestStartPostgres(t *testing.T) {
	t.Parallel()
	pg := StartPostgres(t)
	conn := pg.Conn(t, "postgres")
	ctx := pgCtx(t)

	want := map[string]string{
		"wal_level":               "logical",
		"max_replication_slots":   "20",
		"max_wal_senders":         "20",
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": pg.Server().Dir(),
		"port":                    fmt.Sprint(pg.Port()),
	}
	for name, v := range want {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil {
			t.Fatalf("current_setting(%s): %v", name, err)
		}
		if got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}

	var user string
	var super bool
	if err := conn.QueryRow(ctx, "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&user, &super); err != nil {
		t.Fatal(err)
	}
	if user != "postgres" || !super {
		t.Errorf("connected as %q (superuser=%v), want superuser postgres", user, super)
	}

	wantPrefix := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?", pg.Port())
	if dsn := pg.DSN("postgres"); !strings.HasPrefix(dsn, wantPrefix) || !strings.Contains(dsn, "sslmode=disable") {
		t.Errorf("DSN = %q, want prefix %q and sslmode=disable", dsn, wantPrefix)
	}
	if !strings.Contains(pg.ReplicationDSN("x"), "replication=database") {
		t.Errorf("ReplicationDSN = %q", pg.ReplicationDSN("x"))
	}
	if _, err := os.Stat(filepath.Join(pg.Server().Dir(), fmt.Sprintf(".s.PGSQL.%d", pg.Port()))); err != nil {
		t.Errorf("unix socket not in cluster dir: %v", err)
	}
	if !strings.HasPrefix(pg.Server().Dir(), os.TempDir()) {
		t.Errorf("cluster dir %s not under %s", pg.Server().Dir(), os.TempDir())
	}
}

func TestStartPostgresCleanupRemovesDir(t *testing.T) {
	t.Parallel()
	var dir string
	t.Run("inner", func(t *testing.T) {
		pg := StartPostgres(t)
		dir = pg.Server().Dir()
		pg.Exec(t, "", "SELECT 1")
	})
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster dir %s still exists after cleanup (err=%v)", dir, err)
	}
}

func TestReplicationConnection(t *testing.T) {
	t.Parallel()
	pg := StartPostgres(t)
	dsn := pg.CreateDatabase(t, "src db") // a name that needs quoting
	if !strings.Contains(dsn, "/src%20db?") {
		t.Errorf("CreateDatabase DSN = %q", dsn)
	}
	pg.Exec(t, "src db", `CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE t`)

	ctx := pgCtx(t)
	conn, err := pgconn.Connect(ctx, pg.ReplicationDSN("src db"))
	if err != nil {
		t.Fatalf("replication connect: %v", err)
	}
	defer conn.Close(context.Background())

	res, err := conn.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	if err != nil {
		t.Fatalf("IDENTIFY_SYSTEM: %v", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 4 {
		t.Fatalf("IDENTIFY_SYSTEM: unexpected result %+v", res)
	}
	if db := string(res[0].Rows[0][3]); db != "src db" {
		t.Errorf("IDENTIFY_SYSTEM dbname = %q, want %q", db, "src db")
	}

	res, err = conn.Exec(ctx, `CREATE_REPLICATION_SLOT "tmp_slot" TEMPORARY LOGICAL pgoutput`).ReadAll()
	if err != nil {
		t.Fatalf("CREATE_REPLICATION_SLOT: %v", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || string(res[0].Rows[0][0]) != "tmp_slot" {
		t.Fatalf("CREATE_REPLICATION_SLOT: unexpected result %+v", res)
	}
}

func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	pg := StartPostgres(t)
	pg.CreateDatabase(t, "app")
	pg.Exec(t, "app", `CREATE TABLE kv (k text PRIMARY KEY, v int)`)
	for i := range 100 {
		pg.Exec(t, "app", `INSERT INTO kv VALUES ($1, $2)`, fmt.Sprint("k", i), i)
	}
	pg.Exec(t, "app", `SELECT pg_create_logical_replication_slot('persist_slot', 'pgoutput')`)
	port := pg.Port()
	old := pg.Conn(t, "app")

	pg.Restart(t)

	if pg.Port() != port {
		t.Errorf("port changed across restart: %d -> %d", port, pg.Port())
	}
	ctx := pgCtx(t)
	if err := old.Ping(ctx); err == nil {
		t.Errorf("connection opened before restart still works")
	}
	conn := pg.Conn(t, "app")
	var n, sum int
	if err := conn.QueryRow(ctx, `SELECT count(*), sum(v) FROM kv`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 100 || sum != 4950 {
		t.Errorf("after restart: count=%d sum=%d, want 100 and 4950", n, sum)
	}
	var slots int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'persist_slot'`).Scan(&slots); err != nil {
		t.Fatal(err)
	}
	if slots != 1 {
		t.Errorf("replication slot lost across restart")
	}
}

func TestStopThenRestart(t *testing.T) {
	t.Parallel()
	pg := StartPostgres(t)
	pg.Exec(t, "postgres", `CREATE TABLE t (x int); INSERT INTO t VALUES (42)`)
	pg.Stop(t)
	pg.Stop(t) // idempotent
	if pg.Server().Running() {
		t.Fatal("server still running after Stop")
	}
	ctx := pgCtx(t)
	if c, err := pgconn.Connect(ctx, pg.DSN("postgres")); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	pg.Restart(t)
	var x int
	if err := pg.Conn(t, "postgres").QueryRow(ctx, "SELECT x FROM t").Scan(&x); err != nil || x != 42 {
		t.Fatalf("after restart: x=%d err=%v", x, err)
	}
}

func TestWithConfig(t *testing.T) {
	t.Parallel()
	pg := StartPostgres(t, WithConfig("work_mem", "7MB"), WithConfig("application_name", "it's quoted"), WithConfig("max_wal_senders", "5"))
	ctx := pgCtx(t)
	conn := pg.Conn(t, "")
	for name, want := range map[string]string{"work_mem": "7MB", "application_name": "it's quoted", "max_wal_senders": "5", "wal_level": "logical"} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT setting FROM pg_settings WHERE name = $1", name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if name == "work_mem" {
			got += "kB"
			want = "7168kB"
		}
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestStartPostgresServerPersistentDir(t *testing.T) {
	t.Parallel()
	// t.TempDir() may be unreachable for the postgres OS user when running
	// as root, so use a directory directly under os.TempDir().
	base, err := os.MkdirTemp("", "syncline-pgtest-persist-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "cluster")
	ctx := pgCtx(t)

	srv, err := StartPostgresServer(ctx, dir, 0, map[string]string{"work_mem": "8MB"})
	if err != nil {
		t.Fatal(err)
	}
	pg := NewPostgres(srv)
	pg.Exec(t, "", `CREATE TABLE keep (x int); INSERT INTO keep VALUES (1), (2)`)
	srv.Stop()
	srv.Stop()
	if srv.Running() {
		t.Fatal("running after Stop")
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		t.Fatalf("data dir not kept: %v", err)
	}

	srv2, err := StartPostgresServer(ctx, dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Stop()
	var n int
	if err := NewPostgres(srv2).Conn(t, "").QueryRow(ctx, "SELECT count(*) FROM keep").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after second start: n=%d err=%v", n, err)
	}
}

func TestStartupFailureShowsLogTail(t *testing.T) {
	t.Parallel()
	_, err := StartPostgresServer(pgCtx(t), "", 0, map[string]string{"wal_level": "bogus"})
	if err == nil {
		t.Fatal("expected startup failure")
	}
	msg := err.Error()
	if !strings.Contains(msg, "tail of") || !strings.Contains(msg, "wal_level") {
		t.Errorf("error lacks log tail:\n%s", msg)
	}
	t.Logf("error (expected):\n%s", msg)
}

func TestPortInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = StartPostgresServer(pgCtx(t), "", port, nil)
	if err == nil {
		t.Fatal("expected failure on a busy port")
	}
	if !errors.Is(err, errPortInUse) || !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("unexpected error: %v", err)
	}
}

func TestFindPostgresBinDir(t *testing.T) {
	dir, err := FindPostgresBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if m := missingBinaries(dir); len(m) > 0 {
		t.Fatalf("%s lacks %v", dir, m)
	}

	t.Setenv("PG_BIN", dir)
	if got, err := FindPostgresBinDir(); err != nil || got != dir {
		t.Errorf("with PG_BIN=%s: got %q, %v", dir, got, err)
	}
}

// recordingTB intercepts failures and skips so StartPostgres's failure path
// can be tested without failing the real test.
type recordingTB struct {
	testing.TB
	mu      sync.Mutex
	fatal   string
	skipped bool
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recordingTB) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }
func (r *recordingTB) FailNow()          { r.Fatalf("FailNow") }
func (r *recordingTB) skip()             { r.mu.Lock(); r.skipped = true; r.mu.Unlock(); runtime.Goexit() }
func (r *recordingTB) Skip(...any)       { r.skip() }
func (r *recordingTB) Skipf(string, ...any) {
	r.skip()
}
func (r *recordingTB) SkipNow() { r.skip() }

func TestMissingBinariesFailNotSkip(t *testing.T) {
	t.Setenv("PG_BIN", t.TempDir()) // an empty directory
	rec := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		StartPostgres(rec)
	}()
	<-done
	if rec.skipped {
		t.Fatal("StartPostgres skipped; it must fail")
	}
	if rec.fatal == "" {
		t.Fatal("StartPostgres did not fail with missing binaries")
	}
	for _, want := range []string{"PG_BIN", "initdb"} {
		if !strings.Contains(rec.fatal, want) {
			t.Errorf("failure message lacks %q: %s", want, rec.fatal)
		}
	}
}

func TestVersionLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		less bool
	}{
		{"9.6", "15", true},
		{"15", "9.6", false},
		{"14", "15", true},
		{"16", "16", false},
		{"10", "9", false},
	} {
		if got := versionLess(c.a, c.b); got != c.less {
			t.Errorf("versionLess(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func TestSweepStaleClusters(t *testing.T) {
	// Not parallel: the sweep runs over os.TempDir().
	mk := func(name string, age time.Duration, withLog bool, pid string) string {
		dir := filepath.Join(os.TempDir(), name)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if withLog {
			os.WriteFile(filepath.Join(dir, "postgres.log"), nil, 0o644)
		}
		if pid != "" {
			os.WriteFile(filepath.Join(dir, "data", "postmaster.pid"), []byte(pid+"\n/x\n"), 0o600)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	stale := mk("syncline-pg-0000001", 2*time.Hour, true, "")
	staleDeadPid := mk("syncline-pg-0000002", 2*time.Hour, true, "2147483646")
	alive := mk("syncline-pg-0000003", 2*time.Hour, true, fmt.Sprint(os.Getpid()))
	recent := mk("syncline-pg-0000004", time.Minute, true, "")
	foreign := mk("syncline-pg-0000005", 2*time.Hour, false, "")

	sweepStaleClusters()

	for dir, wantGone := range map[string]bool{stale: true, staleDeadPid: true, alive: false, recent: false, foreign: false} {
		_, err := os.Stat(dir)
		if gone := errors.Is(err, os.ErrNotExist); gone != wantGone {
			t.Errorf("%s: removed=%v, want %v", dir, gone, wantGone)
		}
	}
}

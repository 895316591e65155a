package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// PGSuperuser is the superuser name of every cluster started by this package.
const PGSuperuser = "postgres"

// pgBaseSettings are the postgresql.conf settings every cluster gets. Extra
// settings passed by callers override them.
var pgBaseSettings = map[string]string{
	"wal_level":               "logical",
	"max_replication_slots":   "20",
	"max_wal_senders":         "20",
	"fsync":                   "off",
	"synchronous_commit":      "off",
	"full_page_writes":        "off",
	"listen_addresses":        "127.0.0.1",
	"logging_collector":       "off", // we capture stderr into <dir>/postgres.log
	"log_min_messages":        "warning",
	"log_min_error_statement": "error",
}

// pgHBA is written verbatim as pg_hba.conf: trust for local sockets and
// loopback TCP, including replication connections.
const pgHBA = `# Managed by syncline/internal/testenv; rewritten on every start.
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
host    all          all   ::1/128       trust
local   replication  all                 trust
host    replication  all   127.0.0.1/32  trust
host    replication  all   ::1/128       trust
`

const (
	pgManagedConf   = "syncline.conf"
	pgIncludeLine   = "include_if_exists = '" + pgManagedConf + "'  # added by syncline/internal/testenv"
	pgLogName       = "postgres.log"
	pgDataName      = "data"
	pgStartTimeout  = 90 * time.Second
	pgStopTimeout   = 60 * time.Second
	pgPortAttempts  = 5
	pgLogTailLines  = 40
	pgTempDirPrefix = "syncline-pg-"
)

// Server is a PostgreSQL cluster running as a child process of the current
// process. It is the non-testing building block behind StartPostgres and is
// also used directly by the quickstart and benchmarks.
//
// Layout of the cluster directory:
//
//	<dir>/data          the data directory (PGDATA)
//	<dir>/postgres.log  server log (stderr of the postmaster)
//	<dir>/.s.PGSQL.*    unix socket (unix_socket_directories = <dir>)
//
// The postmaster is started with a parent-death signal, so it shuts down if
// the owning process dies without calling Stop.
type Server struct {
	binDir   string
	dir      string
	dataDir  string
	logPath  string
	settings map[string]string
	ownsDir  bool                // dir was created by us and is removed by Stop
	cred     *syscall.Credential // non-nil when running as root: run as the postgres OS user

	mu      sync.Mutex
	port    int
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	removed bool
}

// StartPostgresServer initialises (if needed) and starts a cluster in dir,
// listening on 127.0.0.1:port, and waits until it accepts connections.
//
// If dir is empty, a fresh temporary directory is created under os.TempDir()
// and Stop removes it. Otherwise dir is created if missing, an existing
// cluster in it is reused, and Stop leaves it in place (so data survives).
// If port is 0, a free port is chosen (retrying on collisions). extra holds
// additional postgresql.conf settings that override the defaults.
//
// ctx bounds initialisation and startup only, not the server's lifetime.
// When running as root the server runs as the "postgres" OS user: dir is
// chowned to it, and it must be able to traverse every parent of dir (a
// clear error says so otherwise; t.TempDir() does not qualify).
func StartPostgresServer(ctx context.Context, dir string, port int, extra map[string]string) (*Server, error) {
	binDir, err := FindPostgresBinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{binDir: binDir, settings: map[string]string{}}
	for k, v := range pgBaseSettings {
		s.settings[k] = v
	}
	for k, v := range extra {
		s.settings[k] = v
	}
	if os.Geteuid() == 0 {
		if s.cred, err = postgresCredential(); err != nil {
			return nil, err
		}
	}
	if err := s.prepareDir(dir); err != nil {
		return nil, err
	}
	if err := s.init(ctx); err != nil {
		s.removeOwnedDir()
		return nil, err
	}
	autoPort := port == 0
	for attempt := 1; ; attempt++ {
		if autoPort {
			if port, err = freePort(); err != nil {
				s.removeOwnedDir()
				return nil, err
			}
		}
		err = s.start(ctx, port)
		if err == nil {
			return s, nil
		}
		if !autoPort || attempt >= pgPortAttempts || !errors.Is(err, errPortInUse) {
			s.removeOwnedDir()
			return nil, err
		}
	}
}

// Port returns the TCP port the server listens on (on 127.0.0.1).
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// Dir returns the cluster directory (socket directory, parent of the data
// directory and the log file).
func (s *Server) Dir() string { return s.dir }

// DataDir returns the data directory (PGDATA).
func (s *Server) DataDir() string { return s.dataDir }

// LogPath returns the path of the server log file.
func (s *Server) LogPath() string { return s.logPath }

// BinDir returns the directory holding the PostgreSQL server binaries in use
// (initdb, pg_ctl, postgres and, normally, pg_recvlogical).
func (s *Server) BinDir() string { return s.binDir }

// DSN returns a URL connection string for database db (default "postgres")
// that connects over TCP to 127.0.0.1 as the superuser, without TLS.
func (s *Server) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(PGSuperuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port())),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// ReplicationDSN is DSN plus replication=database, for logical replication
// connections (IDENTIFY_SYSTEM, CREATE_REPLICATION_SLOT, START_REPLICATION).
func (s *Server) ReplicationDSN(db string) string {
	return s.DSN(db) + "&replication=database"
}

// LogTail returns up to the last n lines of the server log.
func (s *Server) LogTail(n int) string { return logTail(s.logPath, n) }

// Stop shuts the server down. For a temporary cluster (StartPostgresServer
// with dir == "") it uses "pg_ctl stop -m immediate" and removes the
// directory; for a caller-supplied dir it does a clean "-m fast" shutdown
// (falling back to immediate) and keeps the data. Stop is idempotent.
func (s *Server) Stop() {
	if s.ownsDir {
		_ = s.shutdown("immediate")
		s.removeOwnedDir()
		return
	}
	if err := s.shutdown("fast"); err != nil {
		_ = s.shutdown("immediate")
	}
}

// Running reports whether the postmaster process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runningLocked()
}

func (s *Server) runningLocked() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// restart starts a stopped server again on the same port and data.
func (s *Server) restart(ctx context.Context) error {
	if s.Running() {
		if err := s.shutdown("fast"); err != nil {
			return err
		}
	}
	s.mu.Lock()
	removed, port := s.removed, s.port
	s.mu.Unlock()
	if removed {
		return errors.New("testenv: cannot restart postgres: cluster directory already removed")
	}
	return s.start(ctx, port)
}

func (s *Server) prepareDir(dir string) error {
	if dir == "" {
		sweepStaleOnce.Do(sweepStaleClusters)
		d, err := os.MkdirTemp(os.TempDir(), pgTempDirPrefix)
		if err != nil {
			return fmt.Errorf("testenv: create postgres cluster dir: %w", err)
		}
		dir = d
		s.ownsDir = true
	} else {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("testenv: postgres cluster dir %q: %w", dir, err)
		}
		dir = abs
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("testenv: create postgres cluster dir: %w", err)
		}
	}
	s.dir = dir
	s.dataDir = filepath.Join(dir, pgDataName)
	s.logPath = filepath.Join(dir, pgLogName)
	// The socket directory must be reachable and writable by the server user.
	if err := os.Chmod(dir, 0o755); err != nil {
		s.removeOwnedDir()
		return fmt.Errorf("testenv: chmod postgres cluster dir: %w", err)
	}
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			s.removeOwnedDir()
			return fmt.Errorf("testenv: chown postgres cluster dir to the postgres user: %w", err)
		}
		if err := checkTraversable(filepath.Dir(dir), s.cred.Uid, s.cred.Gid); err != nil {
			s.removeOwnedDir()
			return err
		}
	}
	return nil
}

// init runs initdb unless the data directory already holds a cluster, then
// (re)writes pg_hba.conf and hooks the managed settings file into
// postgresql.conf.
func (s *Server) init(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(s.dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		cmd := s.command(ctx, "initdb",
			"-D", s.dataDir,
			"-U", PGSuperuser,
			"--auth=trust",
			"--encoding=UTF8",
			"--locale=C",
			"--no-sync",
			"--no-instructions",
		)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("testenv: initdb %s failed: %w\n%s", s.dataDir, err, tailLines(string(out), pgLogTailLines))
		}
	} else if err != nil {
		return fmt.Errorf("testenv: postgres data dir: %w", err)
	}
	if err := s.writeFile(filepath.Join(s.dataDir, "pg_hba.conf"), []byte(pgHBA), 0o600); err != nil {
		return err
	}
	confPath := filepath.Join(s.dataDir, "postgresql.conf")
	conf, err := os.ReadFile(confPath)
	if err != nil {
		return fmt.Errorf("testenv: read postgresql.conf: %w", err)
	}
	if !bytes.Contains(conf, []byte(pgIncludeLine)) {
		if len(conf) > 0 && conf[len(conf)-1] != '\n' {
			conf = append(conf, '\n')
		}
		conf = append(conf, pgIncludeLine+"\n"...)
		if err := s.writeFile(confPath, conf, 0o600); err != nil {
			return err
		}
	}
	return nil
}

var errPortInUse = errors.New("port already in use")

// start writes the managed settings for port, launches the postmaster and
// waits until it accepts connections.
func (s *Server) start(ctx context.Context, port int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runningLocked() {
		return errors.New("testenv: postgres is already running")
	}
	if err := s.writeFile(filepath.Join(s.dataDir, pgManagedConf), s.renderConf(port), 0o600); err != nil {
		return err
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testenv: open postgres log: %w", err)
	}
	fmt.Fprintf(logf, "---- syncline testenv: starting postgres on 127.0.0.1:%d at %s ----\n", port, time.Now().Format(time.RFC3339))
	cmd := s.command(context.Background(), "postgres", "-D", s.dataDir)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group: terminal signals for the test binary don't reach it.
	// Parent-death signal: an immediate shutdown if we die without Stop.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return fmt.Errorf("testenv: start postgres: %w", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited, s.port = cmd, exited, port
	var waitErr error // published by closing exited
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()

	if err := waitReady(ctx, s.dsnFor(port), exited); err != nil {
		if isClosed(exited) {
			err = fmt.Errorf("%w (%v)", err, waitErr)
		} else {
			_ = cmd.Process.Kill()
			<-exited
		}
		tail := s.LogTail(pgLogTailLines)
		if strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return fmt.Errorf("testenv: postgres (%s/postgres, dir %s, port %d) did not start: %w\n--- tail of %s ---\n%s",
			s.binDir, s.dir, port, err, s.logPath, tail)
	}
	return nil
}

func (s *Server) dsnFor(port int) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", PGSuperuser, port)
}

func waitReady(ctx context.Context, dsn string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, pgStartTimeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case <-exited:
			return errors.New("postmaster exited during startup")
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last connection error: %v)", ctx.Err(), lastErr)
		case <-tick.C:
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgconn.Connect(cctx, dsn)
		ccancel()
		if err == nil {
			err = conn.Exec(ctx, "SELECT 1").Close()
			conn.Close(context.Background())
			if err == nil {
				return nil
			}
		}
		lastErr = err
	}
}

// shutdown runs pg_ctl stop -m mode and waits for the postmaster to exit,
// killing it if pg_ctl fails or it does not exit in time.
func (s *Server) shutdown(mode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgStopTimeout)
	defer cancel()
	out, err := s.command(ctx, "pg_ctl", "stop", "-D", s.dataDir, "-m", mode, "-w", "-t", strconv.Itoa(int(pgStopTimeout/time.Second))).CombinedOutput()
	var stopErr error
	if err != nil {
		stopErr = fmt.Errorf("testenv: pg_ctl stop -m %s: %w\n%s", mode, err, strings.TrimSpace(string(out)))
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	}
	proc, exited := s.cmd.Process, s.exited
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = proc.Kill()
		<-exited
	}
	return stopErr
}

func (s *Server) removeOwnedDir() {
	if !s.ownsDir || s.dir == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return
	}
	s.removed = true
	_ = os.RemoveAll(s.dir)
}

func (s *Server) renderConf(port int) []byte {
	var b bytes.Buffer
	b.WriteString("# Managed by syncline/internal/testenv; rewritten on every start.\n")
	settings := map[string]string{}
	for k, v := range s.settings {
		settings[k] = v
	}
	settings["port"] = strconv.Itoa(port)
	settings["unix_socket_directories"] = s.dir
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(settings[k], "'", "''"))
	}
	return b.Bytes()
}

// writeFile writes a file inside the cluster and, when running as root,
// hands it to the postgres user.
func (s *Server) writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("testenv: write %s: %w", path, err)
	}
	if s.cred != nil {
		if err := os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("testenv: chown %s: %w", path, err)
		}
	}
	return nil
}

// command builds an exec.Cmd for a PostgreSQL binary, running as the
// postgres OS user when we are root.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, name), args...)
	cmd.Dir = s.dir
	cmd.Env = pgEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

// pgEnv is the environment for PostgreSQL binaries: ours minus PG* variables
// (which could redirect pg_ctl/initdb) and with a neutral locale.
func pgEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=")
	})
	return append(env, "LC_ALL=C", "LANG=C")
}

// postgresCredential returns the credential of the "postgres" OS user, used
// to run initdb/postgres/pg_ctl when we are root (they refuse to run as root).
func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("testenv: running as root, but initdb/postgres refuse to run as root and the \"postgres\" OS user was not found (%v); run scripts/install-deps.sh (Debian's postgresql package creates it) or run tests as a non-root user", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("testenv: bad uid/gid for the postgres user: %q/%q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

var sweepStaleOnce sync.Once

// sweepStaleClusters removes temporary cluster directories left behind by
// test processes that died without cleanup (Ctrl-C, test timeout panics):
// those whose postmaster is not running and that have not changed for an
// hour. Errors are ignored; this is best effort.
func sweepStaleClusters() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), pgTempDirPrefix+"[0-9]*"))
	for _, dir := range dirs {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, pgLogName)); err != nil {
			continue // not one of ours
		}
		if pidFile, err := os.ReadFile(filepath.Join(dir, pgDataName, "postmaster.pid")); err == nil {
			pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pidFile), "\n", 2)[0]))
			if pid > 0 && !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
				continue // postmaster (or something with its pid) is alive
			}
		}
		_ = os.RemoveAll(dir)
	}
}

// checkTraversable verifies that uid/gid can search every directory from dir
// up to the root, so the server user can reach its cluster directory.
func checkTraversable(dir string, uid, gid uint32) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("testenv: stat %s: %w", d, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok {
			mode := fi.Mode().Perm()
			okSearch := mode&0o001 != 0 ||
				(st.Uid == uid && mode&0o100 != 0) ||
				(st.Gid == gid && mode&0o010 != 0)
			if !okSearch {
				return fmt.Errorf("testenv: the postgres OS user (uid %d) cannot traverse %s (mode %v, owner %d:%d); put the cluster directory somewhere it can reach, e.g. under %s", uid, d, mode, st.Uid, st.Gid, os.TempDir())
			}
		}
		if parent := filepath.Dir(d); parent == d {
			return nil
		}
	}
}

// freePort asks the kernel for a free TCP port on 127.0.0.1. The port is
// released before postgres binds it, so callers retry on collisions.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testenv: find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var pgRequiredBinaries = []string{"initdb", "pg_ctl", "postgres"}

// FindPostgresBinDir locates the PostgreSQL server binaries: $PG_BIN if set,
// else `pg_config --bindir`, else the highest /usr/lib/postgresql/*/bin, else
// $PATH. The directory must contain initdb, pg_ctl and postgres.
func FindPostgresBinDir() (string, error) {
	if dir := os.Getenv("PG_BIN"); dir != "" {
		if missing := missingBinaries(dir); len(missing) > 0 {
			return "", fmt.Errorf("testenv: PG_BIN=%s lacks PostgreSQL server binaries %v; fix PG_BIN or unset it", dir, missing)
		}
		return dir, nil
	}
	var tried []string
	if pgConfig, err := exec.LookPath("pg_config"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, pgConfig, "--bindir").Output()
		cancel()
		if dir := strings.TrimSpace(string(out)); err == nil && dir != "" {
			if len(missingBinaries(dir)) == 0 {
				return dir, nil
			}
			tried = append(tried, dir+" (from pg_config --bindir)")
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(matches, func(i, j int) bool { // highest version first
		return versionLess(filepath.Base(filepath.Dir(matches[j])), filepath.Base(filepath.Dir(matches[i])))
	})
	for _, dir := range matches {
		if len(missingBinaries(dir)) == 0 {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	for _, name := range []string{"postgres", "initdb", "pg_ctl"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if dir := filepath.Dir(p); len(missingBinaries(dir)) == 0 {
			return dir, nil
		} else {
			tried = append(tried, dir+" (from $PATH)")
		}
	}
	detail := ""
	if len(tried) > 0 {
		detail = "; incomplete candidates: " + strings.Join(tried, ", ")
	}
	return "", fmt.Errorf("testenv: PostgreSQL server binaries (%s) not found: looked at $PG_BIN (unset), `pg_config --bindir`, /usr/lib/postgresql/*/bin and $PATH%s. "+
		"Install them with scripts/install-deps.sh (Debian/Ubuntu: apt-get install -y postgresql) or set PG_BIN to the directory containing them",
		strings.Join(pgRequiredBinaries, ", "), detail)
}

func missingBinaries(dir string) []string {
	var missing []string
	for _, b := range pgRequiredBinaries {
		fi, err := os.Stat(filepath.Join(dir, b))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	return missing
}

// versionLess compares dotted numeric versions ("9.6" < "15").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return a < b
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// logTail returns up to the last n lines of the file at path.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	const maxBytes = 16 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxBytes {
		_, _ = f.Seek(fi.Size()-maxBytes, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return tailLines(string(b), n)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process (syncline run or syncline broker).
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	exited  chan struct{}
	waitErr error
	stopped bool
}

// startProc starts bin with args in dir, output to logPath, with extraEnv
// added to the environment.
func startProc(name, bin string, args []string, dir, logPath string, extraEnv ...string) (*proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), extraEnv...)
	// Own process group (Ctrl-C reaches us, and we stop it gracefully), and
	// killed if we die without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		lf.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// waitHTTP waits until GET url answers 200.
func (p *proc) waitHTTP(ctx context.Context, url string, timeout time.Duration) (time.Duration, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.After(timeout)
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-p.exited:
			return 0, fmt.Errorf("%s exited before %s answered: %v\n%s", p.name, url, p.waitErr, p.logTail(40))
		case <-deadline:
			return 0, fmt.Errorf("%s: %s not OK after %v\n%s", p.name, url, timeout, p.logTail(40))
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := client.Get(url)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return time.Since(p.started), nil
		}
	}
}

// stop sends SIGTERM (graceful) and waits up to 60s, then kills. Idempotent.
func (p *proc) stop() error {
	if p == nil || p.stopped {
		return nil
	}
	p.stopped = true
	select {
	case <-p.exited:
		return p.waitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within 60s of SIGTERM; killed", p.name)
	}
}

func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- tail of " + p.logPath + " ---\n" + strings.Join(lines, "\n")
}

// runRecvLogical runs pg_recvlogical on slot until endLSN and returns its
// wall time, start to exit.
func runRecvLogical(ctx context.Context, binDir string, port int, user, db, slot, publication, endLSN, logPath string) (time.Duration, error) {
	bin := filepath.Join(binDir, "pg_recvlogical")
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("pg_recvlogical"); err != nil {
			return 0, errors.New("pg_recvlogical not found (scripts/install-deps.sh installs it)")
		}
	}
	conn := fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s", port, user, db)
	args := []string{"-d", conn, "--slot", slot, "--start",
		"-o", "proto_version=1", "-o", "publication_names=" + publication,
		"-f", "/dev/null", "-F", "0", "--no-loop", "--endpos", endLSN}
	logf("running %s %s", bin, strings.Join(args, " "))
	cctx, cancel := context.WithTimeout(ctx, 60*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = cleanEnv()
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	_ = os.WriteFile(logPath, []byte(out.String()), 0o644)
	if err != nil {
		return 0, fmt.Errorf("pg_recvlogical: %w\n%s", err, out.String())
	}
	return d, nil
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// metrics is a parsed Prometheus text exposition: sample line -> value.
type metrics map[string]float64

func scrape(c *http.Client, url string) (metrics, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || !strings.HasPrefix(line, "syncline_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// sum adds the samples of metric name whose labels contain every matcher
// (e.g. `source="app"`).
func (m metrics) sum(name string, matchers ...string) float64 {
	var s float64
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, mt := range matchers {
			if !strings.Contains(k, mt) {
				ok = false
				break
			}
		}
		if ok {
			s += v
		}
	}
	return s
}

// procStatusKiB returns field (VmHWM: peak RSS, VmRSS: current RSS) of pid
// in KiB.
func procStatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// cpuSeconds returns the user+system CPU time pid has used so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// After the command: state(0) ... utime(11) stime(12), in clock ticks.
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat times")
	}
	return (u + st) / 100, nil // USER_HZ is 100 on Linux
}

// loadAvg returns the 1-minute load average.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

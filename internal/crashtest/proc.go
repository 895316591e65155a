package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// ModuleRoot returns the directory holding go.mod, searching upwards from
// the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// BuildSyncline builds ./cmd/syncline of the module at root into out
// (without the race detector, whatever the test binary uses).
func BuildSyncline(ctx context.Context, root, out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "./cmd/syncline")
	cmd.Dir = root
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/syncline: %w\n%s", err, buf.String())
	}
	return nil
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Proc is a child process whose output goes to a log file.
type Proc struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	killed  bool
}

// Start starts bin with args in dir, stdout and stderr appended to logPath.
// The child gets its own process group and is killed if this process dies.
func Start(name, bin, dir, logPath string, env []string, args ...string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited returns a non-nil error if the process has exited.
func (p *Proc) Exited() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s (pid %d) exited: %v", p.Name, p.Pid(), p.waitErr)
	default:
		return nil
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() error {
	p.killed = true
	if err := p.Exited(); err != nil {
		return err // it died on its own before we killed it
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.exited
	return nil
}

// Stop sends SIGTERM and waits up to timeout for a clean exit (status 0);
// after that it kills the process and returns an error.
func (p *Proc) Stop(timeout time.Duration) error {
	if err := p.Exited(); err != nil {
		return err
	}
	// A process that has logged has its signal handler: a SIGTERM sent
	// in the first instants of its start would find the default action.
	for wait := time.Now().Add(10 * time.Second); time.Now().Before(wait) && p.Exited() == nil; time.Sleep(20 * time.Millisecond) {
		if fi, err := os.Stat(p.LogPath); err == nil && fi.Size() > 0 {
			break
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("%s (pid %d) stopped with %v", p.Name, p.Pid(), p.waitErr)
		}
		return nil
	case <-time.After(timeout):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("%s (pid %d) did not stop within %v of SIGTERM; killed", p.Name, p.Pid(), timeout)
	}
}

// Tail returns the last n lines of the process's log file.
func (p *Proc) Tail(n int) string { return Tail(p.LogPath, n) }

// Tail returns the last n lines of the file at path.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitHTTP waits until url answers 200, the process exits or timeout passes.
func WaitHTTP(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if err := p.Exited(); err != nil {
			return err
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not answering 200 after %v (last error %v)", p.Name, url, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

package crashtest

import (
	"context"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"syncline/internal/testenv"
)

// The CI variant runs by default; `make crash` passes the full length
// (or set CRASH_OPS, CRASH_KILLS, CRASH_DURATION, CRASH_SEED, CRASH_WORKDIR).
var (
	flagOps      = flag.Int("ops", 0, "row operations of the workload (default 10000; CRASH_OPS)")
	flagKills    = flag.Int("kills", 0, "SIGKILLs of the syncline process (default 6; CRASH_KILLS)")
	flagDuration = flag.Duration("duration", 0, "how long the workload is spread over (default ops/400 s, at least 40s; CRASH_DURATION)")
	flagSeed     = flag.Uint64("seed", 0, "workload and kill-timing seed (default: time; CRASH_SEED)")
	flagWorkDir  = flag.String("workdir", "", "keep binary, configs, logs and broker data here instead of a temporary directory (CRASH_WORKDIR)")
)

type params struct {
	ops, kills int
	duration   time.Duration
	seed       uint64
	workDir    string
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func loadParams(t *testing.T) params {
	p := params{ops: envInt("CRASH_OPS", 10000), kills: envInt("CRASH_KILLS", 6), seed: uint64(time.Now().UnixNano()), workDir: os.Getenv("CRASH_WORKDIR")}
	if v := os.Getenv("CRASH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CRASH_DURATION: %v", err)
		}
		p.duration = d
	}
	if v := os.Getenv("CRASH_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CRASH_SEED: %v", err)
		}
		p.seed = s
	}
	if *flagOps > 0 {
		p.ops = *flagOps
	}
	if *flagKills > 0 {
		p.kills = *flagKills
	}
	if *flagDuration > 0 {
		p.duration = *flagDuration
	}
	if *flagSeed != 0 {
		p.seed = *flagSeed
	}
	if *flagWorkDir != "" {
		p.workDir = *flagWorkDir
	}
	if p.duration == 0 {
		p.duration = max(time.Duration(p.ops)*time.Second/400, 40*time.Second)
	}
	return p
}

// killEvent records one SIGKILL.
type killEvent struct {
	n       int
	at      time.Duration // since the workload started
	uptime  time.Duration // of the killed incarnation
	pid     int
	opsDone int64 // operations committed to the source when it was killed
	log     string
}

// startBroker starts `syncline broker` (the embedded broker and registry
// alone) with its data under work, stopped when the test ends, and waits
// until its registry answers.
func startBroker(ctx context.Context, t *testing.T, bin, work, addr string, registryPort, partitions int) *Proc {
	t.Helper()
	broker, err := Start("broker", bin, work, filepath.Join(work, "broker.log"), nil,
		"broker", "--data-dir", filepath.Join(work, "broker"), "--listen", addr,
		"--registry-listen", fmt.Sprintf("127.0.0.1:%d", registryPort), "--partitions", fmt.Sprint(partitions))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := broker.Stop(30 * time.Second); err != nil {
			t.Errorf("broker: %v", err)
		}
	})
	if err := WaitHTTP(ctx, broker, fmt.Sprintf("http://127.0.0.1:%d/subjects", registryPort), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	return broker
}

// endpoints are a crash test's local addresses: the broker, its schema
// registry, and n more free ports (the HTTP listeners of syncline
// processes).
type endpoints struct {
	broker, registryURL string
	registryPort        int
	ports               []int
}

func freeEndpoints(t *testing.T, n int) endpoints {
	t.Helper()
	ports, err := FreePorts(2 + n)
	if err != nil {
		t.Fatal(err)
	}
	return endpoints{broker: fmt.Sprintf("127.0.0.1:%d", ports[0]), registryURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		registryPort: ports[1], ports: ports[2:]}
}

// setUp builds bin/syncline into the work directory (workDir, or a
// temporary one) while a throwaway Postgres starts with the source
// database (the workload's schema) and an empty warehouse database.
func setUp(ctx context.Context, t *testing.T, workDir string) (work, bin, srcDSN, whDSN string) {
	t.Helper()
	work = workDir
	if work == "" {
		work = t.TempDir()
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(work, "syncline")
	built := make(chan error, 1)
	go func() { built <- BuildSyncline(ctx, root, bin) }()
	pg := testenv.StartPostgres(t)
	srcDSN = pg.CreateDatabase(t, "app")
	whDSN = pg.CreateDatabase(t, "warehouse")
	pg.Exec(t, "app", SchemaSQL)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	return work, bin, srcDSN, whDSN
}

// TestCrash runs a mixed workload against Postgres while the syncline
// process (`syncline run`, all roles, built from ./cmd/syncline) is killed
// with SIGKILL at random moments and restarted; the broker and registry
// run in a separate `syncline broker` process that is not killed. Then it
// checks, on the raw and change topics read read_committed, that every key
// has exactly the operations committed, in order, with strictly
// increasing positions, that nothing went to the DLQ, and that the
// warehouse equals the source.
func TestCrash(t *testing.T) {
	p := loadParams(t)
	t.Logf("crash test: %d operations over %v, %d kills, seed %d (reproduce the workload with CRASH_SEED=%d)", p.ops, p.duration, p.kills, p.seed, p.seed)
	began := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work, bin, srcDSN, whDSN := setUp(ctx, t, p.workDir)

	ep := freeEndpoints(t, 1)
	brokerAddr, registryURL := ep.broker, ep.registryURL
	httpListen := fmt.Sprintf("127.0.0.1:%d", ep.ports[0])
	httpURL := "http://" + httpListen

	var logsMu sync.Mutex
	var logs []*Proc // every process started, for the failure report
	var kills []killEvent
	track := func(pr *Proc) *Proc {
		logsMu.Lock()
		logs = append(logs, pr)
		logsMu.Unlock()
		return pr
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		logsMu.Lock()
		defer logsMu.Unlock()
		for _, k := range kills {
			t.Logf("kill %d at +%v: pid %d after %v up, %d ops committed (log %s)", k.n, k.at.Round(time.Millisecond), k.pid, k.uptime.Round(time.Millisecond), k.opsDone, k.log)
		}
		if len(logs) > 0 { // logs[0] is the broker
			t.Logf("--- tail of %s (%s) ---\n%s", logs[0].LogPath, logs[0].Name, logs[0].Tail(30))
		}
		for _, pr := range logs[max(1, len(logs)-3):] {
			t.Logf("--- tail of %s (%s) ---\n%s", pr.LogPath, pr.Name, pr.Tail(60))
		}
		t.Logf("all logs are in %s", work)
	})

	track(startBroker(ctx, t, bin, work, brokerAddr, ep.registryPort, 3))

	cfgPath := filepath.Join(work, "pipeline.yaml")
	cfg := crashConfig("crash", work, brokerAddr, registryURL, httpListen, 3)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CRASH_APP_DSN=" + srcDSN, "CRASH_WH_DSN=" + whDSN}

	hist := NewHistory()
	if err := Preload(ctx, srcDSN, 200, hist); err != nil {
		t.Fatal(err)
	}

	incarnation := 0
	var cur *Proc
	var curStart time.Time
	startRun := func() {
		t.Helper()
		incarnation++
		log := filepath.Join(work, fmt.Sprintf("syncline-%02d.log", incarnation))
		// A stable --instance-id: the changes stage's transactional id and
		// state directory must survive restarts (the default, hostname-pid,
		// changes with every process).
		pr, err := Start(fmt.Sprintf("syncline run #%d", incarnation), bin, work, log, env,
			"run", "--config", cfgPath, "--instance-id", "crash")
		if err != nil {
			t.Fatal(err)
		}
		cur, curStart = track(pr), time.Now()
	}
	t.Cleanup(func() {
		if cur != nil {
			_ = cur.Kill()
		}
	})
	startRun()
	if err := WaitHTTP(ctx, cur, httpURL+"/readyz", 90*time.Second); err != nil {
		t.Fatal(err)
	}
	if diffs, err := WaitInSync(ctx, srcDSN, whDSN, "analytics", 2*time.Minute, cur.Exited); err != nil || len(diffs) > 0 {
		t.Fatalf("initial snapshot did not reach the warehouse: %v\n%s", err, strings.Join(diffs, "\n"))
	}
	t.Logf("pipeline up, snapshot of %d rows delivered, after %v", hist.Ops(), time.Since(began).Round(time.Millisecond))

	// The workload and the killer.
	wl := Workload{Workers: 2, Ops: p.ops, Duration: p.duration, Seed: p.seed}
	stats := &Stats{}
	wlStart := time.Now()
	wlDone := make(chan error, 1)
	go func() { wlDone <- wl.Run(ctx, srcDSN, hist, stats) }()
	rng := mrand.New(mrand.NewPCG(p.seed, 0xc0ffee))
	interval := p.duration / time.Duration(max(p.kills, 1))
	var wlErr error
	workloadRunning := true
	for i := 1; i <= p.kills; i++ {
		var delay time.Duration
		if rng.IntN(10) < 3 {
			// Soon after a start: during recovery, group joins, state restore.
			delay = time.Duration(300+rng.IntN(2700)) * time.Millisecond
		} else {
			delay = time.Duration(float64(interval) * (0.3 + 1.2*rng.Float64()))
		}
		wait := time.After(delay)
	waiting:
		for {
			select {
			case err := <-wlDone:
				wlErr, workloadRunning = err, false
				if err != nil {
					t.Fatalf("workload: %v", err)
				}
			case <-wait:
				break waiting
			case <-time.After(200 * time.Millisecond):
				if err := cur.Exited(); err != nil {
					t.Fatalf("syncline died on its own (not killed): %v", err)
				}
			}
		}
		ev := killEvent{n: i, at: time.Since(wlStart), uptime: time.Since(curStart), pid: cur.Pid(), opsDone: hist.Ops(), log: cur.LogPath}
		if err := cur.Kill(); err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		logsMu.Lock()
		kills = append(kills, ev)
		logsMu.Unlock()
		t.Logf("kill %d at +%v: pid %d after %v up, %d ops committed", i, ev.at.Round(time.Millisecond), ev.pid, ev.uptime.Round(time.Millisecond), ev.opsDone)
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		startRun()
	}
	if workloadRunning {
		wlErr = <-wlDone
	}
	if wlErr != nil {
		t.Fatalf("workload: %v", wlErr)
	}
	wlTime := time.Since(wlStart)
	t.Logf("workload done in %v: %d operations in %d transactions (%s)", wlTime.Round(time.Millisecond), hist.Ops(), hist.Txs(), stats)

	catchUp := 2*time.Minute + p.duration/4
	diffs, err := WaitInSync(ctx, srcDSN, whDSN, "analytics", catchUp, cur.Exited)
	caught := time.Since(wlStart) - wlTime
	if err != nil || len(diffs) > 0 {
		t.Errorf("warehouse not equal to the source %v after the workload (err %v):\n%s", caught.Round(time.Millisecond), err, strings.Join(diffs, "\n"))
		t.Errorf("consumer groups (one syncline process is running):\n%s", GroupReport(ctx, []string{brokerAddr}, "syncline-changes", "syncline-sink-wh"))
	} else {
		t.Logf("warehouse equals the source %v after the workload ended", caught.Round(time.Millisecond))
	}
	if err := cur.Stop(60 * time.Second); err != nil {
		t.Errorf("graceful stop: %v", err)
	}

	want := hist.Keys()
	total := validateRun(ctx, t, []string{brokerAddr}, registryURL, srcDSN, whDSN, hist, nil)
	t.Logf("crash test figures: %v in total; workload %v; %d SIGKILLs, %d syncline starts; %d operations in %d transactions committed to the source (%d keys); %d topic records validated (raw + change topics)",
		time.Since(began).Round(time.Second), wlTime.Round(time.Second), len(kills), incarnation, hist.Ops(), hist.Txs(), len(want), total)
}

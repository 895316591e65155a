// Command cdcbench is the throughput harness behind `make bench`
// (scripts/bench.sh). In one run it:
//
//  1. starts a throwaway Postgres (internal/testenv) with databases app and
//     warehouse and a fresh table app.public.customers;
//  2. starts syncline (a separate process, bin/syncline) once with
//     snapshot: never so that it creates its publication and replication
//     slot and records its position in the embedded Kafka, then stops it;
//     creates a second slot, bench_limit, for pg_recvlogical;
//  3. loads N rows (INSERT ... SELECT generate_series, -txn-rows rows per
//     transaction) while nothing reads the slots, so both retain the load's
//     WAL;
//  4. measures the physical limit: pg_recvlogical (pgoutput, same
//     publication) decoding that WAL to /dev/null, up to the LSN after the
//     load;
//  5. starts syncline again and times, from process start, the catch-up of
//     capture (syncline_source_events_total reaches N, i.e. committed to
//     Kafka) and of the whole pipeline (analytics.customers holds N rows in
//     the warehouse), then reads its peak RSS (VmHWM);
//  6. prints a report and writes it as JSON to -out/report-<timestamp>.json.
//
// Everything it starts is stopped on exit, including on failure or Ctrl-C.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"syncline/internal/testenv"
)

const (
	sourceName  = "app"
	sinkName    = "warehouse"
	publication = "syncline_" + sourceName // syncline's default
	synclineSlt = "syncline_" + sourceName // syncline's default
	limitSlot   = "bench_limit"
)

type options struct {
	rows      int
	txnRows   int
	syncline  string
	outDir    string
	workDir   string
	keep      bool
	timeout   time.Duration
	pollEvery time.Duration
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.ReplaceAll(v, "_", ""), ",", ""))
		if err != nil {
			fmt.Fprintf(os.Stderr, "cdcbench: %s=%q is not an integer\n", name, v)
			os.Exit(2)
		}
		return n
	}
	return def
}

func main() {
	var o options
	flag.IntVar(&o.rows, "rows", envInt("BENCH_ROWS", 1_000_000), "rows to load and replicate (env BENCH_ROWS)")
	flag.IntVar(&o.txnRows, "txn-rows", envInt("BENCH_TXN_ROWS", 10_000), "rows per source transaction during the load; >= -rows loads in one transaction (env BENCH_TXN_ROWS)")
	flag.StringVar(&o.syncline, "syncline", "bin/syncline", "syncline binary to benchmark")
	flag.StringVar(&o.outDir, "out", "bench/out", "directory for report-<timestamp>.json")
	flag.StringVar(&o.workDir, "work", "", "working directory for syncline's config, state and logs (default: a temporary one, removed unless -keep)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (syncline logs and state) after the run")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Minute, "give up after this long")
	flag.DurationVar(&o.pollEvery, "poll", 50*time.Millisecond, "metrics polling interval")
	flag.Parse()
	if o.rows <= 0 || o.txnRows <= 0 {
		fmt.Fprintln(os.Stderr, "cdcbench: -rows and -txn-rows must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "cdcbench: FAILED:", err)
		cancel()
		stop()
		os.Exit(1)
	}
}

// Report is what the run measured; it is printed and written as JSON.
type Report struct {
	Timestamp   string `json:"timestamp"`
	Rows        int    `json:"rows"`
	TxnRows     int    `json:"rows_per_source_txn"`
	SourceTxns  int    `json:"source_txns"`
	Table       string `json:"table"`
	Environment struct {
		CPUs       int    `json:"cpus"`
		GoVersion  string `json:"go_version"`
		Postgres   string `json:"postgres"`
		GitRev     string `json:"git_rev,omitempty"`
		Kafka      string `json:"kafka"`
		Partitions int    `json:"partitions"`
	} `json:"environment"`
	Load struct {
		Seconds    float64 `json:"seconds"`
		RowsPerSec float64 `json:"rows_per_sec"`
		WALBytes   int64   `json:"wal_bytes"`
		StartLSN   string  `json:"start_lsn"`
		EndLSN     string  `json:"end_lsn"`
	} `json:"load"`
	Limit struct {
		Tool       string  `json:"tool"`
		Seconds    float64 `json:"seconds"`
		RowsPerSec float64 `json:"rows_per_sec"`
		WALMBPerS  float64 `json:"wal_mb_per_sec"`
	} `json:"physical_limit"`
	Capture struct {
		Seconds               float64 `json:"seconds"`
		RowsPerSec            float64 `json:"rows_per_sec"`
		RatioToLimit          float64 `json:"ratio_to_limit"`
		FirstEventSeconds     float64 `json:"first_event_seconds"`
		RowsPerSecFromFirst   float64 `json:"rows_per_sec_from_first_event"`
		ReadySeconds          float64 `json:"readyz_seconds"`
		Events                float64 `json:"events"`
		MeasuredFrom          string  `json:"measured_from"`
		MeasuredUntil         string  `json:"measured_until"`
		RatioFromFirstToLimit float64 `json:"ratio_from_first_event_to_limit"`
	} `json:"capture"`
	EndToEnd struct {
		Seconds       float64 `json:"seconds"`
		RowsPerSec    float64 `json:"rows_per_sec"`
		RatioToLimit  float64 `json:"ratio_to_limit"`
		SinkMetricSec float64 `json:"sink_writes_metric_seconds"`
		WarehouseRows int64   `json:"warehouse_rows"`
		MeasuredUntil string  `json:"measured_until"`
	} `json:"end_to_end"`
	PeakRSSMiB float64 `json:"syncline_peak_rss_mib"`
	ReportPath string  `json:"-"`
}

func run(ctx context.Context, o options) (err error) {
	rep := &Report{Timestamp: time.Now().UTC().Format(time.RFC3339), Rows: o.rows, TxnRows: min(o.txnRows, o.rows),
		Table: "customers(id bigint pk, email text, name text, balance numeric(12,2), created_at timestamptz, active bool, prefs jsonb)"}
	rep.SourceTxns = (o.rows + rep.TxnRows - 1) / rep.TxnRows
	rep.Environment.CPUs = runtime.NumCPU()
	rep.Environment.GoVersion = runtime.Version()
	rep.Environment.Kafka = "embedded (kafka.brokers empty)"
	rep.Environment.Partitions = 4
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		rep.Environment.GitRev = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
			rep.Environment.GitRev += "+dirty"
		}
	}

	syncBin, err := filepath.Abs(o.syncline)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(syncBin); err != nil || fi.IsDir() {
		return fmt.Errorf("syncline binary %s not found: build it first (go build -o bin/syncline ./cmd/syncline) or pass -syncline", o.syncline)
	}

	work := o.workDir
	if work == "" {
		if work, err = os.MkdirTemp("", "syncline-bench-"); err != nil {
			return err
		}
		if !o.keep {
			defer func() {
				if err == nil {
					os.RemoveAll(work)
				} else {
					logf("keeping %s for inspection (syncline logs, state)", work)
				}
			}()
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	work, _ = filepath.Abs(work)
	logf("working directory %s", work)

	// 1. Postgres.
	logf("starting a throwaway Postgres")
	srv, err := testenv.StartPostgresServer(ctx, "", 0, nil)
	if err != nil {
		return err
	}
	defer func() {
		logf("stopping Postgres")
		srv.Stop()
	}()
	admin, err := pgx.Connect(ctx, srv.DSN("postgres"))
	if err != nil {
		return err
	}
	defer admin.Close(context.Background())
	if err := admin.QueryRow(ctx, "SHOW server_version").Scan(&rep.Environment.Postgres); err != nil {
		return err
	}
	for _, db := range []string{"app", "warehouse"} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			return fmt.Errorf("create database %s: %w", db, err)
		}
	}
	appDSN, whDSN := srv.DSN("app"), srv.DSN("warehouse")
	app, err := pgx.Connect(ctx, appDSN)
	if err != nil {
		return err
	}
	defer app.Close(context.Background())
	if _, err := app.Exec(ctx, `CREATE TABLE customers (
		id         bigint PRIMARY KEY,
		email      text NOT NULL,
		name       text,
		balance    numeric(12,2),
		created_at timestamptz NOT NULL DEFAULT now(),
		active     boolean NOT NULL DEFAULT true,
		prefs      jsonb)`); err != nil {
		return err
	}
	wh, err := pgx.Connect(ctx, whDSN)
	if err != nil {
		return err
	}
	defer wh.Close(context.Background())

	// 2. syncline creates its publication and slot (snapshot: never), then
	// stops; a second slot for pg_recvlogical.
	cfgPath, httpAddr, err := writeConfig(work, appDSN, whDSN)
	if err != nil {
		return err
	}
	logf("starting syncline once to create its publication and slot (snapshot: never)")
	sl, err := startSyncline(syncBin, cfgPath, filepath.Join(work, "syncline-setup.log"))
	if err != nil {
		return err
	}
	defer sl.stop()
	if _, err := sl.waitReady(ctx, httpAddr, 2*time.Minute); err != nil {
		return err
	}
	var slotOK, pubOK bool
	if err := app.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1),
		EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $2 AND tablename = 'customers')`, synclineSlt, publication).Scan(&slotOK, &pubOK); err != nil {
		return err
	}
	if !slotOK || !pubOK {
		return fmt.Errorf("syncline is ready but slot %s exists=%v, publication %s has customers=%v", synclineSlt, slotOK, publication, pubOK)
	}
	if err := sl.stop(); err != nil {
		return fmt.Errorf("stopping syncline after setup: %w", err)
	}
	if _, err := app.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", limitSlot); err != nil {
		return fmt.Errorf("create slot %s: %w", limitSlot, err)
	}

	// 3. The load, with nothing reading the slots.
	var startLSN string
	if err := app.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&startLSN); err != nil {
		return err
	}
	logf("loading %d rows, %d per transaction (%d transactions)", o.rows, rep.TxnRows, rep.SourceTxns)
	t0 := time.Now()
	for lo := 1; lo <= o.rows; lo += rep.TxnRows {
		hi := min(lo+rep.TxnRows-1, o.rows)
		if _, err := app.Exec(ctx, loadSQL, lo, hi); err != nil {
			return fmt.Errorf("load rows %d..%d: %w", lo, hi, err)
		}
	}
	loadDur := time.Since(t0)
	// The end of the last commit record: pg_recvlogical stops there.
	var endLSN string
	var walBytes int64
	if err := app.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::bigint", startLSN).Scan(&endLSN, &walBytes); err != nil {
		return err
	}
	// A non-transactional message (ignored by pgoutput without messages=true)
	// guarantees WAL beyond endLSN, so pg_recvlogical's --endpos is reached
	// even if endLSN falls on a page boundary.
	if _, err := app.Exec(ctx, "SELECT pg_logical_emit_message(false, 'cdcbench', 'end of load')"); err != nil {
		return err
	}
	var loaded int64
	if err := app.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&loaded); err != nil {
		return err
	}
	if loaded != int64(o.rows) {
		return fmt.Errorf("loaded %d rows, want %d", loaded, o.rows)
	}
	rep.Load.Seconds = loadDur.Seconds()
	rep.Load.RowsPerSec = float64(o.rows) / loadDur.Seconds()
	rep.Load.WALBytes, rep.Load.StartLSN, rep.Load.EndLSN = walBytes, startLSN, endLSN
	logf("load: %.2fs (%.0f rows/s), %.1f MiB of WAL (%s .. %s)", loadDur.Seconds(), rep.Load.RowsPerSec, float64(walBytes)/(1<<20), startLSN, endLSN)

	// 4. The physical limit: pg_recvlogical decoding the same WAL.
	limit, err := runRecvLogical(ctx, srv, endLSN, filepath.Join(work, "pg_recvlogical.log"))
	if err != nil {
		return err
	}
	var limitDone bool
	if err := app.QueryRow(ctx, "SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1", limitSlot, endLSN).Scan(&limitDone); err != nil {
		return err
	}
	if !limitDone {
		return fmt.Errorf("pg_recvlogical exited but slot %s has not confirmed %s", limitSlot, endLSN)
	}
	rep.Limit.Tool = "pg_recvlogical --plugin pgoutput proto_version=1 -f /dev/null"
	rep.Limit.Seconds = limit.Seconds()
	rep.Limit.RowsPerSec = float64(o.rows) / limit.Seconds()
	rep.Limit.WALMBPerS = float64(walBytes) / (1 << 20) / limit.Seconds()
	logf("pg_recvlogical: %.2fs (%.0f rows/s)", limit.Seconds(), rep.Limit.RowsPerSec)

	// 5. syncline catches up from its slot.
	logf("starting syncline: catch-up of %d rows", o.rows)
	sl, err = startSyncline(syncBin, cfgPath, filepath.Join(work, "syncline-run.log"))
	if err != nil {
		return err
	}
	defer sl.stop()
	if err := measureSyncline(ctx, o, sl, httpAddr, wh, rep); err != nil {
		return err
	}
	if err := sl.stop(); err != nil {
		logf("warning: syncline did not stop cleanly: %v", err)
	}

	// 6. Report.
	printReport(os.Stdout, rep)
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(o.outDir, "report-"+time.Now().Format("20060102-150405")+".json")
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("report written to %s\n", path)
	return nil
}

// loadSQL inserts rows $1..$2 with varied, deterministic values (~150 bytes
// of column data per row).
const loadSQL = `INSERT INTO customers (id, email, name, balance, created_at, active, prefs)
SELECT g,
       'user' || g || '@example.com',
       'Customer ' || substr(md5(g::text), 1, 12),
       ((g * 7919) % 10000000) / 100.0,
       timestamptz '2020-01-01 00:00:00+00' + g * interval '37 seconds',
       g % 7 <> 0,
       jsonb_build_object('theme', CASE WHEN g % 2 = 0 THEN 'dark' ELSE 'light' END,
                          'newsletter', g % 5 = 0,
                          'tags', jsonb_build_array('t' || (g % 13), 't' || (g % 17)))
FROM generate_series($1::bigint, $2::bigint) AS g`

func measureSyncline(ctx context.Context, o options, sl *proc, httpAddr string, wh *pgx.Conn, rep *Report) error {
	n := float64(o.rows)
	start := sl.started
	var firstEvent, captured, sinkMetric, e2e time.Duration
	var ready time.Duration
	var events, writes float64
	client := &http.Client{Timeout: 5 * time.Second}
	lastCount := time.Time{}
	lastLog := time.Now()
	tick := time.NewTicker(o.pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting for syncline after %.1fs (captured %.0f of %.0f, warehouse sink wrote %.0f): %w\n%s",
				time.Since(start).Seconds(), events, n, writes, ctx.Err(), sl.logTail(30))
		case <-sl.exited:
			return fmt.Errorf("syncline exited during the run: %v\n%s", sl.waitErr, sl.logTail(40))
		case <-tick.C:
		}
		now := time.Since(start)
		if ready == 0 {
			if resp, err := client.Get(httpAddr + "/readyz"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ready = now
				}
			}
		}
		m, err := scrape(client, httpAddr+"/metrics")
		if err != nil {
			continue // not serving yet
		}
		events = m.sum("syncline_source_events_total", `source="`+sourceName+`"`)
		writes = m.sum("syncline_sink_writes_total", `sink="`+sinkName+`"`, `result="ok"`)
		if firstEvent == 0 && events > 0 {
			firstEvent = now
		}
		if captured == 0 && events >= n {
			captured = now
			rep.Capture.Events = events
			logf("capture: %d events committed to Kafka after %.2fs", int64(events), now.Seconds())
		}
		if sinkMetric == 0 && writes >= n {
			sinkMetric = now
		}
		// count(*) is the authority for end-to-end; run it once the sink's
		// metric says all rows are written, and every 2s regardless.
		if e2e == 0 && (writes >= n || time.Since(lastCount) > 2*time.Second) {
			lastCount = time.Now()
			var cnt int64
			err := wh.QueryRow(ctx, "SELECT count(*) FROM analytics.customers").Scan(&cnt)
			if err == nil && cnt >= int64(o.rows) {
				e2e = time.Since(start)
				rep.EndToEnd.WarehouseRows = cnt
				logf("end-to-end: %d rows in analytics.customers after %.2fs", cnt, e2e.Seconds())
			}
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			logf("  t=%.0fs captured=%d sink_writes=%d", now.Seconds(), int64(events), int64(writes))
		}
		if captured > 0 && e2e > 0 {
			break
		}
	}
	rss, err := peakRSS(sl.cmd.Process.Pid)
	if err != nil {
		logf("warning: peak RSS: %v", err)
	}
	limit := rep.Limit.RowsPerSec
	rep.Capture.MeasuredFrom = "syncline process start (slot already holds the whole load)"
	rep.Capture.MeasuredUntil = "syncline_source_events_total{source=app} >= rows (committed to Kafka)"
	rep.Capture.Seconds = captured.Seconds()
	rep.Capture.RowsPerSec = n / captured.Seconds()
	rep.Capture.RatioToLimit = rep.Capture.RowsPerSec / limit
	rep.Capture.FirstEventSeconds = firstEvent.Seconds()
	if d := (captured - firstEvent).Seconds(); d > 0 {
		rep.Capture.RowsPerSecFromFirst = n / d
		rep.Capture.RatioFromFirstToLimit = rep.Capture.RowsPerSecFromFirst / limit
	}
	rep.Capture.ReadySeconds = ready.Seconds()
	rep.EndToEnd.MeasuredUntil = "SELECT count(*) FROM analytics.customers = rows (warehouse)"
	rep.EndToEnd.Seconds = e2e.Seconds()
	rep.EndToEnd.RowsPerSec = n / e2e.Seconds()
	rep.EndToEnd.RatioToLimit = rep.EndToEnd.RowsPerSec / limit
	rep.EndToEnd.SinkMetricSec = sinkMetric.Seconds()
	rep.PeakRSSMiB = float64(rss) / 1024
	return nil
}

func printReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "\n==== syncline bench: %d rows, %d per source transaction (%d txns), %d CPUs, Postgres %s, %s ====\n",
		r.Rows, r.TxnRows, r.SourceTxns, r.Environment.CPUs, r.Environment.Postgres, r.Environment.GitRev)
	fmt.Fprintf(w, "%-34s %9s %12s %8s\n", "", "seconds", "rows/s", "x limit")
	fmt.Fprintf(w, "%-34s %9.2f %12.0f %8s\n", "load (INSERT..SELECT, not read)", r.Load.Seconds, r.Load.RowsPerSec, "")
	fmt.Fprintf(w, "%-34s %9.2f %12.0f %8.2f\n", "pg_recvlogical (physical limit)", r.Limit.Seconds, r.Limit.RowsPerSec, 1.0)
	fmt.Fprintf(w, "%-34s %9.2f %12.0f %8.2f\n", "syncline capture -> Kafka", r.Capture.Seconds, r.Capture.RowsPerSec, r.Capture.RatioToLimit)
	if r.Capture.RowsPerSecFromFirst > 0 {
		fmt.Fprintf(w, "%-34s %9.2f %12.0f %8.2f\n", "  (from first event)", r.Capture.Seconds-r.Capture.FirstEventSeconds, r.Capture.RowsPerSecFromFirst, r.Capture.RatioFromFirstToLimit)
	} else {
		fmt.Fprintf(w, "%-34s %9s %12s %8s\n", "  (from first event)", "n/a", "n/a", "n/a") // all rows in one commit
	}
	fmt.Fprintf(w, "%-34s %9.2f %12.0f %8.2f\n", "syncline end-to-end -> warehouse", r.EndToEnd.Seconds, r.EndToEnd.RowsPerSec, r.EndToEnd.RatioToLimit)
	fmt.Fprintf(w, "WAL decoded: %.1f MiB (pg_recvlogical %.1f MiB/s); syncline /readyz after %.2fs, first event after %.2fs; sink_writes_total reached N after %.2fs\n",
		float64(r.Load.WALBytes)/(1<<20), r.Limit.WALMBPerS, r.Capture.ReadySeconds, r.Capture.FirstEventSeconds, r.EndToEnd.SinkMetricSec)
	fmt.Fprintf(w, "syncline peak RSS (VmHWM): %.1f MiB\n", r.PeakRSSMiB)
	fmt.Fprintln(w, "syncline times run from its process start, with the whole load already waiting in its slot.")
}

// writeConfig writes the pipeline config with free ports and returns its
// path and the HTTP base URL.
func writeConfig(work, appDSN, whDSN string) (string, string, error) {
	ports, err := freePorts(3)
	if err != nil {
		return "", "", err
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[2])
	cfg := fmt.Sprintf(`# Written by bench/cdcbench.
name: bench
data_dir: %q
log: {level: info, format: json}
kafka:
  brokers: []
  embedded: {listen: "127.0.0.1:%d"}
registry: {listen: "127.0.0.1:%d"}
http: {listen: %q}
sources:
  - name: %s
    type: postgres
    dsn: %q
    tables: [public.customers]
    snapshot: never
sinks:
  - name: %s
    type: postgres
    dsn: %q
    schema: analytics
    from: [%s.*]
`, filepath.Join(work, "state"), ports[0], ports[1], httpAddr, sourceName, appDSN, sinkName, whDSN, sourceName)
	path := filepath.Join(work, "pipeline.yaml")
	return path, "http://" + httpAddr, os.WriteFile(path, []byte(cfg), 0o644)
}

func freePorts(n int) ([]int, error) {
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

// proc is a child process (syncline).
type proc struct {
	cmd     *exec.Cmd
	logPath string
	started time.Time
	exited  chan struct{}
	waitErr error
	stopped bool
}

func startSyncline(bin, cfgPath, logPath string) (*proc, error) {
	logf2, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Dir = filepath.Dir(cfgPath)
	cmd.Stdout, cmd.Stderr = logf2, logf2
	// Own process group (Ctrl-C reaches us, and we stop it gracefully), and
	// killed if we die without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf2.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		logf2.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) waitReady(ctx context.Context, httpAddr string, timeout time.Duration) (time.Duration, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.After(timeout)
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-p.exited:
			return 0, fmt.Errorf("syncline exited before becoming ready: %v\n%s", p.waitErr, p.logTail(40))
		case <-deadline:
			return 0, fmt.Errorf("syncline not ready after %v\n%s", timeout, p.logTail(40))
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := client.Get(httpAddr + "/readyz")
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

// stop sends SIGTERM (graceful) and waits up to 30s, then kills. Idempotent.
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
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("syncline did not stop within 30s of SIGTERM; killed")
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

// runRecvLogical runs pg_recvlogical on the bench_limit slot until endLSN
// and returns its wall time, start to exit.
func runRecvLogical(ctx context.Context, srv *testenv.Server, endLSN, logPath string) (time.Duration, error) {
	bin := filepath.Join(srv.BinDir(), "pg_recvlogical")
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("pg_recvlogical"); err != nil {
			return 0, errors.New("pg_recvlogical not found (scripts/install-deps.sh installs it)")
		}
	}
	conn := fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=app", srv.Port(), testenv.PGSuperuser)
	args := []string{"-d", conn, "--slot", limitSlot, "--start",
		"-o", "proto_version=1", "-o", "publication_names=" + publication,
		"-f", "/dev/null", "-F", "0", "--no-loop", "--endpos", endLSN}
	logf("running %s %s", bin, strings.Join(args, " "))
	cctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = cleanEnv()
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	_ = os.WriteFile(logPath, out.Bytes(), 0o644)
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

// peakRSS returns VmHWM of pid in KiB.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// Command cdcbench is the throughput harness behind `make bench`
// (scripts/bench.sh). It starts one throwaway Postgres (internal/testenv)
// and runs the selected scenarios (-scenarios, env BENCH_SCENARIOS; all by
// default) one after the other, each in a fresh database:
//
//	single  -rows single-row INSERT transactions (customers, 7 columns)
//	onetxn  -rows rows INSERTed in one transaction (customers)
//	bigtxn  -big-txn-rows rows (5,000,000) in one transaction: the peak-RSS
//	        figure for a transaction far larger than batch_max_records
//	update  -rows rows of a 20-column, ~600-byte table loaded before the
//	        slots exist (not captured), then UPDATE of one int column of
//	        every row, -txn-rows rows per transaction: only the updates are
//	        measured
//	e2e     the all-in-one figure: `syncline run` with the embedded broker
//	        and the warehouse sink, -rows rows in -txn-rows transactions,
//	        timed to the rows in the warehouse
//	backfill -backfill-rows rows (5,000,000) loaded before the slots exist,
//	        then a backfill signal (-chunk-size rows per chunk): syncline is
//	        timed from the signal to every row committed to Kafka, and the
//	        limit is COPY (SELECT ...) TO STDOUT of the same table
//
// The first four are capture-only: `syncline broker` runs as its own
// process, and `syncline run --role capture` points kafka.brokers and
// registry.url at it, so capture's RSS does not include the broker's
// in-memory log (both are reported, separately). Each scenario:
//
//  1. creates a database and its table (update: and loads its rows);
//  2. starts syncline once with snapshot: never, so that it creates its
//     publication and replication slot and records its position in Kafka,
//     then stops it; creates a second slot for pg_recvlogical;
//  3. runs the workload while nothing reads the slots, so both retain
//     exactly the same WAL;
//  4. measures the limit: pg_recvlogical (pgoutput, same publication)
//     decoding that WAL to /dev/null up to the LSN after the workload,
//     timed from its start to its exit;
//  5. starts syncline again and times, from its process start, the catch-up
//     of capture: syncline_source_events_total reaches the row count, i.e.
//     every change is committed to Kafka (e2e: also the rows arriving in
//     the warehouse); samples its RSS as the events grow and reads its peak
//     RSS (VmHWM) and the broker's; checks the raw topic's last stable
//     offsets;
//  6. stops everything and drops the database and its slots.
//
// It prints a table and writes the report as JSON to -out/report-<time>.json.
// -cpuprofile SCENARIO[,...] runs that scenario's measured syncline process with
// SYNCLINE_CPUPROFILE and writes the profile (and `go tool pprof -top` of
// it) next to the report.
//
// Everything it starts is stopped on exit, including on failure or Ctrl-C.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"syncline/internal/crashtest"
	"syncline/internal/testenv"
)

const (
	sourceName = "app"
	sinkName   = "warehouse"
	partitions = 4
)

var allScenarios = []string{"single", "onetxn", "bigtxn", "update", "e2e", "backfill"}

type options struct {
	scenarios  []string
	rows       int
	bigTxnRows int
	bfRows     int
	chunkSize  int
	txnRows    int
	batchMax   int
	loadConns  int
	cpuProfile string
	syncline   string
	outDir     string
	workDir    string
	keep       bool
	timeout    time.Duration
	pollEvery  time.Duration
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

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	var o options
	var scen string
	flag.StringVar(&scen, "scenarios", envStr("BENCH_SCENARIOS", "all"), "comma-separated scenarios to run, of "+strings.Join(allScenarios, ",")+", or all (env BENCH_SCENARIOS)")
	flag.IntVar(&o.rows, "rows", envInt("BENCH_ROWS", 1_000_000), "rows of the single, onetxn, update and e2e scenarios (env BENCH_ROWS)")
	flag.IntVar(&o.bigTxnRows, "big-txn-rows", envInt("BENCH_BIG_TXN_ROWS", 5_000_000), "rows of the bigtxn scenario's one transaction (env BENCH_BIG_TXN_ROWS)")
	flag.IntVar(&o.bfRows, "backfill-rows", envInt("BENCH_BACKFILL_ROWS", 5_000_000), "rows of the backfill scenario's table (env BENCH_BACKFILL_ROWS)")
	flag.IntVar(&o.chunkSize, "chunk-size", envInt("BENCH_CHUNK_SIZE", 10_000), "rows per chunk of the backfill scenario (env BENCH_CHUNK_SIZE)")
	flag.IntVar(&o.txnRows, "txn-rows", envInt("BENCH_TXN_ROWS", 10_000), "rows per source transaction of the e2e load and of the update scenario (env BENCH_TXN_ROWS)")
	flag.IntVar(&o.batchMax, "batch-max-records", envInt("BENCH_BATCH_MAX_RECORDS", 0), "sources[].batch_max_records for syncline; 0 leaves syncline's default (10000) (env BENCH_BATCH_MAX_RECORDS)")
	flag.IntVar(&o.loadConns, "load-conns", envInt("BENCH_LOAD_CONNS", 2), "connections loading the single scenario's one-row transactions in parallel (env BENCH_LOAD_CONNS)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", envStr("BENCH_CPUPROFILE", ""), "comma-separated scenarios whose measured syncline process writes a CPU profile (SYNCLINE_CPUPROFILE) to -out, with pprof -top of it (env BENCH_CPUPROFILE)")
	flag.StringVar(&o.syncline, "syncline", "bin/syncline", "syncline binary to benchmark")
	flag.StringVar(&o.outDir, "out", "bench/out", "directory for report-<timestamp>.json (and CPU profiles)")
	flag.StringVar(&o.workDir, "work", "", "working directory for syncline's configs, state and logs (default: a temporary one, removed unless -keep or a failure)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (logs, broker data) after the run")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Hour, "give up after this long")
	flag.DurationVar(&o.pollEvery, "poll", 50*time.Millisecond, "metrics polling interval")
	flag.Parse()
	if scen == "all" || scen == "" {
		o.scenarios = allScenarios
	} else {
		for _, s := range strings.Split(scen, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(allScenarios, s) {
				fmt.Fprintf(os.Stderr, "cdcbench: unknown scenario %q (have %s)\n", s, strings.Join(allScenarios, ", "))
				os.Exit(2)
			}
			if !slices.Contains(o.scenarios, s) {
				o.scenarios = append(o.scenarios, s)
			}
		}
	}
	if o.rows <= 0 || o.txnRows <= 0 || o.bigTxnRows <= 0 || o.loadConns <= 0 || o.batchMax < 0 {
		fmt.Fprintln(os.Stderr, "cdcbench: -rows, -txn-rows, -big-txn-rows and -load-conns must be positive")
		os.Exit(2)
	}
	if o.cpuProfile != "" {
		for _, s := range strings.Split(o.cpuProfile, ",") {
			if !slices.Contains(o.scenarios, strings.TrimSpace(s)) {
				fmt.Fprintf(os.Stderr, "cdcbench: -cpuprofile %s: %s is not among the scenarios run (%s)\n", o.cpuProfile, s, strings.Join(o.scenarios, ","))
				os.Exit(2)
			}
		}
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
	Environment struct {
		CPUs       int    `json:"cpus"`
		GoVersion  string `json:"go_version"`
		Postgres   string `json:"postgres"`
		GitRev     string `json:"git_rev,omitempty"`
		Partitions int    `json:"partitions"`
		Note       string `json:"note"`
	} `json:"environment"`
	Settings struct {
		Rows            int `json:"rows"`
		BigTxnRows      int `json:"big_txn_rows"`
		TxnRows         int `json:"txn_rows"`
		BatchMaxRecords int `json:"batch_max_records"`
	} `json:"settings"`
	Scenarios []*ScenarioReport `json:"scenarios"`
}

// ScenarioReport is one scenario's measurements.
type ScenarioReport struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Mode        string `json:"mode"`
	Table       string `json:"table"`
	Rows        int    `json:"rows"`
	SourceTxns  int    `json:"source_txns"`
	Error       string `json:"error,omitempty"`
	Load        struct {
		What       string  `json:"what"`
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
		LoadAvg    float64 `json:"loadavg_1m_at_end"`
	} `json:"physical_limit"`
	Capture struct {
		MeasuredFrom          string      `json:"measured_from"`
		MeasuredUntil         string      `json:"measured_until"`
		Seconds               float64     `json:"seconds"`
		RowsPerSec            float64     `json:"rows_per_sec"`
		RatioToLimit          float64     `json:"ratio_to_limit"`
		ReadySeconds          float64     `json:"readyz_seconds"`
		FirstEventSeconds     float64     `json:"first_event_seconds"`
		RowsPerSecFromFirst   float64     `json:"rows_per_sec_from_first_event"`
		RatioFromFirstToLimit float64     `json:"ratio_from_first_event_to_limit"`
		Events                float64     `json:"events"`
		CPUSeconds            float64     `json:"cpu_seconds"`
		CPUMicrosPerRow       float64     `json:"cpu_us_per_row"`
		LoadAvgAtEnd          float64     `json:"loadavg_1m_at_end"`
		RawStableOffsets      int64       `json:"raw_topic_last_stable_offsets_sum,omitempty"`
		PeakRSSMiB            float64     `json:"peak_rss_mib"`
		RSSByProgress         []RSSSample `json:"rss_by_progress"`
		CPUProfile            string      `json:"cpu_profile,omitempty"`
	} `json:"capture"`
	Broker   *brokerReport   `json:"broker,omitempty"`
	EndToEnd *EndToEndReport `json:"end_to_end,omitempty"`
}

// EndToEndReport is the all-in-one scenario's figure into the warehouse.
type EndToEndReport struct {
	MeasuredUntil string  `json:"measured_until"`
	Seconds       float64 `json:"seconds"`
	RowsPerSec    float64 `json:"rows_per_sec"`
	RatioToLimit  float64 `json:"ratio_to_limit"`
	SinkMetricSec float64 `json:"sink_writes_metric_seconds"`
	WarehouseRows int64   `json:"warehouse_rows"`
}

type brokerReport struct {
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	CPUSeconds float64 `json:"cpu_seconds_during_catch_up"`
}

// RSSSample is the syncline process's RSS when its committed events first
// reached Events.
type RSSSample struct {
	Seconds float64 `json:"seconds"`
	Events  int64   `json:"events"`
	RSSMiB  float64 `json:"rss_mib"`
}

// env is what every scenario shares.
type env struct {
	o       options
	srv     *testenv.Server
	admin   *pgx.Conn
	syncBin string
	work    string
	outDir  string
	stamp   string
}

func run(ctx context.Context, o options) (err error) {
	rep := &Report{Timestamp: time.Now().UTC().Format(time.RFC3339)}
	rep.Environment.CPUs = runtime.NumCPU()
	rep.Environment.GoVersion = runtime.Version()
	rep.Environment.Partitions = partitions
	rep.Environment.Note = "Postgres, pg_recvlogical, syncline and its broker share this machine; ratios are measured in the same run"
	rep.Settings.Rows, rep.Settings.BigTxnRows, rep.Settings.TxnRows = o.rows, o.bigTxnRows, o.txnRows
	rep.Settings.BatchMaxRecords = o.batchMax
	if o.batchMax == 0 {
		rep.Settings.BatchMaxRecords = 10000 // syncline's default
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		rep.Environment.GitRev = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
			rep.Environment.GitRev += "+dirty"
		}
	}
	e := &env{o: o, stamp: time.Now().Format("20060102-150405")}
	if e.syncBin, err = filepath.Abs(o.syncline); err != nil {
		return err
	}
	if fi, err := os.Stat(e.syncBin); err != nil || fi.IsDir() {
		return fmt.Errorf("syncline binary %s not found: build it first (go build -o bin/syncline ./cmd/syncline) or pass -syncline", o.syncline)
	}
	if e.outDir, err = filepath.Abs(o.outDir); err != nil {
		return err
	}
	if err := os.MkdirAll(e.outDir, 0o755); err != nil {
		return err
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
	e.work, _ = filepath.Abs(work)
	logf("working directory %s; scenarios %s", e.work, strings.Join(o.scenarios, ","))

	logf("starting a throwaway Postgres")
	if e.srv, err = testenv.StartPostgresServer(ctx, "", 0, nil); err != nil {
		return err
	}
	defer func() {
		logf("stopping Postgres")
		e.srv.Stop()
	}()
	if e.admin, err = pgx.Connect(ctx, e.srv.DSN("postgres")); err != nil {
		return err
	}
	defer e.admin.Close(context.Background())
	if err := e.admin.QueryRow(ctx, "SHOW server_version").Scan(&rep.Environment.Postgres); err != nil {
		return err
	}

	var failed []string
	for _, name := range o.scenarios {
		sc := e.scenario(name)
		logf("==== scenario %s: %s", sc.name, sc.desc)
		sr, err := e.runScenario(ctx, sc)
		if err != nil {
			logf("scenario %s FAILED: %v", sc.name, err)
			sr.Error = err.Error()
			failed = append(failed, sc.name)
		}
		rep.Scenarios = append(rep.Scenarios, sr)
		if ctx.Err() != nil {
			break
		}
	}

	printReport(os.Stdout, rep)
	path := filepath.Join(e.outDir, "report-"+e.stamp+".json")
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
	if len(failed) > 0 {
		return fmt.Errorf("scenarios failed: %s", strings.Join(failed, ", "))
	}
	return ctx.Err()
}

// scenario describes one workload.
type scenario struct {
	name, desc string
	allInOne   bool // e2e: embedded broker and warehouse sink in one syncline process
	table      string
	tableDesc  string
	ddl        string
	rows       int
	txns       int
	loadWhat   string
	// prepare runs before the slots exist: its changes are not captured.
	prepare func(ctx context.Context, conn *pgx.Conn) error
	// load writes the WAL both pg_recvlogical and syncline decode.
	load func(ctx context.Context, conn *pgx.Conn, dsn string) error
	// verify returns a count that must equal rows after load.
	verify string
	// backfill: no WAL workload; the limit is COPY (SELECT ...) TO STDOUT
	// of the table, and syncline is timed from the backfill signal to
	// every row committed to Kafka.
	backfill bool
}

// preload is a scenario's prepare step that loads rows into table before
// the slots exist (so they are not captured), txnRows per transaction.
func preload(table, cols, exprs string, rows, txnRows int) func(context.Context, *pgx.Conn) error {
	return func(ctx context.Context, conn *pgx.Conn) error {
		logf("loading %d %s rows before the slots exist (not captured)", rows, table)
		t0 := time.Now()
		if err := loadBatched(ctx, conn, table, cols, exprs, rows, txnRows); err != nil {
			return err
		}
		_, err := conn.Exec(ctx, "VACUUM ANALYZE "+table)
		logf("loaded in %.1fs", time.Since(t0).Seconds())
		return err
	}
}

func (e *env) scenario(name string) *scenario {
	o := e.o
	cust := func(sc *scenario) *scenario {
		sc.table, sc.tableDesc, sc.ddl = "customers", customersDesc, customersDDL
		sc.verify = "SELECT count(*) FROM customers"
		return sc
	}
	switch name {
	case "single":
		return cust(&scenario{name: name, rows: o.rows, txns: o.rows,
			desc:     fmt.Sprintf("%d single-row INSERT transactions", o.rows),
			loadWhat: fmt.Sprintf("DO loop, INSERT + COMMIT per row, %d connections", o.loadConns),
			load: func(ctx context.Context, _ *pgx.Conn, dsn string) error {
				return loadSingleRowTxns(ctx, dsn, "customers", customersCols, customersExprs, o.rows, o.loadConns)
			}})
	case "onetxn", "bigtxn":
		n := o.rows
		if name == "bigtxn" {
			n = o.bigTxnRows
		}
		return cust(&scenario{name: name, rows: n, txns: 1,
			desc:     fmt.Sprintf("%d rows INSERTed in one transaction", n),
			loadWhat: "one INSERT ... SELECT generate_series",
			load: func(ctx context.Context, conn *pgx.Conn, _ string) error {
				return loadBatched(ctx, conn, "customers", customersCols, customersExprs, n, n)
			}})
	case "update":
		txn := min(o.txnRows, o.rows)
		return &scenario{name: name, rows: o.rows, txns: (o.rows + txn - 1) / txn,
			desc:      fmt.Sprintf("UPDATE of one int column of %d wide rows, %d per transaction (rows loaded before the slots, not measured)", o.rows, txn),
			table:     "wide",
			tableDesc: wideDesc, ddl: wideDDL,
			loadWhat: fmt.Sprintf("UPDATE wide SET counter = counter + 1, %d rows per transaction", txn),
			prepare:  preload("wide", wideCols, wideExprs, o.rows, 100_000),
			load: func(ctx context.Context, conn *pgx.Conn, _ string) error {
				return updateCounter(ctx, conn, o.rows, txn)
			},
			verify: "SELECT count(*) FROM wide WHERE counter = 1"}
	case "backfill":
		return cust(&scenario{name: name, rows: o.bfRows, txns: 0, backfill: true,
			desc:     fmt.Sprintf("backfill of a %d-row table in %d-row chunks, as a ratio to COPY (SELECT ...) TO STDOUT of it", o.bfRows, o.chunkSize),
			loadWhat: "rows loaded before the slots exist (not captured); then `backfill` signal",
			prepare:  preload("customers", customersCols, customersExprs, o.bfRows, 500_000)})
	case "e2e":
		txn := min(o.txnRows, o.rows)
		return cust(&scenario{name: name, rows: o.rows, txns: (o.rows + txn - 1) / txn, allInOne: true,
			desc:     fmt.Sprintf("end-to-end, all-in-one (embedded broker + warehouse sink): %d rows, %d per transaction", o.rows, txn),
			loadWhat: fmt.Sprintf("INSERT ... SELECT generate_series, %d rows per transaction", txn),
			load: func(ctx context.Context, conn *pgx.Conn, _ string) error {
				return loadBatched(ctx, conn, "customers", customersCols, customersExprs, o.rows, txn)
			}})
	}
	panic("unknown scenario " + name)
}

func (e *env) runScenario(ctx context.Context, sc *scenario) (sr *ScenarioReport, err error) {
	sr = &ScenarioReport{Name: sc.name, Description: sc.desc, Table: sc.tableDesc, Rows: sc.rows, SourceTxns: sc.txns}
	sr.Mode = "capture-only: `syncline broker` + `syncline run --role capture` (separate processes)"
	if sc.allInOne {
		sr.Mode = "all-in-one: `syncline run` with the embedded broker and registry, warehouse sink"
	}
	dir := filepath.Join(e.work, sc.name)
	// A fresh broker and state: a -work directory may hold an earlier run's.
	if err := os.RemoveAll(dir); err != nil {
		return sr, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sr, err
	}
	db := "bench_" + sc.name
	slot, limitSlot := "syncline_"+sc.name, "bench_limit_"+sc.name
	publication := "syncline_" + sourceName // syncline's default
	dbs := []string{db}
	if sc.allInOne {
		dbs = append(dbs, db+"_wh")
	}
	for _, d := range dbs {
		if _, err := e.admin.Exec(ctx, "CREATE DATABASE "+d); err != nil {
			return sr, fmt.Errorf("create database %s: %w", d, err)
		}
	}
	// Processes are stopped (deferred later, so run earlier) before the
	// databases and slots are dropped.
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, derr := e.admin.Exec(cctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ($1, $2)", slot, limitSlot); derr != nil {
			logf("warning: drop slots: %v", derr)
		}
		for _, d := range dbs {
			if _, derr := e.admin.Exec(cctx, "DROP DATABASE IF EXISTS "+d+" WITH (FORCE)"); derr != nil {
				logf("warning: drop database %s: %v", d, derr)
			}
		}
		if !e.o.keep && err == nil {
			os.RemoveAll(filepath.Join(dir, "kafka"))
			os.RemoveAll(filepath.Join(dir, "state"))
		}
	}()
	dsn := e.srv.DSN(db)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return sr, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sc.ddl); err != nil {
		return sr, err
	}
	if sc.prepare != nil {
		if err := sc.prepare(ctx, conn); err != nil {
			return sr, err
		}
	}

	// The broker (capture-only) and the config.
	var broker *proc
	var brokerAddr string
	ports, err := crashtest.FreePorts(3)
	if err != nil {
		return sr, err
	}
	httpURL := fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	var cfg string
	if sc.allInOne {
		cfg = allInOneConfig(dir, ports, dsn, e.srv.DSN(db+"_wh"), sc.table, slot, e.o.batchMax)
	} else {
		brokerAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
		logf("starting syncline broker on %s (registry 127.0.0.1:%d)", brokerAddr, ports[1])
		broker, err = startProc("syncline broker", e.syncBin, []string{"broker",
			"--data-dir", filepath.Join(dir, "kafka"), "--listen", brokerAddr,
			"--registry-listen", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--partitions", strconv.Itoa(partitions)},
			dir, filepath.Join(dir, "broker.log"))
		if err != nil {
			return sr, err
		}
		defer broker.stop()
		if _, err := broker.waitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/subjects", ports[1]), time.Minute); err != nil {
			return sr, err
		}
		cfg = captureConfig(dir, ports, dsn, sc.table, slot, e.o.batchMax)
	}
	cfgPath := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return sr, err
	}
	runArgs := []string{"run", "--config", cfgPath}
	if !sc.allInOne {
		runArgs = append(runArgs, "--role", "capture")
	}

	// syncline creates its publication and slot (snapshot: never), then
	// stops; a second slot for pg_recvlogical.
	logf("starting syncline once to create its publication and slot (snapshot: never)")
	setup, err := startProc("syncline", e.syncBin, runArgs, dir, filepath.Join(dir, "syncline-setup.log"))
	if err != nil {
		return sr, err
	}
	defer setup.stop()
	if _, err := setup.waitHTTP(ctx, httpURL+"/readyz", 2*time.Minute); err != nil {
		return sr, err
	}
	var slotOK, pubOK bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1),
		EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $2 AND tablename = $3)`, slot, publication, sc.table).Scan(&slotOK, &pubOK); err != nil {
		return sr, err
	}
	if !slotOK || !pubOK {
		return sr, fmt.Errorf("syncline is ready but slot %s exists=%v, publication %s has %s=%v", slot, slotOK, publication, sc.table, pubOK)
	}
	if err := setup.stop(); err != nil {
		return sr, fmt.Errorf("stopping syncline after setup: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", limitSlot); err != nil {
		return sr, fmt.Errorf("create slot %s: %w", limitSlot, err)
	}

	if sc.backfill {
		if err := backfillLimit(ctx, conn, sc, sr); err != nil {
			return sr, err
		}
	} else if err := e.walWorkload(ctx, conn, sc, sr, db, dsn, dir, limitSlot, publication); err != nil {
		return sr, err
	}

	// syncline catches up from its slot.
	var extraEnv []string
	if slices.Contains(strings.Split(strings.ReplaceAll(e.o.cpuProfile, " ", ""), ","), sc.name) {
		sr.Capture.CPUProfile = filepath.Join(e.outDir, "cpu-"+sc.name+"-"+e.stamp+".pprof")
		extraEnv = append(extraEnv, "SYNCLINE_CPUPROFILE="+sr.Capture.CPUProfile)
	}
	logf("starting syncline: catch-up of %d changes", sc.rows)
	sl, err := startProc("syncline", e.syncBin, runArgs, dir, filepath.Join(dir, "syncline-run.log"), extraEnv...)
	if err != nil {
		return sr, err
	}
	defer sl.stop()
	if sc.backfill {
		if _, err := sl.waitHTTP(ctx, httpURL+"/readyz", 2*time.Minute); err != nil {
			return sr, err
		}
		sig := fmt.Sprintf(`{"id": "bench", "type": "backfill", "tables": ["public.%s"], "chunk_size": %d}`, sc.table, e.o.chunkSize)
		if _, err := conn.Exec(ctx, "SELECT pg_logical_emit_message(true, 'syncline.signal', $1)", sig); err != nil {
			return sr, fmt.Errorf("backfill signal: %w", err)
		}
		// Timed from the signal, not from the process start.
		sl.started = time.Now()
		logf("backfill signal sent: %s", sig)
	}
	var wh *pgx.Conn
	if sc.allInOne {
		if wh, err = pgx.Connect(ctx, e.srv.DSN(db+"_wh")); err != nil {
			return sr, err
		}
		defer wh.Close(context.Background())
	}
	if err := measure(ctx, e.o, sc, sl, broker, httpURL, wh, sr); err != nil {
		return sr, err
	}
	if brokerAddr != "" {
		n, err := stableOffsetsSum(ctx, brokerAddr, rawTopic(sc.table))
		if err != nil {
			logf("warning: raw topic offsets: %v", err)
		} else if sr.Capture.RawStableOffsets = n; n < int64(sc.rows) {
			return sr, fmt.Errorf("raw topic %s: last stable offsets sum to %d < %d rows", rawTopic(sc.table), n, sc.rows)
		}
	}
	if err := sl.stop(); err != nil {
		logf("warning: syncline did not stop cleanly: %v", err)
	}
	if sr.Capture.CPUProfile != "" {
		pprofTop(e.syncBin, sr.Capture.CPUProfile)
	}
	if err := broker.stop(); err != nil {
		logf("warning: broker did not stop cleanly: %v", err)
	}
	return sr, nil
}

// backfillLimit measures the backfill scenario's limit: the whole table
// read by COPY (SELECT ...) TO STDOUT, discarded.
func backfillLimit(ctx context.Context, conn *pgx.Conn, sc *scenario, sr *ScenarioReport) error {
	var bytes int64
	if err := conn.QueryRow(ctx, "SELECT pg_total_relation_size($1)", sc.table).Scan(&bytes); err != nil {
		return err
	}
	sr.Load.What, sr.Load.WALBytes = sc.loadWhat, 0
	copySQL := fmt.Sprintf("COPY (SELECT %s FROM %s ORDER BY id) TO STDOUT", customersCols, sc.table)
	logf("limit: %s (table %.1f MiB)", copySQL, float64(bytes)/(1<<20))
	t0 := time.Now()
	tag, err := conn.PgConn().CopyTo(ctx, io.Discard, copySQL)
	if err != nil {
		return fmt.Errorf("%s: %w", copySQL, err)
	}
	d := time.Since(t0)
	if tag.RowsAffected() != int64(sc.rows) {
		return fmt.Errorf("%s copied %d rows, want %d", copySQL, tag.RowsAffected(), sc.rows)
	}
	sr.Limit.Tool = copySQL + " (to io.Discard)"
	sr.Limit.Seconds = d.Seconds()
	sr.Limit.RowsPerSec = float64(sc.rows) / d.Seconds()
	sr.Limit.LoadAvg = loadAvg()
	logf("COPY: %.2fs (%.0f rows/s)", d.Seconds(), sr.Limit.RowsPerSec)
	return nil
}

// walWorkload writes the scenario's workload while nothing reads the
// slots, and measures the limit: pg_recvlogical decoding the same WAL.
func (e *env) walWorkload(ctx context.Context, conn *pgx.Conn, sc *scenario, sr *ScenarioReport, db, dsn, dir, limitSlot, publication string) error {
	var startLSN string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&startLSN); err != nil {
		return err
	}
	logf("workload: %s (%s)", sc.desc, sc.loadWhat)
	t0 := time.Now()
	if err := sc.load(ctx, conn, dsn); err != nil {
		return err
	}
	loadDur := time.Since(t0)
	// The end of the last commit record: pg_recvlogical stops there.
	var endLSN string
	var walBytes int64
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::bigint", startLSN).Scan(&endLSN, &walBytes); err != nil {
		return err
	}
	// A non-transactional message (ignored by pgoutput without messages=true)
	// guarantees WAL beyond endLSN, so pg_recvlogical's --endpos is reached
	// even if endLSN falls on a page boundary.
	if _, err := conn.Exec(ctx, "SELECT pg_logical_emit_message(false, 'cdcbench', 'end of load')"); err != nil {
		return err
	}
	var got int64
	if err := conn.QueryRow(ctx, sc.verify).Scan(&got); err != nil {
		return err
	}
	if got != int64(sc.rows) {
		return fmt.Errorf("%s = %d after the workload, want %d", sc.verify, got, sc.rows)
	}
	sr.Load.What = sc.loadWhat
	sr.Load.Seconds = loadDur.Seconds()
	sr.Load.RowsPerSec = float64(sc.rows) / loadDur.Seconds()
	sr.Load.WALBytes, sr.Load.StartLSN, sr.Load.EndLSN = walBytes, startLSN, endLSN
	logf("workload: %.2fs (%.0f rows/s), %.1f MiB of WAL (%s .. %s)", loadDur.Seconds(), sr.Load.RowsPerSec, float64(walBytes)/(1<<20), startLSN, endLSN)

	// The physical limit: pg_recvlogical decoding the same WAL.
	limit, err := runRecvLogical(ctx, e.srv.BinDir(), e.srv.Port(), testenv.PGSuperuser, db, limitSlot, publication, endLSN, filepath.Join(dir, "pg_recvlogical.log"))
	if err != nil {
		return err
	}
	var limitDone bool
	if err := conn.QueryRow(ctx, "SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1", limitSlot, endLSN).Scan(&limitDone); err != nil {
		return err
	}
	if !limitDone {
		return fmt.Errorf("pg_recvlogical exited but slot %s has not confirmed %s", limitSlot, endLSN)
	}
	sr.Limit.Tool = "pg_recvlogical --plugin pgoutput proto_version=1 -f /dev/null"
	sr.Limit.Seconds = limit.Seconds()
	sr.Limit.RowsPerSec = float64(sc.rows) / limit.Seconds()
	sr.Limit.WALMBPerS = float64(walBytes) / (1 << 20) / limit.Seconds()
	sr.Limit.LoadAvg = loadAvg()
	logf("pg_recvlogical: %.2fs (%.0f rows/s)", limit.Seconds(), sr.Limit.RowsPerSec)

	return nil
}

// measure polls syncline's metrics until capture (and, for all-in-one, the
// warehouse) has every row, sampling its RSS on the way.
func measure(ctx context.Context, o options, sc *scenario, sl, broker *proc, httpURL string, wh *pgx.Conn, sr *ScenarioReport) error {
	n := float64(sc.rows)
	start := sl.started
	var brokerCPU0 float64
	if broker != nil {
		brokerCPU0, _ = cpuSeconds(broker.pid())
	}
	var firstEvent, captured, sinkMetric, e2e, ready time.Duration
	var events, writes float64
	client := newHTTPClient()
	lastCount := time.Time{}
	lastLog := time.Now()
	nextDecile := 1
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
			if ok, _ := httpOK(client, httpURL+"/readyz"); ok {
				ready = now
			}
		}
		m, err := scrape(client, httpURL+"/metrics")
		if err != nil {
			continue // not serving yet
		}
		events = m.sum("syncline_source_events_total", `source="`+sourceName+`"`)
		writes = m.sum("syncline_sink_writes_total", `sink="`+sinkName+`"`, `result="ok"`)
		if firstEvent == 0 && events > 0 {
			firstEvent = now
		}
		if nextDecile <= 10 && events >= n*float64(nextDecile)/10 {
			if rss, err := procStatusKiB(sl.pid(), "VmRSS"); err == nil {
				sr.Capture.RSSByProgress = append(sr.Capture.RSSByProgress, RSSSample{Seconds: now.Seconds(), Events: int64(events), RSSMiB: mib(rss)})
			}
			for nextDecile <= 10 && events >= n*float64(nextDecile)/10 {
				nextDecile++
			}
		}
		if captured == 0 && events >= n {
			if cpu, err := cpuSeconds(sl.pid()); err == nil {
				sr.Capture.CPUSeconds = cpu
				sr.Capture.CPUMicrosPerRow = cpu / n * 1e6
			}
			sr.Capture.LoadAvgAtEnd = loadAvg()
			captured = now
			sr.Capture.Events = events
			logf("capture: %d events committed to Kafka after %.2fs", int64(events), now.Seconds())
		}
		if wh != nil {
			if sinkMetric == 0 && writes >= n {
				sinkMetric = now
			}
			// count(*) is the authority for end-to-end; run it once the
			// sink's metric says all rows are written, and every 2s.
			if e2e == 0 && (writes >= n || time.Since(lastCount) > 2*time.Second) {
				lastCount = time.Now()
				var cnt int64
				err := wh.QueryRow(ctx, "SELECT count(*) FROM analytics."+sc.table).Scan(&cnt)
				if err == nil && cnt >= int64(sc.rows) {
					e2e = time.Since(start)
					sr.EndToEnd = &EndToEndReport{WarehouseRows: cnt}
					logf("end-to-end: %d rows in analytics.%s after %.2fs", cnt, sc.table, e2e.Seconds())
				}
			}
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			rss, _ := procStatusKiB(sl.pid(), "VmRSS")
			logf("  t=%.0fs captured=%d sink_writes=%d syncline RSS %.0f MiB", now.Seconds(), int64(events), int64(writes), mib(rss))
		}
		if captured > 0 && (wh == nil || e2e > 0) {
			break
		}
	}
	limit := sr.Limit.RowsPerSec
	c := &sr.Capture
	c.MeasuredFrom = "syncline process start (the slot already holds the whole workload)"
	c.MeasuredUntil = "syncline_source_events_total{source=app} >= rows (committed to Kafka)"
	c.Seconds = captured.Seconds()
	c.RowsPerSec = n / captured.Seconds()
	c.RatioToLimit = c.RowsPerSec / limit
	c.FirstEventSeconds = firstEvent.Seconds()
	if d := (captured - firstEvent).Seconds(); d > 0 && sc.rows > 1 {
		c.RowsPerSecFromFirst = n / d
		c.RatioFromFirstToLimit = c.RowsPerSecFromFirst / limit
	}
	c.ReadySeconds = ready.Seconds()
	if rss, err := procStatusKiB(sl.pid(), "VmHWM"); err != nil {
		logf("warning: syncline peak RSS: %v", err)
	} else {
		c.PeakRSSMiB = mib(rss)
	}
	if broker != nil {
		sr.Broker = &brokerReport{}
		if cpu, err := cpuSeconds(broker.pid()); err == nil {
			sr.Broker.CPUSeconds = cpu - brokerCPU0
		}
		if rss, err := procStatusKiB(broker.pid(), "VmHWM"); err != nil {
			logf("warning: broker peak RSS: %v", err)
		} else {
			sr.Broker.PeakRSSMiB = mib(rss)
		}
	}
	if wh != nil {
		t := sr.EndToEnd
		t.MeasuredUntil = "SELECT count(*) FROM analytics." + sc.table + " = rows (warehouse)"
		t.Seconds = e2e.Seconds()
		t.RowsPerSec = n / e2e.Seconds()
		t.RatioToLimit = t.RowsPerSec / limit
		t.SinkMetricSec = sinkMetric.Seconds()
	}
	logf("capture %.2fs (%.0f rows/s, %.2f x pg_recvlogical), %.1f CPU-s in syncline (%.1f us/row), peak RSS %.0f MiB; load average %.1f",
		c.Seconds, c.RowsPerSec, c.RatioToLimit, c.CPUSeconds, c.CPUMicrosPerRow, c.PeakRSSMiB, c.LoadAvgAtEnd)
	return nil
}

// pprofTop writes `go tool pprof -top` of the profile next to it and prints
// its head.
func pprofTop(bin, profile string) {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=60", bin, profile).CombinedOutput()
	if err != nil {
		logf("warning: go tool pprof: %v\n%s", err, out)
		return
	}
	txt := strings.TrimSuffix(profile, ".pprof") + "-top.txt"
	_ = os.WriteFile(txt, out, 0o644)
	lines := strings.Split(string(out), "\n")
	logf("CPU profile %s; pprof -top in %s:\n%s", profile, txt, strings.Join(lines[:min(len(lines), 30)], "\n"))
	cum, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=60", bin, profile).CombinedOutput()
	if err == nil {
		_ = os.WriteFile(strings.TrimSuffix(profile, ".pprof")+"-top-cum.txt", cum, 0o644)
	}
}

func printReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "\n==== syncline bench %s: %d CPUs, Postgres %s, %s, batch_max_records %d ====\n",
		r.Timestamp, r.Environment.CPUs, r.Environment.Postgres, r.Environment.GitRev, r.Settings.BatchMaxRecords)
	const row = "%-8s %9s %8s %8s | %8s %9s | %8s %9s | %7s %7s | %9s %9s\n"
	fmt.Fprintf(w, "%-8s %9s %8s %8s | %18s | %18s | %15s | %19s\n", "", "", "source", "WAL", "pg_recvlogical", "syncline capture", "ratio to limit", "peak RSS (VmHWM)")
	fmt.Fprintf(w, row, "scenario", "rows", "txns", "MiB", "s", "rows/s", "s", "rows/s", "start", "1st ev", "capture", "broker")
	for _, s := range r.Scenarios {
		if s.Error != "" {
			fmt.Fprintf(w, "%-8s %9d %8d FAILED: %s\n", s.Name, s.Rows, s.SourceTxns, firstLine(s.Error))
			continue
		}
		c := s.Capture
		first := "n/a"
		if c.RatioFromFirstToLimit > 0 {
			first = fmt.Sprintf("%.2f", c.RatioFromFirstToLimit)
		}
		brokerRSS := "(in proc)"
		if s.Broker != nil {
			brokerRSS = fmt.Sprintf("%.0f MiB", s.Broker.PeakRSSMiB)
		}
		fmt.Fprintf(w, row, s.Name, strconv.Itoa(s.Rows), strconv.Itoa(s.SourceTxns), fmt.Sprintf("%.1f", float64(s.Load.WALBytes)/(1<<20)),
			fmt.Sprintf("%.2f", s.Limit.Seconds), fmt.Sprintf("%.0f", s.Limit.RowsPerSec),
			fmt.Sprintf("%.2f", c.Seconds), fmt.Sprintf("%.0f", c.RowsPerSec), fmt.Sprintf("%.2f", c.RatioToLimit), first,
			fmt.Sprintf("%.0f MiB", c.PeakRSSMiB), brokerRSS)
		if len(c.RSSByProgress) > 0 {
			var b strings.Builder
			for _, x := range c.RSSByProgress {
				fmt.Fprintf(&b, " %.0f", x.RSSMiB)
			}
			fmt.Fprintf(w, "%-8s %9s %8s %8s   syncline RSS (MiB) at 10%%..100%% of the events:%s\n", "", "", "", "", b.String())
		}
		if c.CPUSeconds > 0 {
			extra := ""
			if s.Broker != nil {
				extra = fmt.Sprintf(", broker %.1f CPU-s", s.Broker.CPUSeconds)
			}
			fmt.Fprintf(w, "%-8s %9s %8s %8s   syncline %.1f CPU-s (%.1f us/row, %.0f%% of a core)%s; load average %.1f / %.1f at the end of pg_recvlogical / capture\n",
				"", "", "", "", c.CPUSeconds, c.CPUMicrosPerRow, 100*c.CPUSeconds/c.Seconds, extra, s.Limit.LoadAvg, c.LoadAvgAtEnd)
		}
		if s.EndToEnd != nil {
			fmt.Fprintf(w, "%-8s %9s %8s %8s   end-to-end -> warehouse: %.2fs, %.0f rows/s, %.2f x limit (peak RSS includes the embedded broker)\n",
				"", "", "", "", s.EndToEnd.Seconds, s.EndToEnd.RowsPerSec, s.EndToEnd.RatioToLimit)
		}
	}
	fmt.Fprintln(w, "Both are timed from process start to the last change: pg_recvlogical to /dev/null, syncline to committed in Kafka.")
	fmt.Fprintln(w, "\"ratio to limit\": syncline rows/s / pg_recvlogical rows/s, syncline timed from its process start or from its first committed event (excludes startup).")
	fmt.Fprintln(w, "capture-only scenarios run `syncline run --role capture` against a separate `syncline broker`.")
	fmt.Fprintln(w, "backfill: the limit column is COPY (SELECT ...) TO STDOUT of the table, and syncline is timed from the backfill signal.")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

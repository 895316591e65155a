// Command syncline is the one binary: it runs the pipeline, the embedded
// broker, and the operator commands. Wiring only: flags → config → run.
//
// The CLI uses cobra: subcommands with their own flags and generated --help
// are what users of kubectl-style tools expect, and it is the de-facto
// standard for Go CLIs.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"syncline/internal/config"
	"syncline/internal/embedded"
	"syncline/internal/pipeline"
)

var version = "dev"

// interrupted is cancelled by the first SIGINT or SIGTERM. main sets it
// up before anything else, so a signal that arrives while the process is
// still starting ends it cleanly too (the default action would kill it).
var interrupted = context.Background()

func main() {
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	interrupted = ctx
	stopProfile := startCPUProfile()
	err := rootCmd().Execute()
	stopProfile()
	stopSignals()
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "syncline:", msg)
		}
		os.Exit(exitCode(err))
	}
}

// startCPUProfile writes a Go CPU profile to $SYNCLINE_CPUPROFILE, when set,
// until the command returns (SIGINT/SIGTERM end `run` gracefully). Opt-in,
// for the bench harness (bench/cdcbench -cpuprofile).
func startCPUProfile() (stop func()) {
	path := os.Getenv("SYNCLINE_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "syncline: SYNCLINE_CPUPROFILE:", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "syncline",
		Short:         "Change data capture from Postgres and SaaS APIs into Kafka, transforms, and sinks, exactly once",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(runCmd(), brokerCmd(), validateCmd(), resnapshotCmd(), backfillCmd(), statusCmd(), dlqCmd(), auditCmd(), diffCmd(), reviewCmd(), historyCmd())
	return root
}

func newLogger(level slog.Level, format config.LogFormat) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == config.LogJSON || (format != config.LogText && !term.IsTerminal(int(os.Stderr.Fd()))) {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func signalContext() (context.Context, context.CancelFunc) {
	return context.WithCancel(interrupted)
}

func runCmd() *cobra.Command {
	var path, role, instance string
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the pipeline described by a config file",
		Long: `Run the pipeline described by --config.

With no kafka.brokers configured, run starts an embedded Kafka-protocol broker
(persisted under data_dir) and an embedded schema registry: one process, nothing
else to install. With brokers configured, --role selects which components this
process runs, so each role can scale out to as many processes as the topics
have partitions.

SIGINT or SIGTERM stops gracefully: transactions in progress are completed or
aborted, so nothing is lost or repeated.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			r, err := pipeline.ParseRole(role)
			if err != nil {
				return err
			}
			if r != pipeline.RoleAll && cfg.Kafka.Embedded() {
				return fmt.Errorf("--role %s needs kafka.brokers: separate roles share topics through a broker (start one with `syncline broker`)", role)
			}
			log := newLogger(cfg.Log.SlogLevel(), cfg.Log.Format)
			ctx, stop := signalContext()
			defer stop()
			return pipeline.Run(ctx, cfg, pipeline.Options{Role: r, InstanceID: instance, Logger: log})
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "pipeline.yaml", "path of the pipeline config file")
	c.Flags().StringVar(&role, "role", "all", "components to run: all, capture, transform or sink")
	c.Flags().StringVar(&instance, "instance-id", "", "stable id of this process within its role (default: the host name; \"0\" for a single embedded process); give each process of a role on one host its own")
	return c
}

func resnapshotCmd() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "resnapshot SOURCE",
		Short: "Make a source take a new snapshot on its next run (recovery from a lost slot)",
		Long: `Drop the replication slot of SOURCE and forget its stored position, so the next
'syncline run' creates a new slot and snapshots the source's tables again.

This is the recovery when the slot was lost (invalidated by
max_slot_wal_keep_size, or dropped). Stop the process capturing SOURCE first;
resnapshot refuses while the slot is in use. Rows the pipeline already holds
come again as snapshot reads, and the changes stage drops those that did not
change, so sinks receive only the differences.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			return pipeline.Resnapshot(ctx, cfg, args[0], newLogger(cfg.Log.SlogLevel(), cfg.Log.Format))
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "pipeline.yaml", "path of the pipeline config file")
	return c
}

func validateCmd() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "validate",
		Short: "Check a config file and print every problem found",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := config.Load(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", path)
			return nil
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "pipeline.yaml", "path of the pipeline config file")
	return c
}

func brokerCmd() *cobra.Command {
	var dataDir, listen, registryListen string
	var partitions int32
	var syncWrites bool
	c := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker and schema registry alone",
		Long: `Run the embedded broker (franz-go's kfake, persisted under --data-dir) and the
embedded schema registry, for local multi-process use: point kafka.brokers and
registry.url of several 'syncline run --role ...' processes at it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(slog.LevelInfo, config.LogAuto)
			ctx, stop := signalContext()
			defer stop()
			return embedded.RunStandalone(ctx, embedded.BrokerConfig{
				DataDir: filepath.Clean(dataDir), Listen: listen, Partitions: partitions, SyncWrites: syncWrites, Logger: log,
			}, registryListen, log)
		},
	}
	c.Flags().StringVar(&dataDir, "data-dir", "./.syncline/kafka", "where topics, offsets and transactions persist")
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:9092", "broker address")
	c.Flags().StringVar(&registryListen, "registry-listen", "127.0.0.1:8081", "schema registry address (empty: none)")
	c.Flags().Int32Var(&partitions, "partitions", 4, "default partitions of auto-created topics")
	c.Flags().BoolVar(&syncWrites, "sync-writes", false, "fsync every produce")
	return c
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"syncline/capture/postgres"
	"syncline/internal/admin"
	"syncline/internal/config"
	"syncline/internal/pipeline"
)

func backfillCmd() *cobra.Command {
	var path, where, id string
	var chunk int
	var pause, resume, cancel bool
	c := &cobra.Command{
		Use:   "backfill SOURCE [TABLE...]",
		Short: "Start, pause, resume or cancel a backfill of a source's tables",
		Long: `Re-read tables of SOURCE (all of its tables when none are named) and write
their rows as op=r records, while streaming goes on: the table is read in
primary-key chunks between watermarks in the WAL (Netflix's DBLog), without
locks or a long transaction. Rows identical to what the pipeline already holds
produce no change record and no sink write, so a backfill of a table in sync
writes nothing. Progress commits with the rows: a killed backfill resumes.

The command writes a signal to the source database (a logical decoding
message; it needs a connection to the source, nothing else), which the
running capture applies in stream order. An operator with only database
access can do the same in SQL:

  SELECT pg_logical_emit_message(true, 'syncline.signal',
    '{"type": "backfill", "tables": ["public.customers"], "chunk_size": 1000}');

--pause, --resume and --cancel steer backfills of the named tables (or the
one with --id, or all). 'syncline status' shows progress.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			sg := postgres.Signal{ID: id, Type: "backfill", Tables: args[1:], Where: where, ChunkSize: chunk}
			n := 0
			for _, f := range []struct {
				on   bool
				kind string
			}{{pause, "pause"}, {resume, "resume"}, {cancel, "cancel"}} {
				if f.on {
					sg.Type = f.kind
					n++
				}
			}
			if n > 1 {
				return fmt.Errorf("use one of --pause, --resume and --cancel")
			}
			ctx, stop := signalContext()
			defer stop()
			sent, err := pipeline.SendSignal(ctx, cfg, args[0], sg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s signal %s written to source %s; follow it with: syncline status --config %s\n", sg.Type, sent.ID, args[0], path)
			return nil
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "pipeline.yaml", "path of the pipeline config file")
	c.Flags().StringVar(&where, "where", "", "SQL condition limiting the rows read (e.g. \"updated_at > now() - interval '1 day'\")")
	c.Flags().IntVar(&chunk, "chunk-size", postgres.DefaultChunkSize, "rows per chunk")
	c.Flags().StringVar(&id, "id", "", "id of the backfill (default: generated); with --pause/--resume/--cancel, the backfill to steer")
	c.Flags().BoolVar(&pause, "pause", false, "pause backfills")
	c.Flags().BoolVar(&resume, "resume", false, "resume paused backfills")
	c.Flags().BoolVar(&cancel, "cancel", false, "cancel backfills")
	return c
}

func statusCmd() *cobra.Command {
	var path, addr string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the components of a running pipeline and the progress of backfills",
		Long: `Ask a running syncline process (its http.listen address, or --addr) for the
state of its components: which are ready, each backfill with a progress
bar, rows read, rows per second and the time left, and over the last few
seconds each source's events per second and slot lag, each stage's
consumer lag, and each sink's writes per second, errors, success rate and
p95 end-to-end latency.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := newAPIClient(path, addr)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			body, err := ac.do(ctx, http.MethodGet, "/api/v1/status", nil)
			if err != nil {
				return err
			}
			if asJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			st, err := pipeline.ReadStatus(bytes.NewReader(body))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for i, c := range st.Components {
				state := "ready"
				if !c.Ready {
					state = "NOT READY"
					if c.NotReady != "" {
						state += " (" + c.NotReady + ")"
					}
				}
				fmt.Fprintf(out, "%-40s %s\n", c.Name, state)
				ss, ok := st.SourceStatus(i)
				if !ok {
					continue
				}
				for _, bf := range ss.Backfills {
					fmt.Fprintf(out, "  backfill %s\n    %s\n", bf.ID, backfillLine(bf, time.Now()))
				}
			}
			if st.Stats != nil {
				printStats(out, st.Stats)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "pipeline.yaml", "path of the pipeline config file")
	c.Flags().StringVar(&addr, "addr", "", "address of the process to ask (default: http.listen of the config)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON")
	return c
}

// backfillLine renders a backfill's progress: a bar against the table's
// row estimate, rows, rate and time left.
func backfillLine(bf postgres.Backfill, now time.Time) string {
	end := bf.UpdatedAt
	if bf.State == postgres.BackfillRunning {
		end = now
	}
	secs := end.Sub(bf.StartedAt).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(bf.Rows) / secs
	}
	frac := 1.0
	if bf.State != postgres.BackfillDone {
		frac = 0
		if bf.Estimate > 0 {
			frac = math.Min(float64(bf.Rows)/float64(bf.Estimate), 0.99)
		}
	}
	const width = 30
	n := int(frac * width)
	bar := "[" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + "]"
	line := fmt.Sprintf("%s %3.0f%% %-9s %s %d rows (%d written) %.0f rows/s", bar, frac*100, bf.State, bf.Table, bf.Rows, bf.Emitted, rate)
	if bf.State == postgres.BackfillRunning && rate > 0 && bf.Estimate > bf.Rows {
		line += " ETA " + (time.Duration(float64(bf.Estimate-bf.Rows)/rate) * time.Second).Round(time.Second).String()
	}
	if bf.Error != "" {
		line += " error: " + bf.Error
	}
	return line
}

// printStats renders the newest sampling interval of /api/v1/status.
func printStats(out io.Writer, p *admin.Point) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(p.Sources) > 0 {
		fmt.Fprintln(out, "\nsources")
		fmt.Fprintln(tw, "\tsource\tevents/s\tevents\tslot lag\t")
		for _, k := range slices.Sorted(maps.Keys(p.Sources)) {
			s := p.Sources[k]
			fmt.Fprintf(tw, "\t%s\t%.1f\t%.0f\t%s\t\n", k, s.EventsPerSec, s.Events, humanBytes(s.LagBytes))
		}
		tw.Flush()
	}
	if len(p.Stages) > 0 {
		fmt.Fprintln(out, "\nstages")
		fmt.Fprintln(tw, "\tstage\tlag (records)\t")
		for _, k := range slices.Sorted(maps.Keys(p.Stages)) {
			fmt.Fprintf(tw, "\t%s\t%.0f\t\n", k, p.Stages[k].LagRecords)
		}
		tw.Flush()
	}
	if len(p.Sinks) > 0 {
		fmt.Fprintln(out, "\nsinks")
		fmt.Fprintln(tw, "\tsink\twrites/s\twrites\terrors\tsuccess\tp95 latency\t")
		for _, k := range slices.Sorted(maps.Keys(p.Sinks)) {
			s := p.Sinks[k]
			lat := "-"
			if s.LatencyP95 >= 0 {
				lat = fmt.Sprintf("%.3fs", s.LatencyP95)
			}
			fmt.Fprintf(tw, "\t%s\t%.1f\t%.0f\t%.0f\t%.2f%%\t%s\t\n", k, s.WritesPerSec, s.Writes, s.Errors, 100*s.SuccessRate, lat)
		}
		tw.Flush()
	}
	fmt.Fprintf(out, "\nDLQ: %.0f records parked since the process started\n", p.DLQTotal)
}

func humanBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"syncline/capture/postgres"
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
			var src *config.Source
			for i := range cfg.Sources {
				if cfg.Sources[i].Name == args[0] {
					src = &cfg.Sources[i]
				}
			}
			if src == nil {
				return fmt.Errorf("no source %q in %s", args[0], path)
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
			if sg.Type == "backfill" {
				for _, t := range sg.Tables {
					tn, err := config.ParseTableName(t)
					if err != nil || !contains(src.QualifiedTables(), tn) {
						return fmt.Errorf("source %s does not capture table %q (its tables: %s)", src.Name, t, strings.Join(src.Tables, ", "))
					}
				}
			}
			for i, t := range sg.Tables {
				if tn, err := config.ParseTableName(t); err == nil {
					sg.Tables[i] = tn.Schema + "." + tn.Name
				}
			}
			ctx, stop := signalContext()
			defer stop()
			sent, err := postgres.SendSignal(ctx, src.DSN.Value(), sg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s signal %s written to source %s; follow it with: syncline status --config %s\n", sg.Type, sent.ID, src.Name, path)
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

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func statusCmd() *cobra.Command {
	var path, addr string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the components of a running pipeline and the progress of backfills",
		Long: `Ask a running syncline process (its http.listen address, or --addr) for the
state of its components: which are ready, and each backfill with a progress
bar, rows read, rows per second and the time left.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			if addr == "" {
				addr = cfg.HTTP.Listen
			}
			if addr == "" {
				return fmt.Errorf("http.listen is disabled in %s; pass --addr of a running process", path)
			}
			if !strings.Contains(addr, "://") {
				addr = "http://" + addr
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(addr, "/")+"/api/v1/status", nil)
			if err != nil {
				return err
			}
			if tok := cfg.HTTP.Token.Value(); tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("is syncline running? %w", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
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

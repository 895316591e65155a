package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"syncline/internal/dlq"
)

func dlqCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "dlq",
		Short: "List and replay records parked in the dead-letter topic",
		Long: `Records a stage could not process (undecodable, rejected by a sink, a value
capture cannot represent) are parked in the dead-letter topic with the
reason; nothing is dropped. These commands ask a running syncline process
(http.listen of the config, or --addr) through its admin API.`,
	}
	c.AddCommand(dlqListCmd(), dlqReplayCmd())
	return c
}

func dlqListCmd() *cobra.Command {
	var path, addr, stage, reason string
	var limit int
	var replayed, asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List parked records, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := newAPIClient(path, addr)
			if err != nil {
				return err
			}
			q := url.Values{}
			if stage != "" {
				q.Set("stage", stage)
			}
			if reason != "" {
				q.Set("reason", reason)
			}
			if replayed {
				q.Set("replayed", "1")
			}
			q.Set("limit", strconv.Itoa(limit))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			body, err := ac.do(ctx, http.MethodGet, "/api/v1/dlq?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			if asJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var res struct {
				Entries []dlq.Entry `json:"entries"`
			}
			if err := json.Unmarshal(body, &res); err != nil {
				return fmt.Errorf("unexpected answer: %w", err)
			}
			out := cmd.OutOrStdout()
			if len(res.Entries) == 0 {
				fmt.Fprintln(out, "nothing parked")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tPARKED\tSTAGE\tREASON\tFROM\tSTATE\tERROR")
			for _, e := range res.Entries {
				from := e.Topic
				if e.Partition != nil {
					from += "/" + strconv.Itoa(int(*e.Partition))
				}
				if e.Offset0 != nil {
					from += "@" + strconv.FormatInt(*e.Offset0, 10)
				}
				state := "parked"
				switch {
				case e.Replayed != nil:
					state = "replayed " + e.Replayed.At.Local().Format(time.DateTime)
				case !e.Replayable:
					state = "not replayable"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Offset, e.Time.Local().Format(time.DateTime), e.Stage, e.Reason, from, state, oneLine(e.Error, 160))
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "pipeline.yaml", "path of the pipeline config file")
	c.Flags().StringVar(&addr, "addr", "", "address of the process to ask (default: http.listen of the config)")
	c.Flags().StringVar(&stage, "stage", "", "only records parked by this stage (capture, changes, sink)")
	c.Flags().StringVar(&reason, "reason", "", "only records parked for this reason (decode, rejected, ...)")
	c.Flags().IntVar(&limit, "limit", 100, "at most this many (the newest)")
	c.Flags().BoolVar(&replayed, "replayed", false, "include records replayed already")
	c.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON")
	return c
}

func dlqReplayCmd() *cobra.Command {
	var path, addr string
	var all, force bool
	c := &cobra.Command{
		Use:   "replay [OFFSET...]",
		Short: "Re-deliver parked records to the topic they came from",
		Long: `Re-deliver parked records (by their # in 'syncline dlq list', or --all) to the
partition of the topic they came from, with their key, value and headers,
so the stage that parked them processes them again once the cause is
fixed (a widened warehouse column, a granted privilege). Each replay is
recorded in the same Kafka transaction as the record, so an entry is not
replayed twice unless --force. A record that fails again is parked again.
Records parked by capture hold the row's values as text, not a record:
re-read those rows with 'syncline backfill ... --where'.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return fmt.Errorf("name the entries to replay (their # in 'syncline dlq list') or pass --all")
			}
			var offs []int64
			for _, a := range args {
				o, err := strconv.ParseInt(a, 10, 64)
				if err != nil || o < 0 {
					return fmt.Errorf("%q is not an entry number", a)
				}
				offs = append(offs, o)
			}
			ac, err := newAPIClient(path, addr)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			body, err := ac.do(ctx, http.MethodPost, "/api/v1/dlq/replay", map[string]any{"offsets": offs, "force": force})
			if err != nil {
				return err
			}
			var res struct {
				Replayed int                `json:"replayed"`
				Results  []dlq.ReplayResult `json:"results"`
			}
			if err := json.Unmarshal(body, &res); err != nil {
				return fmt.Errorf("unexpected answer: %w", err)
			}
			out := cmd.OutOrStdout()
			var failed []string
			for _, r := range res.Results {
				if r.Error != "" {
					failed = append(failed, fmt.Sprintf("#%d: %s", r.Offset, r.Error))
				} else {
					fmt.Fprintf(out, "#%d replayed to %s\n", r.Offset, r.Topic)
				}
			}
			fmt.Fprintf(out, "%d replayed\n", res.Replayed)
			if len(failed) > 0 {
				return fmt.Errorf("not replayed:\n  %s", strings.Join(failed, "\n  "))
			}
			return nil
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "pipeline.yaml", "path of the pipeline config file")
	c.Flags().StringVar(&addr, "addr", "", "address of the process to ask (default: http.listen of the config)")
	c.Flags().BoolVar(&all, "all", false, "replay every replayable entry not replayed yet")
	c.Flags().BoolVar(&force, "force", false, "replay entries replayed before again")
	return c
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

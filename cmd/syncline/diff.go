package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/config"
	"syncline/internal/pipeline"
	"syncline/internal/reconcile"
	"syncline/schemas"
)

// exitError ends the process with code; an empty message prints nothing.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode is the status main exits with for err.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// Exit statuses of syncline diff.
const (
	diffInSync = 0
	diffDrift  = 1
	diffFailed = 2
)

// repairTimeout bounds the repair of one table (registry, source read,
// produce).
const repairTimeout = 2 * time.Minute

// textKeysShown bounds the keys the text output lists per kind.
const textKeysShown = 20

func diffCmd() *cobra.Command {
	var path, sinkName, output string
	var repair bool
	var settle time.Duration
	var fanout, leaf int
	c := &cobra.Command{
		Use:   "diff --sink NAME [TABLE...]",
		Short: "Compare a sink's tables with their sources; with --repair, mend what differs",
		Long: `Compare the tables sink NAME delivers (all of them, or the TABLEs named as
source.schema.table, schema.table or table) with their source tables, by
checksums over primary-key ranges computed in SQL on both sides, bisecting
only where they differ. Tables that match cost one checksum pass on each side;
no rows are read. Reports the rows missing from the warehouse, extra in it,
and different, by key. Rows that differ are checked again after --settle, so
that changes still on their way through the pipeline are not reported.

--repair re-delivers exactly the missing and different rows (and deletes the
extra ones) through the sink's repair topic, <topic_prefix>.repair.<sink>:
the running sink applies them like any change, exactly once, and a row
changed at the source meanwhile is never overwritten by the repair. It needs
the pipeline's Kafka and schema registry (with the embedded default, a running
'syncline run' on kafka.embedded.listen and registry.listen). Run diff again
to confirm once the sink has applied them.

For a hubspot, stripe, salesforce or mailchimp sink, diff reads the sink's
ledger from Kafka (its changelog: per record the object id and the values
last written) and asks the provider for those objects (HubSpot batch/read,
100 per call; Salesforce sObject collections retrieve, 200 per call; Stripe
GET /v1/customers/{id} and Mailchimp GET /lists/{list}/members/{hash}, a few
at a time; all paced and retried like the sink's calls): objects missing
there (deleted, merged or archived), objects whose mapped fields differ from
the ledger (edited there since), and objects of deleted records the provider
holds again (extra). --repair sends one repair record per differing object to
the repair topic: the running sink corrects its ledger to what the provider
holds and writes back exactly the fields that differ (re-creating missing
objects, deleting or archiving extra ones) in its own transaction; objects
that match are not touched. Both need the pipeline's Kafka. A rest sink is
compared the same way when it has a read request (rest.read: a GET of one
record by {id}).

Exit status: 0 when in sync, 1 when rows differ, 2 on errors.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if sinkName == "" {
				return &exitError{diffFailed, errors.New("--sink is required: name the sink whose tables to compare")}
			}
			if output != "text" && output != "json" {
				return &exitError{diffFailed, fmt.Errorf("--output %q: use text or json", output)}
			}
			cfg, err := config.Load(path)
			if err != nil {
				return &exitError{diffFailed, err}
			}
			sink, err := reconcile.SinkByName(cfg, sinkName)
			if err != nil {
				return &exitError{diffFailed, err}
			}
			switch {
			case slices.Contains(saasSinkTypes, sink.Type) || (sink.Type == config.SinkREST && sink.REST.Read.Path != ""):
				if len(args) > 0 {
					return &exitError{diffFailed, fmt.Errorf("sink %s is a %s sink: diff compares its objects as a whole, without TABLE arguments", sink.Name, sink.Type)}
				}
				ctx, stop := signalContext()
				defer stop()
				return runSaaSDiff(ctx, cmd.OutOrStdout(), cfg, sink, settle, repair, output == "json")
			case sink.Type == config.SinkREST:
				return &exitError{diffFailed, fmt.Errorf("sink %s: diff cannot compare this rest sink: it has no read request; set sinks[].rest.read: {path: ...} (a GET of one record by {id})", sink.Name)}
			}
			tables, err := reconcile.Tables(cfg, sink, args)
			if err != nil {
				return &exitError{diffFailed, err}
			}
			ctx, stop := signalContext()
			defer stop()
			var rep *reconcile.Repairer
			if repair {
				kopts, reg, err := pipeline.OperatorClients(cfg)
				if err != nil {
					return &exitError{diffFailed, err}
				}
				// A pipeline that is not running must not make the
				// repair wait forever.
				prod, err := kgo.NewClient(append(slices.Clip(kopts), kgo.RecordDeliveryTimeout(30*time.Second))...)
				if err != nil {
					return &exitError{diffFailed, err}
				}
				defer prod.Close()
				rep = &reconcile.Repairer{Topic: reconcile.RepairTopic(cfg.Kafka.TopicPrefix, sink.Name), TopicPrefix: cfg.Kafka.TopicPrefix,
					Producer: prod, Serde: schemas.NewSerde(reg), Registry: reg}
			}
			log := newLogger(cfg.Log.SlogLevel(), cfg.Log.Format)
			o := reconcile.Options{Settle: settle, Fanout: fanout, LeafRows: leaf, Log: log}
			return runDiff(ctx, cmd.OutOrStdout(), sink.Name, tables, o, rep, output == "json")
		},
	}
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{diffFailed, err} })
	c.Flags().StringVarP(&path, "config", "c", "pipeline.yaml", "path of the pipeline config file")
	c.Flags().StringVar(&sinkName, "sink", "", "the sink whose tables to compare (required)")
	c.Flags().BoolVar(&repair, "repair", false, "re-deliver missing and different rows and delete extra ones through the sink")
	c.Flags().DurationVar(&settle, "settle", 5*time.Second, "wait this long, then check differing rows again and report only those still differing (0: no second pass)")
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	c.Flags().IntVar(&fanout, "fanout", 16, "segments a differing key range is split into")
	c.Flags().IntVar(&leaf, "leaf-rows", 256, "ranges of at most this many rows are compared row by row")
	return c
}

// runDiff compares (and repairs) tables and prints the report; the error
// carries the exit status.
func runDiff(ctx context.Context, out io.Writer, sink string, tables []reconcile.Table, o reconcile.Options, rep *reconcile.Repairer, asJSON bool) error {
	var results []*reconcile.Result
	failed, drift := 0, 0
	for _, t := range tables {
		res, err := reconcile.Compare(ctx, t, o)
		if err != nil {
			failed++
			results = append(results, &reconcile.Result{Table: t.Name(), Sink: sink, Error: err.Error()})
			continue
		}
		res.Sink = sink
		drift += res.Drift()
		if rep != nil && res.Drift() > 0 {
			rctx, cancel := context.WithTimeout(ctx, repairTimeout)
			r, err := rep.Repair(rctx, t, res)
			cancel()
			if err != nil {
				failed++
				res.Error = "repair: " + err.Error() + " (is the pipeline running? --repair needs its Kafka and schema registry)"
			} else {
				res.Repair = &r
			}
		}
		results = append(results, res)
	}
	if asJSON {
		if err := writeReport(out, sink, drift, failed, results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			printResult(out, r)
		}
	}
	switch {
	case failed > 0:
		var msgs []string
		for _, r := range results {
			if r.Error != "" {
				msgs = append(msgs, r.Error)
			}
		}
		return &exitError{diffFailed, errors.New(strings.Join(msgs, "; "))}
	case drift > 0:
		return &exitError{diffDrift, nil}
	}
	return nil
}

// writeReport prints diff's JSON report: the sink, whether it is in sync,
// the drift and failure counts and the per-table (or per-object-type)
// results.
func writeReport(out io.Writer, sink string, drift, failed int, results any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		Sink    string `json:"sink"`
		InSync  bool   `json:"in_sync"`
		Drift   int    `json:"drift_rows"`
		Failed  int    `json:"failed"`
		Results any    `json:"tables"`
	}{sink, drift == 0 && failed == 0, drift, failed, results}); err != nil {
		return &exitError{diffFailed, err}
	}
	return nil
}

// runSaaSDiff compares (and repairs) a SaaS sink (saasSinkTypes) with
// its provider and prints the report in the shape of the warehouse
// diff's.
func runSaaSDiff(ctx context.Context, out io.Writer, cfg *config.Config, sink config.Sink, settle time.Duration, repair, asJSON bool) error {
	log := newLogger(cfg.Log.SlogLevel(), cfg.Log.Format)
	d, err := saasDiff(cfg, sink, settle, log)
	if err != nil {
		return &exitError{diffFailed, err}
	}
	kopts := d.Kafka
	res, err := d.Compare(ctx)
	if err != nil {
		res = &reconcile.SaaSResult{Result: &reconcile.Result{Table: d.Object, Sink: sink.Name,
			Error: err.Error() + " (diff reads the sink's ledger from the pipeline's Kafka: is it reachable?)"}}
	} else if repair && res.Drift() > 0 {
		prod, perr := kgo.NewClient(append(slices.Clip(kopts), kgo.RecordDeliveryTimeout(30*time.Second))...)
		if perr == nil {
			rctx, cancel := context.WithTimeout(ctx, repairTimeout)
			var r reconcile.Repaired
			r, perr = d.Repair(rctx, prod, res)
			cancel()
			prod.Close()
			if perr == nil {
				res.Repair = &r
			}
		}
		if perr != nil {
			res.Error = "repair: " + perr.Error()
		}
	}
	failed := 0
	if res.Error != "" {
		failed = 1
	}
	if asJSON {
		if err := writeReport(out, sink.Name, res.Drift(), failed, []*reconcile.SaaSResult{res}); err != nil {
			return err
		}
	} else {
		printResult(out, res.Result)
		for i, p := range res.Properties {
			if i == textKeysShown {
				fmt.Fprintf(out, "  ... and %d more differing properties (--output json lists all)\n", len(res.Properties)-i)
				break
			}
			fmt.Fprintf(out, "  %s=%s %s: ledger %q, %s %q\n", d.KeyField, p.Key[0], p.Property, p.Ledger, d.Provider, p.Provider)
		}
	}
	switch {
	case failed > 0:
		return &exitError{diffFailed, errors.New(res.Error)}
	case res.Drift() > 0:
		return &exitError{diffDrift, nil}
	}
	return nil
}

func printResult(out io.Writer, r *reconcile.Result) {
	if r.Error != "" && r.Repair == nil && r.Stats.Ranges == 0 && r.Drift() == 0 {
		fmt.Fprintf(out, "%s: ERROR %s\n", r.Table, r.Error)
		return
	}
	secs := fmt.Sprintf("%.2fs", r.Stats.Seconds)
	if r.Drift() == 0 {
		fmt.Fprintf(out, "%s: in sync (%d rows, %s)\n", r.Table, r.SourceRows, secs)
	} else {
		fmt.Fprintf(out, "%s: %d rows differ (%d missing, %d extra, %d different) of %d source / %d sink rows, %s\n",
			r.Table, r.Drift(), len(r.Missing), len(r.Extra), len(r.Different), r.SourceRows, r.SinkRows, secs)
		for _, kind := range []struct {
			name string
			keys [][]string
		}{{"missing", r.Missing}, {"extra", r.Extra}, {"different", r.Different}} {
			for i, k := range kind.keys {
				if i == textKeysShown {
					fmt.Fprintf(out, "  %-9s ... and %d more (--output json lists all)\n", kind.name, len(kind.keys)-i)
					break
				}
				var parts []string
				for j, v := range k {
					parts = append(parts, r.KeyColumns[j]+"="+v)
				}
				fmt.Fprintf(out, "  %-9s %s\n", kind.name, strings.Join(parts, " "))
			}
		}
	}
	if len(r.NotCompared) > 0 {
		fmt.Fprintf(out, "  not compared (not in the warehouse table): %s\n", strings.Join(r.NotCompared, ", "))
	}
	if r.Repair != nil {
		fmt.Fprintf(out, "  repair sent: %d upserts, %d deletes", r.Repair.Upserts, r.Repair.Deletes)
		if r.Repair.Position != "" {
			fmt.Fprintf(out, " at position %s", r.Repair.Position)
		}
		if r.Repair.Gone > 0 {
			fmt.Fprintf(out, " (%d rows no longer in the source)", r.Repair.Gone)
		}
		fmt.Fprintln(out, "; run diff again to confirm once the sink applied it")
	}
	if r.Error != "" {
		fmt.Fprintf(out, "  ERROR %s\n", r.Error)
	}
}

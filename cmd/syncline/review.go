package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"syncline/transform/entities"
)

func reviewCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "review",
		Short: "List, inspect, approve and reject the entities' review queue",
		Long: `Changes a rule must not decide alone are held for a person: a numeric field
moving by more than its anomaly factor, any change of a high-stakes field,
a true three-way conflict, and pairs of records that may be one person
(scored between review_from and auto_merge). Each waits in the review queue
until approved or rejected; the decision flows to the entities stage as a
record and is applied exactly once. These commands ask a running syncline
process (http.listen of the config, or --addr) through its admin API.`,
	}
	c.AddCommand(reviewListCmd(), reviewShowCmd(), reviewDecideCmd("approve"), reviewDecideCmd("reject"))
	return c
}

func apiFlags(c *cobra.Command, path, addr *string) {
	c.Flags().StringVarP(path, "config", "c", "pipeline.yaml", "path of the pipeline config file")
	c.Flags().StringVar(addr, "addr", "", "address of the process to ask (default: http.listen of the config)")
}

func reviewListCmd() *cobra.Command {
	var path, addr, entity, status, kind string
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List review items, oldest first (pending ones by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := newAPIClient(path, addr)
			if err != nil {
				return err
			}
			q := url.Values{"status": {status}}
			if entity != "" {
				q.Set("entity", entity)
			}
			if kind != "" {
				q.Set("kind", kind)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			body, err := ac.do(ctx, http.MethodGet, "/api/v1/reviews?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			if asJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var res struct {
				Reviews []*entities.Review `json:"reviews"`
			}
			if err := json.Unmarshal(body, &res); err != nil {
				return fmt.Errorf("unexpected answer: %w", err)
			}
			out := cmd.OutOrStdout()
			if len(res.Reviews) == 0 {
				fmt.Fprintf(out, "no review items (status %s)\n", status)
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tRAISED\tENTITY\tKIND\tFIELD\tCHANGE\tSTATUS")
			for _, rv := range res.Reviews {
				fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", rv.ID[:12], time.UnixMilli(rv.CreatedMs).Local().Format(time.DateTime),
					rv.Entity, rv.EntityID, rv.Kind, dash(rv.Field), oneLine(changeText(rv), 80), rv.Status)
			}
			return tw.Flush()
		},
	}
	apiFlags(c, &path, &addr)
	c.Flags().StringVar(&entity, "entity", "", "only items of this entity type")
	c.Flags().StringVar(&status, "status", "pending", "pending, approved, rejected, superseded or all")
	c.Flags().StringVar(&kind, "kind", "", "only items of this kind (anomaly, high_stakes, conflict, duplicate)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON")
	return c
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func text(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

// changeText says what approval changes, in a few words.
func changeText(rv *entities.Review) string {
	if rv.Pair != nil {
		return fmt.Sprintf("%s + %s (score %.2f)", rv.Pair.A, rv.Pair.B, rv.Pair.Score)
	}
	return fmt.Sprintf("%s → %s (from %s:%s)", text(rv.Current), text(rv.Value), rv.Source, rv.Key)
}

func reviewShowCmd() *cobra.Command {
	var path, addr string
	var asJSON bool
	c := &cobra.Command{
		Use:   "show ID",
		Short: "Show one review item (an id prefix of 6+ characters will do)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ac, err := newAPIClient(path, addr)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			body, err := ac.do(ctx, http.MethodGet, "/api/v1/reviews/"+url.PathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			if asJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var rv entities.Review
			if err := json.Unmarshal(body, &rv); err != nil {
				return fmt.Errorf("unexpected answer: %w", err)
			}
			printReview(cmd.OutOrStdout(), &rv)
			return nil
		},
	}
	apiFlags(c, &path, &addr)
	c.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON")
	return c
}

func printReview(out io.Writer, rv *entities.Review) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("id", rv.ID)
	row("entity", rv.Entity+" "+rv.EntityID)
	row("kind", rv.Kind)
	row("status", rv.Status)
	row("reason", rv.Reason)
	row("raised", time.UnixMilli(rv.CreatedMs).Local().Format(time.DateTime))
	if rv.Pair != nil {
		p := rv.Pair
		row("records", p.A+" (entity "+p.EntityA+")  and  "+p.B+" (entity "+p.EntityB+")")
		row("score", fmt.Sprintf("%.3f", p.Score))
		keys := map[string]bool{}
		for k := range p.RecordA {
			keys[k] = true
		}
		for k := range p.RecordB {
			keys[k] = true
		}
		var ks []string
		for k := range keys {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			row("  "+k, fmt.Sprintf("%-30s | %s", p.RecordA[k], p.RecordB[k]))
		}
		for _, r := range p.Reasons {
			row("  because", r)
		}
		for _, n := range p.Notes {
			row("  note", n)
		}
		row("approve", "merges the two entities into one")
	} else {
		row("field", rv.Field)
		row("change", fmt.Sprintf("from %s:%s at position %s, committed %s", rv.Source, rv.Key, rv.Position, time.UnixMilli(rv.CommitMs).UTC().Format(time.RFC3339)))
		row("current", text(rv.Current))
		row("sent", text(rv.Value))
		row("proposed", text(rv.Proposed))
		row("approve", "applies the sent value by the field's policy; reject drops it")
	}
	if rv.Status != entities.StatusPending {
		row("decided", fmt.Sprintf("%s by %s at %s (%s)", rv.Status, dash(rv.DecidedBy), time.UnixMilli(rv.DecidedMs).Local().Format(time.DateTime), rv.Outcome))
		row("note", rv.Note)
	}
	tw.Flush()
}

func reviewDecideCmd(action string) *cobra.Command {
	var path, addr, note, by string
	c := &cobra.Command{
		Use:   action + " ID...",
		Short: strings.ToUpper(action[:1]) + action[1:] + " review items (id prefixes of 6+ characters will do)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ac, err := newAPIClient(path, addr)
			if err != nil {
				return err
			}
			if by == "" {
				by = os.Getenv("USER")
			}
			var failed []string
			for _, id := range args {
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				body, err := ac.do(ctx, http.MethodPost, "/api/v1/reviews/"+url.PathEscape(id)+"/"+action, map[string]any{"by": by, "note": note})
				cancel()
				if err != nil {
					failed = append(failed, id+": "+err.Error())
					continue
				}
				var rv entities.Review
				if err := json.Unmarshal(body, &rv); err != nil {
					return fmt.Errorf("unexpected answer: %w", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s (%s)\n", rv.ID[:12], rv.Kind, rv.Status, rv.Outcome)
			}
			if len(failed) > 0 {
				return fmt.Errorf("not %sd:\n  %s", action, strings.Join(failed, "\n  "))
			}
			return nil
		},
	}
	apiFlags(c, &path, &addr)
	c.Flags().StringVar(&note, "note", "", "why, for the record")
	c.Flags().StringVar(&by, "by", "", "who decides (default $USER)")
	return c
}

func historyCmd() *cobra.Command {
	var path, addr string
	var asJSON bool
	c := &cobra.Command{
		Use:   "history ENTITY ID",
		Short: "Show a golden record's lineage: per field, every value, its source and why it won",
		Long: `Reads the entity topic and shows, for the golden record ID of entity type
ENTITY (and the records merged into it), each field's values in order:
the value, the source record and change it came from, the policy that
decided and why it won.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ac, err := newAPIClient(path, addr)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			body, err := ac.do(ctx, http.MethodGet, "/api/v1/entities/"+url.PathEscape(args[0])+"/"+url.PathEscape(args[1])+"/history", nil)
			if err != nil {
				return err
			}
			if asJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var h entities.History
			if err := json.Unmarshal(body, &h); err != nil {
				return fmt.Errorf("unexpected answer: %w", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s %s: %d versions", h.Entity, h.ID, len(h.Versions))
			if len(h.Merged) > 0 {
				fmt.Fprintf(out, "; merged into it: %s", strings.Join(h.Merged, ", "))
			}
			fmt.Fprintln(out)
			var fields []string
			for f := range h.Fields {
				fields = append(fields, f)
			}
			sort.Strings(fields)
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			for _, f := range fields {
				fmt.Fprintf(tw, "%s\n", f)
				for _, s := range h.Fields[f] {
					at := ""
					if s.CommitMs > 0 {
						at = time.UnixMilli(s.CommitMs).UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "  %s\tfrom %s:%s @%s\t%s\t%s: %s\n", oneLine(text(s.Value), 60), dash(s.Source), dash(s.Key), dash(s.Position), at, dash(s.Policy), s.Reason)
				}
			}
			return tw.Flush()
		},
	}
	apiFlags(c, &path, &addr)
	c.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON")
	return c
}

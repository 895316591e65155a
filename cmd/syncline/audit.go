package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"syncline/internal/config"
	"syncline/sink/warehouse"
)

func auditCmd() *cobra.Command {
	var path, sinkName, since, output string
	var limit int
	c := &cobra.Command{
		Use:   "audit --sink NAME TABLE [KEY-JSON | COLUMN=VALUE...]",
		Short: "Print the history of a record in a sink: every write and the change that caused it",
		Long: `Print, newest first, the writes a sink made to TABLE, read from the audit log
(<schema>._syncline_audit in the sink's warehouse): the operation applied
(insert, update, delete, soft_delete, truncate), the record's key, and the
change that caused it (source position, op and commit time, and the Kafka
topic, partition and offset of its change record).

TABLE is the sink's table (people, public.people or app.public.people). The
record is given by its key, as a JSON object or as COLUMN=VALUE pairs:

  syncline audit --sink warehouse customers '{"id": 42}'
  syncline audit --sink warehouse order_lines order_id=7 line=2

Without a key, the table's latest writes are printed. Truncates of the table
are part of every record's history.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: use table or json", output)
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			sink, err := pickSink(cfg, sinkName)
			if err != nil {
				return err
			}
			if sink.Type != config.SinkPostgres {
				return fmt.Errorf("sink %s: the audit log is kept by postgres sinks, not %q (a HubSpot sink's ledger records what it last wrote)", sink.Name, sink.Type)
			}
			f := warehouse.AuditFilter{Sink: sink.Name, Limit: limit}
			if f.Table, err = sinkTable(cfg, sink, args[0]); err != nil {
				return err
			}
			if f.Key, f.KeyText, err = parseAuditKey(args[1:]); err != nil {
				return err
			}
			if since != "" {
				if f.Since, err = parseSince(since, time.Now()); err != nil {
					return err
				}
			}
			if !sink.Audit.Enabled {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: the audit log of sink %s is disabled (sinks[].audit.enabled); only earlier writes are recorded\n", sink.Name)
			}
			ctx, stop := signalContext()
			defer stop()
			entries, err := warehouse.QueryAuditDSN(ctx, sink.DSN.Value(), sink.SchemaName(), f)
			if err != nil {
				return fmt.Errorf("sink %s: %w", sink.Name, err)
			}
			if output == "json" {
				return writeAuditJSON(cmd.OutOrStdout(), entries)
			}
			return writeAuditTable(cmd.OutOrStdout(), entries)
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "pipeline.yaml", "path of the pipeline config file")
	c.Flags().StringVar(&sinkName, "sink", "", "sink whose audit log to read (default: the only sink)")
	c.Flags().StringVar(&since, "since", "", "only writes since then: a duration ago (24h) or a time (2026-01-02T15:04:05Z)")
	c.Flags().IntVar(&limit, "limit", warehouse.DefaultAuditLimit, "at most this many rows")
	c.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return c
}

// pickSink returns the sink called name, or the only one when name is "".
func pickSink(cfg *config.Config, name string) (config.Sink, error) {
	var names []string
	for _, s := range cfg.Sinks {
		if s.Name == name || (name == "" && len(cfg.Sinks) == 1) {
			return s, nil
		}
		names = append(names, s.Name)
	}
	switch {
	case len(names) == 0:
		return config.Sink{}, fmt.Errorf("the config has no sinks")
	case name == "":
		return config.Sink{}, fmt.Errorf("the config has several sinks; name one with --sink (%s)", strings.Join(names, ", "))
	}
	return config.Sink{}, fmt.Errorf("no sink %q in the config (its sinks: %s)", name, strings.Join(names, ", "))
}

// sinkTable resolves arg (table, schema.table or source.schema.table) to
// the name of one of sink's warehouse tables.
func sinkTable(cfg *config.Config, sink config.Sink, arg string) (string, error) {
	tables := cfg.SinkTables(sink)
	var names []string
	for _, st := range tables {
		if arg == st.Table.Name || arg == st.String() {
			return st.Table.Name, nil
		}
		names = append(names, st.Table.Name)
	}
	if tn, err := config.ParseTableName(arg); err == nil {
		for _, st := range tables {
			if st.Table == tn || st.String() == arg {
				return st.Table.Name, nil
			}
		}
	}
	return "", fmt.Errorf("sink %s has no table %q (its tables: %s)", sink.Name, arg, strings.Join(names, ", "))
}

// parseAuditKey reads a record key: one JSON object, or COLUMN=VALUE pairs.
func parseAuditKey(args []string) (map[string]any, map[string]string, error) {
	if len(args) == 0 {
		return nil, nil, nil
	}
	if strings.HasPrefix(strings.TrimSpace(args[0]), "{") {
		if len(args) > 1 {
			return nil, nil, fmt.Errorf("give the key as one JSON object or as COLUMN=VALUE pairs, not both")
		}
		d := json.NewDecoder(strings.NewReader(args[0]))
		d.UseNumber() // keep big keys exact
		var key map[string]any
		if err := d.Decode(&key); err != nil {
			return nil, nil, fmt.Errorf("key %s is not a JSON object: %v", args[0], err)
		}
		if len(key) == 0 {
			return nil, nil, fmt.Errorf("key %s is empty; name at least one key column", args[0])
		}
		return key, nil, nil
	}
	text := map[string]string{}
	for _, a := range args {
		col, val, ok := strings.Cut(a, "=")
		if !ok || col == "" {
			return nil, nil, fmt.Errorf("key %q: use COLUMN=VALUE (for example id=42) or a JSON object ('{\"id\": 42}')", a)
		}
		if _, dup := text[col]; dup {
			return nil, nil, fmt.Errorf("key column %q given twice", col)
		}
		text[col] = val
	}
	return nil, text, nil
}

// parseSince reads a duration ago or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %s: a duration ago must not be negative", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: give a duration ago (24h, 30m) or an RFC 3339 time (2026-01-02T15:04:05Z)", s)
}

func writeAuditJSON(w io.Writer, entries []warehouse.AuditEntry) error {
	if entries == nil {
		entries = []warehouse.AuditEntry{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(entries)
}

func writeAuditTable(w io.Writer, entries []warehouse.AuditEntry) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no audit rows")
		return err
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WRITTEN AT\tOPERATION\tTABLE\tKEY\tSOURCE OP\tSOURCE POSITION\tCOMMITTED AT\tKAFKA RECORD")
	const ts = "2006-01-02 15:04:05.000"
	for _, e := range entries {
		committed := "-"
		if e.CommittedAt != nil {
			committed = e.CommittedAt.UTC().Format(ts)
		}
		key := e.KeyText
		if key == "" {
			key = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s/%d@%d\n", e.WrittenAt.UTC().Format(ts), e.Operation, e.Table, key,
			e.SourceOp, e.Position, committed, e.Topic, e.Partition, e.Offset)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

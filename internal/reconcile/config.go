package reconcile

import (
	"fmt"
	"strings"

	"syncline/internal/config"
)

// SinkByName returns the configured sink called name.
func SinkByName(cfg *config.Config, name string) (config.Sink, error) {
	var names []string
	for _, s := range cfg.Sinks {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		return config.Sink{}, fmt.Errorf("no sink %q: the configuration has no sinks", name)
	}
	return config.Sink{}, fmt.Errorf("no sink %q (sinks: %s)", name, strings.Join(names, ", "))
}

// Tables maps the tables sink delivers to comparisons: all of them, or the
// ones named in only (as source.schema.table, schema.table or table).
func Tables(cfg *config.Config, sink config.Sink, only []string) ([]Table, error) {
	if sink.Type != config.SinkPostgres {
		return nil, fmt.Errorf("sink %s: diff supports postgres sinks, not %q", sink.Name, sink.Type)
	}
	var all []Table
	var names []string
	sts := cfg.SinkTables(sink)
	for _, st := range sts {
		var src config.Source
		for _, s := range cfg.Sources {
			if s.Name == st.Source {
				src = s
			}
		}
		t := Table{Source: st.Source, SourceDSN: src.DSN.Value(), SourceSchema: st.Table.Schema, SourceTable: st.Table.Name,
			SinkDSN: sink.DSN.Value(), SinkSchema: sink.SchemaName(), SinkTable: st.Table.Name}
		for _, k := range src.Keys {
			if tn, err := config.ParseTableName(k.Table); err == nil && tn == st.Table {
				t.Keys = k.Columns
			}
		}
		all = append(all, t)
		names = append(names, st.String())
	}
	if len(only) == 0 {
		return all, nil
	}
	var out []Table
	for _, want := range only {
		found := false
		for i, t := range all {
			st := sts[i]
			if want == names[i] || want == st.Table.String() || want == t.SourceTable || matchesParsed(want, st) {
				out = append(out, t)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("sink %s does not deliver table %q (its tables: %s)", sink.Name, want, strings.Join(names, ", "))
		}
	}
	return out, nil
}

func matchesParsed(s string, st config.SourceTable) bool {
	tn, err := config.ParseTableName(s)
	return err == nil && tn == st.Table
}

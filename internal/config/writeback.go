package config

import (
	"fmt"
	"slices"
	"strings"
)

// SinkWriteBack is the write_back block of a sink of type postgres: the
// golden records of one entity are written back into the rows of one of
// its own source tables (two-way sync with a database). Each golden
// record is written into the rows of its members from the sink's system
// (the source that reads the table); only columns whose golden value
// differs are updated, a column whose value came from the table itself is
// not written, and a column changed in the table since the sink last saw
// it is left alone (the change is on its way through capture, and the
// entity's merge policy decides). Offsets commit in the same transaction.
type SinkWriteBack struct {
	// Table is the table to write, schema-qualified as in a source's
	// tables (default schema public). Required.
	Table string `yaml:"table"`
	// Key is the table's key column, the one whose value the captured
	// records carry as their key. Default: the table's primary key, which
	// must then be one column.
	Key string `yaml:"key"`
	// Insert adds a row for a golden record none of whose members is a row
	// of the table (for example a contact created in the CRM). The new row
	// must join its entity again when it is captured: map its match key
	// (email, phone, or an external id column). Default false.
	Insert bool `yaml:"insert"`
	// Columns maps table columns (name) from golden record fields (from),
	// with the same transform, value and required settings as a SaaS
	// sink's fields. Required.
	Columns []HubSpotSinkProperty `yaml:"columns"`
}

// IsSet reports whether the write_back block is present.
func (w SinkWriteBack) IsSet() bool {
	return w.Table != "" || w.Key != "" || w.Insert || len(w.Columns) > 0
}

// WriteBackTable returns the write_back table, parsed. Valid after Load.
func (w SinkWriteBack) WriteBackTable() TableName {
	t, _ := ParseTableName(w.Table)
	return t
}

// WriteBackKey returns the write_back key column as the database names
// it (unquoted names in lower case), "" for the primary key. Valid after
// Load.
func (w SinkWriteBack) WriteBackKey() string {
	k, _ := parseIdent(w.Key)
	return k
}

// writeBack checks a sink's write_back block.
func (v *validator) writeBack(p string, s Sink) {
	w := s.WriteBack
	if !w.IsSet() {
		return
	}
	wp := p + ".write_back"
	if s.Type != SinkPostgres {
		v.errorf(wp, "only for a sink of type postgres")
		return
	}
	if w.Table == "" {
		v.errorf(wp+".table", "required: the table to write golden records into, for example table: public.customers")
	} else if _, err := ParseTableName(w.Table); err != nil {
		v.errorf(wp+".table", "invalid table name %s: %v", describeScalar(w.Table), err)
	}
	if w.Key != "" {
		if _, err := parseIdent(w.Key); err != nil {
			v.errorf(wp+".key", "invalid column name %s: %v", describeScalar(w.Key), err)
		}
	}
	v.sinkFields(wp+".columns", w.Columns, "table column to write")
	if len(s.From) == 0 {
		v.errorf(p+".from", "required with write_back: the entity whose golden records are written back, from: [entity.NAME]")
		return
	}
	var entity string
	for _, f := range s.From {
		name, ok := strings.CutPrefix(f, EntityFromPrefix)
		if !ok || len(s.From) != 1 {
			v.errorf(p+".from", "a write_back sink reads exactly one entity: from: [entity.NAME]")
			return
		}
		entity = name
	}
	if s.System == "" {
		v.errorf(p+".system", "required with write_back: the entity source whose records are the rows of %s, for example system: app", w.Table)
		return
	}
	for _, e := range v.c.Entities {
		if e.Name != entity {
			continue
		}
		var names []string
		for _, src := range e.Sources {
			n := src.Name
			if n == "" {
				n, _, _ = strings.Cut(src.From, ".")
			}
			names = append(names, n)
		}
		if !slices.Contains(names, s.System) {
			v.errorf(p+".system", "%q is not a source of entity %s; its sources: %s", s.System, entity, strings.Join(names, ", "))
			continue
		}
		// The rows written into must be the system's own records: the
		// keys in _sources are keys of the table the source streams.
		for _, src := range e.Sources {
			n := src.Name
			if n == "" {
				n, _, _ = strings.Cut(src.From, ".")
			}
			_, stream, _ := strings.Cut(src.From, ".")
			want, err1 := ParseTableName(stream)
			got, err2 := ParseTableName(w.Table)
			if n == s.System && err1 == nil && err2 == nil && want != got {
				v.errorf(wp+".table", "%s is not the table source %s streams into entity %s (%s): write-back writes into the system's own rows", got, s.System, entity, want)
			}
		}
		for i, c := range w.Columns {
			if c.From == "" || c.From == "id" {
				continue
			}
			if _, ok := e.Fields[c.From]; !ok {
				v.errorf(fmt.Sprintf("%s.columns[%d].from", wp, i), "%q is not a field of entity %s", c.From, entity)
			}
		}
	}
}

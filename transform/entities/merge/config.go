package merge

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Policy names how a field's golden value is decided from the values the
// entity's source records hold for it.
type Policy string

// The policies.
const (
	// LastWriterWins: the value of the greatest contribution in the total
	// order (commit time, source rank, source name, position, source key);
	// see [Merger.Less]. A record's value keeps the commit time it was set
	// at while the record sends it unchanged; a null counts (clears) only
	// after the record held a value.
	LastWriterWins Policy = "last_writer_wins"
	// SystemOfRecord: only Field.SystemOfRecord may set the field; when
	// that source has several records, the greatest in the LWW order wins.
	// Null when that source has no (live) record with the field.
	SystemOfRecord Policy = "system_of_record"
	// SourcePriority: the first source of Field.SourcePriority that has a
	// non-null value wins; sources not listed come after the listed ones,
	// ordered among themselves (and several records of one source) by the
	// LWW order.
	SourcePriority Policy = "source_priority"
	// Min and Max: the least or greatest non-null value (numbers compared
	// by value across Go types, then strings, times, …; see compareValues).
	Min Policy = "min"
	Max Policy = "max"
	// Sum: the sum of the non-null numeric values of the live records,
	// one contribution per source record, so a redelivered change does not
	// count twice.
	Sum Policy = "sum"
	// Set: the union of the values of all records (an array value
	// contributes its elements), sorted, without duplicates.
	Set Policy = "set"
	// ThreeWay: a change from source S is compared with the value last
	// synced with S (see [Merger.MarkSynced]): if only S changed the field
	// its value is taken, if only the golden record changed it is kept, if
	// both changed to different values the change is held for review.
	ThreeWay Policy = "three_way"
)

var policies = []Policy{LastWriterWins, SystemOfRecord, SourcePriority, Min, Max, Sum, Set, ThreeWay}

// Config is the merge configuration of one entity type.
type Config struct {
	// Sources lists the entity's sources by rank, highest first. The rank
	// breaks last_writer_wins ties of equal commit time; sources not
	// listed rank below every listed one. Optional; when set,
	// system_of_record and source_priority may only name listed sources.
	Sources []string `yaml:"sources"`
	// Fields configures fields by name. Fields not named follow Default.
	Fields map[string]Field `yaml:"fields"`
	// Default is the configuration of fields not named in Fields.
	// Default: policy last_writer_wins, no anomaly check, not high-stakes.
	Default Field `yaml:"default"`
	// DeleteWhenNoSources deletes the golden record when the last source
	// record of the entity is deleted: all its values are cleared and the
	// delta says Deleted. Default false: the entity keeps the values its
	// policies keep (see [Merger.Apply] on deletes).
	DeleteWhenNoSources bool `yaml:"delete_when_no_sources"`
}

// Field is the merge configuration of one field.
type Field struct {
	// Policy decides the value. Default: system_of_record when
	// SystemOfRecord is set, source_priority when SourcePriority is set,
	// else last_writer_wins (for Config.Default) or Config.Default's
	// policy (for a named field).
	Policy Policy `yaml:"policy"`
	// SystemOfRecord is the only source that may set the field.
	SystemOfRecord string `yaml:"system_of_record"`
	// SourcePriority lists sources, highest priority first.
	SourcePriority []string `yaml:"source_priority"`
	// Anomaly, when set, holds for review a change that moves the
	// field's numeric golden value by more than Factor either way.
	Anomaly *Anomaly `yaml:"anomaly"`
	// HighStakes holds every change of the field's golden value for
	// review, the first value included. Default false.
	HighStakes bool `yaml:"high_stakes"`
	// Required lists the field in Output.Missing while its golden value
	// is null. Default false.
	Required bool `yaml:"required"`
}

// Anomaly configures the anomaly check of a numeric field.
type Anomaly struct {
	// Factor: a move from a to b is anomalous when max(|a|,|b|) /
	// min(|a|,|b|) > Factor, when exactly one of them is zero, or when
	// their signs differ. Must be greater than 1. A move from or to null
	// is not a numeric move and is never anomalous.
	Factor float64 `yaml:"factor"`
}

// field is a Field with its policy resolved.
type field struct {
	Field
	policy   Policy
	priority map[string]int // source_priority: source -> index
}

// Validate checks the configuration; errors name the key, relative to the
// entity's merge block (e.g. `fields.price.anomaly.factor`).
func (c *Config) Validate() error {
	_, err := c.compile()
	return err
}

func (c *Config) compile() (map[string]*field, error) {
	seen := map[string]bool{}
	for i, s := range c.Sources {
		if s == "" {
			return nil, fmt.Errorf("sources[%d]: empty source name", i)
		}
		if seen[s] {
			return nil, fmt.Errorf("sources[%d]: source %q listed twice", i, s)
		}
		seen[s] = true
	}
	def, err := c.compileField("default", c.Default, LastWriterWins)
	if err != nil {
		return nil, err
	}
	out := map[string]*field{"": def}
	names := make([]string, 0, len(c.Fields))
	for n := range c.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == "" {
			return nil, fmt.Errorf("fields: empty field name")
		}
		f, err := c.compileField("fields."+n, c.Fields[n], def.policy)
		if err != nil {
			return nil, err
		}
		out[n] = f
	}
	return out, nil
}

func (c *Config) compileField(key string, f Field, fallback Policy) (*field, error) {
	p := f.Policy
	switch {
	case p == "" && f.SystemOfRecord != "":
		p = SystemOfRecord
	case p == "" && len(f.SourcePriority) > 0:
		p = SourcePriority
	case p == "":
		p = fallback
		if p == SystemOfRecord || p == SourcePriority {
			// The default's source names are not inherited.
			p = LastWriterWins
		}
	}
	if !slices.Contains(policies, p) {
		return nil, fmt.Errorf("%s.policy: unknown policy %q (want one of %v)", key, p, policies)
	}
	if f.SystemOfRecord != "" && p != SystemOfRecord {
		return nil, fmt.Errorf("%s.system_of_record: set, but policy is %s", key, p)
	}
	if p == SystemOfRecord {
		if f.SystemOfRecord == "" {
			return nil, fmt.Errorf("%s.system_of_record: required by policy system_of_record", key)
		}
		if len(c.Sources) > 0 && !slices.Contains(c.Sources, f.SystemOfRecord) {
			return nil, fmt.Errorf("%s.system_of_record: source %q is not in sources", key, f.SystemOfRecord)
		}
	}
	if len(f.SourcePriority) > 0 && p != SourcePriority {
		return nil, fmt.Errorf("%s.source_priority: set, but policy is %s", key, p)
	}
	out := &field{Field: f, policy: p}
	if p == SourcePriority {
		if len(f.SourcePriority) == 0 {
			return nil, fmt.Errorf("%s.source_priority: required by policy source_priority", key)
		}
		out.priority = map[string]int{}
		for i, s := range f.SourcePriority {
			if s == "" {
				return nil, fmt.Errorf("%s.source_priority[%d]: empty source name", key, i)
			}
			if _, dup := out.priority[s]; dup {
				return nil, fmt.Errorf("%s.source_priority[%d]: source %q listed twice", key, i, s)
			}
			if len(c.Sources) > 0 && !slices.Contains(c.Sources, s) {
				return nil, fmt.Errorf("%s.source_priority[%d]: source %q is not in sources", key, i, s)
			}
			out.priority[s] = i
		}
	}
	if f.Anomaly != nil {
		if !(f.Anomaly.Factor > 1) || math.IsInf(f.Anomaly.Factor, 0) {
			return nil, fmt.Errorf("%s.anomaly.factor: %v, want a finite number greater than 1", key, f.Anomaly.Factor)
		}
		if p == Set {
			return nil, fmt.Errorf("%s.anomaly: policy set has no numeric value to check", key)
		}
	}
	return out, nil
}

package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"syncline/internal/topics"
	"syncline/transform/entities"
)

// EntityFromPrefix starts a sink's from entry naming an entity's golden
// records: "entity.<name>". A source cannot be called "entity".
const EntityFromPrefix = "entity."

// entities checks the entities: each compiles (quality rules, merge
// policies, match settings), names are unique, and every source stream
// is a table of a configured source.
func (v *validator) entities(list []entities.Spec) {
	for i, s := range v.c.Sources {
		if s.Name+"." == EntityFromPrefix {
			v.errorf(fmt.Sprintf("sources[%d].name", i), "%q is reserved: sinks name entities as entity.<name>; call the source something else", s.Name)
		}
	}
	seen := map[string]int{}
	for i, e := range list {
		p := fmt.Sprintf("entities[%d]", i)
		if j, dup := seen[e.Name]; dup && e.Name != "" {
			v.errorf(p+".name", "duplicate entity %q (also entities[%d])", e.Name, j)
		}
		seen[e.Name] = i
		if _, err := entities.Compile(e); err != nil {
			for _, one := range flattenErrs(err) {
				var ke *entities.KeyError
				if errors.As(one, &ke) {
					v.errorf(p+"."+ke.Key, "%s", ke.Msg)
				} else {
					v.errorf(p, "%v", one)
				}
			}
		}
		for j, s := range e.Sources {
			fp := fmt.Sprintf("%s.sources[%d].from", p, j)
			ref, err := parseFromEntry(s.From)
			if err != nil || ref.all {
				continue // reported by Compile
			}
			src, ok := v.c.source(ref.source)
			if !ok {
				v.errorf(fp, "unknown source %q in %s", ref.source, describeScalar(s.From))
				continue
			}
			if !slices.Contains(src.QualifiedTables(), ref.table) {
				var names []string
				for _, t := range src.QualifiedTables() {
					names = append(names, SourceTable{Source: src.Name, Table: t}.String())
				}
				v.errorf(fp, "source %q has no table %s; its tables: %s", src.Name, ref.table, strings.Join(names, ", "))
			}
		}
	}
}

func flattenErrs(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrs(e)...)
		}
		return out
	}
	return []error{err}
}

// entityFrom checks a sink's "entity.<name>" entry.
func (v *validator) entityFrom(path, name string) {
	var names []string
	for _, e := range v.c.Entities {
		if e.Name == name {
			return
		}
		names = append(names, e.Name)
	}
	if len(names) == 0 {
		v.errorf(path, "unknown entity %q; no entities are configured", name)
		return
	}
	v.errorf(path, "unknown entity %q%s; configured entities: %s", name, didYouMean(name, names), strings.Join(names, ", "))
}

// SinkEntities returns the entities a sink's from names ("entity.<name>").
func (c *Config) SinkEntities(sink Sink) []string {
	var out []string
	for _, entry := range sink.From {
		if name, ok := strings.CutPrefix(entry, EntityFromPrefix); ok && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// CompileEntities compiles the entities and sets each source stream's
// change topic.
func (c *Config) CompileEntities() ([]*entities.Entity, error) {
	var out []*entities.Entity
	for _, spec := range c.Entities {
		e, err := entities.Compile(spec)
		if err != nil {
			return nil, fmt.Errorf("entity %s: %w", spec.Name, err)
		}
		for i := range e.Sources {
			ref, err := parseFromEntry(e.Sources[i].From)
			if err != nil {
				return nil, fmt.Errorf("entity %s: %w", spec.Name, err)
			}
			e.Sources[i].Topic = topics.Change(c.Kafka.TopicPrefix, ref.source, ref.table.Schema, ref.table.Name)
		}
		out = append(out, e)
	}
	return out, nil
}

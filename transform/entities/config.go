package entities

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"syncline/schemas"
	"syncline/transform/entities/match"
	"syncline/transform/entities/merge"
	"syncline/transform/quality"
)

// Spec configures one entity type (the `entities:` list of pipeline.yaml).
type Spec struct {
	// Name is the entity type: contact, company, deal, ...
	Name string `yaml:"name"`
	// Shards is the number of partitions identity and merge are spread
	// over. Records are routed by their strongest match key (normalized
	// email, else E.164 phone, else the record itself), so with more than
	// one shard records are matched only against records of their shard:
	// two records of one person with different emails, or one with only a
	// phone, meet only by chance. Default 1: one identity space (one
	// process does merges; routing, cleaning and sinks still scale).
	Shards int `yaml:"shards"`
	// Sources are the change streams that feed the entity, highest rank
	// first (the rank breaks last-writer-wins ties).
	Sources []SourceSpec `yaml:"sources"`
	// Fields are the golden record's fields: their type and merge policy.
	Fields map[string]FieldSpec `yaml:"fields"`
	// Default is the merge policy of fields without their own.
	Default merge.Field `yaml:"default"`
	// DeleteWhenNoSources deletes the golden record with its last source
	// record.
	DeleteWhenNoSources bool `yaml:"delete_when_no_sources"`
	// Quality cleans and checks each source record before it joins.
	Quality quality.EntityConfig `yaml:"quality"`
	// Match configures identity.
	Match MatchSpec `yaml:"match"`
}

// SourceSpec is one source stream of an entity.
type SourceSpec struct {
	// From names the stream as sinks do: "<source>.<schema>.<table>".
	From string `yaml:"from"`
	// Name is the source's name in policies (system_of_record,
	// source_priority, quality overlays) and provenance; default the
	// source part of From.
	Name string `yaml:"name"`
	// Fields maps entity fields to the stream's columns. Empty: every
	// entity field is read from the column of the same name.
	Fields map[string]string `yaml:"fields"`
	// ExternalIDs maps a source name to the column holding that source's
	// key for the same entity (crm: hubspot_id): records sharing one are
	// one entity.
	ExternalIDs map[string]string `yaml:"external_ids"`
}

// FieldSpec is one golden field.
type FieldSpec struct {
	// Type is the field's type on the entity topic: string (default),
	// int64, float64, numeric (exact decimal text), bool, timestamp, json.
	Type        string `yaml:"type"`
	merge.Field `yaml:",inline"`
}

// MatchSpec configures identity: deterministic keys (external ids,
// normalized email, E.164 phone) and fuzzy duplicate detection.
type MatchSpec struct {
	// AutoMerge is the score from which two records are merged; default
	// 0.85.
	AutoMerge float64 `yaml:"auto_merge"`
	// ReviewFrom is the score from which a pair goes to review; default
	// 0.65.
	ReviewFrom float64 `yaml:"review_from"`
	// DefaultRegion reads phone numbers and postal codes without a
	// country; default US.
	DefaultRegion string `yaml:"default_region"`
	// PlusAddressing folds "a+tag@x" to "a@x" for the email key.
	PlusAddressing bool `yaml:"plus_addressing"`
	// DotInsensitiveDomains are domains where "a.b@" is "ab@".
	DotInsensitiveDomains []string `yaml:"dot_insensitive_domains"`
	// Fields names the entity fields the matcher reads; default the
	// fields called first_name, last_name, name, email, phone, company,
	// city, postal_code and country.
	Fields MatchFields `yaml:"fields"`
}

// MatchFields names the entity fields of each role.
type MatchFields struct {
	FirstName  string `yaml:"first_name"`
	LastName   string `yaml:"last_name"`
	Name       string `yaml:"name"`
	Email      string `yaml:"email"`
	Phone      string `yaml:"phone"`
	Company    string `yaml:"company"`
	City       string `yaml:"city"`
	PostalCode string `yaml:"postal_code"`
	Country    string `yaml:"country"`
}

// Field types.
var fieldKinds = map[string]schemas.Kind{
	"":          schemas.KindString,
	"string":    schemas.KindString,
	"int64":     schemas.KindInt64,
	"float64":   schemas.KindFloat64,
	"numeric":   schemas.KindNumeric,
	"bool":      schemas.KindBool,
	"timestamp": schemas.KindTimestampTZ,
	"json":      schemas.KindJSON,
}

// FieldTypes are the values FieldSpec.Type accepts.
func FieldTypes() []string {
	return []string{"string", "int64", "float64", "numeric", "bool", "timestamp", "json"}
}

// Reserved column names of the entity topic.
const (
	ColID         = "id"
	ColSources    = "_sources"
	ColProvenance = "_provenance"
	ColScore      = "_quality_score"
	ColMergedInto = "_merged_into"
)

// Entity is a compiled Spec.
type Entity struct {
	Spec    Spec
	Sources []Source
	Fields  []string // golden fields, sorted
	kinds   map[string]schemas.Kind
	quality *quality.Entity
	merger  *merge.Merger
	match   match.Config
	roles   MatchFields
	table   *schemas.Table
}

// Source is a compiled SourceSpec.
type Source struct {
	Name  string
	From  string // <source>.<schema>.<table>
	Topic string // change topic, set by the caller (Config.Entities)
	// columns maps entity fields to source columns.
	columns map[string]string
	xrefs   map[string]string
}

// Compile checks and compiles spec. The error names the key (relative to
// the entity, such as "fields.price.policy" or "sources[1].from").
// opts go to quality.CompileEntity (observer, clock).
func Compile(spec Spec, opts ...quality.Option) (*Entity, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if spec.Name == "" {
		bad("name", "required: the entity type, such as contact")
	} else if strings.ContainsAny(spec.Name, ". /") {
		bad("name", "%q: use letters, digits, '_' and '-'", spec.Name)
	}
	if spec.Shards < 0 {
		bad("shards", "must be at least 1, got %d", spec.Shards)
	}
	if len(spec.Fields) == 0 {
		bad("fields", "at least one field is required, for example fields: {email: {}, name: {}}")
	}
	e := &Entity{Spec: spec, kinds: map[string]schemas.Kind{}}
	allFields := slices.Sorted(maps.Keys(spec.Fields))
	for _, n := range allFields {
		f := spec.Fields[n]
		switch n {
		case ColID, ColSources, ColProvenance, ColScore, ColMergedInto:
			bad("fields."+n, "%q is a column syncline writes; name the field differently", n)
			continue
		}
		k, ok := fieldKinds[f.Type]
		if !ok {
			bad("fields."+n+".type", "unknown type %q; use one of %s", f.Type, strings.Join(FieldTypes(), ", "))
			continue
		}
		e.kinds[n] = k
		e.Fields = append(e.Fields, n)
	}
	if len(spec.Sources) == 0 {
		bad("sources", "at least one source stream is required, for example sources: [{from: app.public.customers}]")
	}
	names := map[string]int{}
	froms := map[string]int{}
	var rank []string
	for i, s := range spec.Sources {
		p := fmt.Sprintf("sources[%d]", i)
		parts := strings.Split(s.From, ".")
		if len(parts) != 3 || slices.Contains(parts, "") {
			bad(p+".from", "%q: want <source>.<schema>.<table>, for example app.public.customers", s.From)
			continue
		}
		if j, dup := froms[s.From]; dup {
			bad(p+".from", "%q is listed twice (also sources[%d])", s.From, j)
		}
		froms[s.From] = i
		name := s.Name
		if name == "" {
			name = parts[0]
		}
		if strings.ContainsAny(name, ":@ ") {
			bad(p+".name", "%q: a stream name cannot contain ':', '@' or spaces (it starts the golden record ids)", name)
		}
		if j, dup := names[name]; dup {
			bad(p+".name", "two streams are named %q (also sources[%d]); give each its own name", name, j)
		}
		names[name] = i
		rank = append(rank, name)
		src := Source{Name: name, From: s.From, columns: map[string]string{}, xrefs: s.ExternalIDs}
		if len(s.Fields) == 0 {
			for _, f := range e.Fields {
				src.columns[f] = f
			}
		}
		for f, col := range s.Fields {
			if _, ok := spec.Fields[f]; !ok {
				bad(p+".fields."+f, "%q is not a field of the entity (fields: %s)", f, strings.Join(allFields, ", "))
			}
			if col == "" {
				bad(p+".fields."+f, "empty column name")
			}
			src.columns[f] = col
		}
		for ns, col := range s.ExternalIDs {
			if col == "" {
				bad(p+".external_ids."+ns, "empty column name")
			}
		}
		e.Sources = append(e.Sources, src)
	}
	mc := merge.Config{Sources: rank, Fields: map[string]merge.Field{}, Default: spec.Default, DeleteWhenNoSources: spec.DeleteWhenNoSources}
	for n, f := range spec.Fields {
		mc.Fields[n] = f.Field
	}
	if len(spec.Fields) > 0 && len(rank) > 0 {
		m, err := merge.New(spec.Name, mc)
		if err != nil {
			// "entity contact: fields.balance.policy: unknown policy ..."
			errs = append(errs, keyErrors(err, "", "fields", "merge: ", "entity "+spec.Name+": ")...)
		}
		e.merger = m
	}
	q, err := quality.CompileEntity(spec.Name, spec.Quality, opts...)
	if err != nil {
		errs = append(errs, prefixed("quality.", err))
	}
	e.quality = q
	mcfg := match.DefaultConfig()
	ms := spec.Match
	if ms.AutoMerge != 0 {
		mcfg.AutoMerge = ms.AutoMerge
	}
	if ms.ReviewFrom != 0 {
		mcfg.ReviewFrom = ms.ReviewFrom
	}
	if ms.DefaultRegion != "" {
		mcfg.DefaultRegion = ms.DefaultRegion
	}
	mcfg.PlusAddressing = ms.PlusAddressing
	mcfg.DotInsensitiveDomains = ms.DotInsensitiveDomains
	if err := mcfg.Validate(); err != nil {
		// "invalid match config: auto_merge: must be ..."
		errs = append(errs, keyErrors(err, "match.", "match", match.ErrConfig.Error()+": ")...)
	}
	e.match = mcfg
	e.roles = ms.Fields
	for _, r := range []struct {
		p   *string
		key string
	}{
		{&e.roles.FirstName, "first_name"}, {&e.roles.LastName, "last_name"}, {&e.roles.Name, "name"},
		{&e.roles.Email, "email"}, {&e.roles.Phone, "phone"}, {&e.roles.Company, "company"},
		{&e.roles.City, "city"}, {&e.roles.PostalCode, "postal_code"}, {&e.roles.Country, "country"},
	} {
		if *r.p == "" {
			if _, ok := spec.Fields[r.key]; ok {
				*r.p = r.key
			}
			continue
		}
		if _, ok := spec.Fields[*r.p]; !ok {
			bad("match.fields."+r.key, "%q is not a field of the entity", *r.p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	e.table = goldenTable(e)
	return e, nil
}

// KeyError is a configuration problem of one key of an entity.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// keyErrors turns the lines of a library's config error ("<key>: <msg>"
// after the given prefixes) into KeyErrors under keyPrefix; a line that
// names no key is filed under fallback.
func keyErrors(err error, keyPrefix, fallback string, strip ...string) []error {
	var out []error
	for _, one := range strings.Split(err.Error(), "\n") {
		rest := one
		for _, p := range strip {
			rest = strings.TrimPrefix(rest, p)
		}
		if key, msg, ok := strings.Cut(rest, ": "); ok && !strings.Contains(key, " ") {
			out = append(out, &KeyError{Key: keyPrefix + key, Msg: msg})
		} else {
			out = append(out, &KeyError{Key: fallback, Msg: one})
		}
	}
	return out
}

func prefixed(prefix string, err error) error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *quality.ConfigError
		if errors.As(err, &ce) {
			out = append(out, &KeyError{Key: prefix + ce.Path, Msg: ce.Msg})
			return
		}
		out = append(out, &KeyError{Key: strings.TrimSuffix(prefix, "."), Msg: err.Error()})
	}
	walk(err)
	return errors.Join(out...)
}

// Shards returns the number of shards (at least 1).
func (e *Entity) Shards() int32 { return int32(max(e.Spec.Shards, 1)) }

// Merger is the entity's merge engine.
func (e *Entity) Merger() *merge.Merger { return e.merger }

// Table is the schema of the entity topic's records.
func (e *Entity) Table() *schemas.Table { return e.table }

func goldenTable(e *Entity) *schemas.Table {
	t := &schemas.Table{System: "syncline", Source: "entity", Schema: "entity", Name: e.Spec.Name}
	t.Columns = append(t.Columns, schemas.Column{Name: ColID, PGType: "text", Kind: schemas.KindString, Key: true})
	for _, f := range e.Fields {
		k := e.kinds[f]
		t.Columns = append(t.Columns, schemas.Column{Name: f, PGType: pgType(k), Kind: k})
	}
	t.Columns = append(t.Columns,
		schemas.Column{Name: ColSources, PGType: "jsonb", Kind: schemas.KindJSON},
		schemas.Column{Name: ColProvenance, PGType: "jsonb", Kind: schemas.KindJSON},
		schemas.Column{Name: ColScore, PGType: "integer", Kind: schemas.KindInt32},
		schemas.Column{Name: ColMergedInto, PGType: "text", Kind: schemas.KindString},
	)
	schemas.SanitizeFields(t.Columns)
	return t
}

func pgType(k schemas.Kind) string {
	switch k {
	case schemas.KindInt64:
		return "bigint"
	case schemas.KindFloat64:
		return "double precision"
	case schemas.KindNumeric:
		return "numeric"
	case schemas.KindBool:
		return "boolean"
	case schemas.KindTimestampTZ:
		return "timestamp with time zone"
	case schemas.KindJSON:
		return "jsonb"
	}
	return "text"
}

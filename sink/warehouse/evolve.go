package warehouse

// Schema evolution of warehouse tables.
//
// Every new schema version of a source table is compared, column by column,
// with the warehouse table (see ensureTable):
//
//   - A new column is added (ALTER TABLE ADD COLUMN).
//   - A column the source dropped stays: existing rows keep their values,
//     rows inserted afterwards have NULL in it, and updates leave it alone.
//   - A renamed column is a new column to the sink: it is added under the
//     new name and filled from then on; the old column stays as a dropped
//     one does.
//   - A widened type (smallint → integer → bigint, real → double precision,
//     integers → numeric or double precision, numeric(p,s) → more digits on
//     either side of the point or unconstrained, varchar(n) → varchar(m > n)
//     or text, char(n) → char(m > n), varchar(m ≥ n) or text,
//     timestamp/time(p) → higher precision, bit varying(n) → longer, the
//     same for arrays of these, and any type but bytea → text) is applied
//     with ALTER TABLE ALTER COLUMN TYPE, which converts the existing rows
//     losslessly (some widenings, e.g. integer → bigint, rewrite the table
//     under an exclusive lock).
//   - A narrowed type within the same family (bigint → integer,
//     varchar(50) → varchar(10), numeric(12,2) → numeric(8,2), text →
//     inet, ...) keeps the wider warehouse column: every new value fits it,
//     and a record of an older schema version arriving after a newer one
//     (partitions interleave) looks exactly like a narrowing, so it must
//     not stop anything.
//   - Anything else (text → integer, timestamp → timestamptz, integer →
//     numeric(5,2), ...) cannot be applied safely: the warehouse column
//     cannot hold the new values and its rows may not convert. That table
//     stops: the sink pauses its topic, applies nothing of it and keeps its
//     stored offsets at the last applied change, reports it in Ready (and
//     so /readyz) and logs an error naming the table, the column, both
//     types and what to do; the other tables keep flowing. Once the column
//     has been fixed by hand the table resumes by itself (checked every
//     recheckStopped) or at the next start.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/schemas"
)

// recheckStopped is how often a stopped table is checked again.
const recheckStopped = 30 * time.Second

// errTableStopped ends a batch in which a table was stopped: nothing of the
// batch was applied, and it is collected again without the stopped table.
var errTableStopped = errors.New("a table was stopped by an incompatible schema change")

// incompatibleError is a column type change the warehouse cannot follow.
type incompatibleError struct {
	table   string // "<schema>.<table>" in the warehouse
	source  string // source table id
	column  string
	oldType string // the warehouse column's type
	newType string // the source's new type
}

func (e *incompatibleError) Error() string {
	col := sqlName(e.column)
	tbl := e.table
	if parts := strings.SplitN(e.table, ".", 2); len(parts) == 2 {
		tbl = sqlName(parts[0]) + "." + sqlName(parts[1])
	}
	return fmt.Sprintf("table %s stopped: column %s of %s changed type to %s, which warehouse column %s (%s) cannot hold, "+
		"and its existing rows may not convert to %s. Nothing of this table is applied past the last change before it; "+
		"the other tables keep flowing. To resume, either convert the column yourself once its values allow it "+
		"(ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s::%s) or move it aside to have the sink add it again with the new type "+
		"(ALTER TABLE %s RENAME COLUMN %s TO %s); the table resumes within %v (or at the next start)",
		e.table, e.column, e.source, e.newType, e.column, e.oldType, e.newType,
		tbl, col, e.newType, col, e.newType,
		tbl, col, sqlName(e.column+"_old"), recheckStopped)
}

var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// sqlName quotes an identifier only when it needs quotes, so messages
// read like the SQL a person would type.
func sqlName(s string) string {
	if plainIdent.MatchString(s) {
		return s
	}
	return pgx.Identifier{s}.Sanitize()
}

// tableStop is a table stopped by an incompatible change.
type tableStop struct {
	err       *incompatibleError
	table     *schemas.Table // the schema version that could not be applied
	lastCheck time.Time
}

// pgType is a parsed format_type() string.
type pgType struct {
	base  string // name without modifiers, e.g. "timestamp without time zone"
	mods  []int  // type modifiers; nil: unconstrained
	array int    // array dimensions
}

var modsRe = regexp.MustCompile(`\(([0-9, ]*)\)`)

func parseType(s string) pgType {
	s = strings.TrimSpace(s)
	var t pgType
	for strings.HasSuffix(s, "[]") {
		t.array++
		s = strings.TrimSpace(strings.TrimSuffix(s, "[]"))
	}
	if strings.Contains(s, `"`) {
		t.base = s // a quoted (user-defined) name: compared as is
		return t
	}
	if m := modsRe.FindStringSubmatchIndex(s); m != nil {
		for _, p := range strings.Split(s[m[2]:m[3]], ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(p)); err == nil {
				t.mods = append(t.mods, n)
			}
		}
		s = s[:m[0]] + s[m[1]:]
	}
	t.base = strings.Join(strings.Fields(s), " ")
	return t
}

func (t pgType) mod(i, def int) int {
	if i < len(t.mods) {
		return t.mods[i]
	}
	return def
}

func (t pgType) elem() pgType { t.array = 0; return t }

var intRank = map[string]int{"smallint": 1, "integer": 2, "bigint": 3}
var intDigits = map[string]int{"smallint": 5, "integer": 10, "bigint": 19}

func isString(b string) bool {
	return b == "text" || b == "character varying" || b == "character"
}

// precision types carry one optional modifier, the fractional digits of
// seconds (6 when absent).
func isPrecision(b string) bool {
	switch b {
	case "timestamp without time zone", "timestamp with time zone", "time without time zone", "time with time zone", "interval":
		return true
	}
	return false
}

// family groups types whose narrowing keeps the wider warehouse column.
func family(t pgType) string {
	b := t.base
	switch {
	case intRank[b] > 0, b == "numeric", b == "real", b == "double precision":
		return "number"
	case isString(b):
		return "string"
	case b == "bit" || b == "bit varying":
		return "bit"
	case b == "date" || b == "timestamp without time zone":
		return "timestamp"
	}
	return b
}

// fits reports whether every value of type from can be stored in a column
// of type to without loss (so ALTER COLUMN from → to converts every row).
func fits(from, to pgType) bool {
	if from.array != to.array {
		// Arrays convert to text (their text form).
		return to.array == 0 && to.base == "text"
	}
	if from.array > 0 {
		return fits(from.elem(), to.elem())
	}
	f, t := from.base, to.base
	if f == t && len(from.mods) == len(to.mods) && fmt.Sprint(from.mods) == fmt.Sprint(to.mods) {
		return true
	}
	if t == "text" {
		return f != "bytea"
	}
	switch {
	case intRank[f] > 0 && intRank[t] > 0:
		return intRank[f] <= intRank[t]
	case intRank[f] > 0 && t == "numeric":
		return to.mods == nil || to.mod(0, 0)-to.mod(1, 0) >= intDigits[f]
	case intRank[f] > 0 && intRank[f] <= 2 && t == "double precision", f == "smallint" && t == "real", f == "real" && t == "double precision":
		return true
	case f == "numeric" && t == "numeric":
		if to.mods == nil {
			return true
		}
		if from.mods == nil {
			return false
		}
		fs, ts := from.mod(1, 0), to.mod(1, 0)
		return ts >= fs && to.mod(0, 0)-ts >= from.mod(0, 0)-fs
	case isString(f) && t == "character varying":
		n := from.mod(0, -1) // -1: unbounded
		if f == "character" && from.mods == nil {
			n = 1
		}
		return to.mods == nil || (f != "text" && n >= 0 && n <= to.mod(0, 0))
	case f == "character" && t == "character":
		return from.mod(0, 1) <= to.mod(0, 1)
	case isPrecision(f) && f == t:
		return from.mod(0, 6) <= to.mod(0, 6)
	case f == "date" && t == "timestamp without time zone":
		return true
	case (f == "bit" || f == "bit varying") && t == "bit varying":
		n := from.mod(0, -1) // -1: unbounded
		if f == "bit" && from.mods == nil {
			n = 1
		}
		return to.mods == nil || (n >= 0 && n <= to.mod(0, 0))
	}
	return false
}

// typeChange says what a column's new source type means for its
// warehouse column.
type typeChange int

const (
	typeSame   typeChange = iota // nothing to do
	typeKeep                     // narrower or older: the warehouse column holds it
	typeWiden                    // ALTER COLUMN TYPE to the new type
	typeBroken                   // cannot be applied safely: stop the table
)

func compareTypes(c schemas.Column, warehouse, source string) typeChange {
	if warehouse == source {
		return typeSame
	}
	w, s := parseType(warehouse), parseType(source)
	if fits(s, w) && (family(s) == family(w) || (w.base == "text" && w.array == 0 && stringKind(c.Kind))) {
		return typeKeep
	}
	if fits(w, s) {
		return typeWiden
	}
	return typeBroken
}

// stringKind: values are not of a fixed binary type (numbers, booleans,
// bytes, dates and times), so the column may have been any string-like
// type before, and a text warehouse column takes them all.
func stringKind(k schemas.Kind) bool {
	switch k {
	case schemas.KindBool, schemas.KindInt32, schemas.KindInt64, schemas.KindFloat32, schemas.KindFloat64,
		schemas.KindDecimal, schemas.KindBytes, schemas.KindDate, schemas.KindTimestamp, schemas.KindTimestampTZ, schemas.KindTime:
		return false
	}
	return true
}

// evolveColumns compares the columns of t (with their warehouse types
// types) with the existing columns of the warehouse table (full types,
// with modifiers) and returns the ALTER statements that widen columns, or
// an *incompatibleError for the first column that cannot follow.
//
// Only a change of the source type is followed: recorded holds the source
// type each column was last created, added or altered for. A column
// without one (a table made by hand, or before syncline recorded types) is
// adopted as it is; a column whose source type did not change is left as
// it is, whatever its warehouse type (a narrower varchar made on purpose
// stays). The source types to record are added to record.
func (s *Sink) evolveColumns(tgt *target, t *schemas.Table, types []string, full, recorded, record map[string]string) ([]string, []string, error) {
	var stmts, widened []string
	for i, c := range t.Columns {
		cur, ok := full[c.Name]
		if !ok {
			continue // added by ensureTable
		}
		was, known := recorded[c.Name]
		if !known {
			record[c.Name] = types[i]
			continue
		}
		if was == types[i] {
			continue
		}
		switch compareTypes(c, cur, types[i]) {
		case typeSame:
			record[c.Name] = types[i]
		case typeWiden:
			stmts = append(stmts, "ALTER TABLE "+tgt.ident+" ALTER COLUMN "+quoteIdent(c.Name)+" TYPE "+types[i])
			widened = append(widened, fmt.Sprintf("%s: %s -> %s", c.Name, cur, types[i]))
			record[c.Name] = types[i]
		case typeBroken:
			return nil, nil, &incompatibleError{table: s.cfg.Schema + "." + tgt.name, source: t.ID(), column: c.Name, oldType: cur, newType: types[i]}
		}
	}
	return stmts, widened, nil
}

// columnsName is the table that records, per warehouse table and column,
// the source type the sink last created, added or altered the column for.
const columnsName = "_syncline_columns"

// loadSourceTypes returns the recorded source types of tgt's columns
// (empty when nothing was recorded yet).
func (s *Sink) loadSourceTypes(ctx context.Context, conn *pgx.Conn, tgt *target) (map[string]string, error) {
	ident := quoteIdent(s.cfg.Schema, columnsName)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", ident).Scan(&exists); err != nil {
		return nil, fmt.Errorf("read %s: %w", ident, err)
	}
	out := map[string]string{}
	if !exists {
		return out, nil
	}
	rows, err := conn.Query(ctx, "SELECT column_name, source_type FROM "+ident+" WHERE table_name = $1", tgt.name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ident, err)
	}
	for rows.Next() {
		var c, typ string
		if err := rows.Scan(&c, &typ); err != nil {
			return nil, err
		}
		out[c] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", ident, err)
	}
	return out, nil
}

// recordSourceTypes stores the source types of columns of tgt, in the
// transaction of the DDL that made the columns so.
func (s *Sink) recordSourceTypes(ctx context.Context, tx pgx.Tx, tgt *target, types map[string]string) error {
	if len(types) == 0 {
		return nil
	}
	ident := quoteIdent(s.cfg.Schema, columnsName)
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+ident+` (
	table_name text NOT NULL,
	column_name text NOT NULL,
	source_type text NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (table_name, column_name)
)`); err != nil {
		return fmt.Errorf("create %s: %w", ident, err)
	}
	var cols, typs []string
	for c, typ := range types {
		cols, typs = append(cols, c), append(typs, typ)
	}
	_, err := tx.Exec(ctx, "INSERT INTO "+ident+` (table_name, column_name, source_type, updated_at)
SELECT $1, u.c, u.t, now() FROM unnest($2::text[], $3::text[]) AS u(c, t)
ON CONFLICT (table_name, column_name) DO UPDATE SET source_type = EXCLUDED.source_type, updated_at = EXCLUDED.updated_at`,
		tgt.name, cols, typs)
	if err != nil {
		return fmt.Errorf("record source types in %s: %w", ident, err)
	}
	return nil
}

// loadFullTypes returns the columns of table ident with their full types
// (format_type with the modifier), nil if the table does not exist.
func loadFullTypes(ctx context.Context, conn *pgx.Conn, ident string) (map[string]string, error) {
	rows, err := conn.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, ident)
	if err != nil {
		return nil, fmt.Errorf("read column types of %s: %w", ident, err)
	}
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		out[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read column types of %s: %w", ident, err)
	}
	return out, nil
}

// stopTable stops tgt: its topic is paused and its records are left
// unapplied until the column is fixed.
func (s *Sink) stopTable(tgt *target, t *schemas.Table, ie *incompatibleError) {
	s.stopMu.Lock()
	s.stopped[tgt] = &tableStop{err: ie, table: t, lastCheck: time.Now()}
	s.stopMu.Unlock()
	if s.cl != nil {
		s.cl.PauseFetchTopics(tgt.topic)
	}
	s.m.SinkErrors.WithLabelValues(s.cfg.Name, "permanent").Inc()
	s.log.Error("warehouse table stopped by a schema change it cannot apply safely; the other tables keep flowing",
		"table", ie.table, "column", ie.column, "old_type", ie.oldType, "new_type", ie.newType, "topic", tgt.topic, "err", ie.Error())
}

func (s *Sink) isStopped(tgt *target) bool {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	_, ok := s.stopped[tgt]
	return ok
}

func (s *Sink) anyStopped() bool {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	return len(s.stopped) > 0
}

// withoutStopped drops the records of stopped tables (buffered before
// their topic was paused). Their offsets are not stored, so they are read
// again when the table resumes.
func (s *Sink) withoutStopped(recs []*kgo.Record) []*kgo.Record {
	if !s.anyStopped() {
		return recs
	}
	out := recs[:0:0]
	for _, r := range recs {
		if tgt := s.byTopic[r.Topic]; tgt == nil || !s.isStopped(tgt) {
			out = append(out, r)
		}
	}
	return out
}

// NotReadyDetail says why the sink is not ready: the tables it stopped and
// what to do about them ("" when none).
func (s *Sink) NotReadyDetail() string {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	var out []string
	for _, st := range s.stopped {
		out = append(out, fmt.Sprintf("table %s stopped: column %s changed type from %s to %s (see the log for what to do)",
			st.err.table, st.err.column, st.err.oldType, st.err.newType))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// recheckStoppedTables checks stopped tables again (at most every
// s.recheckEvery) and resumes those whose warehouse columns now take the
// new types. It reports whether one resumed: the caller re-seeks to the
// stored offsets, since records of the table may have been dropped after
// their fetch.
func (s *Sink) recheckStoppedTables(ctx context.Context) bool {
	s.stopMu.Lock()
	var due []*target
	now := time.Now()
	for tgt, st := range s.stopped {
		if now.Sub(st.lastCheck) >= s.recheckEvery {
			st.lastCheck = now
			due = append(due, tgt)
		}
	}
	s.stopMu.Unlock()
	if len(due) == 0 {
		return false
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), applyTimeout)
	defer cancel()
	if err := s.connect(actx); err != nil {
		s.log.Warn("cannot check stopped tables", "err", err)
		return false
	}
	resumed := false
	for _, tgt := range due {
		s.stopMu.Lock()
		st := s.stopped[tgt]
		s.stopMu.Unlock()
		tgt.forget()
		err := s.ensureTable(actx, s.conn, tgt, st.table)
		var ie *incompatibleError
		switch {
		case err == nil:
			s.stopMu.Lock()
			delete(s.stopped, tgt)
			s.stopMu.Unlock()
			s.cl.ResumeFetchTopics(tgt.topic)
			s.log.Info("warehouse table resumed: its columns take the new schema", "table", s.cfg.Schema+"."+tgt.name)
			resumed = true
		case errors.As(err, &ie):
			s.stopMu.Lock()
			st.err = ie
			s.stopMu.Unlock()
			s.log.Error("warehouse table still stopped", "table", ie.table, "column", ie.column, "old_type", ie.oldType, "new_type", ie.newType, "err", ie.Error())
		default:
			s.log.Warn("cannot check stopped table", "table", s.cfg.Schema+"."+tgt.name, "err", err)
		}
	}
	return resumed
}

package reconcile

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Columns the warehouse sink adds to every target table; never compared.
const (
	colPosition = "_syncline_position"
	colOp       = "_syncline_op"
	colSyncedAt = "_syncline_synced_at"
	colDeleted  = "_syncline_deleted"
)

func isMeta(name string) bool {
	switch name {
	case colPosition, colOp, colSyncedAt, colDeleted:
		return true
	}
	return false
}

// Table is one source table and the warehouse table a sink delivers it to.
type Table struct {
	Source       string // configured source name
	SourceDSN    string
	SourceSchema string
	SourceTable  string
	// Keys overrides the source's primary key (the source's configured
	// keys); empty: the primary key.
	Keys       []string
	SinkDSN    string
	SinkSchema string
	SinkTable  string
}

// Name is "source.schema.table", the table's id in syncline.
func (t Table) Name() string { return t.Source + "." + t.SourceSchema + "." + t.SourceTable }

// column is a compared column: its cast on each side and the type both
// sides render it in.
type column struct {
	name string
	key  bool
	// common is the type both sides' values are cast to before they are
	// rendered as text for hashing and key reports: the source's type, so
	// a widened warehouse column hashes like the source's value.
	common string
	// srcType and sinkType are each side's own base type, for casting
	// range bounds and key parameters (text) to the column's type so that
	// the primary key's index serves the range predicates.
	srcType, sinkType string
	collatable        bool // order by COLLATE "C", the same on both sides
	sinkMissing       bool
}

// layout is what the comparison of one table needs to know.
type layout struct {
	tbl      Table
	cols     []column // compared columns, source order
	keys     []column // key columns, key order
	skipped  []string // source columns the warehouse lacks: not compared
	softDel  bool     // the warehouse has _syncline_deleted
	srcIdent string
	snkIdent string
}

type colInfo struct {
	typ        string // format_type with modifier
	base       string // base type for casting text parameters
	collatable bool
	generated  bool
}

// loadColumns reads a table's columns; nil when the table does not exist.
func loadColumns(ctx context.Context, conn *pgx.Conn, ident string) (map[string]colInfo, []string, error) {
	rows, err := conn.Query(ctx, `
SELECT a.attname, format_type(a.atttypid, a.atttypmod),
	CASE a.atttypid
		WHEN 'bpchar'::regtype THEN 'text'
		WHEN '_bpchar'::regtype THEN 'text[]'
		WHEN 'bit'::regtype THEN 'bit varying'
		WHEN '_bit'::regtype THEN 'bit varying[]'
		ELSE format_type(a.atttypid, NULL)
	END,
	t.typcollation <> 0, a.attgenerated <> ''
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`, ident)
	if err != nil {
		return nil, nil, fmt.Errorf("read columns of %s: %w", ident, err)
	}
	var order []string
	out := map[string]colInfo{}
	for rows.Next() {
		var name string
		var ci colInfo
		if err := rows.Scan(&name, &ci.typ, &ci.base, &ci.collatable, &ci.generated); err != nil {
			return nil, nil, err
		}
		out[name] = ci
		order = append(order, name)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read columns of %s: %w", ident, err)
	}
	if len(order) == 0 {
		return nil, nil, nil
	}
	return out, order, nil
}

func primaryKey(ctx context.Context, conn *pgx.Conn, ident string) ([]string, error) {
	rows, err := conn.Query(ctx, `
SELECT a.attname FROM pg_index i
JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY k.ord`, ident)
	if err != nil {
		return nil, fmt.Errorf("primary key of %s: %w", ident, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// commonType is the type a column's values are rendered in on both sides.
func commonType(src colInfo, sinkHasType bool) string {
	switch {
	case !sinkHasType:
		// A type only the source knows (an enum): the sink stores its
		// text.
		return "text"
	case src.base == "money":
		return "numeric" // money's text depends on lc_monetary
	case src.base == "money[]":
		return "numeric[]"
	case src.base == "text" || src.base == "text[]" || strings.HasPrefix(src.base, "character varying") || strings.HasPrefix(src.base, "bit varying"):
		// Unbounded: a cast to varchar(n) would truncate silently.
		return src.base
	}
	return src.typ
}

// loadLayout reads both tables' columns and decides what to compare.
func loadLayout(ctx context.Context, srcConn, snkConn *pgx.Conn, t Table) (*layout, error) {
	l := &layout{tbl: t, srcIdent: pgx.Identifier{t.SourceSchema, t.SourceTable}.Sanitize(), snkIdent: pgx.Identifier{t.SinkSchema, t.SinkTable}.Sanitize()}
	srcCols, srcOrder, err := loadColumns(ctx, srcConn, l.srcIdent)
	if err != nil {
		return nil, fmt.Errorf("source table %s: %w", t.Name(), err)
	}
	if srcCols == nil {
		return nil, fmt.Errorf("source table %s.%s does not exist in source %s", t.SourceSchema, t.SourceTable, t.Source)
	}
	snkCols, _, err := loadColumns(ctx, snkConn, l.snkIdent)
	if err != nil {
		return nil, fmt.Errorf("warehouse table %s.%s: %w", t.SinkSchema, t.SinkTable, err)
	}
	if snkCols == nil {
		return nil, fmt.Errorf("warehouse table %s.%s does not exist (has the sink delivered %s yet?)", t.SinkSchema, t.SinkTable, t.Name())
	}
	_, l.softDel = snkCols[colDeleted]
	keys := t.Keys
	if len(keys) == 0 {
		if keys, err = primaryKey(ctx, srcConn, l.srcIdent); err != nil {
			return nil, err
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("source table %s has no primary key and no configured keys (sources[].keys): rows cannot be matched by key", t.Name())
	}
	isKey := map[string]bool{}
	for _, k := range keys {
		isKey[k] = true
	}
	byName := map[string]column{}
	for _, name := range srcOrder {
		sc := srcCols[name]
		if sc.generated || isMeta(name) {
			continue
		}
		wc, ok := snkCols[name]
		if !ok {
			if isKey[name] {
				return nil, fmt.Errorf("warehouse table %s.%s lacks key column %q", t.SinkSchema, t.SinkTable, name)
			}
			l.skipped = append(l.skipped, name)
			continue
		}
		var known bool
		if err := snkConn.QueryRow(ctx, "SELECT to_regtype($1) IS NOT NULL", sc.typ).Scan(&known); err != nil {
			known = false
		}
		c := column{name: name, key: isKey[name], common: commonType(sc, known), srcType: sc.base, sinkType: wc.base,
			collatable: sc.collatable || wc.collatable}
		if !known {
			c.srcType = "text"
		}
		l.cols = append(l.cols, c)
		byName[name] = c
	}
	for _, k := range keys {
		c, ok := byName[k]
		if !ok {
			return nil, fmt.Errorf("source table %s has no key column %q", t.Name(), k)
		}
		l.keys = append(l.keys, c)
	}
	return l, nil
}

// side is one end of a comparison: the SQL fragments that read it.
type side struct {
	name   string // "source" or "warehouse"
	ident  string
	filter string // extra condition (soft deletes), "" for none
	cols   []column
	keys   []column
	sink   bool
}

func (l *layout) source() *side {
	return &side{name: "source", ident: l.srcIdent, cols: l.cols, keys: l.keys}
}

func (l *layout) sink() *side {
	s := &side{name: "warehouse", ident: l.snkIdent, cols: l.cols, keys: l.keys, sink: true}
	if l.softDel {
		s.filter = "NOT " + pgx.Identifier{colDeleted}.Sanitize()
	}
	return s
}

// ownType is the side's own base type of c, for casting text parameters.
func (s *side) ownType(c column) string {
	if s.sink {
		return c.sinkType
	}
	return c.srcType
}

// common renders column c cast to its common type.
func (s *side) common(c column) string {
	return pgx.Identifier{c.name}.Sanitize() + "::" + c.common
}

// hashExpr is a 64-bit hash of the row's common-type text rendering (the
// row constructor's text: NULL and the empty string differ, values are
// quoted).
// hashtextextended is the hash behind hash partitioning, so it is stable
// across servers and versions; over the bytes (COLLATE "C") it does not
// depend on collations. It is about twice as fast as md5.
func (s *side) hashExpr() string {
	var parts []string
	for _, c := range s.cols {
		parts = append(parts, s.common(c))
	}
	return `hashtextextended((ROW(` + strings.Join(parts, ", ") + `)::text) COLLATE "C", 0)`
}

// keyTexts are the key columns rendered as text of their common type.
func (s *side) keyTexts() []string {
	var parts []string
	for _, c := range s.keys {
		parts = append(parts, "("+s.common(c)+")::text")
	}
	return parts
}

// keyText lists the key columns rendered as text of their common type.
func (s *side) keyText() string { return strings.Join(s.keyTexts(), ", ") }

// keyRow is the row of key columns as compared and ordered: each side's
// own column (so the index serves), text-like ones under COLLATE "C" so
// both databases order keys alike.
func (s *side) keyRow() string { return s.keyPrefix(len(s.keys)) }

// keyPrefix is the row of the first n key columns (see keyRow).
func (s *side) keyPrefix(n int) string {
	var parts []string
	for _, c := range s.keys[:n] {
		q := pgx.Identifier{c.name}.Sanitize()
		if c.collatable {
			q += ` COLLATE "C"`
		}
		parts = append(parts, q)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func (s *side) orderBy() string {
	return strings.TrimSuffix(strings.TrimPrefix(s.keyRow(), "("), ")")
}

// bound renders a row of parameters cast to the key columns' own types;
// key may be a prefix of the key columns.
func (s *side) bound(args *[]any, key []string) string {
	var parts []string
	for i, c := range s.keys[:len(key)] {
		*args = append(*args, key[i])
		parts = append(parts, fmt.Sprintf("$%d::text::%s", len(*args), s.ownType(c)))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// where renders the condition of a key range [lo, hi) (nil: unbounded; a
// bound shorter than the key bounds the key's prefix).
func (s *side) where(args *[]any, r keyRange) string {
	conds := []string{"true"}
	if r.lo != nil {
		conds = append(conds, s.keyPrefix(len(r.lo))+" >= "+s.bound(args, r.lo))
	}
	if r.hi != nil {
		conds = append(conds, s.keyPrefix(len(r.hi))+" < "+s.bound(args, r.hi))
	}
	if s.filter != "" {
		conds = append(conds, s.filter)
	}
	return strings.Join(conds, " AND ")
}

// keyJoin renders a join of the table with key lists passed as one text[]
// parameter per key column.
func (s *side) keyJoin(args *[]any, keys [][]string) string {
	var params, alias, conds []string
	for i, c := range s.keys {
		vals := make([]string, len(keys))
		for j, k := range keys {
			vals[j] = k[i]
		}
		*args = append(*args, vals)
		params = append(params, fmt.Sprintf("$%d::text[]", len(*args)))
		alias = append(alias, fmt.Sprintf("__syncline_k%d", i))
		conds = append(conds, fmt.Sprintf("t.%s = u.__syncline_k%d::%s", pgx.Identifier{c.name}.Sanitize(), i, s.ownType(c)))
	}
	q := s.ident + " AS t JOIN unnest(" + strings.Join(params, ", ") + ") AS u(" + strings.Join(alias, ", ") + ") ON " + strings.Join(conds, " AND ")
	if s.filter != "" {
		q += " WHERE " + s.filter
	}
	return q
}

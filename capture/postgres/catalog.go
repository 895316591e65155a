package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"syncline/schemas"
)

// TableName is a schema-qualified table name, unquoted.
type TableName struct{ Schema, Name string }

func (t TableName) String() string { return t.Schema + "." + t.Name }

// Quoted returns the name quoted for SQL.
func (t TableName) Quoted() string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

// relInfo is what the catalog says about a captured table.
type relInfo struct {
	OID      uint32
	Name     TableName
	Kind     byte     // relkind: r (table) or p (partitioned table)
	Identity byte     // relreplident: d, n, f, i
	Keys     []string // key columns: configured, else the primary key (or replica identity index), in index order
	// Configured is set when Keys come from the configuration.
	Configured bool
}

// lookupTable resolves a configured table and its key. keys, when set,
// overrides the primary key; columns outside the replica identity need
// REPLICA IDENTITY FULL, since deletes would not carry them.
func lookupTable(ctx context.Context, conn *pgx.Conn, t TableName, keys []string) (*relInfo, error) {
	ri := &relInfo{Name: t}
	var ident, kind string
	err := conn.QueryRow(ctx, `
		SELECT c.oid, c.relreplident::text, c.relkind::text
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, t.Schema, t.Name).Scan(&ri.OID, &ident, &kind)
	if err == pgx.ErrNoRows {
		return nil, fmt.Errorf("table %s does not exist (or is not a table); check sources[].tables (a renamed table must be listed under its new name)", t)
	}
	if err != nil {
		return nil, fmt.Errorf("look up table %s: %w", t, err)
	}
	ri.Identity, ri.Kind = ident[0], kind[0]
	// The replica identity's columns: what Postgres sends for the old row
	// of updates and deletes (the identity index, else the primary key).
	rows, err := conn.Query(ctx, `
		SELECT a.attname
		FROM pg_index i
		JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND CASE WHEN $2 = 'i' THEN i.indisreplident ELSE i.indisprimary END
		ORDER BY k.ord`, ri.OID, ident)
	if err != nil {
		return nil, fmt.Errorf("key columns of %s: %w", t, err)
	}
	ri.Keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("key columns of %s: %w", t, err)
	}
	if len(keys) == 0 {
		return ri, nil
	}
	var missing []string
	if err := conn.QueryRow(ctx, `
		SELECT coalesce(array_agg(k), '{}') FROM unnest($2::text[]) k
		WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = $1 AND a.attname = k AND a.attnum > 0 AND NOT a.attisdropped)`,
		ri.OID, keys).Scan(&missing); err != nil {
		return nil, fmt.Errorf("key columns of %s: %w", t, err)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("keys of %s: no column %s in the table", t, strings.Join(missing, ", "))
	}
	if ri.Identity != 'f' {
		for _, k := range keys {
			if !slices.Contains(ri.Keys, k) {
				return nil, fmt.Errorf("keys of %s: column %q is not part of the table's replica identity, so deletes and key changes would not carry it; run ALTER TABLE %s REPLICA IDENTITY FULL, or choose key columns from the primary key", t, k, t.Quoted())
			}
		}
	}
	ri.Keys, ri.Configured = keys, true
	return ri, nil
}

// column is a captured column as the stream or the catalog describes it.
type column struct {
	Name   string
	OID    uint32
	TypMod int32
}

// snapshotColumns lists the columns pgoutput sends (not dropped, not
// generated), in attribute order.
func snapshotColumns(ctx context.Context, conn *pgx.Conn, oid uint32) ([]column, error) {
	rows, err := conn.Query(ctx, `
		SELECT attname, atttypid, atttypmod FROM pg_attribute
		WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
		ORDER BY attnum`, oid)
	if err != nil {
		return nil, err
	}
	var out []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.Name, &c.OID, &c.TypMod); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// typeNames resolves format_type for the columns' (oid, typmod) pairs, and
// the base type (domains resolved) and array element type of each.
type typeNames struct {
	cache map[[2]int64]string
	bases map[[2]int64]baseType
}

// baseType is what a column's type is made of once domains are resolved.
type baseType struct {
	OID        uint32
	TypMod     int32
	Elem       uint32 // element type of an array (domains resolved), else 0
	ElemTypMod int32
	Delim      byte // the element type's array delimiter
}

// maxDomainDepth bounds the walk down a chain of domains.
const maxDomainDepth = 32

// domainBase follows oid through its domains to the base type. A domain's
// modifier (numeric(10,2) in CREATE DOMAIN d AS numeric(10,2)) applies when
// the column has none (columns of a domain type never do).
func domainBase(ctx context.Context, conn *pgx.Conn, oid uint32, typmod int32) (base uint32, mod int32, elem uint32, delim byte, err error) {
	for range maxDomainDepth {
		var typtype, d string
		var baseOID, elemOID uint32
		var baseMod int32
		var isArray bool
		err = conn.QueryRow(ctx, `
			SELECT t.typtype::text, t.typbasetype, t.typtypmod, t.typelem,
				coalesce(e.typarray = t.oid, false), coalesce(e.typdelim::text, ',')
			FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem
			WHERE t.oid = $1`, oid).Scan(&typtype, &baseOID, &baseMod, &elemOID, &isArray, &d)
		if err == pgx.ErrNoRows {
			return 0, 0, 0, 0, fmt.Errorf("type %d does not exist", oid)
		}
		if err != nil {
			return 0, 0, 0, 0, fmt.Errorf("type %d: %w", oid, err)
		}
		if typtype != "d" {
			if !isArray {
				elemOID = 0
			}
			if len(d) != 1 {
				d = ","
			}
			return oid, typmod, elemOID, d[0], nil
		}
		if typmod == -1 {
			typmod = baseMod
		}
		oid = baseOID
	}
	return 0, 0, 0, 0, fmt.Errorf("type %d: domains nested deeper than %d", oid, maxDomainDepth)
}

// base resolves a column type to its base type and, for arrays, the
// element's base type.
func (tn *typeNames) base(ctx context.Context, conn *pgx.Conn, oid uint32, typmod int32) (baseType, error) {
	k := [2]int64{int64(oid), int64(typmod)}
	if b, ok := tn.bases[k]; ok {
		return b, nil
	}
	var b baseType
	var err error
	if b.OID, b.TypMod, b.Elem, b.Delim, err = domainBase(ctx, conn, oid, typmod); err != nil {
		return b, err
	}
	if b.Elem != 0 {
		// An array's modifier applies to its elements (numeric(10,2)[]);
		// an array of a domain takes the domain's.
		if b.Elem, b.ElemTypMod, _, _, err = domainBase(ctx, conn, b.Elem, b.TypMod); err != nil {
			return b, err
		}
	}
	if tn.bases == nil {
		tn.bases = map[[2]int64]baseType{}
	}
	tn.bases[k] = b
	return b, nil
}

func (tn *typeNames) name(ctx context.Context, conn *pgx.Conn, oid uint32, typmod int32) (string, error) {
	k := [2]int64{int64(oid), int64(typmod)}
	if s, ok := tn.cache[k]; ok {
		return s, nil
	}
	var s string
	if err := conn.QueryRow(ctx, `SELECT format_type($1, NULLIF($2, -1))`, oid, typmod).Scan(&s); err != nil {
		return "", fmt.Errorf("format_type(%d, %d): %w", oid, typmod, err)
	}
	if tn.cache == nil {
		tn.cache = map[[2]int64]string{}
	}
	tn.cache[k] = s
	return s, nil
}

// buildTable makes the schemas.Table of a captured table. Keys come from the
// primary key (or replica identity index); a table with neither is keyed by
// the whole row, which only REPLICA IDENTITY FULL can capture updates for.
// A column's kind comes from its base type (domains resolved; pgoutput
// sends the domain's OID), its PGType is the declared type.
func buildTable(ctx context.Context, conn *pgx.Conn, tn *typeNames, src, db string, ri *relInfo, cols []column) (*schemas.Table, error) {
	keys := map[string]bool{}
	for _, k := range ri.Keys {
		keys[k] = true
	}
	t := &schemas.Table{System: "postgres", Source: src, DB: db, Schema: ri.Name.Schema, Name: ri.Name.Name}
	for _, c := range cols {
		pgType, err := tn.name(ctx, conn, c.OID, c.TypMod)
		if err != nil {
			return nil, err
		}
		bt, err := tn.base(ctx, conn, c.OID, c.TypMod)
		if err != nil {
			return nil, fmt.Errorf("column %q of %s: %w", c.Name, ri.Name, err)
		}
		col := schemas.Column{Name: c.Name, PGType: pgType, Key: keys[c.Name] || len(keys) == 0}
		col.SetType(bt.OID, bt.TypMod, bt.Elem, bt.ElemTypMod, bt.Delim)
		t.Columns = append(t.Columns, col)
	}
	schemas.SanitizeFields(t.Columns)
	return t, nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

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

// typeNames resolves format_type for the columns' (oid, typmod) pairs.
type typeNames struct {
	cache map[[2]int64]string
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
		col := schemas.Column{Name: c.Name, PGType: pgType, Kind: schemas.KindForType(c.OID, c.TypMod), Key: keys[c.Name] || len(keys) == 0}
		if col.Kind == schemas.KindDecimal {
			col.Precision, col.Scale = schemas.NumericPrecisionScale(c.TypMod)
		}
		t.Columns = append(t.Columns, col)
	}
	schemas.SanitizeFields(t.Columns)
	return t, nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

package warehouse

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"syncline/schemas"
)

// Metadata columns every target table carries.
const (
	colPosition = "_syncline_position"
	colOp       = "_syncline_op"
	colSyncedAt = "_syncline_synced_at"
	colDeleted  = "_syncline_deleted"
	offsetsName = "_syncline_offsets"
)

// kindType is the warehouse type of a column whose source type is unknown
// (SaaS sources) or does not exist in the warehouse (user-defined types).
func kindType(c schemas.Column) string {
	switch c.Kind {
	case schemas.KindBool:
		return "boolean"
	case schemas.KindInt32:
		return "integer"
	case schemas.KindInt64:
		return "bigint"
	case schemas.KindFloat32:
		return "real"
	case schemas.KindFloat64:
		return "double precision"
	case schemas.KindDecimal:
		if c.Precision > 0 {
			return fmt.Sprintf("numeric(%d,%d)", c.Precision, c.Scale)
		}
		return "numeric"
	case schemas.KindNumeric:
		return "numeric"
	case schemas.KindMoney:
		return "money"
	case schemas.KindBytes:
		return "bytea"
	case schemas.KindDate:
		return "date"
	case schemas.KindTimestamp:
		return "timestamp without time zone"
	case schemas.KindTimestampTZ:
		return "timestamp with time zone"
	case schemas.KindTime:
		return "time without time zone"
	case schemas.KindUUID:
		return "uuid"
	case schemas.KindJSON:
		return "jsonb"
	case schemas.KindXML:
		return "xml"
	case schemas.KindInterval:
		return "interval"
	case schemas.KindArray:
		// A one-dimensional array literal casts to any number of
		// dimensions; the array types carry no dimension count.
		return kindType(c.Elem()) + "[]"
	default:
		return "text"
	}
}

// ensureOffsetsTable creates <schema>._syncline_offsets.
func (s *Sink) ensureOffsetsTable(ctx context.Context, conn *pgx.Conn) error {
	// The statements run as one implicit transaction, so the lock is held
	// until both are done.
	sql := s.ddlLockSQL() + ";\n" +
		"CREATE SCHEMA IF NOT EXISTS " + quoteIdent(s.cfg.Schema) + ";\n" +
		"CREATE TABLE IF NOT EXISTS " + s.offsetsIdent + ` (
	sink text NOT NULL,
	topic text NOT NULL,
	partition int NOT NULL,
	next_offset bigint NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (sink, topic, partition)
)` + s.auditDDL()
	// Simple protocol: several statements in one round trip.
	_, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return ddlError(fmt.Errorf("create %s: %w", s.offsetsIdent, err))
	}
	return nil
}

// ddlLockSQL takes a transaction-scoped advisory lock that serializes
// syncline's DDL on the warehouse schema across sink processes. Without it,
// two processes creating the same table at once can both pass IF NOT EXISTS
// and one fails on the catalog ("type ... already exists"); under the lock
// the second sees the first's committed table and its IF NOT EXISTS holds.
func (s *Sink) ddlLockSQL() string {
	h := fnv.New64a()
	h.Write([]byte("syncline.warehouse.ddl\x00" + s.cfg.Schema))
	return fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", int64(h.Sum64()))
}

// ddlError classifies a DDL failure: concurrent CREATE ... IF NOT EXISTS in
// two processes can fail with a unique violation on the catalog, which a
// retry resolves, so only access and syntax problems are fatal.
func ddlError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && classify(err) == classFatal {
		return fatalError{err}
	}
	return err
}

// ensureTable makes sure tgt exists with every column of t (first sight of
// a schema version only) and loads the column types the casts use.
func (s *Sink) ensureTable(ctx context.Context, conn *pgx.Conn, tgt *target, t *schemas.Table) error {
	sig := tableSignature(t)
	if tgt.ensured[sig] && tgt.types != nil {
		return nil
	}
	existing, err := loadColumns(ctx, conn, tgt.ident)
	if err != nil {
		return err
	}
	types := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		if types[i], err = resolveType(ctx, conn, c); err != nil {
			return err
		}
	}
	var stmts []string
	if existing == nil {
		var defs, keys []string
		for i, c := range t.Columns {
			d := quoteIdent(c.Name) + " " + types[i]
			if c.Key {
				d += " NOT NULL"
				keys = append(keys, quoteIdent(c.Name))
			}
			defs = append(defs, d)
		}
		defs = append(defs,
			quoteIdent(colPosition)+" text NOT NULL",
			quoteIdent(colOp)+" text NOT NULL",
			quoteIdent(colSyncedAt)+" timestamptz NOT NULL")
		if s.cfg.SoftDelete {
			defs = append(defs, quoteIdent(colDeleted)+" boolean NOT NULL DEFAULT false")
		}
		defs = append(defs, "PRIMARY KEY ("+strings.Join(keys, ", ")+")")
		stmts = append(stmts,
			"CREATE SCHEMA IF NOT EXISTS "+quoteIdent(s.cfg.Schema),
			"CREATE TABLE IF NOT EXISTS "+tgt.ident+" (\n\t"+strings.Join(defs, ",\n\t")+"\n)")
		s.log.Info("creating warehouse table", "table", s.cfg.Schema+"."+tgt.name, "source", tgt.ref.String())
	}
	// Columns whose type changed: widened in place, or the table stops
	// (see evolve.go). Checked before any DDL, so a stopped table is left
	// as it was.
	var widened []string
	record := map[string]string{} // column -> source type, kept in _syncline_columns
	if existing != nil {
		full, err := loadFullTypes(ctx, conn, tgt.ident)
		if err != nil {
			return err
		}
		recorded, err := s.loadSourceTypes(ctx, conn, tgt)
		if err != nil {
			return err
		}
		var alters []string
		if alters, widened, err = s.evolveColumns(tgt, t, types, full, recorded, record); err != nil {
			return err
		}
		stmts = append(stmts, alters...)
	}
	for i, c := range t.Columns {
		if _, ok := existing[c.Name]; !ok {
			record[c.Name] = types[i] // created or added now
		}
	}
	if len(widened) > 0 {
		s.log.Info("widening warehouse columns", "table", s.cfg.Schema+"."+tgt.name, "columns", widened)
	}
	// Columns the table lacks: new in this schema version, or the table
	// was created by an earlier version or by hand. IF NOT EXISTS keeps a
	// concurrent sink process adding the same column harmless.
	var added []string
	add := func(name, def string) {
		if existing == nil {
			return
		}
		if _, ok := existing[name]; ok {
			return
		}
		added = append(added, name)
		stmts = append(stmts, "ALTER TABLE "+tgt.ident+" ADD COLUMN IF NOT EXISTS "+quoteIdent(name)+" "+def)
	}
	for i, c := range t.Columns {
		add(c.Name, types[i])
	}
	add(colPosition, "text NOT NULL DEFAULT ''")
	add(colOp, "text NOT NULL DEFAULT ''")
	add(colSyncedAt, "timestamptz NOT NULL DEFAULT now()")
	if s.cfg.SoftDelete {
		add(colDeleted, "boolean NOT NULL DEFAULT false")
	}
	if len(added) > 0 {
		s.log.Info("adding columns to warehouse table", "table", s.cfg.Schema+"."+tgt.name, "columns", added)
	}
	if len(stmts) > 0 || len(record) > 0 {
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, s.ddlLockSQL()); err != nil {
				return fmt.Errorf("lock the warehouse schema for DDL: %w", err)
			}
			for _, st := range stmts {
				if _, err := tx.Exec(ctx, st); err != nil {
					return fmt.Errorf("%s: %w", firstLine(st), err)
				}
			}
			return s.recordSourceTypes(ctx, tx, tgt, record)
		}); err != nil {
			return ddlError(fmt.Errorf("table %s.%s: %w", s.cfg.Schema, tgt.name, err))
		}
	}
	if len(stmts) > 0 {
		if existing, err = loadColumns(ctx, conn, tgt.ident); err != nil {
			return err
		}
		if existing == nil {
			return fmt.Errorf("table %s.%s: missing right after creating it", s.cfg.Schema, tgt.name)
		}
	}
	tgt.types = existing
	tgt.ensured[sig] = true
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// loadColumns returns the columns of table ident with their base types
// (without type modifiers: the cast from text goes to the base type and the
// assignment to the column applies its modifier, so a too-long varchar
// fails loudly instead of being truncated), or nil if it does not exist.
func loadColumns(ctx context.Context, conn *pgx.Conn, ident string) (map[string]string, error) {
	rows, err := conn.Query(ctx, `
SELECT a.attname,
	CASE a.atttypid
		-- Without a modifier these mean character(1) and bit(1), to which an
		-- explicit cast truncates: cast to the unbounded relative instead.
		WHEN 'bpchar'::regtype THEN 'text'
		WHEN '_bpchar'::regtype THEN 'text[]'
		WHEN 'bit'::regtype THEN 'bit varying'
		WHEN '_bit'::regtype THEN 'bit varying[]'
		ELSE format_type(a.atttypid, NULL)
	END,
	c.oid IS NOT NULL
FROM (SELECT to_regclass($1) AS oid) c
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped`, ident)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", ident, err)
	}
	var out map[string]string
	for rows.Next() {
		var name, typ pgtype.Text
		var exists bool
		if err := rows.Scan(&name, &typ, &exists); err != nil {
			return nil, err
		}
		if !exists {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		if name.Valid {
			out[name.String] = typ.String
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", ident, err)
	}
	return out, nil
}

// resolveType is the column's source type if the warehouse knows it, else
// the type its Kind implies.
func resolveType(ctx context.Context, conn *pgx.Conn, c schemas.Column) (string, error) {
	if c.PGType == "" {
		return kindType(c), nil
	}
	var ok bool
	// to_regtype returns NULL (no error) for unknown types, such as an
	// enum that exists only in the source database.
	if err := conn.QueryRow(ctx, "SELECT to_regtype($1) IS NOT NULL", c.PGType).Scan(&ok); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "42") || strings.HasPrefix(pgErr.Code, "22")) {
			ok = false // not parseable as a type name
		} else {
			return "", err
		}
	}
	if !ok {
		return kindType(c), nil
	}
	return c.PGType, nil
}

// castType returns the base type of column name of tgt.
func castType(tgt *target, name string) (string, error) {
	t, ok := tgt.types[name]
	if !ok {
		return "", &pgconn.PgError{Code: "42703", Message: fmt.Sprintf("column %q of %s is missing", name, tgt.ident)}
	}
	return t, nil
}

// castVia is the cast from text to a warehouse type. money's text input
// depends on the session's lc_monetary (separators, symbol); its cast from
// numeric does not, and FormatText writes money as a plain number.
func castVia(typ string) string {
	switch typ {
	case "money":
		return "numeric::money"
	case "money[]":
		return "numeric[]::money[]"
	}
	return typ
}

// upsertSQL builds an INSERT ... ON CONFLICT for rows with columns cols,
// passed as one text[] parameter per column followed by positions and ops
// (and deleted flags with soft deletes), then with the audit log its
// columns (auditParams; the statement becomes the CTE of auditUpsert). The
// position guard keeps a replay or an older change from moving a row
// backwards.
func (s *Sink) upsertSQL(tgt *target, cols []schemas.Column) (string, error) {
	var names, sel, params, alias, set, keys []string
	for i, c := range cols {
		typ, err := castType(tgt, c.Name)
		if err != nil {
			return "", err
		}
		q := quoteIdent(c.Name)
		names = append(names, q)
		sel = append(sel, fmt.Sprintf("u.c%d::%s", i, castVia(typ)))
		params = append(params, fmt.Sprintf("$%d::text[]", i+1))
		alias = append(alias, fmt.Sprintf("c%d", i))
		if c.Key {
			keys = append(keys, q)
		} else {
			set = append(set, q+" = EXCLUDED."+q)
		}
	}
	n := len(cols)
	names = append(names, quoteIdent(colPosition), quoteIdent(colOp), quoteIdent(colSyncedAt))
	sel = append(sel, "u.p", "u.o", "now()")
	params = append(params, fmt.Sprintf("$%d::text[]", n+1), fmt.Sprintf("$%d::text[]", n+2))
	alias = append(alias, "p", "o")
	for _, m := range []string{colPosition, colOp, colSyncedAt} {
		set = append(set, quoteIdent(m)+" = EXCLUDED."+quoteIdent(m))
	}
	if s.cfg.SoftDelete {
		names = append(names, quoteIdent(colDeleted))
		sel = append(sel, "u.d")
		params = append(params, fmt.Sprintf("$%d::boolean[]", n+3))
		alias = append(alias, "d")
		set = append(set, quoteIdent(colDeleted)+" = EXCLUDED."+quoteIdent(colDeleted))
	}
	if s.auditOn() {
		params, alias = auditParams(params, alias)
	}
	unnest := "unnest(" + strings.Join(params, ", ") + ") AS u(" + strings.Join(alias, ", ") + ")"
	from := unnest
	if s.auditOn() {
		from = "u" // the CTE auditUpsert wraps around
	}
	pos := quoteIdent(colPosition)
	upsert := "INSERT INTO " + tgt.ident + " AS t (" + strings.Join(names, ", ") + ")\n" +
		"SELECT " + strings.Join(sel, ", ") + "\n" +
		"FROM " + from + "\n" +
		"ON CONFLICT (" + strings.Join(keys, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ") + "\n" +
		"WHERE t." + pos + ` COLLATE "C" < EXCLUDED.` + pos + ` COLLATE "C"`
	if s.auditOn() {
		return s.auditUpsert(tgt, cols, unnest, upsert)
	}
	return upsert, nil
}

// deleteSQL builds a DELETE of the rows whose keys are passed as one text[]
// parameter per key column followed by positions; a row newer than the
// delete survives.
func (s *Sink) deleteSQL(tgt *target, keyCols []schemas.Column) (string, error) {
	var params, alias, conds []string
	for i, c := range keyCols {
		typ, err := castType(tgt, c.Name)
		if err != nil {
			return "", err
		}
		params = append(params, fmt.Sprintf("$%d::text[]", i+1))
		alias = append(alias, fmt.Sprintf("c%d", i))
		conds = append(conds, fmt.Sprintf("t.%s = u.c%d::%s", quoteIdent(c.Name), i, castVia(typ)))
	}
	params = append(params, fmt.Sprintf("$%d::text[]", len(keyCols)+1))
	alias = append(alias, "p")
	if s.auditOn() {
		params, alias = auditParams(params, alias)
	}
	pos := quoteIdent(colPosition)
	conds = append(conds, "t."+pos+` COLLATE "C" <= u.p COLLATE "C"`)
	del := "DELETE FROM " + tgt.ident + " AS t\n" +
		"USING unnest(" + strings.Join(params, ", ") + ") AS u(" + strings.Join(alias, ", ") + ")\n" +
		"WHERE " + strings.Join(conds, " AND ")
	if s.auditOn() {
		return s.auditDelete(tgt, keyCols, del), nil
	}
	return del, nil
}

// opArgs are the statement arguments for ops sharing one signature.
func (s *Sink) opArgs(ops []*rowOp) []any {
	first := ops[0]
	cols := make([][]pgtype.Text, len(first.cols))
	for i := range cols {
		cols[i] = make([]pgtype.Text, len(ops))
	}
	pos := make([]string, len(ops))
	kinds := make([]string, len(ops))
	deleted := make([]bool, len(ops))
	for j, o := range ops {
		for i := range cols {
			cols[i][j] = o.vals[i]
		}
		pos[j] = o.pos
		kinds[j] = string(o.op)
		deleted[j] = o.soft
	}
	args := make([]any, 0, len(cols)+3)
	for _, c := range cols {
		args = append(args, c)
	}
	args = append(args, pos)
	if !first.del {
		args = append(args, kinds)
		if s.cfg.SoftDelete {
			args = append(args, deleted)
		}
	}
	if s.auditOn() {
		args = append(args, auditArgs(ops)...)
	}
	return args
}

// execOps applies ops sharing one signature in one statement.
func (s *Sink) execOps(ctx context.Context, tx pgx.Tx, tgt *target, ops []*rowOp) (int64, error) {
	var sql string
	var err error
	if ops[0].del {
		sql, err = s.deleteSQL(tgt, ops[0].cols)
	} else {
		sql, err = s.upsertSQL(tgt, ops[0].cols)
	}
	if err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, sql, s.opArgs(ops)...)
	if err != nil {
		return 0, fmt.Errorf("%s.%s: %w", s.cfg.Schema, tgt.name, err)
	}
	return tag.RowsAffected(), nil
}

// claimOffsets moves the stored offsets of the batch's partitions to their
// new values, first thing in the transaction. It is also the fence: it
// succeeds only if every stored offset is what this process believes it is
// (absent where it believes absent), so a batch applies only on top of the
// exact state it was read against, and two processes that both think they
// own a partition serialize on its offset row, the loser getting errFenced.
func (s *Sink) claimOffsets(ctx context.Context, tx pgx.Tx, next map[partKey]int64) error {
	var upTopic, inTopic []string
	var upPart, inPart []int32
	var upNext, upWant, inNext []int64
	s.mu.Lock()
	for pk, n := range next {
		want, ok := s.stored[pk]
		if !ok {
			s.mu.Unlock()
			return fmt.Errorf("%w: %s/%d is not assigned to this process", errFenced, pk.topic, pk.partition)
		}
		if want < 0 {
			inTopic, inPart, inNext = append(inTopic, pk.topic), append(inPart, pk.partition), append(inNext, n)
		} else {
			upTopic, upPart = append(upTopic, pk.topic), append(upPart, pk.partition)
			upNext, upWant = append(upNext, n), append(upWant, want)
		}
	}
	s.mu.Unlock()
	if len(upTopic) > 0 {
		tag, err := tx.Exec(ctx, "UPDATE "+s.offsetsIdent+` AS o SET next_offset = u.n, updated_at = now()
FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[]) AS u(t, p, n, w)
WHERE o.sink = $1 AND o.topic = u.t AND o.partition = u.p AND o.next_offset = u.w`,
			s.cfg.Name, upTopic, upPart, upNext, upWant)
		if err != nil {
			return fmt.Errorf("update offsets: %w", err)
		}
		if tag.RowsAffected() != int64(len(upTopic)) {
			return errFenced
		}
	}
	if len(inTopic) > 0 {
		tag, err := tx.Exec(ctx, "INSERT INTO "+s.offsetsIdent+` (sink, topic, partition, next_offset, updated_at)
SELECT $1, u.t, u.p, u.n, now() FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)
ON CONFLICT (sink, topic, partition) DO NOTHING`,
			s.cfg.Name, inTopic, inPart, inNext)
		if err != nil {
			return fmt.Errorf("insert offsets: %w", err)
		}
		if tag.RowsAffected() != int64(len(inTopic)) {
			return errFenced
		}
	}
	return nil
}

// readOffsets returns the stored next offsets of this sink for topics.
func (s *Sink) readOffsets(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, topics []string) (map[partKey]int64, error) {
	rows, err := q.Query(ctx, "SELECT topic, partition, next_offset FROM "+s.offsetsIdent+
		" WHERE sink = $1 AND topic = ANY($2)", s.cfg.Name, topics)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.offsetsIdent, err)
	}
	out := map[partKey]int64{}
	for rows.Next() {
		var t string
		var p int32
		var n int64
		if err := rows.Scan(&t, &p, &n); err != nil {
			return nil, err
		}
		out[partKey{t, p}] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", s.offsetsIdent, err)
	}
	return out, nil
}

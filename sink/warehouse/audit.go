package warehouse

// The audit log: one row in <schema>._syncline_audit per row the sink
// actually wrote, with the change that caused it.
//
// The audit rows are written by the same statement as the rows they
// describe: every upsert and delete becomes a data-modifying CTE,
//
//	WITH u AS (SELECT * FROM unnest(...)),              -- the batch's rows
//	     w AS (INSERT INTO t ... SELECT ... FROM u
//	           ON CONFLICT ... DO UPDATE ... WHERE <position guard>
//	           RETURNING <key>, xmax = 0)               -- what was written
//	INSERT INTO _syncline_audit SELECT ... FROM w JOIN u ON <key>
//
// (a DELETE ... USING u RETURNING carries u's columns itself). So the audit
// log costs no extra round trip, commits or rolls back with the rows (it is
// exactly as exactly-once as they are), and records only what was really
// written: a change the position guard skipped, a replay, a delete of a row
// that is not there and a row the database rejected (its savepoint is
// rolled back) leave no audit row. A truncate is one audit row with an
// empty key. Changes collapsed away inside a batch (an insert followed by
// an update of the same key) were never written and are not recorded; the
// audit row names the change whose values were written.
//
// Old rows are pruned in the background (AuditRetention), in small batches
// on a connection of their own, never in the apply transaction.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"syncline/schemas"
)

// AuditTable is the name of the audit log table in the sink's schema.
const AuditTable = "_syncline_audit"

// Operations recorded in the audit log's operation column.
const (
	AuditInsert     = "insert"
	AuditUpdate     = "update"
	AuditDelete     = "delete"
	AuditSoftDelete = "soft_delete"
	AuditTruncate   = "truncate"
)

// auditPruneBatch bounds the rows one prune statement deletes, so pruning
// never holds many locks or bloats one transaction.
const auditPruneBatch = 5000

func (s *Sink) auditOn() bool { return !s.cfg.AuditOff }

func (s *Sink) auditIdent() string { return quoteIdent(s.cfg.Schema, AuditTable) }

// auditDDL creates the audit table and its indexes (part of the statements
// that create the offsets table, under the DDL lock).
func (s *Sink) auditDDL() string {
	if !s.auditOn() {
		return ""
	}
	id := s.auditIdent()
	idx := func(suffix string) string { return quoteIdent(AuditTable + "_" + suffix) }
	return ";\nCREATE TABLE IF NOT EXISTS " + id + ` (
	sink text NOT NULL,
	table_name text NOT NULL,
	key jsonb NOT NULL,
	key_text text NOT NULL,
	operation text NOT NULL,
	source_position text NOT NULL,
	source_op text NOT NULL,
	source_committed_at timestamptz,
	kafka_topic text NOT NULL,
	kafka_partition int NOT NULL,
	kafka_offset bigint NOT NULL,
	written_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ` + idx("key") + " ON " + id + ` USING gin (key jsonb_path_ops);
CREATE INDEX IF NOT EXISTS ` + idx("written") + " ON " + id + ` USING brin (written_at) WITH (autosummarize = on);
CREATE INDEX IF NOT EXISTS ` + idx("truncates") + " ON " + id + ` (table_name, written_at) WHERE operation = 'truncate'`
}

// auditParams appends the audit columns of the batch's rows to an apply
// statement's unnest parameters and aliases: Kafka topic, partition and
// offset, source commit time (ms) and source op. auditArgs supplies them.
func auditParams(params, alias []string) ([]string, []string) {
	n := len(params) + 1
	params = append(params,
		fmt.Sprintf("$%d::text[]", n), fmt.Sprintf("$%d::int[]", n+1), fmt.Sprintf("$%d::bigint[]", n+2),
		fmt.Sprintf("$%d::bigint[]", n+3), fmt.Sprintf("$%d::text[]", n+4))
	alias = append(alias, "kt", "kp", "ko", "kc", "ks")
	return params, alias
}

// auditArgs are the arguments auditParams declared, for ops.
func auditArgs(ops []*rowOp) []any {
	topics := make([]string, len(ops))
	parts := make([]int32, len(ops))
	offsets := make([]int64, len(ops))
	commits := make([]int64, len(ops))
	srcOps := make([]string, len(ops))
	for i, o := range ops {
		if o.rec != nil {
			topics[i], parts[i], offsets[i] = o.rec.Topic, o.rec.Partition, o.rec.Offset
		}
		if o.ch != nil {
			commits[i], srcOps[i] = o.ch.Source.CommitMs, string(o.ch.Op)
		} else {
			srcOps[i] = string(o.op)
		}
	}
	return []any{topics, parts, offsets, commits, srcOps}
}

// auditInsert is the INSERT INTO the audit table of the rows written to
// tgt: key(i) is the SQL of the i-th key column's written value, meta the
// relation carrying the unnest columns (p, kt, kp, ko, kc, ks), op the
// operation expression, from the FROM clause.
func (s *Sink) auditInsert(tgt *target, keyCols []schemas.Column, key func(i int) string, meta, op, from string) string {
	var obj, txt []string
	for i, c := range keyCols {
		obj = append(obj, quoteLiteral(c.Name), key(i))
		txt = append(txt, quoteLiteral(c.Name+"=")+" || "+key(i)+"::text")
	}
	return "INSERT INTO " + s.auditIdent() + ` (sink, table_name, key, key_text, operation, source_position, source_op,
	source_committed_at, kafka_topic, kafka_partition, kafka_offset, written_at)
SELECT ` + quoteLiteral(s.cfg.Name) + ", " + quoteLiteral(tgt.name) + ", jsonb_build_object(" + strings.Join(obj, ", ") + "), " +
		"concat_ws(', ', " + strings.Join(txt, ", ") + "), " + op + ", " + meta + ".p, " + meta + ".ks,\n\t" +
		"CASE WHEN " + meta + ".kc > 0 THEN to_timestamp(" + meta + ".kc / 1000.0) END, " +
		meta + ".kt, " + meta + ".kp, " + meta + ".ko, now()\n" +
		"FROM " + from
}

// auditUpsert wraps an upsert (reading its rows from relation u) into the
// CTE that also records the rows it wrote. cols are the upsert's columns,
// unnest the unnest(...) AS u(...) expression with the audit columns.
func (s *Sink) auditUpsert(tgt *target, cols []schemas.Column, unnest, upsert string) (string, error) {
	var keyCols []schemas.Column
	var ret, join []string
	for i, c := range cols {
		if !c.Key {
			continue
		}
		typ, err := castType(tgt, c.Name)
		if err != nil {
			return "", err
		}
		k := len(keyCols)
		keyCols = append(keyCols, c)
		ret = append(ret, fmt.Sprintf("t.%s AS k%d", quoteIdent(c.Name), k))
		join = append(join, fmt.Sprintf("w.k%d = u.c%d::%s", k, i, castVia(typ)))
	}
	// xmax is 0 on a row this statement inserted, the updating
	// transaction's id on one ON CONFLICT updated.
	ret = append(ret, "(t.xmax = 0) AS ins")
	op := "CASE WHEN w.ins THEN '" + AuditInsert + "' ELSE '" + AuditUpdate + "' END"
	if s.cfg.SoftDelete {
		op = "CASE WHEN u.d THEN '" + AuditSoftDelete + "' WHEN w.ins THEN '" + AuditInsert + "' ELSE '" + AuditUpdate + "' END"
	}
	return "WITH u AS (SELECT * FROM " + unnest + "),\n" +
		"w AS (" + upsert + "\nRETURNING " + strings.Join(ret, ", ") + ")\n" +
		s.auditInsert(tgt, keyCols, func(i int) string { return fmt.Sprintf("w.k%d", i) }, "u", op,
			"w JOIN u ON "+strings.Join(join, " AND ")), nil
}

// auditDelete wraps a DELETE ... USING u into the CTE that also records the
// rows it removed.
func (s *Sink) auditDelete(tgt *target, keyCols []schemas.Column, del string) string {
	var ret []string
	for i, c := range keyCols {
		ret = append(ret, fmt.Sprintf("t.%s AS k%d", quoteIdent(c.Name), i))
	}
	ret = append(ret, "u.p", "u.kt", "u.kp", "u.ko", "u.kc", "u.ks")
	return "WITH w AS (" + del + "\nRETURNING " + strings.Join(ret, ", ") + ")\n" +
		s.auditInsert(tgt, keyCols, func(i int) string { return fmt.Sprintf("w.k%d", i) }, "w", "'"+AuditDelete+"'", "w")
}

// auditTruncate records the truncate of tp's target (one row, empty key),
// in the apply transaction right after the TRUNCATE.
func (s *Sink) auditTruncate(ctx context.Context, tx pgx.Tx, tp *targetPlan) error {
	if !s.auditOn() || tp.trunc.ch == nil {
		return nil
	}
	ch, rec := tp.trunc.ch, tp.trunc.rec
	var committed pgtype.Timestamptz
	if ch.Source.CommitMs > 0 {
		committed = pgtype.Timestamptz{Time: time.UnixMilli(ch.Source.CommitMs), Valid: true}
	}
	_, err := tx.Exec(ctx, "INSERT INTO "+s.auditIdent()+` (sink, table_name, key, key_text, operation, source_position,
	source_op, source_committed_at, kafka_topic, kafka_partition, kafka_offset, written_at)
VALUES ($1, $2, '{}', '', '`+AuditTruncate+`', $3, $4, $5, $6, $7, $8, now())`,
		s.cfg.Name, tp.tgt.name, ch.Source.Position, string(ch.Op), committed, rec.Topic, rec.Partition, rec.Offset)
	if err != nil {
		return fmt.Errorf("audit truncate of %s.%s: %w", s.cfg.Schema, tp.tgt.name, err)
	}
	return nil
}

// startAuditPruner prunes audit rows older than the retention in the
// background until ctx ends or the returned stop is called; stop waits for
// the pruner to finish.
func (s *Sink) startAuditPruner(ctx context.Context) (stop func()) {
	if !s.auditOn() || s.cfg.AuditRetention <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			n, err := s.pruneAudit(ctx, time.Now().Add(-s.cfg.AuditRetention))
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				s.log.Warn("pruning the audit log failed; will try again", "err", err, "next", s.cfg.AuditPruneEvery)
			case n > 0:
				s.log.Info("pruned the audit log", "rows", n, "retention", s.cfg.AuditRetention)
			}
			if !sleep(ctx, s.cfg.AuditPruneEvery) {
				return
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// pruneAudit deletes this sink's audit rows written before cutoff, in
// batches of auditPruneBatch (each its own transaction), and returns how
// many it deleted. Rows another process is pruning at the same time are
// skipped, not waited for.
func (s *Sink) pruneAudit(ctx context.Context, cutoff time.Time) (int64, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := pgx.ConnectConfig(cctx, s.pgcfg.Copy())
	cancel()
	if err != nil {
		return 0, fmt.Errorf("connect to the warehouse: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	id := s.auditIdent()
	var total int64
	for {
		tag, err := conn.Exec(ctx, "DELETE FROM "+id+" WHERE ctid = ANY(ARRAY(SELECT ctid FROM "+id+
			" WHERE sink = $1 AND written_at < $2 LIMIT $3 FOR UPDATE SKIP LOCKED))",
			s.cfg.Name, cutoff, auditPruneBatch)
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
				return total, nil // not created yet
			}
			return total, fmt.Errorf("prune %s: %w", id, err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < auditPruneBatch {
			return total, nil
		}
		// Let the apply transactions breathe between batches.
		if !sleep(ctx, 50*time.Millisecond) {
			return total, ctx.Err()
		}
	}
}

// AuditFilter selects audit rows. Zero fields do not filter.
type AuditFilter struct {
	// Sink is the sink's name.
	Sink string `json:"sink,omitempty"`
	// Table is the warehouse table's name (the source table's name).
	Table string `json:"table,omitempty"`
	// Key selects the rows whose key contains these columns with these
	// JSON values (key @> Key), e.g. {"id": 42}.
	Key map[string]any `json:"key,omitempty"`
	// KeyText selects the rows whose key has these columns with these
	// values in text form ("42" matches the number 42 and the string "42").
	KeyText map[string]string `json:"key_text,omitempty"`
	// Since keeps rows written at or after it.
	Since time.Time `json:"since,omitzero"`
	// Limit bounds the rows returned; default DefaultAuditLimit.
	Limit int `json:"limit,omitempty"`
}

// DefaultAuditLimit is the number of rows QueryAudit returns by default.
const DefaultAuditLimit = 100

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	Sink  string `json:"sink"`
	Table string `json:"table"`
	// Key is the written row's key columns as a JSON object ({} for a
	// truncate); KeyText the same as "col=value, ...".
	Key       json.RawMessage `json:"key"`
	KeyText   string          `json:"key_text"`
	Operation string          `json:"operation"` // insert, update, delete, soft_delete, truncate
	// The change that caused the write.
	Position    string     `json:"source_position"`
	SourceOp    string     `json:"source_op"` // c, u, d, r, t
	CommittedAt *time.Time `json:"source_committed_at,omitempty"`
	Topic       string     `json:"kafka_topic"`
	Partition   int32      `json:"kafka_partition"`
	Offset      int64      `json:"kafka_offset"`
	WrittenAt   time.Time  `json:"written_at"`
}

// Querier is what QueryAudit reads through: a *pgx.Conn, a pool or a
// transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// QueryAudit returns the audit rows of <schema>._syncline_audit that f
// selects, newest first (schema "" is public). With Table and a key filter,
// the table's truncates are included: they removed every row. Key and
// KeyText lookups use the index on key.
func QueryAudit(ctx context.Context, q Querier, schema string, f AuditFilter) ([]AuditEntry, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	if f.Limit <= 0 {
		f.Limit = DefaultAuditLimit
	}
	ident := quoteIdent(schema, AuditTable)
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var common []string
	if f.Sink != "" {
		common = append(common, "sink = "+arg(f.Sink))
	}
	if f.Table != "" {
		common = append(common, "table_name = "+arg(f.Table))
	}
	if !f.Since.IsZero() {
		common = append(common, "written_at >= "+arg(f.Since))
	}
	keyed := append([]string{}, common...)
	if len(f.Key) > 0 {
		b, err := json.Marshal(f.Key)
		if err != nil {
			return nil, fmt.Errorf("audit key filter: %w", err)
		}
		keyed = append(keyed, "key @> "+arg(string(b))+"::jsonb")
	}
	for col, v := range f.KeyText {
		alts := []string{"key @> " + arg(mustJSON(map[string]string{col: v})) + "::jsonb"}
		var scalar any
		if json.Unmarshal([]byte(v), &scalar) == nil {
			switch scalar.(type) {
			case float64, bool:
				alts = append(alts, "key @> "+arg(mustJSON(map[string]json.RawMessage{col: json.RawMessage(v)}))+"::jsonb")
			}
		}
		keyed = append(keyed, "("+strings.Join(alts, " OR ")+")")
	}
	cols := "sink, table_name, key, key_text, operation, source_position, source_op, source_committed_at, " +
		"kafka_topic, kafka_partition, kafka_offset, written_at"
	where := func(conds []string) string {
		if len(conds) == 0 {
			return ""
		}
		return " WHERE " + strings.Join(conds, " AND ")
	}
	sql := "SELECT " + cols + " FROM " + ident + where(keyed)
	if f.Table != "" && (len(f.Key) > 0 || len(f.KeyText) > 0) {
		sql += "\nUNION ALL SELECT " + cols + " FROM " + ident + where(append(common, "operation = '"+AuditTruncate+"'"))
	}
	sql = "SELECT * FROM (" + sql + ") a\nORDER BY written_at DESC, source_position COLLATE \"C\" DESC LIMIT " + arg(f.Limit)
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			return nil, fmt.Errorf("no audit log in schema %s: table %s does not exist (is the audit log enabled for the sink, and has it written anything?)",
				schema, ident)
		}
		return nil, fmt.Errorf("query %s: %w", ident, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var key []byte
		var committed pgtype.Timestamptz
		if err := rows.Scan(&e.Sink, &e.Table, &key, &e.KeyText, &e.Operation, &e.Position, &e.SourceOp, &committed,
			&e.Topic, &e.Partition, &e.Offset, &e.WrittenAt); err != nil {
			return nil, fmt.Errorf("read %s: %w", ident, err)
		}
		e.Key = json.RawMessage(key)
		if committed.Valid {
			t := committed.Time
			e.CommittedAt = &t
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", ident, err)
	}
	return out, nil
}

// QueryAuditDSN is QueryAudit on a connection of its own to dsn.
func QueryAuditDSN(ctx context.Context, dsn, schema string, f AuditFilter) ([]AuditEntry, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		// pgx redacts the password in its errors.
		return nil, fmt.Errorf("connect to the warehouse: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return QueryAudit(ctx, conn, schema, f)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings and valid raw JSON always marshal
	}
	return string(b)
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings
// is on, as pgx requires).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

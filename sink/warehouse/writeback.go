package warehouse

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"syncline/sink/saas"
)

// WriteBack makes the sink write the golden records of one entity back
// into the rows of one of the entity's own source tables: two-way sync
// with a database, the Postgres side of what sinks[].system does for SaaS
// sinks.
//
// A golden record names its members in _sources ("app:42"); the members
// from System are rows of Table with that key. For each mapped column the
// sink, holding the row's lock, compares three values: the golden one, the
// row's current one, and the one it last knew the row to hold (its ledger,
// <Schema>._syncline_writeback, written in the same transaction as the
// offsets):
//
//   - a column whose golden value came from System itself (_provenance) is
//     not written: the table holds it, or a newer value on its way;
//   - a column the table changed since the sink last saw it is not written
//     either: that edit is on its way through capture, and the entity's
//     merge policy decides between it and the golden value (the entities
//     stage emits the golden record again when the edit loses, and then
//     the sink writes it);
//   - otherwise the row is updated where the golden value differs.
//
// A write is itself captured; it carries the golden values, so the entity
// does not change and nothing is written anywhere again: no loop.
type WriteBack struct {
	// Schema and Table name the table to write.
	Schema, Table string
	// Key is its key column; "" for its primary key (one column).
	Key string
	// System is the entity source whose records are the table's rows.
	System string
	// Insert adds a row for a golden record without a member from System.
	Insert bool
	// Columns maps table columns from golden record fields.
	Columns map[string]saas.Property
}

// LedgerTable is the write-back ledger in the sink's schema.
const LedgerTable = "_syncline_writeback"

// wbTable is what the sink knows of the write-back table; reloaded on
// every connection.
type wbTable struct {
	ident   string
	key     string
	keyType string
	types   map[string]string // mapped column → base type
	names   []string          // mapped columns, sorted
	ledger  string
}

func (w *WriteBack) check(name string) error {
	if w.Table == "" {
		return fmt.Errorf("warehouse sink %q: write-back: no table", name)
	}
	if w.System == "" {
		return fmt.Errorf("warehouse sink %q: write-back: no system (the entity source whose rows %s holds)", name, w.Table)
	}
	if len(w.Columns) == 0 {
		return fmt.Errorf("warehouse sink %q: write-back: no columns", name)
	}
	return saas.ValidateMapping(fmt.Sprintf("warehouse sink %q: write-back", name), w.Columns, "", "")
}

// prepareWriteBack loads the table's columns and key and creates the
// ledger. A missing table, column or key is fatal: the configuration
// names something the database does not have.
func (s *Sink) prepareWriteBack(ctx context.Context, conn *pgx.Conn) error {
	w := s.cfg.WriteBack
	ident := quoteIdent(w.Schema, w.Table)
	cols, err := loadColumns(ctx, conn, ident)
	if err != nil {
		return err
	}
	if cols == nil {
		return fatalError{fmt.Errorf("write-back table %s.%s does not exist (or the sink's user cannot see it)", w.Schema, w.Table)}
	}
	key := w.Key
	rows, err := conn.Query(ctx, `SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = to_regclass($1) AND i.indisprimary`, ident)
	if err != nil {
		return fmt.Errorf("read the primary key of %s: %w", ident, err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("read the primary key of %s: %w", ident, err)
	}
	if key != "" && len(keys) > 0 && !slices.Equal(keys, []string{key}) {
		// Captured records are keyed by the primary key when there is one.
		return fatalError{fmt.Errorf("write-back table %s.%s: write_back.key %q is not its primary key (%s), by which its captured records are keyed; leave write_back.key unset",
			w.Schema, w.Table, key, strings.Join(keys, ", "))}
	}
	if key == "" {
		if len(keys) != 1 {
			return fatalError{fmt.Errorf("write-back table %s.%s has a primary key of %d columns: write-back needs a one-column key (composite keys are not supported; with no primary key, set write_back.key to the one column its captured records are keyed by)", w.Schema, w.Table, len(keys))}
		}
		key = keys[0]
	}
	t := &wbTable{ident: ident, key: key, types: map[string]string{}, ledger: quoteIdent(s.cfg.Schema, LedgerTable)}
	var ok bool
	if t.keyType, ok = cols[key]; !ok {
		return fatalError{fmt.Errorf("write-back table %s.%s has no key column %q", w.Schema, w.Table, key)}
	}
	for c := range w.Columns {
		typ, ok := cols[c]
		if !ok {
			return fatalError{fmt.Errorf("write-back table %s.%s has no column %q (write_back.columns)", w.Schema, w.Table, c)}
		}
		t.types[c] = typ
		t.names = append(t.names, c)
	}
	slices.Sort(t.names)
	_, err = conn.Exec(ctx, s.ddlLockSQL()+";\nCREATE TABLE IF NOT EXISTS "+t.ledger+` (
	sink text NOT NULL,
	key text NOT NULL,
	entity_id text,
	known jsonb NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (sink, key)
);
CREATE INDEX IF NOT EXISTS `+quoteIdent(LedgerTable+"_entity")+" ON "+t.ledger+" (sink, entity_id)", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return ddlError(fmt.Errorf("create %s: %w", t.ledger, err))
	}
	s.wb = t
	return nil
}

// wbWrite is one golden record to write back.
type wbWrite struct {
	o    *rowOp
	id   string
	keys []string                    // rows of the table it is written into
	want map[string]pgtype.Text      // by column
	prov map[string]saas.FieldSource // _provenance, by golden field
	ins  bool                        // no member row: insert one
}

// known is what the sink last knew a row's columns to hold.
type known map[string]*string

func textPtr(t pgtype.Text) *string {
	if !t.Valid {
		return nil
	}
	return &t.String
}

func sameText(a *string, b pgtype.Text) bool {
	if a == nil || !b.Valid {
		return a == nil && !b.Valid
	}
	return *a == b.String
}

// writeBackOps turns a plan's row ops into writes; rows the mapping
// refuses are parked.
func (s *Sink) writeBackOps(p *plan) ([]*wbWrite, []parkedRec) {
	w := s.cfg.WriteBack
	var out []*wbWrite
	var parked []parkedRec
	for _, tp := range p.targets {
		for _, o := range tp.ops {
			if o.del || o.soft || o.ch == nil || o.ch.After == nil {
				continue // a golden delete removes nothing from the system's own table
			}
			ch := o.ch
			props, err := saas.MapRow(w.Columns, s.wb.names, ch.After)
			if err != nil {
				parked = append(parked, parkedRec{rec: o.rec, reason: "invalid_row", kind: "permanent", err: err})
				continue
			}
			wr := &wbWrite{o: o, want: map[string]pgtype.Text{}, prov: saas.GoldenProvenance(ch)}
			if idc, ok := ch.Table.Column("id"); ok {
				wr.id = saas.FormatValue(ch.After[idc.Field])
			}
			for _, c := range s.wb.names {
				pr := w.Columns[c]
				v := props[c]
				if ts, ok := ch.After[pr.From].(time.Time); ok && pr.From != "" && pr.Transform == "" {
					v = ts.UTC().Format(time.RFC3339Nano) // the sinks' format keeps milliseconds only
				}
				null := v == "" && ((pr.From != "" && ch.After[pr.From] == nil) || !textLike(s.wb.types[c]))
				wr.want[c] = pgtype.Text{String: v, Valid: !null}
			}
			var srcs []string
			if raw := saas.GoldenColumn(ch, "_sources"); raw != "" {
				if err := json.Unmarshal([]byte(raw), &srcs); err != nil {
					parked = append(parked, parkedRec{rec: o.rec, reason: "invalid_row", kind: "permanent", err: fmt.Errorf("_sources: %w", err)})
					continue
				}
			}
			var badKeys []string
			for _, ref := range srcs {
				if k, ok := strings.CutPrefix(ref, w.System+":"); ok {
					if keyFits(s.wb.keyType, k) {
						wr.keys = append(wr.keys, k)
					} else {
						badKeys = append(badKeys, k)
					}
				}
			}
			if len(badKeys) > 0 {
				parked = append(parked, parkedRec{rec: o.rec, reason: "invalid_row", kind: "permanent",
					err: fmt.Errorf("_sources names %s rows %q that cannot be keys of %s (column %s is %s; composite keys are not supported); the record's other rows are written",
						w.System, badKeys, s.wb.ident, s.wb.key, s.wb.keyType)})
			}
			// A golden record with a value from the system had a row there
			// once: the app deleted it, and it is not inserted again.
			fromSystem := false
			for _, fs := range wr.prov {
				fromSystem = fromSystem || fs.Source == w.System
			}
			wr.ins = len(wr.keys) == 0 && len(badKeys) == 0 && !fromSystem && w.Insert && wr.id != ""
			if len(wr.keys) > 0 || wr.ins {
				out = append(out, wr)
			}
		}
	}
	return out, parked
}

// applyWriteBack is applyTx of a write-back sink.
func (s *Sink) applyWriteBack(ctx context.Context, p *plan, isolate bool) (applyResult, error) {
	var res applyResult
	writes, parked := s.writeBackOps(p)
	res.rejected = parked
	tx, err := s.beginBatch(ctx, p)
	if err != nil {
		return res, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	t, w := s.wb, s.cfg.WriteBack
	var keys, ids []string
	for _, wr := range writes {
		keys = append(keys, wr.keys...)
		if wr.ins {
			ids = append(ids, wr.id)
		}
	}
	// The ledger, and the rows inserted for golden records earlier (whose
	// captured row may not have joined the entity yet).
	ledger := map[string]known{}
	inserted := map[string]string{}
	rows, err := tx.Query(ctx, "SELECT key, entity_id, known FROM "+t.ledger+
		" WHERE sink = $1 AND (key = ANY($2) OR entity_id = ANY($3))", s.cfg.Name, keys, ids)
	if err != nil {
		return res, fmt.Errorf("read %s: %w", t.ledger, err)
	}
	for rows.Next() {
		var k string
		var id pgtype.Text
		var kn known
		if err := rows.Scan(&k, &id, &kn); err != nil {
			rows.Close()
			return res, fmt.Errorf("read %s: %w", t.ledger, err)
		}
		ledger[k] = kn
		if id.Valid {
			inserted[id.String] = k
		}
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("read %s: %w", t.ledger, err)
	}
	for _, wr := range writes {
		if k, ok := inserted[wr.id]; wr.ins && ok {
			wr.keys, wr.ins = []string{k}, false
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	// The rows' current values, locked (in key order) until commit, so
	// that the comparison holds for the write.
	sel := make([]string, len(t.names))
	for i, c := range t.names {
		sel[i] = quoteIdent(c) + "::text"
	}
	cur := map[string][]pgtype.Text{}
	rows, err = tx.Query(ctx, fmt.Sprintf("SELECT %s::text, %s FROM %s WHERE %s = ANY($1::text[]::%s[]) ORDER BY 1 FOR UPDATE",
		quoteIdent(t.key), strings.Join(sel, ", "), t.ident, quoteIdent(t.key), castVia(t.keyType)), keys)
	if err != nil {
		return res, fmt.Errorf("read %s: %w", t.ident, err)
	}
	for rows.Next() {
		vals := make([]pgtype.Text, len(t.names)+1)
		dst := make([]any, len(vals))
		for i := range vals {
			dst[i] = &vals[i]
		}
		if err := rows.Scan(dst...); err != nil {
			rows.Close()
			return res, fmt.Errorf("read %s: %w", t.ident, err)
		}
		cur[vals[0].String] = vals[1:]
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("read %s: %w", t.ident, err)
	}

	type stmt struct {
		wr   *wbWrite
		key  string // "" for an insert
		cols []string
		sql  string
		args []any
		kn   known
	}
	var stmts []stmt
	newLedger := map[string]known{}
	newIDs := map[string]string{}
	for _, wr := range writes {
		if wr.ins {
			st := stmt{wr: wr, cols: t.names}
			var vals []string
			for i, c := range t.names {
				vals = append(vals, fmt.Sprintf("$%d::text::%s", i+1, castVia(t.types[c])))
				st.args = append(st.args, wr.want[c])
			}
			quoted := make([]string, len(t.names))
			for i, c := range t.names {
				quoted[i] = quoteIdent(c)
			}
			st.sql = fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) RETURNING %s::text, %s",
				t.ident, strings.Join(quoted, ", "), strings.Join(vals, ", "), quoteIdent(t.key), strings.Join(sel, ", "))
			stmts = append(stmts, st)
			continue
		}
		for _, k := range wr.keys {
			c, ok := cur[k]
			if !ok {
				continue // not in the table (any more): its delete is on its way
			}
			kn := ledger[k]
			if nk, ok := newLedger[k]; ok {
				kn = nk // a second golden record of the batch writing the row
			}
			next := known{}
			var set []string
			for i, col := range t.names {
				next[col] = textPtr(c[i])
				if from := w.Columns[col].From; from != "" && wr.prov[from] == (saas.FieldSource{Source: w.System, Key: k}) {
					continue // the row's own value (or an older one of it)
				}
				if v, seen := kn[col]; seen && !sameText(v, c[i]) {
					// Changed in the table since the sink saw it: that
					// edit is being captured; the merge decides.
					continue
				}
				set = append(set, col)
			}
			newLedger[k] = next
			if wr.id != "" {
				newIDs[k] = wr.id // the entity the row belongs to: once deleted, not inserted again
			}
			if len(set) == 0 {
				continue
			}
			st := stmt{wr: wr, key: k, cols: set, kn: next, args: []any{k}}
			var assign, differ []string
			for i, col := range set {
				v := fmt.Sprintf("$%d::text::%s", i+2, castVia(t.types[col]))
				assign = append(assign, quoteIdent(col)+" = "+v)
				differ = append(differ, quoteIdent(col)+" IS DISTINCT FROM "+v)
				st.args = append(st.args, wr.want[col])
			}
			ret := make([]string, len(set))
			for i, col := range set {
				ret[i] = quoteIdent(col) + "::text"
			}
			st.sql = fmt.Sprintf("UPDATE %s SET %s WHERE %s = $1::text::%s AND (%s) RETURNING %s",
				t.ident, strings.Join(assign, ", "), quoteIdent(t.key), castVia(t.keyType), strings.Join(differ, " OR "), strings.Join(ret, ", "))
			stmts = append(stmts, st)
		}
	}
	// run executes one statement and takes what it wrote into the ledger.
	run := func(st stmt) error {
		vals := make([]pgtype.Text, len(st.cols))
		dst := make([]any, 0, len(st.cols)+1)
		var key pgtype.Text
		if st.key == "" {
			dst = append(dst, &key)
		}
		for i := range vals {
			dst = append(dst, &vals[i])
		}
		err := tx.QueryRow(ctx, st.sql, st.args...).Scan(dst...)
		if err == pgx.ErrNoRows {
			return nil // every value already as wanted
		}
		if err != nil {
			return fmt.Errorf("write back into %s: %w", t.ident, err)
		}
		res.rows++
		if st.key == "" {
			kn := known{}
			for i, col := range st.cols {
				kn[col] = textPtr(vals[i])
			}
			newLedger[key.String] = kn
			newIDs[key.String] = st.wr.id
			return nil
		}
		for i, col := range st.cols {
			st.kn[col] = textPtr(vals[i])
		}
		return nil
	}
	for _, st := range stmts {
		if !isolate {
			if err := run(st); err != nil {
				return res, err
			}
			continue
		}
		if _, err := tx.Exec(ctx, "SAVEPOINT row_op"); err != nil {
			return res, err
		}
		if err := run(st); err != nil {
			if classify(err) != classRow {
				return res, err
			}
			if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT row_op"); rerr != nil {
				return res, rerr
			}
			res.rejected = append(res.rejected, parkedRec{rec: st.wr.o.rec, reason: "rejected", kind: "permanent", err: err})
			continue
		}
		if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT row_op"); err != nil {
			return res, err
		}
	}
	if len(newLedger) > 0 {
		var lk, lid, lkn []string
		var lidValid []bool
		for k, kn := range newLedger {
			b, _ := json.Marshal(kn)
			id, ok := newIDs[k]
			lk, lid, lkn, lidValid = append(lk, k), append(lid, id), append(lkn, string(b)), append(lidValid, ok)
		}
		ids := make([]pgtype.Text, len(lid))
		for i := range lid {
			ids[i] = pgtype.Text{String: lid[i], Valid: lidValid[i]}
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+t.ledger+` AS l (sink, key, entity_id, known, updated_at)
SELECT $1, u.k, u.id, u.kn::jsonb, now() FROM unnest($2::text[], $3::text[], $4::text[]) AS u(k, id, kn)
ON CONFLICT (sink, key) DO UPDATE SET known = EXCLUDED.known, entity_id = COALESCE(EXCLUDED.entity_id, l.entity_id), updated_at = now()`,
			s.cfg.Name, lk, ids, lkn); err != nil {
			return res, fmt.Errorf("write %s: %w", t.ledger, err)
		}
	}
	return res, s.parkAndCommit(ctx, tx, p.parked, res.rejected)
}

// keyFits reports whether k can be a value of a key column of type typ:
// integers and uuids are checked here (a cast failing in the locking
// SELECT would fail the whole batch); other types are taken as they come.
func keyFits(typ, k string) bool {
	switch typ {
	case "smallint", "integer", "bigint":
		bits := map[string]int{"smallint": 16, "integer": 32, "bigint": 64}[typ]
		_, err := strconv.ParseInt(k, 10, bits)
		return err == nil
	case "uuid":
		return uuidRE.MatchString(k)
	}
	return !strings.HasPrefix(k, "[") // a composite key's JSON array
}

var uuidRE = regexp.MustCompile(`^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$`)

// textLike reports whether a column of type typ takes an empty string.
func textLike(typ string) bool {
	return typ == "text" || typ == "citext" || strings.HasPrefix(typ, "character") || typ == "name"
}

package warehouse

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/schemas"
)

// target is one warehouse table and what the sink knows about it. Its cache
// fields are used by the Run goroutine only.
type target struct {
	ref   TableRef
	topic string
	name  string // table name in the warehouse (the source table's name)
	ident string // sanitized "<schema>"."<name>"

	ensured map[string]bool   // table signatures whose columns exist
	types   map[string]string // column name -> base type (format_type without typmod)
}

func (t *target) forget() {
	t.ensured = map[string]bool{}
	t.types = nil
}

// rowOp is the net effect of a batch on one key of one target.
type rowOp struct {
	cols []schemas.Column // written columns; for a hard delete the key columns
	vals []pgtype.Text    // aligned with cols; Valid=false is NULL
	key  string
	pos  string
	op   schemas.Op
	del  bool // hard delete
	soft bool // soft delete: _syncline_deleted = true
	rec  *kgo.Record
	ch   *schemas.Change // the change this op comes from (for the audit log)
}

// signature groups row ops that one statement can apply.
func (o *rowOp) signature() string {
	var b strings.Builder
	if o.del {
		b.WriteString("D")
	} else {
		b.WriteString("U")
	}
	for _, c := range o.cols {
		b.WriteByte(0)
		b.WriteString(c.Name)
	}
	return b.String()
}

// targetPlan is what a batch does to one target: an optional truncate, then
// at most one row op per key.
type targetPlan struct {
	tgt      *target
	truncate bool
	trunc    entry // the truncate applied (the last of the batch), for the audit log
	ops      []*rowOp
	byKey    map[string]int
	cur      *schemas.Change // the change being collapsed; put tags its ops with it
}

func (tp *targetPlan) put(o *rowOp) {
	o.ch = tp.cur
	if i, ok := tp.byKey[o.key]; ok {
		tp.ops[i] = o
		return
	}
	tp.byKey[o.key] = len(tp.ops)
	tp.ops = append(tp.ops, o)
}

// parkedRec is a record that goes to the DLQ instead of the warehouse.
type parkedRec struct {
	rec    *kgo.Record
	reason string // DLQ reason / metric label
	kind   string // SinkErrors kind: decode or permanent
	err    error
}

type partKey struct {
	topic     string
	partition int32
}

// tableUse is a table schema seen in the batch for a target.
type tableUse struct {
	tgt   *target
	table *schemas.Table
}

// plan is a decoded, collapsed batch.
type plan struct {
	targets  []*targetPlan
	tables   []tableUse
	parked   []parkedRec
	next     map[partKey]int64 // next offset per partition
	epochs   map[partKey]int32
	commitMs []int64 // source commit times of the decoded changes
	records  int
}

type entry struct {
	rec *kgo.Record
	ch  *schemas.Change
}

// buildPlan decodes recs and collapses them to the last change per (target,
// key). Changes of one target are ordered by source position (bytewise,
// stable), so a truncate wipes exactly the changes committed before it even
// when they arrived on other partitions. The returned error is transient
// (the registry could not be reached); everything wrong with a record
// itself ends up in plan.parked.
func (s *Sink) buildPlan(ctx context.Context, recs []*kgo.Record) (*plan, error) {
	p := &plan{next: map[partKey]int64{}, epochs: map[partKey]int32{}, records: len(recs)}
	entries := map[*target][]entry{}
	var order []*target
	seenTable := map[*target]map[string]bool{}
	// Decoded changes of one schema share their *Table: its signature is
	// rendered once per batch, not per record.
	sigs := map[*schemas.Table]string{}
	for _, rec := range recs {
		pk := partKey{rec.Topic, rec.Partition}
		if n, ok := p.next[pk]; !ok || rec.Offset+1 > n {
			p.next[pk] = rec.Offset + 1
			p.epochs[pk] = rec.LeaderEpoch
		}
		tgt := s.byTopic[rec.Topic]
		if tgt == nil && (s.repairTopic == "" || rec.Topic != s.repairTopic) {
			// Not one of ours; franz-go only hands us configured topics.
			continue
		}
		if rec.Value == nil {
			// A tombstone (Debezium-style compaction marker): nothing to apply.
			continue
		}
		ch, err := s.serde.Decode(ctx, rec.Key, rec.Value)
		if err != nil {
			if decodeIsTransient(err) {
				return nil, fmt.Errorf("decode %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
			}
			p.parked = append(p.parked, parkedRec{rec: rec, reason: "decode", kind: "decode", err: err})
			continue
		}
		if tgt == nil {
			// A repair record: its table says where it goes.
			if tgt, err = s.repairTarget(ch.Table); err != nil {
				p.parked = append(p.parked, parkedRec{rec: rec, reason: "repair", kind: "permanent", err: err})
				continue
			}
		}
		switch ch.Op {
		case schemas.OpCreate, schemas.OpUpdate, schemas.OpRead, schemas.OpDelete, schemas.OpTruncate:
		default:
			p.parked = append(p.parked, parkedRec{rec: rec, reason: "decode", kind: "decode",
				err: fmt.Errorf("unknown op %q", ch.Op)})
			continue
		}
		// A truncate has no key, and its table (rebuilt from the value
		// schema alone) carries no key flags: it neither needs nor shapes
		// the target.
		if ch.Op != schemas.OpTruncate && len(ch.Table.KeyColumns()) == 0 {
			p.parked = append(p.parked, parkedRec{rec: rec, reason: "no_key", kind: "permanent",
				err: fmt.Errorf("table %s has no key columns: rows cannot be applied idempotently", ch.Table.ID())})
			continue
		}
		if ch.Source.CommitMs > 0 {
			p.commitMs = append(p.commitMs, ch.Source.CommitMs)
		}
		if _, ok := entries[tgt]; !ok {
			order = append(order, tgt)
			seenTable[tgt] = map[string]bool{}
		}
		entries[tgt] = append(entries[tgt], entry{rec, ch})
		sig, ok := sigs[ch.Table]
		if !ok {
			sig = tableSignature(ch.Table)
			sigs[ch.Table] = sig
		}
		if ch.Op != schemas.OpTruncate && !seenTable[tgt][sig] {
			seenTable[tgt][sig] = true
			p.tables = append(p.tables, tableUse{tgt, ch.Table})
		}
	}
	for _, tgt := range order {
		es := entries[tgt]
		sort.SliceStable(es, func(i, j int) bool { return es[i].ch.Source.Position < es[j].ch.Source.Position })
		tp := &targetPlan{tgt: tgt, byKey: map[string]int{}}
		for _, e := range es {
			if err := s.collapse(tp, e); err != nil {
				p.parked = append(p.parked, parkedRec{rec: e.rec, reason: err.reason, kind: "permanent", err: err.err})
			}
		}
		p.targets = append(p.targets, tp)
	}
	return p, nil
}

// collapse folds one change into tp.
func (s *Sink) collapse(tp *targetPlan, e entry) *rowError {
	ch := e.ch
	t := ch.Table
	tp.cur = ch
	switch ch.Op {
	case schemas.OpTruncate:
		if s.cfg.IgnoreTruncate {
			return nil
		}
		tp.truncate = true
		tp.trunc = e
		tp.ops = nil
		tp.byKey = map[string]int{}
		return nil
	case schemas.OpDelete:
		keyRow := ch.Key
		if keyRow == nil {
			keyRow = ch.Before
		}
		if keyRow == nil {
			return rowErrorf("invalid", "delete without key or before image")
		}
		o, err := s.deleteOp(t, keyRow, ch.Before, ch.Source.Position, e.rec)
		if err != nil {
			return err
		}
		tp.put(o)
		return nil
	default: // c, u, r
		if ch.After == nil {
			return rowErrorf("invalid", "op %q without after image", ch.Op)
		}
		key, err := keyString(t, ch.After)
		if err != nil {
			return err
		}
		// An update that changed the primary key moves the row: the old key
		// goes away (as a delete at the same position), the new one appears.
		if ch.Before != nil {
			if old, kerr := keyString(t, ch.Before); kerr == nil && old != key {
				o, derr := s.deleteOp(t, ch.Before, ch.Before, ch.Source.Position, e.rec)
				if derr != nil {
					return derr
				}
				tp.put(o)
			}
		}
		o, err := upsertOp(t, ch.After, key, ch.Source.Position, ch.Op, false, e.rec)
		if err != nil {
			return err
		}
		tp.put(o)
		return nil
	}
}

// deleteOp builds a hard delete of keyRow, or with soft deletes an upsert of
// the before image (the key alone when there is none) marked deleted.
func (s *Sink) deleteOp(t *schemas.Table, keyRow, before schemas.Row, pos string, rec *kgo.Record) (*rowOp, *rowError) {
	key, err := keyString(t, keyRow)
	if err != nil {
		return nil, err
	}
	if s.cfg.SoftDelete {
		row := before
		if row == nil {
			row = keyRow
		}
		return upsertOp(t, row, key, pos, schemas.OpDelete, true, rec)
	}
	cols := t.KeyColumns()
	vals, err := textValues(cols, keyRow)
	if err != nil {
		return nil, err
	}
	return &rowOp{cols: cols, vals: vals, key: key, pos: pos, op: schemas.OpDelete, del: true, rec: rec}, nil
}

func upsertOp(t *schemas.Table, row schemas.Row, key, pos string, op schemas.Op, soft bool, rec *kgo.Record) (*rowOp, *rowError) {
	var cols []schemas.Column
	for _, c := range t.Columns {
		if _, ok := row[c.Field]; ok {
			cols = append(cols, c)
		}
	}
	vals, err := textValues(cols, row)
	if err != nil {
		return nil, err
	}
	return &rowOp{cols: cols, vals: vals, key: key, pos: pos, op: op, soft: soft, rec: rec}, nil
}

// textValues renders row's values of cols in Postgres text input form.
func textValues(cols []schemas.Column, row schemas.Row) ([]pgtype.Text, *rowError) {
	vals := make([]pgtype.Text, len(cols))
	for i, c := range cols {
		v := row[c.Field]
		if v == nil {
			continue
		}
		s, err := schemas.FormatText(c, v)
		if err != nil {
			return nil, &rowError{reason: "invalid", err: err}
		}
		vals[i] = pgtype.Text{String: s, Valid: true}
	}
	return vals, nil
}

// keyString identifies a row of t by its key values.
func keyString(t *schemas.Table, row schemas.Row) (string, *rowError) {
	var b strings.Builder
	for _, c := range t.KeyColumns() {
		v := row[c.Field]
		if v == nil {
			return "", rowErrorf("invalid", "key column %q is NULL or missing", c.Name)
		}
		s, err := schemas.FormatText(c, v)
		if err != nil {
			return "", &rowError{reason: "invalid", err: err}
		}
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	return b.String(), nil
}

// tableSignature identifies a table schema version for the DDL cache.
func tableSignature(t *schemas.Table) string {
	type col struct {
		N, T string
		K    schemas.Kind
		P, S int
		Key  bool
	}
	cols := make([]col, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = col{c.Name, c.PGType, c.Kind, c.Precision, c.Scale, c.Key}
	}
	b, _ := json.Marshal(cols)
	return string(b)
}

func quoteIdent(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

package reconcile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"syncline/internal/topics"
	"syncline/schemas"
)

// RepairTopic is the topic only sink sink reads repair records from:
// <prefix>.repair.<sink>.
func RepairTopic(prefix, sink string) string { return prefix + ".repair." + topics.Part(sink) }

// SchemaRegistry is the part of a schema registry client repair uses to
// find a table's change-topic schema; *sr.Client implements it.
type SchemaRegistry interface {
	SchemaByVersion(ctx context.Context, subject string, version int) (sr.SubjectSchema, error)
}

// Repairer re-delivers rows to one sink through its repair topic: ordinary
// change records in the table's change-topic schema, op=r with the source's
// current row for missing and different rows, op=d for extra rows. The sink
// applies them like any change (offsets in the warehouse transaction,
// position guard), mapping each to its table by the record's table.
type Repairer struct {
	Topic       string // RepairTopic of the sink
	TopicPrefix string // for the change topics whose schemas the records use
	Producer    *kgo.Client
	Serde       *schemas.Serde
	Registry    SchemaRegistry
}

// Repaired counts what a repair sent.
type Repaired struct {
	Upserts int `json:"upserts"` // op=r records
	Deletes int `json:"deletes"` // op=d records
	// Gone are missing or different rows no longer in the source when
	// they were read (deleted meanwhile; the delete reaches the sink as a
	// change of its own).
	Gone     int    `json:"gone"`
	Position string `json:"position,omitempty"`
}

// changeTable returns the latest schema of t's change topic as a table.
func (r *Repairer) changeTable(ctx context.Context, t Table) (*schemas.Table, error) {
	topic := topics.Change(r.TopicPrefix, t.Source, t.SourceSchema, t.SourceTable)
	ks, err := r.Registry.SchemaByVersion(ctx, topic+"-key", -1)
	if err != nil {
		return nil, fmt.Errorf("key schema of %s (has the pipeline delivered the table yet?): %w", topic, err)
	}
	vs, err := r.Registry.SchemaByVersion(ctx, topic+"-value", -1)
	if err != nil {
		return nil, fmt.Errorf("value schema of %s: %w", topic, err)
	}
	return schemas.TableFromSchemas(ks.Schema.Schema, vs.Schema.Schema)
}

// Position formats an LSN as a capture position (commit LSN, sequence 0).
func Position(lsn pglogrepl.LSN) string { return fmt.Sprintf("%016X/%016X", uint64(lsn), 0) }

// Repair sends the records that make t's warehouse table match res (the
// result of Compare for t). The rows are read from the source in one
// snapshot taken after its current WAL position was read, and carry that
// position: a change committed later overwrites the repair, and the
// repair never overwrites a newer change in the warehouse.
func (r *Repairer) Repair(ctx context.Context, t Table, res *Result) (Repaired, error) {
	var out Repaired
	if res.Drift() == 0 {
		return out, nil
	}
	tbl, err := r.changeTable(ctx, t)
	if err != nil {
		return out, fmt.Errorf("%s: %w", t.Name(), err)
	}
	byName := map[string]schemas.Column{}
	for _, c := range tbl.Columns {
		byName[c.Name] = c
	}
	keyCols := make([]schemas.Column, len(res.KeyColumns))
	for i, k := range res.KeyColumns {
		c, ok := byName[k]
		if !ok || !c.Key {
			return out, fmt.Errorf("%s: key column %q is not a key of the change topic's schema", t.Name(), k)
		}
		keyCols[i] = c
	}
	conn, err := connect(ctx, t.SourceDSN, "syncline-repair")
	if err != nil {
		return out, fmt.Errorf("%s: connect to source %s: %w", t.Name(), t.Source, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// The position first, then the snapshot: everything the snapshot sees
	// committed at or before it (see the README for the remaining races).
	var lsnText string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsnText); err != nil {
		return out, fmt.Errorf("%s: read the source's WAL position: %w", t.Name(), err)
	}
	lsn, err := pglogrepl.ParseLSN(lsnText)
	if err != nil {
		return out, err
	}
	pos := Position(lsn)
	out.Position = pos
	src := schemas.Source{System: "postgres", Name: t.Source, DB: tbl.DB, Schema: tbl.Schema, Table: tbl.Name, Position: pos, LSN: int64(lsn)}
	now := time.Now().UnixMilli()

	var recs []*kgo.Record
	enc, err := r.Serde.Encoder(ctx, r.Topic, tbl)
	if err != nil {
		return out, fmt.Errorf("%s: %w", t.Name(), err)
	}
	add := func(ch *schemas.Change) error {
		k, v, err := enc.Encode(ch)
		if err != nil {
			return fmt.Errorf("%s: encode repair record: %w", t.Name(), err)
		}
		recs = append(recs, &kgo.Record{Topic: r.Topic, Key: k, Value: v})
		return nil
	}
	// The rows to upsert and the extra keys are read in one snapshot (taken
	// after the position): an extra key the source has again by then (deleted
	// and re-inserted after the diff) is upserted with its current row, not
	// deleted, so the repair never removes a row the source holds.
	upserts := append(append([][]string{}, res.Missing...), res.Different...)
	keyText := func(k []string) (string, error) {
		var parts []string
		for i, c := range keyCols {
			v, err := schemas.ParseText(c, k[i])
			if err != nil {
				return "", err
			}
			s, err := schemas.FormatText(c, v)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, "\x00"), nil
	}
	if all := append(append([][]string{}, upserts...), res.Extra...); len(all) > 0 {
		rows, err := readRows(ctx, conn, t, tbl, keyCols, all)
		if err != nil {
			return out, fmt.Errorf("%s: read rows to repair: %w", t.Name(), err)
		}
		present := map[string]bool{}
		for _, row := range rows {
			k := make([]string, len(keyCols))
			for i, c := range keyCols {
				if k[i], err = schemas.FormatText(c, row[c.Field]); err != nil {
					return out, fmt.Errorf("%s: row key: %w", t.Name(), err)
				}
			}
			kt, err := keyText(k)
			if err != nil {
				return out, fmt.Errorf("%s: row key: %w", t.Name(), err)
			}
			present[kt] = true
			if err := add(&schemas.Change{Table: tbl, Op: schemas.OpRead, After: row, Source: src, TsMs: now}); err != nil {
				return out, err
			}
		}
		out.Upserts = len(rows)
		for _, k := range upserts {
			if kt, err := keyText(k); err == nil && !present[kt] {
				out.Gone++
			}
		}
		for _, k := range res.Extra {
			kt, err := keyText(k)
			if err != nil {
				return out, fmt.Errorf("%s: extra row key: %w", t.Name(), err)
			}
			if present[kt] {
				continue // back in the source: upserted above
			}
			key := schemas.Row{}
			for i, c := range keyCols {
				if key[c.Field], err = schemas.ParseText(c, k[i]); err != nil {
					return out, fmt.Errorf("%s: extra row key: %w", t.Name(), err)
				}
			}
			if err := add(&schemas.Change{Table: tbl, Op: schemas.OpDelete, Key: key, Before: key, Source: src, TsMs: now}); err != nil {
				return out, err
			}
			out.Deletes++
		}
	}
	if err := r.Producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return out, fmt.Errorf("%s: produce repair records to %s: %w", t.Name(), r.Topic, err)
	}
	return out, nil
}

// readRows reads the current rows of keys from the source in one
// repeatable-read snapshot, parsed like captured values. Keys no longer in
// the source are left out.
func readRows(ctx context.Context, conn *pgx.Conn, t Table, tbl *schemas.Table, keyCols []schemas.Column, keys [][]string) ([]schemas.Row, error) {
	have, _, err := loadColumns(ctx, conn, pgx.Identifier{t.SourceSchema, t.SourceTable}.Sanitize())
	if err != nil {
		return nil, err
	}
	var cols []schemas.Column
	var sel []string
	for _, c := range tbl.Columns {
		// Columns the schema has but the source no longer has (dropped)
		// are left out of the record.
		if _, ok := have[c.Name]; ok {
			cols = append(cols, c)
			sel = append(sel, "t."+pgx.Identifier{c.Name}.Sanitize()+"::text")
		}
	}
	var params, alias, conds []string
	var args []any
	for i, c := range keyCols {
		vals := make([]string, len(keys))
		for j, k := range keys {
			vals[j] = k[i]
		}
		args = append(args, vals)
		params = append(params, fmt.Sprintf("$%d::text[]", i+1))
		alias = append(alias, fmt.Sprintf("__syncline_k%d", i))
		conds = append(conds, fmt.Sprintf("t.%s = u.__syncline_k%d::%s", pgx.Identifier{c.Name}.Sanitize(), i, keyCast(c)))
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + pgx.Identifier{t.SourceSchema, t.SourceTable}.Sanitize() +
		" AS t JOIN unnest(" + strings.Join(params, ", ") + ") AS u(" + strings.Join(alias, ", ") + ") ON " + strings.Join(conds, " AND ")
	var out []schemas.Row
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			vals := make([]*string, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			row := schemas.Row{}
			for i, c := range cols {
				if vals[i] == nil {
					row[c.Field] = nil
					continue
				}
				v, err := schemas.ParseText(c, *vals[i])
				if err != nil {
					return err
				}
				row[c.Field] = v
			}
			out = append(out, row)
		}
		return rows.Err()
	})
	return out, err
}

// keyCast is the type a key parameter (text) is cast to on the source.
func keyCast(c schemas.Column) string {
	if c.PGType != "" {
		return c.PGType
	}
	return "text"
}

package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"syncline/schemas"
)

// snapshot reads every configured table inside the slot's exported
// snapshot and writes the rows as op=r, in Kafka transactions of at most
// BatchMaxRecords rows. The last transaction records the snapshot as done.
func (r *run) snapshot(ctx context.Context, name string, cp pglogrepl.LSN) error {
	conn, err := Connect(ctx, r.cfg.DSN)
	if err != nil {
		return fmt.Errorf("snapshot connection: %w", err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT "+quoteLiteral(name)); err != nil {
		return fmt.Errorf("set transaction snapshot %s: %w", name, err)
	}
	// Snapshot rows carry the snapshot's start as their commit time.
	r.txTime = time.Now()
	pos := Position{System: "postgres", Slot: r.cfg.Slot, LSN: cp.String(), Snapshot: "running", SnapshotLSN: cp.String()}
	for _, tn := range r.cfg.Tables {
		ri := r.tables[tn]
		cols, err := snapshotColumns(ctx, conn, ri.OID)
		if err != nil {
			return fmt.Errorf("columns of %s: %w", tn, err)
		}
		rs, err := r.relFor(ctx, ri, cols)
		if err != nil {
			return err
		}
		var list []string
		for _, c := range cols {
			list = append(list, pgx.Identifier{c.Name}.Sanitize())
		}
		// ONLY keeps inheritance children out; a partitioned table's rows
		// are all in its partitions, published through the root.
		from := " FROM ONLY "
		if ri.Kind == 'p' {
			from = " FROM "
		}
		sql := "SELECT " + strings.Join(list, ", ") + from + tn.Quoted()
		if len(cols) == 0 {
			continue
		}
		rr := conn.PgConn().ExecParams(ctx, sql, nil, nil, nil, nil)
		n := 0
		for rr.NextRow() {
			vals := rr.Values()
			row := make(schemas.Row, len(cols))
			var perr error
			for i, c := range rs.table.Columns {
				if vals[i] == nil {
					continue
				}
				v, err := schemas.ParseText(c, string(vals[i]))
				if err != nil {
					perr = err
					break
				}
				row[c.Field] = v
			}
			ch := &schemas.Change{Op: schemas.OpRead, After: row, Source: r.sourceInfo(rs, position(cp, 0), 0, 0)}
			ch.Source.Snapshot = "true"
			if perr != nil {
				if err := r.park(ctx, rs, ch, textValues(cols, vals), perr); err != nil {
					rr.Close()
					return err
				}
				continue
			}
			if err := r.emit(ctx, rs, ch); err != nil {
				rr.Close()
				return err
			}
			n++
			if r.w.count >= r.cfg.BatchMaxRecords {
				if err := r.w.commit(ctx, pos); err != nil {
					rr.Close()
					return err
				}
				r.committed()
			}
		}
		if _, err := rr.Close(); err != nil {
			return fmt.Errorf("snapshot of %s: %w", tn, err)
		}
		pos.SnapshotTables = append(pos.SnapshotTables, tn.String())
		r.log.Info("snapshot of table read", "table", tn.String(), "rows", n)
	}
	pos.Snapshot = "done"
	if err := r.w.commit(ctx, pos); err != nil {
		return err
	}
	r.committed()
	r.pos = pos
	return tx.Commit(ctx)
}

package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/topics"
	"syncline/schemas"
)

// stream runs the replication protocol from start until ctx is done or
// something fails.
func (r *run) stream(ctx context.Context, start pglogrepl.LSN) error {
	stored, _ := pglogrepl.ParseLSN(r.pos.LSN)
	if stored == 0 {
		stored = start
	}
	// A transaction partly in Kafka is resent whole: its changes up to
	// resumeSeq are dropped.
	r.resumeTx, r.resumeSeq = r.pos.TxLSN, r.pos.TxSeq
	args := []string{"proto_version '1'", "publication_names " + quoteLiteral(r.cfg.Publication)}
	if r.serverVersion >= 140000 {
		// Logical decoding messages: heartbeats and forwarded messages.
		args = append(args, "messages 'true'")
	}
	err := pglogrepl.StartReplication(ctx, r.repl, r.cfg.Slot, start, pglogrepl.StartReplicationOptions{PluginArgs: args})
	if err != nil {
		if lost := slotLost(err); lost {
			return permanent(r.slotLostError(err.Error()))
		}
		return fmt.Errorf("start replication on slot %s: %w", r.cfg.Slot, err)
	}
	r.ready.Store(true)
	r.log.Info("streaming", "slot", r.cfg.Slot, "lsn", start.String())
	nextStatus := time.Now()
	nextBeat := time.Now()
	for {
		now := time.Now()
		if now.After(nextStatus) {
			if err := r.sendStatus(ctx); err != nil {
				return err
			}
			r.reportLag(ctx)
			nextStatus = now.Add(r.cfg.StatusInterval)
		}
		if r.cfg.HeartbeatInterval > 0 && now.After(nextBeat) {
			r.heartbeat(ctx)
			nextBeat = now.Add(r.cfg.HeartbeatInterval)
		}
		if (r.w.open && now.Sub(r.w.started) >= r.cfg.BatchMaxWait) || (r.stateDirty && !r.inTx) {
			if err := r.flush(ctx); err != nil {
				return err
			}
		}
		if !r.inTx && len(r.pos.Backfills) > 0 {
			if err := r.scheduleChunks(ctx); err != nil {
				return err
			}
		}
		deadline := nextStatus
		if r.cfg.HeartbeatInterval > 0 {
			deadline = minTime(deadline, nextBeat)
		}
		if r.w.open {
			deadline = minTime(deadline, r.w.started.Add(r.cfg.BatchMaxWait))
		}
		if !r.inTx && r.chunkDue() {
			// A backfill waits for its next chunk: do not sit in a
			// receive until the next status or message (a short wait,
			// not none, so that the stream is still read).
			deadline = minTime(deadline, now.Add(5*time.Millisecond))
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		msg, err := r.repl.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return r.shutdown()
			}
			if pgconn.Timeout(err) {
				continue
			}
			return fmt.Errorf("receive from slot %s: %w", r.cfg.Slot, err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return fmt.Errorf("parse keepalive: %w", err)
				}
				// Idle and everything sent so far is in Kafka: the slot may
				// move on, so an idle source does not hold WAL back.
				if !r.inTx && !r.w.open && ka.ServerWALEnd > r.acked {
					r.acked = ka.ServerWALEnd
				}
				if ka.ReplyRequested {
					nextStatus = time.Time{}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return fmt.Errorf("parse XLogData: %w", err)
				}
				if err := r.handle(ctx, xld, stored); err != nil {
					return err
				}
			}
		case *pgproto3.ErrorResponse:
			if slotLost(pgconn.ErrorResponseToPgError(m)) {
				return permanent(r.slotLostError(m.Message))
			}
			return fmt.Errorf("replication error from server: %s (%s)", m.Message, m.Code)
		default:
			return fmt.Errorf("unexpected replication message %T", msg)
		}
	}
}

// heartbeatPrefix is the prefix of the logical decoding messages the
// source writes as heartbeats.
const heartbeatPrefix = "syncline.heartbeat"

// heartbeat writes a transactional logical decoding message to the source.
// Decoding it hands the slot a commit of its own database even when the
// captured tables are idle and the WAL is written by other tables or other
// databases, so the slot's confirmed position keeps up and WAL is freed.
func (r *run) heartbeat(ctx context.Context) {
	if r.serverVersion < 140000 {
		return // pgoutput forwards messages from Postgres 14 on
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := r.conn.Exec(hctx, "SELECT pg_logical_emit_message(true, $1, $2)", heartbeatPrefix, time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil && !r.beatFailed {
		r.log.Warn("heartbeat failed; the slot advances only with changes of the captured tables (grant EXECUTE on pg_logical_emit_message, or set heartbeat_interval: 0)", "err", err)
	}
	r.beatFailed = err != nil
}

// forwardMessage reports whether messages with prefix are forwarded.
func (r *run) forwardMessage(prefix string) bool {
	for _, p := range r.cfg.Messages {
		if p == "*" || p == prefix {
			return prefix != heartbeatPrefix
		}
	}
	return false
}

// message handles a logical decoding message: heartbeats only move the
// position; configured prefixes are forwarded to the messages topic in the
// same Kafka transaction as the changes around them, exactly once.
func (r *run) message(ctx context.Context, m *pglogrepl.LogicalDecodingMessage, stored pglogrepl.LSN) error {
	if m.Prefix == signalPrefix {
		if (m.Transactional && !r.skipTx && !r.nextSeq()) || (!m.Transactional && m.LSN >= stored) {
			r.signal(m.Content)
			if !m.Transactional && m.LSN+1 > r.lastLSN {
				r.lastLSN = m.LSN + 1
			}
		}
		return nil
	}
	if m.Prefix == watermarkPrefix && m.Transactional {
		if r.skipTx || r.nextSeq() {
			return nil
		}
		return r.watermark(ctx, string(m.Content))
	}
	if !m.Transactional {
		// Outside any transaction: its own LSN orders it.
		if m.LSN < stored || !r.forwardMessage(m.Prefix) {
			return nil
		}
		if err := r.produceMessage(ctx, m, position(m.LSN, 0), 0); err != nil {
			return err
		}
		if end := m.LSN + 1; end > r.lastLSN {
			r.lastLSN = end
		}
		return nil
	}
	if r.skipTx {
		return nil
	}
	// Every transactional message takes a sequence number, forwarded or
	// not, so numbering does not depend on the configuration.
	if r.nextSeq() || !r.forwardMessage(m.Prefix) {
		return nil
	}
	if err := r.produceMessage(ctx, m, position(r.txCommit, r.txSeq), r.txXid); err != nil {
		return err
	}
	return r.flushLarge(ctx)
}

func (r *run) produceMessage(ctx context.Context, m *pglogrepl.LogicalDecodingMessage, pos string, xid uint32) error {
	hdr := []kgo.RecordHeader{
		{Key: "syncline.source", Value: []byte(r.cfg.Name)},
		{Key: "syncline.prefix", Value: []byte(m.Prefix)},
		{Key: "syncline.position", Value: []byte(pos)},
		{Key: "syncline.lsn", Value: []byte(m.LSN.String())},
		{Key: "syncline.transactional", Value: []byte(fmt.Sprint(m.Transactional))},
	}
	if xid != 0 {
		hdr = append(hdr, kgo.RecordHeader{Key: "syncline.txid", Value: []byte(fmt.Sprint(xid))})
	}
	r.pending[[2]string{"message:" + m.Prefix, "m"}]++
	// m.Content points into the connection's receive buffer, which the
	// next receive reuses while the record may still wait to be sent.
	value := bytes.Clone(m.Content)
	return r.w.produce(ctx, &kgo.Record{Topic: topics.Messages(r.cfg.TopicPrefix, r.cfg.Name), Key: []byte(m.Prefix), Value: value, Headers: hdr})
}

// slotLost reports whether err says the slot can no longer be read
// (invalidated by max_slot_wal_keep_size, or its WAL removed).
func slotLost(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	msg := pe.Message + " " + pe.Detail
	return pe.Code == "55000" && (strings.Contains(msg, "invalidated") || strings.Contains(msg, "can no longer") || strings.Contains(msg, "exceeded the maximum reserved size")) ||
		pe.Code == "58P01" && strings.Contains(msg, "has already been removed")
}

func (r *run) slotLostError(why string) error {
	return fmt.Errorf("replication slot %s of source %s is lost (%s): the changes it held back can no longer be read. To recover, stop syncline and run `syncline resnapshot %s --config <file>` (it drops the slot and forgets the stored position), then start syncline: it takes a new snapshot, and the changes stage drops the rows that did not change, so sinks receive only the differences. Raise max_slot_wal_keep_size to keep this from happening again",
		r.cfg.Slot, r.cfg.Name, why, r.cfg.Name)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// shutdown commits the open Kafka transaction with its position (inside a
// Postgres transaction too: the position says how much of it is written),
// so a graceful stop loses and repeats nothing.
func (r *run) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if r.w.open {
		if err := r.flush(ctx); err != nil {
			r.log.Warn("final commit failed; its transactions will be captured again on restart", "err", err)
			return nil
		}
	}
	_ = r.sendStatus(ctx)
	return nil
}

func (r *run) sendStatus(ctx context.Context) error {
	err := pglogrepl.SendStandbyStatusUpdate(ctx, r.repl, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: r.acked, WALFlushPosition: r.acked, WALApplyPosition: r.acked, ClientTime: time.Now(),
	})
	if err != nil {
		return fmt.Errorf("send standby status: %w", err)
	}
	return nil
}

func (r *run) reportLag(ctx context.Context) {
	var lag *int64
	err := r.conn.QueryRow(ctx, `SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1`, r.cfg.Slot).Scan(&lag)
	if err == nil && lag != nil {
		r.m.SourceLagBytes.WithLabelValues(r.cfg.Name).Set(float64(*lag))
	}
}

// flush commits the open Kafka transaction with the position after the last
// complete Postgres transaction in it, then acknowledges that to the slot.
//
// Inside a Postgres transaction the position also records how much of that
// transaction is written (TxLSN, TxSeq); the slot is still acknowledged
// only up to the last complete one.
func (r *run) flush(ctx context.Context) error {
	pos := r.pos
	pos.LSN = r.lastLSN.String()
	pos.TxLSN, pos.TxSeq = "", 0
	if r.inTx {
		pos.TxLSN, pos.TxSeq = position(r.txCommit, 0), r.txSeq
	}
	if err := r.w.commit(ctx, pos); err != nil {
		return err
	}
	r.pos = pos
	r.stateDirty = false
	r.publishBackfills()
	r.committed()
	if r.lastLSN > r.acked {
		r.acked = r.lastLSN
	}
	return r.sendStatus(ctx)
}

func (r *run) sourceInfo(rs *relState, pos string, xid uint32, lsn pglogrepl.LSN) schemas.Source {
	return schemas.Source{
		System: "postgres", Name: r.cfg.Name, DB: r.db, Schema: rs.table.Schema, Table: rs.table.Name,
		Position: pos, TxID: int64(xid), LSN: int64(lsn), CommitMs: r.txTime.UnixMilli(),
	}
}

func (r *run) handle(ctx context.Context, xld pglogrepl.XLogData, stored pglogrepl.LSN) error {
	msg, err := parseMessage(xld.WALData)
	if err != nil {
		return fmt.Errorf("parse pgoutput message at %s: %w", xld.WALStart, err)
	}
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		// Tables are known by OID: a renamed table keeps flowing under
		// its configured name (and topics) until the configuration names
		// it anew.
		if m.RelationID == r.signalOID && r.signalOID != 0 {
			var names []string
			for _, c := range m.Columns {
				names = append(names, c.Name)
			}
			r.rels[m.RelationID] = &relState{signalCols: names}
			return nil
		}
		ri, ok := r.byOID[m.RelationID]
		if !ok {
			r.rels[m.RelationID] = &relState{skipped: true}
			return nil
		}
		if name := (TableName{Schema: m.Namespace, Name: m.RelationName}); name != ri.Name {
			r.log.Warn("captured table was renamed; its changes keep going to the topics of its configured name; list it under its new name in sources[].tables before the next restart",
				"table", ri.Name.String(), "new_name", name.String())
		}
		cols := make([]column, len(m.Columns))
		for i, c := range m.Columns {
			cols[i] = column{Name: c.Name, OID: c.DataType, TypMod: c.TypeModifier}
		}
		rs, err := r.relFor(ctx, ri, cols)
		if err != nil {
			return err
		}
		r.rels[m.RelationID] = rs
	case *pglogrepl.BeginMessage:
		r.inTx, r.txCommit, r.txXid, r.txTime, r.txSeq = true, m.FinalLSN, m.Xid, m.CommitTime, 0
		// Transactions committed before the stored position are in Kafka.
		r.skipTx = m.FinalLSN < stored
		r.skipSeq = 0
		if !r.skipTx && r.resumeTx != "" && r.resumeTx == position(m.FinalLSN, 0) {
			r.skipSeq = r.resumeSeq
		}
	case *pglogrepl.CommitMessage:
		r.inTx = false
		if r.skipTx {
			return nil
		}
		r.lastLSN = m.TransactionEndLSN
		if !r.w.open && !r.stateDirty && r.pos.TxLSN != position(r.txCommit, 0) {
			// Nothing of this transaction is waiting for a Kafka commit.
			if r.lastLSN > r.acked {
				r.acked = r.lastLSN
			}
			return nil
		}
		if !r.w.open {
			// The end of a transaction written in parts, or a signal or
			// backfill progress to record.
			return r.flush(ctx)
		}
		if r.w.count >= r.cfg.BatchMaxRecords || time.Since(r.w.started) >= r.cfg.BatchMaxWait {
			return r.flush(ctx)
		}
	case *pglogrepl.LogicalDecodingMessage:
		return r.message(ctx, m, stored)
	case *pglogrepl.InsertMessage:
		if err := r.change(ctx, m.RelationID, schemas.OpCreate, 0, nil, m.Tuple); err != nil {
			return err
		}
		return r.flushLarge(ctx)
	case *pglogrepl.UpdateMessage:
		if err := r.change(ctx, m.RelationID, schemas.OpUpdate, m.OldTupleType, m.OldTuple, m.NewTuple); err != nil {
			return err
		}
		return r.flushLarge(ctx)
	case *pglogrepl.DeleteMessage:
		if err := r.change(ctx, m.RelationID, schemas.OpDelete, m.OldTupleType, m.OldTuple, nil); err != nil {
			return err
		}
		return r.flushLarge(ctx)
	case *pglogrepl.TruncateMessage:
		if r.skipTx {
			return nil
		}
		for _, id := range m.RelationIDs {
			rs := r.rels[id]
			if rs == nil || rs.skipped {
				continue
			}
			if r.nextSeq() {
				continue
			}
			ch := &schemas.Change{Op: schemas.OpTruncate, Source: r.sourceInfo(rs, position(r.txCommit, r.txSeq), r.txXid, r.txCommit)}
			if rs.stopped != nil {
				if err := r.park(ctx, rs, ch, nil, rs.stopped); err != nil {
					return err
				}
				continue
			}
			if err := r.emit(ctx, rs, ch); err != nil {
				return err
			}
		}
		return r.flushLarge(ctx)
	}
	return nil
}

// parseMessage parses a pgoutput message. pglogrepl panics on some
// malformed input (an empty message, say); that becomes an error here.
func parseMessage(data []byte) (msg pglogrepl.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			msg, err = nil, fmt.Errorf("malformed pgoutput message (%d bytes, type %q): %v", len(data), firstByte(data), p)
		}
	}()
	if len(data) == 0 {
		return nil, fmt.Errorf("empty pgoutput message")
	}
	return pglogrepl.Parse(data)
}

func firstByte(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return string(b[:1])
}

// nextSeq numbers the next change of the current transaction and reports
// whether it is already in Kafka (written before a restart).
func (r *run) nextSeq() (skip bool) {
	r.txSeq++
	return r.txSeq <= r.skipSeq
}

// flushLarge commits the open Kafka transaction in the middle of a large
// Postgres transaction once it holds BatchMaxRecords records, so memory,
// the Kafka transaction's size and its duration stay bounded however large
// the Postgres transaction is.
func (r *run) flushLarge(ctx context.Context) error {
	if r.inTx && r.w.open && r.w.count >= r.cfg.BatchMaxRecords {
		return r.flush(ctx)
	}
	return nil
}

// rowOf converts a pgoutput tuple. Unchanged TOAST values are left out of
// the row and listed in unavailable.
func rowOf(rs *relState, td *pglogrepl.TupleData) (row schemas.Row, unavailable []string, err error) {
	if td == nil {
		return nil, nil, nil
	}
	if len(td.Columns) != len(rs.table.Columns) {
		return nil, nil, fmt.Errorf("tuple of %s has %d columns, relation has %d", rs.table.ID(), len(td.Columns), len(rs.table.Columns))
	}
	row = make(schemas.Row, len(td.Columns))
	for i, c := range td.Columns {
		col := rs.table.Columns[i]
		switch c.DataType {
		case pglogrepl.TupleDataTypeNull:
		case pglogrepl.TupleDataTypeToast:
			unavailable = append(unavailable, col.Field)
		case pglogrepl.TupleDataTypeText:
			v, perr := schemas.ParseText(col, string(c.Data))
			if perr != nil && err == nil {
				err = perr
			}
			row[col.Field] = v
		default:
			return nil, nil, fmt.Errorf("column %q of %s: unexpected tuple data type %q", col.Name, rs.table.ID(), c.DataType)
		}
	}
	return row, unavailable, err
}

func (r *run) change(ctx context.Context, relID uint32, op schemas.Op, oldType uint8, oldTuple, newTuple *pglogrepl.TupleData) error {
	if r.skipTx {
		return nil
	}
	rs := r.rels[relID]
	if rs == nil {
		return fmt.Errorf("change for relation %d before its relation message", relID)
	}
	if rs.skipped {
		return nil
	}
	if rs.signalCols != nil {
		if op == schemas.OpCreate && !r.nextSeq() {
			r.signalRow(rs.signalCols, newTuple)
		}
		return nil
	}
	before, _, berr := rowOf(rs, oldTuple)
	after, unavailable, aerr := rowOf(rs, newTuple)
	if oldType == 'K' {
		// Only the key columns are sent for the old row.
		for _, c := range rs.table.Columns {
			if !c.Key {
				delete(before, c.Field)
			}
		}
	}
	skip := r.nextSeq()
	src := r.sourceInfo(rs, position(r.txCommit, r.txSeq), r.txXid, r.txCommit)
	if berr == nil && aerr == nil && rs.stopped != nil {
		berr = rs.stopped
	}
	if berr != nil || aerr != nil {
		if skip {
			return nil
		}
		ch := &schemas.Change{Op: op, Source: src}
		vals := map[string]any{}
		if oldTuple != nil {
			vals["before"] = tupleText(rs, oldTuple)
		}
		if newTuple != nil {
			vals["after"] = tupleText(rs, newTuple)
		}
		cause := berr
		if cause == nil {
			cause = aerr
		}
		return r.park(ctx, rs, ch, vals, cause)
	}
	if oldType == 'O' && len(unavailable) > 0 {
		// REPLICA IDENTITY FULL sent the old row: unchanged TOAST values
		// are in it.
		var still []string
		for _, f := range unavailable {
			if v, ok := before[f]; ok {
				after[f] = v
			} else {
				still = append(still, f)
			}
		}
		unavailable = still
	}
	if op == schemas.OpUpdate && (oldType == 'K' || oldType == 'O') && keyChanged(rs.table, before, after) {
		// A key change is a delete of the old key and an insert of the new.
		if !skip {
			del := &schemas.Change{Op: schemas.OpDelete, Key: before, Before: before, Source: src}
			if err := r.emit(ctx, rs, del); err != nil {
				return err
			}
		}
		skip = r.nextSeq()
		src = r.sourceInfo(rs, position(r.txCommit, r.txSeq), r.txXid, r.txCommit)
		op, before = schemas.OpCreate, nil
	}
	if skip {
		return nil
	}
	ch := &schemas.Change{Op: op, Before: before, After: after, Unavailable: unavailable, Source: src}
	if op == schemas.OpDelete {
		ch.Key = before
	}
	return r.emit(ctx, rs, ch)
}

func keyChanged(t *schemas.Table, before, after schemas.Row) bool {
	for _, c := range t.KeyColumns() {
		if !schemas.ValueEqual(before[c.Field], after[c.Field]) {
			return true
		}
	}
	return false
}

func tupleText(rs *relState, td *pglogrepl.TupleData) map[string]any {
	out := map[string]any{}
	for i, c := range td.Columns {
		if i >= len(rs.table.Columns) {
			break
		}
		switch c.DataType {
		case pglogrepl.TupleDataTypeText:
			out[rs.table.Columns[i].Name] = string(c.Data)
		case pglogrepl.TupleDataTypeNull:
			out[rs.table.Columns[i].Name] = nil
		}
	}
	return out
}

func textValues(cols []column, vals [][]byte) map[string]any {
	out := map[string]any{}
	for i, c := range cols {
		if vals[i] == nil {
			out[c.Name] = nil
		} else {
			out[c.Name] = string(vals[i])
		}
	}
	return map[string]any{"after": out}
}

// park writes a change that cannot be encoded to the DLQ, inside the open
// Kafka transaction (so it is parked exactly once), with its values as text.
func (r *run) park(ctx context.Context, rs *relState, ch *schemas.Change, vals map[string]any, cause error) error {
	body, _ := json.Marshal(map[string]any{
		"table": rs.table.ID(), "op": ch.Op, "position": ch.Source.Position, "values": vals,
	})
	reason := "unrepresentable_value"
	if rs.stopped != nil && errors.Is(cause, rs.stopped) {
		reason = "schema_incompatible"
	}
	rec := &kgo.Record{Topic: topics.DLQ(r.cfg.TopicPrefix), Key: []byte(rs.table.ID()), Value: body, Headers: []kgo.RecordHeader{
		{Key: "syncline.stage", Value: []byte("capture")},
		{Key: "syncline.reason", Value: []byte(reason)},
		{Key: "syncline.error", Value: []byte(cause.Error())},
		{Key: "syncline.topic", Value: []byte(rs.topic)},
		{Key: "syncline.position", Value: []byte(ch.Source.Position)},
	}}
	if reason == "unrepresentable_value" {
		r.log.Error("change parked in the DLQ", "table", rs.table.ID(), "position", ch.Source.Position, "err", cause)
	}
	r.m.DLQRecords.WithLabelValues("capture", reason).Inc()
	return r.w.produce(ctx, rec)
}

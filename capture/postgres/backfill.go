package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"syncline/schemas"
)

// Backfills follow Netflix's DBLog: a table is read in primary-key chunks,
// each between a low and a high watermark written to the WAL as logical
// decoding messages. When the stream reaches the high watermark, chunk rows
// whose key the stream changed between the two watermarks are dropped (the
// stream carries newer values for them) and the rest are emitted as op=r at
// the high watermark's position, in the same Kafka transaction as the
// backfill's progress. Nothing is locked and no long transaction holds WAL
// back; a killed backfill resumes after the last row committed to Kafka.
//
// Backfills are started, paused, resumed and cancelled by signals: logical
// decoding messages with prefix syncline.signal (what `syncline backfill`
// writes) or rows inserted into the configured signal table. Signals travel
// through the WAL, so they are ordered with the changes and applied once.

const (
	signalPrefix    = "syncline.signal"
	watermarkPrefix = "syncline.watermark"

	// initialBackfill is the id of the backfills that make the initial
	// snapshot.
	initialBackfill = "initial"

	// DefaultChunkSize is the rows per backfill chunk when a signal names
	// none.
	DefaultChunkSize = 1000
	// defaultMaxBackfills bounds the backfills that read chunks at once.
	defaultMaxBackfills = 2
)

// Backfill states.
const (
	BackfillRunning   = "running"
	BackfillPaused    = "paused"
	BackfillDone      = "done"
	BackfillCancelled = "cancelled"
	BackfillFailed    = "failed"
)

// Backfill is one table's backfill and its progress, stored in the source's
// position (so progress commits with the rows).
type Backfill struct {
	ID        string `json:"id"`
	Table     string `json:"table"` // schema.table as configured
	Where     string `json:"where,omitempty"`
	ChunkSize int    `json:"chunk_size"`
	State     string `json:"state"`
	// LastKey is the text form of the key columns of the last row read;
	// the next chunk starts after it. Empty: from the start.
	LastKey   []string  `json:"last_key,omitempty"`
	Rows      int64     `json:"rows"`     // rows read so far
	Emitted   int64     `json:"emitted"`  // rows written (the others changed inside their window)
	Estimate  int64     `json:"estimate"` // rows in the table when the backfill started (pg_class estimate)
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Error     string    `json:"error,omitempty"`
}

// Signal is what starts or steers backfills.
type Signal struct {
	ID        string   `json:"id"`
	Type      string   `json:"type"` // backfill, pause, resume, cancel
	Tables    []string `json:"tables,omitempty"`
	Where     string   `json:"where,omitempty"`
	ChunkSize int      `json:"chunk_size,omitempty"`
}

// chunk is one chunk in flight: read between its watermarks, waiting for
// the high watermark in the stream.
type chunk struct {
	nonce   string
	bf      *Backfill
	table   TableName
	rows    []chunkRow
	last    bool // fewer rows than the chunk size: the table ends here
	open    bool // the low watermark was seen
	changed map[string]bool
	reset   bool // a truncate inside the window: drop everything
}

type chunkRow struct {
	key  string
	keys []string
	row  schemas.Row
	bad  error          // a value that cannot be carried: parked in the DLQ
	text map[string]any // the row as text, when bad
}

func newNonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// signal applies a signal. Unknown tables and malformed signals are logged
// and ignored (the stream must go on).
func (r *run) signal(raw []byte) {
	var sg Signal
	if err := json.Unmarshal(raw, &sg); err != nil {
		r.log.Error("ignoring a malformed signal", "signal", string(raw), "err", err)
		return
	}
	now := time.Now().UTC()
	switch sg.Type {
	case "backfill":
		if sg.ID == "" {
			sg.ID = newNonce()
		}
		if sg.ChunkSize <= 0 {
			sg.ChunkSize = DefaultChunkSize
		}
		tables := sg.Tables
		if len(tables) == 0 {
			for _, t := range r.cfg.Tables {
				tables = append(tables, t.String())
			}
		}
		for _, name := range tables {
			tn, ok := r.tableByName(name)
			if !ok {
				r.log.Error("backfill signal names a table this source does not capture", "table", name, "signal", sg.ID)
				continue
			}
			id := sg.ID + "/" + tn.String()
			if r.backfill(id) != nil {
				continue // already known: a replayed signal
			}
			bf := &Backfill{ID: id, Table: tn.String(), Where: sg.Where, ChunkSize: sg.ChunkSize, State: BackfillRunning, StartedAt: now, UpdatedAt: now}
			_ = r.conn.QueryRow(context.Background(), `SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = $1`, r.tables[tn].OID).Scan(&bf.Estimate)
			r.pos.Backfills = append(r.pos.Backfills, bf)
			r.log.Info("backfill started", "id", id, "table", tn.String(), "chunk_size", bf.ChunkSize, "where", bf.Where)
		}
	case "pause", "resume", "cancel":
		to := map[string]string{"pause": BackfillPaused, "resume": BackfillRunning, "cancel": BackfillCancelled}[sg.Type]
		for _, bf := range r.pos.Backfills {
			if bf.State == BackfillDone || bf.State == BackfillCancelled || bf.State == BackfillFailed {
				continue
			}
			if !matchBackfill(bf, sg) {
				continue
			}
			bf.State, bf.UpdatedAt = to, now
			r.log.Info("backfill "+to, "id", bf.ID, "table", bf.Table)
		}
	default:
		r.log.Error("ignoring a signal of unknown type", "type", sg.Type, "signal", string(raw))
		return
	}
	r.stateDirty = true
}

// matchBackfill reports whether a steering signal addresses bf: by id (the
// backfill's or its signal's), else by table, else all.
func matchBackfill(bf *Backfill, sg Signal) bool {
	if sg.ID != "" {
		return bf.ID == sg.ID || strings.HasPrefix(bf.ID, sg.ID+"/")
	}
	if len(sg.Tables) == 0 {
		return true
	}
	for _, t := range sg.Tables {
		if tn, err := parseTableName(t); err == nil && tn.String() == bf.Table {
			return true
		}
	}
	return false
}

func (r *run) tableByName(name string) (TableName, bool) {
	tn, err := parseTableName(name)
	if err != nil {
		return TableName{}, false
	}
	_, ok := r.tables[tn]
	return tn, ok
}

// parseTableName accepts "schema.table" or "table" (public), unquoted.
func parseTableName(s string) (TableName, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return TableName{}, fmt.Errorf("empty table name")
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return TableName{Schema: s[:i], Name: s[i+1:]}, nil
	}
	return TableName{Schema: "public", Name: s}, nil
}

func (r *run) backfill(id string) *Backfill {
	for _, bf := range r.pos.Backfills {
		if bf.ID == id {
			return bf
		}
	}
	return nil
}

// scheduleChunks starts the next chunk of running backfills that have none
// in flight, up to the parallel bound. It runs between Postgres
// transactions.
func (r *run) scheduleChunks(ctx context.Context) error {
	inFlight := map[string]bool{}
	for _, c := range r.chunks {
		inFlight[c.bf.ID] = true
	}
	for _, bf := range r.pos.Backfills {
		if len(inFlight) >= r.cfg.MaxBackfills {
			return nil
		}
		if bf.State != BackfillRunning || inFlight[bf.ID] {
			continue
		}
		if err := r.readChunk(ctx, bf); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A bad WHERE or a dropped table fails this backfill only.
			bf.State, bf.Error, bf.UpdatedAt = BackfillFailed, err.Error(), time.Now().UTC()
			r.stateDirty = true
			r.log.Error("backfill failed", "id", bf.ID, "table", bf.Table, "err", err)
			continue
		}
		inFlight[bf.ID] = true
	}
	return nil
}

// chunkDue reports whether scheduleChunks would start a chunk now: a
// running backfill has none in flight and the parallel bound allows one.
func (r *run) chunkDue() bool {
	if len(r.chunks) >= r.cfg.MaxBackfills {
		return false
	}
	inFlight := map[string]bool{}
	for _, c := range r.chunks {
		inFlight[c.bf.ID] = true
	}
	for _, bf := range r.pos.Backfills {
		if bf.State == BackfillRunning && !inFlight[bf.ID] {
			return true
		}
	}
	return false
}

// readChunk writes the low watermark, reads the next chunk and writes the
// high watermark.
func (r *run) readChunk(ctx context.Context, bf *Backfill) error {
	tn, _ := parseTableName(bf.Table)
	ri := r.tables[tn]
	if ri == nil {
		return fmt.Errorf("table %s is no longer captured by this source", bf.Table)
	}
	rs, err := r.backfillRel(ctx, tn)
	if err != nil {
		return err
	}
	c := &chunk{nonce: newNonce(), bf: bf, table: tn, changed: map[string]bool{}}
	keyCols := rs.table.KeyColumns()
	var list, keys, params []string
	for _, col := range rs.table.Columns {
		list = append(list, pgx.Identifier{col.Name}.Sanitize())
	}
	var args []any
	for i, col := range keyCols {
		keys = append(keys, pgx.Identifier{col.Name}.Sanitize())
		if len(bf.LastKey) == len(keyCols) {
			params = append(params, fmt.Sprintf("$%d::%s", i+1, col.PGType))
			args = append(args, bf.LastKey[i])
		}
	}
	// A table without a key is read in one chunk: its rows have no order
	// to resume by (set sources[].keys to read it in chunks).
	single := len(ri.Keys) == 0
	if single {
		args, params = nil, nil
	}
	var conds []string
	if len(params) > 0 {
		conds = append(conds, "("+strings.Join(keys, ", ")+") > ("+strings.Join(params, ", ")+")")
	}
	if bf.Where != "" {
		conds = append(conds, "("+bf.Where+")")
	}
	from := " FROM ONLY "
	if ri.Kind == 'p' {
		from = " FROM "
	}
	sql := "SELECT " + strings.Join(list, ", ") + from + tn.Quoted()
	if len(conds) > 0 {
		sql += " WHERE " + strings.Join(conds, " AND ")
	}
	if !single {
		sql += " ORDER BY " + strings.Join(keys, ", ") + fmt.Sprintf(" LIMIT %d", bf.ChunkSize)
	}

	if _, err := r.conn.Exec(ctx, "SELECT pg_logical_emit_message(true, $1, $2)", watermarkPrefix, "lw:"+c.nonce); err != nil {
		return fmt.Errorf("write low watermark: %w", err)
	}
	err = pgx.BeginTxFunc(ctx, r.conn, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rr := tx.Conn().PgConn().ExecParams(ctx, sql, textArgs(args), nil, nil, nil)
		for rr.NextRow() {
			vals := rr.Values()
			row := make(schemas.Row, len(vals))
			var bad error
			for i, col := range rs.table.Columns {
				if vals[i] == nil {
					continue
				}
				v, err := schemas.ParseText(col, string(vals[i]))
				if err != nil {
					bad = err
					continue
				}
				row[col.Field] = v
			}
			kt := make([]string, len(keyCols))
			for i, col := range keyCols {
				for j, cc := range rs.table.Columns {
					if cc.Field == col.Field {
						kt[i] = string(vals[j])
					}
				}
			}
			cr := chunkRow{key: rowKey(rs.table, row), keys: kt, row: row, bad: bad}
			if bad != nil {
				cr.text = textValues(rs.cols, vals)
			}
			c.rows = append(c.rows, cr)
		}
		_, err := rr.Close()
		return err
	})
	if err != nil {
		return fmt.Errorf("read chunk of %s (%s): %w", bf.Table, sql, err)
	}
	c.last = single || len(c.rows) < bf.ChunkSize
	if _, err := r.conn.Exec(ctx, "SELECT pg_logical_emit_message(true, $1, $2)", watermarkPrefix, "hw:"+c.nonce); err != nil {
		return fmt.Errorf("write high watermark: %w", err)
	}
	r.chunks[c.nonce] = c
	return nil
}

func textArgs(args []any) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a.(string))
	}
	return out
}

// backfillRel returns the relation state used to encode a table's chunk
// rows, from the catalog's current columns.
func (r *run) backfillRel(ctx context.Context, tn TableName) (*relState, error) {
	ri := r.tables[tn]
	cols, err := snapshotColumns(ctx, r.conn, ri.OID)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", tn, err)
	}
	if rs := r.bfRels[tn]; rs != nil && sameColumns(rs.cols, cols) {
		return rs, nil
	}
	rs, err := r.relFor(ctx, ri, cols)
	if err != nil {
		return nil, err
	}
	r.bfRels[tn] = rs
	return rs, nil
}

func sameColumns(a, b []column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// rowKey renders the key columns of row for window bookkeeping.
func rowKey(t *schemas.Table, row schemas.Row) string {
	var b strings.Builder
	for _, c := range t.KeyColumns() {
		s, _ := schemas.FormatText(c, row[c.Field])
		if row[c.Field] == nil {
			s = "\x00null"
		}
		b.WriteString(s)
		b.WriteByte(0)
	}
	return b.String()
}

// noteWindow records a streamed change of a table with a chunk whose window
// is open: that key's chunk row is stale.
func (r *run) noteWindow(rs *relState, ch *schemas.Change) {
	if len(r.chunks) == 0 {
		return
	}
	tn := TableName{Schema: rs.table.Schema, Name: rs.table.Name}
	for _, c := range r.chunks {
		if !c.open || c.table != tn {
			continue
		}
		if ch.Op == schemas.OpTruncate {
			c.reset = true
			continue
		}
		for _, row := range []schemas.Row{ch.Key, ch.Before, ch.After} {
			if row != nil {
				c.changed[rowKey(rs.table, row)] = true
			}
		}
	}
}

// watermark handles a watermark message of the current transaction.
// Watermarks of chunks this run did not start (written before a restart)
// are ignored: that chunk is read again.
func (r *run) watermark(ctx context.Context, content string) error {
	kind, nonce, _ := strings.Cut(content, ":")
	c := r.chunks[nonce]
	if c == nil {
		return nil
	}
	if kind == "lw" {
		c.open = true
		return nil
	}
	delete(r.chunks, nonce)
	bf := c.bf
	if bf.State != BackfillRunning {
		return nil // paused or cancelled while the chunk was in flight
	}
	rs, err := r.backfillRel(ctx, c.table)
	if err != nil {
		return err
	}
	if c.reset {
		// Truncated inside the window: the chunk may hold rows that no
		// longer exist. Read it again.
		return nil
	}
	for _, cr := range c.rows {
		bf.LastKey = cr.keys
		bf.Rows++
		if c.changed[cr.key] {
			continue // the stream carries a newer value
		}
		r.txSeq++
		if r.txSeq <= r.skipSeq {
			continue
		}
		ch := &schemas.Change{Op: schemas.OpRead, After: cr.row, Source: r.sourceInfo(rs, position(r.txCommit, r.txSeq), r.txXid, r.txCommit)}
		ch.Source.Snapshot = "backfill"
		if strings.HasPrefix(bf.ID, initialBackfill+"/") {
			ch.Source.Snapshot = "true"
		}
		if cr.bad != nil {
			if err := r.park(ctx, rs, ch, cr.text, cr.bad); err != nil {
				return err
			}
			continue
		}
		if err := r.emit(ctx, rs, ch); err != nil {
			return err
		}
		bf.Emitted++
		r.m.BackfillRows.WithLabelValues(bf.Table).Inc()
	}
	bf.UpdatedAt = time.Now().UTC()
	if c.last {
		bf.State = BackfillDone
		r.log.Info("backfill done", "id", bf.ID, "table", bf.Table, "rows", bf.Rows, "emitted", bf.Emitted)
	}
	r.stateDirty = true
	return nil
}

// Backfills returns the source's backfills as last committed to Kafka.
func (s *Source) Backfills() []Backfill {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Backfill(nil), s.backfills...)
}

// publishBackfills makes the committed backfill states visible to status.
func (r *run) publishBackfills() {
	out := make([]Backfill, len(r.pos.Backfills))
	for i, bf := range r.pos.Backfills {
		out[i] = *bf
	}
	r.mu.Lock()
	r.backfills = out
	r.mu.Unlock()
}

// SourceStatus is a source's part of `syncline status`.
type SourceStatus struct {
	Source    string     `json:"source"`
	Backfills []Backfill `json:"backfills"`
}

// Status reports the source's backfills for the status API.
func (s *Source) Status() any {
	return SourceStatus{Source: s.cfg.Name, Backfills: s.Backfills()}
}

// SendSignal writes a signal to the source database as a logical decoding
// message; the source's capture applies it when the stream reaches it. It
// needs only a regular connection to the source database.
func SendSignal(ctx context.Context, dsn string, sg Signal) (Signal, error) {
	if sg.ID == "" && sg.Type == "backfill" {
		sg.ID = time.Now().UTC().Format("20060102T150405") + "-" + newNonce()[:6]
	}
	body, err := json.Marshal(sg)
	if err != nil {
		return sg, err
	}
	conn, err := Connect(ctx, dsn)
	if err != nil {
		return sg, fmt.Errorf("connect to the source: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT pg_logical_emit_message(true, $1, $2)", signalPrefix, string(body)); err != nil {
		return sg, fmt.Errorf("write the signal: %w", err)
	}
	return sg, nil
}

// setupSignalTable creates the signal table when missing and remembers its
// OID; its inserted rows are signals (id, type, data: the other fields).
func (r *run) setupSignalTable(ctx context.Context, t TableName) error {
	sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (id text PRIMARY KEY, type text NOT NULL, data jsonb, created_at timestamptz NOT NULL DEFAULT now())`, t.Quoted())
	err := r.conn.QueryRow(ctx, `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, t.Schema, t.Name).Scan(&r.signalOID)
	if err == pgx.ErrNoRows {
		if t.Schema != "public" {
			sql = fmt.Sprintf("CREATE SCHEMA IF NOT EXISTS %s; ", pgx.Identifier{t.Schema}.Sanitize()) + sql
		}
		if _, err := r.conn.Exec(ctx, sql); err != nil {
			return permanent(fmt.Errorf("create the signal table %s (or create it yourself: %s): %w", t, sql, err))
		}
		r.log.Info("created the signal table", "table", t.String())
		err = r.conn.QueryRow(ctx, `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, t.Schema, t.Name).Scan(&r.signalOID)
	}
	if err != nil {
		return fmt.Errorf("look up the signal table %s: %w", t, err)
	}
	return nil
}

// signalRow turns an inserted signal-table row into a signal.
func (r *run) signalRow(cols []string, td *pglogrepl.TupleData) {
	if td == nil {
		return
	}
	sg := map[string]any{}
	for i, c := range td.Columns {
		if i >= len(cols) || c.DataType != pglogrepl.TupleDataTypeText {
			continue
		}
		switch cols[i] {
		case "id", "type":
			sg[cols[i]] = string(c.Data)
		case "data":
			var data map[string]any
			if err := json.Unmarshal(c.Data, &data); err != nil {
				r.log.Error("ignoring a signal row whose data is not a JSON object", "data", string(c.Data), "err", err)
				return
			}
			for k, v := range data {
				if k != "id" && k != "type" {
					sg[k] = v
				}
			}
		}
	}
	raw, _ := json.Marshal(sg)
	r.signal(raw)
}

// backfillAddedTables starts a backfill of every configured table the
// initial snapshot did not cover: a table added to the configuration later
// gets its existing rows too (its changes stream from now on).
func (r *run) backfillAddedTables() {
	if r.cfg.NoSnapshot || r.pos.Snapshot != "done" {
		return
	}
	var added []string
	for _, t := range r.cfg.Tables {
		if !slices.Contains(r.pos.SnapshotTables, t.String()) {
			added = append(added, t.String())
		}
	}
	if len(added) == 0 {
		return
	}
	r.log.Info("tables added to the configuration: backfilling their existing rows", "tables", added)
	raw, _ := json.Marshal(Signal{ID: "added-" + time.Now().UTC().Format("20060102T150405"), Type: "backfill", Tables: added})
	r.signal(raw)
	r.pos.SnapshotTables = append(r.pos.SnapshotTables, added...)
}

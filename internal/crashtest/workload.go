// Package crashtest proves syncline's delivery promise under crashes: a
// workload generator writes a mixed workload to a source database while the
// syncline process is killed with SIGKILL at random moments and restarted;
// validators then check the raw and change topics (read_committed) and the
// warehouse against exactly what the generator committed.
//
// The generator makes validation exact: every row has a ver column that the
// generator sets to the key's previous version + 1 on every insert and
// update (a re-inserted key continues its numbering), and it records, per
// key, the sequence of operations it committed ("c3", "u4", "d", ...) in
// commit order. Keys are split between workers, so each key's commit order
// is the order of its worker's commits.
//
// The test (crash_test.go) drives it; `make crash` runs the full length.
package crashtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// SchemaSQL creates the source tables of the workload.
const SchemaSQL = `
CREATE TABLE accounts (
	id bigint PRIMARY KEY,
	ver int NOT NULL,
	balance bigint NOT NULL,
	note text
);
CREATE TABLE items (
	tenant int NOT NULL,
	sku text NOT NULL,
	ver int NOT NULL,
	qty int NOT NULL,
	PRIMARY KEY (tenant, sku)
);
CREATE TABLE docs (
	id bigint PRIMARY KEY,
	ver int NOT NULL,
	title text NOT NULL,
	body text
);`

// TableSpec describes a workload table for the validators.
type TableSpec struct {
	Name string   // table name (schema public)
	Key  []string // primary key columns, in key order
	Cols []string // every column, in table order
}

// Tables are the workload's tables.
var Tables = []TableSpec{
	{Name: "accounts", Key: []string{"id"}, Cols: []string{"id", "ver", "balance", "note"}},
	{Name: "items", Key: []string{"tenant", "sku"}, Cols: []string{"tenant", "sku", "ver", "qty"}},
	{Name: "docs", Key: []string{"id"}, Cols: []string{"id", "ver", "title", "body"}},
}

// KeyString is how the generator and the validators name a row: the table
// and its key values joined with "|".
func KeyString(table string, vals ...any) string {
	parts := []string{table}
	for _, v := range vals {
		parts = append(parts, fmt.Sprint(v))
	}
	return strings.Join(parts, "|")
}

// History is what the generator committed: per key, the operations in
// commit order. Tokens are the op followed by the row's ver ("r0", "c1",
// "u2") except deletes, which are "d".
type History struct {
	mu   sync.Mutex
	keys map[string][]string
	ops  atomic.Int64
	txs  atomic.Int64
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{keys: map[string][]string{}} }

func (h *History) add(pending []histEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range pending {
		h.keys[e.key] = append(h.keys[e.key], e.tok)
	}
	h.ops.Add(int64(len(pending)))
	h.txs.Add(1)
}

// Ops returns how many row operations were committed (snapshot reads of
// preloaded rows included).
func (h *History) Ops() int64 { return h.ops.Load() }

// Txs returns how many transactions were committed.
func (h *History) Txs() int64 { return h.txs.Load() }

// Keys returns a copy of the per-key sequences.
func (h *History) Keys() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string][]string, len(h.keys))
	for k, v := range h.keys {
		out[k] = append([]string(nil), v...)
	}
	return out
}

type histEntry struct{ key, tok string }

// Workload parameters.
type Workload struct {
	Workers  int           // concurrent writers, each owning a disjoint key set; default 2
	Ops      int           // row operations to commit in total (about; large transactions may overshoot a little)
	Duration time.Duration // spread the operations over about this long (0: as fast as possible)
	Preload  int           // rows per table written before the pipeline starts (op=r in the snapshot)
	Seed     uint64
	// LargeMin and LargeMax bound the rows of one large transaction; about
	// half of the operations are in large transactions.
	LargeMin, LargeMax int
}

func (w *Workload) defaults() {
	if w.Workers <= 0 {
		w.Workers = 2
	}
	if w.LargeMax <= 0 {
		w.LargeMax = min(max(w.Ops/20, 500), 5000)
	}
	if w.LargeMin <= 0 || w.LargeMin > w.LargeMax {
		w.LargeMin = w.LargeMax / 2
	}
}

// rk is a row key: id for accounts and docs; tenant and sku for items.
type rk struct {
	a int64
	s string
}

type keySet struct {
	list []rk
	idx  map[rk]int
}

func newKeySet() *keySet { return &keySet{idx: map[rk]int{}} }

func (s *keySet) add(k rk) {
	if _, ok := s.idx[k]; ok {
		return
	}
	s.idx[k] = len(s.list)
	s.list = append(s.list, k)
}

func (s *keySet) remove(k rk) {
	i, ok := s.idx[k]
	if !ok {
		return
	}
	last := s.list[len(s.list)-1]
	s.list[i] = last
	s.idx[last] = i
	s.list = s.list[:len(s.list)-1]
	delete(s.idx, k)
}

func (s *keySet) has(k rk) bool { _, ok := s.idx[k]; return ok }

func (s *keySet) random(r *mrand.Rand) (rk, bool) {
	if len(s.list) == 0 {
		return rk{}, false
	}
	return s.list[r.IntN(len(s.list))], true
}

// tableState is one worker's view of the keys it owns in one table.
type tableState struct {
	name    string
	live    *keySet
	deleted *keySet
	ver     map[rk]int
	next    int64 // next new id (accounts, docs) or sku number (items)
}

// worker writes transactions over the keys it owns.
type worker struct {
	id      int
	w       *Workload
	conn    *pgx.Conn
	r       *mrand.Rand
	hist    *History
	tenant  int32
	tables  [3]*tableState // accounts, items, docs
	pending []histEntry
	kinds   int
	stats   *Stats
	quota   int
	doneOp  int
}

// Stats counts what the generator did, by kind.
type Stats struct {
	mu    sync.Mutex
	Kinds map[string]int // transactions by kind
	Rows  map[string]int // rows by kind
}

func (s *Stats) add(kind string, rows int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Kinds[kind]++
	s.Rows[kind] += rows
}

// String summarises the stats.
func (s *Stats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for _, k := range []string{"small", "multi_row_insert", "copy", "bulk_update", "bulk_delete", "mixed_large"} {
		parts = append(parts, fmt.Sprintf("%s: %d txs / %d rows", k, s.Kinds[k], s.Rows[k]))
	}
	return strings.Join(parts, ", ")
}

// Preload writes the rows that exist before the pipeline starts (each
// becomes an op=r record in the snapshot) and records them in h.
func Preload(ctx context.Context, dsn string, n int, h *History) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if n <= 0 {
		return nil
	}
	for _, q := range []string{
		`INSERT INTO accounts SELECT g, 0, g * 100, 'pre ' || g FROM generate_series(1, $1) g`,
		`INSERT INTO items SELECT 1 + g % 2, 'pre-' || lpad(g::text, 6, '0'), 0, g FROM generate_series(1, $1) g`,
		// Every tenth body is ~6 KB: stored out of line (TOAST).
		`INSERT INTO docs SELECT g, 0, 'doc ' || g, CASE WHEN g % 10 = 0 THEN (SELECT string_agg(md5(g::text || x::text), '') FROM generate_series(1, 200) x) END FROM generate_series(1, $1) g`,
	} {
		if _, err := conn.Exec(ctx, q, n); err != nil {
			return fmt.Errorf("preload: %w", err)
		}
	}
	var pend []histEntry
	for g := 1; g <= n; g++ {
		pend = append(pend,
			histEntry{KeyString("accounts", g), "r0"},
			histEntry{KeyString("items", 1+g%2, fmt.Sprintf("pre-%06d", g)), "r0"},
			histEntry{KeyString("docs", g), "r0"})
	}
	h.add(pend)
	return nil
}

// Run runs the workload against dsn until every worker has committed its
// share of w.Ops, recording every committed operation in h. progress, when
// set, is called after each commit with the operations committed so far.
func (w Workload) Run(ctx context.Context, dsn string, h *History, stats *Stats) error {
	w.defaults()
	if stats.Kinds == nil {
		stats.Kinds, stats.Rows = map[string]int{}, map[string]int{}
	}
	start := time.Now()
	errs := make(chan error, w.Workers)
	for i := range w.Workers {
		go func() {
			errs <- w.runWorker(ctx, i, dsn, h, stats, start)
		}()
	}
	var first error
	for range w.Workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (w *Workload) runWorker(ctx context.Context, id int, dsn string, h *History, stats *Stats, start time.Time) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	wk := &worker{id: id, w: w, conn: conn, r: mrand.New(mrand.NewPCG(w.Seed, uint64(id)+1)), hist: h,
		tenant: int32(id + 1), stats: stats, quota: w.Ops / w.Workers}
	if id == 0 {
		wk.quota += w.Ops % w.Workers
	}
	for i, name := range []string{"accounts", "items", "docs"} {
		wk.tables[i] = &tableState{name: name, live: newKeySet(), deleted: newKeySet(), ver: map[rk]int{}, next: 1}
	}
	// Adopt the preloaded rows this worker owns.
	if err := wk.adopt(ctx); err != nil {
		return err
	}
	smallSinceLarge := 0
	largeSize := w.LargeMin + wk.r.IntN(w.LargeMax-w.LargeMin+1)
	for wk.doneOp < wk.quota {
		if err := ctx.Err(); err != nil {
			return err
		}
		var n int
		if smallSinceLarge >= largeSize {
			n, err = wk.large(ctx, min(largeSize, wk.quota-wk.doneOp))
			smallSinceLarge = 0
			largeSize = w.LargeMin + wk.r.IntN(w.LargeMax-w.LargeMin+1)
		} else {
			n, err = wk.small(ctx)
			smallSinceLarge += n
		}
		if err != nil {
			return fmt.Errorf("worker %d: %w", id, err)
		}
		wk.doneOp += n
		if w.Duration > 0 {
			due := start.Add(time.Duration(float64(w.Duration) * float64(wk.doneOp) / float64(wk.quota)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(d):
				}
			}
		}
	}
	return nil
}

func (wk *worker) owns(id int64) bool { return int(id%int64(wk.w.Workers)) == wk.id }

// newID returns a fresh id this worker owns, beyond the preloaded ones.
func (wk *worker) newID(t *tableState) int64 {
	id := int64(wk.id+1)*100_000_000 + t.next
	t.next++
	return id
}

func (wk *worker) adopt(ctx context.Context) error {
	for i, q := range []string{"SELECT id, '' FROM accounts", "SELECT tenant::bigint, sku FROM items", "SELECT id, '' FROM docs"} {
		rows, err := wk.conn.Query(ctx, q)
		if err != nil {
			return err
		}
		t := wk.tables[i]
		for rows.Next() {
			var k rk
			if err := rows.Scan(&k.a, &k.s); err != nil {
				rows.Close()
				return err
			}
			if (i == 1 && k.a == int64(wk.tenant)) || (i != 1 && k.a < 100_000_000 && wk.owns(k.a)) {
				t.live.add(k)
				t.ver[k] = 0
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (wk *worker) keyString(ti int, k rk) string {
	if ti == 1 {
		return KeyString("items", k.a, k.s)
	}
	return KeyString(wk.tables[ti].name, k.a)
}

func (wk *worker) record(ti int, k rk, tok string) {
	wk.pending = append(wk.pending, histEntry{wk.keyString(ti, k), tok})
}

// stmt is one statement of a transaction under construction; apply updates
// the worker's bookkeeping once the transaction committed.
type stmt struct {
	sql  string
	args []any
	rows int64 // rows the statement must affect
}

func bigBody() string {
	b := make([]byte, 4096)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b) // 8 KB, hardly compressible: stored out of line (TOAST)
}

// op picks one random single-row operation on a random table and returns
// its statement. Bookkeeping (versions, live and deleted sets, history) is
// updated right away; a failed transaction fails the run, so there is
// nothing to undo.
func (wk *worker) op() stmt {
	ti := wk.r.IntN(3)
	t := wk.tables[ti]
	p := wk.r.IntN(100)
	switch {
	case p < 40:
		if k, ok := t.live.random(wk.r); ok {
			return wk.update(ti, k)
		}
	case p < 55:
		if k, ok := t.live.random(wk.r); ok {
			return wk.del(ti, k)
		}
	case p < 65:
		if k, ok := t.deleted.random(wk.r); ok {
			return wk.insert(ti, k)
		}
	}
	return wk.insert(ti, wk.fresh(ti))
}

func (wk *worker) fresh(ti int) rk {
	t := wk.tables[ti]
	if ti == 1 {
		k := rk{a: int64(wk.tenant), s: fmt.Sprintf("s-%08d", t.next)}
		t.next++
		return k
	}
	return rk{a: wk.newID(t)}
}

func (wk *worker) insert(ti int, k rk) stmt {
	t := wk.tables[ti]
	v := t.ver[k] + 1
	t.ver[k] = v
	t.deleted.remove(k)
	t.live.add(k)
	wk.record(ti, k, fmt.Sprintf("c%d", v))
	switch ti {
	case 0:
		return stmt{"INSERT INTO accounts (id, ver, balance, note) VALUES ($1, $2, $3, $4)", []any{k.a, v, wk.r.Int64N(1_000_000), fmt.Sprintf("n%d", wk.r.IntN(1000))}, 1}
	case 1:
		return stmt{"INSERT INTO items (tenant, sku, ver, qty) VALUES ($1, $2, $3, $4)", []any{int32(k.a), k.s, v, wk.r.Int32N(1000)}, 1}
	default:
		var body any
		switch wk.r.IntN(10) {
		case 0:
			body = bigBody()
		case 1, 2:
			body = nil
		default:
			body = fmt.Sprintf("short body %d", wk.r.IntN(1_000_000))
		}
		return stmt{"INSERT INTO docs (id, ver, title, body) VALUES ($1, $2, $3, $4)", []any{k.a, v, fmt.Sprintf("title %d", v), body}, 1}
	}
}

func (wk *worker) update(ti int, k rk) stmt {
	t := wk.tables[ti]
	v := t.ver[k] + 1
	t.ver[k] = v
	wk.record(ti, k, fmt.Sprintf("u%d", v))
	switch ti {
	case 0:
		return stmt{"UPDATE accounts SET ver = $2, balance = balance + $3 WHERE id = $1", []any{k.a, v, wk.r.Int64N(100) - 50}, 1}
	case 1:
		return stmt{"UPDATE items SET ver = $3, qty = qty + 1 WHERE tenant = $1 AND sku = $2", []any{int32(k.a), k.s, v}, 1}
	default:
		// The body (TOASTed for some rows) is not touched: Postgres sends
		// it as "unchanged TOAST" and the changes stage fills it from state.
		return stmt{"UPDATE docs SET ver = $2, title = $3 WHERE id = $1", []any{k.a, v, fmt.Sprintf("title %d", v)}, 1}
	}
}

func (wk *worker) del(ti int, k rk) stmt {
	t := wk.tables[ti]
	t.live.remove(k)
	t.deleted.add(k)
	wk.record(ti, k, "d")
	switch ti {
	case 0:
		return stmt{"DELETE FROM accounts WHERE id = $1", []any{k.a}, 1}
	case 1:
		return stmt{"DELETE FROM items WHERE tenant = $1 AND sku = $2", []any{int32(k.a), k.s}, 1}
	default:
		return stmt{"DELETE FROM docs WHERE id = $1", []any{k.a}, 1}
	}
}

// commit runs stmts in one transaction (pipelined) and records the
// pending history once it committed.
func (wk *worker) commit(ctx context.Context, kind string, stmts []stmt, extra func(pgx.Tx) error) (int, error) {
	n := len(wk.pending)
	err := pgx.BeginFunc(ctx, wk.conn, func(tx pgx.Tx) error {
		if extra != nil {
			if err := extra(tx); err != nil {
				return err
			}
		}
		if len(stmts) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		for _, s := range stmts {
			b.Queue(s.sql, s.args...)
		}
		br := tx.SendBatch(ctx, b)
		for i, s := range stmts {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return fmt.Errorf("%s: %w", s.sql, err)
			}
			if tag.RowsAffected() != s.rows {
				br.Close()
				return fmt.Errorf("statement %d (%s %v) affected %d rows, want %d", i, s.sql, s.args, tag.RowsAffected(), s.rows)
			}
		}
		return br.Close()
	})
	if err != nil {
		return 0, fmt.Errorf("%s transaction: %w", kind, err)
	}
	wk.hist.add(wk.pending)
	wk.pending = wk.pending[:0]
	wk.stats.add(kind, n)
	return n, nil
}

// small commits a transaction of 1 to 8 single-row operations.
func (wk *worker) small(ctx context.Context) (int, error) {
	n := 1 + wk.r.IntN(8)
	var stmts []stmt
	for range n {
		stmts = append(stmts, wk.op())
	}
	return wk.commit(ctx, "small", stmts, nil)
}

// large commits one large transaction of about n rows, rotating through
// the kinds: a multi-row INSERT, a COPY, a bulk UPDATE, a bulk DELETE and a
// mixed transaction of single-row statements.
func (wk *worker) large(ctx context.Context, n int) (int, error) {
	n = max(n, 1)
	kind := wk.kinds % 5
	wk.kinds++
	switch kind {
	case 0: // one INSERT ... VALUES statement with many rows, some of them re-inserted keys
		t := wk.tables[0]
		var vals []string
		var args []any
		for i := range n {
			k, ok := t.deleted.random(wk.r)
			if !ok || i%3 != 0 {
				k = wk.fresh(0)
			}
			v := t.ver[k] + 1
			t.ver[k] = v
			t.deleted.remove(k)
			t.live.add(k)
			wk.record(0, k, fmt.Sprintf("c%d", v))
			j := len(args)
			vals = append(vals, fmt.Sprintf("($%d, $%d, $%d, $%d)", j+1, j+2, j+3, j+4))
			args = append(args, k.a, v, wk.r.Int64N(1_000_000), "bulk")
		}
		return wk.commit(ctx, "multi_row_insert", []stmt{{"INSERT INTO accounts (id, ver, balance, note) VALUES " + strings.Join(vals, ", "), args, int64(n)}}, nil)
	case 1: // COPY into items
		t := wk.tables[1]
		var rows [][]any
		for i := range n {
			k, ok := t.deleted.random(wk.r)
			if !ok || i%4 != 0 {
				k = wk.fresh(1)
			}
			v := t.ver[k] + 1
			t.ver[k] = v
			t.deleted.remove(k)
			t.live.add(k)
			wk.record(1, k, fmt.Sprintf("c%d", v))
			rows = append(rows, []any{int32(k.a), k.s, int32(v), wk.r.Int32N(1000)})
		}
		return wk.commit(ctx, "copy", nil, func(tx pgx.Tx) error {
			c, err := tx.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"tenant", "sku", "ver", "qty"}, pgx.CopyFromRows(rows))
			if err != nil {
				return fmt.Errorf("copy: %w", err)
			}
			if c != int64(len(rows)) {
				return fmt.Errorf("copy wrote %d rows, want %d", c, len(rows))
			}
			return nil
		})
	case 2: // one UPDATE statement over many rows: ver = ver + 1 each
		t := wk.tables[wk.r.IntN(2)*2] // accounts or docs
		ti := 0
		if t.name == "docs" {
			ti = 2
		}
		ids := wk.pick(t, n)
		for _, k := range ids {
			t.ver[k]++
			wk.record(ti, k, fmt.Sprintf("u%d", t.ver[k]))
		}
		arr := make([]int64, len(ids))
		for i, k := range ids {
			arr[i] = k.a
		}
		set := "ver = ver + 1, balance = balance + 1"
		if ti == 2 {
			set = "ver = ver + 1, title = 'bulk ' || (ver + 1)"
		}
		return wk.commit(ctx, "bulk_update", []stmt{{"UPDATE " + t.name + " SET " + set + " WHERE id = ANY($1)", []any{arr}, int64(len(ids))}}, nil)
	case 3: // one DELETE statement over many rows of items
		t := wk.tables[1]
		ks := wk.pick(t, n)
		skus := make([]string, len(ks))
		for i, k := range ks {
			skus[i] = k.s
			t.live.remove(k)
			t.deleted.add(k)
			wk.record(1, k, "d")
		}
		return wk.commit(ctx, "bulk_delete", []stmt{{"DELETE FROM items WHERE tenant = $1 AND sku = ANY($2)", []any{wk.tenant, skus}, int64(len(ks))}}, nil)
	default: // many single-row statements of every kind in one transaction
		var stmts []stmt
		for range n {
			stmts = append(stmts, wk.op())
		}
		return wk.commit(ctx, "mixed_large", stmts, nil)
	}
}

// pick returns up to n distinct live keys of t, in random order.
func (wk *worker) pick(t *tableState, n int) []rk {
	n = min(n, len(t.live.list))
	perm := wk.r.Perm(len(t.live.list))[:n]
	out := make([]rk, n)
	for i, j := range perm {
		out[i] = t.live.list[j]
	}
	return out
}

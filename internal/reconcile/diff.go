// Package reconcile compares source tables with the warehouse tables a
// sink delivers them to, reports the rows that differ by key, and repairs
// them through the sink's normal path.
//
// # Comparison
//
// Both sides compute, in SQL, a row count and a checksum (the sum of a
// 64-bit hash per row) over a range of primary keys; only counts and sums
// travel. The whole table is cut first by the source's planner histogram
// of the leading key column (pg_stats; about 100 ranges), and each side
// sums all of those ranges in one scan (width_bucket), both sides at once.
// Without a histogram (never analyzed, or a text-like leading key), and
// for every range below the top, a range whose counts or sums differ is
// cut into Fanout segments of about equal row counts on the side that has
// more rows of it (row_number() over the key order, reading keys only),
// both sides sum the segments, and only the segments that differ are cut
// again. A range of at most LeafRows rows on both sides is compared row by
// row: its keys and row hashes are fetched from both sides and matched by
// key, giving the missing (in the source, not in the warehouse), extra (in
// the warehouse, not in the source) and different rows. Tables that match
// cost one checksum scan of each side and nothing else.
//
// A row's hash is hashtextextended (64 bits) of the row constructor's
// text (NULL and the empty string are told apart) over the columns both
// tables have, each cast to the source column's type (unbounded for
// character and bit types, numeric for money, text for types the
// warehouse does not know), on sessions with the
// capture's output settings (UTC, ISO dates, shortest-exact floats), so a
// widened warehouse column hashes like the source value. The sink's own
// columns (_syncline_position, _syncline_op, _syncline_synced_at,
// _syncline_deleted) are not compared; with soft deletes a row marked
// deleted counts as absent. Keys are compared as row values, (a, b) >= ($1,
// $2), text-like key columns under COLLATE "C" so both databases order
// them alike (such keys cannot use the primary key's index for ranges).
//
// # Lag
//
// The sink trails the source, so rows changed while a comparison runs
// differ for a moment. After the comparison, the differing keys are
// checked once more on both sides after Settle (by key, without ranges),
// and only the rows that still differ are reported.
//
// # Repair
//
// See Repairer: the rows go back through the sink's repair topic as
// ordinary change records and the sink applies them exactly once, guarded
// by position like every change.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"syncline/capture/postgres"
)

// Options tune a comparison.
type Options struct {
	// Fanout is how many segments a differing range is split into;
	// default 16.
	Fanout int
	// LeafRows: a range with at most this many rows on both sides is
	// compared row by row (keys and hashes only); default 256.
	LeafRows int
	// Settle is how long to wait before the differing keys are checked
	// again; 0: no second pass.
	Settle time.Duration
	Log    *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Fanout < 2 {
		o.Fanout = 16
	}
	if o.LeafRows < 1 {
		o.LeafRows = 256
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// Result is the comparison of one table.
type Result struct {
	Table      string   `json:"table"`
	Sink       string   `json:"sink,omitempty"`
	KeyColumns []string `json:"key_columns"`
	// Missing are keys of rows in the source and not in the warehouse,
	// Extra the reverse, Different keys of rows in both whose compared
	// columns differ. Each key lists its values (as text) in KeyColumns
	// order.
	Missing   [][]string `json:"missing"`
	Extra     [][]string `json:"extra"`
	Different [][]string `json:"different"`
	// NotCompared are source columns the warehouse table lacks.
	NotCompared []string `json:"not_compared,omitempty"`
	SourceRows  int64    `json:"source_rows"`
	SinkRows    int64    `json:"sink_rows"`
	Stats       Stats    `json:"stats"`
	// Repair is what a repair of the differences sent.
	Repair *Repaired `json:"repair,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// Stats describe the work a comparison did.
type Stats struct {
	// Ranges is the number of key ranges checksummed on both sides.
	Ranges int `json:"ranges"`
	// LeafRanges were compared row by row.
	LeafRanges int `json:"leaf_ranges"`
	// RowsFetched counts (key, hash) pairs read from both sides.
	RowsFetched int64 `json:"rows_fetched"`
	// TopRanges is how many ranges the whole table was cut into first
	// (more than Fanout when the source's key histogram cut it).
	TopRanges int `json:"top_ranges"`
	// Rechecked keys in the settle pass, and how many of them had caught up.
	Rechecked int     `json:"rechecked"`
	CaughtUp  int     `json:"caught_up"`
	Seconds   float64 `json:"seconds"`
}

// Drift is the number of rows that differ.
func (r *Result) Drift() int { return len(r.Missing) + len(r.Extra) + len(r.Different) }

// keyRange is [lo, hi) in key order; nil is unbounded.
type keyRange struct{ lo, hi []string }

type sum struct {
	n int64
	s string
}

type work struct {
	r        keyRange
	src, snk sum
	depth    int
	unknown  bool // sums not computed yet (src.n is an estimate)
}

// maxDepth bounds bisection (a range that stays differing through this
// many splits, e.g. because of constant concurrent writes, is compared row
// by row).
const maxDepth = 24

// connect opens a session with the capture's output settings, so values
// render as captured text does.
func connect(ctx context.Context, dsn, app string) (*pgx.Conn, error) {
	cfg, err := postgres.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = app
	return pgx.ConnectConfig(ctx, cfg)
}

// comparer holds one table's comparison.
type comparer struct {
	o        Options
	l        *layout
	src, snk *side
	sc, kc   *pgx.Conn // source and sink connections
	res      *Result
}

// Compare compares one table. The returned error covers connection and
// query failures; differences are in the Result.
func Compare(ctx context.Context, t Table, o Options) (*Result, error) {
	o = o.withDefaults()
	start := time.Now()
	res := &Result{Table: t.Name(), Missing: [][]string{}, Extra: [][]string{}, Different: [][]string{}}
	sc, err := connect(ctx, t.SourceDSN, "syncline-diff")
	if err != nil {
		return nil, fmt.Errorf("%s: connect to source %s: %w", t.Name(), t.Source, err)
	}
	defer sc.Close(context.WithoutCancel(ctx))
	kc, err := connect(ctx, t.SinkDSN, "syncline-diff")
	if err != nil {
		return nil, fmt.Errorf("%s: connect to the warehouse: %w", t.Name(), err)
	}
	defer kc.Close(context.WithoutCancel(ctx))
	l, err := loadLayout(ctx, sc, kc, t)
	if err != nil {
		return nil, err
	}
	for _, k := range l.keys {
		res.KeyColumns = append(res.KeyColumns, k.name)
	}
	res.NotCompared = l.skipped
	c := &comparer{o: o, l: l, src: l.source(), snk: l.sink(), sc: sc, kc: kc, res: res}
	if err := c.run(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	if res.Drift() > 0 && o.Settle > 0 {
		o.Log.Info("rows differ; checking them again once the sink had time to catch up", "table", t.Name(), "rows", res.Drift(), "settle", o.Settle)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.Settle):
		}
		if err := c.recheck(ctx); err != nil {
			return nil, fmt.Errorf("%s: settle pass: %w", t.Name(), err)
		}
	}
	res.Stats.Seconds = time.Since(start).Seconds()
	return res, nil
}

// both runs fs and fk concurrently (one on each side's connection).
func both(fs, fk func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- fk() }()
	err := fs()
	if kerr := <-errc; err == nil {
		err = kerr
	}
	return err
}

func (c *comparer) run(ctx context.Context) error {
	est, err := c.estimate(ctx)
	if err != nil {
		return err
	}
	// The whole table is the first range split: one pass over each side
	// (in parallel) answers "in sync" and, if not, already narrows down.
	queue := []work{{src: sum{n: est}, unknown: true}}
	top := true
	for len(queue) > 0 {
		w := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if !w.unknown && w.src == w.snk {
			continue
		}
		if !w.unknown && (max(w.src.n, w.snk.n) <= int64(c.o.LeafRows) || w.depth >= maxDepth) {
			if err := c.leaf(ctx, w.r); err != nil {
				return err
			}
			continue
		}
		segs, err := c.split(ctx, w)
		if err != nil {
			return err
		}
		if top {
			top = false
			c.res.Stats.TopRanges = len(segs)
			for _, sg := range segs {
				c.res.SourceRows += sg.src.n
				c.res.SinkRows += sg.snk.n
			}
		}
		if len(segs) < 2 {
			if w.unknown {
				// Nothing to split by on the source (empty, or the
				// estimate was off): again, now with both counts known.
				segs[0].depth = w.depth + 1
				queue = append(queue, segs[0])
				continue
			}
			// The range did not split (its rows changed meanwhile): row
			// by row.
			if err := c.leaf(ctx, w.r); err != nil {
				return err
			}
			continue
		}
		// Last segment first on the stack: keys are reported in order.
		for i := len(segs) - 1; i >= 0; i-- {
			segs[i].depth = w.depth + 1
			queue = append(queue, segs[i])
		}
	}
	return nil
}

// estimate is the source table's row count as the planner knows it, or
// counted when it was never analyzed.
func (c *comparer) estimate(ctx context.Context) (int64, error) {
	var est float64
	if err := c.sc.QueryRow(ctx, "SELECT coalesce((SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)), -1)", c.src.ident).Scan(&est); err != nil {
		return 0, fmt.Errorf("estimate the rows of the source table: %w", err)
	}
	if est > 0 {
		return int64(est), nil
	}
	var n int64
	if err := c.sc.QueryRow(ctx, "SELECT count(*) FROM "+c.src.ident).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the rows of the source table: %w", err)
	}
	return n, nil
}

// checksums sums a side's rows in each of ranges (one round trip).
func (c *comparer) checksums(ctx context.Context, conn *pgx.Conn, s *side, ranges []keyRange) ([]sum, error) {
	batch := &pgx.Batch{}
	for _, r := range ranges {
		var a []any
		batch.Queue("SELECT count(*), coalesce(sum("+s.hashExpr()+"), 0)::text FROM "+s.ident+" WHERE "+s.where(&a, r), a...)
	}
	br := conn.SendBatch(ctx, batch)
	out := make([]sum, len(ranges))
	for i := range out {
		if err := br.QueryRow().Scan(&out[i].n, &out[i].s); err != nil {
			br.Close()
			return nil, fmt.Errorf("checksum on the %s: %w", s.name, err)
		}
	}
	return out, br.Close()
}

// bucketSums sums a side's rows in the ranges cut by one-column bounds,
// (-inf, b1), [b1, b2), ..., [bn, +inf), in one scan: width_bucket puts
// each row's leading key column in its range.
func (c *comparer) bucketSums(ctx context.Context, conn *pgx.Conn, s *side, bounds [][]string) ([]sum, error) {
	vals := make([]string, len(bounds))
	for i, b := range bounds {
		vals[i] = b[0]
	}
	k := s.keys[0]
	where := "true"
	if s.filter != "" {
		where = s.filter
	}
	q := "SELECT width_bucket(" + pgx.Identifier{k.name}.Sanitize() + ", $1::text[]::" + s.ownType(k) + "[]), count(*), sum(" + s.hashExpr() + ")::text FROM " +
		s.ident + " WHERE " + where + " GROUP BY 1"
	rows, err := conn.Query(ctx, q, vals)
	if err != nil {
		return nil, fmt.Errorf("checksum on the %s: %w", s.name, err)
	}
	defer rows.Close()
	out := make([]sum, len(bounds)+1)
	for i := range out {
		out[i].s = "0"
	}
	for rows.Next() {
		var b int
		var sm sum
		if err := rows.Scan(&b, &sm.n, &sm.s); err != nil {
			return nil, err
		}
		if b < 0 || b >= len(out) {
			return nil, fmt.Errorf("checksum on the %s: bucket %d out of range", s.name, b)
		}
		out[b] = sm
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("checksum on the %s: %w", s.name, err)
	}
	return out, nil
}

// histogram returns the bounds of the source's histogram of the leading
// key column (pg_stats, kept by ANALYZE) as one-column key prefixes, or nil
// when there is none or the column's order is a collation's (the
// histogram's order would not be COLLATE "C"'s).
func (c *comparer) histogram(ctx context.Context) ([][]string, error) {
	k := c.l.keys[0]
	if k.collatable {
		return nil, nil
	}
	var bounds []string
	err := c.sc.QueryRow(ctx, `SELECT histogram_bounds::text::text[] FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = $3`,
		c.l.tbl.SourceSchema, c.l.tbl.SourceTable, k.name).Scan(&bounds)
	if errors.Is(err, pgx.ErrNoRows) || len(bounds) < 2 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the key histogram of the source table: %w", err)
	}
	// The first bound is the smallest value sampled, not the table's:
	// the first range starts unbounded anyway.
	var out [][]string
	for _, b := range bounds[1:] {
		if len(out) == 0 || out[len(out)-1][0] != b {
			out = append(out, []string{b})
		}
	}
	return out, nil
}

// boundaries returns the first keys of segments of about step rows of a
// side's rows in r, the first segment's excepted (it starts at r.lo). Only
// keys are read (an index-only scan where the key allows).
func (c *comparer) boundaries(ctx context.Context, conn *pgx.Conn, s *side, r keyRange, step int64) ([][]string, error) {
	var args []any
	where := s.where(&args, r)
	args = append(args, step)
	stepArg := fmt.Sprintf("$%d::bigint", len(args))
	var inner, outer []string
	for i, k := range s.keys {
		inner = append(inner, fmt.Sprintf("%s AS k%d", pgx.Identifier{k.name}.Sanitize(), i))
		outer = append(outer, fmt.Sprintf("(k%d::%s)::text", i, k.common))
	}
	q := "SELECT " + strings.Join(outer, ", ") + " FROM (SELECT " + strings.Join(inner, ", ") + ", row_number() OVER (ORDER BY " + s.orderBy() + ") AS rn" +
		" FROM " + s.ident + " WHERE " + where + ") s WHERE rn > 1 AND (rn - 1) % " + stepArg + " = 0"
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("split a key range on the %s: %w", s.name, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		k, err := scanTexts(rows, len(s.keys))
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("split a key range on the %s: %w", s.name, err)
	}
	return out, nil
}

// split cuts w's range into segments of about equal row counts on the side
// with more rows, and checksums them on both sides.
func (c *comparer) split(ctx context.Context, w work) ([]work, error) {
	by, byConn := c.src, c.sc
	n := w.src.n
	if w.snk.n > w.src.n {
		by, byConn = c.snk, c.kc
		n = w.snk.n
	}
	var firsts [][]string
	bucketed := false
	if w.unknown && w.depth == 0 {
		// The whole table: the planner's histogram of the leading key
		// column cuts it without reading it, and each side sums all its
		// ranges in one scan.
		var err error
		if firsts, err = c.histogram(ctx); err != nil {
			return nil, err
		}
		bucketed = firsts != nil
	}
	if firsts == nil {
		step := max(1, (n+int64(c.o.Fanout)-1)/int64(c.o.Fanout))
		var err error
		if firsts, err = c.boundaries(ctx, byConn, by, w.r, step); err != nil {
			return nil, err
		}
	}
	ranges := make([]keyRange, len(firsts)+1)
	lo := w.r.lo
	for i, f := range firsts {
		ranges[i] = keyRange{lo: lo, hi: f}
		lo = f
	}
	ranges[len(firsts)] = keyRange{lo: lo, hi: w.r.hi}
	sums := c.checksums
	if bucketed {
		sums = func(ctx context.Context, conn *pgx.Conn, s *side, _ []keyRange) ([]sum, error) {
			return c.bucketSums(ctx, conn, s, firsts)
		}
	}
	var ss, ks []sum
	if err := both(
		func() (err error) { ss, err = sums(ctx, c.sc, c.src, ranges); return },
		func() (err error) { ks, err = sums(ctx, c.kc, c.snk, ranges); return },
	); err != nil {
		return nil, err
	}
	out := make([]work, len(ranges))
	for i, r := range ranges {
		out[i] = work{r: r, src: ss[i], snk: ks[i]}
	}
	c.res.Stats.Ranges += len(out)
	return out, nil
}

// hashes reads (key, hash) of a side's rows in r, in key order.
func (c *comparer) hashes(ctx context.Context, conn *pgx.Conn, s *side, from string, args []any) ([]string, map[string]string, error) {
	q := "SELECT " + s.keyText() + ", " + s.hashExpr() + "::text FROM " + from
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("read keys and hashes on the %s: %w", s.name, err)
	}
	defer rows.Close()
	var order []string
	out := map[string]string{}
	for rows.Next() {
		vals, err := scanTexts(rows, len(c.l.keys)+1)
		if err != nil {
			return nil, nil, err
		}
		k := strings.Join(vals[:len(c.l.keys)], "\x00")
		order = append(order, k)
		out[k] = vals[len(c.l.keys)]
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read keys and hashes on the %s: %w", s.name, err)
	}
	// Both sides read concurrently.
	atomic.AddInt64(&c.res.Stats.RowsFetched, int64(len(order)))
	return order, out, nil
}

func (c *comparer) leaf(ctx context.Context, r keyRange) error {
	c.res.Stats.LeafRanges++
	var so, ko []string
	var sh, kh map[string]string
	if err := both(
		func() (err error) {
			var a []any
			w := c.src.where(&a, r)
			so, sh, err = c.hashes(ctx, c.sc, c.src, c.src.ident+" WHERE "+w+" ORDER BY "+c.src.orderBy(), a)
			return
		},
		func() (err error) {
			var a []any
			w := c.snk.where(&a, r)
			ko, kh, err = c.hashes(ctx, c.kc, c.snk, c.snk.ident+" WHERE "+w+" ORDER BY "+c.snk.orderBy(), a)
			return
		},
	); err != nil {
		return err
	}
	c.classify(so, ko, sh, kh)
	return nil
}

// classify appends the differences between source and sink hashes.
func (c *comparer) classify(so, ko []string, sh, kh map[string]string) {
	for _, k := range so {
		h, ok := kh[k]
		switch {
		case !ok:
			c.res.Missing = append(c.res.Missing, strings.Split(k, "\x00"))
		case h != sh[k]:
			c.res.Different = append(c.res.Different, strings.Split(k, "\x00"))
		}
	}
	for _, k := range ko {
		if _, ok := sh[k]; !ok {
			c.res.Extra = append(c.res.Extra, strings.Split(k, "\x00"))
		}
	}
}

// recheckChunk bounds the keys one settle-pass query carries.
const recheckChunk = 5000

// recheck reads the differing keys again on both sides and keeps only the
// rows that still differ.
func (c *comparer) recheck(ctx context.Context) error {
	var keys [][]string
	for _, set := range [][][]string{c.res.Missing, c.res.Different, c.res.Extra} {
		keys = append(keys, set...)
	}
	before := len(keys)
	c.res.Missing, c.res.Extra, c.res.Different = [][]string{}, [][]string{}, [][]string{}
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), recheckChunk)]
		keys = keys[len(chunk):]
		var order []string
		for _, k := range chunk {
			order = append(order, strings.Join(k, "\x00"))
		}
		var sh, kh map[string]string
		if err := both(
			func() (err error) {
				var a []any
				from := c.src.keyJoin(&a, chunk)
				_, sh, err = c.hashes(ctx, c.sc, c.src, from, a)
				return
			},
			func() (err error) {
				var a []any
				from := c.snk.keyJoin(&a, chunk)
				_, kh, err = c.hashes(ctx, c.kc, c.snk, from, a)
				return
			},
		); err != nil {
			return err
		}
		var so, ko []string
		for _, k := range order {
			if _, ok := sh[k]; ok {
				so = append(so, k)
			} else if _, ok := kh[k]; ok {
				ko = append(ko, k)
			}
		}
		c.classify(so, ko, sh, kh)
	}
	c.res.Stats.Rechecked = before
	c.res.Stats.CaughtUp = before - c.res.Drift()
	return nil
}

// scanTexts scans a row of n text columns.
func scanTexts(rows pgx.Rows, n int) ([]string, error) {
	vals := make([]string, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return vals, rows.Scan(ptrs...)
}

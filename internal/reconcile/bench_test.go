package reconcile

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BenchmarkFindOneChangedRow is the README's reconciliation figure: a
// table of BENCH_DIFF_ROWS rows (1,000,000) on both sides, one row changed
// in the warehouse; it times Compare (in sync, then with the change)
// against a full-scan comparison that streams both tables' rows, ordered
// by key, as text and compares them in Go.
//
//	go test -run '^$' -bench FindOneChangedRow -benchtime 1x ./internal/reconcile/
func BenchmarkFindOneChangedRow(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("BENCH_DIFF_ROWS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	seq := dbSeq.Add(1)
	srcDB, whDB := fmt.Sprintf("bsrc_%d", seq), fmt.Sprintf("bwh_%d", seq)
	srcDSN, whDSN := pg.CreateDatabase(b, srcDB), pg.CreateDatabase(b, whDB)
	src, wh := pg.Conn(b, srcDB), pg.Conn(b, whDB)
	const cols = `id bigint PRIMARY KEY, customer int NOT NULL, name text, amount numeric(12,2), created timestamptz, note text`
	gen := fmt.Sprintf(`SELECT g, g %% 10000, 'customer ' || g, g * 0.37, timestamptz '2026-01-01' + g * interval '1 second', md5(g::text) FROM generate_series(1, %d) g`, n)
	start := time.Now()
	for _, st := range []struct {
		conn *pgx.Conn
		sql  []string
	}{
		{src, []string{`CREATE TABLE public.orders (` + cols + `)`, `INSERT INTO public.orders ` + gen, `VACUUM ANALYZE public.orders`}},
		{wh, []string{`CREATE SCHEMA analytics`, `CREATE TABLE analytics.orders (` + cols + `, _syncline_position text NOT NULL DEFAULT '', _syncline_op text NOT NULL DEFAULT 'r', _syncline_synced_at timestamptz NOT NULL DEFAULT now())`,
			`INSERT INTO analytics.orders (id, customer, name, amount, created, note) ` + gen, `VACUUM ANALYZE analytics.orders`}},
	} {
		for _, q := range st.sql {
			if _, err := st.conn.Exec(ctx, q); err != nil {
				b.Fatalf("%s: %v", q, err)
			}
		}
	}
	b.Logf("loaded %d rows on both sides in %s", n, time.Since(start).Round(time.Millisecond))
	tbl := Table{Source: "app", SourceDSN: srcDSN, SourceSchema: "public", SourceTable: "orders", SinkDSN: whDSN, SinkSchema: "analytics", SinkTable: "orders"}
	changed := n/2 + 17
	// The machine is shared: each figure is the best of rounds, the
	// three measurements interleaved.
	const rounds = 3
	for b.Loop() {
		var inSync, diff, full time.Duration
		var scanned int64
		var res *Result
		for range rounds {
			t0 := time.Now()
			r, err := Compare(ctx, tbl, Options{})
			if err != nil {
				b.Fatal(err)
			}
			inSync = minDur(inSync, time.Since(t0))
			if r.Drift() != 0 {
				b.Fatalf("in sync: drift %d", r.Drift())
			}
			if _, err := wh.Exec(ctx, `UPDATE analytics.orders SET note = 'changed' WHERE id = $1`, changed); err != nil {
				b.Fatal(err)
			}
			t0 = time.Now()
			if res, err = Compare(ctx, tbl, Options{}); err != nil {
				b.Fatal(err)
			}
			diff = minDur(diff, time.Since(t0))
			if fmt.Sprint(res.Different) != fmt.Sprintf("[[%d]]", changed) || res.Drift() != 1 {
				b.Fatalf("diff found %+v, want the one changed row %d", res, changed)
			}
			t0 = time.Now()
			found, bytes, err := fullScan(ctx, srcDSN, whDSN)
			scanned = bytes
			if err != nil {
				b.Fatal(err)
			}
			full = minDur(full, time.Since(t0))
			if found != 1 {
				b.Fatalf("full scan found %d differing rows, want 1", found)
			}
			if _, err := wh.Exec(ctx, `UPDATE analytics.orders SET note = md5(id::text) WHERE id = $1`, changed); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(inSync.Seconds(), "insync-s")
		b.ReportMetric(diff.Seconds(), "diff-s")
		b.ReportMetric(full.Seconds(), "fullscan-s")
		b.ReportMetric(float64(res.Stats.RowsFetched), "rows-fetched")
		b.ReportMetric(float64(res.Stats.Ranges), "ranges")
		b.ReportMetric(float64(scanned)/1e6, "fullscan-MB")
		b.Logf("rows %d, best of %d: in-sync diff %s, diff finding 1 changed row %s (%d ranges, %d key/hash rows fetched), full scan %s reading %.0f MB of row text (%.1fx the diff)",
			n, rounds, inSync.Round(time.Millisecond), diff.Round(time.Millisecond), res.Stats.Ranges, res.Stats.RowsFetched,
			full.Round(time.Millisecond), float64(scanned)/1e6, full.Seconds()/diff.Seconds())
	}
}

func minDur(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// fullScan streams both tables' rows as text, ordered by key, and counts
// the rows that differ: the comparison without checksums.
func fullScan(ctx context.Context, srcDSN, whDSN string) (diffs int, bytes int64, err error) {
	type row struct{ key, text string }
	stream := func(dsn, q string, out chan<- row, errc chan<- error) {
		defer close(out)
		conn, err := connect(ctx, dsn, "syncline-fullscan")
		if err != nil {
			errc <- err
			return
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, q)
		if err != nil {
			errc <- err
			return
		}
		defer rows.Close()
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.key, &r.text); err != nil {
				errc <- err
				return
			}
			out <- r
		}
		errc <- rows.Err()
	}
	const sel = `SELECT id::text, ROW(id, customer, name, amount, created, note)::text FROM `
	sc, wc := make(chan row, 4096), make(chan row, 4096)
	errc := make(chan error, 2)
	go stream(srcDSN, sel+"public.orders ORDER BY id", sc, errc)
	go stream(whDSN, sel+"analytics.orders ORDER BY id", wc, errc)
	diff := 0
	s, sok := <-sc
	w, wok := <-wc
	for sok || wok {
		bytes += int64(len(s.key) + len(s.text) + len(w.key) + len(w.text))
		ks, _ := strconv.ParseInt(s.key, 10, 64)
		kw, _ := strconv.ParseInt(w.key, 10, 64)
		switch {
		case sok && wok && ks == kw:
			if s.text != w.text {
				diff++
			}
			s, sok = <-sc
			w, wok = <-wc
		case !wok || (sok && ks < kw):
			diff++
			s, sok = <-sc
		default:
			diff++
			w, wok = <-wc
		}
	}
	for range 2 {
		if err := <-errc; err != nil {
			return 0, 0, err
		}
	}
	return diff, bytes, nil
}

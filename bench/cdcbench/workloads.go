package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The customers table: 7 columns, ~150 bytes of column data per row.
const (
	customersDDL = `CREATE TABLE customers (
		id         bigint PRIMARY KEY,
		email      text NOT NULL,
		name       text,
		balance    numeric(12,2),
		created_at timestamptz NOT NULL DEFAULT now(),
		active     boolean NOT NULL DEFAULT true,
		prefs      jsonb)`
	customersDesc  = "customers(id bigint pk, email text, name text, balance numeric(12,2), created_at timestamptz, active bool, prefs jsonb)"
	customersCols  = "id, email, name, balance, created_at, active, prefs"
	customersExprs = `g,
       'user' || g || '@example.com',
       'Customer ' || substr(md5(g::text), 1, 12),
       ((g * 7919) % 10000000) / 100.0,
       timestamptz '2020-01-01 00:00:00+00' + g * interval '37 seconds',
       g % 7 <> 0,
       jsonb_build_object('theme', CASE WHEN g % 2 = 0 THEN 'dark' ELSE 'light' END,
                          'newsletter', g % 5 = 0,
                          'tags', jsonb_build_array('t' || (g % 13), 't' || (g % 17)))`
)

// The wide table: 20 columns of common types, ~600 bytes per row (a
// 288-byte description, stored inline: below the TOAST threshold, so
// pgoutput sends every column of every updated row).
const (
	wideDDL = `CREATE TABLE wide (
		id          bigint PRIMARY KEY,
		counter     integer NOT NULL,
		tenant_id   integer NOT NULL,
		account_no  bigint NOT NULL,
		sku         varchar(32) NOT NULL,
		title       text NOT NULL,
		description text NOT NULL,
		notes       text,
		price       numeric(12,2) NOT NULL,
		discount    numeric(5,2),
		quantity    integer NOT NULL,
		weight      double precision,
		ratio       real,
		active      boolean NOT NULL,
		status      text NOT NULL,
		created_at  timestamptz NOT NULL,
		updated_at  timestamptz NOT NULL,
		ship_date   date,
		ref         uuid NOT NULL,
		attrs       jsonb)`
	wideDesc  = "wide(20 columns: bigint pk, int counter, 3 int/bigint, varchar, 4 text incl. a 288-byte description, 2 numeric, float8, float4, bool, 2 timestamptz, date, uuid, jsonb; ~600 bytes/row)"
	wideCols  = "id, counter, tenant_id, account_no, sku, title, description, notes, price, discount, quantity, weight, ratio, active, status, created_at, updated_at, ship_date, ref, attrs"
	wideExprs = `g, 0, (g % 1000)::int, g * 31,
       'SKU-' || lpad((g % 1000000)::text, 7, '0'),
       'Product ' || substr(md5(g::text), 1, 16),
       repeat(md5(g::text), 9),
       'note ' || md5((g * 3)::text) || md5((g * 5)::text),
       ((g * 7919) % 10000000) / 100.0,
       (g % 50) / 100.0,
       (g % 500)::int,
       g * 0.001,
       ((g % 97) / 97.0)::real,
       g % 3 <> 0,
       (ARRAY['new', 'paid', 'shipped', 'done'])[1 + g % 4],
       timestamptz '2020-01-01 00:00:00+00' + g * interval '11 seconds',
       timestamptz '2020-01-02 00:00:00+00' + g * interval '11 seconds',
       date '2020-01-01' + (g % 1500)::int,
       md5(g::text)::uuid,
       jsonb_build_object('color', (ARRAY['red', 'green', 'blue'])[1 + g % 3], 'size', g % 10, 'fragile', g % 11 = 0)`
)

// insertSelect inserts rows lo..hi of a table in one statement.
func insertSelect(table, cols, exprs string) string {
	return fmt.Sprintf("INSERT INTO %s (%s)\nSELECT %s\nFROM generate_series($1::bigint, $2::bigint) AS g", table, cols, exprs)
}

// loadBatched inserts rows 1..rows, txnRows rows per transaction.
func loadBatched(ctx context.Context, conn *pgx.Conn, table, cols, exprs string, rows, txnRows int) error {
	sql := insertSelect(table, cols, exprs)
	for lo := 1; lo <= rows; lo += txnRows {
		hi := min(lo+txnRows-1, rows)
		if _, err := conn.Exec(ctx, sql, lo, hi); err != nil {
			return fmt.Errorf("load rows %d..%d: %w", lo, hi, err)
		}
	}
	return nil
}

// loadSingleRowTxns inserts rows 1..rows, each in its own transaction: a
// server-side loop (DO with COMMIT after every INSERT, so no round trip per
// row) on conns connections in parallel, chunkRows rows per DO call.
// synchronous_commit is off, as for the whole bench cluster; it changes
// when a commit is flushed, not what is written to the WAL.
func loadSingleRowTxns(ctx context.Context, dsn, table, cols, exprs string, rows, conns int) error {
	const chunkRows = 20_000
	type chunk struct{ lo, hi int }
	work := make(chan chunk)
	errs := make(chan error, conns)
	var done sync.WaitGroup
	var mu sync.Mutex
	loaded := 0
	lastLog := time.Now()
	for range conns {
		done.Add(1)
		go func() {
			defer done.Done()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(context.Background())
			for c := range work {
				sql := fmt.Sprintf(`DO $$
BEGIN
  FOR i IN %d..%d LOOP
    INSERT INTO %s (%s) SELECT %s FROM (SELECT i::bigint AS g) AS s;
    COMMIT;
  END LOOP;
END $$`, c.lo, c.hi, table, cols, exprs)
				if _, err := conn.Exec(ctx, sql); err != nil {
					errs <- fmt.Errorf("load rows %d..%d one per transaction: %w", c.lo, c.hi, err)
					return
				}
				mu.Lock()
				loaded += c.hi - c.lo + 1
				if time.Since(lastLog) > 10*time.Second {
					lastLog = time.Now()
					logf("  loaded %d of %d rows (one transaction each)", loaded, rows)
				}
				mu.Unlock()
			}
		}()
	}
	var err error
feed:
	for lo := 1; lo <= rows; lo += chunkRows {
		select {
		case work <- chunk{lo, min(lo+chunkRows-1, rows)}:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(work)
	done.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// updateCounter sets counter = counter + 1 on every row of the wide table,
// txnRows rows per transaction.
func updateCounter(ctx context.Context, conn *pgx.Conn, rows, txnRows int) error {
	for lo := 1; lo <= rows; lo += txnRows {
		hi := min(lo+txnRows-1, rows)
		if _, err := conn.Exec(ctx, "UPDATE wide SET counter = counter + 1 WHERE id BETWEEN $1 AND $2", lo, hi); err != nil {
			return fmt.Errorf("update rows %d..%d: %w", lo, hi, err)
		}
	}
	return nil
}

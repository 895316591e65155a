package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/capture/postgres"
	"syncline/internal/metrics"
	"syncline/internal/testenv"
	"syncline/schemas"
)

func slotLag(t *testing.T, e *env, slot string) int64 {
	t.Helper()
	var lag int64
	err := e.pg.Conn(t, "app").QueryRow(context.Background(),
		`SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&lag)
	if err != nil {
		t.Fatal(err)
	}
	return lag
}

// While only tables outside the publication are written, heartbeats keep
// the slot's confirmed position close to the end of the WAL, so the slot
// does not hold WAL back.
func TestHeartbeatsKeepTheSlotAdvancingWhileCapturedTablesAreIdle(t *testing.T) {
	e := newEnv(t, `CREATE TABLE quiet (id int PRIMARY KEY); CREATE TABLE busy (id serial PRIMARY KEY, pad text)`)
	e.pg.CreateDatabase(t, "other")
	e.pg.Exec(t, "other", `CREATE TABLE busy (id serial PRIMARY KEY, pad text)`)
	stop := e.run(postgres.Config{HeartbeatInterval: 200 * time.Millisecond, StatusInterval: 200 * time.Millisecond,
		Tables: []postgres.TableName{{Schema: "public", Name: "quiet"}}})
	defer stop()
	for i := range 20 {
		// Another database of the server, and a table of this one that is
		// not captured.
		db := []string{"app", "other"}[i%2]
		e.pg.Exec(t, db, `INSERT INTO busy (pad) SELECT repeat(md5(g::text), 30) FROM generate_series(1, 2000) g`)
	}
	// About 20 MB of WAL were written by tables syncline does not capture.
	const bound = 1 << 20
	var lag int64
	deadline := time.Now().Add(15 * time.Second)
	for {
		if lag = slotLag(t, e, "syncline_app"); lag < bound || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lag >= bound {
		t.Fatalf("slot lag is %d bytes after the busy table stopped: the slot does not advance while the captured tables are idle", lag)
	}
	// The heartbeats themselves are not records.
	cl := e.k.Client(t, kgo.ConsumeTopics("syncline.raw.app.public.quiet"), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if n := cl.PollFetches(ctx).NumRecords(); n != 0 {
		t.Errorf("%d records on the idle table's topic", n)
	}
}

// Logical decoding messages with a configured prefix are forwarded once,
// transactional ones at their place in the transaction; other prefixes are
// not.
func TestLogicalDecodingMessagesAreForwardedExactlyOnce(t *testing.T) {
	e := newEnv(t, `CREATE TABLE orders (id int PRIMARY KEY)`)
	cfg := postgres.Config{Messages: []string{"outbox"}, Tables: []postgres.TableName{{Schema: "public", Name: "orders"}}}
	stop := e.run(cfg)
	e.pg.Exec(t, "app", `BEGIN; INSERT INTO orders VALUES (1);
		SELECT pg_logical_emit_message(true, 'outbox', '{"order": 1, "event": "created"}');
		SELECT pg_logical_emit_message(true, 'other', 'not forwarded'); COMMIT`)
	e.pg.Exec(t, "app", `SELECT pg_logical_emit_message(false, 'outbox', 'outside a transaction')`)
	e.records("syncline.messages.app", 2)
	stop()
	stop = e.run(cfg)
	defer stop()
	e.pg.Exec(t, "app", `SELECT pg_logical_emit_message(true, 'outbox', 'marker')`)
	recs := e.records("syncline.messages.app", 3)
	var got []string
	for _, r := range recs {
		h := map[string]string{}
		for _, hd := range r.Headers {
			h[hd.Key] = string(hd.Value)
		}
		if string(r.Key) != "outbox" || h["syncline.prefix"] != "outbox" || h["syncline.position"] == "" {
			t.Errorf("message record key %q headers %v", r.Key, h)
		}
		got = append(got, h["syncline.transactional"]+":"+string(r.Value))
	}
	want := `true:{"order": 1, "event": "created"}|false:outside a transaction|true:marker`
	if strings.Join(got, "|") != want {
		t.Errorf("forwarded messages\n got %s\nwant %s", strings.Join(got, "|"), want)
	}

	// Many messages in a row, each sent while the next is received: a
	// record must not share the connection's receive buffer.
	e.pg.Exec(t, "app", `SELECT pg_logical_emit_message(g % 2 = 0, 'outbox', 'message ' || g || ' ' || repeat('x', g % 50)) FROM generate_series(1, 500) g`)
	// (Non-transactional ones are decoded as written, transactional ones
	// at commit: compare as a set.)
	recs = e.records("syncline.messages.app", 503)
	seen := map[string]int{}
	for _, r := range recs[3:] {
		seen[string(r.Value)]++
	}
	for g := 1; g <= 500; g++ {
		if want := fmt.Sprintf("message %d %s", g, strings.Repeat("x", g%50)); seen[want] != 1 {
			t.Fatalf("message %q forwarded %d times; forwarded values include corrupted ones: %d distinct of 500", want, seen[want], len(seen))
		}
	}
}

// A slot invalidated by max_slot_wal_keep_size stops the source with an
// error that names the recovery; after `resnapshot` the next run takes a
// new snapshot.
func TestLostSlotNamesTheRecoveryAndResnapshotRecovers(t *testing.T) {
	pg := testenv.StartPostgres(t, testenv.WithConfig("max_slot_wal_keep_size", "1MB"), testenv.WithConfig("max_wal_size", "64MB"))
	e := &env{t: t, pg: pg, k: testenv.StartKafka(t), dsn: pg.CreateDatabase(t, "app")}
	pg.Exec(t, "app", `CREATE TABLE kept (id int PRIMARY KEY, v text); CREATE TABLE filler (pad text)`)
	e.serde = schemas.NewSerde(e.k.RegistryClient(t))
	cfg := postgres.Config{HeartbeatInterval: -1, Tables: []postgres.TableName{{Schema: "public", Name: "kept"}}}
	stop := e.run(cfg)
	pg.Exec(t, "app", `INSERT INTO kept VALUES (1, 'before')`)
	e.records("syncline.raw.app.public.kept", 1)
	stop()
	pg.Exec(t, "app", `INSERT INTO kept VALUES (2, 'while down')`)
	for range 4 {
		pg.Exec(t, "app", `INSERT INTO filler SELECT repeat(md5(g::text), 100) FROM generate_series(1, 5000) g`)
		pg.Exec(t, "app", `SELECT pg_switch_wal()`)
		pg.Exec(t, "app", `CHECKPOINT`)
	}
	var status string
	if err := pg.Conn(t, "app").QueryRow(context.Background(), `SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'syncline_app'`).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "lost" {
		t.Fatalf("slot wal_status %q after 40 MB of WAL with max_slot_wal_keep_size=1MB, want lost", status)
	}
	cfg.Name, cfg.DSN = "app", e.dsn
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	src := postgres.New(cfg, e.k.Opts(), e.serde, metrics.New(prometheus.NewRegistry()), log)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := src.Run(ctx)
	if err == nil || !errors.Is(err, postgres.ErrPermanent) || !strings.Contains(err.Error(), "syncline resnapshot app") {
		t.Fatalf("run on a lost slot returned %v; want a permanent error naming `syncline resnapshot app`", err)
	}
	if err := postgres.Resnapshot(ctx, cfg, e.k.Opts(), log); err != nil {
		t.Fatalf("resnapshot: %v", err)
	}
	stop = e.run(cfg)
	defer stop()
	recs := e.records("syncline.raw.app.public.kept", 3)
	var got []string
	for _, r := range recs[1:] {
		ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s%v", ch.Op, ch.After["id"]))
	}
	if strings.Join(got, ",") != "r1,r2" {
		t.Errorf("after resnapshot the topic continues with %v, want a new snapshot r1,r2", got)
	}
}

// Postgres restarting under a steady write load: the source reconnects
// with backoff and every committed row is captured exactly once.
func TestPostgresRestartMidStreamLosesNothing(t *testing.T) {
	e := newEnv(t, `CREATE TABLE w (id int PRIMARY KEY)`)
	stop := e.run(postgres.Config{Tables: []postgres.TableName{{Schema: "public", Name: "w"}}})
	defer stop()
	var committed atomic.Int32
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		id := int32(0)
		for {
			select {
			case <-done:
				return
			default:
			}
			conn, err := pgxConnect(e.dsn)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			for {
				if _, err := conn.Exec(context.Background(), `INSERT INTO w VALUES ($1)`, id+1); err != nil {
					break
				}
				id++
				committed.Store(id)
				select {
				case <-done:
					conn.Close(context.Background())
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
			conn.Close(context.Background())
		}
	}()
	testenv.WaitFor(t, 10*time.Second, "writes before the restart", func() bool { return committed.Load() > 200 })
	e.pg.Restart(t)
	n := committed.Load()
	testenv.WaitFor(t, 30*time.Second, "writes after the restart", func() bool { return committed.Load() > n+200 })
	close(done)
	wg.Wait()
	total := int(committed.Load())
	seen := map[int32]int{}
	for _, r := range e.records("syncline.raw.app.public.w", total) {
		ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		seen[ch.After["id"].(int32)]++
	}
	for id := int32(1); id <= int32(total); id++ {
		if seen[id] != 1 {
			t.Errorf("row %d captured %d times", id, seen[id])
		}
	}
}

func pgxConnect(dsn string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return pgx.Connect(ctx, dsn)
}

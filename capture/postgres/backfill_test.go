package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"syncline/capture/postgres"
	"syncline/internal/metrics"
	"syncline/internal/testenv"
	"syncline/schemas"
)

// runSource starts a source and returns it with its stop function.
func (e *env) runSource(cfg postgres.Config) (*postgres.Source, func()) {
	cfg.Name, cfg.DSN, cfg.BatchMaxWait = "app", e.dsn, 10*time.Millisecond
	log := slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	src := postgres.New(cfg, e.k.Opts(), e.serde, metrics.New(prometheus.NewRegistry()), log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	testenv.WaitFor(e.t, 30*time.Second, "source ready", src.Ready)
	return src, func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("source: %v", err)
		}
	}
}

func backfillState(src *postgres.Source, table string) string {
	for _, bf := range src.Backfills() {
		if bf.Table == table {
			return bf.State
		}
	}
	return ""
}

// replay applies every committed record of topic in partition order (per
// key order) and returns the final rows by id, as text.
func (e *env) replay(topic string) (map[int32]string, int) {
	e.t.Helper()
	adm := e.k.Client(e.t)
	ends, err := kadmEnds(adm, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	cl := e.k.Client(e.t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
	state := map[int32]string{}
	reads := 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := map[int32]bool{}
	for len(done) < len(ends) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("replay of %s timed out", topic)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Attrs.IsControl() {
				return
			}
			ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
			if err != nil {
				e.t.Fatal(err)
			}
			id := ch.Key["id"].(int32)
			switch ch.Op {
			case schemas.OpDelete:
				delete(state, id)
			default:
				if ch.Op == schemas.OpRead {
					reads++
				}
				state[id] = fmt.Sprintf("%v|%v", ch.After["v"], ch.After["pad"])
			}
		})
		for p, end := range ends {
			if end == 0 {
				done[p] = true
			}
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if r.Offset+1 >= ends[p.Partition] {
					done[p.Partition] = true
				}
			}
		})
	}
	return state, reads
}

// A backfill under a steady load of updates, deletes and inserts: every
// chunk row the stream changed inside its window is dropped, the rest are
// emitted at the high watermark, so replaying the topic gives exactly the
// source table (a stale read would bring an older value back).
func TestBackfillUnderConcurrentWritesEndsEqualToTheSource(t *testing.T) {
	e := newEnv(t, `CREATE TABLE bf (id int PRIMARY KEY, v int NOT NULL, pad text);
		INSERT INTO bf SELECT g, 0, md5(g::text) FROM generate_series(1, 6000) g`)
	src, stop := e.runSource(postgres.Config{NoSnapshot: true, Tables: []postgres.TableName{{Schema: "public", Name: "bf"}}})
	defer stop()

	stopWrites := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(context.Background(), e.dsn)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close(context.Background())
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			next := 10000 + w*100000
			for {
				select {
				case <-stopWrites:
					return
				default:
				}
				id := rng.IntN(6000) + 1
				var sql string
				switch rng.IntN(10) {
				case 0:
					sql = fmt.Sprintf("DELETE FROM bf WHERE id = %d", id)
				case 1:
					next++
					sql = fmt.Sprintf("INSERT INTO bf VALUES (%d, 1, 'new') ON CONFLICT (id) DO UPDATE SET v = bf.v + 1", id)
				default:
					sql = fmt.Sprintf("UPDATE bf SET v = v + 1, pad = 'u%d' WHERE id IN (%d, %d)", rng.IntN(1000), id, rng.IntN(6000)+1)
				}
				if _, err := conn.Exec(context.Background(), sql); err != nil && !strings.Contains(err.Error(), "deadlock") {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := postgres.SendSignal(context.Background(), e.dsn, postgres.Signal{Type: "backfill", Tables: []string{"public.bf"}, ChunkSize: 1000,
		// Slow every row down a little so each chunk's window is wide and
		// many streamed changes fall inside it.
		Where: "pg_sleep(0.00002) IS NOT NULL"}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 60*time.Second, "backfill done", func() bool { return backfillState(src, "public.bf") == postgres.BackfillDone })
	close(stopWrites)
	wg.Wait()
	// A marker committed last: once it is on the topic, so is everything.
	e.pg.Exec(t, "app", `INSERT INTO bf VALUES (0, 0, 'marker')`)
	testenv.WaitFor(t, 30*time.Second, "marker", func() bool {
		s, _ := e.replay("syncline.raw.app.public.bf")
		_, ok := s[0]
		return ok
	})
	got, reads := e.replay("syncline.raw.app.public.bf")
	want := map[int32]string{}
	rows, err := e.pg.Conn(t, "app").Query(context.Background(), `SELECT id, v, pad FROM bf`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, v int32
		var pad string
		if err := rows.Scan(&id, &v, &pad); err != nil {
			t.Fatal(err)
		}
		want[id] = fmt.Sprintf("%d|%s", v, pad)
	}
	var bf postgres.Backfill
	for _, b := range src.Backfills() {
		bf = b
	}
	// The table keeps about 6000 rows; the backfill must read them all and
	// write those the stream did not change inside their chunk's window.
	if bf.Rows < 5000 || bf.Emitted == 0 || int64(reads) != bf.Emitted {
		t.Errorf("backfill read %d rows and wrote %d; the topic has %d backfill reads", bf.Rows, bf.Emitted, reads)
	}
	bad := 0
	for id, w := range want {
		if got[id] != w {
			if bad++; bad <= 10 {
				t.Errorf("row %d: topic replays to %q, source has %q", id, got[id], w)
			}
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			if bad++; bad <= 10 {
				t.Errorf("row %d is on the topic but not in the source", id)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d rows differ", bad)
	}
	for _, bf := range src.Backfills() {
		t.Logf("backfill %s: %d rows read, %d written", bf.ID, bf.Rows, bf.Emitted)
	}
}

func kadmEnds(cl *kgo.Client, topic string) (map[int32]int64, error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// Kafka commits failing in the middle of a backfill (as a crash would
// leave them): the capture restarts from the stored position and the
// backfill resumes after the last row committed; every row is on the topic
// exactly once.
func TestBackfillResumesAfterAFailedCommitWithoutLossOrRepeat(t *testing.T) {
	e := newEnv(t, `CREATE TABLE bf (id int PRIMARY KEY, v text); INSERT INTO bf SELECT g, md5(g::text) FROM generate_series(1, 3000) g`)
	var commits, failed atomic.Int32
	e.k.Broker.Control(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.EndTxnRequest)
		if !r.Commit {
			return nil, nil, false
		}
		if n := commits.Add(1); n == 5 || n == 11 {
			failed.Add(1)
			resp := r.ResponseKind().(*kmsg.EndTxnResponse)
			resp.ErrorCode = kerr.InvalidTxnState.Code
			return resp, nil, true
		}
		return nil, nil, false
	})
	src, stop := e.runSource(postgres.Config{NoSnapshot: true, BatchMaxRecords: 100, Tables: []postgres.TableName{{Schema: "public", Name: "bf"}}})
	defer stop()
	if _, err := postgres.SendSignal(context.Background(), e.dsn, postgres.Signal{Type: "backfill", Tables: []string{"bf"}, ChunkSize: 200}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 60*time.Second, "backfill done", func() bool { return backfillState(src, "public.bf") == postgres.BackfillDone })
	e.pg.Exec(t, "app", `INSERT INTO bf VALUES (0, 'marker')`)
	seen := map[int32]int{}
	for _, r := range e.records("syncline.raw.app.public.bf", 3001) {
		ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		seen[ch.Key["id"].(int32)]++
	}
	if failed.Load() != 2 {
		t.Fatalf("%d commits failed, want 2", failed.Load())
	}
	for id := int32(0); id <= 3000; id++ {
		if seen[id] != 1 {
			t.Errorf("row %d on the topic %d times", id, seen[id])
		}
	}
}

// A table added to the configuration of a running source gets its existing
// rows through a backfill, and its changes from then on.
func TestTableAddedToTheConfigurationIsBackfilled(t *testing.T) {
	e := newEnv(t, `CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY);
		INSERT INTO a VALUES (1); INSERT INTO b SELECT generate_series(1, 50)`)
	stop := e.run(postgres.Config{Tables: []postgres.TableName{{Schema: "public", Name: "a"}}})
	e.records("syncline.raw.app.public.a", 1)
	stop()
	src, stop := e.runSource(postgres.Config{Tables: []postgres.TableName{{Schema: "public", Name: "a"}, {Schema: "public", Name: "b"}}})
	defer stop()
	testenv.WaitFor(t, 30*time.Second, "backfill of b", func() bool { return backfillState(src, "public.b") == postgres.BackfillDone })
	e.pg.Exec(t, "app", `UPDATE b SET id = 100 WHERE id = 50`)
	got := e.opsOf("syncline.raw.app.public.b", 52)
	if !strings.Contains(got, "| id=1: r |") || !strings.Contains(got, "id=49: r |") || !strings.Contains(got, "id=50: r d") || !strings.Contains(got, "id=100: c") {
		t.Errorf("table b: %s", got)
	}
}

// Pause stops a backfill between chunks, resume continues it where it
// stopped, cancel ends it; each by signal.
func TestBackfillPauseResumeCancel(t *testing.T) {
	e := newEnv(t, `CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p SELECT generate_series(1, 4000);
		CREATE TABLE q (id int PRIMARY KEY); INSERT INTO q SELECT generate_series(1, 4000)`)
	src, stop := e.runSource(postgres.Config{NoSnapshot: true, Tables: []postgres.TableName{{Schema: "public", Name: "p"}, {Schema: "public", Name: "q"}}})
	defer stop()
	signal := func(sg postgres.Signal) {
		t.Helper()
		if _, err := postgres.SendSignal(context.Background(), e.dsn, sg); err != nil {
			t.Fatal(err)
		}
	}
	// Slow chunks, so the backfills are still running when steered.
	signal(postgres.Signal{ID: "b", Type: "backfill", Tables: []string{"p", "q"}, ChunkSize: 100, Where: "pg_sleep(0.0002) IS NOT NULL"})
	testenv.WaitFor(t, 30*time.Second, "both running", func() bool {
		return backfillState(src, "public.p") == postgres.BackfillRunning && backfillState(src, "public.q") == postgres.BackfillRunning
	})
	signal(postgres.Signal{Type: "pause", Tables: []string{"public.p"}})
	signal(postgres.Signal{ID: "b/public.q", Type: "cancel"})
	testenv.WaitFor(t, 30*time.Second, "p paused, q cancelled", func() bool {
		return backfillState(src, "public.p") == postgres.BackfillPaused && backfillState(src, "public.q") == postgres.BackfillCancelled
	})
	rowsOf := func(table string) int64 {
		for _, bf := range src.Backfills() {
			if bf.Table == table {
				return bf.Rows
			}
		}
		return -1
	}
	paused := rowsOf("public.p")
	time.Sleep(500 * time.Millisecond)
	if now := rowsOf("public.p"); now != paused || now >= 4000 {
		t.Errorf("paused backfill went on from %d to %d rows", paused, now)
	}
	signal(postgres.Signal{Type: "resume"})
	testenv.WaitFor(t, 60*time.Second, "p done", func() bool { return backfillState(src, "public.p") == postgres.BackfillDone })
	if got := rowsOf("public.p"); got != 4000 {
		t.Errorf("resumed backfill read %d rows in all, want 4000 (no row twice, none skipped)", got)
	}
	if backfillState(src, "public.q") != postgres.BackfillCancelled {
		t.Errorf("resume revived the cancelled backfill: %s", backfillState(src, "public.q"))
	}
}

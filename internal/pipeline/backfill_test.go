package pipeline_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/capture/postgres"
	"syncline/internal/pipeline"
	"syncline/internal/testenv"
)

// backfills returns the backfills the running pipeline reports on
// /api/v1/status.
func (h *harness) backfills() []postgres.Backfill {
	h.t.Helper()
	resp, err := http.Get(h.addrs.HTTP + "/api/v1/status")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	st, err := pipeline.ReadStatus(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return st.Backfills()
}

func (h *harness) waitBackfillDone(id string) postgres.Backfill {
	h.t.Helper()
	var bf postgres.Backfill
	testenv.WaitFor(h.t, 90*time.Second, "backfill "+id+" done", func() bool {
		for _, b := range h.backfills() {
			if strings.HasPrefix(b.ID, id+"/") {
				bf = b
				if b.State == postgres.BackfillFailed {
					h.t.Fatalf("backfill failed: %s", b.Error)
				}
				return b.State == postgres.BackfillDone
			}
		}
		return false
	})
	return bf
}

// metricValue sums the samples of a metric whose labels contain match.
func (h *harness) metricValue(name, match string) float64 {
	h.t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	sum := 0.0
	for _, m := range re.FindAllStringSubmatch(h.metrics(), -1) {
		if strings.Contains(m[1], match) {
			v, _ := strconv.ParseFloat(m[2], 64)
			sum += v
		}
	}
	return sum
}

func (h *harness) endOffsets(topic string) int64 {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.addrs.Brokers...))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		h.t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// A backfill started from the signal table while the table takes heavy
// updates, deletes and inserts: the warehouse ends equal to the source (no
// row overwritten by a stale read). A second backfill of the table, now in
// sync, writes no change record and no warehouse row.
func TestBackfillUnderLoadThenAgainWritesNothing(t *testing.T) {
	h := newHarness(t)
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email, name, balance)
		SELECT g, 'user' || g || '@example.com', 'name ' || g, g FROM generate_series(1, 4000) g`)
	h.cfgText = strings.Replace(h.cfgText, "    batch_max_wait: 20ms\n", "    batch_max_wait: 20ms\n    snapshot: never\n    signal_table: public.syncline_signals\n", 1)
	h.start()
	// Signals are read from the replication stream: one committed before
	// the slot exists is not seen, so wait until capture streams.
	testenv.WaitFor(t, 30*time.Second, "the signal table and the streaming slot", func() bool {
		return len(rows(t, h.srcDSN, "SELECT 1 FROM pg_tables WHERE tablename = 'syncline_signals'")) == 1 &&
			len(rows(t, h.srcDSN, "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'syncline_app' AND active")) == 1
	})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(context.Background(), h.srcDSN)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close(context.Background())
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := rng.IntN(4200) + 1
				var sql string
				switch rng.IntN(8) {
				case 0:
					sql = fmt.Sprintf("DELETE FROM customers WHERE id = %d", id)
				case 1:
					sql = fmt.Sprintf("INSERT INTO customers (id, email, balance) VALUES (%d, 'new%d@example.com', 1) ON CONFLICT (id) DO UPDATE SET balance = customers.balance + 1", id, id)
				default:
					sql = fmt.Sprintf("UPDATE customers SET balance = balance + 1, name = 'w%d' WHERE id = %d", w, id)
				}
				if _, err := conn.Exec(context.Background(), sql); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	h.pg.Exec(t, "app", `INSERT INTO syncline_signals (id, type, data) VALUES ('first', 'backfill', '{"tables": ["public.customers"], "chunk_size": 300}')`)
	bf := h.waitBackfillDone("first")
	close(stop)
	wg.Wait()
	h.waitInSync(90 * time.Second)
	if bf.Rows < 3500 || bf.Emitted == 0 {
		t.Errorf("backfill read %d rows and wrote %d; want the whole table", bf.Rows, bf.Emitted)
	}

	// In sync now: a second backfill reads every row again and writes
	// nothing downstream.
	changeTopic := "syncline.app.public.customers"
	before, writes := h.endOffsets(changeTopic), h.metricValue("syncline_sink_writes_total", `result="ok"`)
	if _, err := postgres.SendSignal(context.Background(), h.srcDSN, postgres.Signal{ID: "again", Type: "backfill", Tables: []string{"public.customers"}, ChunkSize: 500}); err != nil {
		t.Fatal(err)
	}
	again := h.waitBackfillDone("again")
	// A marker change after the backfill: once it is in the warehouse,
	// the backfill's records have been through the whole pipeline.
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'marker' WHERE id = (SELECT min(id) FROM customers)`)
	h.waitInSync(60 * time.Second)
	if again.Rows < 3500 {
		t.Errorf("second backfill read %d rows", again.Rows)
	}
	if got := h.endOffsets(changeTopic) - before; got > 2 {
		// The marker update is one record (plus a transaction marker).
		t.Errorf("the second backfill added %d records to the change topic; want only the marker", got)
	}
	if got := h.metricValue("syncline_sink_writes_total", `result="ok"`) - writes; got != 1 {
		t.Errorf("the second backfill caused %v warehouse writes; want 1 (the marker)", got)
	}
}

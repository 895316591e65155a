package crashtest

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"syncline/capture/postgres"
	"syncline/internal/pipeline"
	"syncline/schemas"
)

// crashConfig is the pipeline of the crash tests: the three workload
// tables from one source (${CRASH_APP_DSN}) into the warehouse
// (${CRASH_WH_DSN}), through the broker at brokerAddr, with small batches
// so that kills land inside them. kafkaKeys are more "key: value" lines
// of the kafka block.
func crashConfig(name, work, brokerAddr, registryURL, httpListen string, partitions int, kafkaKeys ...string) string {
	txn := ""
	for _, kv := range kafkaKeys {
		txn += "\n  " + kv
	}
	return fmt.Sprintf(`name: %s
data_dir: %s
log: {level: info, format: json}
kafka:
  brokers: [%q]
  partitions: %d%s
registry: {url: %q}
http: {listen: %q}
transform: {changes: {batch_size: 500}}
sources:
  - name: app
    type: postgres
    dsn: ${CRASH_APP_DSN}
    tables: [public.accounts, public.items, public.docs]
    batch_max_records: 250
    batch_max_wait: 50ms
    status_interval: 1s
sinks:
  - name: wh
    type: postgres
    dsn: ${CRASH_WH_DSN}
    schema: analytics
    from: [app.*]
    batch_timeout: 100ms
`, name, filepath.Join(work, "state"), brokerAddr, partitions, txn, registryURL, httpListen)
}

// validateRun checks what every crash test promises once the pipeline
// has stopped: on every raw and change topic, read read_committed, each
// key has exactly the committed sequence of hist (each, when set, sees
// every topic's records too); the DLQ is empty; the warehouse equals the
// source. It returns the number of topic records validated.
func validateRun(ctx context.Context, t *testing.T, brokers []string, registryURL, srcDSN, whDSN string, hist *History, each func(topic string, isChange bool, recs []*kgo.Record)) int {
	t.Helper()
	vctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	src, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		t.Fatal(err)
	}
	serde := schemas.NewSerde(src)
	want := hist.Keys()
	total := 0
	for _, spec := range Tables {
		for _, topic := range []string{"syncline.raw.app.public." + spec.Name, "syncline.app.public." + spec.Name} {
			recs, err := ReadTopic(vctx, brokers, topic)
			if err != nil {
				t.Fatal(err)
			}
			isChange := !strings.Contains(topic, ".raw.")
			rep, err := CheckTopic(vctx, serde, recs, topic, spec, want, isChange)
			if err != nil {
				t.Fatal(err)
			}
			total += rep.Records
			if rep.OK() {
				t.Log(rep)
			} else {
				t.Error(rep)
			}
			if each != nil {
				each(topic, isChange, recs)
			}
		}
	}
	checkDLQAndWarehouse(vctx, t, brokers, srcDSN, whDSN)
	return total
}

// checkDLQAndWarehouse checks that nothing was parked in the DLQ and that
// the warehouse equals the source.
func checkDLQAndWarehouse(ctx context.Context, t *testing.T, brokers []string, srcDSN, whDSN string) {
	t.Helper()
	dlq, err := ReadTopic(ctx, brokers, "_syncline.dlq")
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range dlq {
		if i < 10 {
			t.Errorf("DLQ record p%d/o%d: headers %v value %.300s", r.Partition, r.Offset, r.Headers, r.Value)
		}
	}
	if len(dlq) > 0 {
		t.Errorf("%d records in the DLQ, want none", len(dlq))
	}
	if diffs, err := CompareTables(ctx, srcDSN, whDSN, "analytics", 20); err != nil || len(diffs) > 0 {
		t.Errorf("after the final stop, warehouse differs from the source (err %v):\n%s", err, strings.Join(diffs, "\n"))
	}
}

// backfillState returns the states of the source's backfills, from the
// process's /api/v1/status.
func backfillState(httpURL string) ([]postgres.Backfill, error) {
	resp, err := http.Get(httpURL + "/api/v1/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	st, err := pipeline.ReadStatus(resp.Body)
	if err != nil {
		return nil, err
	}
	return st.Backfills(), nil
}

// TestSnapshotBackfillSurvivesSIGKILL: the initial snapshot of tables
// holding BACKFILL_ROWS rows each (default 15,000) is a DBLog backfill whose
// chunk progress commits with the chunk's records. syncline is killed with
// SIGKILL in the middle of it, again and again, each time after the new
// process has written part of the rest (BACKFILL_KILLS times, default 6).
// Afterwards every row is on its raw
// and change topics exactly once (r0), nothing is in the DLQ, and the
// warehouse equals the source.
func TestSnapshotBackfillSurvivesSIGKILL(t *testing.T) {
	rows, maxKills := envInt("BACKFILL_ROWS", 15000), envInt("BACKFILL_KILLS", 6)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work, bin, srcDSN, whDSN := setUp(ctx, t, os.Getenv("BACKFILL_WORKDIR"))
	ep := freeEndpoints(t, 1)
	brokerAddr, registryURL := ep.broker, ep.registryURL
	httpListen := fmt.Sprintf("127.0.0.1:%d", ep.ports[0])
	httpURL := "http://" + httpListen
	startBroker(ctx, t, bin, work, brokerAddr, ep.registryPort, 3)
	cfgPath := filepath.Join(work, "pipeline.yaml")
	if err := os.WriteFile(cfgPath, []byte(crashConfig("crash", work, brokerAddr, registryURL, httpListen, 3)), 0o600); err != nil {
		t.Fatal(err)
	}
	hist := NewHistory()
	if err := Preload(ctx, srcDSN, rows, hist); err != nil {
		t.Fatal(err)
	}
	env := []string{"CRASH_APP_DSN=" + srcDSN, "CRASH_WH_DSN=" + whDSN}
	var cur *Proc
	start := func(n int) {
		pr, err := Start(fmt.Sprintf("syncline run #%d", n), bin, work, filepath.Join(work, fmt.Sprintf("syncline-%02d.log", n)), env,
			"run", "--config", cfgPath, "--instance-id", "crash")
		if err != nil {
			t.Fatal(err)
		}
		cur = pr
	}
	t.Cleanup(func() {
		if cur != nil {
			_ = cur.Kill()
		}
	})
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills := 0
	var progress []string
	for n := 1; ; n++ {
		start(n)
		// Wait until this process has moved every running backfill on by
		// a chunk or more, then kill it at a random moment soon after.
		var first map[string]int64
		done := false
		deadline := time.Now().Add(3 * time.Minute)
		for {
			if err := cur.Exited(); err != nil {
				t.Fatalf("syncline #%d exited on its own: %v\n%s", n, err, cur.Tail(40))
			}
			if time.Now().After(deadline) {
				t.Fatalf("syncline #%d: the backfills did not progress in 3 minutes\n%s", n, cur.Tail(40))
			}
			bfs, err := backfillState(httpURL)
			if err == nil && len(bfs) > 0 {
				cur := map[string]int64{}
				running := 0
				for _, bf := range bfs {
					cur[bf.ID] = int64(bf.Rows)
					if bf.State == postgres.BackfillFailed {
						t.Fatalf("backfill %s failed: %s", bf.ID, bf.Error)
					}
					if bf.State == postgres.BackfillRunning {
						running++
					}
				}
				if running == 0 {
					done = true
					break
				}
				if kills >= maxKills {
					// Enough kills: let this process finish the snapshot.
				} else if first == nil {
					first = cur
				} else if moved := func() bool {
					for id, r := range cur {
						if r > first[id] {
							return true
						}
					}
					return false
				}(); moved {
					var parts []string
					for _, bf := range bfs {
						parts = append(parts, fmt.Sprintf("%s %s %d rows", bf.Table, bf.State, bf.Rows))
					}
					progress = append(progress, fmt.Sprintf("#%d: %s", n, strings.Join(parts, ", ")))
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if done {
			break
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		if err := cur.Kill(); err != nil {
			t.Fatal(err)
		}
		kills++
		t.Logf("SIGKILL %d during the snapshot (%s)", kills, progress[len(progress)-1])
	}
	if kills < 2 {
		t.Fatalf("the snapshot of %d rows finished after %d kills; it must be killed at least twice to test anything (raise BACKFILL_ROWS)", 3*rows, kills)
	}
	if diffs, err := WaitInSync(ctx, srcDSN, whDSN, "analytics", 3*time.Minute, cur.Exited); err != nil || len(diffs) > 0 {
		t.Fatalf("warehouse not equal to the source after the snapshot (err %v):\n%s", err, strings.Join(diffs, "\n"))
	}
	if err := cur.Stop(60 * time.Second); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	total := validateRun(ctx, t, []string{brokerAddr}, registryURL, srcDSN, whDSN, hist, nil)
	t.Logf("snapshot of %d rows with %d SIGKILLs in it: %d topic records validated", 3*rows, kills, total)
}

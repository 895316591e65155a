package crashtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"syncline/internal/emulator/hubspot"
)

// A `syncline run` process is killed with SIGKILL right after HubSpot
// (the emulator) applied one of its batch upserts and before it answered:
// the window between the provider's commit and the sink's Kafka commit.
// After restarts, every account is one object, created once, holding the
// account's last values.
func TestHubSpotSinkSurvivesSIGKILL(t *testing.T) {
	const rows, kills = 2000, 4
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work, bin, srcDSN, whDSN := setUp(ctx, t, "")
	ep := freeEndpoints(t, 1)
	httpListen := fmt.Sprintf("127.0.0.1:%d", ep.ports[0])
	startBroker(ctx, t, bin, work, ep.broker, ep.registryPort, 3)

	emu := hubspot.New(hubspot.Options{Token: "pat-kill", RateLimitMax: 100, RateLimitInterval: time.Second})
	srv := emu.Start()
	t.Cleanup(srv.Close)
	cfg := crashConfig("crash", work, ep.broker, ep.registryURL, httpListen, 3) + fmt.Sprintf(`  - name: crm
    type: hubspot
    from: [app.public.accounts]
    batch_size: 100
    batch_timeout: 50ms
    hubspot:
      token: pat-kill
      base_url: %s
      object_type: companies
      id_property: account_id
      requests_per_second: 50
      properties:
        - {name: account_id, from: id, required: true}
        - {name: ver, from: ver}
        - {name: balance, from: balance}
`, srv.URL)
	cfgPath := filepath.Join(work, "pipeline.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Preload(ctx, srcDSN, rows, NewHistory()); err != nil {
		t.Fatal(err)
	}
	env := []string{"CRASH_APP_DSN=" + srcDSN, "CRASH_WH_DSN=" + whDSN}

	var mu sync.Mutex
	var cur *Proc
	killed := 0
	// Kill on every third write call until kills are done: the write is
	// applied, its answer never arrives.
	emu.AfterWrite(func(n int) {
		mu.Lock()
		defer mu.Unlock()
		if killed < kills && n%3 == 1 && cur != nil {
			_ = cur.Kill()
			killed++
		}
	})
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if cur != nil {
			_ = cur.Kill()
		}
	})
	// Updates while the sink is being killed: the last values must win.
	conn, err := pgx.Connect(ctx, srcDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `UPDATE accounts SET ver = 1, balance = balance + 1 WHERE id % 7 = 0`); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(5 * time.Minute)
	for n := 1; ; n++ {
		pr, err := Start(fmt.Sprintf("syncline run #%d", n), bin, work, filepath.Join(work, fmt.Sprintf("syncline-%02d.log", n)), env,
			"run", "--config", cfgPath, "--instance-id", "crash")
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		cur = pr
		before := killed
		mu.Unlock()
		for pr.Exited() == nil && !synced(emu, rows) {
			if time.Now().After(deadline) {
				t.Fatalf("not in sync after 5 minutes (%d kills; %d live objects)\n%s", killed, live(emu), pr.Tail(40))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if pr.Exited() == nil {
			break
		}
		mu.Lock()
		k := killed
		mu.Unlock()
		if k == before {
			t.Fatalf("syncline #%d exited on its own: %v\n%s", n, pr.Exited(), pr.Tail(40))
		}
	}
	mu.Lock()
	if killed < kills {
		t.Errorf("only %d kills happened, want %d", killed, kills)
	}
	p := cur
	cur = nil
	mu.Unlock()
	if err := p.Stop(60 * time.Second); err != nil {
		t.Error(err)
	}
	ws := emu.WriteStats()
	if ws.Creates != rows {
		t.Errorf("%d creates, want %d (one per account)", ws.Creates, rows)
	}
	for id, w := range emu.ObjectWrites("companies") {
		if w.Creates != 1 {
			t.Errorf("object %d created %d times", id, w.Creates)
		}
	}
	t.Logf("%d kills, %d upsert calls, %d creates, %d updates", killed, ws.UpsertCalls, ws.Creates, ws.Updates)
}

// synced reports whether the emulator holds one company per account with
// the account's final values (ver 1 for ids divisible by 7).
func synced(emu *hubspot.Server, rows int) bool {
	seen := map[string]bool{}
	for _, o := range emu.Objects("companies") {
		if o.Archived {
			continue
		}
		id := o.Properties["account_id"]
		var n int
		if _, err := fmt.Sscan(id, &n); err != nil || seen[id] {
			return false
		}
		seen[id] = true
		want := "0"
		if n%7 == 0 {
			want = "1"
		}
		if o.Properties["ver"] != want || o.Properties["balance"] != fmt.Sprint(n*100+btoi(n%7 == 0)) {
			return false
		}
	}
	return len(seen) == rows
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func live(emu *hubspot.Server) int {
	n := 0
	for _, o := range emu.Objects("companies") {
		if !o.Archived {
			n++
		}
	}
	return n
}

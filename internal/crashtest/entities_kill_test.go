package crashtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"syncline/internal/kafka"
	"syncline/schemas"
	"syncline/transform/entities"
)

// The entities stage under SIGKILL: accounts and docs (the same id) are
// one entity; while both tables are updated, `syncline run` is killed
// (kill -9) every few seconds and started again. Afterwards the
// warehouse's golden table equals what the sources say, and on the entity
// topic, read read_committed, each golden record's versions are numbered
// 1, 2, 3, … without a gap or a repeat: no version was lost or written
// twice across the kills.
func TestEntitiesSurviveSIGKILL(t *testing.T) {
	const rows, kills, rounds = 500, 4, 12
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work, bin, srcDSN, whDSN := setUp(ctx, t, "")
	ep := freeEndpoints(t, 1)
	httpListen := fmt.Sprintf("127.0.0.1:%d", ep.ports[0])
	startBroker(ctx, t, bin, work, ep.broker, ep.registryPort, 3)
	cfg := crashConfig("crash", work, ep.broker, ep.registryURL, httpListen, 3)
	cfg = strings.Replace(cfg, "    from: [app.*]\n", "    from: [entity.account]\n", 1)
	cfg = strings.Replace(cfg, "sinks:\n", `entities:
  - name: account
    sources:
      - {from: app.public.accounts, name: accounts, fields: {balance: balance, ver: ver}}
      - {from: app.public.docs, name: docs, fields: {title: title}, external_ids: {accounts: id}}
    fields:
      balance: {type: int64}
      ver: {type: int64}
      title: {}
sinks:
`, 1)
	cfgPath := filepath.Join(work, "pipeline.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Preload(ctx, srcDSN, rows, NewHistory()); err != nil {
		t.Fatal(err)
	}
	env := []string{"CRASH_APP_DSN=" + srcDSN, "CRASH_WH_DSN=" + whDSN}
	conn, err := pgx.Connect(ctx, srcDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	// Rounds of updates of both tables while the process is killed.
	var cur *Proc
	t.Cleanup(func() {
		if cur != nil {
			_ = cur.Kill()
		}
	})
	start := func(n int) {
		pr, err := Start(fmt.Sprintf("syncline run #%d", n), bin, work, filepath.Join(work, fmt.Sprintf("syncline-%02d.log", n)), env,
			"run", "--config", cfgPath, "--instance-id", "crash")
		if err != nil {
			t.Fatal(err)
		}
		cur = pr
	}
	start(1)
	killed := 0
	for r := 1; r <= rounds; r++ {
		if _, err := conn.Exec(ctx, `UPDATE accounts SET ver = $1, balance = balance + 1 WHERE id % 5 = $1 % 5`, r); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `UPDATE docs SET ver = $1, title = 'doc ' || id || ' r' || $1 WHERE id % 3 = $1 % 3`, r); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		if r%3 == 0 && killed < kills {
			if cur.Exited() != nil {
				t.Fatalf("syncline exited on its own: %v\n%s", cur.Exited(), cur.Tail(40))
			}
			_ = cur.Kill()
			killed++
			start(killed + 1)
		}
	}
	// Converged: the golden table equals the join of the sources.
	want := func() string {
		return strings.Join(rowsOf(ctx, t, srcDSN, `SELECT 'accounts:' || a.id, a.balance, a.ver, d.title FROM accounts a LEFT JOIN docs d ON d.id = a.id ORDER BY 1`), "\n")
	}
	got := func() string {
		return strings.Join(rowsOf(ctx, t, whDSN, `SELECT id, balance, ver, title FROM analytics.account ORDER BY 1`), "\n")
	}
	deadline := time.Now().Add(4 * time.Minute)
	for {
		if cur.Exited() != nil {
			t.Fatalf("syncline exited: %v\n%s", cur.Exited(), cur.Tail(40))
		}
		w, g := "", ""
		if tableExists(ctx, t, whDSN, "analytics", "account") {
			w, g = want(), got()
		}
		if w != "" && w == g {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("golden table not equal to the sources after 4 minutes (%d kills):\ngot  %.600s\nwant %.600s\n%s", killed, g, w, cur.Tail(30))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := cur.Stop(60 * time.Second); err != nil {
		t.Errorf("%v\n%s", err, cur.Tail(30))
	}
	cur = nil

	// Each golden record's versions: 1, 2, 3, … on the entity topic.
	rc, err := sr.NewClient(sr.URLs(ep.registryURL))
	if err != nil {
		t.Fatal(err)
	}
	serde := schemas.NewSerde(rc)
	seqs := map[string][]string{}
	var derr error
	opts := []kgo.Opt{kgo.SeedBrokers(ep.broker)}
	err = kafka.ReadAll(ctx, opts, entities.Topic("syncline", "account"), func(r *kgo.Record) {
		ch, err := serde.Decode(ctx, r.Key, r.Value)
		if err != nil {
			derr = err
			return
		}
		id := fmt.Sprint(ch.Key["id"])
		seqs[id] = append(seqs[id], ch.Source.Position)
	})
	if err != nil || derr != nil {
		t.Fatal(err, derr)
	}
	versions, merged := 0, 0
	for id, ps := range seqs {
		for i, p := range ps {
			if want := fmt.Sprintf("%020d", i+1); p != want {
				t.Fatalf("golden record %s: version %d has position %s, want %s (all: %v): a version was lost or written twice", id, i+1, p, want, ps)
			}
		}
		versions += len(ps)
		if strings.HasPrefix(id, "docs:") {
			merged++
		}
	}
	if killed < kills {
		t.Errorf("only %d kills happened, want %d", killed, kills)
	}
	t.Logf("%d kills; %d golden records, %d versions on the entity topic (%d docs-first entities renamed)", killed, len(seqs), versions, merged)
}

func rowsOf(ctx context.Context, t *testing.T, dsn, q string) []string {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rs, err := conn.Query(ctx, "SELECT ROW(x.*)::text FROM ("+q+") x")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func tableExists(ctx context.Context, t *testing.T, dsn, schema, table string) bool {
	return len(rowsOf(ctx, t, dsn, fmt.Sprintf(`SELECT 1 FROM pg_tables WHERE schemaname = '%s' AND tablename = '%s'`, schema, table))) > 0
}

package entities_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/testenv"
	"syncline/internal/topics"
	"syncline/schemas"
	"syncline/transform/entities"
	"syncline/transform/entities/merge"
	"syncline/transform/quality"
)

const prefix = "syncline"

var (
	appTopic = topics.Change(prefix, "app", "public", "customers")
	crmTopic = topics.Change(prefix, "crm", "public", "contacts")
)

func appTable() *schemas.Table {
	cols := []schemas.Column{
		{Name: "id", PGType: "bigint", Kind: schemas.KindInt64, Key: true},
		{Name: "email", PGType: "text", Kind: schemas.KindString},
		{Name: "name", PGType: "text", Kind: schemas.KindString},
		{Name: "balance", PGType: "numeric(12,2)", Kind: schemas.KindDecimal, Precision: 12, Scale: 2},
		{Name: "plan", PGType: "text", Kind: schemas.KindString},
	}
	schemas.SanitizeFields(cols)
	return &schemas.Table{System: "postgres", Source: "app", DB: "app", Schema: "public", Name: "customers", Columns: cols}
}

func crmTable() *schemas.Table {
	cols := []schemas.Column{
		{Name: "id", PGType: "bigint", Kind: schemas.KindInt64, Key: true},
		{Name: "email", PGType: "text", Kind: schemas.KindString},
		{Name: "full_name", PGType: "text", Kind: schemas.KindString},
		{Name: "phone", PGType: "text", Kind: schemas.KindString},
		{Name: "stage", PGType: "text", Kind: schemas.KindString},
		{Name: "plan", PGType: "text", Kind: schemas.KindString},
		{Name: "app_id", PGType: "bigint", Kind: schemas.KindInt64},
	}
	schemas.SanitizeFields(cols)
	return &schemas.Table{System: "postgres", Source: "crm", DB: "crm", Schema: "public", Name: "contacts", Columns: cols}
}

func contactSpec(shards int) entities.Spec {
	return entities.Spec{
		Name:   "contact",
		Shards: shards,
		Sources: []entities.SourceSpec{
			{From: "app.public.customers"},
			{From: "crm.public.contacts", Fields: map[string]string{"email": "email", "name": "full_name", "phone": "phone", "lifecycle": "stage", "plan": "plan"},
				ExternalIDs: map[string]string{"app": "app_id"}},
		},
		Fields: map[string]entities.FieldSpec{
			"email":     {},
			"name":      {},
			"phone":     {},
			"lifecycle": {},
			"balance":   {Type: "numeric", Field: merge.Field{Anomaly: &merge.Anomaly{Factor: 10}}},
			"plan":      {Field: merge.Field{SystemOfRecord: "app"}},
		},
		Quality: quality.EntityConfig{Spec: quality.Spec{Fields: map[string]quality.Field{
			"email":     {Normalize: quality.NormalizeEmail},
			"phone":     {Normalize: quality.NormalizePhone, Region: "US"},
			"lifecycle": {Normalize: quality.NormalizeLifecycle},
		}}},
	}
}

type env struct {
	t        *testing.T
	k        *testenv.Kafka
	serde    *schemas.Serde
	app, crm *schemas.Encoder
	dir      string
	ent      *entities.Entity
	reg      *prometheus.Registry
	m        *metrics.Metrics
	stops    []func()
	seq      int
}

func newEnv(t *testing.T, shards int) *env {
	t.Helper()
	k := testenv.StartKafka(t)
	e := &env{t: t, k: k, serde: schemas.NewSerde(k.RegistryClient(t)), dir: t.TempDir()}
	if err := kafka.EnsureTopics(context.Background(), kadm.NewClient(k.Client(t)),
		kafka.TopicSpec{Name: appTopic, Partitions: 3}, kafka.TopicSpec{Name: crmTopic, Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.app, err = e.serde.Encoder(context.Background(), appTopic, appTable()); err != nil {
		t.Fatal(err)
	}
	if e.crm, err = e.serde.Encoder(context.Background(), crmTopic, crmTable()); err != nil {
		t.Fatal(err)
	}
	e.ent, err = entities.Compile(contactSpec(shards))
	if err != nil {
		t.Fatal(err)
	}
	e.ent.Sources[0].Topic, e.ent.Sources[1].Topic = appTopic, crmTopic
	t.Cleanup(e.stopAll)
	return e
}

// start runs n routing and n merge processes (instances 1..n).
func (e *env) start(n int) {
	e.t.Helper()
	e.reg = prometheus.NewRegistry()
	m := metrics.New(e.reg)
	e.m = m
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for i := 1; i <= n; i++ {
		id := fmt.Sprint(i)
		cfg := entities.Config{TopicPrefix: prefix, Partitions: 3, InstanceID: id, StateDir: filepath.Join(e.dir, id), BatchSize: 50,
			Entities: []*entities.Entity{e.ent}}
		rt, err := entities.NewRouter(cfg, e.k.Opts(), e.serde, m, log)
		if err != nil {
			e.t.Fatal(err)
		}
		p, err := entities.New(cfg, e.k.Opts(), e.serde, m, log)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, run := range []func(context.Context) error{rt.Run, p.Run} {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx) }()
			e.stops = append(e.stops, func() {
				cancel()
				if err := <-done; err != nil {
					e.t.Errorf("stage: %v", err)
				}
			})
		}
	}
}

func (e *env) stopAll() {
	for _, s := range e.stops {
		s()
	}
	e.stops = nil
}

// change produces a change record as the changes stage writes it.
func (e *env) change(enc *schemas.Encoder, t *schemas.Table, op schemas.Op, row schemas.Row, commit time.Time) {
	e.t.Helper()
	e.seq++
	pos := fmt.Sprintf("%016X/%016X", e.seq, 0)
	ch := &schemas.Change{Table: t, Op: op, Key: schemas.Row{"id": row["id"]}, After: row,
		Source: schemas.Source{System: "postgres", Name: t.Source, DB: t.DB, Schema: t.Schema, Table: t.Name, Position: pos, CommitMs: commit.UnixMilli()}}
	if op == schemas.OpDelete {
		ch.Before, ch.After = row, nil
	}
	k, v, err := enc.Encode(ch)
	if err != nil {
		e.t.Fatal(err)
	}
	topic := appTopic
	if t.Source == "crm" {
		topic = crmTopic
	}
	cl := e.k.Client(e.t, kgo.RecordPartitioner(kafka.KeyPartitioner()))
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: k, Value: v}).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func (e *env) appRow(id int64, email, name, balance, plan string, at time.Duration) {
	e.t.Helper()
	r, _ := new(big.Rat).SetString(balance)
	e.change(e.app, appTable(), schemas.OpUpdate, schemas.Row{"id": id, "email": email, "name": name, "balance": r, "plan": plan}, t0.Add(at))
}

func (e *env) crmRow(id int64, email, name, phone, stage, plan string, appID any, at time.Duration) {
	e.t.Helper()
	e.change(e.crm, crmTable(), schemas.OpUpdate, schemas.Row{"id": id, "email": email, "full_name": name, "phone": phone, "stage": stage, "plan": plan, "app_id": appID}, t0.Add(at))
}

// golden reads the entity topic: the latest version of every golden
// record still alive, as "field=value" text, and the records deleted.
func (e *env) golden() (alive map[string]string, merged map[string]string) {
	e.t.Helper()
	alive, merged = map[string]string{}, map[string]string{}
	err := kafka.ReadAll(context.Background(), e.k.Opts(), entities.Topic(prefix, "contact"), func(r *kgo.Record) {
		ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			e.t.Fatal(err)
		}
		id := fmt.Sprint(ch.Key["id"])
		if ch.Op == schemas.OpDelete {
			delete(alive, id)
			merged[id] = fmt.Sprint(ch.Before["_merged_into"])
			return
		}
		delete(merged, id)
		var parts []string
		for _, c := range ch.Table.Columns {
			if c.Name == "id" || c.Name == "_provenance" || c.Name == "_quality_score" || c.Name == "_merged_into" {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s=%v", c.Name, show(ch.After[c.Field])))
		}
		alive[id] = strings.Join(parts, " ")
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return alive, merged
}

// versions counts the golden records of id on the entity topic.
func (e *env) versions(id string) int {
	e.t.Helper()
	n := 0
	err := kafka.ReadAll(context.Background(), e.k.Opts(), entities.Topic(prefix, "contact"), func(r *kgo.Record) {
		ch, err := e.serde.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			e.t.Fatal(err)
		}
		if fmt.Sprint(ch.Key["id"]) == id {
			n++
		}
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case *big.Rat:
		return x.FloatString(2)
	}
	return fmt.Sprint(v)
}

// waitFor polls golden() until cond holds.
func (e *env) waitFor(what string, cond func(alive, merged map[string]string) bool) (map[string]string, map[string]string) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		alive, merged := e.golden()
		if cond(alive, merged) {
			return alive, merged
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not reached in 60s; golden records:\n%s\nmerged: %v", what, dump(alive), merged)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func dump(m map[string]string) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for _, k := range ks {
		fmt.Fprintf(&b, "  %s: %s\n", k, m[k])
	}
	return b.String()
}

func has(alive map[string]string, id, want string) bool {
	return strings.Contains(" "+alive[id]+" ", " "+want+" ")
}

// The seeds' scenarios, in one pipeline whose state carries over.
func TestSeedScenarios(t *testing.T) {
	e := newEnv(t, 1)
	e.start(1)
	newMachine := t.TempDir() // the test's, not a subtest's: it outlives the subtest

	t.Run("duplicate contacts with formatting differences are merged", func(t *testing.T) {
		e.crmRow(501, "  JANE.DOE@Example.com ", "Jane Doe", "(415) 555-0101", "MQL", "free", nil, 0)
		// The crm's record first makes an entity of its own; the app's,
		// ranked higher, then names the merged one.
		e.waitFor("crm:501 alone", func(a, _ map[string]string) bool { return a["crm:501"] != "" })
		e.appRow(1, "jane.doe@example.com", "Jane Doe", "100.00", "gold", time.Second)
		alive, merged := e.waitFor("jane merged", func(a, m map[string]string) bool {
			return has(a, "app:1", `_sources=["app:1","crm:501"]`)
		})
		if _, ok := alive["crm:501"]; ok || merged["crm:501"] != "app:1" {
			t.Errorf("crm:501 should have been merged into app:1 (the app record ranks first): alive %q, merged %v", alive["crm:501"], merged)
		}
		for _, want := range []string{"email=jane.doe@example.com", "phone=+14155550101", "lifecycle=marketing_qualified_lead", "balance=100"} {
			if !has(alive, "app:1", want) {
				t.Errorf("golden app:1 = %s; want %s", alive["app:1"], want)
			}
		}
	})

	t.Run("the system of record wins", func(t *testing.T) {
		// The same change moves the lifecycle stage (the crm's to set), so
		// its arrival is visible.
		e.crmRow(501, "jane.doe@example.com", "Jane Doe", "(415) 555-0101", "customer", "enterprise", nil, 2*time.Second)
		alive, _ := e.waitFor("crm change seen", func(a, _ map[string]string) bool { return has(a, "app:1", "lifecycle=customer") })
		if !has(alive, "app:1", "plan=gold") {
			t.Errorf("plan: %s; the crm cannot set it", alive["app:1"])
		}
	})

	t.Run("non-conflicting changes of two systems are both kept", func(t *testing.T) {
		e.appRow(1, "jane.doe@example.com", "Jane Q. Doe", "100.00", "gold", 3*time.Second)
		e.crmRow(501, "jane.doe@example.com", "Jane Doe", "(415) 555-0199", "SQL", "enterprise", nil, 4*time.Second)
		e.waitFor("both changes", func(a, _ map[string]string) bool {
			return has(a, "app:1", "name=Jane Q. Doe") && has(a, "app:1", "phone=+14155550199") && has(a, "app:1", "lifecycle=sales_qualified_lead")
		})
	})

	t.Run("concurrent modification: the later commit wins", func(t *testing.T) {
		// The crm's edit commits later but arrives first.
		e.crmRow(501, "jane.doe@example.com", "Jane Crm-Doe", "(415) 555-0199", "SQL", "enterprise", nil, 6*time.Second)
		// The app's edit also upgrades the plan (only the app sets it), so
		// its arrival is visible.
		e.appRow(1, "jane.doe@example.com", "Jane App-Doe", "100.00", "platinum", 5*time.Second)
		alive, _ := e.waitFor("both edits processed", func(a, _ map[string]string) bool {
			return has(a, "app:1", "plan=platinum") && has(a, "app:1", "phone=+14155550199")
		})
		if !has(alive, "app:1", "name=Jane Crm-Doe") {
			t.Errorf("golden app:1 = %s; want the crm's later name", alive["app:1"])
		}
	})

	t.Run("a losing edit emits the unchanged golden record again, for two-way sync to write back", func(t *testing.T) {
		// The app's name, edited at 5.5 s (and back at 5.6 s), loses to the
		// crm's of 6 s: the app's row disagrees with the golden record,
		// which must be emitted again each time so that a write-back sink
		// corrects the row.
		for i, name := range []string{"Jane Older", "Jane App-Doe"} {
			before := e.versions("app:1")
			e.appRow(1, "jane.doe@example.com", name, "100.00", "platinum", time.Duration(5500+100*i)*time.Millisecond)
			deadline := time.Now().Add(60 * time.Second)
			for e.versions("app:1") == before {
				if time.Now().After(deadline) {
					t.Fatalf("golden app:1 not emitted again after a losing edit to %q (still %d versions)", name, before)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if alive, _ := e.golden(); !has(alive, "app:1", "name=Jane Crm-Doe") {
				t.Errorf("golden app:1 = %s; want the crm's later name kept", alive["app:1"])
			}
		}
		// A change that agrees with the golden record emits nothing.
		n := e.versions("app:1")
		e.crmRow(501, "jane.doe@example.com", "Jane Crm-Doe", "(415) 555-0199", "SQL", "enterprise", nil, 6*time.Second)
		e.appRow(2, "other@example.com", "Other", "1.00", "basic", 5600*time.Millisecond) // a marker: processed after the crm row
		e.waitFor("marker processed", func(a, _ map[string]string) bool { return has(a, "app:2", "name=Other") })
		if got := e.versions("app:1"); got != n {
			t.Errorf("golden app:1 emitted %d more times for a redelivered crm row", got-n)
		}
	})

	t.Run("the state survives the loss of the local store (restored from the changelog)", func(t *testing.T) {
		e.stopAll()
		e.dir = newMachine // a new machine: empty Badger stores
		e.start(1)
		// A change of the crm's Jane: the restored index must still know
		// her email, and the merge state her app record.
		e.crmRow(501, "jane.doe@example.com", "Jane Crm-Doe", "(415) 555-0123", "SQL", "enterprise", nil, 6500*time.Millisecond)
		e.waitFor("restored state used", func(a, _ map[string]string) bool {
			return has(a, "app:1", "phone=+14155550123") && has(a, "app:1", `_sources=["app:1","crm:501"]`) && has(a, "app:1", "plan=platinum")
		})
	})

	t.Run("a $100 to $1 change is held for review, then applied once approved", func(t *testing.T) {
		e.appRow(1, "jane.doe@example.com", "Jane App-Doe", "1.00", "platinum", 7*time.Second)
		var rv *entities.Review
		deadline := time.Now().Add(30 * time.Second)
		for rv == nil {
			list, err := entities.ListReviews(context.Background(), e.k.Opts(), prefix, entities.ReviewFilter{Status: entities.StatusPending})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) == 1 {
				rv = list[0]
			} else if time.Now().After(deadline) {
				t.Fatalf("pending reviews: %d, want 1", len(list))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if rv.Kind != entities.KindAnomaly || rv.Field != "balance" || rv.Value == nil || *rv.Value != "1" && *rv.Value != "1.00" || rv.EntityID != "app:1" {
			t.Fatalf("review = %+v; want an anomaly on balance of app:1 with value 1", rv)
		}
		alive, _ := e.golden()
		if !has(alive, "app:1", "balance=100") {
			t.Fatalf("held value applied before review: %s", alive["app:1"])
		}
		if got := testutil.ToFloat64(e.m.ReviewQueueDepth); got != 1 {
			t.Errorf("syncline_review_queue_depth = %v with one item pending", got)
		}
		if _, err := entities.Decide(context.Background(), e.k.Opts(), prefix, rv.ID[:8], "approve", "tester", "confirmed with billing"); err != nil {
			t.Fatal(err)
		}
		done, err := entities.WaitDecided(context.Background(), e.k.Opts(), prefix, rv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if done.Status != entities.StatusApproved || done.DecidedBy != "tester" {
			t.Fatalf("decided review: %+v", done)
		}
		e.waitFor("approved balance", func(a, _ map[string]string) bool { return has(a, "app:1", "balance=1") })
		if got := testutil.ToFloat64(e.m.ReviewQueueDepth); got != 0 {
			t.Errorf("syncline_review_queue_depth = %v after the decision", got)
		}
		if got := testutil.ToFloat64(e.m.Conflicts.WithLabelValues("contact", "balance", merge.ResolutionApproved)); got != 1 {
			t.Errorf("conflicts_total{balance,approved} = %v, want 1", got)
		}
		if got := testutil.CollectAndCount(e.m.QualityScore); got != 2 {
			t.Errorf("quality score series: %d, want one per source", got)
		}
		if _, err := entities.Decide(context.Background(), e.k.Opts(), prefix, rv.ID, "reject", "tester", ""); !errors.Is(err, entities.ErrDecided) {
			t.Fatalf("second decision: %v; want ErrDecided", err)
		}
	})

	t.Run("an external id cross reference merges records that share nothing else", func(t *testing.T) {
		e.appRow(3, "carol@king.org", "Carol King", "10.00", "free", 8*time.Second)
		e.crmRow(503, "ck@work.example", "C. King", "", "lead", "", int64(3), 9*time.Second)
		e.waitFor("carol merged", func(a, m map[string]string) bool {
			return has(a, "app:3", `_sources=["app:3","crm:503"]`) && a["crm:503"] == ""
		})
	})

	t.Run("a likely duplicate below auto-merge goes to review; approval merges the two", func(t *testing.T) {
		e.appRow(4, "margaret@apollo.example", "Margaret Hamilton", "10.00", "free", 11*time.Second)
		e.waitFor("app:4", func(a, _ map[string]string) bool { return a["app:4"] != "" })
		e.crmRow(505, "m.hamilton@gmail.com", "Margaret Hamiltn", "", "lead", "", nil, 12*time.Second)
		var rv *entities.Review
		deadline := time.Now().Add(30 * time.Second)
		for rv == nil {
			list, err := entities.ListReviews(context.Background(), e.k.Opts(), prefix, entities.ReviewFilter{Status: entities.StatusPending, Kind: entities.KindDuplicate})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) > 0 {
				rv = list[0]
			} else if time.Now().After(deadline) {
				alive, _ := e.golden()
				t.Fatalf("no duplicate review; golden:\n%s", dump(alive))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if rv.Pair == nil || rv.Pair.Score < 0.65 || rv.Pair.Score >= 0.85 || !strings.Contains(rv.Pair.A+rv.Pair.B, "crm:505") || !strings.Contains(rv.Pair.A+rv.Pair.B, "app:4") {
			t.Fatalf("duplicate review %+v; want app:4 and crm:505 scored in the review band", rv.Pair)
		}
		alive, _ := e.golden()
		if alive["crm:505"] == "" || alive["app:4"] == "" {
			t.Fatalf("the pair was merged before review:\n%s", dump(alive))
		}
		if _, err := entities.Decide(context.Background(), e.k.Opts(), prefix, rv.ID, "approve", "tester", ""); err != nil {
			t.Fatal(err)
		}
		e.waitFor("approved merge", func(a, m map[string]string) bool {
			return has(a, "app:4", `_sources=["app:4","crm:505"]`) && a["crm:505"] == "" && m["crm:505"] == "app:4"
		})
	})

	t.Run("an invalid record goes to the DLQ with the reason", func(t *testing.T) {
		e.crmRow(504, "not an email", "Nobody", "", "", "", nil, 10*time.Second)
		deadline := time.Now().Add(30 * time.Second)
		for {
			var reasons []string
			err := kafka.ReadAll(context.Background(), e.k.Opts(), topics.DLQ(prefix), func(r *kgo.Record) {
				for _, h := range r.Headers {
					if h.Key == "syncline.reason" {
						reasons = append(reasons, string(h.Value))
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(reasons) == 1 && reasons[0] == "invalid_record" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("DLQ reasons %v; want [invalid_record]", reasons)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("history shows each value of a field, its source and why it won", func(t *testing.T) {
		h, err := entities.ReadHistory(context.Background(), e.k.Opts(), e.serde, prefix, "contact", "app:1")
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Merged) != 1 || h.Merged[0] != "crm:501" {
			t.Errorf("merged %v; want [crm:501]", h.Merged)
		}
		var names []string
		for _, s := range h.Fields["name"] {
			names = append(names, *s.Value+"@"+s.Source)
		}
		if got := strings.Join(names, ","); !strings.HasSuffix(got, "Jane Q. Doe@app,Jane App-Doe@app,Jane Crm-Doe@crm") && !strings.HasSuffix(got, "Jane Q. Doe@app,Jane Crm-Doe@crm") {
			t.Errorf("name history %s", got)
		}
		steps := h.Fields["balance"]
		last := steps[len(steps)-1]
		if *last.Value != "1" || !strings.Contains(last.Reason, "review") {
			t.Errorf("balance's last step %+v; want 1.00, approved in review", last)
		}
	})
	e.stopAll()
}

// person is one synthetic customer as both systems hold it.
type person struct {
	id            int64
	email, name   string
	phone         string
	inCRM, inApp  bool
	crmEmailStyle int
}

// The same changes, processed by one process or spread over three (each
// running the routing and the merge stage), give the same golden records.
func TestSameGoldenRecordsWithOneOrThreeProcesses(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var people []person
	for i := range 150 {
		p := person{id: int64(i + 1), email: fmt.Sprintf("user%d@example.com", i), name: fmt.Sprintf("User%c Number%c", 'A'+i%26, 'A'+(i/26)%26),
			phone: fmt.Sprintf("(415) 555-%04d", 1000+i),
			inApp: i%5 != 0, inCRM: i%4 != 0, crmEmailStyle: i % 3}
		people = append(people, p)
	}
	type op struct {
		app bool
		p   person
		at  time.Duration
		ver int
	}
	var ops []op
	for _, p := range people {
		for v := range 3 {
			at := time.Duration(rng.IntN(100000)) * time.Millisecond
			if p.inApp {
				ops = append(ops, op{app: true, p: p, at: at, ver: v})
			}
			if p.inCRM {
				ops = append(ops, op{p: p, at: at + time.Duration(rng.IntN(1000))*time.Millisecond, ver: v})
			}
		}
	}
	// Each record's own versions stay in order (as a keyed change topic
	// delivers them); records interleave at random.
	rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
	last := map[string]int{}
	for i := range ops {
		k := fmt.Sprint(ops[i].app, ops[i].p.id)
		ops[i].ver = last[k]
		last[k]++
		ops[i].at = time.Duration(ops[i].ver)*100*time.Second + ops[i].at
	}
	run := func(procs int) map[string]string {
		e := newEnv(t, 3)
		e.start(procs)
		for _, o := range ops {
			p := o.p
			if o.app {
				e.appRow(p.id, p.email, fmt.Sprintf("%s v%d", p.name, o.ver), fmt.Sprintf("%d.00", o.ver+1), "basic", o.at)
			} else {
				email := p.email
				switch p.crmEmailStyle {
				case 1:
					email = strings.ToUpper(email)
				case 2:
					email = "  " + email + " "
				}
				e.crmRow(1000+p.id, email, fmt.Sprintf("%s c%d", p.name, o.ver), p.phone, []string{"lead", "MQL", "customer"}[o.ver], "pro", nil, o.at)
			}
		}
		want := 0
		for _, p := range people {
			if p.inApp || p.inCRM {
				want++
			}
		}
		alive, _ := e.waitFor(fmt.Sprintf("%d entities, all versions processed (%d processes)", want, procs), func(withShard map[string]string, _ map[string]string) bool {
			if len(withShard) != want {
				return false
			}
			// With several shards ids end in "@<shard>".
			a := map[string]string{}
			for id, v := range withShard {
				base, _, _ := strings.Cut(id, "@")
				a[base] = v
			}
			for _, p := range people {
				id := fmt.Sprintf("app:%d", p.id)
				if !p.inApp {
					id = fmt.Sprintf("crm:%d", 1000+p.id)
				}
				// Each record's last version is visible: the app's in the
				// balance, the crm's in the lifecycle stage (only each
				// sends that field).
				if p.inApp && !has(a, id, "balance=3") || p.inCRM && !has(a, id, "lifecycle=customer") {
					return false
				}
			}
			return true
		})
		e.stopAll()
		return alive
	}
	one := run(1)
	three := run(3)
	if dump(one) != dump(three) {
		t.Fatalf("golden records differ between one and three processes:\none:\n%s\nthree:\n%s", dump(one), dump(three))
	}
	merged := 0
	for _, v := range one {
		if strings.Contains(v, `"app:`) && strings.Contains(v, `"crm:`) {
			merged++
		}
	}
	wantMerged := 0
	for _, p := range people {
		if p.inApp && p.inCRM {
			wantMerged++
		}
	}
	if merged != wantMerged {
		t.Errorf("%d golden records join an app and a crm record; want %d", merged, wantMerged)
	}
}

// Changing an entity's shards once records were routed is refused with
// what to do, not run with records on the wrong shards.
func TestChangedShardsAreRefused(t *testing.T) {
	e := newEnv(t, 3)
	e.start(1)
	e.appRow(1, "a@example.com", "A", "1.00", "free", 0)
	e.waitFor("one entity", func(a, _ map[string]string) bool { return len(a) == 1 })
	e.stopAll()
	ent, err := entities.Compile(contactSpec(2))
	if err != nil {
		t.Fatal(err)
	}
	ent.Sources[0].Topic, ent.Sources[1].Topic = appTopic, crmTopic
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := entities.Config{TopicPrefix: prefix, Partitions: 3, InstanceID: "1", StateDir: filepath.Join(e.dir, "x"), Entities: []*entities.Entity{ent}}
	p, err := entities.New(cfg, e.k.Opts(), e.serde, metrics.New(prometheus.NewRegistry()), log)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "has 3 partitions but shards is 2") {
		t.Fatalf("Run with changed shards: %v", err)
	}
}

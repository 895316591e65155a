package changes_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/testenv"
	"syncline/schemas"
	"syncline/transform/changes"
)

// BenchmarkStageWithMillionKeys measures the changes stage's throughput
// (raw records in, change records out, state and changelog written, all
// in Kafka transactions) against the in-process broker: first BENCH_KEYS
// (1,000,000) inserts into empty state, then BENCH_UPDATES (200,000)
// updates of random keys with every key in state. It reports records/s of
// each phase.
//
//	go test -run '^$' -bench StageWithMillionKeys -benchtime 1x -timeout 30m ./transform/changes/
func BenchmarkStageWithMillionKeys(b *testing.B) {
	keys, updates := envN("BENCH_KEYS", 1_000_000), envN("BENCH_UPDATES", 200_000)
	ctx := context.Background()
	k := testenv.StartKafka(b)
	adm := kadm.NewClient(k.Client(b))
	if err := kafka.EnsureTopics(ctx, adm, kafka.TopicSpec{Name: rawTopic, Partitions: 4}, kafka.TopicSpec{Name: changeTopic, Partitions: 4}); err != nil {
		b.Fatal(err)
	}
	serde := schemas.NewSerde(k.RegistryClient(b))
	enc, err := serde.Encoder(ctx, rawTopic, docsTable())
	if err != nil {
		b.Fatal(err)
	}
	cl := k.Client(b, kgo.RecordPartitioner(kafka.KeyPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	pos := 0
	produce := func(op schemas.Op, ids func(i int) int32, n int) {
		for i := range n {
			pos++
			id := ids(i)
			ch := &schemas.Change{Op: op, Key: schemas.Row{"id": id},
				After:  schemas.Row{"id": id, "title": fmt.Sprintf("title %d of %d", pos, id), "body": "a body of some length, like a short paragraph of text in a row"},
				Source: schemas.Source{System: "postgres", Name: "app", DB: "app", Schema: "public", Table: "docs", Position: fmt.Sprintf("%016X/%016X", pos, 0)}}
			key, val, err := enc.Encode(ch)
			if err != nil {
				b.Fatal(err)
			}
			cl.Produce(ctx, &kgo.Record{Topic: rawTopic, Key: key, Value: val}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	// caughtUp reports whether the stage's committed offsets reached the
	// raw topic's end.
	caughtUp := func() bool {
		ends, err := adm.ListEndOffsets(ctx, rawTopic)
		if err != nil {
			return false
		}
		committed, err := adm.FetchOffsets(ctx, "syncline-changes")
		if err != nil {
			return false
		}
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			c, ok := committed.Lookup(rawTopic, o.Partition)
			done = done && ok && c.At >= o.Offset
		})
		return done
	}
	phase := func(name string, n int, load func()) {
		load()
		t0 := time.Now()
		for !caughtUp() {
			time.Sleep(100 * time.Millisecond)
			if time.Since(t0) > 20*time.Minute {
				b.Fatalf("%s: the stage did not catch up in 20 minutes", name)
			}
		}
		d := time.Since(t0)
		b.ReportMetric(float64(n)/d.Seconds(), name+"_records/s")
	}

	m := metrics.New(prometheus.NewRegistry())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The raw records are written before the stage starts, so each phase
	// times processing alone.
	produce(schemas.OpCreate, func(i int) int32 { return int32(i + 1) }, keys)
	p, err := changes.New(changes.Config{TopicPrefix: "syncline", Partitions: 4, StateDir: b.TempDir(), Topics: []string{rawTopic}}, k.Opts(), serde, m, log)
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.ResetTimer()
	go func() { done <- p.Run(rctx) }()
	phase("inserts", keys, func() {})
	rng := rand.New(rand.NewPCG(1, 1))
	b.StopTimer()
	phase("updates", updates, func() { produce(schemas.OpUpdate, func(int) int32 { return int32(rng.IntN(keys) + 1) }, updates) })
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

func envN(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
	return def
}

package entities_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/testenv"
	"syncline/schemas"
	"syncline/transform/entities"
	"syncline/transform/entities/merge"
)

// BenchmarkMergesWithEntitiesInState measures the identity and merge
// stage (exactly-once transactions, Badger state, changelog, golden
// records on kfake) applying updates to entities when the state already
// holds ENTITIES_BENCH_N of them (default 1,000,000): it loads them
// first (two source records each, joined by email), then times b.N
// updates to random entities and reports merges/s.
//
//	go test -run '^$' -bench MergesWithEntitiesInState -benchtime 200000x ./transform/entities/
func BenchmarkMergesWithEntitiesInState(b *testing.B) {
	// The load happens once, in the parent; the timed updates run in a
	// sub-benchmark (which testing runs with b.N = 1 before the real N).
	send, caughtUp, n := loadEntities(b)
	updates := 0
	b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
		for i := range b.N {
			updates++
			key := (updates * 7919) % n
			send("crm", key, map[string]any{"lifecycle": []string{"lead", "customer"}[i%2] + strconv.Itoa(updates)})
		}
		caughtUp()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "merges/s")
	})
}

// loadEntities starts the stage on kfake and loads the entities; the
// stage and the broker stop when b ends.
func loadEntities(b *testing.B) (func(string, int, map[string]any), func(), int) {
	n := 1_000_000
	if v := os.Getenv("ENTITIES_BENCH_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	k := testenv.StartKafka(b)
	ent, err := entities.Compile(contactSpec(1))
	if err != nil {
		b.Fatal(err)
	}
	ent.Sources[0].Topic, ent.Sources[1].Topic = appTopic, crmTopic
	in := entities.InputTopic(prefix, "contact")
	out := entities.Topic(prefix, "contact")
	if err := kafka.EnsureTopics(context.Background(), kadm.NewClient(k.Client(b)),
		kafka.TopicSpec{Name: in, Partitions: 1}, kafka.TopicSpec{Name: out, Partitions: 3}); err != nil {
		b.Fatal(err)
	}
	serde := schemas.NewSerde(k.RegistryClient(b))
	dir := b.TempDir()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := entities.New(entities.Config{TopicPrefix: prefix, Partitions: 3, StateDir: filepath.Join(dir, "state"), BatchSize: 5000,
		Entities: []*entities.Entity{ent}}, k.Opts(), serde, metrics.New(prometheus.NewRegistry()), log)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	prod := k.Client(b, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100000))
	pos := 0
	send := func(source string, key int, fields map[string]any) {
		pos++
		v, err := merge.EncodeChange(merge.Change{Entity: "contact", Source: source, Key: strconv.Itoa(key), Op: schemas.OpUpdate,
			CommitMs: int64(pos), Position: fmt.Sprintf("%016d", pos), Fields: fields})
		if err != nil {
			b.Fatal(err)
		}
		prod.Produce(context.Background(), &kgo.Record{Topic: in, Key: []byte(source + ":" + strconv.Itoa(key)), Value: v,
			Headers: []kgo.RecordHeader{{Key: "syncline.kind", Value: []byte("change")}}}, func(_ *kgo.Record, err error) {
			if err != nil {
				log.Error("produce", "err", err)
			}
		})
	}
	adm := kadm.NewClient(k.Client(b))
	// caughtUp waits until the stage has committed every input record.
	caughtUp := func() {
		for {
			ends, err := adm.ListEndOffsets(context.Background(), in)
			if err != nil { // a broker busy with the load: ask again
				time.Sleep(time.Second)
				continue
			}
			end, _ := ends.Lookup(in, 0)
			offs, err := adm.FetchOffsets(context.Background(), "syncline-"+entities.Stage)
			if err == nil {
				if o, ok := offs.Lookup(in, 0); ok && o.At >= end.Offset {
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	start := time.Now()
	for i := range n {
		// Names from 200 given names × 5,000 surnames, so name blocks hold
		// about as many records as real ones do (a common name is bounded
		// by max_block_scan either way).
		name := fmt.Sprintf("%s %s", benchGiven[i%len(benchGiven)], surname(i/len(benchGiven)%5000))
		email := fmt.Sprintf("person%d@example.com", i)
		send("app", i, map[string]any{"email": email, "name": name, "balance": nil})
		send("crm", i, map[string]any{"email": email, "name": name, "phone": fmt.Sprintf("+1415%07d", i)})
	}
	if err := prod.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	caughtUp()
	fmt.Fprintf(os.Stderr, "loaded %d entities (%d source records) in %v\n", n, 2*n, time.Since(start).Round(time.Second))

	flush := func() {
		if err := prod.Flush(context.Background()); err != nil {
			log.Error("flush", "err", err)
		}
		caughtUp()
	}
	return send, flush, n
}

var benchGiven = func() []string {
	var out []string
	for _, a := range []string{"Ann", "Bob", "Cal", "Dee", "Eve", "Fay", "Gus", "Hal", "Ida", "Jon"} {
		for _, b := range []string{"", "a", "e", "i", "o", "y", "ie", "na", "ra", "lo", "ne", "ry", "ly", "ta", "mi", "sa", "ko", "vi", "el", "an"} {
			out = append(out, a+b)
		}
	}
	return out
}()

// surname is a pronounceable surname for i (distinct for i < 5,000).
func surname(i int) string {
	cons := "bcdfghklmnprstvz"
	vow := "aeiou"
	s := []byte{cons[i%16] - 32, vow[i/16%5], cons[i/80%16], vow[i/1280%5]}
	return string(s) + "son"
}

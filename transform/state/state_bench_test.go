package state_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/internal/testenv"
	"syncline/transform/state"
)

// BenchmarkRestore measures how long a worker taking over a partition
// spends restoring its state from the changelog: keys (b.N rounds of) of
// ~200-byte values in one unit, read from the in-process broker into a
// fresh Badger store. It reports seconds per million keys.
//
//	go test -run '^$' -bench Restore -benchtime 1x ./transform/state/
func BenchmarkRestore(b *testing.B) {
	for _, keys := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			ctx := context.Background()
			k := testenv.StartKafka(b)
			const changelog = "_syncline.state.bench"
			if err := kafka.EnsureTopics(ctx, kadm.NewClient(k.Client(b)), kafka.TopicSpec{Name: changelog, Partitions: 1, Compact: true}); err != nil {
				b.Fatal(err)
			}
			u := state.Unit{Topic: "syncline.raw.app.public.customers", Partition: 0}
			cl := k.Client(b, kgo.TransactionalID("bench"), kgo.DefaultProduceTopic(changelog), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1<<20))
			value := make([]byte, 200)
			for start := 0; start < keys; start += 10_000 {
				if err := cl.BeginTransaction(); err != nil {
					b.Fatal(err)
				}
				for i := start; i < min(start+10_000, keys); i++ {
					key := binary.BigEndian.AppendUint64(nil, uint64(i))
					cl.Produce(ctx, &kgo.Record{Key: u.Key(key), Value: value}, func(_ *kgo.Record, err error) {
						if err != nil {
							b.Error(err)
						}
					})
				}
				if err := cl.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				st, err := state.Open(b.TempDir(), nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				n, err := st.Restore(ctx, k.Opts(), changelog, 1, u)
				b.StopTimer()
				if err != nil || n != keys {
					b.Fatalf("restored %d of %d keys: %v", n, keys, err)
				}
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/float64(keys)*1e6, "s/1Mkeys")
		})
	}
}

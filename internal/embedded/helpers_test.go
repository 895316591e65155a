package embedded

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testLogger logs warnings and errors to the test output, and everything
// when SYNCLINE_TEST_DEBUG is set.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("SYNCLINE_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startTestBroker starts a broker that the test closes on cleanup (closing
// twice is fine, so tests may close it earlier).
func startTestBroker(t *testing.T, cfg BrokerConfig) *Broker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	b, err := StartBroker(testContext(t), cfg)
	if err != nil {
		t.Fatalf("StartBroker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func newTestClient(t *testing.T, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.FetchMaxWait(250 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t *testing.T, addrs []string, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(newTestClient(t, addrs))
	if _, err := adm.CreateTopic(testContext(t), partitions, -1, configs, topic); err != nil {
		t.Fatalf("creating topic %s: %v", topic, err)
	}
}

// consumed is the part of a record the tests compare.
type consumed struct {
	Partition int32
	Offset    int64
	Key       string
	Value     string
}

// consumeAll reads topic from the start up to its current end: the high
// watermark for read_uncommitted, the last stable offset for read_committed.
func consumeAll(t *testing.T, addrs []string, topic string, committed bool) []consumed {
	t.Helper()
	ctx := testContext(t)
	adm := kadm.NewClient(newTestClient(t, addrs))
	var (
		ends kadm.ListedOffsets
		err  error
	)
	if committed {
		ends, err = adm.ListCommittedOffsets(ctx, topic)
	} else {
		ends, err = adm.ListEndOffsets(ctx, topic)
	}
	if err != nil {
		t.Fatalf("listing end offsets: %v", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("listing start offsets: %v", err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(topic, o.Partition); ok && s.Offset >= o.Offset {
			return
		}
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := newTestClient(t, addrs,
		kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(iso),
		kgo.KeepControlRecords(),
	)
	var out []consumed
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consuming %s: %v (still waiting for %v)", topic, err, want)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch error on partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				out = append(out, consumed{r.Partition, r.Offset, string(r.Key), string(r.Value)})
			}
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	slices.SortFunc(out, func(a, b consumed) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return out
}

func values(rs []consumed) []string {
	var vs []string
	for _, r := range rs {
		vs = append(vs, r.Value)
	}
	slices.Sort(vs)
	return vs
}

// produceTxn produces records (key=value pairs as alternating strings) in
// one transaction and commits or aborts it.
func produceTxn(t *testing.T, cl *kgo.Client, topic string, commit bool, kvs ...string) {
	t.Helper()
	ctx := testContext(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("BeginTransaction: %v", err)
	}
	var rs []*kgo.Record
	for i := 0; i+1 < len(kvs); i += 2 {
		rs = append(rs, &kgo.Record{Topic: topic, Key: []byte(kvs[i]), Value: []byte(kvs[i+1])})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("producing in transaction: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("EndTransaction(commit=%v): %v", commit, err)
	}
}

func produceSync(t *testing.T, cl *kgo.Client, topic, key, value string) {
	t.Helper()
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}
	if value == "<nil>" {
		r.Value = nil
	}
	if err := cl.ProduceSync(testContext(t), r).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

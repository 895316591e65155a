package embedded

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestBrokerPersistsAcrossRestart(t *testing.T) {
	for _, tc := range []struct {
		name       string
		syncWrites bool
	}{
		{"a restart keeps records, offsets and transactions when writes go through the page cache", false},
		{"a restart keeps records, offsets and transactions when every write is fsynced", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			dir := t.TempDir()
			const topic, group, txnID = "orders", "orders-sink", "orders-txn"

			b := startTestBroker(t, BrokerConfig{DataDir: dir, SyncWrites: tc.syncWrites, CompactInterval: -1})

			// Auto topic creation: the producer's metadata request
			// creates the topic with the default partition count.
			txn := newTestClient(t, b.Addrs(), kgo.TransactionalID(txnID), kgo.AllowAutoTopicCreation())
			produceTxn(t, txn, topic, true, "k1", "committed-1", "k2", "committed-2", "k3", "committed-3")
			produceTxn(t, txn, topic, false, "k4", "aborted-1", "k5", "aborted-2")
			produceTxn(t, txn, topic, true, "k6", "committed-4")
			txn.Close()

			adm := kadm.NewClient(newTestClient(t, b.Addrs()))
			details, err := adm.ListTopics(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(details[topic].Partitions); got != DefaultBrokerPartitions {
				t.Fatalf("auto-created topic has %d partitions, want %d", got, DefaultBrokerPartitions)
			}

			// A consumer group reads everything committed and
			// commits its offsets.
			cons := newTestClient(t, b.Addrs(),
				kgo.ConsumeTopics(topic),
				kgo.ConsumerGroup(group),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()),
				kgo.DisableAutoCommit(),
			)
			var seen []string
			for len(seen) < 4 {
				fs := cons.PollFetches(ctx)
				if ctx.Err() != nil {
					t.Fatalf("consumer saw %v before timing out", seen)
				}
				fs.EachRecord(func(r *kgo.Record) { seen = append(seen, string(r.Value)) })
			}
			if err := cons.CommitUncommittedOffsets(ctx); err != nil {
				t.Fatalf("committing offsets: %v", err)
			}
			cons.Close()

			beforeCommitted := consumeAll(t, b.Addrs(), topic, true)
			beforeAll := consumeAll(t, b.Addrs(), topic, false)
			beforeOffsets := groupOffsets(t, b.Addrs(), group)
			if len(beforeOffsets) == 0 {
				t.Fatal("no committed group offsets before restart")
			}
			if err := b.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			b2 := startTestBroker(t, BrokerConfig{DataDir: dir, SyncWrites: tc.syncWrites, CompactInterval: -1})

			afterCommitted := consumeAll(t, b2.Addrs(), topic, true)
			if !slices.Equal(afterCommitted, beforeCommitted) {
				t.Errorf("read_committed records changed across restart:\nbefore %v\nafter  %v", beforeCommitted, afterCommitted)
			}
			if got, want := values(afterCommitted), []string{"committed-1", "committed-2", "committed-3", "committed-4"}; !slices.Equal(got, want) {
				t.Errorf("read_committed after restart = %v, want %v", got, want)
			}
			if afterAll := consumeAll(t, b2.Addrs(), topic, false); !slices.Equal(afterAll, beforeAll) {
				t.Errorf("read_uncommitted records changed across restart:\nbefore %v\nafter  %v", beforeAll, afterAll)
			}
			if afterOffsets := groupOffsets(t, b2.Addrs(), group); !maps.Equal(afterOffsets, beforeOffsets) {
				t.Errorf("group offsets changed across restart: before %v, after %v", beforeOffsets, afterOffsets)
			}

			// The transactional ID keeps working (its producer ID
			// and epoch were persisted), and the group resumes
			// from its committed offsets: it sees only the new
			// record.
			txn2 := newTestClient(t, b2.Addrs(), kgo.TransactionalID(txnID))
			produceTxn(t, txn2, topic, true, "k7", "after-restart")
			cons2 := newTestClient(t, b2.Addrs(),
				kgo.ConsumeTopics(topic),
				kgo.ConsumerGroup(group),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()),
				kgo.DisableAutoCommit(),
			)
			var resumed []string
			for len(resumed) == 0 {
				fs := cons2.PollFetches(ctx)
				if ctx.Err() != nil {
					t.Fatal("resumed consumer saw nothing")
				}
				fs.EachRecord(func(r *kgo.Record) { resumed = append(resumed, string(r.Value)) })
			}
			if !slices.Equal(resumed, []string{"after-restart"}) {
				t.Errorf("resumed group consumer got %v, want only [after-restart]", resumed)
			}
		})
	}
}

func groupOffsets(t *testing.T, addrs []string, group string) map[int32]int64 {
	t.Helper()
	offs, err := kadm.NewClient(newTestClient(t, addrs)).FetchOffsets(testContext(t), group)
	if err != nil {
		t.Fatalf("fetching offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			t.Fatalf("offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.At
	})
	return out
}

func TestReadCommittedIsolation(t *testing.T) {
	t.Parallel()
	b := startTestBroker(t, BrokerConfig{CompactInterval: -1})

	t.Run("a read_committed consumer sees committed records and never an aborted transaction's", func(t *testing.T) {
		const topic = "isolation-aborted"
		createTopic(t, b.Addrs(), topic, 1, nil)
		txn := newTestClient(t, b.Addrs(), kgo.TransactionalID("iso-1"))
		plain := newTestClient(t, b.Addrs())

		produceTxn(t, txn, topic, true, "a", "c1", "b", "c2")
		produceTxn(t, txn, topic, false, "a", "x1", "b", "x2")
		produceSync(t, plain, topic, "n", "n1")
		produceTxn(t, txn, topic, false, "c", "x3")
		produceTxn(t, txn, topic, true, "c", "c3")

		if got, want := values(consumeAll(t, b.Addrs(), topic, true)), []string{"c1", "c2", "c3", "n1"}; !slices.Equal(got, want) {
			t.Errorf("read_committed saw %v, want %v", got, want)
		}
		if got, want := values(consumeAll(t, b.Addrs(), topic, false)), []string{"c1", "c2", "c3", "n1", "x1", "x2", "x3"}; !slices.Equal(got, want) {
			t.Errorf("read_uncommitted saw %v, want %v", got, want)
		}
	})

	t.Run("a read_committed consumer sees nothing of an open transaction, nor of it once aborted", func(t *testing.T) {
		const topic = "isolation-open"
		createTopic(t, b.Addrs(), topic, 1, nil)
		ctx := testContext(t)
		txn := newTestClient(t, b.Addrs(), kgo.TransactionalID("iso-2"))
		plain := newTestClient(t, b.Addrs())

		cons := newTestClient(t, b.Addrs(),
			kgo.ConsumeTopics(topic),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		)

		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txn.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("open")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		// A record produced after the open one sits behind the last
		// stable offset too.
		produceSync(t, plain, topic, "", "behind-open")

		pollCtx, cancel := context.WithTimeout(ctx, 750*time.Millisecond)
		fs := cons.PollFetches(pollCtx)
		cancel()
		if n := fs.NumRecords(); n != 0 {
			t.Fatalf("read_committed consumer got %d records while the transaction was open", n)
		}

		if err := txn.EndTransaction(ctx, kgo.TryAbort); err != nil {
			t.Fatal(err)
		}
		produceSync(t, plain, topic, "", "after-abort")

		var got []string
		for !slices.Contains(got, "after-abort") {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumer saw %v before timing out", got)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if want := []string{"behind-open", "after-abort"}; !slices.Equal(got, want) {
			t.Errorf("read_committed consumer got %v, want %v", got, want)
		}
	})
}

func TestBrokerCompaction(t *testing.T) {
	t.Parallel()
	b := startTestBroker(t, BrokerConfig{CompactInterval: -1})
	compactCfg := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}

	t.Run("compaction keeps only the latest value of each key in compacted topics", func(t *testing.T) {
		const topic = "compact-plain"
		createTopic(t, b.Addrs(), topic, 1, compactCfg)
		createTopic(t, b.Addrs(), topic+"-delete", 1, nil)
		plain := newTestClient(t, b.Addrs())
		for _, kv := range [][2]string{{"a", "1"}, {"a", "2"}, {"b", "1"}, {"a", "3"}, {"c", "1"}} {
			produceSync(t, plain, topic, kv[0], kv[1])
			produceSync(t, plain, topic+"-delete", kv[0], kv[1])
		}
		res, err := b.compactOnce(testContext(t))
		if err != nil || !res.compacted {
			t.Fatalf("compactOnce = %+v, %v; want compacted", res, err)
		}
		got := consumeAll(t, b.Addrs(), topic, false)
		if want := []consumed{{0, 2, "b", "1"}, {0, 3, "a", "3"}, {0, 4, "c", "1"}}; !slices.Equal(got, want) {
			t.Errorf("after compaction got %v, want %v", got, want)
		}
		if got := consumeAll(t, b.Addrs(), topic+"-delete", false); len(got) != 5 {
			t.Errorf("a delete-policy topic lost records to compaction: %v", got)
		}
	})

	t.Run("compaction waits while an open transaction holds records in a compacted partition", func(t *testing.T) {
		const topic = "compact-txn"
		createTopic(t, b.Addrs(), topic, 1, compactCfg)
		ctx := testContext(t)
		plain := newTestClient(t, b.Addrs())
		txn := newTestClient(t, b.Addrs(), kgo.TransactionalID("compact-txn"))

		produceSync(t, plain, topic, "a", "1")
		produceSync(t, plain, topic, "a", "2")
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txn.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("a"), Value: []byte("3-open")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		produceSync(t, plain, topic, "b", "1")

		res, err := b.compactOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.compacted || res.blockedBy != topic+"/0" {
			t.Fatalf("compactOnce with an open transaction = %+v, want blocked by %s/0", res, topic)
		}
		if got := consumeAll(t, b.Addrs(), topic, false); len(got) != 4 {
			t.Fatalf("records changed while compaction was deferred: %v", got)
		}

		if err := txn.EndTransaction(ctx, kgo.TryAbort); err != nil {
			t.Fatal(err)
		}
		res, err = b.compactOnce(ctx)
		if err != nil || !res.compacted {
			t.Fatalf("compactOnce after the abort = %+v, %v; want compacted", res, err)
		}
		got := consumeAll(t, b.Addrs(), topic, true)
		if want := []consumed{{0, 1, "a", "2"}, {0, 3, "b", "1"}}; !slices.Equal(got, want) {
			t.Errorf("after compaction got %v, want %v (the committed a=2 must survive the aborted a=3)", got, want)
		}
	})

	t.Run("kfake's unguarded Compact loses a committed value that an open transaction overwrites", func(t *testing.T) {
		// This documents the kfake behaviour the guard above exists
		// for. If it starts failing, kfake learned to respect the last
		// stable offset and the guard could go.
		const topic = "compact-unguarded"
		createTopic(t, b.Addrs(), topic, 1, compactCfg)
		ctx := testContext(t)
		plain := newTestClient(t, b.Addrs())
		txn := newTestClient(t, b.Addrs(), kgo.TransactionalID("compact-unguarded"))

		produceSync(t, plain, topic, "a", "committed")
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txn.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("a"), Value: []byte("open")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		produceSync(t, plain, topic, "b", "1")
		b.cluster.Compact()
		if err := txn.EndTransaction(ctx, kgo.TryAbort); err != nil {
			t.Fatal(err)
		}
		got := consumeAll(t, b.Addrs(), topic, true)
		if slices.ContainsFunc(got, func(c consumed) bool { return c.Key == "a" }) {
			t.Logf("kfake kept key a (%v): its compaction now respects open transactions; the guard is no longer needed", got)
		}
	})
}

func TestBrokerListenAndLocking(t *testing.T) {
	t.Parallel()

	t.Run("a broker listening on every interface advertises a loopback address clients can dial", func(t *testing.T) {
		b := startTestBroker(t, BrokerConfig{Listen: "0.0.0.0:0", CompactInterval: -1})
		addrs := b.Addrs()
		if len(addrs) != 1 || !strings.HasPrefix(addrs[0], "127.0.0.1:") {
			t.Fatalf("Addrs() = %v, want one 127.0.0.1 address", addrs)
		}
		cl := newTestClient(t, addrs, kgo.AllowAutoTopicCreation())
		produceSync(t, cl, "listen-check", "k", "v")
	})

	t.Run("a second broker cannot open a data dir that a running broker holds", func(t *testing.T) {
		dir := t.TempDir()
		b := startTestBroker(t, BrokerConfig{DataDir: dir, CompactInterval: -1})
		if _, err := StartBroker(testContext(t), BrokerConfig{DataDir: dir, Logger: discardLogger}); err == nil {
			t.Fatal("second StartBroker on the same data dir succeeded")
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		b2, err := StartBroker(testContext(t), BrokerConfig{DataDir: dir, Logger: discardLogger, CompactInterval: -1})
		if err != nil {
			t.Fatalf("StartBroker after Close: %v", err)
		}
		if err := b2.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("an invalid listen address is rejected", func(t *testing.T) {
		_, err := StartBroker(testContext(t), BrokerConfig{Listen: "no-port", Logger: discardLogger})
		if err == nil {
			t.Fatal("StartBroker accepted a listen address without a port")
		}
	})

	t.Run("closing twice is harmless", func(t *testing.T) {
		b := startTestBroker(t, BrokerConfig{CompactInterval: -1})
		if err := errors.Join(b.Close(), b.Close()); err != nil {
			t.Fatal(err)
		}
	})
}

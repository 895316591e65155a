package dlq_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/dlq"
	"syncline/internal/metrics"
)

func readTopic(t *testing.T, opts []kgo.Opt, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: %d records, want %d", topic, len(out), want)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func TestListAndReplay(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	prod, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx := context.Background()
	adm := kadm.NewClient(prod)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "_t.dlq"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "t.app.public.people"); err != nil {
		t.Fatal(err)
	}
	d := dlq.New("_t.dlq", prod, metrics.New(prometheus.NewRegistry()))
	// Two records a sink rejected (from partitions 2 and 3) and one that
	// capture parked as text.
	for _, r := range []*kgo.Record{
		{Topic: "t.app.public.people", Partition: 2, Offset: 17, Key: []byte{0, 0, 0, 0, 1, 2}, Value: []byte("v1"), Headers: []kgo.RecordHeader{{Key: "app", Value: []byte("h")}}},
		{Topic: "t.app.public.people", Partition: 3, Offset: 5, Key: []byte("k2"), Value: []byte("v2")},
	} {
		if err := d.Park(ctx, "sink.wh", "rejected", errors.New(`violates check constraint "cap"`), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "_t.dlq", Key: []byte("public.people"), Value: []byte(`{"values":{}}`), Headers: []kgo.RecordHeader{
		{Key: "syncline.stage", Value: []byte("capture")}, {Key: "syncline.reason", Value: []byte("unrepresentable_value")},
		{Key: "syncline.error", Value: []byte("bad")}, {Key: "syncline.topic", Value: []byte("t.raw.app.public.people")},
	}}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	a := dlq.NewAdmin(opts, "_t.dlq", "_t.dlq.replays", "test-replay")
	es, err := a.List(ctx, dlq.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 {
		t.Fatalf("List: %d entries, want 3: %+v", len(es), es)
	}
	if e := es[0]; e.Stage != "sink.wh" || e.Reason != "rejected" || !strings.Contains(e.Error, "cap") || e.Topic != "t.app.public.people" ||
		e.Partition == nil || *e.Partition != 2 || e.Offset0 == nil || *e.Offset0 != 17 || !e.Replayable || e.Key != "0x000000000102" {
		t.Errorf("entry 0: %+v", e)
	}
	if e := es[2]; e.Replayable || !strings.Contains(e.Hint, "backfill") {
		t.Errorf("a capture entry must not be replayable and say to backfill: %+v", e)
	}
	if es, _ := a.List(ctx, dlq.Filter{Stage: "capture"}); len(es) != 1 {
		t.Errorf("List(stage capture): %d entries, want 1", len(es))
	}
	if es, _ := a.List(ctx, dlq.Filter{Limit: 1}); len(es) != 1 || es[0].Offset != 2 {
		t.Errorf("List(limit 1): %+v, want the newest entry", es)
	}

	res, err := a.Replay(ctx, []int64{0, 2, 9}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].Error != "" || !strings.Contains(res[1].Error, "not replayable") || !strings.Contains(res[2].Error, "no such entry") {
		t.Fatalf("Replay(0, 2, 9): %+v", res)
	}
	got := readTopic(t, opts, "t.app.public.people", 1)[0]
	if got.Partition != 2 || string(got.Value) != "v1" || string(got.Key) != string([]byte{0, 0, 0, 0, 1, 2}) {
		t.Errorf("replayed record: partition %d key %x value %q; want partition 2, the original key and value", got.Partition, got.Key, got.Value)
	}
	var hdrs []string
	for _, h := range got.Headers {
		hdrs = append(hdrs, h.Key)
	}
	if strings.Join(hdrs, ",") != "app,syncline.replayed_from" {
		t.Errorf("replayed record headers %v: want the original ones and syncline.replayed_from, without the DLQ's", hdrs)
	}

	t.Run("a replayed entry is not replayed again unless forced", func(t *testing.T) {
		res, err := a.Replay(ctx, []int64{0}, false)
		if err != nil || len(res) != 1 || !strings.Contains(res[0].Error, "replayed already") {
			t.Fatalf("second Replay(0): %+v, %v", res, err)
		}
		es, _ := a.List(ctx, dlq.Filter{})
		if len(es) != 2 || es[0].Offset != 1 {
			t.Errorf("List after the replay: %+v, want entries 1 and 2", es)
		}
		es, _ = a.List(ctx, dlq.Filter{IncludeReplayed: true})
		if len(es) != 3 || es[0].Replayed == nil || es[0].Replayed.Partition != 2 {
			t.Errorf("List(replayed too): %+v", es)
		}
	})
	t.Run("replay all takes what is left", func(t *testing.T) {
		res, err := a.Replay(ctx, nil, false)
		if err != nil || len(res) != 1 || res[0].Offset != 1 || res[0].Error != "" {
			t.Fatalf("Replay(all): %+v, %v", res, err)
		}
		recs := readTopic(t, opts, "t.app.public.people", 2)
		if recs[1].Partition != 3 && recs[0].Partition != 3 {
			t.Errorf("entry 1 not replayed to partition 3: %v", recs)
		}
		if res, _ := a.Replay(ctx, nil, false); len(res) != 0 {
			t.Errorf("Replay(all) with nothing left: %+v", res)
		}
	})
}

package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func fetch(topic string, parts ...kgo.FetchPartition) kgo.Fetches {
	return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: topic, Partitions: parts}}}}
}

func TestLagCountsRecordsLeftToTheLastStableOffset(t *testing.T) {
	l := NewLag()
	// Partition 0: read up to offset 3 of 10 stable; partition 1: 5 of 6.
	got := l.Observe(fetch("raw",
		kgo.FetchPartition{Partition: 0, HighWatermark: 12, LastStableOffset: 10, Records: []*kgo.Record{{Offset: 2}, {Offset: 3}}},
		kgo.FetchPartition{Partition: 1, HighWatermark: 6, LastStableOffset: 6, Records: []*kgo.Record{{Offset: 5}}}))
	if got != 6 {
		t.Errorf("lag %d, want 6 (10-4 + 6-6)", got)
	}
	// A later fetch of partition 0 only; partition 1 keeps its figure.
	if got := l.Observe(fetch("raw", kgo.FetchPartition{Partition: 0, HighWatermark: 12, LastStableOffset: 12, Records: []*kgo.Record{{Offset: 9}}})); got != 2 {
		t.Errorf("lag %d, want 2", got)
	}
	// An empty fetch without error: at the end.
	if got := l.Observe(fetch("raw", kgo.FetchPartition{Partition: 0, HighWatermark: 12, LastStableOffset: 12})); got != 0 {
		t.Errorf("lag %d, want 0", got)
	}
	l.Observe(fetch("other", kgo.FetchPartition{Partition: 0, LastStableOffset: 100, Records: []*kgo.Record{{Offset: 49}}}))
	if got := l.Forget(map[string][]int32{"raw": {0, 1}}); got != 50 {
		t.Errorf("lag after revoking raw %d, want 50", got)
	}
	// A consumer that read a transaction's last record has read all of
	// it: the commit marker after it is not lag; what follows it is.
	txn := kgo.NewRecordAttrs(kgo.RecordAttrsOpts{Transactional: true})
	if got := l.Observe(fetch("txn", kgo.FetchPartition{Partition: 0, LastStableOffset: 12, Records: []*kgo.Record{{Offset: 10, Attrs: txn}}})); got != 50 {
		t.Errorf("lag %d after the last record before a commit marker, want 50 (other's 50 only)", got)
	}
	if got := l.Observe(fetch("txn", kgo.FetchPartition{Partition: 0, LastStableOffset: 30, Records: []*kgo.Record{{Offset: 10, Attrs: txn}}})); got != 50+18 {
		t.Errorf("lag %d, want 68", got)
	}
}

// Package kafka holds the Kafka plumbing every stage shares: topic creation,
// the key partitioner, and reading the latest value of a compacted topic.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicSpec describes a topic syncline creates when it is missing.
type TopicSpec struct {
	Name       string
	Partitions int32
	RF         int16 // -1: broker default
	Compact    bool
}

// EnsureTopics creates the topics that do not exist. Existing topics are
// left as they are (their partition count is the operator's choice).
func EnsureTopics(ctx context.Context, adm *kadm.Client, specs ...TopicSpec) error {
	for _, s := range specs {
		var cfg map[string]*string
		if s.Compact {
			cfg = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
		}
		rf := s.RF
		if rf == 0 {
			rf = -1
		}
		resp, err := adm.CreateTopic(ctx, s.Partitions, rf, cfg, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", s.Name, err)
		}
		if err != nil && s.Compact {
			if err := checkCompacted(ctx, adm, s.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkCompacted refuses an existing topic syncline keeps state in whose
// cleanup policy does not compact: retention would delete state that is
// still current. A broker that does not let us read the topic's config
// (no DescribeConfigs right) is trusted.
func checkCompacted(ctx context.Context, adm *kadm.Client, topic string) error {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		return nil
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil && !strings.Contains(*c.Value, "compact") {
			return fmt.Errorf("topic %s exists with cleanup.policy=%s, but syncline keeps state there that retention must not delete: set cleanup.policy=compact (kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact)", topic, *c.Value, topic)
		}
	}
	return nil
}

// Partitions returns the partition count of topic.
func Partitions(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	t, ok := md.Topics[topic]
	if !ok || t.Err != nil {
		return 0, fmt.Errorf("metadata of %s: %v", topic, t.Err)
	}
	return len(t.Partitions), nil
}

// KeyPartitioner sends keyed records where Kafka's default partitioner
// would (murmur2 of the key, so per-key order holds and other Kafka clients
// agree) and keyless records to the partition set on the record, which is
// how a truncate reaches every partition of a topic. Records produced with a
// context from Manual also go to the partition set on them.
func KeyPartitioner() kgo.Partitioner { return keyPartitioner{kgo.StickyKeyPartitioner(nil)} }

type keyPartitioner struct{ keyed kgo.Partitioner }

func (p keyPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	return keyTopicPartitioner{p.keyed.ForTopic(t)}
}

type keyTopicPartitioner struct{ keyed kgo.TopicPartitioner }

func (p keyTopicPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

func (p keyTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Key == nil || (r.Context != nil && r.Context.Value(manualKey{}) != nil) {
		return int(r.Partition) % n
	}
	return p.keyed.Partition(r, n)
}

type manualKey struct{}

// Manual marks a record's context so KeyPartitioner sends it to the
// partition set on the record even though it has a key (changelog records
// follow their input partition, not their key).
func Manual(ctx context.Context) context.Context { return context.WithValue(ctx, manualKey{}, true) }

// ReadLatest returns the last committed value stored under key in a
// single-partition compacted topic, or nil when there is none. It reads up to
// the last stable offset, so a caller that fenced the topic's other writers
// first sees every committed write.
func ReadLatest(ctx context.Context, opts []kgo.Opt, topic string, key string) ([]byte, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	end, ok := ends.Lookup(topic, 0)
	if !ok || end.Err != nil {
		return nil, fmt.Errorf("list offsets of %s: %v", topic, end.Err)
	}
	if end.Offset == 0 {
		return nil, nil
	}
	rd, err := kgo.NewClient(append(slices.Clip(opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers are returned too, so reaching the end is
		// seen even when the log ends with one.
		kgo.KeepControlRecords())...)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var last []byte
	empty := 0
	for {
		// A poll that returns nothing for a while means compaction removed
		// the tail records; everything below end has been read.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := rd.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("read %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		if fs.NumRecords() == 0 {
			// Three empty polls in a row (15s): the tail below end was
			// removed by compaction. A slow broker gets retried.
			if empty++; empty >= 3 {
				return last, nil
			}
			continue
		}
		empty = 0
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if r.Attrs.IsControl() {
				// marker
			} else if string(r.Key) == key {
				last = r.Value
			}
			if r.Offset+1 >= end.Offset {
				done = true
			}
		})
		if done {
			return last, nil
		}
	}
}

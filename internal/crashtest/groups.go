package crashtest

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TP is a topic partition.
type TP struct {
	Topic     string
	Partition int32
}

func (tp TP) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// GroupMembers is a consumer group as the broker describes it: its state
// and, per member, the partitions the group leader assigned to it. Members
// are named by their static instance id (KIP-345), or by member id when
// they have none.
type GroupMembers struct {
	State   string
	Members map[string][]TP
}

// Assigned returns the partitions assigned to any member.
func (g GroupMembers) Assigned() map[TP]string {
	out := map[TP]string{}
	for m, tps := range g.Members {
		for _, tp := range tps {
			out[tp] = m
		}
	}
	return out
}

// SplitPartitions returns the partition numbers whose topics are not all
// assigned to one member. The changes stage keeps the state of input
// partition p of every raw topic in changelog partition p, so for a split
// number that changelog partition is written by several processes.
func (g GroupMembers) SplitPartitions() []int32 {
	owners := map[int32]map[string]bool{}
	for m, tps := range g.Members {
		for _, tp := range tps {
			if owners[tp.Partition] == nil {
				owners[tp.Partition] = map[string]bool{}
			}
			owners[tp.Partition][m] = true
		}
	}
	var out []int32
	for p, ms := range owners {
		if len(ms) > 1 {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// String describes the group in one line per member.
func (g GroupMembers) String() string {
	names := make([]string, 0, len(g.Members))
	for m := range g.Members {
		names = append(names, m)
	}
	slices.Sort(names)
	var b strings.Builder
	fmt.Fprintf(&b, "state %s, %d members", g.State, len(g.Members))
	for _, m := range names {
		fmt.Fprintf(&b, "; %s: %d partitions", m, len(g.Members[m]))
	}
	if split := g.SplitPartitions(); len(split) > 0 {
		fmt.Fprintf(&b, "; partition numbers split across members: %v", split)
	}
	return b.String()
}

// DescribeGroup describes one consumer group.
func DescribeGroup(ctx context.Context, brokers []string, group string) (GroupMembers, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return GroupMembers{}, err
	}
	defer cl.Close()
	described, err := kadm.NewClient(cl).DescribeGroups(ctx, group)
	if err != nil {
		return GroupMembers{}, err
	}
	g, ok := described[group]
	if !ok {
		return GroupMembers{}, fmt.Errorf("group %s not described", group)
	}
	if g.Err != nil {
		return GroupMembers{}, fmt.Errorf("describe group %s: %w", group, g.Err)
	}
	out := GroupMembers{State: g.State, Members: map[string][]TP{}}
	for _, m := range g.Members {
		name := m.MemberID
		if m.InstanceID != nil {
			name = *m.InstanceID
		}
		tps := []TP{}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				for _, p := range t.Partitions {
					tps = append(tps, TP{t.Topic, p})
				}
			}
		}
		out.Members[name] = tps
	}
	return out, nil
}

// CommittedOffsets returns the offsets a group committed, by partition.
func CommittedOffsets(ctx context.Context, brokers []string, group string) (map[TP]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	if err := resp.Error(); err != nil {
		return nil, err
	}
	out := map[TP]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.At >= 0 {
			out[TP{o.Topic, o.Partition}] = o.At
		}
	})
	return out, nil
}

// StableOffsets returns the last stable offset (what a read_committed
// consumer reads up to) of every partition of topics.
func StableOffsets(ctx context.Context, brokers []string, topics ...string) (map[TP]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, err
	}
	out := map[TP]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[TP{o.Topic, o.Partition}] = o.Offset })
	return out, nil
}

// ProducerIDs maps the producer id of each transactional id to that id, so
// records read from a topic (kgo.Record.ProducerID) can be attributed to
// the process that wrote them.
func ProducerIDs(ctx context.Context, brokers []string, txnIDs ...string) (map[int64]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	described, err := kadm.NewClient(cl).DescribeTransactions(ctx, txnIDs...)
	if err != nil {
		return nil, err
	}
	out := map[int64]string{}
	for _, d := range described.Sorted() {
		if d.Err != nil {
			return nil, fmt.Errorf("describe transaction %s: %w", d.TxnID, d.Err)
		}
		out[d.ProducerID] = d.TxnID
	}
	return out, nil
}

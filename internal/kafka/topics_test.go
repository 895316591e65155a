package kafka_test

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"syncline/internal/kafka"
	"syncline/internal/testenv"
)

// A state topic that exists without compaction is refused with the
// command that mends it; one that compacts, or a data topic, is taken as
// it is.
func TestEnsureTopicsRefusesAStateTopicThatDoesNotCompact(t *testing.T) {
	k := testenv.StartKafka(t)
	adm := kadm.NewClient(k.Client(t))
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, "ops.made.it"); err != nil {
		t.Fatal(err)
	}
	err := kafka.EnsureTopics(ctx, adm, kafka.TopicSpec{Name: "ops.made.it", Partitions: 1, Compact: true})
	if err == nil || !strings.Contains(err.Error(), "cleanup.policy=delete") || !strings.Contains(err.Error(), "--add-config cleanup.policy=compact") {
		t.Fatalf("EnsureTopics = %v, want a refusal naming the policy and the fix", err)
	}
	if err := kafka.EnsureTopics(ctx, adm, kafka.TopicSpec{Name: "ops.made.it", Partitions: 1}); err != nil {
		t.Errorf("a data topic with cleanup.policy=delete: %v", err)
	}
	spec := kafka.TopicSpec{Name: "state.keys", Partitions: 1, Compact: true}
	for range 2 { // created, then found compacted
		if err := kafka.EnsureTopics(ctx, adm, spec); err != nil {
			t.Fatalf("EnsureTopics(compacted) = %v", err)
		}
	}
}

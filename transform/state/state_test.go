package state_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/internal/testenv"
	"syncline/transform/state"
)

func TestRestoreCatchesAUnitUpFromTheChangelog(t *testing.T) {
	k := testenv.StartKafka(t)
	ctx := context.Background()
	const changelog = "_syncline.state.test"
	cl := k.Client(t, kgo.TransactionalID("state-test"), kgo.RecordPartitioner(kafka.KeyPartitioner()))
	if err := kafka.EnsureTopics(ctx, kadm.NewClient(k.Client(t)), kafka.TopicSpec{Name: changelog, Partitions: 2, Compact: true}); err != nil {
		t.Fatal(err)
	}
	mine := state.Unit{Topic: "raw.a", Partition: 3}  // changelog partition 1
	other := state.Unit{Topic: "raw.b", Partition: 1} // shares changelog partition 1

	write := func(commit bool, recs map[state.Unit]map[string]string) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for u, kv := range recs {
			for key, v := range kv {
				var val []byte
				if v != "" {
					val = []byte(v)
				}
				r := &kgo.Record{Topic: changelog, Partition: state.ChangelogPartition(u, 2), Key: u.Key([]byte(key)), Value: val}
				if err := cl.ProduceSync(kafka.Manual(ctx), r).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	write(true, map[state.Unit]map[string]string{mine: {"k1": "v1", "k2": "v2"}, other: {"k1": "other"}})
	write(false, map[state.Unit]map[string]string{mine: {"k1": "aborted"}})
	write(true, map[state.Unit]map[string]string{mine: {"k2": "", "k3": "v3"}}) // k2 deleted

	st, err := state.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.Restore(ctx, k.Opts(), changelog, 2, mine)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("restored %d records of the unit, want 4 (k1, k2, k2 tombstone, k3)", n)
	}
	for key, want := range map[string]string{"k1": "v1", "k2": "", "k3": "v3"} {
		got, err := st.Get(mine, []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if got, _ := st.Get(other, []byte("k1")); got != nil {
		t.Errorf("another unit's record was restored into this store: %q", got)
	}

	t.Run("a second restore starts at the stored offset and reads nothing old", func(t *testing.T) {
		write(true, map[state.Unit]map[string]string{mine: {"k4": "v4"}})
		n, err := st.Restore(ctx, k.Opts(), changelog, 2, mine)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("restored %d records, want 1", n)
		}
		if got, _ := st.Get(mine, []byte("k4")); string(got) != "v4" {
			t.Errorf("k4 = %q", got)
		}
	})
}

func TestApplyWritesValuesAndOffsets(t *testing.T) {
	st, err := state.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := state.Unit{Topic: "t", Partition: 0}
	b := state.NewBatch()
	for i := range 100000 { // larger than one Badger transaction
		b.Put(u, []byte(fmt.Sprintf("key-%06d", i)), []byte(fmt.Sprintf("value-%d", i)))
	}
	b.Offset(u, 42)
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
	if off, _ := st.Offset(u); off != 42 {
		t.Errorf("offset %d, want 42", off)
	}
	n := 0
	if err := st.Scan(u, func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 100000 {
		t.Errorf("scan found %d keys, want 100000", n)
	}
}

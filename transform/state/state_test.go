package state_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// Units of several input topics share a changelog partition, and their
// owners are other processes. A transaction of another owner that is open
// on the partition (a batch in progress, or a killed process's transaction
// until its timeout) holds the last stable offset below records that the
// unit's previous owner committed after it began. Restore must wait for it
// to end rather than stop at the last stable offset with the unit's state
// behind.
func TestRestoreWaitsForTransactionsOpenOnTheChangelog(t *testing.T) {
	ctx := context.Background()
	k := testenv.StartKafka(t)
	const changelog = "_syncline.state.changes"
	if err := kafka.EnsureTopics(ctx, kadm.NewClient(k.Client(t)), kafka.TopicSpec{Name: changelog, Partitions: 1, Compact: true}); err != nil {
		t.Fatal(err)
	}
	accounts := state.Unit{Topic: "syncline.raw.app.public.accounts", Partition: 0}
	items := state.Unit{Topic: "syncline.raw.app.public.items", Partition: 0}
	txnClient := func(id string) *kgo.Client {
		return k.Client(t, kgo.TransactionalID(id), kgo.DefaultProduceTopic(changelog), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	// Process B (owns items/0) opens a transaction on changelog partition 0.
	b := txnClient("syncline-changes-tB")
	if err := b.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := b.ProduceSync(ctx, &kgo.Record{Key: items.Key([]byte("i1")), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Process A (owns accounts/0) commits state for three keys after B's
	// transaction began; then accounts/0 moves to process C.
	a := txnClient("syncline-changes-tA")
	if err := a.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"k1", "k2", "k3"} {
		if err := a.ProduceSync(ctx, &kgo.Record{Key: accounts.Key([]byte(key)), Value: []byte("state of " + key)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	// C restores accounts/0 while B's transaction is still open.
	st, err := state.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := st.Restore(ctx, k.Opts(), changelog, 1, accounts)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("restore returned (%d records, err %v) while a transaction was open below the unit's committed records", r.n, r.err)
	case <-time.After(3 * time.Second):
	}
	// B's transaction ends (aborted here; committed works the same way).
	if err := b.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("restore did not return after the open transaction ended")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.n != 3 {
		t.Errorf("restore applied %d of the 3 committed state records of %v", r.n, accounts)
	}
	for _, key := range []string{"k1", "k2", "k3"} {
		if v, _ := st.Get(accounts, []byte(key)); string(v) != "state of "+key {
			t.Errorf("%s = %q after restore", key, v)
		}
	}
	if v, _ := st.Get(items, []byte("i1")); v != nil {
		t.Errorf("another unit's aborted record was restored: %q", v)
	}
}

// With an encryption key the store's files hold no plaintext, and opening
// it without the key (or with another) is an error that says what to do.
func TestStoreEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	key := []byte("0123456789abcdef0123456789abcdef")
	st, err := state.Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	u := state.Unit{Topic: "raw.a", Partition: 0}
	secret := []byte("customer-email@example.com sits in the state store")
	b := state.NewBatch()
	for i := range 2000 {
		b.Put(u, []byte(fmt.Sprint(i)), secret)
	}
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("customer-email")) {
			t.Errorf("%s holds the value in plaintext", f.Name())
		}
	}
	for _, other := range [][]byte{nil, []byte("fedcba9876543210fedcba9876543210")} {
		if s2, err := state.Open(dir, other); err == nil {
			s2.Close()
			t.Errorf("opened with key %q", other)
		} else if !strings.Contains(err.Error(), "remove the directory") {
			t.Errorf("error does not say what to do: %v", err)
		}
	}
	st, err = state.Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, _ := st.Get(u, []byte("7")); !bytes.Equal(v, secret) {
		t.Errorf("read back %q", v)
	}
}

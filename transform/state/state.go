// Package state keeps a stateful stage's state in Badger, as a cache of a
// compacted changelog topic (the Kafka Streams model).
//
// State is divided into units, one per input (topic, partition): the unit
// moves between processes with its partition. A stage writes each state
// change to the changelog topic inside the same Kafka transaction as its
// output and consumer offsets. Only after that transaction committed does it
// Apply the changes to Badger, together with the changelog offset they
// reflect. A unit whose Badger copy may be behind (newly assigned, or after a
// transaction whose outcome is unknown) is caught up with Restore, which
// reads the changelog from the unit's stored offset to its high watermark,
// waiting for transactions still open there to end. Replaying changelog records is idempotent, so a crash between the
// Kafka commit and the Badger write loses nothing.
//
// Changelog record keys are Unit.Key(key): the input topic, partition and
// the stage's own key, so that units sharing a changelog partition can be
// told apart. Unit u writes to changelog partition u.Partition modulo the
// changelog's partition count.
package state

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Unit is the state of one input partition.
type Unit struct {
	Topic     string
	Partition int32
}

func (u Unit) prefix() []byte {
	b := make([]byte, 0, len(u.Topic)+5)
	b = append(b, u.Topic...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(u.Partition))
}

// Key returns the changelog (and Badger) key of a stage key in this unit.
func (u Unit) Key(key []byte) []byte { return append(u.prefix(), key...) }

// ParseKey splits a changelog key into unit and stage key.
func ParseKey(k []byte) (Unit, []byte, error) {
	for i, c := range k {
		if c == 0 {
			if len(k) < i+5 {
				return Unit{}, nil, fmt.Errorf("changelog key too short: %d bytes", len(k))
			}
			return Unit{Topic: string(k[:i]), Partition: int32(binary.BigEndian.Uint32(k[i+1 : i+5]))}, k[i+5:], nil
		}
	}
	return Unit{}, nil, fmt.Errorf("changelog key has no unit separator")
}

var (
	dataPrefix   = []byte("d/")
	offsetPrefix = []byte("o/")
)

// Store is one process's Badger store for one stage.
type Store struct {
	db *badger.DB
}

// Open opens (or creates) the store in dir. encryptionKey, when set (16, 24
// or 32 bytes), encrypts the store at rest.
func Open(dir string, encryptionKey []byte) (*Store, error) {
	opts := badger.DefaultOptions(dir).WithLogger(nil).WithNumVersionsToKeep(1).
		WithMemTableSize(16 << 20).WithValueThreshold(1 << 10)
	if len(encryptionKey) > 0 {
		opts = opts.WithEncryptionKey(encryptionKey).WithIndexCacheSize(16 << 20)
	}
	db, err := badger.Open(opts)
	if errors.Is(err, badger.ErrEncryptionKeyMismatch) || (err != nil && len(encryptionKey) == 0 && strings.Contains(err.Error(), "Encryption key")) {
		return nil, fmt.Errorf("open state store %s: it was written with another encryption key (or none) than transform.state.encryption_key now gives; the store is a cache of the changelog topic: remove the directory and it is restored from there: %w", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", dir, err)
	}
	return &Store{db: db}, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Get returns the value of key in unit u, or nil.
func (s *Store) Get(u Unit, key []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(append(dataPrefix, u.Key(key)...))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = it.ValueCopy(nil)
		return err
	})
	return out, err
}

// Offset returns the next changelog offset unit u's state has not seen.
func (s *Store) Offset(u Unit) (int64, error) {
	var off int64
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(append(offsetPrefix, u.prefix()...))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			off = int64(binary.BigEndian.Uint64(v))
			return nil
		})
	})
	return off, err
}

// Batch is a set of committed state changes for one or more units.
type Batch struct {
	puts    map[string][]byte // Badger key (without prefix) -> value; nil value deletes
	offsets map[Unit]int64
}

// NewBatch returns an empty batch.
func NewBatch() *Batch { return &Batch{puts: map[string][]byte{}, offsets: map[Unit]int64{}} }

// Put records key = value (nil deletes) in unit u.
func (b *Batch) Put(u Unit, key, value []byte) { b.puts[string(u.Key(key))] = value }

// PutRaw records a changelog key (Unit.Key form) = value.
func (b *Batch) PutRaw(clKey, value []byte) { b.puts[string(clKey)] = value }

// Offset records that unit u's state reflects the changelog up to next-1.
func (b *Batch) Offset(u Unit, next int64) {
	if next > b.offsets[u] {
		b.offsets[u] = next
	}
}

// Len is the number of state changes.
func (b *Batch) Len() int { return len(b.puts) }

// Apply writes the batch. Values go first and offsets last, so that an
// interrupted Apply is repaired by the next Restore.
func (s *Store) Apply(b *Batch) error {
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	set := func(k, v []byte, del bool) error {
		var err error
		if del {
			err = txn.Delete(k)
		} else {
			err = txn.Set(k, v)
		}
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn = s.db.NewTransaction(true)
			if del {
				return txn.Delete(k)
			}
			return txn.Set(k, v)
		}
		return err
	}
	for k, v := range b.puts {
		if err := set(append(dataPrefix, k...), v, v == nil); err != nil {
			return fmt.Errorf("apply state: %w", err)
		}
	}
	for u, off := range b.offsets {
		if err := set(append(offsetPrefix, u.prefix()...), binary.BigEndian.AppendUint64(nil, uint64(off)), false); err != nil {
			return fmt.Errorf("apply state offsets: %w", err)
		}
	}
	return txn.Commit()
}

// Scan calls fn for every key of unit u.
func (s *Store) Scan(u Unit, fn func(key, value []byte) error) error {
	p := append(dataPrefix, u.prefix()...)
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(it.Item().KeyCopy(nil)[len(p):], v); err != nil {
				return err
			}
		}
		return nil
	})
}

// ChangelogPartition is the changelog partition unit u writes to.
func ChangelogPartition(u Unit, partitions int) int32 { return u.Partition % int32(partitions) }

// RestoreMaxWait bounds how long Restore waits for transactions that were
// open on the changelog partition when it started. The broker aborts a
// transaction whose producer died after the producer's transaction timeout,
// which is far shorter.
var RestoreMaxWait = 10 * time.Minute

// Restore catches unit u up with the changelog: it reads changelog partition
// ChangelogPartition(u) read_committed from the unit's stored offset up to
// the partition's high watermark as of the call, and applies the unit's
// records. opts are the Kafka client options (brokers, TLS, SASL). It
// returns the number of records applied.
//
// Reading to the last stable offset would not do: units of several input
// topics share a changelog partition, and their owners are other
// processes. A transaction of one of them (a batch in progress, or the
// open transaction of a process that was killed) holds the last stable
// offset below records that u's previous owner committed after that
// transaction began. So Restore waits until every transaction open when it
// started has ended (committed or aborted), at most RestoreMaxWait. It must
// not be called while the caller's own transaction has records on the
// changelog: that one could not end.
func (s *Store) Restore(ctx context.Context, opts []kgo.Opt, changelog string, partitions int, u Unit) (int, error) {
	p := ChangelogPartition(u, partitions)
	from, err := s.Offset(u)
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(append(slices.Clip(opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{changelog: {p: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords())...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	offsetOf := func(list func(context.Context, ...string) (kadm.ListedOffsets, error), what string) (int64, error) {
		los, err := list(ctx, changelog)
		if err != nil {
			return 0, fmt.Errorf("list %s offsets of %s: %w", what, changelog, err)
		}
		lo, ok := los.Lookup(changelog, p)
		if !ok || lo.Err != nil {
			return 0, fmt.Errorf("list %s offsets of %s/%d: %v", what, changelog, p, lo.Err)
		}
		return lo.Offset, nil
	}
	// The high watermark includes records of transactions still open.
	target, err := offsetOf(adm.ListEndOffsets, "end")
	if err != nil {
		return 0, err
	}
	n := 0
	b := NewBatch()
	next := from
	started := time.Now()
	emptyStable := 0
	for next < target {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("restore from %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return n, ferr
		}
		if fs.NumRecords() == 0 {
			stable, err := offsetOf(adm.ListCommittedOffsets, "stable")
			if err != nil {
				return n, err
			}
			if stable < target {
				// A transaction open when the restore started has not
				// ended yet: what follows it cannot be read.
				emptyStable = 0
				if time.Since(started) > RestoreMaxWait {
					return n, fmt.Errorf("restore from %s/%d: a transaction has been open at offset %d for over %v (the broker aborts it after its transaction timeout; check transaction.max.timeout.ms)", changelog, p, stable, RestoreMaxWait)
				}
				continue
			}
			// Everything below target is stable, yet nothing more comes
			// for 30 s (the first fetch of a new client may also be slow:
			// connecting, TLS, SASL): compaction removed the tail. The
			// stored offset stays at the last record read, so a later
			// restore re-reads from there (replay is idempotent).
			if emptyStable++; emptyStable >= 15 {
				break
			}
			continue
		}
		emptyStable = 0
		fs.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			ru, _, err := ParseKey(r.Key)
			if err != nil || ru != u {
				return
			}
			b.PutRaw(r.Key, r.Value)
			n++
		})
		if b.Len() >= 10000 {
			if err := s.Apply(b); err != nil {
				return n, err
			}
			b = NewBatch()
		}
	}
	b.Offset(u, next)
	return n, s.Apply(b)
}

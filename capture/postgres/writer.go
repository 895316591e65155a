package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Position is what this source stores in the offsets topic, in the same
// Kafka transaction as the records it covers.
type Position struct {
	System string `json:"system"`
	Slot   string `json:"slot"`
	// LSN is the end LSN of the last Postgres transaction whose changes are
	// committed to Kafka: replication resumes after it.
	LSN string `json:"lsn"`
	// Snapshot is "done" once the initial snapshot is completely in Kafka.
	Snapshot string `json:"snapshot"`
	// SnapshotLSN is the slot's consistent point the snapshot was read at.
	SnapshotLSN string `json:"snapshot_lsn,omitempty"`
	// SnapshotTables lists the tables whose snapshot is complete.
	SnapshotTables []string `json:"snapshot_tables,omitempty"`
	// TxLSN and TxSeq describe a Postgres transaction that is only partly
	// in Kafka: its changes up to sequence TxSeq are committed. A large
	// transaction is written in several Kafka transactions this way, so
	// neither memory nor the Kafka transaction grows with it; on restart
	// Postgres resends it whole and the changes up to TxSeq are dropped.
	TxLSN string `json:"tx_lsn,omitempty"`
	TxSeq uint64 `json:"tx_seq,omitempty"`
	// Backfills are the source's backfills with their progress.
	Backfills []*Backfill `json:"backfills,omitempty"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// txWriter produces records in Kafka transactions that end with a position
// record. It is used by one goroutine.
type txWriter struct {
	cl           *kgo.Client
	offsetsTopic string
	offsetsKey   string

	open    bool
	started time.Time
	count   int

	mu      sync.Mutex
	prodErr error
}

func newTxWriter(cl *kgo.Client, offsetsTopic, key string) *txWriter {
	return &txWriter{cl: cl, offsetsTopic: offsetsTopic, offsetsKey: key}
}

// fence initializes the producer id, which aborts any transaction a
// previous instance of this source left open.
func (w *txWriter) fence(ctx context.Context) error {
	if err := w.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin fencing transaction: %w", err)
	}
	if err := w.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("fence earlier producers: %w", err)
	}
	return nil
}

func (w *txWriter) begin() error {
	if w.open {
		return nil
	}
	if err := w.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin Kafka transaction: %w", err)
	}
	w.open, w.started, w.count = true, time.Now(), 0
	w.mu.Lock()
	w.prodErr = nil
	w.mu.Unlock()
	return nil
}

// produce adds r to the open transaction. Errors surface at commit.
func (w *txWriter) produce(ctx context.Context, r *kgo.Record) error {
	if err := w.begin(); err != nil {
		return err
	}
	w.count++
	w.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
		if err != nil {
			w.mu.Lock()
			if w.prodErr == nil {
				w.prodErr = err
			}
			w.mu.Unlock()
		}
	})
	return w.err()
}

func (w *txWriter) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.prodErr
}

// commit writes pos and commits the transaction. On any error the
// transaction is aborted and the error returned: nothing of it is visible.
func (w *txWriter) commit(ctx context.Context, pos Position) error {
	if err := w.begin(); err != nil {
		return err
	}
	pos.UpdatedAt = time.Now().UTC()
	v, err := json.Marshal(pos)
	if err != nil {
		return err
	}
	w.cl.Produce(ctx, &kgo.Record{Topic: w.offsetsTopic, Key: []byte(w.offsetsKey), Value: v}, func(_ *kgo.Record, err error) {
		if err != nil {
			w.mu.Lock()
			if w.prodErr == nil {
				w.prodErr = err
			}
			w.mu.Unlock()
		}
	})
	ferr := w.cl.Flush(ctx)
	if ferr == nil {
		ferr = w.err()
	}
	w.open = false
	if ferr != nil {
		return errors.Join(fmt.Errorf("produce: %w", ferr), w.abortNow())
	}
	if err := w.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("commit Kafka transaction (outcome unknown; restarting from the stored position): %w", err)
	}
	return nil
}

// abort drops the open transaction, if any.
func (w *txWriter) abort() error {
	if !w.open {
		return nil
	}
	w.open = false
	return w.abortNow()
}

func (w *txWriter) abortNow() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.cl.AbortBufferedRecords(ctx); err != nil {
		return fmt.Errorf("abort buffered records: %w", err)
	}
	if err := w.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("abort Kafka transaction: %w", err)
	}
	return nil
}

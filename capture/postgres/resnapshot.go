package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/topics"
)

// Resnapshot makes the next run of the source take a new snapshot: it
// drops the replication slot and deletes the stored position, in a Kafka
// transaction under the source's transactional id (which also fences a
// capture of this source that is still running somewhere). It refuses while
// the slot is in use. Rows the pipeline already holds come again as
// snapshot reads and the changes stage drops those that did not change.
func Resnapshot(ctx context.Context, cfg Config, kafkaOpts []kgo.Opt, log *slog.Logger) error {
	cfg.defaults()
	conn, err := Connect(ctx, cfg.DSN)
	if err != nil {
		return fmt.Errorf("connect to source %s: %w", cfg.Name, err)
	}
	defer conn.Close(context.Background())
	var active bool
	var pid *int32
	err = conn.QueryRow(ctx, `SELECT active, active_pid FROM pg_replication_slots WHERE slot_name = $1`, cfg.Slot).Scan(&active, &pid)
	switch {
	case err == pgx.ErrNoRows:
		log.Info("replication slot does not exist", "slot", cfg.Slot)
	case err != nil:
		return fmt.Errorf("look up slot %s: %w", cfg.Slot, err)
	case active:
		return fmt.Errorf("replication slot %s is in use (walsender pid %v): stop the syncline process capturing source %s first", cfg.Slot, deref(pid), cfg.Name)
	default:
		if _, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, cfg.Slot); err != nil {
			return fmt.Errorf("drop replication slot %s: %w", cfg.Slot, err)
		}
		log.Info("dropped replication slot", "slot", cfg.Slot)
	}
	cl, err := kgo.NewClient(append(slices.Clip(kafkaOpts), kgo.TransactionalID("syncline-capture-"+cfg.Name), kgo.TransactionTimeout(cfg.TxnTimeout))...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	key := "postgres/" + cfg.Name
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topics.Offsets(cfg.TopicPrefix), Key: []byte(key)}).FirstErr(); err != nil {
		_ = cl.EndTransaction(context.Background(), kgo.TryAbort)
		return fmt.Errorf("delete the stored position of %s: %w", cfg.Name, err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("delete the stored position of %s: %w", cfg.Name, err)
	}
	log.Info("deleted the stored position; the next run takes a new snapshot", "source", cfg.Name)
	return nil
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// Package changes is the stage between raw and change topics: per source
// record it drops replays, fills unchanged TOAST columns, drops no-op
// updates, completes the before image and sets `changed`.
//
// Unchanged TOAST columns (values Postgres did not send because an update
// left them alone, listed in the raw record's `unavailable`) are filled
// from the key's last row in state. When state has no value for them
// (state lost, capture started with snapshot never after the row was
// written, a column added since the stored row), the stage re-reads those
// columns from the source by key (Config.SourceDSNs; one connection per
// source, reused, each re-read bounded by RereadTimeout) in the text format
// capture parses, so no placeholder ever reaches a change topic. The value
// re-read is the row's current one, which may be newer than the change
// being completed (as with Debezium's reselect post-processor); the later
// changes follow on the stream, so consumers converge on the same row. A
// source that cannot be reached fails the batch, which is retried from the
// committed offsets; a row deleted at the source since the change is
// parked in the DLQ (reason toast_row_deleted) and its delete follows; a
// source without a DSN parks the change (reason toast_unavailable).
//
// It consumes the raw topics read_committed in a consumer group and, for
// each polled batch, produces change records, changelog records and the
// consumed offsets in one Kafka transaction (franz-go's
// GroupTransactSession). Its state, the last change per key, lives in
// Badger as a cache of the changelog (see package state) and is written
// only after the transaction committed. So every raw record affects the
// change topics exactly once, whatever crashes.
//
// State per key is the last change record written for it (complete after
// image, or the delete), prefixed with its position:
//
//	uvarint(len(position)) position wire-format-change-record
package changes

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/topics"
	"syncline/schemas"
	"syncline/transform/stage"
	"syncline/transform/state"
)

// Stage is the name of this stage in metrics, the DLQ and topic names.
const Stage = "changes"

// Config configures the changes stage.
type Config struct {
	TopicPrefix string
	Partitions  int32 // partitions of the changelog and of change topics it creates
	RF          int16
	InstanceID  string // stable per process; part of the transactional id
	StateDir    string
	// Topics are the raw topics to consume. Empty: every topic matching
	// <prefix>.raw.* (discovered as they appear).
	Topics     []string
	BatchSize  int           // max records per transaction; default 1000
	TxnTimeout time.Duration // default 60s
	// SourceDSNs maps a source name (Change.Source.Name, Table.Source) to
	// its connection string. When state has no value for an unchanged
	// TOAST column, the row is re-read from there. A source without a DSN
	// parks such changes in the DLQ (reason toast_unavailable).
	SourceDSNs map[string]string
	// StateKey, when set, encrypts the Badger store at rest.
	StateKey []byte
	// RereadTimeout bounds one re-read, connecting included; default
	// DefaultRereadTimeout.
	RereadTimeout time.Duration
}

// Processor runs the changes stage.
type Processor struct {
	cfg    Config
	serde  *schemas.Serde
	m      *metrics.Metrics
	log    *slog.Logger
	rr     *rereader
	runner *stage.Runner
	// ensured are the change topics known to exist.
	ensured map[string]bool
}

// New opens the state store and returns the stage.
func New(cfg Config, kafkaOpts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*Processor, error) {
	if cfg.Partitions <= 0 {
		cfg.Partitions = 4
	}
	if cfg.RereadTimeout <= 0 {
		cfg.RereadTimeout = DefaultRereadTimeout
	}
	rr, err := newRereader(cfg.SourceDSNs, cfg.RereadTimeout)
	if err != nil {
		return nil, fmt.Errorf("changes stage: %w", err)
	}
	sc := stage.Config{
		Name: Stage, TopicPrefix: cfg.TopicPrefix, Partitions: cfg.Partitions, RF: cfg.RF, InstanceID: cfg.InstanceID,
		Topics: cfg.Topics, StateDir: cfg.StateDir, StateKey: cfg.StateKey, BatchSize: cfg.BatchSize, TxnTimeout: cfg.TxnTimeout,
	}
	if len(cfg.Topics) == 0 {
		sc.Pattern = "^" + regexp.QuoteMeta(topics.RawPrefix(cfg.TopicPrefix)) + ".*"
	}
	runner, err := stage.New(sc, kafkaOpts, m, log)
	if err != nil {
		rr.close()
		return nil, err
	}
	return &Processor{cfg: cfg, serde: serde, m: m, log: runner.Log(), rr: rr, runner: runner, ensured: map[string]bool{}}, nil
}

// Ready reports whether the stage is consuming.
func (p *Processor) Ready() bool { return p.runner.Ready() }

// Run processes until ctx is done; the transaction in progress then
// completes or aborts before Run returns, and the state store is closed.
func (p *Processor) Run(ctx context.Context) error {
	defer p.rr.close()
	return p.runner.Run(ctx, p)
}

// Batch implements stage.Handler.
func (p *Processor) Batch(tx *stage.Txn) stage.Batch { return &txn{p: p, Txn: tx} }

// txn is the work of one Kafka transaction.
type txn struct {
	*stage.Txn
	p *Processor

	dups, noops int
}

func (t *txn) produce(ctx context.Context, r *kgo.Record, onOK func(*kgo.Record)) {
	t.Produce(ctx, r, onOK)
}

// Committed implements stage.Batch.
func (t *txn) Committed() {
	t.p.m.DuplicatesDropped.WithLabelValues(Stage).Add(float64(t.dups))
	t.p.m.NoopUpdatesDropped.Add(float64(t.noops))
}

// stateOf returns the current state entry of a key: position and change.
func (t *txn) stateOf(ctx context.Context, u state.Unit, key []byte) (string, *schemas.Change, error) {
	v, err := t.Get(u, key)
	if err != nil {
		return "", nil, err
	}
	if v == nil {
		return "", nil, nil
	}
	pos, rec, err := decodeEntry(v)
	if err != nil {
		return "", nil, err
	}
	ch, err := t.p.serde.Decode(ctx, nil, rec)
	if err != nil {
		return "", nil, fmt.Errorf("decode state entry: %w", err)
	}
	return pos, ch, nil
}

func encodeEntry(pos string, rec []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(len(pos)))
	b = append(b, pos...)
	return append(b, rec...)
}

func decodeEntry(b []byte) (string, []byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return "", nil, fmt.Errorf("state entry: bad length prefix")
	}
	return string(b[w : w+int(n)]), b[w+int(n):], nil
}

func (t *txn) setState(ctx context.Context, u state.Unit, key, entry []byte) {
	t.Put(ctx, u, key, entry)
}

func (t *txn) park(ctx context.Context, reason string, cause error, r *kgo.Record) {
	t.Park(ctx, reason, cause, r)
}

// Record implements stage.Batch.
func (t *txn) Record(ctx context.Context, u state.Unit, r *kgo.Record) error {
	ensured := t.p.ensured
	ch, err := t.p.serde.Decode(ctx, r.Key, r.Value)
	if err != nil {
		t.park(ctx, "undecodable", err, r)
		return nil
	}
	out := topics.ChangeFromRaw(t.p.cfg.TopicPrefix, r.Topic)
	if !ensured[out] {
		adm := kadm.NewClient(t.Client)
		if err := kafka.EnsureTopics(ctx, adm, kafka.TopicSpec{Name: out, Partitions: t.p.cfg.Partitions, RF: t.p.cfg.RF}); err != nil {
			return err
		}
		ensured[out] = true
	}
	enc, err := t.p.serde.Encoder(ctx, out, ch.Table)
	if err != nil {
		return fmt.Errorf("register schema for %s: %w", out, err)
	}
	if ch.Op == schemas.OpTruncate {
		return t.truncate(ctx, u, r, ch, enc, out)
	}
	if len(r.Key) < 5 {
		t.park(ctx, "no_key", fmt.Errorf("record without key"), r)
		return nil
	}
	key := r.Key[5:]
	pos, prev, err := t.stateOf(ctx, u, key)
	if err != nil {
		return err
	}
	if prev != nil && ch.Source.Position <= pos {
		t.dups++
		return nil
	}
	var prevRow schemas.Row
	if prev != nil && prev.Op != schemas.OpDelete {
		// Stored under an older schema version maybe: converted to this
		// one, so the before image encodes with it.
		prevRow = adaptRow(prev.Table, ch.Table, prev.After)
	}
	if len(ch.Unavailable) > 0 && ch.After != nil {
		if ok, err := t.fillUnavailable(ctx, r, ch, prevRow); err != nil || !ok {
			return err
		}
	}
	switch {
	case ch.Op == schemas.OpDelete:
		if prevRow != nil {
			ch.Before = prevRow
		}
		ch.Changed = nil
	case prevRow != nil:
		ch.Before = prevRow
		ch.Changed = schemas.ChangedFields(ch.Table, prevRow, ch.After)
		if len(ch.Changed) == 0 {
			t.noops++
			return nil
		}
		if ch.Op == schemas.OpCreate {
			ch.Op = schemas.OpUpdate
		}
	default:
		if ch.Before != nil && ch.Op == schemas.OpUpdate {
			ch.Changed = schemas.ChangedFields(ch.Table, ch.Before, ch.After)
		} else {
			ch.Before = nil
			ch.Changed = schemas.ChangedFields(ch.Table, nil, ch.After)
		}
	}
	k, v, err := enc.Encode(ch)
	if err != nil {
		t.park(ctx, "unencodable", err, r)
		return nil
	}
	t.produce(ctx, &kgo.Record{Topic: out, Key: k, Value: v}, nil)
	t.setState(ctx, u, key, encodeEntry(ch.Source.Position, v))
	return nil
}

// truncate forwards a truncate to the same partition of the change topic
// and forgets the unit's keys.
func (t *txn) truncate(ctx context.Context, u state.Unit, r *kgo.Record, ch *schemas.Change, enc *schemas.Encoder, out string) error {
	_, v, err := enc.Encode(ch)
	if err != nil {
		t.park(ctx, "unencodable", err, r)
		return nil
	}
	t.produce(ctx, &kgo.Record{Topic: out, Partition: r.Partition, Value: v}, nil)
	keys, err := t.Keys(u)
	if err != nil {
		return err
	}
	for _, k := range keys {
		t.Put(ctx, u, k, nil)
	}
	return nil
}

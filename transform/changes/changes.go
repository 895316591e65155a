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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/dlq"
	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/retry"
	"syncline/internal/topics"
	"syncline/schemas"
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
	cfg       Config
	kafkaOpts []kgo.Opt
	serde     *schemas.Serde
	dlq       *dlq.DLQ
	m         *metrics.Metrics
	log       *slog.Logger
	store     *state.Store
	rr        *rereader
	lag       *kafka.Lag
	ready     atomic.Bool

	mu       sync.Mutex
	assigned map[state.Unit]bool // units whose Badger copy may be behind the changelog
	clParts  int
}

// New opens the state store and returns the stage.
func New(cfg Config, kafkaOpts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*Processor, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.TxnTimeout <= 0 {
		cfg.TxnTimeout = 60 * time.Second
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 4
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = "0"
	}
	if cfg.RereadTimeout <= 0 {
		cfg.RereadTimeout = DefaultRereadTimeout
	}
	rr, err := newRereader(cfg.SourceDSNs, cfg.RereadTimeout)
	if err != nil {
		return nil, fmt.Errorf("changes stage: %w", err)
	}
	st, err := state.Open(cfg.StateDir, cfg.StateKey)
	if err != nil {
		return nil, err
	}
	return &Processor{cfg: cfg, kafkaOpts: kafkaOpts, serde: serde, m: m, log: log.With("stage", Stage), store: st, rr: rr, lag: kafka.NewLag(), assigned: map[state.Unit]bool{}}, nil
}

// Ready reports whether the stage is consuming.
func (p *Processor) Ready() bool { return p.ready.Load() }

// Run processes until ctx is done; the transaction in progress then
// completes or aborts before Run returns, and the state store is closed.
func (p *Processor) Run(ctx context.Context) error {
	defer p.store.Close()
	defer p.rr.close()
	changelog := topics.State(p.cfg.TopicPrefix, Stage)
	dlqTopic := topics.DLQ(p.cfg.TopicPrefix)
	{
		cl, err := kgo.NewClient(p.kafkaOpts...)
		if err != nil {
			return err
		}
		adm := kadm.NewClient(cl)
		err = kafka.EnsureTopics(ctx, adm,
			kafka.TopicSpec{Name: changelog, Partitions: p.cfg.Partitions, RF: p.cfg.RF, Compact: true},
			kafka.TopicSpec{Name: dlqTopic, Partitions: 1, RF: p.cfg.RF})
		if err == nil {
			p.clParts, err = kafka.Partitions(ctx, adm, changelog)
		}
		cl.Close()
		if err != nil {
			return err
		}
	}
	consume := []kgo.Opt{kgo.ConsumeTopics(p.cfg.Topics...)}
	pattern := strings.Join(p.cfg.Topics, ",")
	if len(p.cfg.Topics) == 0 {
		pattern = "^" + regexp.QuoteMeta(topics.RawPrefix(p.cfg.TopicPrefix)) + ".*"
		consume = []kgo.Opt{kgo.ConsumeRegex(), kgo.ConsumeTopics(pattern)}
	}
	sess, err := kgo.NewGroupTransactSession(append(append(p.kafkaOpts, consume...),
		kgo.ConsumerGroup("syncline-"+Stage),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.TransactionalID("syncline-"+Stage+"-"+p.cfg.InstanceID),
		// Static membership (KIP-345): a restarted process takes over its
		// predecessor's partitions at once, without waiting for a session
		// timeout or a rebalance (a killed member must not hold the group).
		kgo.InstanceID("syncline-"+Stage+"-"+p.cfg.InstanceID),
		kgo.TransactionTimeout(p.cfg.TxnTimeout),
		kgo.RecordPartitioner(kafka.KeyPartitioner()),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.MetadataMaxAge(5*time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, as map[string][]int32) {
			p.mu.Lock()
			defer p.mu.Unlock()
			for t, ps := range as {
				for _, pt := range ps {
					p.assigned[state.Unit{Topic: t, Partition: pt}] = true
				}
			}
		}),
		kgo.OnPartitionsRevoked(p.forget),
		kgo.OnPartitionsLost(p.forget),
	)...)
	if err != nil {
		return fmt.Errorf("changes stage client: %w", err)
	}
	defer sess.Close()
	p.dlq = dlq.New(dlqTopic, sess.Client(), p.m)
	p.ready.Store(true)
	defer p.ready.Store(false)
	p.log.Info("consuming raw topics", "topics", pattern)
	ensured := map[string]bool{}
	failures := 0 // consecutive failed batches, for the retry backoff
	for {
		fs := sess.PollRecords(ctx, p.cfg.BatchSize)
		if ctx.Err() != nil {
			return nil
		}
		// Errors of some partitions do not invalidate the records of
		// others: the consumer has moved past them, so they are processed.
		fs.EachError(func(t string, pt int32, err error) {
			p.log.Warn("fetch error", "topic", t, "partition", pt, "err", err)
		})
		if fs.NumRecords() == 0 {
			continue
		}
		p.m.ConsumerLag.WithLabelValues(Stage).Set(float64(p.lag.Observe(fs)))
		// Catch up every unit of this poll before the transaction opens,
		// so a long restore cannot outlive the transaction timeout.
		var rerr error
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if rerr == nil && len(ftp.Records) > 0 {
				rerr = p.ensureFresh(ctx, state.Unit{Topic: ftp.Topic, Partition: ftp.Partition})
			}
		})
		if rerr != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The polled records must be read again: abort rewinds the
			// session to the committed offsets.
			p.log.Error("restoring state failed; retrying", "err", rerr)
			if err := sess.Begin(); err == nil {
				_, _ = sess.End(context.WithoutCancel(ctx), kgo.TryAbort)
			}
			retry.Sleep(ctx, time.Second)
			continue
		}
		if err := p.begin(ctx, sess); err != nil {
			return err
		}
		tx := &txn{p: p, cl: sess.Client(), changelog: changelog, overlay: map[string][]byte{}, batch: state.NewBatch(), clOffsets: map[state.Unit]int64{}}
		perr := tx.process(context.WithoutCancel(ctx), fs, ensured)
		// The transaction ends even when shutting down, so it does not
		// stay open on the broker until its timeout.
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		committed, err := sess.End(ectx, kgo.TransactionEndTry(perr == nil))
		cancel()
		if err != nil || perr != nil {
			// Unknown outcome or processing failure: the session rewinds to
			// the committed offsets; catch state up before going on.
			p.markAllStale()
			if err != nil {
				// An end that failed (a timeout during a rebalance that
				// waits for a dead member, a broker error) may leave the
				// transaction open in the client: abort it so the next
				// batch can begin.
				if aerr := p.abortOpen(ctx, sess); aerr != nil {
					return aerr
				}
			}
			if perr != nil {
				p.log.Error("batch failed; retrying from the committed offsets", "err", perr)
			} else {
				p.log.Warn("ending transaction failed; state will be restored from the changelog", "err", err)
			}
			retry.Sleep(ctx, retry.Delay(failures))
			failures++
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		failures = 0
		if !committed {
			continue
		}
		for u, off := range tx.clOffsets {
			tx.batch.Offset(u, off+1)
		}
		// The transaction committed: its state must reach Badger. Retry
		// the same batch; if Badger keeps failing, restore from the
		// changelog before the next batch.
		var aerr error
		for range 3 {
			if aerr = p.store.Apply(tx.batch); aerr == nil {
				break
			}
		}
		if aerr != nil {
			p.markAllStale()
			p.log.Error("apply state failed; will restore from the changelog", "err", aerr)
			continue
		}
		tx.commitMetrics()
	}
}

// begin opens the batch's transaction. A transaction left open by an end
// that failed is aborted first.
func (p *Processor) begin(ctx context.Context, sess *kgo.GroupTransactSession) error {
	err := sess.Begin()
	if err == nil {
		return nil
	}
	p.log.Warn("begin transaction failed; aborting what is open and retrying", "err", err)
	if aerr := p.abortOpen(ctx, sess); aerr != nil {
		return aerr
	}
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	return nil
}

// abortOpen aborts the session's transaction, if one is open, retrying with
// backoff; the error it returns means the producer cannot go on (fenced or
// failed) and the stage must restart.
func (p *Processor) abortOpen(ctx context.Context, sess *kgo.GroupTransactSession) error {
	var err error
	for i := range 6 {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, err = sess.End(actx, kgo.TryAbort)
		cancel()
		if err == nil {
			return nil
		}
		p.log.Warn("aborting the open transaction failed; retrying", "attempt", i+1, "err", err)
		retry.Sleep(ctx, retry.Delay(i))
		if ctx.Err() != nil {
			return nil
		}
	}
	return fmt.Errorf("abort transaction: %w", err)
}

func (p *Processor) forget(_ context.Context, _ *kgo.Client, rs map[string][]int32) {
	p.m.ConsumerLag.WithLabelValues(Stage).Set(float64(p.lag.Forget(rs)))
	p.mu.Lock()
	defer p.mu.Unlock()
	for t, ps := range rs {
		for _, pt := range ps {
			delete(p.assigned, state.Unit{Topic: t, Partition: pt})
		}
	}
}

func (p *Processor) markAllStale() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for u := range p.assigned {
		p.assigned[u] = true
	}
}

// ensureFresh restores u from the changelog if its Badger copy may be behind.
func (p *Processor) ensureFresh(ctx context.Context, u state.Unit) error {
	p.mu.Lock()
	stale, ok := p.assigned[u]
	p.mu.Unlock()
	if ok && !stale {
		return nil
	}
	start := time.Now()
	n, err := p.store.Restore(ctx, p.kafkaOpts, topics.State(p.cfg.TopicPrefix, Stage), p.clParts, u)
	if err != nil {
		return fmt.Errorf("restore state of %s/%d: %w", u.Topic, u.Partition, err)
	}
	if n > 0 {
		p.log.Info("state restored from changelog", "topic", u.Topic, "partition", u.Partition, "records", n, "took", time.Since(start))
	}
	p.mu.Lock()
	p.assigned[u] = false
	p.mu.Unlock()
	return nil
}

// txn is the work of one Kafka transaction.
type txn struct {
	p         *Processor
	cl        *kgo.Client
	changelog string
	overlay   map[string][]byte // uncommitted state, by changelog key; nil = deleted key
	batch     *state.Batch
	clOffsets map[state.Unit]int64

	mu      sync.Mutex
	prodErr error

	dups, noops int
}

func (t *txn) produce(ctx context.Context, r *kgo.Record, onOK func(*kgo.Record)) {
	t.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if err != nil {
			if t.prodErr == nil {
				t.prodErr = err
			}
			return
		}
		if onOK != nil {
			onOK(r)
		}
	})
}

func (t *txn) commitMetrics() {
	t.p.m.DuplicatesDropped.WithLabelValues(Stage).Add(float64(t.dups))
	t.p.m.NoopUpdatesDropped.Add(float64(t.noops))
}

func (t *txn) process(ctx context.Context, fs kgo.Fetches, ensured map[string]bool) error {
	var err error
	fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if err != nil || len(ftp.Records) == 0 {
			return
		}
		u := state.Unit{Topic: ftp.Topic, Partition: ftp.Partition} // made fresh before the transaction began
		for _, r := range ftp.Records {
			if err = t.record(ctx, u, r, ensured); err != nil {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	if err := t.cl.Flush(ctx); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.prodErr
}

// stateOf returns the current state entry of a key: position and change.
func (t *txn) stateOf(ctx context.Context, u state.Unit, key []byte) (string, *schemas.Change, error) {
	ck := string(u.Key(key))
	v, ok := t.overlay[ck]
	if !ok {
		var err error
		v, err = t.p.store.Get(u, key)
		if err != nil {
			return "", nil, err
		}
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
	ck := u.Key(key)
	t.overlay[string(ck)] = entry
	t.batch.PutRaw(ck, entry)
	rec := &kgo.Record{Topic: t.changelog, Partition: state.ChangelogPartition(u, t.p.clParts), Key: ck, Value: entry}
	t.produce(kafka.Manual(ctx), rec, func(r *kgo.Record) {
		if r.Offset > t.clOffsets[u] {
			t.clOffsets[u] = r.Offset
		}
	})
}

func (t *txn) park(ctx context.Context, reason string, cause error, r *kgo.Record) {
	t.p.log.Warn("record parked in the DLQ", "reason", reason, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", cause)
	t.produce(ctx, t.p.dlq.Record(Stage, reason, cause, r), nil)
}

func (t *txn) record(ctx context.Context, u state.Unit, r *kgo.Record, ensured map[string]bool) error {
	ch, err := t.p.serde.Decode(ctx, r.Key, r.Value)
	if err != nil {
		t.park(ctx, "undecodable", err, r)
		return nil
	}
	out := topics.ChangeFromRaw(t.p.cfg.TopicPrefix, r.Topic)
	if !ensured[out] {
		adm := kadm.NewClient(t.cl)
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
	var keys [][]byte
	err = t.p.store.Scan(u, func(k, _ []byte) error {
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return err
	}
	for ck, v := range t.overlay {
		cu, k, err := state.ParseKey([]byte(ck))
		if err == nil && cu == u && v != nil {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		ck := u.Key(k)
		t.overlay[string(ck)] = nil
		t.batch.PutRaw(ck, nil)
		t.produce(kafka.Manual(ctx), &kgo.Record{Topic: t.changelog, Partition: state.ChangelogPartition(u, t.p.clParts), Key: ck}, func(r *kgo.Record) {
			if r.Offset > t.clOffsets[u] {
				t.clOffsets[u] = r.Offset
			}
		})
	}
	return nil
}

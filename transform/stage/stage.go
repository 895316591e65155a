// Package stage runs a transform stage exactly once: it consumes input
// topics read_committed in a consumer group and, for each polled batch,
// produces the stage's output records, its changelog records and the
// consumed offsets in one Kafka transaction (franz-go's
// GroupTransactSession). A stateful stage's state lives in Badger as a
// cache of its compacted changelog (package state) and is written only
// after the transaction committed, so every input record affects the
// outputs and the state exactly once, whatever crashes.
//
// The stage itself is a [Handler]: it gets each batch's records with a
// [Txn] through which it reads and writes state, produces and parks
// records in the DLQ. The runner owns the loop: restoring units whose
// Badger copy may be behind before a transaction opens, ending the
// transaction even on shutdown, rewinding to the committed offsets after
// a failure, and backing off.
package stage

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
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
	"syncline/transform/state"
)

// Config configures a stage runner.
type Config struct {
	// Name names the stage: consumer group and transactional id
	// "syncline-<name>[-<instance>]", changelog "_<prefix>.state.<name>",
	// the stage label of metrics and DLQ entries.
	Name        string
	TopicPrefix string
	Partitions  int32 // partitions of the changelog
	RF          int16
	InstanceID  string // stable per process; part of the transactional id
	// Topics are the topics to consume; Pattern, when set instead, a
	// regular expression of topics discovered as they appear.
	Topics  []string
	Pattern string
	// Stateless: no state store and no changelog.
	Stateless  bool
	StateDir   string
	StateKey   []byte        // when set, encrypts the Badger store at rest
	BatchSize  int           // max records per transaction; default 1000
	TxnTimeout time.Duration // default 60s
	// Ensure are topics created (when missing) before consuming.
	Ensure []kafka.TopicSpec
}

// Handler is a stage's logic.
type Handler interface {
	// Batch returns the work of one transaction.
	Batch(tx *Txn) Batch
}

// Batch is the work of one transaction.
type Batch interface {
	// Record processes one input record of unit u. An error fails the
	// batch: the transaction aborts and the records are read again.
	Record(ctx context.Context, u state.Unit, r *kgo.Record) error
	// Committed is called after the transaction committed and its state
	// reached Badger (for metrics and in-memory caches).
	Committed()
}

// UnitHandler is implemented by handlers that keep per-unit data in
// memory: Fresh is called when unit u's Badger copy has just been caught
// up with the changelog (assigned, or restored after a failed batch), so
// the handler rebuilds what it derives from it; Forget when the unit was
// revoked.
type UnitHandler interface {
	Fresh(ctx context.Context, store *state.Store, u state.Unit) error
	Forget(u state.Unit)
}

// Runner runs one stage.
type Runner struct {
	cfg       Config
	kafkaOpts []kgo.Opt
	m         *metrics.Metrics
	log       *slog.Logger
	store     *state.Store
	lag       *kafka.Lag
	ready     atomic.Bool

	mu       sync.Mutex
	assigned map[state.Unit]bool   // units whose Badger copy may be behind the changelog
	gens     map[state.Unit]uint64 // bumped when a unit is assigned or revoked
	clParts  int
	handler  Handler
}

// New opens the state store (unless Stateless) and returns the runner.
func New(cfg Config, kafkaOpts []kgo.Opt, m *metrics.Metrics, log *slog.Logger) (*Runner, error) {
	if cfg.Name == "" {
		return nil, fmt.Errorf("stage: no name")
	}
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
	r := &Runner{cfg: cfg, kafkaOpts: kafkaOpts, m: m, log: log.With("stage", cfg.Name), lag: kafka.NewLag(), assigned: map[state.Unit]bool{}, gens: map[state.Unit]uint64{}}
	if !cfg.Stateless {
		st, err := state.Open(cfg.StateDir, cfg.StateKey)
		if err != nil {
			return nil, err
		}
		r.store = st
	}
	return r, nil
}

// Store is the stage's state store (nil when Stateless).
func (r *Runner) Store() *state.Store { return r.store }

// Ready reports whether the stage is consuming.
func (r *Runner) Ready() bool { return r.ready.Load() }

// Log is the stage's logger.
func (r *Runner) Log() *slog.Logger { return r.log }

// Changelog is the stage's changelog topic.
func (r *Runner) Changelog() string { return topics.State(r.cfg.TopicPrefix, r.cfg.Name) }

// Close closes the state store of a runner that will not Run.
func (r *Runner) Close() error {
	if r.store != nil {
		return r.store.Close()
	}
	return nil
}

// Run processes until ctx is done; the transaction in progress then
// completes or aborts before Run returns, and the state store is closed.
func (r *Runner) Run(ctx context.Context, h Handler) error {
	defer r.Close()
	r.handler = h
	changelog := r.Changelog()
	dlqTopic := topics.DLQ(r.cfg.TopicPrefix)
	{
		cl, err := kgo.NewClient(r.kafkaOpts...)
		if err != nil {
			return err
		}
		adm := kadm.NewClient(cl)
		specs := append([]kafka.TopicSpec{{Name: dlqTopic, Partitions: 1, RF: r.cfg.RF}}, r.cfg.Ensure...)
		if !r.cfg.Stateless {
			specs = append(specs, kafka.TopicSpec{Name: changelog, Partitions: r.cfg.Partitions, RF: r.cfg.RF, Compact: true})
		}
		err = kafka.EnsureTopics(ctx, adm, specs...)
		if err == nil && !r.cfg.Stateless {
			r.clParts, err = kafka.Partitions(ctx, adm, changelog)
		}
		cl.Close()
		if err != nil {
			return err
		}
	}
	consume := []kgo.Opt{kgo.ConsumeTopics(r.cfg.Topics...)}
	pattern := strings.Join(r.cfg.Topics, ",")
	if r.cfg.Pattern != "" {
		if _, err := regexp.Compile(r.cfg.Pattern); err != nil {
			return fmt.Errorf("%s stage: topic pattern: %w", r.cfg.Name, err)
		}
		pattern = r.cfg.Pattern
		consume = []kgo.Opt{kgo.ConsumeRegex(), kgo.ConsumeTopics(pattern)}
	}
	id := "syncline-" + r.cfg.Name + "-" + r.cfg.InstanceID
	sess, err := kgo.NewGroupTransactSession(append(append(slices.Clip(r.kafkaOpts), consume...),
		kgo.ConsumerGroup("syncline-"+r.cfg.Name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.TransactionalID(id),
		// Static membership (KIP-345): a restarted process takes over its
		// predecessor's partitions at once, without waiting for a session
		// timeout or a rebalance (a killed member must not hold the group).
		kgo.InstanceID(id),
		kgo.TransactionTimeout(r.cfg.TxnTimeout),
		kgo.RecordPartitioner(kafka.KeyPartitioner()),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.MetadataMaxAge(5*time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, as map[string][]int32) {
			r.mu.Lock()
			defer r.mu.Unlock()
			for t, ps := range as {
				for _, pt := range ps {
					u := state.Unit{Topic: t, Partition: pt}
					r.assigned[u] = true
					r.gens[u]++
				}
			}
		}),
		kgo.OnPartitionsRevoked(r.forget),
		kgo.OnPartitionsLost(r.forget),
	)...)
	if err != nil {
		return fmt.Errorf("%s stage client: %w", r.cfg.Name, err)
	}
	defer sess.Close()
	dl := dlq.New(dlqTopic, sess.Client(), r.m)
	r.ready.Store(true)
	defer r.ready.Store(false)
	r.log.Info("consuming", "topics", pattern)
	failures := 0 // consecutive failed batches, for the retry backoff
	for {
		fs := sess.PollRecords(ctx, r.cfg.BatchSize)
		if ctx.Err() != nil {
			return nil
		}
		// Errors of some partitions do not invalidate the records of
		// others: the consumer has moved past them, so they are processed.
		fs.EachError(func(t string, pt int32, err error) {
			r.log.Warn("fetch error", "topic", t, "partition", pt, "err", err)
		})
		if fs.NumRecords() == 0 {
			continue
		}
		r.m.ConsumerLag.WithLabelValues(r.cfg.Name).Set(float64(r.lag.Observe(fs)))
		// Catch up every unit of this poll before the transaction opens,
		// so a long restore cannot outlive the transaction timeout.
		var rerr error
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if rerr == nil && len(ftp.Records) > 0 {
				rerr = r.ensureFresh(ctx, state.Unit{Topic: ftp.Topic, Partition: ftp.Partition})
			}
		})
		if rerr != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The polled records must be read again: abort rewinds the
			// session to the committed offsets.
			r.log.Error("restoring state failed; retrying", "err", rerr)
			if err := sess.Begin(); err == nil {
				_, _ = sess.End(context.WithoutCancel(ctx), kgo.TryAbort)
			}
			retry.Sleep(ctx, time.Second)
			continue
		}
		if err := r.begin(ctx, sess); err != nil {
			return err
		}
		tx := &Txn{r: r, Client: sess.Client(), DLQ: dl, overlay: map[string][]byte{}, batch: state.NewBatch(), clOffsets: map[state.Unit]int64{}}
		b := h.Batch(tx)
		perr := tx.process(context.WithoutCancel(ctx), fs, b)
		// The transaction ends even when shutting down, so it does not
		// stay open on the broker until its timeout.
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		committed, err := sess.End(ectx, kgo.TransactionEndTry(perr == nil))
		cancel()
		if err != nil || perr != nil {
			// Unknown outcome or processing failure: the session rewinds to
			// the committed offsets; catch state up before going on.
			r.markAllStale()
			if err != nil {
				// An end that failed (a timeout during a rebalance that
				// waits for a dead member, a broker error) may leave the
				// transaction open in the client: abort it so the next
				// batch can begin.
				if aerr := r.abortOpen(ctx, sess); aerr != nil {
					return aerr
				}
			}
			if perr != nil {
				r.log.Error("batch failed; retrying from the committed offsets", "err", perr)
			} else {
				r.log.Warn("ending transaction failed; state will be restored from the changelog", "err", err)
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
			// Aborted: Badger was not touched, but a UnitHandler may have
			// changed what it keeps in memory.
			if _, ok := h.(UnitHandler); ok {
				r.markAllStale()
			}
			continue
		}
		if r.store != nil && tx.batch.Len() > 0 {
			for u, off := range tx.clOffsets {
				tx.batch.Offset(u, off+1)
			}
			// The transaction committed: its state must reach Badger.
			// Retry the same batch; if Badger keeps failing, restore from
			// the changelog before the next batch.
			var aerr error
			for range 3 {
				if aerr = r.store.Apply(tx.batch); aerr == nil {
					break
				}
			}
			if aerr != nil {
				r.markAllStale()
				r.log.Error("apply state failed; will restore from the changelog", "err", aerr)
				continue
			}
		}
		b.Committed()
	}
}

// begin opens the batch's transaction. A transaction left open by an end
// that failed is aborted first.
func (r *Runner) begin(ctx context.Context, sess *kgo.GroupTransactSession) error {
	err := sess.Begin()
	if err == nil {
		return nil
	}
	r.log.Warn("begin transaction failed; aborting what is open and retrying", "err", err)
	if aerr := r.abortOpen(ctx, sess); aerr != nil {
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
func (r *Runner) abortOpen(ctx context.Context, sess *kgo.GroupTransactSession) error {
	var err error
	for i := range 6 {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, err = sess.End(actx, kgo.TryAbort)
		cancel()
		if err == nil {
			return nil
		}
		r.log.Warn("aborting the open transaction failed; retrying", "attempt", i+1, "err", err)
		retry.Sleep(ctx, retry.Delay(i))
		if ctx.Err() != nil {
			return nil
		}
	}
	return fmt.Errorf("abort transaction: %w", err)
}

func (r *Runner) forget(_ context.Context, _ *kgo.Client, rs map[string][]int32) {
	r.m.ConsumerLag.WithLabelValues(r.cfg.Name).Set(float64(r.lag.Forget(rs)))
	r.mu.Lock()
	defer r.mu.Unlock()
	uh, _ := r.handler.(UnitHandler)
	for t, ps := range rs {
		for _, pt := range ps {
			u := state.Unit{Topic: t, Partition: pt}
			delete(r.assigned, u)
			r.gens[u]++
			if uh != nil {
				uh.Forget(u)
			}
		}
	}
}

func (r *Runner) markAllStale() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for u := range r.assigned {
		r.assigned[u] = true
	}
}

// ensureFresh restores u from the changelog if its Badger copy may be
// behind, and lets a UnitHandler rebuild what it keeps of u in memory.
func (r *Runner) ensureFresh(ctx context.Context, u state.Unit) error {
	r.mu.Lock()
	stale, ok := r.assigned[u]
	gen := r.gens[u]
	r.mu.Unlock()
	if ok && !stale {
		return nil
	}
	if r.store != nil {
		start := time.Now()
		n, err := r.store.Restore(ctx, r.kafkaOpts, r.Changelog(), r.clParts, u)
		if err != nil {
			return fmt.Errorf("restore state of %s/%d: %w", u.Topic, u.Partition, err)
		}
		if n > 0 {
			r.log.Info("state restored from changelog", "topic", u.Topic, "partition", u.Partition, "records", n, "took", time.Since(start))
		}
		if uh, ok := r.handler.(UnitHandler); ok {
			if err := uh.Fresh(ctx, r.store, u); err != nil {
				return fmt.Errorf("load state of %s/%d: %w", u.Topic, u.Partition, err)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gens[u] != gen {
		// Revoked or reassigned while restoring: what was restored may
		// already be behind; the next poll restores again.
		return nil
	}
	if _, still := r.assigned[u]; still || !ok {
		r.assigned[u] = false
	}
	return nil
}

// Txn is the work of one Kafka transaction, as a Batch sees it.
type Txn struct {
	r *Runner
	// Client produces into the transaction.
	Client *kgo.Client
	// DLQ builds dead-letter records.
	DLQ       *dlq.DLQ
	overlay   map[string][]byte // uncommitted state, by changelog key; nil = deleted key
	batch     *state.Batch
	clOffsets map[state.Unit]int64

	mu      sync.Mutex
	prodErr error
}

func (t *Txn) process(ctx context.Context, fs kgo.Fetches, b Batch) error {
	var err error
	fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if err != nil || len(ftp.Records) == 0 {
			return
		}
		u := state.Unit{Topic: ftp.Topic, Partition: ftp.Partition} // made fresh before the transaction began
		for _, r := range ftp.Records {
			if err = b.Record(ctx, u, r); err != nil {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	if err := t.Client.Flush(ctx); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.prodErr
}

// Produce produces r into the transaction; onOK, when set, runs when the
// broker acknowledged it. A failure fails the batch.
func (t *Txn) Produce(ctx context.Context, r *kgo.Record, onOK func(*kgo.Record)) {
	t.Client.Produce(ctx, r, func(r *kgo.Record, err error) {
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

// Get returns the value of key in unit u as this transaction sees it
// (its own writes included), or nil.
func (t *Txn) Get(u state.Unit, key []byte) ([]byte, error) {
	if v, ok := t.overlay[string(u.Key(key))]; ok {
		return v, nil
	}
	return t.r.store.Get(u, key)
}

// Put sets key to value in unit u (nil deletes it): the changelog record
// goes into the transaction, Badger follows once it committed.
func (t *Txn) Put(ctx context.Context, u state.Unit, key, value []byte) {
	ck := u.Key(key)
	t.overlay[string(ck)] = value
	t.batch.PutRaw(ck, value)
	rec := &kgo.Record{Topic: t.r.Changelog(), Partition: state.ChangelogPartition(u, t.r.clParts), Key: ck, Value: value}
	t.Produce(kafka.Manual(ctx), rec, func(r *kgo.Record) {
		if cur, ok := t.clOffsets[u]; !ok || r.Offset > cur {
			t.clOffsets[u] = r.Offset
		}
	})
}

// Keys returns the keys unit u holds as this transaction sees them.
func (t *Txn) Keys(u state.Unit) ([][]byte, error) {
	var keys [][]byte
	err := t.r.store.Scan(u, func(k, _ []byte) error {
		if v, ok := t.overlay[string(u.Key(k))]; !ok || v != nil {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for ck, v := range t.overlay {
		cu, k, err := state.ParseKey([]byte(ck))
		if err == nil && cu == u && v != nil {
			if old, _ := t.r.store.Get(u, k); old == nil {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// Park produces a dead-letter record for r into the transaction.
func (t *Txn) Park(ctx context.Context, reason string, cause error, r *kgo.Record) {
	t.r.log.Warn("record parked in the DLQ", "reason", reason, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", cause)
	t.Produce(ctx, t.DLQ.Record(t.r.cfg.Name, reason, cause, r), nil)
}

// Log is the stage's logger.
func (t *Txn) Log() *slog.Logger { return t.r.log }

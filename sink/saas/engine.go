package saas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// Outcome is what became of one op.
type Outcome int

// The outcomes.
const (
	Pending  Outcome = iota // not decided: the batch fails
	Written                 // the provider applied it
	Rejected                // refused for good: DLQ, reason rejected
	Retry                   // refused for now: retry queue
	NotFound                // a delete of an object the provider lacks
)

// Op is one write of a batch: the last change of one record key.
type Op struct {
	// Delete: archive or delete the record's object.
	Delete bool
	// Props is the mapped after image (upserts); Send the fields whose
	// value differs from the ledger's (never empty for an upsert).
	Props, Send map[string]string
	// Key is the KeyField value that identifies the record at the
	// provider: of the after image for an upsert; for a delete, of the
	// ledger or else the before image ("" when neither has it: the engine
	// then does not pass the delete to the Writer).
	Key string
	// Prev is the ledger's entry (nil: never written, or deleted since).
	Prev *Entry
	// IdempotencyKey is the same for every delivery of one change: hex of
	// the SHA-256 of topic, record key and source position.
	IdempotencyKey string
	// Attempt is 0 for a first try, n for the n-th retry from the queue.
	Attempt int
	// Record is the change record.
	Record *kgo.Record

	// Set by the Writer.
	Outcome  Outcome
	ObjectID string // the provider's id, when Written
	Err      error  // why Rejected, Retry or NotFound
}

// Wrote marks the op written; id is the provider's object id ("" keeps
// the ledger's).
func (o *Op) Wrote(id string) { o.Outcome, o.ObjectID = Written, id }

// Reject marks the op refused for good.
func (o *Op) Reject(err error) { o.Outcome, o.Err = Rejected, err }

// RetryLater marks the op refused for a transient reason.
func (o *Op) RetryLater(err error) { o.Outcome, o.Err = Retry, err }

// Missing marks a delete whose object the provider does not hold.
func (o *Op) Missing(err error) { o.Outcome, o.Err = NotFound, err }

// Writer makes a sink's API calls.
type Writer interface {
	// Write makes the calls for ops, grouped as the API allows, and sets
	// each op's Outcome. The engine calls it from one goroutine; ctx is
	// cancelled when a shutdown's grace period ends. An error fails the
	// whole batch: nothing of it commits and it is read again from the
	// committed offsets after a pause, unless the error is a Fatal, which
	// stops the sink.
	Write(ctx context.Context, ops []*Op) error
}

// Fatal is an error that does not heal by retrying (refused credentials,
// an unknown object type): Run returns it.
type Fatal struct{ Err error }

func (e Fatal) Error() string { return e.Err.Error() }
func (e Fatal) Unwrap() error { return e.Err }

// RetryPolicy is the backoff of the retry queue.
type RetryPolicy struct {
	// MaxAttempts is the most attempts of a row (the first included)
	// before it is parked with reason retries_exhausted; default 10.
	MaxAttempts int
	// InitialBackoff before the first retry, doubling per attempt up to
	// MaxBackoff, with jitter (a random half of it): defaults 5s and 10m.
	InitialBackoff, MaxBackoff time.Duration
}

// Retry queue defaults.
const (
	DefaultRetryAttempts   = 10
	DefaultRetryInitial    = 5 * time.Second
	DefaultRetryMaxBackoff = 10 * time.Minute
)

// Stream is what a SaaS sink consumes and where it keeps its state; the
// sinks' configs embed it.
type Stream struct {
	// Topics are the change topics to consume.
	Topics []string
	// BatchTimeout bounds how long a poll collects records after its
	// first one; default 500ms.
	BatchTimeout time.Duration
	// Retry is the retry queue of rows refused for a transient reason.
	Retry RetryPolicy

	// Kafka and state settings: TopicPrefix default syncline;
	// Partitions (of the ledger changelog and the retry queue) default
	// 4; InstanceID default 0; StateDir (the Badger ledger) required;
	// TxnTimeout default 60s.
	TopicPrefix string
	Partitions  int32
	RF          int16
	InstanceID  string
	StateDir    string
	StateKey    []byte
	TxnTimeout  time.Duration
	// RepairTopic, when set, is consumed too: the repair records of
	// syncline diff --repair (see Repair).
	RepairTopic string
	// System names the source that reads the system this sink writes
	// (two-way sync). In an entity's golden record, a field whose value
	// came from that source (its _provenance) is what the provider holds
	// already: the ledger takes it and it is not sent back.
	System string
}

// EngineConfig configures an Engine.
type EngineConfig struct {
	// Name is the sink's name: metrics label, consumer group
	// syncline-sink-<Name>, topics _<prefix>.state.sink.<Name> and
	// _<prefix>.retry.<Name>. Kind ("hubspot sink") prefixes messages.
	Name, Kind string
	// Fields is the mapping; KeyField the field that identifies a record
	// at the provider (it must be mapped).
	Fields   map[string]Property
	KeyField string
	// IgnoreDeletes drops deletes (the ledger notes the position).
	IgnoreDeletes bool
	// BatchSize: a poll collects up to 10 × BatchSize records.
	BatchSize int
	Stream
}

func (c EngineConfig) withDefaults() (EngineConfig, error) {
	if c.Retry.MaxAttempts <= 0 {
		c.Retry.MaxAttempts = DefaultRetryAttempts
	}
	if c.Retry.InitialBackoff <= 0 {
		c.Retry.InitialBackoff = DefaultRetryInitial
	}
	if c.Retry.MaxBackoff <= 0 {
		c.Retry.MaxBackoff = DefaultRetryMaxBackoff
	}
	if c.Retry.MaxBackoff < c.Retry.InitialBackoff {
		return c, fmt.Errorf("%s %q: retry.max_backoff %v is below retry.initial_backoff %v", c.Kind, c.Name, c.Retry.MaxBackoff, c.Retry.InitialBackoff)
	}
	if len(c.Topics) == 0 {
		return c, fmt.Errorf("%s %q: no topics", c.Kind, c.Name)
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 500 * time.Millisecond
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = "syncline"
	}
	if c.Partitions <= 0 {
		c.Partitions = 4
	}
	if c.InstanceID == "" {
		c.InstanceID = "0"
	}
	if c.StateDir == "" {
		return c, fmt.Errorf("%s %q: no state directory", c.Kind, c.Name)
	}
	if c.TxnTimeout <= 0 {
		c.TxnTimeout = 60 * time.Second
	}
	return c, nil
}

// RetryTopic is the retry queue topic of a sink.
func RetryTopic(prefix, name string) string { return "_" + prefix + ".retry." + name }

// Engine runs one SaaS sink.
type Engine struct {
	cfg       EngineConfig
	w         Writer
	kafkaOpts []kgo.Opt
	serde     *schemas.Serde
	m         *metrics.Metrics
	log       *slog.Logger
	store     *state.Store
	names     []string
	stage     string
	changelog string
	retryTop  string
	lag       *kafka.Lag
	ready     atomic.Bool

	units   *state.Units
	clParts int
	rqParts int
	q       *queue

	// BeforeCommit, when set (tests), runs after the API calls of a batch
	// and before its transaction ends; an error fails the batch.
	BeforeCommit func() error
}

// NewEngine validates cfg, opens the ledger store and returns the engine.
func NewEngine(cfg EngineConfig, w Writer, kafkaOpts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ValidateMapping(fmt.Sprintf("%s %q", cfg.Kind, cfg.Name), cfg.Fields, cfg.KeyField, "key field"); err != nil {
		return nil, err
	}
	if serde == nil {
		return nil, fmt.Errorf("%s %q: no serde", cfg.Kind, cfg.Name)
	}
	if m == nil {
		m = metrics.New(prometheus.NewRegistry())
	}
	if log == nil {
		log = slog.Default()
	}
	st, err := state.Open(cfg.StateDir, cfg.StateKey)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", cfg.Kind, cfg.Name, err)
	}
	stage := "sink." + cfg.Name
	return &Engine{
		cfg: cfg, w: w, kafkaOpts: kafkaOpts, serde: serde, m: m, log: log.With("sink", cfg.Name), store: st,
		names: SortedNames(cfg.Fields), stage: stage, changelog: topics.State(cfg.TopicPrefix, stage),
		retryTop: RetryTopic(cfg.TopicPrefix, cfg.Name), lag: kafka.NewLag(), units: state.NewUnits(), q: newQueue(),
	}, nil
}

// Stage is the sink's stage name in the DLQ and changelog: sink.<name>.
func (e *Engine) Stage() string { return e.stage }

// Log returns the engine's logger (with the sink's name).
func (e *Engine) Log() *slog.Logger { return e.log }

// Metrics returns the metrics the engine counts on.
func (e *Engine) Metrics() *metrics.Metrics { return e.m }

// Ready reports whether the sink is consuming.
func (e *Engine) Ready() bool { return e.ready.Load() }

// Run consumes and writes until ctx is done; the batch in progress then
// commits or aborts, and the ledger store is closed.
func (e *Engine) Run(ctx context.Context) error {
	defer e.store.Close()
	dlqTopic := topics.DLQ(e.cfg.TopicPrefix)
	{
		cl, err := kgo.NewClient(e.kafkaOpts...)
		if err != nil {
			return err
		}
		adm := kadm.NewClient(cl)
		err = kafka.EnsureTopics(ctx, adm,
			kafka.TopicSpec{Name: e.changelog, Partitions: e.cfg.Partitions, RF: e.cfg.RF, Compact: true},
			kafka.TopicSpec{Name: e.retryTop, Partitions: e.cfg.Partitions, RF: e.cfg.RF, Compact: true},
			kafka.TopicSpec{Name: dlqTopic, Partitions: 1, RF: e.cfg.RF})
		if err == nil && e.cfg.RepairTopic != "" {
			err = kafka.EnsureTopics(ctx, adm, kafka.TopicSpec{Name: e.cfg.RepairTopic, Partitions: e.cfg.Partitions, RF: e.cfg.RF})
		}
		if err == nil {
			e.clParts, err = kafka.Partitions(ctx, adm, e.changelog)
		}
		if err == nil {
			e.rqParts, err = kafka.Partitions(ctx, adm, e.retryTop)
		}
		cl.Close()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s %q: %w", e.cfg.Kind, e.cfg.Name, err)
		}
	}
	group := "syncline-sink-" + e.cfg.Name
	consume := e.cfg.Topics
	if e.cfg.RepairTopic != "" {
		consume = append(append([]string{}, consume...), e.cfg.RepairTopic)
	}
	sess, err := kgo.NewGroupTransactSession(append(append([]kgo.Opt{}, e.kafkaOpts...),
		kgo.ConsumeTopics(consume...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.TransactionalID(group+"-"+e.cfg.InstanceID),
		kgo.InstanceID(group+"-"+e.cfg.InstanceID),
		kgo.TransactionTimeout(e.cfg.TxnTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.OnPartitionsAssigned(e.assign),
		kgo.OnPartitionsRevoked(e.forget),
		kgo.OnPartitionsLost(e.forget),
	)...)
	if err != nil {
		return fmt.Errorf("%s %q: kafka client: %w", e.cfg.Kind, e.cfg.Name, err)
	}
	defer sess.Close()
	d := dlq.New(dlqTopic, sess.Client(), e.m)
	e.ready.Store(true)
	defer e.ready.Store(false)
	e.log.Info(e.cfg.Kind+" started", "group", group, "topics", e.cfg.Topics)
	failures := 0
	for ctx.Err() == nil {
		// Units assigned since the last batch: their ledger and retry
		// queue are restored now, so that waiting retries run even when
		// no new record arrives on their partition.
		if err := e.loadQueues(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.log.Error("restore failed; retrying", "err", err)
			retry.Sleep(ctx, retry.Delay(failures))
			failures++
			continue
		}
		// The poll wakes up when the next retry is due, and at least every
		// pollWake to load the queues of newly assigned units.
		wake := time.Now().Add(pollWake)
		if next, ok := e.q.next(); ok && next.Before(wake) {
			wake = next
		}
		pctx, pcancel := context.WithDeadline(ctx, wake)
		fs := kafka.PollBatch(pctx, sess.PollRecords, 10*e.cfg.BatchSize, e.cfg.BatchTimeout, e.log)
		pcancel()
		if ctx.Err() != nil {
			// Records polled but not committed are read again on restart.
			return nil
		}
		due := e.q.due(time.Now(), 10*e.cfg.BatchSize)
		if fs.NumRecords() == 0 && len(due) == 0 {
			continue
		}
		if fs.NumRecords() > 0 {
			e.m.ConsumerLag.WithLabelValues(e.stage).Set(float64(e.lag.Observe(fs)))
		}
		err := e.batch(ctx, sess, d, fs, due)
		if err == nil {
			failures = 0
			continue
		}
		e.markAllStale()
		if ctx.Err() != nil {
			return nil
		}
		var fatal Fatal
		if errors.As(err, &fatal) {
			return fmt.Errorf("%s %q: %w", e.cfg.Kind, e.cfg.Name, err)
		}
		e.m.SinkErrors.WithLabelValues(e.cfg.Name, "retryable").Inc()
		e.log.Error("batch failed; retrying from the committed offsets", "err", err)
		retry.Sleep(ctx, retry.Delay(failures))
		failures++
	}
	return nil
}

// pollWake bounds how long a poll waits for records.
const pollWake = time.Second

// shutdownGrace is how long a batch in flight may take to finish once the
// sink is asked to stop.
const shutdownGrace = 10 * time.Second

// batch writes one batch and commits it; an error means nothing of it
// committed.
func (e *Engine) batch(ctx context.Context, sess *kgo.GroupTransactSession, d *dlq.DLQ, fs kgo.Fetches, due []*retryEntry) error {
	var units []state.Unit
	var repairs []*kgo.Record
	seen := map[state.Unit]bool{}
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Topic == e.cfg.RepairTopic {
			repairs = append(repairs, p.Records...)
			return
		}
		u := state.Unit{Topic: p.Topic, Partition: p.Partition}
		if len(p.Records) > 0 && !seen[u] {
			seen[u] = true
			units = append(units, u)
		}
	})
	// The units repairs are for, when held here, are read too.
	for _, r := range repairs {
		if u, _, err := state.ParseKey(r.Key); err == nil && !seen[u] && e.q.holds(u) {
			seen[u] = true
			units = append(units, u)
		}
	}
	for _, u := range units {
		if err := e.ensureFresh(ctx, u); err != nil {
			abort(ctx, sess)
			return err
		}
	}
	// A shutdown gives the batch shutdownGrace to finish; past that (a
	// rate-limit or 5xx storm) its calls stop and it aborts: nothing is
	// committed, and the next run re-sends the same operations.
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer wcancel()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(shutdownGrace, wcancel) })
	defer stopGrace()
	w := &work{e: e, pending: map[string]*pendingRec{}}
	// Due retries first: a newer change of the same key in this batch
	// supersedes its retry.
	for _, re := range due {
		w.addRetry(re)
	}
	// Repairs before changes: a change of the same record in this batch
	// applies on top of the corrected ledger entry.
	for _, r := range repairs {
		w.addRepair(r)
	}
	fs.EachRecord(func(r *kgo.Record) {
		if r.Topic != e.cfg.RepairTopic {
			w.add(r)
		}
	})
	if err := w.write(wctx); err != nil {
		abort(ctx, sess)
		return err
	}
	if e.BeforeCommit != nil {
		if err := e.BeforeCommit(); err != nil {
			abort(ctx, sess)
			return err
		}
	}
	if err := sess.Begin(); err != nil {
		abort(ctx, sess)
		return fmt.Errorf("begin transaction: %w", err)
	}
	cl := sess.Client()
	batch := state.NewBatch()
	var pmu sync.Mutex
	var perr error
	clOffsets := map[state.Unit]int64{}
	produce := func(r *kgo.Record, u *state.Unit) {
		cl.Produce(wctx, r, func(r *kgo.Record, err error) {
			pmu.Lock()
			defer pmu.Unlock()
			if err != nil && perr == nil {
				perr = err
			}
			if err == nil && u != nil && r.Offset > clOffsets[*u] {
				clOffsets[*u] = r.Offset
			}
		})
	}
	for _, ch := range w.ledger {
		ck := ch.u.Key(ch.key)
		batch.PutRaw(ck, ch.value)
		u := ch.u
		produce(&kgo.Record{Topic: e.changelog, Partition: state.ChangelogPartition(u, e.clParts), Key: ck, Value: ch.value}, &u)
	}
	for _, rc := range w.retries {
		ru := retryUnit(rc.u)
		ck := ru.Key(rc.key)
		batch.PutRaw(ck, rc.value)
		produce(&kgo.Record{Topic: e.retryTop, Partition: state.ChangelogPartition(ru, e.rqParts), Key: ck, Value: rc.value, Headers: rc.headers}, &ru)
	}
	for _, pk := range w.parked {
		dr := d.Record(e.stage, pk.reason, pk.err, pk.rec)
		dr.Partition = 0
		produce(dr, nil)
	}
	ferr := cl.Flush(wctx)
	pmu.Lock()
	if ferr == nil {
		ferr = perr
	}
	pmu.Unlock()
	ectx, cancel := context.WithTimeout(wctx, 30*time.Second)
	committed, err := sess.End(ectx, kgo.TransactionEndTry(ferr == nil))
	cancel()
	if ferr != nil {
		return fmt.Errorf("produce ledger: %w", ferr)
	}
	if err != nil {
		abort(ctx, sess)
		return fmt.Errorf("end transaction: %w", err)
	}
	if !committed {
		// A rebalance took partitions away: the records are read again
		// (by whoever owns them), and their operations resent.
		e.markAllStale()
		return nil
	}
	for u, off := range clOffsets {
		batch.Offset(u, off+1)
	}
	if err := e.store.Apply(batch); err != nil {
		e.markAllStale()
		e.log.Error("apply ledger failed; will restore from the changelog", "err", err)
	}
	e.q.apply(w.retries)
	w.committed()
	return nil
}

func abort(ctx context.Context, sess *kgo.GroupTransactSession) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := sess.Begin(); err == nil {
		_, _ = sess.End(actx, kgo.TryAbort)
		return
	}
	_, _ = sess.End(actx, kgo.TryAbort)
}

func (e *Engine) assign(ctx context.Context, cl *kgo.Client, as map[string][]int32) {
	as = e.inputs(as)
	e.units.Assign(ctx, cl, as)
	e.q.assign(as)
}

func (e *Engine) forget(_ context.Context, _ *kgo.Client, rs map[string][]int32) {
	e.m.ConsumerLag.WithLabelValues(e.stage).Set(float64(e.lag.Forget(rs)))
	rs = e.inputs(rs)
	e.units.Forget(rs)
	e.q.forget(rs)
}

// inputs leaves the repair topic out of partitions: it has no ledger or
// retry queue of its own.
func (e *Engine) inputs(ps map[string][]int32) map[string][]int32 {
	if _, ok := ps[e.cfg.RepairTopic]; !ok {
		return ps
	}
	out := make(map[string][]int32, len(ps))
	for t, p := range ps {
		if t != e.cfg.RepairTopic {
			out[t] = p
		}
	}
	return out
}

func (e *Engine) markAllStale() {
	e.units.MarkAllStale()
	e.q.markAllStale()
}

func (e *Engine) ensureFresh(ctx context.Context, u state.Unit) error {
	n, err := e.units.EnsureFresh(ctx, e.store, e.kafkaOpts, e.changelog, e.clParts, u)
	if err != nil {
		return fmt.Errorf("restore ledger of %s/%d: %w", u.Topic, u.Partition, err)
	}
	if n > 0 {
		e.log.Info("ledger restored from changelog", "topic", u.Topic, "partition", u.Partition, "records", n)
	}
	return nil
}

// loadQueues restores the ledger and the retry queue of every held unit
// whose queue is not loaded.
func (e *Engine) loadQueues(ctx context.Context) error {
	for _, u := range e.q.stale() {
		if err := e.ensureFresh(ctx, u); err != nil {
			return err
		}
		ru := retryUnit(u)
		if _, err := e.store.Restore(ctx, e.kafkaOpts, e.retryTop, e.rqParts, ru); err != nil {
			return fmt.Errorf("restore retry queue of %s/%d: %w", u.Topic, u.Partition, err)
		}
		var entries []*retryEntry
		err := e.store.Scan(ru, func(key, value []byte) error {
			if value == nil {
				return nil
			}
			var re retryEntry
			if err := json.Unmarshal(value, &re); err != nil {
				return fmt.Errorf("retry entry of %s/%d: %w", u.Topic, u.Partition, err)
			}
			re.u, re.key = u, append([]byte(nil), key...)
			entries = append(entries, &re)
			return nil
		})
		if err != nil {
			return err
		}
		e.q.loaded(u, entries)
		if len(entries) > 0 {
			e.log.Info("retry queue restored", "topic", u.Topic, "partition", u.Partition, "entries", len(entries))
		}
	}
	return nil
}

// Entry is a ledger value: the object's id and the last value written per
// field.
type Entry struct {
	ID    string            `json:"id,omitempty"`
	Props map[string]string `json:"p,omitempty"`
	// Pos is the source position of the last change applied; older or
	// equal ones (replays) are dropped.
	Pos string `json:"pos"`
	// Archived: the record was deleted (and its object archived).
	Archived bool `json:"archived,omitempty"`
	// Repaired names the repair record (partition/offset of the repair
	// topic) that last corrected the entry, until the next change: a
	// repair record sent again finds the entry changed and does nothing.
	Repaired string `json:"repaired,omitempty"`
}

type pendingRec struct {
	prev     *Entry
	pos      string
	u        state.Unit
	key      []byte
	rec      *kgo.Record
	del      bool
	before   schemas.Row
	props    map[string]string
	commitMs []int64
	attempt  int
	// repair: the op of a repair record (addRepair), not of a change.
	repair bool
	// echo are the properties whose value came from the provider itself
	// (EngineConfig.System): not sent, but taken into the ledger.
	echo map[string]bool
}

type parkedRec struct {
	reason string
	err    error
	rec    *kgo.Record
}

type ledgerChange struct {
	u     state.Unit
	key   []byte
	value []byte // nil: tombstone
}

// work is one batch: the last change per key, what to send, what to
// commit.
type work struct {
	e       *Engine
	order   []string
	pending map[string]*pendingRec
	parked  []parkedRec
	ledger  []ledgerChange
	retries []retryChange

	written, deleted, skipped, replays, notFound, queued int
	echoes                                               int // properties not sent back to their own system
	repairs, repairsSkipped                              int
	err                                                  error // of reading the ledger
	commitMs                                             []int64
}

func (w *work) park(reason string, err error, r *kgo.Record) {
	w.parked = append(w.parked, parkedRec{reason: reason, err: err, rec: r})
}

func (w *work) add(r *kgo.Record) { w.addAttempt(r, -1) }

func (w *work) addRetry(re *retryEntry) {
	w.addAttempt(re.record(), re.Attempt)
}

// addAttempt adds a record; attempt >= 0 for one taken from the retry
// queue.
func (w *work) addAttempt(r *kgo.Record, attempt int) {
	u := state.Unit{Topic: r.Topic, Partition: r.Partition}
	ch, err := w.e.serde.Decode(context.Background(), r.Key, r.Value)
	if err != nil {
		w.e.m.SinkErrors.WithLabelValues(w.e.cfg.Name, "decode").Inc()
		w.park("undecodable", err, r)
		w.dropRetry(u, r.Key)
		return
	}
	if ch.Op == schemas.OpTruncate {
		w.e.log.Warn("truncate ignored: a SaaS sink does not delete every object of a table", "topic", r.Topic)
		return
	}
	if len(r.Key) < 5 {
		w.park("no_key", fmt.Errorf("record without key"), r)
		return
	}
	key := r.Key[5:]
	ck := string(u.Key(key))
	p := w.pending[ck]
	if p == nil {
		prev, err := w.ledgerOf(u, key)
		if err != nil {
			w.err = err
			return
		}
		p = &pendingRec{u: u, key: key, prev: prev}
		if prev != nil {
			p.pos = prev.Pos
		}
	}
	if p.pos != "" && ch.Source.Position <= p.pos {
		w.replays++
		if attempt >= 0 {
			// A newer change of the key was applied meanwhile.
			w.dropRetry(u, key)
		}
		return
	}
	if w.pending[ck] == nil {
		w.pending[ck] = p
		w.order = append(w.order, ck)
	}
	p.pos = ch.Source.Position
	p.rec = r
	p.repair = false
	p.commitMs = append(p.commitMs, ch.Source.CommitMs)
	p.attempt = max(attempt, 0)
	if attempt < 0 {
		if q := w.e.q.get(u, key); q != nil {
			// The key has a retry waiting: this change replaces it and
			// carries on its count.
			p.attempt = q.Attempt
		}
	}
	if ch.Op == schemas.OpDelete {
		p.del, p.props, p.before = true, nil, ch.Before
		return
	}
	props, err := MapRow(w.e.cfg.Fields, w.e.names, ch.After)
	if err != nil {
		// The row cannot be written; an earlier change of the key in this
		// batch is superseded by it as it would be in the source.
		delete(w.pending, ck)
		w.park("invalid_row", err, r)
		w.dropRetry(u, key)
		return
	}
	p.del, p.props = false, props
	p.echo = w.e.echoes(ch)
}

// echoes returns the properties of a golden record whose values came from
// the sink's own system (EngineConfig.System).
func (e *Engine) echoes(ch *schemas.Change) map[string]bool {
	return Echoes(ch, e.cfg.System, e.cfg.Fields)
}

// GoldenColumn returns the text of column name of a golden record's after
// image ("" when ch is not a golden record or lacks it).
func GoldenColumn(ch *schemas.Change, name string) string {
	if ch.Table == nil || ch.Table.Source != "entity" {
		return ""
	}
	col, ok := ch.Table.Column(name)
	if !ok {
		for _, c := range ch.Table.Columns {
			if c.Name == name {
				col, ok = c, true
			}
		}
	}
	if !ok {
		return ""
	}
	raw, _ := ch.After[col.Field].(string)
	return raw
}

// FieldSource is where a golden field's value came from.
type FieldSource struct {
	Source string `json:"source"`
	Key    string `json:"key"`
}

// GoldenProvenance returns the _provenance column of a golden record by
// field (nil when ch is not one).
func GoldenProvenance(ch *schemas.Change) map[string]FieldSource {
	raw := GoldenColumn(ch, "_provenance")
	if raw == "" {
		return nil
	}
	var prov map[string]FieldSource
	if json.Unmarshal([]byte(raw), &prov) != nil {
		return nil
	}
	return prov
}

// Echoes returns the mapped fields of a golden record whose values came
// from system, by the record's _provenance column: what the system itself
// holds, not to be written back to it (two-way sync).
func Echoes(ch *schemas.Change, system string, fields map[string]Property) map[string]bool {
	if system == "" {
		return nil
	}
	prov := GoldenProvenance(ch)
	var out map[string]bool
	for name, f := range fields {
		if f.From != "" && prov[f.From].Source == system {
			if out == nil {
				out = map[string]bool{}
			}
			out[name] = true
		}
	}
	return out
}

func (w *work) ledgerOf(u state.Unit, key []byte) (*Entry, error) {
	v, err := w.e.store.Get(u, key)
	if err != nil || v == nil {
		return nil, err
	}
	var e Entry
	if err := json.Unmarshal(v, &e); err != nil {
		return nil, fmt.Errorf("ledger entry of %s/%d: %w", u.Topic, u.Partition, err)
	}
	return &e, nil
}

func (w *work) setLedger(p *pendingRec, e Entry) {
	if p.repair {
		e.Repaired = fmt.Sprintf("%d/%d", p.rec.Partition, p.rec.Offset)
	}
	b, _ := json.Marshal(e)
	w.ledger = append(w.ledger, ledgerChange{u: p.u, key: p.key, value: b})
}

// IdempotencyKey derives the key of one change: the same for every
// delivery of it (a redelivery, a retry), different for any other change.
func IdempotencyKey(topic string, key []byte, position string) string {
	h := sha256.New()
	h.Write([]byte(topic))
	h.Write([]byte{0})
	h.Write(key)
	h.Write([]byte{0})
	h.Write([]byte(position))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (w *work) write(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	kf := w.e.cfg.KeyField
	var ops []*Op
	byOp := map[*Op]*pendingRec{}
	for _, ck := range w.order {
		p := w.pending[ck]
		if p == nil {
			continue
		}
		prev := p.prev
		if prev != nil && prev.Archived {
			prev = nil
		}
		op := &Op{Prev: prev, Record: p.rec, Attempt: p.attempt, IdempotencyKey: IdempotencyKey(p.u.Topic, p.key, p.pos)}
		if p.repair {
			// Not the change's key: a provider that deduplicates by it
			// would take the repair for the change it already applied.
			op.IdempotencyKey = IdempotencyKey(p.rec.Topic, p.rec.Key, fmt.Sprint("repair@", p.rec.Offset))
		}
		if p.del {
			if prev == nil || w.e.cfg.IgnoreDeletes {
				if p.prev != nil && p.prev.Archived && !w.e.cfg.IgnoreDeletes {
					// Deleted already.
					w.skipped++
					w.setLedger(p, Entry{Pos: p.pos, Archived: true, ID: p.prev.ID})
					w.dropRetry(p.u, p.key)
					continue
				}
				if prev == nil && !w.e.cfg.IgnoreDeletes {
					op.Key, _ = MapOne(w.e.cfg.Fields[kf], p.before)
				}
				if op.Key == "" {
					// Nothing to delete, or nothing to find it by; the
					// position is kept so a replay of older changes of
					// the key stays dropped.
					if !w.e.cfg.IgnoreDeletes {
						w.notFound++
						w.e.log.Debug("delete of a record never written, and its key field is not in the before image: nothing to delete", "topic", p.u.Topic, "partition", p.u.Partition, "offset", p.rec.Offset)
					} else {
						w.skipped++
					}
					w.setLedger(p, Entry{Pos: p.pos, Archived: true, ID: idOf(prev)})
					w.dropRetry(p.u, p.key)
					continue
				}
			} else {
				op.Key = prev.Props[kf]
			}
			op.Delete = true
			ops = append(ops, op)
			byOp[op] = p
			continue
		}
		id := p.props[kf]
		if id == "" {
			w.park("invalid_row", fmt.Errorf("key field %s is empty", kf), p.rec)
			w.dropRetry(p.u, p.key)
			continue
		}
		send := map[string]string{}
		var echoed map[string]string
		for k, v := range p.props {
			if prev == nil || prev.Props[k] != v {
				if prev != nil && p.echo[k] && k != kf {
					// The provider's own value, read back: it holds it.
					if echoed == nil {
						echoed = map[string]string{}
					}
					echoed[k] = v
					continue
				}
				send[k] = v
			}
		}
		if len(echoed) > 0 {
			w.echoes += len(echoed)
			e := *prev
			e.Props = maps.Clone(prev.Props)
			maps.Copy(e.Props, echoed)
			prev = &e
			op.Prev = prev
			if len(send) == 0 {
				e.Pos = p.pos
				w.skipped++
				w.setLedger(p, e)
				w.dropRetry(p.u, p.key)
				continue
			}
		}
		if len(send) == 0 {
			w.skipped++
			if p.repair {
				// The provider holds the values already (healed
				// meanwhile): the ledger takes its object id.
				w.setLedger(p, *prev)
				continue
			}
			if p.pos != prev.Pos {
				e := *prev
				e.Pos = p.pos
				w.setLedger(p, e)
			}
			w.dropRetry(p.u, p.key)
			continue
		}
		op.Key, op.Props, op.Send = id, p.props, send
		ops = append(ops, op)
		byOp[op] = p
	}
	if len(ops) > 0 {
		if err := w.e.w.Write(ctx, ops); err != nil {
			return err
		}
	}
	for _, op := range ops {
		p := byOp[op]
		switch op.Outcome {
		case Written:
			if op.Delete {
				// The id is kept: diff finds an archived object restored
				// at the provider by it.
				w.setLedger(p, Entry{Pos: p.pos, Archived: true, ID: archivedID(op)})
				w.deleted++
			} else {
				e := Entry{ID: op.ObjectID, Props: map[string]string{}, Pos: p.pos}
				if op.Prev != nil {
					if e.ID == "" {
						e.ID = op.Prev.ID
					}
					for k, v := range op.Prev.Props {
						e.Props[k] = v
					}
				}
				for k, v := range op.Send {
					e.Props[k] = v
				}
				w.setLedger(p, e)
				w.written++
			}
			w.commitMs = append(w.commitMs, p.commitMs...)
			w.dropRetry(p.u, p.key)
		case NotFound:
			w.notFound++
			w.e.log.Debug("delete of an object the provider does not hold", "topic", p.u.Topic, "partition", p.u.Partition, "offset", p.rec.Offset, "err", op.Err)
			w.setLedger(p, Entry{Pos: p.pos, Archived: true})
			w.dropRetry(p.u, p.key)
		case Rejected:
			w.e.m.SinkErrors.WithLabelValues(w.e.cfg.Name, "permanent").Inc()
			w.park("rejected", op.Err, p.rec)
			if p.repair {
				// The ledger stays as it was: the next diff reports
				// the record again.
				continue
			}
			w.dropRetry(p.u, p.key)
		case Retry:
			if p.repair {
				// A repair is not queued; the ledger stays as it was,
				// so the next diff reports the record again.
				w.e.log.Warn("repair refused for now; run syncline diff --repair again", "topic", p.u.Topic, "partition", p.u.Partition, "err", op.Err)
				continue
			}
			w.requeue(p, op.Err)
		default:
			return fmt.Errorf("no outcome for the %s of %s %q", opName(op), w.e.cfg.KeyField, op.Key)
		}
	}
	return nil
}

func opName(op *Op) string {
	if op.Delete {
		return "delete"
	}
	return "upsert"
}

// archivedID is the object id a written delete archived.
func archivedID(op *Op) string {
	if op.Prev != nil && op.Prev.ID != "" {
		return op.Prev.ID
	}
	return op.ObjectID
}

func idOf(e *Entry) string {
	if e == nil {
		return ""
	}
	return e.ID
}

// committed records the metrics of a committed batch.
func (w *work) committed() {
	e := w.e
	e.m.SinkWrites.WithLabelValues(e.cfg.Name, "ok").Add(float64(w.written + w.deleted))
	if w.notFound > 0 {
		e.m.SinkWrites.WithLabelValues(e.cfg.Name, "not_found").Add(float64(w.notFound))
	}
	if w.queued > 0 {
		e.m.SinkWrites.WithLabelValues(e.cfg.Name, "retry").Add(float64(w.queued))
	}
	now := time.Now()
	lat := e.m.EndToEndLatency.WithLabelValues(e.cfg.Name)
	for _, ms := range w.commitMs {
		if ms > 0 {
			lat.Observe(now.Sub(time.UnixMilli(ms)).Seconds())
		}
	}
	for _, pk := range w.parked {
		e.m.SinkWrites.WithLabelValues(e.cfg.Name, "error").Inc()
		e.log.Warn("record parked in the DLQ", "reason", pk.reason, "topic", pk.rec.Topic, "partition", pk.rec.Partition, "offset", pk.rec.Offset, "err", pk.err)
	}
	if w.repairs+w.repairsSkipped > 0 {
		e.log.Info("repairs applied", "repairs", w.repairs, "skipped", w.repairsSkipped, "written", w.written, "deleted", w.deleted)
	}
	e.log.Debug("batch committed", "written", w.written, "deleted", w.deleted, "unchanged", w.skipped, "not_found", w.notFound, "retry", w.queued, "parked", len(w.parked))
}

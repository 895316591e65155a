package warehouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"syncline/internal/dlq"
	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/schemas"
)

// applyTimeout bounds one apply attempt (DDL, transaction, DLQ parking). It
// is detached from Run's context so that shutdown lets the in-flight
// transaction commit or roll back instead of cutting it mid-way.
const applyTimeout = 2 * time.Minute

// Backoff between attempts after a transient failure.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 10 * time.Second
)

// Sink delivers change topics into a Postgres warehouse. See the package
// documentation for the flow and the exactly-once argument.
type Sink struct {
	cfg          Config
	kafkaOpts    []kgo.Opt
	serde        *schemas.Serde
	dlq          *dlq.DLQ
	lag          *kafka.Lag
	m            *metrics.Metrics
	log          *slog.Logger
	pgcfg        *pgx.ConnConfig
	stage        string
	offsetsIdent string
	topics       []string
	byTopic      map[string]*target
	targets      []*target

	ready           atomic.Bool
	rebalanceWanted atomic.Bool

	// conn is the apply connection; used by the Run goroutine only.
	conn *pgx.Conn
	cl   *kgo.Client

	// mu guards stored: for every partition assigned to this process, the
	// next offset stored in the warehouse as far as this process knows
	// (-1: no row). Written by the assignment callbacks and by Run.
	mu     sync.Mutex
	stored map[partKey]int64

	// stopMu guards stopped: tables stopped by a schema change they cannot
	// follow (see evolve.go). Read by Ready from other goroutines.
	stopMu       sync.Mutex
	stopped      map[*target]*tableStop
	recheckEvery time.Duration

	// repairTopic, when set, is consumed too (see SetRepairTopic).
	repairTopic string

	// wb is the write-back table (Config.WriteBack), loaded on connect.
	wb *wbTable
}

// New validates cfg and returns a sink. Nothing is connected until Run.
// kafkaOpts carry the brokers and client settings; the sink adds its own
// consumer options. d receives undecodable and rejected records.
func New(cfg Config, kafkaOpts []kgo.Opt, serde *schemas.Serde, d *dlq.DLQ, m *metrics.Metrics, log *slog.Logger) (*Sink, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if serde == nil {
		return nil, fmt.Errorf("warehouse sink %q: no serde", cfg.Name)
	}
	if d == nil {
		return nil, fmt.Errorf("warehouse sink %q: no DLQ", cfg.Name)
	}
	pgcfg, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("warehouse sink %q: dsn: %w", cfg.Name, err)
	}
	if pgcfg.RuntimeParams == nil {
		pgcfg.RuntimeParams = map[string]string{}
	}
	if pgcfg.RuntimeParams["application_name"] == "" {
		pgcfg.RuntimeParams["application_name"] = "syncline-sink-" + cfg.Name
	}
	if m == nil {
		m = metrics.New(prometheus.NewRegistry())
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Sink{
		cfg: cfg, kafkaOpts: kafkaOpts, serde: serde, dlq: d, m: m,
		log:          log.With("sink", cfg.Name),
		pgcfg:        pgcfg,
		stage:        "sink." + cfg.Name,
		lag:          kafka.NewLag(),
		offsetsIdent: quoteIdent(cfg.Schema, offsetsName),
		byTopic:      map[string]*target{},
		stored:       map[partKey]int64{},
		stopped:      map[*target]*tableStop{},
		recheckEvery: recheckStopped,
	}
	for i, ref := range cfg.Tables {
		t := &target{ref: ref, topic: cfg.Topics[i], name: ref.Table, ident: quoteIdent(cfg.Schema, ref.Table)}
		t.forget()
		s.targets = append(s.targets, t)
		s.byTopic[t.topic] = t
		s.topics = append(s.topics, t.topic)
	}
	return s, nil
}

// Ready reports whether the sink is connected to the warehouse and
// consuming every table (none stopped by a schema change, see
// NotReadyDetail).
func (s *Sink) Ready() bool { return s.ready.Load() && !s.anyStopped() }

// Run consumes and applies until ctx is cancelled, then returns nil once
// the in-flight batch has committed or rolled back. It returns an error
// only for failures retrying cannot fix.
func (s *Sink) Run(ctx context.Context) error {
	defer s.closeConn()
	// Connect and create the offsets table before joining the group, so
	// that the first assignment can read stored offsets.
	for attempt := 0; ; attempt++ {
		err := s.connect(ctx)
		if err == nil {
			break
		}
		if classify(err) == classFatal {
			return fmt.Errorf("warehouse sink %q: %w", s.cfg.Name, err)
		}
		s.log.Warn("cannot connect to or prepare the warehouse; retrying", "err", err)
		if !sleep(ctx, backoff(attempt)) {
			return nil
		}
	}
	stopPruner := s.startAuditPruner(ctx)
	defer stopPruner()
	opts := append([]kgo.Opt{}, s.kafkaOpts...)
	if s.cfg.InstanceID != "" {
		// Static membership: a restarted process replaces its predecessor
		// in the group at once.
		opts = append(opts, kgo.InstanceID(s.cfg.GroupID+"-"+s.cfg.InstanceID))
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumeTopics(s.topics...),
		kgo.ConsumerGroup(s.cfg.GroupID),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(s.onFetchedOffsets),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onRevoked),
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) { s.rebalanceWanted.Store(true) }),
	)...)
	if err != nil {
		return fmt.Errorf("warehouse sink %q: kafka client: %w", s.cfg.Name, err)
	}
	s.cl = cl
	defer func() {
		s.ready.Store(false)
		cl.AllowRebalance()
		cl.Close() // leaves the group; onRevoked only forgets partitions
	}()
	s.ready.Store(true)
	s.log.Info("warehouse sink started", "group", s.cfg.GroupID, "topics", s.topics, "schema", s.cfg.Schema)

	needResync := false
	failures := 0
	for ctx.Err() == nil {
		if needResync {
			// Hold off rebalances while re-seeking (a poll with a
			// cancelled context only takes the rebalance block).
			done, cancel := context.WithCancel(ctx)
			cancel()
			cl.PollRecords(done, 1)
			err := s.resync(ctx)
			cl.AllowRebalance()
			s.rebalanceWanted.Store(false)
			if err != nil {
				if classify(err) == classFatal {
					return fmt.Errorf("warehouse sink %q: %w", s.cfg.Name, err)
				}
				s.failed(err)
				if !sleep(ctx, backoff(failures)) {
					return nil
				}
				failures++
				continue
			}
			needResync = false
			continue
		}
		if s.anyStopped() && s.recheckStoppedTables(ctx) {
			needResync = true
			continue
		}
		recs := s.collect(ctx)
		if len(recs) == 0 {
			cl.AllowRebalance()
			s.rebalanceWanted.Store(false)
			continue
		}
		err := s.process(ctx, recs)
		cl.AllowRebalance()
		s.rebalanceWanted.Store(false)
		if err == nil {
			failures = 0
			s.ready.Store(true)
			continue
		}
		if classify(err) == classFatal {
			return fmt.Errorf("warehouse sink %q: %w", s.cfg.Name, err)
		}
		// The batch rolled back: nothing of it is in the warehouse. Re-seek
		// its partitions to what is stored and go again.
		needResync = true
		if errors.Is(err, errTableStopped) {
			continue // again at once, without the stopped table
		}
		if errors.Is(err, errFenced) {
			s.log.Info("stored offsets differ from this process's view; re-seeking", "err", err)
			continue
		}
		s.failed(err)
		if !sleep(ctx, backoff(failures)) {
			return nil
		}
		failures++
	}
	return nil
}

func (s *Sink) failed(err error) {
	s.m.SinkErrors.WithLabelValues(s.cfg.Name, "retryable").Inc()
	s.log.Warn("warehouse error; the batch (if any) rolled back, will re-seek to the stored offsets and retry", "err", err)
	if classify(err) == classDrift {
		for _, t := range s.targets {
			t.forget()
		}
	}
	s.closeConn()
	s.ready.Store(false)
}

// batchLinger is how long collect waits for more records once a batch has
// some.
const batchLinger = 10 * time.Millisecond

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// collect polls one batch: up to BatchSize records, for at most BatchTimeout
// after the first one, cut short when a rebalance is waiting, when nothing
// more arrives within batchLinger, or when ctx ends.
// The rebalance block is held from the first poll that returned.
func (s *Sink) collect(ctx context.Context) []*kgo.Record {
	var recs []*kgo.Record
	var deadline time.Time
	for len(recs) < s.cfg.BatchSize {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if deadline.IsZero() && s.anyStopped() {
			// Do not wait for records past the next check of the
			// stopped tables.
			pctx, cancel = context.WithTimeout(ctx, s.recheckEvery)
		}
		if !deadline.IsZero() {
			// After the first records, only take what arrives within a
			// short linger: batches fill up during a catch-up, and light
			// traffic is applied at once.
			pctx, cancel = context.WithDeadline(ctx, minTime(deadline, time.Now().Add(batchLinger)))
		}
		want := s.cfg.BatchSize - len(recs)
		fs := s.cl.PollRecords(pctx, want)
		cancel()
		if fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			s.log.Warn("fetch error", "topic", topic, "partition", partition, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if fs.NumRecords() > 0 {
			s.m.ConsumerLag.WithLabelValues(s.stage).Set(float64(s.lag.Observe(fs)))
		}
		if ctx.Err() != nil {
			// Shutting down: a batch not yet applied is simply not
			// applied; its records are read again next time.
			return nil
		}
		if len(recs) == 0 {
			// Only errors: return, so that Run releases the rebalance
			// block this poll took (the next poll would keep holding it
			// for as long as no record arrives), and do not spin.
			sleep(ctx, backoffMin)
			return nil
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(s.cfg.BatchTimeout)
		}
		if s.rebalanceWanted.Load() || (!deadline.IsZero() && !time.Now().Before(deadline)) {
			break
		}
		if fs.NumRecords() == 0 && len(recs) > 0 {
			break // nothing more arrived within the linger
		}
	}
	return recs
}

// process applies one batch: decode and collapse, create or alter tables,
// then one transaction; on a permanent row error, once more row by row.
func (s *Sink) process(ctx context.Context, recs []*kgo.Record) error {
	// Records of stopped tables are not applied and their offsets not
	// stored (their topics are paused; these were buffered before).
	if recs = s.withoutStopped(recs); len(recs) == 0 {
		return nil
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), applyTimeout)
	defer cancel()
	p, err := s.buildPlan(actx, recs)
	if err != nil {
		return err
	}
	if err := s.connect(actx); err != nil {
		return err
	}
	if s.cfg.WriteBack != nil {
		res, err := s.applyWriteBack(actx, p, false)
		if err != nil && classify(err) == classRow {
			s.log.Warn("the database rejected a written-back value; writing the batch row by row to isolate it", "err", err)
			res, err = s.applyWriteBack(actx, p, true)
		}
		if err != nil {
			return err
		}
		s.committed(p, res)
		return nil
	}
	stopped := false
	for _, u := range p.tables {
		if stopped && s.isStopped(u.tgt) {
			continue
		}
		if err := s.ensureTable(actx, s.conn, u.tgt, u.table); err != nil {
			var ie *incompatibleError
			if !errors.As(err, &ie) {
				return err
			}
			s.stopTable(u.tgt, u.table, ie)
			stopped = true
		}
	}
	if stopped {
		return errTableStopped
	}
	for _, tp := range p.targets {
		if tp.truncate && tp.tgt.types == nil {
			// Truncating a table that was never created is a no-op.
			cols, err := loadColumns(actx, s.conn, tp.tgt.ident)
			if err != nil {
				return err
			}
			tp.truncate = cols != nil
		}
	}
	res, err := s.applyTx(actx, p, false)
	if err != nil && classify(err) == classRow {
		s.log.Warn("the warehouse rejected a row; applying the batch row by row to isolate it", "err", err)
		res, err = s.applyTx(actx, p, true)
	}
	if err != nil {
		return err
	}
	s.committed(p, res)
	return nil
}

type applyResult struct {
	rows     int64
	rejected []parkedRec
}

// applyTx runs the batch's transaction. With isolate, every row op runs in
// its own savepoint and rows the database rejects are parked instead.
func (s *Sink) applyTx(ctx context.Context, p *plan, isolate bool) (applyResult, error) {
	var res applyResult
	tx, err := s.beginBatch(ctx, p)
	if err != nil {
		return res, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for _, tp := range p.targets {
		if tp.truncate {
			if _, err := tx.Exec(ctx, "TRUNCATE "+tp.tgt.ident); err != nil {
				return res, fmt.Errorf("truncate %s.%s: %w", s.cfg.Schema, tp.tgt.name, err)
			}
			if err := s.auditTruncate(ctx, tx, tp); err != nil {
				return res, err
			}
		}
		if !isolate {
			groups := map[string][]*rowOp{}
			var order []string
			for _, o := range tp.ops {
				sig := o.signature()
				if _, ok := groups[sig]; !ok {
					order = append(order, sig)
				}
				groups[sig] = append(groups[sig], o)
			}
			// Deletes first: keys are unique in a plan, so the order only
			// matters for lock order, and a fixed one avoids deadlocks
			// between sink processes.
			sort.SliceStable(order, func(i, j int) bool { return order[i][0] < order[j][0] })
			for _, sig := range order {
				n, err := s.execOps(ctx, tx, tp.tgt, groups[sig])
				if err != nil {
					return res, err
				}
				res.rows += n
			}
			continue
		}
		for _, o := range tp.ops {
			if _, err := tx.Exec(ctx, "SAVEPOINT row_op"); err != nil {
				return res, err
			}
			n, err := s.execOps(ctx, tx, tp.tgt, []*rowOp{o})
			if err != nil {
				if classify(err) != classRow {
					return res, err
				}
				if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT row_op"); rerr != nil {
					return res, rerr
				}
				res.rejected = append(res.rejected, parkedRec{rec: o.rec, reason: "rejected", kind: "permanent", err: err})
				continue
			}
			if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT row_op"); err != nil {
				return res, err
			}
			res.rows += n
		}
	}
	return res, s.parkAndCommit(ctx, tx, p.parked, res.rejected)
}

// committed records a committed batch: the new stored offsets, metrics, and
// a Kafka offset commit that only serves as a lag hint for tooling.
func (s *Sink) committed(p *plan, res applyResult) {
	s.mu.Lock()
	for pk, n := range p.next {
		if _, ok := s.stored[pk]; ok {
			s.stored[pk] = n
		}
	}
	s.mu.Unlock()
	s.m.SinkWrites.WithLabelValues(s.cfg.Name, "ok").Add(float64(res.rows))
	now := time.Now()
	lat := s.m.EndToEndLatency.WithLabelValues(s.cfg.Name)
	for _, ms := range p.commitMs {
		lat.Observe(now.Sub(time.UnixMilli(ms)).Seconds())
	}
	for _, pr := range append(append([]parkedRec{}, p.parked...), res.rejected...) {
		s.m.SinkErrors.WithLabelValues(s.cfg.Name, pr.kind).Inc()
		if pr.kind == "permanent" {
			s.m.SinkWrites.WithLabelValues(s.cfg.Name, "error").Inc()
		}
		s.log.Warn("record parked in the DLQ", "reason", pr.reason, "topic", pr.rec.Topic,
			"partition", pr.rec.Partition, "offset", pr.rec.Offset, "err", pr.err)
	}
	hint := map[string]map[int32]kgo.EpochOffset{}
	for pk, n := range p.next {
		if hint[pk.topic] == nil {
			hint[pk.topic] = map[int32]kgo.EpochOffset{}
		}
		hint[pk.topic][pk.partition] = kgo.EpochOffset{Epoch: p.epochs[pk], Offset: n}
	}
	// Its own deadline: the commit completes asynchronously, after ctx (the
	// batch's) is gone.
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	s.cl.CommitOffsets(cctx, hint, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
		ccancel()
		if err != nil {
			s.log.Debug("kafka offset commit (lag hint) failed", "err", err)
		}
	})
	s.log.Debug("batch committed", "records", p.records, "rows", res.rows, "parked", len(p.parked)+len(res.rejected))
}

// resync re-reads the stored offsets of every partition this process holds
// and moves the consumer there. Called with the rebalance block held.
func (s *Sink) resync(ctx context.Context) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), applyTimeout)
	defer cancel()
	if err := s.connect(actx); err != nil {
		return err
	}
	stored, err := s.readOffsets(actx, s.conn, s.topics)
	if err != nil {
		return err
	}
	set := map[string]map[int32]kgo.EpochOffset{}
	s.mu.Lock()
	for pk := range s.stored {
		n, ok := stored[pk]
		s.stored[pk] = -1
		at := int64(0) // no row: from the beginning (reset to the log start if 0 is gone)
		if ok {
			s.stored[pk] = n
			at = n
		}
		if set[pk.topic] == nil {
			set[pk.topic] = map[int32]kgo.EpochOffset{}
		}
		set[pk.topic][pk.partition] = kgo.EpochOffset{Epoch: -1, Offset: at}
	}
	s.mu.Unlock()
	s.cl.SetOffsets(set)
	s.ready.Store(true)
	s.log.Info("re-seeked to the offsets stored in the warehouse", "partitions", len(set))
	return nil
}

// onFetchedOffsets replaces the offsets the group fetched from Kafka with
// the ones stored in the warehouse, the source of truth. It runs on the
// group's goroutine before fetching starts for newly assigned partitions,
// and waits for the warehouse if it is down (ctx ends if the session is
// revoked meanwhile).
func (s *Sink) onFetchedOffsets(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	var stored map[partKey]int64
	for attempt := 0; ; attempt++ {
		var err error
		stored, err = s.readOffsetsFresh(ctx)
		if err == nil {
			break
		}
		s.log.Warn("cannot read stored offsets for the new assignment; retrying", "err", err)
		if !sleep(ctx, backoff(attempt)) {
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var assigned []string
	for topic, parts := range offsets {
		for p := range parts {
			pk := partKey{topic, p}
			n, ok := stored[pk]
			if ok {
				parts[p] = kgo.NewOffset().At(n)
				s.stored[pk] = n
			} else {
				// From the beginning. An explicit 0 (not AtStart) keeps the
				// partition eligible for SetOffsets before its first poll;
				// if 0 was deleted by retention, the reset goes to the start.
				parts[p] = kgo.NewOffset().At(0)
				s.stored[pk] = -1
			}
			assigned = append(assigned, fmt.Sprintf("%s/%d@%d", topic, p, parts[p].EpochOffset().Offset))
		}
	}
	sort.Strings(assigned)
	s.log.Info("partitions assigned; starting at the offsets stored in the warehouse", "partitions", assigned)
	return offsets, nil
}

// readOffsetsFresh reads the stored offsets on a connection of its own (the
// assignment callback runs concurrently with Run).
func (s *Sink) readOffsetsFresh(ctx context.Context) (map[partKey]int64, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, s.pgcfg.Copy())
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(cctx))
	return s.readOffsets(cctx, conn, s.topics)
}

// onRevoked forgets partitions given up (revoked or lost). With
// BlockRebalanceOnPoll it never runs while a batch is in flight.
func (s *Sink) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	s.m.ConsumerLag.WithLabelValues(s.stage).Set(float64(s.lag.Forget(revoked)))
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, parts := range revoked {
		for _, p := range parts {
			delete(s.stored, partKey{topic, p})
		}
	}
}

// connect makes sure the apply connection is open and the offsets table
// exists.
func (s *Sink) connect(ctx context.Context) error {
	if s.conn != nil && !s.conn.IsClosed() {
		return nil
	}
	s.closeConn()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, s.pgcfg.Copy())
	if err != nil {
		return fmt.Errorf("connect to the warehouse: %w", err)
	}
	if err := s.ensureOffsetsTable(cctx, conn); err != nil {
		conn.Close(context.WithoutCancel(cctx))
		return err
	}
	if s.cfg.WriteBack != nil {
		if err := s.prepareWriteBack(cctx, conn); err != nil {
			conn.Close(context.WithoutCancel(cctx))
			return err
		}
	}
	s.conn = conn
	return nil
}

func (s *Sink) closeConn() {
	if s.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.conn.Close(ctx)
		cancel()
		s.conn = nil
	}
}

func backoff(attempt int) time.Duration {
	d := backoffMin
	for i := 0; i < attempt && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// parkAndCommit parks the batch's invalid and rejected records, then
// commits tx. Parking comes first: if the commit fails, the retry parks
// again (the DLQ is at-least-once); if parking fails, nothing is
// committed and nothing is lost.
func (s *Sink) parkAndCommit(ctx context.Context, tx pgx.Tx, parked, rejected []parkedRec) error {
	for _, pr := range append(append([]parkedRec{}, parked...), rejected...) {
		if err := s.dlq.Park(ctx, s.stage, pr.reason, pr.err, pr.rec); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// beginBatch opens a batch's transaction and claims its offsets in it
// (the fence against a second process); the caller rolls it back.
func (s *Sink) beginBatch(ctx context.Context, p *plan) (pgx.Tx, error) {
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	if err := s.claimOffsets(ctx, tx, p.next); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, err
	}
	return tx, nil
}

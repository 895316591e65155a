// Package hubspot is a sink that upserts change records into HubSpot CRM
// objects, exactly once in effect.
//
// It consumes change topics read_committed in a consumer group through a
// franz-go GroupTransactSession. Each polled batch (up to 10 × batch_size
// records collected for at most batch_timeout) is mapped to properties
// (Config.Properties: rename, normalizer, default, required) and compared
// with the ledger: per record key, the provider's object id and the last
// value written per property. Only properties whose value differs are
// sent, in batch upserts by id_property of at most batch_size inputs; a
// record whose properties all equal the ledger's sends nothing, so a
// redelivered, replayed or re-backfilled change makes no call. Deletes
// archive the ledger's object id (delete_mode archive) or are ignored.
//
// The ledger lives in Badger as a cache of a compacted changelog topic
// (package transform/state), one unit per input partition, restored when a
// partition is assigned. The API calls happen first; then the ledger
// changes, the DLQ records of rejected rows and the consumed offsets are
// committed in one Kafka transaction, and only then applied to Badger. A
// crash after the API call and before the commit leaves the offsets and the
// ledger where they were: the records are consumed again and the same
// upserts are sent again, which HubSpot applies as updates of the objects
// the first attempt created (the upsert matches on id_property), so no
// object is created twice. A crash after the commit and before Badger is
// repaired by the restore.
//
// Rows the mapping refuses (a required value missing, a normalizer
// refusing a value) and inputs HubSpot refuses as invalid (400 on a single
// input, after bisecting a refused batch, or the errors of a 207
// Multi-Status) are parked in the DLQ with the reason. 429 and 5xx are
// retried with backoff (Retry-After and the X-HubSpot-RateLimit-* headers
// honoured, capture/saas's client); a call that still fails fails the
// batch, which is retried from the committed offsets.
package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/capture/saas"
	"syncline/internal/dlq"
	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/retry"
	"syncline/internal/topics"
	"syncline/schemas"
	"syncline/transform/state"
)

// Sink writes change topics to HubSpot.
type Sink struct {
	cfg       Config
	kafkaOpts []kgo.Opt
	serde     *schemas.Serde
	m         *metrics.Metrics
	log       *slog.Logger
	http      *saas.HTTPClient
	store     *state.Store
	names     []string
	stage     string
	changelog string
	lag       *kafka.Lag
	ready     atomic.Bool

	units   *state.Units
	clParts int

	// beforeCommit, when set (tests), runs after the API calls of a batch
	// and before its transaction ends; an error fails the batch.
	beforeCommit func() error
}

// Stage is the sink's stage name in the DLQ and changelog: sink.<name>.
func (s *Sink) Stage() string { return s.stage }

// New validates cfg, opens the ledger store and returns the sink.
func New(cfg Config, kafkaOpts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*Sink, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if serde == nil {
		return nil, fmt.Errorf("hubspot sink %q: no serde", cfg.Name)
	}
	if m == nil {
		m = metrics.New(prometheus.NewRegistry())
	}
	if log == nil {
		log = slog.Default()
	}
	st, err := state.Open(cfg.StateDir, cfg.StateKey)
	if err != nil {
		return nil, fmt.Errorf("hubspot sink %q: %w", cfg.Name, err)
	}
	hc := saas.NewHTTPClient(saas.Config{
		Auth: saas.Auth{Type: "bearer", Token: cfg.Token},
		RateLimit: saas.RateLimit{
			RequestsPerSecond: cfg.RequestsPerSecond, Burst: cfg.Burst, MaxConcurrent: 1,
			RemainingHeader: "X-HubSpot-RateLimit-Remaining", ResetHeader: "X-HubSpot-RateLimit-Interval-Milliseconds",
		},
		Retry:          saas.Retry{MaxAttempts: cfg.MaxAttempts, InitialBackoff: cfg.InitialBackoff, MaxBackoff: cfg.MaxBackoff},
		RequestTimeout: cfg.RequestTimeout,
	}, log.With("sink", cfg.Name))
	stage := "sink." + cfg.Name
	return &Sink{
		cfg: cfg, kafkaOpts: kafkaOpts, serde: serde, m: m, log: log.With("sink", cfg.Name), http: hc, store: st,
		names: sortedNames(cfg.Properties), stage: stage, changelog: topics.State(cfg.TopicPrefix, stage),
		lag: kafka.NewLag(), units: state.NewUnits(),
	}, nil
}

// Ready reports whether the sink is consuming.
func (s *Sink) Ready() bool { return s.ready.Load() }

// Run consumes and writes until ctx is done; the batch in progress then
// commits or aborts, and the ledger store is closed.
func (s *Sink) Run(ctx context.Context) error {
	defer s.store.Close()
	dlqTopic := topics.DLQ(s.cfg.TopicPrefix)
	{
		cl, err := kgo.NewClient(s.kafkaOpts...)
		if err != nil {
			return err
		}
		adm := kadm.NewClient(cl)
		err = kafka.EnsureTopics(ctx, adm,
			kafka.TopicSpec{Name: s.changelog, Partitions: s.cfg.Partitions, RF: s.cfg.RF, Compact: true},
			kafka.TopicSpec{Name: dlqTopic, Partitions: 1, RF: s.cfg.RF})
		if err == nil {
			s.clParts, err = kafka.Partitions(ctx, adm, s.changelog)
		}
		cl.Close()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("hubspot sink %q: %w", s.cfg.Name, err)
		}
	}
	group := "syncline-sink-" + s.cfg.Name
	sess, err := kgo.NewGroupTransactSession(append(append([]kgo.Opt{}, s.kafkaOpts...),
		kgo.ConsumeTopics(s.cfg.Topics...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.TransactionalID(group+"-"+s.cfg.InstanceID),
		kgo.InstanceID(group+"-"+s.cfg.InstanceID),
		kgo.TransactionTimeout(s.cfg.TxnTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.OnPartitionsAssigned(s.units.Assign),
		kgo.OnPartitionsRevoked(s.forget),
		kgo.OnPartitionsLost(s.forget),
	)...)
	if err != nil {
		return fmt.Errorf("hubspot sink %q: kafka client: %w", s.cfg.Name, err)
	}
	defer sess.Close()
	d := dlq.New(dlqTopic, sess.Client(), s.m)
	s.ready.Store(true)
	defer s.ready.Store(false)
	s.log.Info("hubspot sink started", "group", group, "topics", s.cfg.Topics, "object_type", s.cfg.ObjectType)
	failures := 0
	for ctx.Err() == nil {
		fs := s.poll(ctx, sess)
		if ctx.Err() != nil {
			// Records polled but not committed are read again on restart.
			return nil
		}
		if fs.NumRecords() == 0 {
			continue
		}
		s.m.ConsumerLag.WithLabelValues(s.stage).Set(float64(s.lag.Observe(fs)))
		err := s.batch(ctx, sess, d, fs)
		if err == nil {
			failures = 0
			continue
		}
		s.markAllStale()
		if ctx.Err() != nil {
			return nil
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return fmt.Errorf("hubspot sink %q: %w", s.cfg.Name, err)
		}
		// Refused credentials or an unknown object type do not heal by
		// retrying: stop with what to check, as the warehouse sink does on
		// access errors (nothing is lost: the offsets did not move).
		var he *saas.HTTPError
		if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden || he.Status == http.StatusNotFound) {
			return fmt.Errorf("hubspot sink %q: %w (check sinks[].hubspot.token, its scopes (crm.objects.%s.write) and object_type)", s.cfg.Name, err, s.cfg.ObjectType)
		}
		s.m.SinkErrors.WithLabelValues(s.cfg.Name, "retryable").Inc()
		s.log.Error("batch failed; retrying from the committed offsets", "err", err)
		retry.Sleep(ctx, retry.Delay(failures))
		failures++
	}
	return nil
}

// shutdownGrace is how long a batch in flight may take to finish once the
// sink is asked to stop.
const shutdownGrace = 10 * time.Second

type fatalError struct{ error }

func (e fatalError) Unwrap() error { return e.error }

// poll collects up to 10 × batch_size records for at most batch_timeout
// after the first one.
func (s *Sink) poll(ctx context.Context, sess *kgo.GroupTransactSession) kgo.Fetches {
	return kafka.PollBatch(ctx, sess.PollRecords, 10*s.cfg.BatchSize, s.cfg.BatchTimeout, s.log)
}

// batch writes one batch and commits it; an error means nothing of it
// committed.
func (s *Sink) batch(ctx context.Context, sess *kgo.GroupTransactSession, d *dlq.DLQ, fs kgo.Fetches) error {
	var units []state.Unit
	seen := map[state.Unit]bool{}
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		u := state.Unit{Topic: p.Topic, Partition: p.Partition}
		if len(p.Records) > 0 && !seen[u] {
			seen[u] = true
			units = append(units, u)
		}
	})
	for _, u := range units {
		if err := s.ensureFresh(ctx, u); err != nil {
			abort(ctx, sess)
			return err
		}
	}
	// A shutdown gives the batch shutdownGrace to finish; past that (a
	// rate-limit or 5xx storm) its calls stop and it aborts: nothing is
	// committed, and the next run re-sends the same idempotent upserts.
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer wcancel()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(shutdownGrace, wcancel) })
	defer stopGrace()
	w := &work{s: s, pending: map[string]*pendingRec{}}
	fs.EachRecord(w.add)
	if err := w.write(wctx); err != nil {
		abort(ctx, sess)
		return err
	}
	if s.beforeCommit != nil {
		if err := s.beforeCommit(); err != nil {
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
	produce := func(r *kgo.Record, onOK func(*kgo.Record)) {
		cl.Produce(wctx, r, func(r *kgo.Record, err error) {
			pmu.Lock()
			defer pmu.Unlock()
			if err != nil && perr == nil {
				perr = err
			}
			if err == nil && onOK != nil {
				onOK(r)
			}
		})
	}
	for _, ch := range w.ledger {
		ck := ch.u.Key(ch.key)
		batch.PutRaw(ck, ch.value)
		u := ch.u
		produce(&kgo.Record{Topic: s.changelog, Partition: state.ChangelogPartition(u, s.clParts), Key: ck, Value: ch.value}, func(r *kgo.Record) {
			if r.Offset > clOffsets[u] {
				clOffsets[u] = r.Offset
			}
		})
	}
	for _, pk := range w.parked {
		dr := d.Record(s.stage, pk.reason, pk.err, pk.rec)
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
		// (by whoever owns them), and their upserts resent idempotently.
		s.markAllStale()
		return nil
	}
	for u, off := range clOffsets {
		batch.Offset(u, off+1)
	}
	if err := s.store.Apply(batch); err != nil {
		s.markAllStale()
		s.log.Error("apply ledger failed; will restore from the changelog", "err", err)
	}
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

func (s *Sink) forget(_ context.Context, _ *kgo.Client, rs map[string][]int32) {
	s.m.ConsumerLag.WithLabelValues(s.stage).Set(float64(s.lag.Forget(rs)))
	s.units.Forget(rs)
}

func (s *Sink) markAllStale() { s.units.MarkAllStale() }

func (s *Sink) ensureFresh(ctx context.Context, u state.Unit) error {
	n, err := s.units.EnsureFresh(ctx, s.store, s.kafkaOpts, s.changelog, s.clParts, u)
	if err != nil {
		return fmt.Errorf("restore ledger of %s/%d: %w", u.Topic, u.Partition, err)
	}
	if n > 0 {
		s.log.Info("ledger restored from changelog", "topic", u.Topic, "partition", u.Partition, "records", n)
	}
	return nil
}

// entry is a ledger value: the object's id and the last value written per
// property.
type entry struct {
	ID    string            `json:"id,omitempty"`
	Props map[string]string `json:"p,omitempty"`
	// Pos is the source position of the last change applied; older or
	// equal ones (replays) are dropped.
	Pos string `json:"pos"`
	// Archived: the record was deleted (and its object archived).
	Archived bool `json:"archived,omitempty"`
}

type pendingRec struct {
	prev     *entry
	pos      string
	u        state.Unit
	key      []byte
	rec      *kgo.Record
	del      bool
	props    map[string]string
	commitMs []int64
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
	s       *Sink
	order   []string
	pending map[string]*pendingRec
	parked  []parkedRec
	ledger  []ledgerChange

	written, archived, skipped, replays int
	err                                 error // of reading the ledger
	commitMs                            []int64
}

func (w *work) park(reason string, err error, r *kgo.Record) {
	w.parked = append(w.parked, parkedRec{reason: reason, err: err, rec: r})
}

func (w *work) add(r *kgo.Record) {
	u := state.Unit{Topic: r.Topic, Partition: r.Partition}
	ch, err := w.s.serde.Decode(context.Background(), r.Key, r.Value)
	if err != nil {
		w.s.m.SinkErrors.WithLabelValues(w.s.cfg.Name, "decode").Inc()
		w.park("undecodable", err, r)
		return
	}
	if ch.Op == schemas.OpTruncate {
		w.s.log.Warn("truncate ignored: a HubSpot sink does not archive every object of a table", "topic", r.Topic)
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
		return
	}
	if w.pending[ck] == nil {
		w.pending[ck] = p
		w.order = append(w.order, ck)
	}
	p.pos = ch.Source.Position
	p.rec = r
	p.commitMs = append(p.commitMs, ch.Source.CommitMs)
	if ch.Op == schemas.OpDelete {
		p.del, p.props = true, nil
		return
	}
	props, err := mapRow(w.s.cfg.Properties, w.s.names, ch.After)
	if err != nil {
		// The row cannot be written; an earlier change of the key in this
		// batch is superseded by it as it would be in the source.
		delete(w.pending, ck)
		w.park("invalid_row", err, r)
		return
	}
	p.del, p.props = false, props
}

func (w *work) ledgerOf(u state.Unit, key []byte) (*entry, error) {
	v, err := w.s.store.Get(u, key)
	if err != nil || v == nil {
		return nil, err
	}
	var e entry
	if err := json.Unmarshal(v, &e); err != nil {
		return nil, fmt.Errorf("ledger entry of %s/%d: %w", u.Topic, u.Partition, err)
	}
	return &e, nil
}

// input is one upsert input with the record it comes from.
type input struct {
	p      *pendingRec
	prev   *entry
	id     string
	send   map[string]string
	result string // object id, once written
}

func (w *work) setLedger(p *pendingRec, e entry) {
	b, _ := json.Marshal(e)
	w.ledger = append(w.ledger, ledgerChange{u: p.u, key: p.key, value: b})
}

func idOf(e *entry) string {
	if e == nil {
		return ""
	}
	return e.ID
}

func (w *work) write(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	idp := w.s.cfg.IDProperty
	var ups []*input
	var archives []*pendingRec
	var archIDs []string
	done := map[string]bool{}
	for _, ck := range w.order {
		p := w.pending[ck]
		if p == nil || done[ck] {
			continue
		}
		done[ck] = true
		prev := p.prev
		if prev != nil && prev.Archived {
			prev = nil
		}
		if p.del {
			if prev == nil || w.s.cfg.DeleteMode == DeleteIgnore {
				// Nothing to archive; the position is kept so a replay
				// of older changes of the key stays dropped.
				w.skipped++
				w.setLedger(p, entry{Pos: p.pos, Archived: true, ID: idOf(prev)})
				continue
			}
			archives = append(archives, p)
			archIDs = append(archIDs, prev.ID)
			continue
		}
		id := p.props[idp]
		if id == "" {
			w.park("invalid_row", fmt.Errorf("id_property %s is empty", idp), p.rec)
			continue
		}
		send := map[string]string{}
		for k, v := range p.props {
			if prev == nil || prev.Props[k] != v {
				send[k] = v
			}
		}
		if prev != nil && prev.Props[idp] != id {
			// The unique property changed: upsert by the old value, which
			// is the object's, setting the new one.
			id = prev.Props[idp]
		}
		if len(send) > 0 {
			// Always sent: HubSpot's results then carry it, which is how
			// they are matched to the inputs.
			send[idp] = p.props[idp]
		}
		if len(send) == 0 {
			w.skipped++
			if p.pos != prev.Pos {
				e := *prev
				e.Pos = p.pos
				w.setLedger(p, e)
			}
			continue
		}
		ups = append(ups, &input{p: p, prev: prev, id: id, send: send})
	}
	for i := 0; i < len(ups); i += w.s.cfg.BatchSize {
		if err := w.upsert(ctx, ups[i:min(i+w.s.cfg.BatchSize, len(ups))]); err != nil {
			return err
		}
	}
	for i := 0; i < len(archives); i += w.s.cfg.BatchSize {
		j := min(i+w.s.cfg.BatchSize, len(archives))
		if err := w.archive(ctx, archIDs[i:j]); err != nil {
			return err
		}
		for _, p := range archives[i:j] {
			w.setLedger(p, entry{Pos: p.pos, Archived: true})
			w.archived++
			w.commitMs = append(w.commitMs, p.commitMs...)
		}
	}
	for _, in := range ups {
		if in.result == "" {
			continue
		}
		e := entry{ID: in.result, Props: map[string]string{}, Pos: in.p.pos}
		if in.prev != nil {
			for k, v := range in.prev.Props {
				e.Props[k] = v
			}
		}
		for k, v := range in.send {
			e.Props[k] = v
		}
		w.setLedger(in.p, e)
		w.written++
		w.commitMs = append(w.commitMs, in.p.commitMs...)
	}
	return nil
}

func (w *work) url(action string) string {
	return w.s.cfg.BaseURL + "/crm/v3/objects/" + w.s.cfg.ObjectType + "/batch/" + action
}

func (w *work) call(ctx context.Context, endpoint string, body []byte) (any, error) {
	_, v, err := w.s.http.Do(ctx, http.MethodPost, w.url(endpoint), body)
	res := "ok"
	if err != nil {
		res = "error"
	}
	w.s.m.SinkAPICalls.WithLabelValues(w.s.cfg.Name, endpoint, res).Inc()
	return v, err
}

// upsert sends one batch. A 400 (HubSpot refuses the whole batch when one
// input is invalid) is bisected down to the invalid inputs, which are
// parked.
func (w *work) upsert(ctx context.Context, ins []*input) error {
	type jin struct {
		IDProperty string            `json:"idProperty"`
		ID         string            `json:"id"`
		Properties map[string]string `json:"properties"`
	}
	req := struct {
		Inputs []jin `json:"inputs"`
	}{}
	for _, in := range ins {
		req.Inputs = append(req.Inputs, jin{IDProperty: w.s.cfg.IDProperty, ID: in.id, Properties: in.send})
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	v, err := w.call(ctx, "upsert", body)
	var he *saas.HTTPError
	if errors.As(err, &he) && he.Status == http.StatusBadRequest {
		if len(ins) == 1 {
			w.s.m.SinkErrors.WithLabelValues(w.s.cfg.Name, "permanent").Inc()
			w.park("rejected", fmt.Errorf("HubSpot refused the upsert of %s %s: %s", w.s.cfg.IDProperty, ins[0].id, he.Body), ins[0].p.rec)
			return nil
		}
		h := len(ins) / 2
		if err := w.upsert(ctx, ins[:h]); err != nil {
			return err
		}
		return w.upsert(ctx, ins[h:])
	}
	if err != nil {
		return err
	}
	resp, _ := v.(map[string]any)
	byID := map[string]*input{}
	for _, in := range ins {
		byID[w.norm(in.id)] = in
		if nv := in.send[w.s.cfg.IDProperty]; nv != "" {
			byID[w.norm(nv)] = in
		}
	}
	results, _ := resp["results"].([]any)
	for _, r := range results {
		m, _ := r.(map[string]any)
		props, _ := m["properties"].(map[string]any)
		id, _ := m["id"].(string)
		key, _ := props[w.s.cfg.IDProperty].(string)
		if in := byID[w.norm(key)]; in != nil && id != "" {
			in.result = id
		}
	}
	errs, _ := resp["errors"].([]any)
	for _, e := range errs {
		m, _ := e.(map[string]any)
		msg, _ := m["message"].(string)
		ctxm, _ := m["context"].(map[string]any)
		ids, _ := ctxm["ids"].([]any)
		for _, x := range ids {
			s, _ := x.(string)
			if in := byID[w.norm(s)]; in != nil && in.result == "" {
				in.result = "-" // handled
				w.s.m.SinkErrors.WithLabelValues(w.s.cfg.Name, "permanent").Inc()
				w.park("rejected", fmt.Errorf("HubSpot refused the upsert of %s %s: %s", w.s.cfg.IDProperty, in.id, msg), in.p.rec)
			}
		}
	}
	var msgs []string
	for _, e := range errs {
		m, _ := e.(map[string]any)
		if msg, _ := m["message"].(string); msg != "" {
			msgs = append(msgs, msg)
		}
	}
	for _, in := range ins {
		switch {
		case in.result == "-":
			in.result = ""
		case in.result == "" && len(errs) > 0:
			// A multi-status answer whose errors do not name the input:
			// it was not written, and retrying the same input would fail
			// the same way.
			w.s.m.SinkErrors.WithLabelValues(w.s.cfg.Name, "permanent").Inc()
			w.park("rejected", fmt.Errorf("HubSpot did not write %s %s: %s", w.s.cfg.IDProperty, in.id, strings.Join(msgs, "; ")), in.p.rec)
		case in.result == "":
			return fmt.Errorf("upsert answer has no result for %s %s", w.s.cfg.IDProperty, in.id)
		}
	}
	return nil
}

func (w *work) norm(v string) string {
	if w.s.cfg.IDProperty == "email" {
		return strings.ToLower(v)
	}
	return v
}

func (w *work) archive(ctx context.Context, ids []string) error {
	var b bytes.Buffer
	b.WriteString(`{"inputs":[`)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		j, _ := json.Marshal(map[string]string{"id": id})
		b.Write(j)
	}
	b.WriteString(`]}`)
	_, err := w.call(ctx, "archive", b.Bytes())
	return err
}

// committed records the metrics of a committed batch.
func (w *work) committed() {
	s := w.s
	s.m.SinkWrites.WithLabelValues(s.cfg.Name, "ok").Add(float64(w.written + w.archived))
	now := time.Now()
	lat := s.m.EndToEndLatency.WithLabelValues(s.cfg.Name)
	for _, ms := range w.commitMs {
		if ms > 0 {
			lat.Observe(now.Sub(time.UnixMilli(ms)).Seconds())
		}
	}
	for _, pk := range w.parked {
		s.m.SinkWrites.WithLabelValues(s.cfg.Name, "error").Inc()
		s.log.Warn("record parked in the DLQ", "reason", pk.reason, "topic", pk.rec.Topic, "partition", pk.rec.Partition, "offset", pk.rec.Offset, "err", pk.err)
	}
	s.log.Debug("batch committed", "written", w.written, "archived", w.archived, "unchanged", w.skipped, "parked", len(w.parked))
}

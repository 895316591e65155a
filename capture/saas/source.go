package saas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/topics"
	"syncline/schemas"
)

// ErrPermanent marks errors a retry cannot fix (configuration, data the
// API cannot page past); Run returns them.
var ErrPermanent = errors.New("permanent")

func permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// Checkpoint is what a SaaS source stores in _<prefix>.offsets for each
// object type, under the key "saas/<source>/<object>", in the same Kafka
// transaction as the records it covers.
type Checkpoint struct {
	System    string      `json:"system"`
	Source    string      `json:"source"`
	Object    string      `json:"object"`
	State     ObjectState `json:"state"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// ObjectState is the progress of one object type.
type ObjectState struct {
	// Cursor is how far the updates are read.
	Cursor Mark `json:"cursor"`
	// Synced is set once the first window (the initial sync) is complete;
	// records read before that are op=r.
	Synced bool `json:"synced"`
	// Window is the query in progress, with its page token: a restart
	// continues it.
	Window *Window `json:"window,omitempty"`
	// Deletes is how far the deletes are read, and DeleteWindow the pass
	// over the deletes endpoint in progress.
	Deletes      Mark    `json:"deletes"`
	DeleteWindow *Window `json:"delete_window,omitempty"`
	// Backfill is the list endpoint read in progress (Object.Backfill).
	Backfill *BackfillState `json:"backfill,omitempty"`
	// Keys says the object's keys topic holds every key emitted
	// (deletes.reconcile), and Reconciled is when the last complete
	// reconciliation started (µs since the epoch).
	Keys       bool  `json:"keys,omitempty"`
	Reconciled int64 `json:"reconciled_us,omitempty"`
}

// BackfillState is the progress of a backfill: where the updates start
// once it is through, and the next page.
type BackfillState struct {
	Start int64     `json:"start_us"`
	Page  PageState `json:"page"`
	Read  int       `json:"read"`
}

// Mark is a cursor: the last updated-at seen (µs since the epoch) with the
// id of the last record seen at it, and the records emitted at or after
// TS minus the lookback with their updated-at, so re-reading that range
// emits nothing twice. When more than maxSeen records fall in the
// lookback (a bulk import), the oldest are forgotten and Floor keeps the
// next query from re-reading them: the lookback shrinks, the checkpoint
// stays small.
type Mark struct {
	TS    int64            `json:"ts_us"`
	ID    string           `json:"id,omitempty"`
	Floor int64            `json:"floor_us,omitempty"`
	Seen  map[string]int64 `json:"seen,omitempty"`
}

// maxSeen bounds a Mark's seen set (about 25 bytes an entry in the
// checkpoint record).
const maxSeen = 10000

// from is where a query re-reading the lookback starts.
func (m *Mark) from(lookback int64) int64 { return max(m.TS-lookback, m.Floor) }

// Window is one query: records updated in [Since, Until), read page by page.
type Window struct {
	Since int64     `json:"since_us"`
	Until int64     `json:"until_us"`
	Page  PageState `json:"page"`
	// Read counts the results this query returned so far, and Last is
	// the latest updated-at among them (for pagination.max_results).
	Read int   `json:"read"`
	Last int64 `json:"last_us,omitempty"`
	// PassMax is the latest deletion time seen in a deletes pass.
	PassMax int64 `json:"pass_max_us,omitempty"`
	// Tie marks a tie drain: the records updated exactly at Since, read
	// in id order after TieAfter (pagination.tie_break).
	Tie      bool   `json:"tie,omitempty"`
	TieAfter string `json:"tie_after,omitempty"`
	// Seen is a newest-first window's own seen set
	// (pagination.descending): the records at its head (within the
	// lookback of Last), which become the cursor's at its end, and those
	// at Min, the oldest updated-at read so far, whose second may go on
	// on the next page.
	Seen map[string]int64 `json:"seen,omitempty"`
	Min  int64            `json:"min_us,omitempty"`
}

// PageState is where the next page starts.
type PageState struct {
	Token  string `json:"token,omitempty"`
	Offset int    `json:"offset,omitempty"`
	Page   int    `json:"page,omitempty"`
	URL    string `json:"url,omitempty"` // Link header pagination
}

// Source polls one SaaS API into raw topics.
type Source struct {
	cfg       Config
	kafkaOpts []kgo.Opt
	serde     *schemas.Serde
	m         *metrics.Metrics
	log       *slog.Logger
	ready     atomic.Bool
	polls     atomic.Int64 // completed polls

	mu     sync.Mutex
	status map[string]ObjectState // as last committed

	// crash, when set (tests), is called after a page's records were
	// produced into the open transaction; returning true abandons the
	// transaction and the client as a killed process would.
	crash func() bool
	// reconcileChunks counts the transactions of reconciliation deletes
	// produced (tests crash at one), reconcileBatch is the most deletes
	// one holds (default 1000).
	reconcileChunks atomic.Int64
	reconcileBatch  int
	// reconciles counts the reconciliations committed through (the
	// first one's deferral by an interval is not one).
	reconciles atomic.Int64
}

// New returns a source; cfg is validated. kafkaOpts carry the brokers, TLS
// and SASL; the source adds its own transactional id.
func New(cfg Config, kafkaOpts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Name, err)
	}
	return &Source{cfg: cfg, kafkaOpts: kafkaOpts, serde: serde, m: m, log: log.With("source", cfg.Name), status: map[string]ObjectState{}}, nil
}

// Ready reports whether the source is polling.
func (s *Source) Ready() bool { return s.ready.Load() }

// Status reports each object's committed progress.
func (s *Source) Status() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]any{}
	for name, st := range s.status {
		o := map[string]any{"synced": st.Synced, "in_window": st.Window != nil}
		if st.Backfill != nil {
			o["backfill_read"] = st.Backfill.Read
		}
		if st.Reconciled > 0 {
			o["reconciled"] = time.UnixMicro(st.Reconciled).UTC()
		}
		if st.Cursor.TS > 0 {
			o["cursor"] = time.UnixMicro(st.Cursor.TS).UTC()
		}
		out[name] = o
	}
	return out
}

// Run polls until ctx is done. Failures (HTTP errors that outlived their
// retries, Kafka errors) restart the source from the stored checkpoint with
// backoff; permanent ones are returned. On cancellation the open Kafka
// transaction is aborted and Run returns nil.
func (s *Source) Run(ctx context.Context) error {
	backoff := time.Second
	for {
		started := time.Now()
		err := s.runOnce(ctx)
		s.ready.Store(false)
		if time.Since(started) > 10*time.Minute {
			backoff = time.Second // it ran fine for a while: a new failure
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrPermanent) || errors.Is(err, errCrashed) {
			return err
		}
		s.log.Warn("poll failed; restarting from the stored checkpoint", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Minute)
	}
}

var errCrashed = errors.New("crashed (test hook)")

// object is one configured object with its compiled templates and table.
type object struct {
	cfg     *Object
	req     *compiled
	del     *compiled
	table   *schemas.Table
	fields  []string // Avro field of each property
	topic   string
	enc     *schemas.Encoder
	idField string
	// Key reconciliation (deletes.reconcile): the listing and verify
	// requests, the keys topic, and the last offset produced to each of
	// its partitions (guarded by run.mu).
	keys      *compiled
	verify    *compiled
	keysTopic string
	keysEnd   map[int32]int64
	// reconcileAfter: a reconciliation that failed is tried again after
	// this (in memory: a restart tries at once).
	reconcileAfter time.Time
	backfill       *compiled
}

type compiled struct {
	method string
	path   *template.Template
	body   *template.Template
	query  map[string]*template.Template
	hasBdy bool
}

func compile(r Request) (*compiled, error) {
	c := &compiled{method: strings.ToUpper(r.Method), query: map[string]*template.Template{}, hasBdy: r.Body != ""}
	if c.method == "" {
		c.method = "GET"
	}
	var err error
	if c.path, err = newTemplate(r.Path); err != nil {
		return nil, err
	}
	if c.body, err = newTemplate(r.Body); err != nil {
		return nil, err
	}
	for k, v := range r.Query {
		if c.query[k], err = newTemplate(v); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// table is the schema of an object's records: the key id, updated_at, the
// declared properties, and _raw with the whole record as JSON.
func (s *Source) table(o *Object) (*schemas.Table, []string) {
	cols := []schemas.Column{
		{Name: "id", Kind: schemas.KindString, Key: true},
		{Name: "updated_at", Kind: schemas.KindTimestampTZ},
	}
	for _, p := range o.Properties {
		cols = append(cols, schemas.Column{Name: p.column(), Kind: kinds[p.Type]})
	}
	cols = append(cols, schemas.Column{Name: "_raw", Kind: schemas.KindJSON})
	schemas.SanitizeFields(cols)
	var fields []string
	for _, c := range cols[2 : len(cols)-1] {
		fields = append(fields, c.Field)
	}
	return &schemas.Table{System: s.cfg.System, Source: s.cfg.Name, Schema: s.cfg.System, Name: o.Name, Columns: cols}, fields
}

type run struct {
	*Source
	cl   *kgo.Client
	http *client
	objs []*object
	mu   sync.Mutex // serializes Kafka transactions
}

func (s *Source) offsetsKey(object string) string { return "saas/" + s.cfg.Name + "/" + object }

// keysTopic is the compacted topic of an object's emitted keys
// (deletes.reconcile): _<prefix>.state.keys.<source>.<object>.
func (s *Source) keysTopic(object string) string {
	return topics.State(s.cfg.TopicPrefix, "keys."+topics.Part(s.cfg.Name)+"."+topics.Part(object))
}

func (s *Source) runOnce(ctx context.Context) error {
	r := &run{Source: s, http: newClient(&s.cfg, s.log)}
	cl, err := kgo.NewClient(append(slices.Clip(s.kafkaOpts),
		kgo.TransactionalID("syncline-capture-"+s.cfg.Name),
		kgo.TransactionTimeout(s.cfg.TxnTimeout),
		kgo.RecordPartitioner(kafka.KeyPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond),
	)...)
	if err != nil {
		return permanent(fmt.Errorf("kafka client: %w", err))
	}
	r.cl = cl
	defer cl.Close()
	adm := kadm.NewClient(cl)
	specs := []kafka.TopicSpec{{Name: topics.Offsets(s.cfg.TopicPrefix), Partitions: 1, RF: s.cfg.RF, Compact: true}}
	for i := range s.cfg.Objects {
		o := &s.cfg.Objects[i]
		ob := &object{cfg: o, idField: o.IDField}
		if ob.req, err = compile(o.Request); err != nil {
			return permanent(err)
		}
		if o.Deletes != nil && o.Deletes.Request != nil {
			if ob.del, err = compile(*o.Deletes.Request); err != nil {
				return permanent(err)
			}
		}
		if o.Deletes != nil && o.Deletes.Reconcile != nil {
			rc := o.Deletes.Reconcile
			if ob.keys, err = compile(rc.Request); err != nil {
				return permanent(err)
			}
			if rc.Verify != nil {
				if ob.verify, err = compile(*rc.Verify); err != nil {
					return permanent(err)
				}
			}
			ob.keysTopic, ob.keysEnd = s.keysTopic(o.Name), map[int32]int64{}
			specs = append(specs, kafka.TopicSpec{Name: ob.keysTopic, Partitions: s.cfg.Partitions, RF: s.cfg.RF, Compact: true})
		}
		if o.Backfill != nil {
			if ob.backfill, err = compile(o.Backfill.Request); err != nil {
				return permanent(err)
			}
		}
		ob.table, ob.fields = s.table(o)
		ob.topic = topics.Raw(s.cfg.TopicPrefix, s.cfg.Name, s.cfg.System, o.Name)
		specs = append(specs, kafka.TopicSpec{Name: ob.topic, Partitions: s.cfg.Partitions, RF: s.cfg.RF})
		r.objs = append(r.objs, ob)
	}
	if err := kafka.EnsureTopics(ctx, adm, specs...); err != nil {
		return err
	}
	for _, ob := range r.objs {
		if ob.enc, err = s.serde.Encoder(ctx, ob.topic, ob.table); err != nil {
			return permanent(fmt.Errorf("object %s: %w", ob.cfg.Name, err))
		}
	}
	// Fence: a transaction an earlier instance left open is aborted, so
	// the stored checkpoint below is the last word.
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin fencing transaction: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("fence earlier producers: %w", err)
	}
	states := map[string]*ObjectState{}
	for _, ob := range r.objs {
		st := &ObjectState{}
		raw, err := kafka.ReadLatest(ctx, s.kafkaOpts, topics.Offsets(s.cfg.TopicPrefix), s.offsetsKey(ob.cfg.Name))
		if err != nil {
			return fmt.Errorf("read stored checkpoint: %w", err)
		}
		if raw != nil {
			var cp Checkpoint
			if err := json.Unmarshal(raw, &cp); err != nil {
				return permanent(fmt.Errorf("stored checkpoint of %s, object %s, is not valid JSON: %w", s.cfg.Name, ob.cfg.Name, err))
			}
			*st = cp.State
			if w := st.Window; w != nil && ob.cfg.Pagination.ExpiringTokens && !w.Tie && w.Page != initialPage(ob.cfg.Pagination) {
				// The stored page token may have expired: a new query
				// starts at the last updated-at read, whose records are
				// in the seen set.
				st.Window = &Window{Since: max(w.Since, w.Last, st.Cursor.Floor), Until: w.Until, Page: initialPage(ob.cfg.Pagination)}
			}
			s.log.Info("resuming from stored checkpoint", "object", ob.cfg.Name, "cursor", time.UnixMicro(st.Cursor.TS).UTC(), "mid_window", st.Window != nil)
		}
		if ob.keys == nil {
			st.Keys = false // reconciliation configured again later fills the set again
		}
		if ob.keys != nil && !st.Keys {
			if err := r.bootstrapKeys(ctx, ob, st, raw != nil); err != nil {
				return err
			}
		}
		states[ob.cfg.Name] = st
		s.setStatus(ob.cfg.Name, st)
	}
	s.ready.Store(true)
	for {
		deadline := time.Now().Add(s.cfg.MaxRuntime)
		g, gctx := errgroup.WithContext(ctx)
		for _, ob := range r.objs {
			st := states[ob.cfg.Name]
			g.Go(func() error {
				if ob.backfill != nil && (st.Backfill != nil || (!st.Synced && st.Window == nil && st.Cursor.TS == 0)) {
					if done, err := r.runBackfill(gctx, ob, st, deadline); err != nil || !done {
						if err != nil {
							err = fmt.Errorf("object %s backfill: %w", ob.cfg.Name, err)
						}
						return err
					}
				}
				if err := r.pollUpdates(gctx, ob, st, deadline); err != nil {
					return fmt.Errorf("object %s: %w", ob.cfg.Name, err)
				}
				if ob.del != nil {
					if err := r.pollDeletes(gctx, ob, st, deadline); err != nil {
						return fmt.Errorf("object %s deletes: %w", ob.cfg.Name, err)
					}
				}
				if ob.keys != nil {
					if err := r.reconcile(gctx, ob, st); err != nil {
						return fmt.Errorf("object %s key reconciliation: %w", ob.cfg.Name, err)
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.polls.Add(1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.cfg.PollInterval):
		}
	}
}

func (s *Source) setStatus(name string, st *ObjectState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[name] = ObjectState{Cursor: Mark{TS: st.Cursor.TS}, Synced: st.Synced, Window: st.Window, Backfill: st.Backfill, Reconciled: st.Reconciled}
}

func initialPage(p Pagination) PageState {
	if p.Type == "page" {
		return PageState{Page: p.StartPage}
	}
	return PageState{}
}

// pollUpdates reads the object's changed records from its cursor on, one
// window at a time, committing each page with the checkpoint.
func (r *run) pollUpdates(ctx context.Context, ob *object, st *ObjectState, deadline time.Time) error {
	o := ob.cfg
	lookback := o.Cursor.Lookback.Microseconds()
	if st.Window == nil {
		since := o.Cursor.Start.UnixMicro()
		if o.Cursor.Start.IsZero() {
			since = 0
		}
		if st.Cursor.TS > 0 {
			since = max(st.Cursor.from(lookback), since)
		}
		st.Window = &Window{Since: since, Until: time.Now().Add(-o.Cursor.Settle).UnixMicro(), Page: initialPage(o.Pagination)}
	}
	for {
		if time.Now().After(deadline) {
			r.log.Info("max_runtime reached; the window continues at the next poll", "object", o.Name)
			return nil
		}
		w := st.Window
		if mr := o.Pagination.MaxResults; mr > 0 && !w.Tie && w.Read+o.Pagination.Limit > mr {
			// The API pages over at most max_results: start a new query
			// at the last updated-at this one returned. Its records
			// that were read already are in Seen.
			if w.Last <= w.Since && o.Pagination.TieBreak {
				// More records share this timestamp than one query
				// pages over: read them in id order, then go on after it.
				r.log.Info("draining records that share one updated-at in id order", "object", o.Name, "at", time.UnixMicro(w.Since).UTC())
				st.Window = &Window{Since: w.Since, Until: w.Until, Page: initialPage(o.Pagination), Tie: true}
				continue
			}
			if w.Last <= w.Since {
				return permanent(fmt.Errorf("more than %d records share updated-at %s (pagination.max_results) and tie_break is off: the API cannot page past them",
					mr, time.UnixMicro(w.Since).UTC().Format(time.RFC3339Nano)))
			}
			r.log.Debug("narrowing the window at the result cap", "object", o.Name, "since", time.UnixMicro(w.Last).UTC())
			st.Window = &Window{Since: max(w.Last, st.Cursor.Floor), Until: w.Until, Page: initialPage(o.Pagination)}
			continue
		}
		recs, next, err := r.fetch(ctx, ob.req, o.Pagination, o.RecordsPath, w, st.Cursor, o.Cursor.Format)
		if err != nil {
			return err
		}
		var out []*kgo.Record
		counts := map[schemas.Op]int{}
		for i, rec := range recs {
			id, ts, err := recordKey(rec, ob.idField, o.Cursor.Field, o.Cursor.Format)
			if err != nil {
				return fmt.Errorf("record %d of the page at %s: %w", i, describe(w), err)
			}
			if w.Tie {
				w.TieAfter = id
			}
			w.Last = max(w.Last, ts)
			if prev, ok := st.Cursor.Seen[id]; (ok && prev >= ts) || ts < st.Cursor.Floor {
				continue // read already (below Floor: read, or given up)
			}
			if prev, ok := w.Seen[id]; ok && prev >= ts {
				continue // read already in this window (pagination.order)
			}
			op, listed := ob.op(rec)
			if !listed {
				continue // an event of a type that is not this object's
			}
			ch, err := r.change(ob, st, rec, id, ts, op)
			if err != nil {
				return fmt.Errorf("record %s: %w", id, err)
			}
			krs, err := r.encode(ob, ch)
			if err != nil {
				return err
			}
			out = append(out, krs...)
			counts[ch.Op]++
			switch {
			case o.Pagination.unordered():
				// The cursor moves when the window is complete.
				if w.Seen == nil {
					w.Seen = map[string]int64{}
				}
				w.Seen[id] = ts
			case !w.Tie || ts != w.Since:
				// A tie drain's records are covered by TieAfter, and after
				// the drain by Floor: the seen set does not grow with them.
				st.Cursor.see(id, ts)
			}
			if st.Cursor.TS > w.Until {
				// An API that cannot filter on the window's end returns
				// records updated while the window is read; the cursor
				// stays at the end, so the next window re-reads (and
				// deduplicates) them and misses none updated meanwhile.
				st.Cursor.TS, st.Cursor.ID = w.Until, ""
			}
		}
		w.Read += len(recs)
		if o.Pagination.unordered() {
			w.pruneSeen(recs, ob, o, lookback)
			if next == nil {
				for id, ts := range w.Seen {
					st.Cursor.see(id, ts)
				}
				if st.Cursor.TS > w.Until {
					st.Cursor.TS, st.Cursor.ID = w.Until, ""
				}
			}
		}
		switch {
		case w.Tie && len(recs) < o.Pagination.Limit:
			// Drained: everything at Since is read. The window goes on
			// after it, and no later query re-reads it.
			st.Cursor.Floor = max(st.Cursor.Floor, w.Since+1)
			st.Window = &Window{Since: w.Since + 1, Until: w.Until, Page: initialPage(o.Pagination)}
		case w.Tie:
		case next == nil:
			st.Window = nil
			st.Synced = true
		default:
			w.Page = *next
		}
		st.Cursor.prune(lookback)
		if err := r.commit(ctx, ob, st, out, counts); err != nil {
			return err
		}
		if st.Window == nil {
			return nil
		}
	}
}

// pollDeletes reads the deletes endpoint once through; deletes not seen
// before become op=d records.
func (r *run) pollDeletes(ctx context.Context, ob *object, st *ObjectState, deadline time.Time) error {
	d := ob.cfg.Deletes
	lookback := ob.cfg.Cursor.Lookback.Microseconds()
	if st.DeleteWindow == nil {
		st.DeleteWindow = &Window{Page: initialPage(d.Pagination), PassMax: st.Deletes.TS}
	}
	for {
		if time.Now().After(deadline) {
			return nil
		}
		w := st.DeleteWindow
		recs, next, err := r.fetch(ctx, ob.del, d.Pagination, d.RecordsPath, w, st.Deletes, ob.cfg.Cursor.Format)
		if err != nil {
			return err
		}
		var out []*kgo.Record
		n := 0
		for i, rec := range recs {
			id, ts, err := recordKey(rec, d.IDField, d.DeletedAtField, ob.cfg.Cursor.Format)
			if err != nil {
				return fmt.Errorf("deleted record %d: %w", i, err)
			}
			if ts < st.Deletes.from(lookback) {
				continue // emitted by an earlier pass
			}
			if prev, ok := st.Deletes.Seen[id]; ok && prev >= ts {
				continue
			}
			krs, err := r.encode(ob, r.deleteChange(ob, id, ts))
			if err != nil {
				return err
			}
			out = append(out, krs...)
			n++
			if st.Deletes.Seen == nil {
				st.Deletes.Seen = map[string]int64{}
			}
			st.Deletes.Seen[id] = ts
			w.PassMax = max(w.PassMax, ts)
		}
		if next == nil {
			// Only a complete pass moves the mark: the endpoint is not
			// ordered by deletion time.
			st.Deletes.TS = w.PassMax
			st.Deletes.prune(lookback)
			st.DeleteWindow = nil
		} else {
			w.Page = *next
		}
		if err := r.commit(ctx, ob, st, out, map[schemas.Op]int{schemas.OpDelete: n}); err != nil {
			return err
		}
		if st.DeleteWindow == nil {
			return nil
		}
	}
}

// unordered reports whether windows are not read in updated-at order.
func (p Pagination) unordered() bool { return p.Order == "descending" || p.Order == "unordered" }

// pruneSeen bounds the seen set of a window that is not read in
// updated-at order after a page (pagination.order): it keeps the head
// (within the lookback of Last) and, newest first, the records at Min,
// the oldest updated-at read so far, whose second may go on on the next
// page; unordered, every record up to maxSeen.
func (w *Window) pruneSeen(recs []any, ob *object, o *Object, lookback int64) {
	for _, rec := range recs {
		if _, ts, err := recordKey(rec, ob.idField, o.Cursor.Field, o.Cursor.Format); err == nil && (w.Min == 0 || ts < w.Min) {
			w.Min = ts
		}
	}
	head := w.Last - lookback
	if o.Pagination.Order == "descending" {
		for id, ts := range w.Seen {
			if ts != w.Min && ts < head {
				delete(w.Seen, id)
			}
		}
		return
	}
	if len(w.Seen) <= maxSeen {
		return
	}
	cut := newest(w.Seen, maxSeen)
	for id, ts := range w.Seen {
		if ts < cut && ts < head {
			delete(w.Seen, id)
		}
	}
}

// newest returns the updated-at from which on seen holds its n newest
// records.
func newest(seen map[string]int64, n int) int64 {
	all := make([]int64, 0, len(seen))
	for _, ts := range seen {
		all = append(all, ts)
	}
	slices.Sort(all)
	return all[len(all)-n]
}

func (m *Mark) see(id string, ts int64) {
	if m.Seen == nil {
		m.Seen = map[string]int64{}
	}
	m.Seen[id] = ts
	if ts > m.TS || (ts == m.TS && id > m.ID) {
		m.TS, m.ID = ts, id
	}
}

// prune forgets records older than the range the next query re-reads,
// and the oldest beyond maxSeen (raising Floor). Records at TS are always
// kept: the next query starts at TS at the latest.
func (m *Mark) prune(lookback int64) {
	for id, ts := range m.Seen {
		if ts < m.from(lookback) {
			delete(m.Seen, id)
		}
	}
	if len(m.Seen) <= maxSeen {
		return
	}
	m.Floor = max(m.Floor, newest(m.Seen, maxSeen))
	for id, ts := range m.Seen {
		if ts < m.Floor {
			delete(m.Seen, id)
		}
	}
}

func describe(w *Window) string {
	return fmt.Sprintf("window [%s, %s) page %+v", time.UnixMicro(w.Since).UTC().Format(time.RFC3339Nano), time.UnixMicro(w.Until).UTC().Format(time.RFC3339Nano), w.Page)
}

func recordKey(rec any, idField, tsField, format string) (string, int64, error) {
	id, err := recordID(rec, idField)
	if err != nil {
		return "", 0, err
	}
	tv, ok := lookup(rec, tsField)
	if !ok {
		return "", 0, fmt.Errorf("no updated-at field %q in record %s", tsField, id)
	}
	ts, err := parseTime(tv, format)
	if err != nil {
		return "", 0, fmt.Errorf("updated-at field %q of record %s: %w", tsField, id, err)
	}
	return id, ts.UnixMicro(), nil
}

// recordID is the scalar at idField or, for a composite key (dot paths
// joined by commas), the JSON array of the scalars at each path.
func recordID(rec any, idField string) (string, error) {
	paths := strings.Split(idField, ",")
	parts := make([]string, len(paths))
	for i, p := range paths {
		v, ok := lookup(rec, p)
		if !ok {
			return "", fmt.Errorf("no id field %q", p)
		}
		id, err := scalar(v)
		if err != nil || id == "" {
			return "", fmt.Errorf("id field %q: empty or not a scalar", p)
		}
		parts[i] = id
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	b, err := json.Marshal(parts)
	return string(b), err
}

// position orders one key's versions: the updated-at (or deletion time)
// in µs, as 16 hex digits, so positions sort as strings.
func position(ts int64) string { return fmt.Sprintf("%016X", uint64(ts)) }

// op returns the op the object's ops field gives rec ("" without ops);
// listed is false for a value ops does not list.
func (ob *object) op(rec any) (op string, listed bool) {
	ops := ob.cfg.Ops
	if ops == nil {
		return "", true
	}
	v, _ := lookup(rec, ops.Field)
	s, _ := scalar(v)
	op, listed = ops.Values[s]
	return op, listed
}

func (r *run) change(ob *object, st *ObjectState, rec any, id string, ts int64, opField string) (*schemas.Change, error) {
	o := ob.cfg
	if opField == "d" {
		return r.deleteChange(ob, id, ts), nil
	}
	if d := o.Deletes; d != nil && d.StatusField != "" {
		if v, ok := lookup(rec, d.StatusField); ok {
			if s, _ := scalar(v); (d.StatusValue != "" && s == d.StatusValue) || slices.Contains(d.StatusValues, s) {
				return r.deleteChange(ob, id, ts), nil
			}
		}
	}
	obj := rec
	if o.RowPath != "" {
		var ok bool
		if obj, ok = lookup(rec, o.RowPath); !ok {
			return nil, fmt.Errorf("no row at %q", o.RowPath)
		}
	}
	row, err := r.row(ob, obj, id, ts)
	if err != nil {
		return nil, err
	}
	op := schemas.OpRead
	switch {
	case st.Synced && opField == "c":
		op = schemas.OpCreate
	case st.Synced && opField == "u":
		op = schemas.OpUpdate
	case st.Synced:
		op = schemas.OpUpdate
		if o.CreatedField != "" {
			if cv, ok := lookup(rec, o.CreatedField); ok {
				if ct, err := parseTime(cv, o.Cursor.Format); err == nil && ct.UnixMicro() == ts {
					op = schemas.OpCreate
				}
			}
		}
	}
	return &schemas.Change{Table: ob.table, Op: op, Key: schemas.Row{"id": id}, After: row, Source: r.sourceBlock(ob, ts)}, nil
}

// row is the after image of obj: id, updated_at (ts), the properties and
// _raw.
func (r *run) row(ob *object, obj any, id string, ts int64) (schemas.Row, error) {
	rawJSON, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	row := schemas.Row{"id": id, "updated_at": time.UnixMicro(ts).UTC(), "_raw": string(rawJSON)}
	for i, p := range ob.cfg.Properties {
		v, _ := lookup(obj, p.Path)
		val, err := propertyValue(v, p.Type, ob.cfg.Cursor.Format)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", p.Path, err)
		}
		row[ob.fields[i]] = val
	}
	return row, nil
}

func (r *run) deleteChange(ob *object, id string, ts int64) *schemas.Change {
	return &schemas.Change{Table: ob.table, Op: schemas.OpDelete, Key: schemas.Row{"id": id}, Source: r.sourceBlock(ob, ts)}
}

func (r *run) sourceBlock(ob *object, ts int64) schemas.Source {
	return schemas.Source{System: r.cfg.System, Name: r.cfg.Name, Schema: r.cfg.System, Table: ob.cfg.Name, Position: position(ts), CommitMs: ts / 1000}
}

// encode returns the raw record of ch and, for an object whose keys are
// reconciled, its keys topic record: the position for a live key, a
// tombstone for a deleted one.
func (r *run) encode(ob *object, ch *schemas.Change) ([]*kgo.Record, error) {
	ch.TsMs = time.Now().UnixMilli()
	k, v, err := ob.enc.Encode(ch)
	if err != nil {
		return nil, permanent(fmt.Errorf("encode %s %v: %w", ob.cfg.Name, ch.Key["id"], err))
	}
	out := []*kgo.Record{{Topic: ob.topic, Key: k, Value: v}}
	if ob.keysTopic != "" {
		kr := &kgo.Record{Topic: ob.keysTopic, Key: []byte(fmt.Sprint(ch.Key["id"]))}
		if ch.Op != schemas.OpDelete {
			kr.Value = []byte(ch.Source.Position)
		}
		out = append(out, kr)
	}
	return out, nil
}

// fetch requests one page of w and returns its records and where the next
// page starts (nil: the window is complete).
func (r *run) fetch(ctx context.Context, c *compiled, p Pagination, recordsPath string, w *Window, m Mark, format string) ([]any, *PageState, error) {
	v := vars{
		Since: formatTime(time.UnixMicro(w.Since), format), Until: formatTime(time.UnixMicro(w.Until), format),
		SinceMs: (w.Since + 999) / 1000, UntilMs: w.Until / 1000, CursorID: m.ID,
		PageToken: w.Page.Token, Offset: w.Page.Offset, Page: w.Page.Page, Limit: p.Limit, Tie: w.Tie,
	}
	if w.Tie {
		v.CursorID = w.TieAfter
	}
	target, body, err := r.request(c, v)
	if err != nil {
		return nil, nil, err
	}
	if (p.Type == "link" || p.Type == "next_url") && w.Page.URL != "" {
		target = w.Page.URL
	}
	res, err := r.http.do(ctx, c.method, target, body)
	if err != nil {
		return nil, nil, err
	}
	rv, ok := lookup(res.body, recordsPath)
	if !ok {
		return nil, nil, fmt.Errorf("%s %s: response has no %q: %s", c.method, stripQuery(target), recordsPath, bodyShape(res.body))
	}
	var recs []any
	switch x := rv.(type) {
	case []any:
		recs = x
	case nil:
	default:
		return nil, nil, fmt.Errorf("%s %s: %q is a JSON %s, want an array", c.method, stripQuery(target), recordsPath, jsonKind(rv))
	}
	var next *PageState
	switch p.Type {
	case "token":
		if tv, ok := lookup(res.body, p.TokenPath); ok {
			if tok, err := scalar(tv); err == nil && tok != "" {
				next = &PageState{Token: tok}
			}
		}
	case "next_url":
		if tv, ok := lookup(res.body, p.TokenPath); ok {
			if u, err := scalar(tv); err == nil && u != "" {
				abs, err := sameHost(target, u)
				if err != nil {
					return nil, nil, fmt.Errorf("%s %s: %s: %w", c.method, stripQuery(target), p.TokenPath, err)
				}
				next = &PageState{URL: abs}
			}
		}
	case "after_last":
		if len(recs) > 0 {
			tv, _ := lookup(recs[len(recs)-1], p.TokenPath)
			if tok, err := scalar(tv); err == nil && tok != "" {
				next = &PageState{Token: tok}
			}
		}
	case "offset":
		if len(recs) >= p.Limit {
			next = &PageState{Offset: w.Page.Offset + len(recs)}
		}
	case "page":
		if len(recs) >= p.Limit {
			next = &PageState{Page: w.Page.Page + 1}
		}
	case "link":
		if u := nextLink(res.header.Get("Link"), target); u != "" {
			next = &PageState{URL: u}
		}
	}
	if next != nil && p.MorePath != "" {
		if mv, _ := lookup(res.body, p.MorePath); mv != true && fmt.Sprint(mv) != "true" {
			next = nil
		}
	}
	if next != nil && p.EndPath != "" {
		if ev, _ := lookup(res.body, p.EndPath); ev == true || fmt.Sprint(ev) == "true" {
			next = nil
		}
	}
	return recs, next, nil
}

// request renders c's URL and body with v.
func (r *run) request(c *compiled, v vars) (target string, body []byte, err error) {
	path, err := render(c.path, v)
	if err != nil {
		return "", nil, permanent(fmt.Errorf("request path template: %w", err))
	}
	q := url.Values{}
	for k, t := range c.query {
		s, err := render(t, v)
		if err != nil {
			return "", nil, permanent(fmt.Errorf("request query %s template: %w", k, err))
		}
		if s != "" {
			q.Set(k, s)
		}
	}
	target = strings.TrimRight(r.cfg.BaseURL, "/") + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	if c.hasBdy {
		s, err := render(c.body, v)
		if err != nil {
			return "", nil, permanent(fmt.Errorf("request body template: %w", err))
		}
		body = []byte(s)
	}
	return target, body, nil
}

// sameHost resolves a next page URL against the request URL and refuses
// one on another host: the request's credentials go with it.
func sameHost(base, next string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	ref, err := url.Parse(next)
	if err != nil {
		return "", fmt.Errorf("next page URL %q: %w", next, err)
	}
	u := b.ResolveReference(ref)
	if u.Scheme != b.Scheme || u.Host != b.Host {
		return "", fmt.Errorf("next page URL %q is not on %s://%s; not following it", next, b.Scheme, b.Host)
	}
	return u.String(), nil
}

func bodyShape(v any) string {
	if m, ok := v.(map[string]any); ok {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		return fmt.Sprintf("it is an object with keys %v", keys)
	}
	return "it is a JSON " + jsonKind(v)
}

// nextLink returns the rel="next" target of a Link header, resolved
// against the request URL.
func nextLink(h, base string) string {
	for part := range strings.SplitSeq(h, ",") {
		segs := strings.Split(part, ";")
		if len(segs) < 2 {
			continue
		}
		u := strings.Trim(strings.TrimSpace(segs[0]), "<>")
		for _, p := range segs[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "rel") && strings.Trim(v, `"`) == "next" {
				b, err := url.Parse(base)
				if err != nil {
					return u
				}
				ref, err := url.Parse(u)
				if err != nil {
					return ""
				}
				return b.ResolveReference(ref).String()
			}
		}
	}
	return ""
}

// commit writes the page's records and ob's checkpoint in one Kafka
// transaction.
func (r *run) commit(ctx context.Context, ob *object, st *ObjectState, recs []*kgo.Record, counts map[schemas.Op]int) error {
	cp, err := json.Marshal(Checkpoint{System: r.cfg.System, Source: r.cfg.Name, Object: ob.cfg.Name, State: *st, UpdatedAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin Kafka transaction: %w", err)
	}
	fail := func(err error) error {
		actx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return errors.Join(err, r.cl.AbortBufferedRecords(actx), r.cl.EndTransaction(actx, kgo.TryAbort))
	}
	res := r.cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return fail(fmt.Errorf("produce records of %s: %w", ob.cfg.Name, err))
	}
	for _, pr := range res {
		if pr.Record.Topic == ob.keysTopic {
			ob.keysEnd[pr.Record.Partition] = max(ob.keysEnd[pr.Record.Partition], pr.Record.Offset)
		}
	}
	if r.crash != nil && r.crash() {
		return errCrashed
	}
	if err := r.cl.ProduceSync(ctx, &kgo.Record{Topic: topics.Offsets(r.cfg.TopicPrefix), Key: []byte(r.offsetsKey(ob.cfg.Name)), Value: cp}).FirstErr(); err != nil {
		return fail(fmt.Errorf("produce checkpoint: %w", err))
	}
	if err := r.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		// The outcome is unknown: the run restarts from whatever
		// checkpoint is stored, which matches the records stored.
		return fmt.Errorf("commit Kafka transaction: %w", err)
	}
	for op, n := range counts {
		if n > 0 && r.m != nil {
			r.m.SourceEvents.WithLabelValues(r.cfg.Name, ob.cfg.Name, string(op)).Add(float64(n))
		}
	}
	r.setStatus(ob.cfg.Name, st)
	return nil
}

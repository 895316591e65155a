package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultRegistryTopic is the compacted topic the registry persists into
// when RegistryConfig.Topic is empty.
const DefaultRegistryTopic = "_syncline.schemas"

const (
	// writeAttempts bounds how often one API write retries after losing
	// a race with another registry instance (or a transient error).
	writeAttempts = 10
	// writeTimeout bounds the Kafka transaction of one write. The
	// transaction deliberately outlives a canceled HTTP request: an
	// abandoned half-finished transaction is worse than a late one.
	writeTimeout = 30 * time.Second
)

// RegistryConfig configures NewRegistry.
type RegistryConfig struct {
	// Brokers are the Kafka bootstrap addresses the registry persists
	// into, e.g. Broker.Addrs().
	Brokers []string

	// Topic is the compacted, single-partition topic holding the
	// registry's state. Empty means DefaultRegistryTopic. NewRegistry
	// creates it (cleanup.policy=compact) if it does not exist.
	Topic string

	// KafkaOpts are extra franz-go options (TLS, SASL, ...) applied to
	// every Kafka client the registry creates.
	KafkaOpts []kgo.Opt

	// Logger receives the registry's logs. Nil uses slog.Default().
	Logger *slog.Logger
}

// Registry is a Confluent-compatible schema registry for Avro schemas whose
// state lives in a compacted Kafka topic. Serve it over HTTP with Serve, or
// mount Handler in your own server.
//
// Several Registry instances may share one topic: each replays the topic on
// start and keeps tailing it, and writes are serialized through Kafka (see
// the package documentation).
type Registry struct {
	topic   string
	txnID   string
	brokers []string
	opts    []kgo.Opt
	log     *slog.Logger

	consumer *kgo.Client
	adm      *kadm.Client

	mu       sync.RWMutex
	st       *registryState
	applied  int64         // next offset of the topic to apply
	advanced chan struct{} // closed and replaced whenever applied moves
	// awaited holds the offsets of records this instance wrote and has
	// not yet seen come back committed; the tailer flips them to true.
	awaited map[int64]bool

	writeMu  sync.Mutex
	producer *kgo.Client // transactional; guarded by writeMu

	stop      context.CancelFunc
	tailDone  chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	servers   sync.WaitGroup
}

// NewRegistry connects to Kafka, creates the registry topic if needed, and
// replays it to rebuild the registry's state before returning. The context
// bounds startup only; the registry runs until Close.
func NewRegistry(ctx context.Context, cfg RegistryConfig) (*Registry, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("schema registry: no Kafka brokers configured")
	}
	topic := cfg.Topic
	if topic == "" {
		topic = DefaultRegistryTopic
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "embedded-schema-registry", "topic", topic)

	r := &Registry{
		topic:    topic,
		txnID:    "syncline-schema-registry." + topic,
		brokers:  slices.Clone(cfg.Brokers),
		opts:     slices.Clone(cfg.KafkaOpts),
		log:      log,
		st:       newRegistryState(),
		advanced: make(chan struct{}),
		awaited:  map[int64]bool{},
		tailDone: make(chan struct{}),
		closed:   make(chan struct{}),
	}

	consumer, err := kgo.NewClient(r.clientOpts(
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Commit and abort markers take offsets too; seeing them
		// lets the applied offset reach the end of the log.
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return nil, fmt.Errorf("schema registry: kafka client: %w", err)
	}
	r.consumer = consumer
	r.adm = kadm.NewClient(consumer)

	if err := r.ensureTopic(ctx); err != nil {
		consumer.Close()
		return nil, err
	}

	tailCtx, stop := context.WithCancel(context.Background())
	r.stop = stop
	consumer.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}})
	go r.tail(tailCtx)

	if err := r.syncToEnd(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("schema registry: replaying %s: %w", topic, err)
	}
	r.mu.RLock()
	log.Info("schema registry state loaded", "subjects", len(r.st.subjects), "schemas", len(r.st.schemas), "offset", r.applied)
	r.mu.RUnlock()
	return r, nil
}

func (r *Registry) clientOpts(extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(r.brokers...),
		kgo.ClientID("syncline-schema-registry"),
	}
	opts = append(opts, extra...)
	return append(opts, r.opts...)
}

// ensureTopic creates the registry topic, compacted with one partition, if
// it does not exist yet.
func (r *Registry) ensureTopic(ctx context.Context) error {
	_, err := r.adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, r.topic)
	switch {
	case err == nil:
		r.log.Info("created schema registry topic")
		return nil
	case errors.Is(err, kerr.TopicAlreadyExists):
	default:
		return fmt.Errorf("schema registry: creating topic %s: %w", r.topic, err)
	}
	// The topic exists: check it is set up the way we need.
	configs, err := r.adm.DescribeTopicConfigs(ctx, r.topic)
	if err == nil {
		if rc, err := configs.On(r.topic, nil); err == nil && rc.Err == nil {
			for _, c := range rc.Configs {
				if c.Key == "cleanup.policy" && !strings.Contains(c.MaybeValue(), "compact") {
					r.log.Warn("schema registry topic is not compacted; it will grow forever", "cleanup.policy", c.MaybeValue())
				}
			}
		}
	}
	if details, err := r.adm.ListTopics(ctx, r.topic); err == nil {
		if n := len(details[r.topic].Partitions); n > 1 {
			r.log.Warn("schema registry topic has more than one partition; only partition 0 is used", "partitions", n)
		}
	}
	return nil
}

// tail applies records of the topic as they arrive, until Close.
func (r *Registry) tail(ctx context.Context) {
	defer close(r.tailDone)
	for {
		fs := r.consumer.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.log.Warn("reading schema registry topic", "err", err)
			}
		})
		var recs []*kgo.Record
		fs.EachRecord(func(rec *kgo.Record) { recs = append(recs, rec) })
		if len(recs) == 0 {
			continue
		}
		r.mu.Lock()
		for _, rec := range recs {
			if rec.Partition != 0 {
				continue
			}
			if !rec.Attrs.IsControl() {
				r.st.apply(rec, r.log)
				if _, ok := r.awaited[rec.Offset]; ok {
					r.awaited[rec.Offset] = true
				}
			}
			r.applied = max(r.applied, rec.Offset+1)
		}
		close(r.advanced)
		r.advanced = make(chan struct{})
		r.mu.Unlock()
	}
}

// syncToEnd waits until every record committed to the topic before the
// call has been applied.
func (r *Registry) syncToEnd(ctx context.Context) error {
	ends, err := r.adm.ListCommittedOffsets(ctx, r.topic)
	if err != nil {
		return fmt.Errorf("listing end offset: %w", err)
	}
	end, ok := ends.Lookup(r.topic, 0)
	if !ok {
		return fmt.Errorf("topic %s partition 0 not found", r.topic)
	}
	if end.Err != nil {
		return fmt.Errorf("listing end offset: %w", end.Err)
	}
	starts, err := r.adm.ListStartOffsets(ctx, r.topic)
	if err != nil {
		return fmt.Errorf("listing start offset: %w", err)
	}
	if start, ok := starts.Lookup(r.topic, 0); ok && start.Err == nil && start.Offset >= end.Offset {
		return nil // nothing readable
	}
	for {
		r.mu.RLock()
		applied, advanced := r.applied, r.advanced
		r.mu.RUnlock()
		if applied >= end.Offset {
			return nil
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.tailDone:
			return errors.New("schema registry closed")
		}
	}
}

// mutate runs one API write: plan looks at the current state and returns
// the records to write (or an API error); mutate commits them in a Kafka
// transaction and returns once they have been read back committed and
// applied locally.
//
// Every instance on a topic uses the same transactional ID. Initializing
// the producer fences any other instance's producer, and mutate reads the
// topic to its end only after that, so a commit succeeds only if no other
// instance wrote in between; if one did, our commit fails with a fencing
// error and we retry on the new state.
func (r *Registry) mutate(ctx context.Context, plan func(st *registryState) ([]*kgo.Record, *apiError)) *apiError {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()

	var lastErr error
	for attempt := range writeAttempts {
		if attempt > 0 {
			// Randomized backoff, so two instances that keep fencing
			// each other fall out of step.
			backoff := min(time.Second, 20*time.Millisecond<<attempt)
			backoff = backoff/2 + rand.N(backoff/2+1)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return errStore(ctx.Err())
			case <-r.closed:
				return errStore(errors.New("schema registry closed"))
			}
		}
		p, err := r.txnProducer(ctx)
		if err != nil {
			lastErr = err
			continue
		}
		if err := r.syncToEnd(ctx); err != nil {
			return errStore(err)
		}
		r.mu.RLock()
		recs, aerr := plan(r.st)
		r.mu.RUnlock()
		if aerr != nil {
			return aerr
		}
		if len(recs) == 0 {
			return nil
		}
		offsets, err := r.commit(ctx, p, recs)
		if err != nil {
			r.log.Debug("schema registry write failed; retrying on fresh state", "attempt", attempt+1, "err", err)
			r.dropProducer()
			lastErr = err
			continue
		}
		if err := r.syncToEnd(ctx); err != nil {
			r.forget(offsets)
			return errStore(err)
		}
		// A nil commit is not proof: franz-go can turn a commit into an
		// abort and still return nil (seen when instances fence each
		// other). Our records must have come back committed.
		if !r.forget(offsets) {
			r.log.Debug("schema registry write was aborted despite a successful commit; retrying on fresh state", "attempt", attempt+1)
			r.dropProducer()
			lastErr = errors.New("transaction was aborted")
			continue
		}
		return nil
	}
	return errStore(fmt.Errorf("write failed after %d attempts: %w", writeAttempts, lastErr))
}

// txnProducer returns the transactional producer, creating and
// initializing it (which fences other instances) if needed.
func (r *Registry) txnProducer(ctx context.Context) (*kgo.Client, error) {
	if r.producer != nil {
		return r.producer, nil
	}
	p, err := kgo.NewClient(r.clientOpts(
		kgo.TransactionalID(r.txnID),
		kgo.DefaultProduceTopic(r.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
	)...)
	if err != nil {
		return nil, err
	}
	if _, _, err := p.ProducerID(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("initializing transactional producer: %w", err)
	}
	r.producer = p
	return p, nil
}

func (r *Registry) dropProducer() {
	if r.producer != nil {
		r.producer.Close()
		r.producer = nil
	}
}

// commit writes recs in one transaction and returns their offsets. The
// offsets are registered as awaited before the commit, so the tailer (which
// reads committed data only) cannot apply them before we look.
func (r *Registry) commit(ctx context.Context, p *kgo.Client, recs []*kgo.Record) ([]int64, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := p.BeginTransaction(); err != nil {
		return nil, err
	}
	results := p.ProduceSync(ctx, recs...)
	if err := results.FirstErr(); err != nil {
		_ = p.EndTransaction(ctx, kgo.TryAbort)
		return nil, err
	}
	offsets := make([]int64, 0, len(results))
	r.mu.Lock()
	for _, res := range results {
		offsets = append(offsets, res.Record.Offset)
		r.awaited[res.Record.Offset] = false
	}
	r.mu.Unlock()
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		r.forget(offsets)
		return nil, err
	}
	return offsets, nil
}

// forget stops awaiting offsets, reporting whether all of them were seen
// committed.
func (r *Registry) forget(offsets []int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := true
	for _, o := range offsets {
		all = all && r.awaited[o]
		delete(r.awaited, o)
	}
	return all
}

// view runs fn with the state read-locked.
func (r *Registry) view(fn func(st *registryState)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn(r.st)
}

// Handler returns the HTTP handler serving the Confluent Schema Registry
// REST API.
func (r *Registry) Handler() http.Handler {
	return r.routes()
}

// Serve serves Handler on listen ("host:port"; port 0 picks a free port) in
// the background and returns the registry's base URL, "http://host:port".
// The server stops when ctx is done or the registry is closed.
func (r *Registry) Serve(ctx context.Context, listen string) (url string, err error) {
	select {
	case <-r.closed:
		return "", errors.New("schema registry closed")
	default:
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return "", fmt.Errorf("schema registry: listen: %w", err)
	}
	// active counts requests being handled, so shutdown can wait for
	// them without waiting for idle or never-used connections (which
	// http.Server.Shutdown gives up to five seconds to send a request).
	var active atomic.Int64
	handler := r.Handler()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			active.Add(1)
			defer active.Add(-1)
			handler.ServeHTTP(w, req)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
	}
	r.servers.Add(2)
	go func() {
		defer r.servers.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("schema registry HTTP server stopped", "err", err)
		}
	}()
	go func() {
		defer r.servers.Done()
		select {
		case <-ctx.Done():
		case <-r.closed:
		}
		// Shutdown stops accepting and closes idle connections; we
		// close everything once in-flight requests are done.
		go srv.Shutdown(context.Background()) //nolint:errcheck // Close below ends it
		for deadline := time.Now().Add(5 * time.Second); active.Load() > 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		srv.Close()
	}()
	url = "http://" + dialableAddr(ln.Addr())
	r.log.Debug("schema registry serving", "url", url)
	return url, nil
}

// dialableAddr turns a listener address into one a client can dial,
// replacing an unspecified host with loopback.
func dialableAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
		if tcp.IP.To4() == nil {
			if probe, err := net.Listen("tcp4", "127.0.0.1:0"); err == nil {
				probe.Close()
			} else {
				host = "::1"
			}
		}
	}
	return net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}

// Close stops the HTTP servers started by Serve and the Kafka clients. It
// is safe to call more than once.
func (r *Registry) Close() {
	r.closeOnce.Do(func() {
		close(r.closed)
		r.servers.Wait()
		if r.stop != nil {
			r.stop()
		}
		r.consumer.Close()
		if r.stop != nil {
			<-r.tailDone
		} else {
			close(r.tailDone)
		}
		r.writeMu.Lock()
		r.dropProducer()
		r.writeMu.Unlock()
	})
}

// registerSchema registers a schema under subject, returning its ID.
func (r *Registry) registerSchema(ctx context.Context, subject string, req registerRequest) (int, *apiError) {
	if aerr := checkSchemaType(req.SchemaType); aerr != nil {
		return 0, aerr
	}
	var (
		id      int
		version int
		created bool
	)
	aerr := r.mutate(ctx, func(st *registryState) ([]*kgo.Record, *apiError) {
		created = false
		refs, _, aerr := st.resolveRefs(req.References)
		if aerr != nil {
			return nil, aerr
		}
		ps, aerr := st.parse(req.Schema, refs)
		if aerr != nil {
			return nil, aerr
		}
		key := dedupeKey(ps, refs)
		existing := st.byKey[key]
		if existing != nil {
			// Idempotent: already a live version of this subject.
			vs := st.versions(subject, false)
			for i := len(vs) - 1; i >= 0; i-- {
				if st.subjects[subject][vs[i]].id == existing.id {
					id, version = existing.id, vs[i]
					return nil, nil
				}
			}
		}
		level := st.level(subject)
		if msgs := checkCompatibility(level, ps.root, st.previous(subject)); len(msgs) > 0 {
			return nil, &apiError{http.StatusConflict, codeIncompatible, fmt.Sprintf(
				"Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]",
				subject, strings.Join(msgs, ", "))}
		}
		ss := existing
		if ss == nil {
			ss = &storedSchema{id: st.maxID + 1, text: req.Schema, refs: refs}
		}
		if req.ID > 0 && req.ID != ss.id {
			return nil, &apiError{http.StatusUnprocessableEntity, codeOperationNotPermitted,
				fmt.Sprintf("Overwrite new schema with id %d is not permitted.", req.ID)}
		}
		id, version, created = ss.id, st.nextVersion(subject), true
		rec, err := schemaRecord(r.topic, subject, version, ss, false)
		if err != nil {
			return nil, errStore(err)
		}
		return []*kgo.Record{rec}, nil
	})
	if aerr != nil {
		return 0, aerr
	}
	if created {
		r.log.Info("registered schema", "subject", subject, "version", version, "id", id)
	}
	return id, nil
}

func checkSchemaType(t string) *apiError {
	if t == "" || strings.EqualFold(t, "AVRO") {
		return nil
	}
	return errInvalidSchema(fmt.Sprintf("Invalid schema type %q: the embedded registry supports only AVRO", t))
}

// deleteSubject soft- or permanently deletes every version of subject.
func (r *Registry) deleteSubject(ctx context.Context, subject string, permanent bool) ([]int, *apiError) {
	var deleted []int
	aerr := r.mutate(ctx, func(st *registryState) ([]*kgo.Record, *apiError) {
		all := st.versions(subject, true)
		if len(all) == 0 {
			return nil, errSubjectNotFound(subject)
		}
		live := st.versions(subject, false)
		var recs []*kgo.Record
		if !permanent {
			if len(live) == 0 {
				return nil, &apiError{http.StatusNotFound, codeSubjectSoftDeleted,
					fmt.Sprintf("Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)}
			}
			for _, v := range live {
				if by := st.referencedBy(subject, v); len(by) > 0 {
					return nil, errReferenced(subject, v, by)
				}
			}
			for _, v := range live {
				rec, err := schemaRecord(r.topic, subject, v, st.schemas[st.subjects[subject][v].id], true)
				if err != nil {
					return nil, errStore(err)
				}
				recs = append(recs, rec)
			}
			deleted = live
			return recs, nil
		}
		if len(live) > 0 {
			return nil, &apiError{http.StatusNotFound, codeSubjectNotSoftDeleted,
				fmt.Sprintf("Subject '%s' was not deleted first before being permanently deleted", subject)}
		}
		recs = append(recs, watermarkRecord(r.topic, st.maxID))
		for _, v := range all {
			recs = append(recs, &kgo.Record{Topic: r.topic, Key: schemaKey(subject, v)})
		}
		if _, ok := st.subjectLevels[subject]; ok {
			recs = append(recs, &kgo.Record{Topic: r.topic, Key: configKey(&subject)})
		}
		deleted = all
		return recs, nil
	})
	if aerr == nil {
		r.log.Info("deleted subject", "subject", subject, "versions", deleted, "permanent", permanent)
	}
	return deleted, aerr
}

// deleteVersion soft- or permanently deletes one version of subject
// (version 0 = latest).
func (r *Registry) deleteVersion(ctx context.Context, subject string, version int, permanent bool) (int, *apiError) {
	var deleted int
	aerr := r.mutate(ctx, func(st *registryState) ([]*kgo.Record, *apiError) {
		v := version
		if v == 0 {
			if permanent {
				// Confluent: "latest" for a permanent delete means the
				// highest version, deleted or not.
				all := st.versions(subject, true)
				if len(all) > 0 {
					v = all[len(all)-1]
				}
			} else {
				v = st.latest(subject)
			}
		}
		if len(st.subjects[subject]) == 0 {
			return nil, errSubjectNotFound(subject)
		}
		sv := st.subjects[subject][v]
		if sv == nil {
			return nil, errVersionNotFound(subject, version)
		}
		if by := st.referencedBy(subject, v); len(by) > 0 {
			return nil, errReferenced(subject, v, by)
		}
		deleted = v
		if !permanent {
			if sv.deleted {
				return nil, &apiError{http.StatusNotFound, codeVersionSoftDeleted,
					fmt.Sprintf("Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, v)}
			}
			rec, err := schemaRecord(r.topic, subject, v, st.schemas[sv.id], true)
			if err != nil {
				return nil, errStore(err)
			}
			return []*kgo.Record{rec}, nil
		}
		if !sv.deleted {
			return nil, &apiError{http.StatusNotFound, codeVersionNotSoftDeleted,
				fmt.Sprintf("Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v)}
		}
		return []*kgo.Record{
			watermarkRecord(r.topic, st.maxID),
			{Topic: r.topic, Key: schemaKey(subject, v)},
		}, nil
	})
	if aerr == nil {
		r.log.Info("deleted schema version", "subject", subject, "version", deleted, "permanent", permanent)
	}
	return deleted, aerr
}

func errReferenced(subject string, version int, by []int) *apiError {
	return &apiError{http.StatusUnprocessableEntity, codeReferenceExists,
		fmt.Sprintf("One or more references exist to the schema {subject=%s,version=%d}: schema IDs %v", subject, version, by)}
}

func watermarkRecord(topic string, maxID int) *kgo.Record {
	v, _ := json.Marshal(watermarkValue{MaxID: maxID})
	return &kgo.Record{Topic: topic, Key: watermarkKey, Value: v}
}

// setLevel sets (or, with level "", resets) the global level (subject nil)
// or a subject's level, returning the level it replaced.
func (r *Registry) setLevel(ctx context.Context, subject *string, level compatLevel) (compatLevel, *apiError) {
	var prev compatLevel
	aerr := r.mutate(ctx, func(st *registryState) ([]*kgo.Record, *apiError) {
		if subject == nil {
			prev = st.global()
		} else {
			l, ok := st.subjectLevels[*subject]
			if !ok && level == "" {
				return nil, errSubjectNotFound(*subject)
			}
			prev = l
		}
		rec := &kgo.Record{Topic: r.topic, Key: configKey(subject)}
		if level != "" {
			v, err := json.Marshal(configValue{CompatibilityLevel: string(level)})
			if err != nil {
				return nil, errStore(err)
			}
			rec.Value = v
		}
		return []*kgo.Record{rec}, nil
	})
	if aerr == nil {
		name := "(global)"
		if subject != nil {
			name = *subject
		}
		r.log.Info("compatibility level changed", "subject", name, "level", level, "previous", prev)
	}
	return prev, aerr
}

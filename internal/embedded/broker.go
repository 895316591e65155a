package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// DefaultBrokerPartitions is the partition count of auto-created
	// topics when BrokerConfig.Partitions is zero.
	DefaultBrokerPartitions = 4

	// DefaultCompactInterval is how often the broker compacts topics with
	// cleanup.policy=compact when BrokerConfig.CompactInterval is zero.
	DefaultCompactInterval = 5 * time.Minute

	// compactRetryInterval is how soon we try again after a compaction
	// pass was skipped because a transaction was open on a compacted
	// partition.
	compactRetryInterval = 15 * time.Second

	// compactMarker is the state filter we put in the ListTransactions
	// request that asks our control function to compact. kfake answers
	// such a request with an empty list because no transaction has that
	// state.
	compactMarker = "syncline.embedded.compact"

	// disabledCleanerBackoffMs switches off kfake's own compaction ticker
	// (it ticks every log.cleaner.backoff.ms and compacts open
	// transactions, see doc.go). 100 years still fits a time.Duration.
	disabledCleanerBackoffMs = "3153600000000"
)

// BrokerConfig configures the embedded Kafka broker started by StartBroker.
type BrokerConfig struct {
	// DataDir is where topics, committed offsets, consumer groups and
	// transactional state persist across restarts. Empty keeps everything
	// in memory. Only one broker may use a DataDir at a time; StartBroker
	// locks it.
	DataDir string

	// Listen is the host:port to listen on, e.g. 127.0.0.1:9092. Port 0
	// picks a free port; empty means 127.0.0.1:0. An unspecified host
	// (":9092", "0.0.0.0:9092") listens on every interface and advertises
	// 127.0.0.1 to clients.
	Listen string

	// Partitions is the partition count of auto-created topics and of
	// CreateTopics requests that ask for the broker default (-1). Zero
	// means DefaultBrokerPartitions.
	Partitions int32

	// SyncWrites fsyncs every produced batch and every state change.
	// Slower, but acknowledged writes survive power loss. Without it,
	// writes reach the OS page cache and survive a process crash.
	SyncWrites bool

	// CompactInterval is how often topics with cleanup.policy=compact are
	// compacted (and retention.ms / retention.bytes applied). Zero means
	// DefaultCompactInterval; a negative value disables compaction and
	// retention entirely.
	CompactInterval time.Duration

	// Logger receives the broker's warnings and errors. kfake's
	// per-request chatter is logged at debug level. Nil uses
	// slog.Default().
	Logger *slog.Logger
}

// Broker is a single-node Kafka broker running inside this process, backed
// by kfake. It speaks the Kafka protocol on Addrs, so any Kafka client
// (including franz-go and the rest of syncline) can use it.
type Broker struct {
	cluster *kfake.Cluster
	addrs   []string
	log     *slog.Logger
	klog    *kfakeLogger
	unlock  func() error

	// client is our own connection to the broker, used to list topics
	// and to send the request that triggers guarded compaction.
	client *kgo.Client

	stop      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error

	// compactMu serializes compaction with Close: a compaction runs on
	// kfake's request loop and must not race with kfake's shutdown.
	compactMu sync.Mutex
	closing   atomic.Bool

	compactSeq     atomic.Int64
	compactResults sync.Map // seq => compactResult
}

// compactResult is what one guarded compaction pass did.
type compactResult struct {
	compacted bool
	// blockedBy names the topic/partition whose open transaction stopped
	// the pass, if any.
	blockedBy string
}

// StartBroker starts an in-process Kafka broker. With a DataDir, it reloads
// everything a previous broker persisted there. Auto topic creation is on.
// The context bounds startup only; the broker runs until Close.
func StartBroker(ctx context.Context, cfg BrokerConfig) (*Broker, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "embedded-broker")

	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: invalid listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("embedded broker: invalid port in listen address %q", listen)
	}
	parts := cfg.Partitions
	if parts == 0 {
		parts = DefaultBrokerPartitions
	}
	if parts < 0 {
		return nil, fmt.Errorf("embedded broker: invalid partition count %d", parts)
	}

	b := &Broker{
		log:      log,
		klog:     &kfakeLogger{log: log},
		unlock:   func() error { return nil },
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			// kfake asks for 127.0.0.1:<port>; we honor the host
			// the caller configured.
			_, p, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			ln, err := net.Listen(network, net.JoinHostPort(host, p))
			if err != nil {
				return nil, err
			}
			return newAdvertisedListener(ln), nil
		}),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(int(parts)),
		kfake.ClusterID("syncline-embedded"),
		kfake.WithLogger(b.klog),
		// kfake's own compaction ticker compacts records of open
		// transactions; we turn it off and compact from
		// compactLoop instead.
		kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": disabledCleanerBackoffMs}),
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("embedded broker: creating data dir: %w", err)
		}
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		b.unlock = unlock
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}

	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		_ = b.unlock()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	b.cluster = cluster
	b.addrs = cluster.ListenAddrs()

	b.client, err = kgo.NewClient(kgo.SeedBrokers(b.addrs...))
	if err != nil {
		cluster.Close()
		_ = b.unlock()
		return nil, fmt.Errorf("embedded broker: internal client: %w", err)
	}

	// The control function stays registered for the broker's lifetime:
	// it never "handles" a request, so kfake never drops it.
	cluster.ControlKey(int16(kmsg.ListTransactions), b.controlCompact)

	interval := cfg.CompactInterval
	if interval == 0 {
		interval = DefaultCompactInterval
	}
	if interval > 0 {
		go b.compactLoop(interval)
	} else {
		close(b.loopDone)
	}

	log.Debug("embedded kafka broker started", "addrs", b.addrs, "data_dir", cfg.DataDir, "partitions", parts)
	return b, nil
}

// Addrs returns the host:port addresses clients should bootstrap from.
func (b *Broker) Addrs() []string {
	return slices.Clone(b.addrs)
}

// Control intercepts requests of one kind (a kmsg key, -1 for all) for
// fault injection in tests and failure drills: fn returns a response or an
// error to answer with and whether it handled the request. Unlike kfake's
// ControlKey, fn stays installed after it handled a request.
func (b *Broker) Control(key int16, fn func(kmsg.Request) (kmsg.Response, error, bool)) {
	b.cluster.ControlKey(key, func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.cluster.KeepControl()
		return fn(req)
	})
}

// Close stops the broker and flushes its persisted state to DataDir. It
// returns the persistence errors kfake reported while shutting down, if
// any. Close is safe to call more than once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		<-b.loopDone
		b.client.Close()

		b.closing.Store(true)
		b.compactMu.Lock()
		b.klog.captureErrors(true)
		b.cluster.Close()
		errs := b.klog.captureErrors(false)
		b.compactMu.Unlock()

		if err := b.unlock(); err != nil {
			errs = append(errs, err)
		}
		b.closeErr = errors.Join(errs...)
		if b.closeErr != nil {
			b.log.Error("embedded kafka broker closed with errors", "err", b.closeErr)
		} else {
			b.log.Debug("embedded kafka broker closed")
		}
	})
	return b.closeErr
}

// compactLoop compacts periodically until Close.
func (b *Broker) compactLoop(interval time.Duration) {
	defer close(b.loopDone)
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-timer.C:
		}
		next := interval
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		go func() {
			select {
			case <-b.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		res, err := b.compactOnce(ctx)
		cancel()
		switch {
		case err != nil:
			if !errors.Is(err, context.Canceled) {
				b.log.Warn("compaction pass failed", "err", err)
			}
		case !res.compacted && res.blockedBy != "":
			b.log.Debug("compaction deferred: open transaction on compacted partition", "partition", res.blockedBy)
			next = min(interval, compactRetryInterval)
		}
		timer.Reset(next)
	}
}

// compactOnce runs one guarded compaction pass: it compacts every topic with
// cleanup.policy=compact and applies retention everywhere, unless a
// compacted partition holds records of a still-open transaction, in which
// case it only applies retention.
//
// The check and the compaction run inside a kfake control function, which
// kfake runs on its request loop: no client request (so no transactional
// produce) is processed between the check and the compaction.
func (b *Broker) compactOnce(ctx context.Context) (compactResult, error) {
	// A fresh metadata request: kadm.ListTopics answers from the
	// client's metadata cache and can miss topics created seconds ago.
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Topics = nil // all topics
	mresp, err := mreq.RequestWith(ctx, b.client)
	if err != nil {
		return compactResult{}, fmt.Errorf("listing topics: %w", err)
	}
	seq := b.compactSeq.Add(1)
	req := kmsg.NewPtrListTransactionsRequest()
	req.StateFilters = []string{compactMarker, strconv.FormatInt(seq, 10)}
	for _, t := range mresp.Topics {
		if t.Topic != nil && t.ErrorCode == 0 {
			req.StateFilters = append(req.StateFilters, *t.Topic)
		}
	}
	if _, err := b.client.Request(ctx, req); err != nil {
		return compactResult{}, fmt.Errorf("triggering compaction: %w", err)
	}
	v, ok := b.compactResults.LoadAndDelete(seq)
	if !ok {
		return compactResult{}, errors.New("compaction request was not intercepted")
	}
	return v.(compactResult), nil
}

// controlCompact is the kfake control function for ListTransactions. It
// acts only on our marked requests and never handles the request itself, so
// kfake answers it normally afterwards.
func (b *Broker) controlCompact(req kmsg.Request) (kmsg.Response, error, bool) { //nolint:revive // kfake control signature
	lt, ok := req.(*kmsg.ListTransactionsRequest)
	if !ok || len(lt.StateFilters) < 2 || lt.StateFilters[0] != compactMarker {
		return nil, nil, false
	}
	seq, err := strconv.ParseInt(lt.StateFilters[1], 10, 64)
	if err != nil {
		return nil, nil, false
	}
	res := b.compactGuarded(lt.StateFilters[2:])
	b.compactResults.Store(seq, res)
	return nil, nil, false
}

// compactGuarded runs on kfake's request loop (inside a control function);
// kfake still serves the admin calls we make here.
func (b *Broker) compactGuarded(topics []string) compactResult {
	b.compactMu.Lock()
	defer b.compactMu.Unlock()
	if b.closing.Load() {
		return compactResult{}
	}
	for _, t := range topics {
		info := b.cluster.TopicInfo(t)
		if info == nil || !isCompacted(info.Configs) {
			continue
		}
		for _, p := range b.cluster.PartitionInfos(t) {
			if p.LastStableOffset < p.HighWatermark {
				b.cluster.ApplyRetention()
				return compactResult{blockedBy: fmt.Sprintf("%s/%d", t, p.Partition)}
			}
		}
	}
	b.cluster.Compact()
	return compactResult{compacted: true}
}

func isCompacted(configs map[string]*string) bool {
	v, ok := configs["cleanup.policy"]
	return ok && v != nil && strings.Contains(*v, "compact")
}

// advertisedListener reports a loopback address when bound to an
// unspecified address, because kfake advertises its listener's address to
// clients and 0.0.0.0 is not a dialable address everywhere.
type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func newAdvertisedListener(ln net.Listener) advertisedListener {
	al := advertisedListener{Listener: ln, addr: ln.Addr()}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		lo := net.IPv4(127, 0, 0, 1)
		if a.IP.To4() == nil {
			if probe, err := net.Listen("tcp4", "127.0.0.1:0"); err == nil {
				probe.Close()
			} else {
				lo = net.IPv6loopback
			}
		}
		al.addr = &net.TCPAddr{IP: lo, Port: a.Port}
	}
	return al
}

// Addr returns the address clients should dial.
func (l advertisedListener) Addr() net.Addr { return l.addr }

// kfakeLogger adapts kfake's printf logger to slog. kfake logs every request
// at info level, so its info and debug messages go to slog's debug level;
// warnings and errors (including persistence failures) keep their level.
type kfakeLogger struct {
	log *slog.Logger

	mu      sync.Mutex
	capture bool
	errs    []error
}

// Logf implements kfake.Logger.
func (l *kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelNone:
		return
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	default:
		lvl = slog.LevelDebug
	}
	if level == kfake.LogLevelError {
		l.mu.Lock()
		if l.capture {
			l.errs = append(l.errs, fmt.Errorf("kfake: "+msg, args...))
		}
		l.mu.Unlock()
	}
	if !l.log.Enabled(context.Background(), lvl) {
		return
	}
	l.log.Log(context.Background(), lvl, fmt.Sprintf(msg, args...), "source", "kfake")
}

// captureErrors starts (on=true) or stops collecting error-level messages,
// returning what was collected since it started.
func (l *kfakeLogger) captureErrors(on bool) []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.capture = on
	errs := l.errs
	l.errs = nil
	return errs
}

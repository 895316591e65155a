// Package pipeline wires a configuration into running components: the
// embedded broker and registry when no brokers are configured, the sources,
// the changes stage, the sinks, and the HTTP endpoints. cmd/syncline and the
// end-to-end tests both run it.
package pipeline

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/sync/errgroup"

	"syncline/capture/postgres"
	"syncline/capture/saas"
	"syncline/internal/admin"
	"syncline/internal/config"
	"syncline/internal/dlq"
	"syncline/internal/embedded"
	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/reconcile"
	"syncline/internal/topics"
	"syncline/schemas"
	"syncline/sink/warehouse"
	"syncline/transform/changes"
	"syncline/transform/entities"
)

// Role selects which components a process runs.
type Role string

// The roles.
const (
	RoleAll       Role = "all"
	RoleCapture   Role = "capture"
	RoleTransform Role = "transform"
	RoleSink      Role = "sink"
)

// ParseRole checks a --role value.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAll, RoleCapture, RoleTransform, RoleSink:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: use all, capture, transform or sink", s)
}

// Options are the process-level settings of a run.
type Options struct {
	Role       Role
	InstanceID string // distinguishes processes of one role; default the host name
	Logger     *slog.Logger
	// Registry receives the metrics; default a new registry with Go and
	// process collectors.
	Registry *prometheus.Registry
	// Started, when set, is called once every component has started, with
	// the addresses in use.
	Started func(Addrs)
}

// Addrs are the addresses a running pipeline serves or uses.
type Addrs struct {
	Brokers  []string
	Registry string
	HTTP     string
}

type component interface {
	Run(ctx context.Context) error
	Ready() bool
}

type named struct {
	name string
	c    component
}

// Run runs the pipeline until ctx is done, then shuts down gracefully: each
// component finishes or aborts its transaction in progress, so a stop loses
// and repeats nothing.
func Run(ctx context.Context, cfg *config.Config, o Options) error {
	err := run(ctx, cfg, o)
	if err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || strings.Contains(err.Error(), context.Canceled.Error())) {
		// Stopped (SIGTERM) while starting: a clean stop, not a failure.
		return nil
	}
	return err
}

func run(ctx context.Context, cfg *config.Config, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.Role == "" {
		o.Role = RoleAll
	}
	if o.InstanceID == "" {
		// The host name is stable across restarts (a StatefulSet pod, a
		// VM), so a restarted process takes its predecessor's place: its
		// transactional ids fence the old transactions at once, its static
		// group membership skips the rebalance, and its state directory is
		// reused. Several processes of one role on one host need
		// --instance-id each; the lock below says so.
		o.InstanceID = instanceIDFromHost()
		if o.Role == RoleAll && cfg.Kafka.Embedded() {
			o.InstanceID = "0"
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	unlock, err := lockInstance(cfg.DataDir, o.Role, o.InstanceID)
	if err != nil {
		return err
	}
	defer unlock()
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := metrics.New(reg)

	var addrs Addrs
	brokers, kopts, closeBroker, err := connectKafka(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeBroker()
	addrs.Brokers = brokers

	regURL := cfg.Registry.URL
	if regURL == "" {
		r, err := embedded.NewRegistry(ctx, embedded.RegistryConfig{Brokers: brokers, Topic: topics.Schemas(cfg.Kafka.TopicPrefix), KafkaOpts: kopts, Logger: log})
		if err != nil {
			return fmt.Errorf("embedded schema registry: %w", err)
		}
		defer r.Close()
		regURL, err = r.Serve(ctx, cfg.Registry.Listen)
		if err != nil {
			return fmt.Errorf("embedded schema registry on %s: %w", cfg.Registry.Listen, err)
		}
		log.Info("embedded schema registry started", "url", regURL)
	}
	addrs.Registry = regURL
	src, err := registryClient(cfg, regURL)
	if err != nil {
		return err
	}
	serde := schemas.NewSerde(src)

	if err := ensureTopics(ctx, cfg, kopts); err != nil {
		return err
	}
	comps, closers, err := build(cfg, o, kopts, serde, src, m, log)
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	if cfg.HTTP.Listen != "" {
		ln, err := net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
		}
		scheme := "http"
		var tlsCfg *tls.Config
		if cfg.HTTP.TLS.Enabled() {
			scheme = "https"
			if tlsCfg, err = httpTLS(cfg.HTTP.TLS); err != nil {
				ln.Close()
				return err
			}
		}
		addrs.HTTP = scheme + "://" + ln.Addr().String()
		sampler := admin.NewSampler(reg, statsInterval, statsKeep)
		g.Go(func() error { sampler.Run(gctx); return nil })
		srv := &http.Server{Handler: admin.Handler(adminOptions(cfg, o, comps, reg, sampler, kopts, serde, log)), ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg}
		g.Go(func() error {
			var err error
			if tlsCfg != nil {
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http server: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
		log.Info("serving /metrics, /healthz, /readyz, the admin API (/api/v1) and the console (/console/)", "addr", addrs.HTTP)
		if cfg.HTTP.Token.Value() == "" && !isLoopback(ln.Addr()) {
			log.Warn("the admin API is reachable from the network without a token: set http.token", "listen", cfg.HTTP.Listen)
		}
	}
	for _, c := range comps {
		g.Go(func() error {
			if err := c.c.Run(gctx); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		})
	}
	if o.Started != nil {
		o.Started(addrs)
	}
	err = g.Wait()
	log.Info("pipeline stopped", "err", err)
	return err
}

// rawTopics lists the raw topics of every configured table.
func rawTopics(cfg *config.Config) []string {
	var out []string
	for _, s := range cfg.Sources {
		for _, t := range s.QualifiedTables() {
			out = append(out, topics.Raw(cfg.Kafka.TopicPrefix, s.Name, t.Schema, t.Name))
		}
	}
	return out
}

// ensureTopics creates the topics of the configured tables and the internal
// topics up front, so no component waits for another to create them.
func ensureTopics(ctx context.Context, cfg *config.Config, kopts []kgo.Opt) error {
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	prefix, parts, rf := cfg.Kafka.TopicPrefix, int32(cfg.Kafka.Partitions), int16(cfg.Kafka.ReplicationFactor)
	specs := []kafka.TopicSpec{
		{Name: topics.Offsets(prefix), Partitions: 1, RF: rf, Compact: true},
		{Name: topics.DLQ(prefix), Partitions: 1, RF: rf},
		{Name: topics.DLQReplays(prefix), Partitions: 1, RF: rf, Compact: true},
		{Name: topics.State(prefix, changes.Stage), Partitions: parts, RF: rf, Compact: true},
	}
	for _, raw := range rawTopics(cfg) {
		specs = append(specs, kafka.TopicSpec{Name: raw, Partitions: parts, RF: rf},
			kafka.TopicSpec{Name: topics.ChangeFromRaw(prefix, raw), Partitions: parts, RF: rf})
	}
	for _, s := range cfg.Sinks {
		specs = append(specs, kafka.TopicSpec{Name: reconcile.RepairTopic(prefix, s.Name), Partitions: parts, RF: rf})
	}
	if len(cfg.Entities) > 0 {
		specs = append(specs, kafka.TopicSpec{Name: topics.State(prefix, entities.Stage), Partitions: parts, RF: rf, Compact: true},
			kafka.TopicSpec{Name: entities.ReviewTopic(prefix), Partitions: 1, RF: rf, Compact: true})
		for _, e := range cfg.Entities {
			specs = append(specs, kafka.TopicSpec{Name: entities.InputTopic(prefix, e.Name), Partitions: int32(max(e.Shards, 1)), RF: rf},
				kafka.TopicSpec{Name: entities.Topic(prefix, e.Name), Partitions: parts, RF: rf})
		}
	}
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ectx, kadm.NewClient(cl), specs...); err != nil {
		return fmt.Errorf("create topics (the Kafka principal needs CREATE on the cluster or the topics must exist): %w", err)
	}
	return nil
}

// registryClient is a client of the schema registry at url with cfg's
// credentials and TLS settings.
func registryClient(cfg *config.Config, url string) (*sr.Client, error) {
	srOpts := []sr.ClientOpt{sr.URLs(url)}
	if cfg.Registry.Username != "" {
		srOpts = append(srOpts, sr.BasicAuth(cfg.Registry.Username, cfg.Registry.Password.Value()))
	}
	if tc, err := tlsOf(cfg.Registry.TLS).Build(); err != nil {
		return nil, fmt.Errorf("registry tls: %w", err)
	} else if tc != nil {
		srOpts = append(srOpts, sr.DialTLSConfig(tc))
	}
	src, err := sr.NewClient(srOpts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry client: %w", err)
	}
	return src, nil
}

// kafkaClientConfig is the client configuration for brokers: cfg's TLS
// and SASL settings, none for the embedded broker.
func kafkaClientConfig(cfg *config.Config, brokers []string) kafka.ClientConfig {
	kc := kafka.ClientConfig{Brokers: brokers}
	if !cfg.Kafka.Embedded() {
		kc.TLS = tlsOf(cfg.Kafka.TLS)
		kc.SASLMechanism, kc.SASLUser, kc.SASLPassword = string(cfg.Kafka.SASL.Mechanism), cfg.Kafka.SASL.Username, cfg.Kafka.SASL.Password.Value()
	}
	return kc
}

// OperatorClients are the Kafka client options and the schema registry
// client an operator command (syncline diff --repair) uses to reach the
// pipeline described by cfg: kafka.brokers and registry.url, or, with the
// embedded default, the running process's embedded broker and registry
// (kafka.embedded.listen, registry.listen).
func OperatorClients(cfg *config.Config) ([]kgo.Opt, *sr.Client, error) {
	brokers := cfg.Kafka.Brokers
	if cfg.Kafka.Embedded() {
		brokers = []string{cfg.Kafka.EmbeddedBroker.Listen}
	}
	kopts, err := kafkaClientConfig(cfg, brokers).Opts()
	if err != nil {
		return nil, nil, err
	}
	url := cfg.Registry.URL
	if url == "" {
		url = "http://" + cfg.Registry.Listen
	}
	src, err := registryClient(cfg, url)
	if err != nil {
		return nil, nil, err
	}
	return kopts, src, nil
}

func tlsOf(t config.TLS) kafka.TLSConfig {
	return kafka.TLSConfig{Enabled: t.Enabled, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, InsecureSkipVerify: t.InsecureSkipVerify, ServerName: t.ServerName}
}

func build(cfg *config.Config, o Options, kopts []kgo.Opt, serde *schemas.Serde, reg reconcile.SchemaRegistry, m *metrics.Metrics, log *slog.Logger) ([]named, []func(), error) {
	var comps []named
	var closers []func()
	prefix := cfg.Kafka.TopicPrefix
	rf := int16(cfg.Kafka.ReplicationFactor)
	// The consumer-group stages' clients: kopts plus the session timeout.
	gopts := slices.Clip(append(slices.Clip(kopts), kgo.SessionTimeout(cfg.Kafka.SessionTimeout))) // clipped: every stage appends its own
	if o.Role == RoleAll || o.Role == RoleCapture {
		for _, s := range cfg.Sources {
			if c, ok := pollSourceConfig(cfg, s); ok {
				src, err := saas.New(c, kopts, serde, m, log)
				if err != nil {
					return nil, closers, err
				}
				comps = append(comps, named{"source " + s.Name, src})
				continue
			}
			comps = append(comps, named{"source " + s.Name, postgres.New(sourceConfig(cfg, s), kopts, serde, m, log)})
		}
	}
	if o.Role == RoleAll || o.Role == RoleTransform {
		p, err := changes.New(changes.Config{
			TopicPrefix: prefix, Partitions: int32(cfg.Kafka.Partitions), RF: rf, InstanceID: o.InstanceID,
			StateDir:  filepath.Join(cfg.DataDir, "state", changes.Stage, o.InstanceID),
			BatchSize: cfg.Transform.Changes.BatchSize, TxnTimeout: cfg.Kafka.TransactionTimeout,
			Topics: rawTopics(cfg), SourceDSNs: sourceDSNs(cfg), StateKey: cfg.Transform.State.Key(),
		}, gopts, serde, m, log)
		if err != nil {
			return nil, closers, err
		}
		comps = append(comps, named{"changes stage", p})
		if len(cfg.Entities) > 0 {
			ents, err := cfg.CompileEntities()
			if err != nil {
				return nil, closers, err
			}
			ec := entities.Config{
				TopicPrefix: prefix, Partitions: int32(cfg.Kafka.Partitions), RF: rf, InstanceID: o.InstanceID,
				StateDir:  filepath.Join(cfg.DataDir, "state", entities.Stage, o.InstanceID),
				BatchSize: cfg.Transform.Changes.BatchSize, TxnTimeout: cfg.Kafka.TransactionTimeout,
				StateKey: cfg.Transform.State.Key(), Entities: ents,
			}
			rt, err := entities.NewRouter(ec, gopts, serde, m, log)
			if err != nil {
				return nil, closers, err
			}
			ep, err := entities.New(ec, gopts, serde, m, log)
			if err != nil {
				return nil, closers, err
			}
			comps = append(comps, named{"entities routing", rt}, named{"entities stage", ep})
		}
	}
	if o.Role == RoleAll || o.Role == RoleSink {
		var prod *kgo.Client
		for _, s := range cfg.Sinks {
			if prod == nil {
				var err error
				if prod, err = kgo.NewClient(kopts...); err != nil {
					return nil, closers, err
				}
				closers = append(closers, prod.Close)
			}
			if s.Type == config.SinkHubSpot {
				sk, err := hubspotSink(cfg, s, o, gopts, serde, m, log)
				if err != nil {
					return nil, closers, fmt.Errorf("sink %s: %w", s.Name, err)
				}
				comps = append(comps, named{"sink " + s.Name, sk})
				continue
			}
			if sk, ok, err := saasSink(cfg, s, o, gopts, serde, m, log); ok {
				if err != nil {
					return nil, closers, fmt.Errorf("sink %s: %w", s.Name, err)
				}
				comps = append(comps, named{"sink " + s.Name, sk})
				continue
			}
			if s.Type == config.SinkREST {
				sk, err := restSink(cfg, s, o, gopts, serde, m, log)
				if err != nil {
					return nil, closers, fmt.Errorf("sink %s: %w", s.Name, err)
				}
				comps = append(comps, named{"sink " + s.Name, sk})
				continue
			}
			if s.Type == config.SinkWebhook {
				sk, err := webhookSink(cfg, s, o, gopts, serde, dlq.New(topics.DLQ(prefix), prod, m), m, log)
				if err != nil {
					return nil, closers, fmt.Errorf("sink %s: %w", s.Name, err)
				}
				comps = append(comps, named{"sink " + s.Name, sk})
				continue
			}
			wc := warehouse.Config{
				Name: s.Name, DSN: s.DSN.Value(), Schema: s.SchemaName(), BatchSize: s.BatchSize, BatchTimeout: s.BatchTimeout,
				SoftDelete: s.DeleteMode == config.DeleteSoft, IgnoreTruncate: s.Truncate == config.TruncateIgnore,
				InstanceID: o.InstanceID,
				AuditOff:   !s.Audit.Enabled, AuditRetention: s.Audit.Retention,
			}
			for _, st := range cfg.SinkTables(s) {
				wc.Tables = append(wc.Tables, warehouse.TableRef{Source: st.Source, Schema: st.Table.Schema, Table: st.Table.Name})
				wc.Topics = append(wc.Topics, topics.Change(prefix, st.Source, st.Table.Schema, st.Table.Name))
			}
			for _, name := range cfg.SinkEntities(s) {
				wc.Tables = append(wc.Tables, warehouse.TableRef{Source: "entity", Schema: "entity", Table: name})
				wc.Topics = append(wc.Topics, entities.Topic(prefix, name))
			}
			if wb := s.WriteBack; wb.IsSet() {
				t := wb.WriteBackTable()
				wc.WriteBack = &warehouse.WriteBack{Schema: t.Schema, Table: t.Name, Key: wb.WriteBackKey(), System: s.System,
					Insert: wb.Insert, Columns: fieldMapping(wb.Columns)}
			}
			sk, err := warehouse.New(wc, gopts, serde, dlq.New(topics.DLQ(prefix), prod, m), m, log)
			if err != nil {
				return nil, closers, fmt.Errorf("sink %s: %w", s.Name, err)
			}
			if wc.WriteBack != nil {
				comps = append(comps, named{"sink " + s.Name, sk})
				continue
			}
			if err := sk.SetRepairTopic(reconcile.RepairTopic(prefix, s.Name)); err != nil {
				return nil, closers, err
			}
			comps = append(comps, named{"sink " + s.Name, sk})
			if s.Reconcile.Interval > 0 {
				sc, err := reconcile.NewScheduler(cfg, s, prod, serde, reg, m, log)
				if err != nil {
					return nil, closers, err
				}
				comps = append(comps, named{"reconcile " + s.Name, sc})
			}
		}
	}
	return comps, closers, nil
}

// connectKafka returns the brokers and client options of cfg, starting the
// embedded broker (persisted under data_dir) when no brokers are
// configured; closeBroker stops it.
func connectKafka(ctx context.Context, cfg *config.Config, log *slog.Logger) (brokers []string, kopts []kgo.Opt, closeBroker func(), err error) {
	closeBroker = func() {}
	brokers = cfg.Kafka.Brokers
	if cfg.Kafka.Embedded() {
		b, err := embedded.StartBroker(ctx, embedded.BrokerConfig{
			DataDir: filepath.Join(cfg.DataDir, "kafka"), Listen: cfg.Kafka.EmbeddedBroker.Listen,
			Partitions: int32(cfg.Kafka.Partitions), SyncWrites: cfg.Kafka.EmbeddedBroker.SyncWrites, Logger: log,
		})
		if err != nil {
			return nil, nil, closeBroker, fmt.Errorf("embedded broker: %w", err)
		}
		closeBroker = func() { b.Close() }
		brokers = b.Addrs()
		log.Info("embedded Kafka broker started", "addrs", strings.Join(brokers, ","), "data_dir", filepath.Join(cfg.DataDir, "kafka"))
	}
	kc := kafkaClientConfig(cfg, brokers)
	kopts, err = kc.Opts()
	if err != nil {
		closeBroker()
		return nil, nil, func() {}, err
	}
	if !cfg.Kafka.Embedded() {
		if err := pingKafka(ctx, kopts, kc); err != nil {
			return nil, nil, func() {}, err
		}
	}
	return brokers, kopts, closeBroker, nil
}

// pingKafka checks at startup that the brokers answer with this TLS and
// SASL configuration, so that a wrong address, certificate or password
// is one error that names what to check, not retries deep in a stage.
func pingKafka(ctx context.Context, kopts []kgo.Opt, kc kafka.ClientConfig) error {
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	var last error
	for attempt, delay := 0, 500*time.Millisecond; attempt < 5; attempt, delay = attempt+1, delay*2 {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		last = cl.Ping(pctx)
		cancel()
		if last == nil || ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	how := "plaintext"
	if kc.TLS.Enabled {
		how = "TLS"
	}
	if kc.SASLMechanism != "" {
		how += fmt.Sprintf(", SASL %s as user %q", kc.SASLMechanism, kc.SASLUser)
	}
	return fmt.Errorf("cannot use the Kafka brokers %s (%s): %w; check kafka.brokers, kafka.tls and kafka.sasl: when the brokers are up, a rejected certificate or a failed SASL authentication (wrong user or password) often shows only as a closed connection",
		strings.Join(kc.Brokers, ","), how, last)
}

// sourceDSNs maps each source's name to its DSN: the changes stage
// re-reads rows whose unchanged TOAST values its state lacks.
func sourceDSNs(cfg *config.Config) map[string]string {
	out := map[string]string{}
	for _, s := range cfg.Sources {
		out[s.Name] = s.DSN.Value()
	}
	return out
}

// sourceConfig is the capture configuration of source s.
func sourceConfig(cfg *config.Config, s config.Source) postgres.Config {
	var tables []postgres.TableName
	for _, t := range s.QualifiedTables() {
		tables = append(tables, postgres.TableName{Schema: t.Schema, Name: t.Name})
	}
	var signal *postgres.TableName
	if t, err := config.ParseTableName(s.SignalTable); err == nil && s.SignalTable != "" {
		signal = &postgres.TableName{Schema: t.Schema, Name: t.Name}
	}
	keys := map[postgres.TableName][]string{}
	for _, k := range s.Keys {
		if t, err := config.ParseTableName(k.Table); err == nil {
			keys[postgres.TableName{Schema: t.Schema, Name: t.Name}] = k.Columns
		}
	}
	return postgres.Config{
		Name: s.Name, DSN: s.DSN.Value(), Tables: tables, Slot: s.Slot, Publication: s.Publication,
		NoSnapshot: s.Snapshot == config.SnapshotNever, StatusInterval: s.StatusInterval,
		BatchMaxRecords: s.BatchMaxRecords, BatchMaxWait: s.BatchMaxWait,
		TopicPrefix: cfg.Kafka.TopicPrefix, Partitions: int32(cfg.Kafka.Partitions), RF: int16(cfg.Kafka.ReplicationFactor),
		TxnTimeout: cfg.Kafka.TransactionTimeout, HeartbeatInterval: s.HeartbeatInterval, Messages: s.Messages, Keys: keys,
		MaxBackfills: s.MaxBackfills, SignalTable: signal,
	}
}

// Resnapshot makes the next run of source take a new snapshot: it drops
// the source's replication slot and forgets its stored position. It is the
// recovery from a lost slot; the source must not be running.
func Resnapshot(ctx context.Context, cfg *config.Config, source string, log *slog.Logger) error {
	var src *config.Source
	for i := range cfg.Sources {
		if cfg.Sources[i].Name == source {
			src = &cfg.Sources[i]
		}
	}
	if src == nil {
		var names []string
		for _, s := range cfg.Sources {
			names = append(names, s.Name)
		}
		return fmt.Errorf("no source %q in the configuration (sources: %s)", source, strings.Join(names, ", "))
	}
	_, kopts, closeBroker, err := connectKafka(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeBroker()
	return postgres.Resnapshot(ctx, sourceConfig(cfg, *src), kopts, log)
}

// instanceIDFromHost is the default instance id: the host name, reduced to
// characters that are safe in transactional ids and directory names.
func instanceIDFromHost() string {
	h, _ := os.Hostname()
	var b strings.Builder
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "host"
	}
	return b.String()
}

// lockInstance takes an exclusive lock for (role, instance) under dataDir,
// so two processes on one host cannot run as the same instance (they would
// fence each other's transactions and share state).
func lockInstance(dataDir string, role Role, instance string) (unlock func(), err error) {
	dir := filepath.Join(dataDir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", dataDir, err)
	}
	path := filepath.Join(dir, string(role)+"-"+instance+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("instance lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another syncline process already runs role %s as instance %q with data_dir %s (lock %s): give each process of a role its own --instance-id", role, instance, dataDir, path)
	}
	return func() { f.Close() }, nil
}

package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	pipelineNameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)
	sourceNameRE   = regexp.MustCompile(`^[a-z0-9_]+$`)
	sinkNameRE     = sourceNameRE
	topicPrefixRE  = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	slotNameRE     = regexp.MustCompile(`^[a-z0-9_]+$`)
	publicationRE  = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)
)

var saslMechanisms = []SASLMechanism{SASLPlain, SASLScramSHA256, SASLScramSHA512}

// Validate checks the whole configuration and returns every problem found,
// joined with errors.Join, as [*FieldError] values naming the key path and,
// for a parsed configuration, the file and line. It returns nil when the
// configuration is usable. Validate does not modify c; it does check that
// configured TLS files exist.
func (c *Config) Validate() error {
	return joinErrors(c.validate())
}

type validator struct {
	c    *Config
	errs []error
}

func (v *validator) errorf(path, format string, args ...any) {
	fe := &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
	if m := v.c.meta; m != nil {
		fe.File = m.file
		fe.Line = m.lineOf(path)
	}
	v.errs = append(v.errs, fe)
}

// line returns the line of exactly path, or 0; m may be nil.
func (m *meta) line(path string) int {
	if m == nil {
		return 0
	}
	return m.lines[path]
}

// lineOf returns the line of path, or of its closest parent that appeared
// in the document.
func (m *meta) lineOf(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := m.lines[p]; ok {
			return l
		}
	}
	return 0
}

func (c *Config) validate() []error {
	v := &validator{c: c}

	switch {
	case c.Name == "":
		v.errorf("name", "required; name the pipeline with lowercase letters, digits, '_' and '-' (for example name: quickstart)")
	case !pipelineNameRE.MatchString(c.Name):
		v.errorf("name", "%q is not a valid pipeline name; use only lowercase letters, digits, '_' and '-'%s", c.Name, suggestName(c.Name, pipelineNameRE))
	}
	if c.DataDir == "" {
		v.errorf("data_dir", "must not be empty; remove it to use the default %q", defaultDataDir)
	}
	enum(v, "log.level", c.Log.Level, []LogLevel{LogDebug, LogInfo, LogWarn, LogError})
	enum(v, "log.format", c.Log.Format, []LogFormat{LogAuto, LogText, LogJSON})

	v.kafka(&c.Kafka)
	v.registry(&c.Registry, c.Kafka.Embedded())
	if t := c.HTTP.TLS; t.Enabled() || t.ClientCAFile != "" {
		if (t.CertFile == "") != (t.KeyFile == "") || t.CertFile == "" {
			missing := "http.tls.key_file"
			if t.CertFile == "" {
				missing = "http.tls.cert_file"
			}
			v.errorf(missing, "required: HTTPS needs both cert_file and key_file")
		}
		for _, f := range []struct{ key, file string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"client_ca_file", t.ClientCAFile}} {
			if f.file == "" {
				continue
			}
			if _, err := os.Stat(f.file); err != nil {
				v.errorf("http.tls."+f.key, "%v (relative paths are resolved against the configuration file's directory)", err)
			}
		}
	}
	if c.HTTP.Listen != "" {
		v.listenAddr("http.listen", c.HTTP.Listen, ` or "" to disable the HTTP server`)
	}
	v.atLeast("transform.changes.batch_size", c.Transform.Changes.BatchSize, 1)
	if k := c.Transform.State.EncryptionKey; k.IsSet() {
		b, err := hex.DecodeString(strings.TrimSpace(k.Value()))
		if err != nil || (len(b) != 16 && len(b) != 24 && len(b) != 32) {
			v.errorf("transform.state.encryption_key", "want 32, 48 or 64 hex digits (an AES-128, -192 or -256 key), e.g. from `openssl rand -hex 32`; got %d characters", len(strings.TrimSpace(k.Value())))
		}
	}

	v.sources(c.Sources)
	v.sinks(c.Sinks)
	v.entities(c.Entities)
	return v.errs
}

func (v *validator) kafka(k *Kafka) {
	for i, b := range k.Brokers {
		v.hostPort(fmt.Sprintf("kafka.brokers[%d]", i), b, true, "")
	}
	switch {
	case k.TopicPrefix == "":
		v.errorf("kafka.topic_prefix", "must not be empty; remove it to use the default %q", defaultTopicPrefix)
	case !topicPrefixRE.MatchString(k.TopicPrefix):
		v.errorf("kafka.topic_prefix", "%q may contain only letters, digits, '.', '_' and '-'", k.TopicPrefix)
	case len(k.TopicPrefix) > 200:
		v.errorf("kafka.topic_prefix", "is %d characters long; keep it under 200 so topic names fit Kafka's 249-character limit", len(k.TopicPrefix))
	}
	if k.Partitions < 1 || k.Partitions > 10000 {
		v.errorf("kafka.partitions", "must be between 1 and 10000, got %d", k.Partitions)
	}
	if k.ReplicationFactor != -1 && (k.ReplicationFactor < 1 || k.ReplicationFactor > 32767) {
		v.errorf("kafka.replication_factor", "must be -1 (the broker's default) or between 1 and 32767, got %d", k.ReplicationFactor)
	}
	v.positive("kafka.transaction_timeout", k.TransactionTimeout)
	if k.SessionTimeout < 6*time.Second || k.SessionTimeout > 30*time.Minute {
		v.errorf("kafka.session_timeout", "must be between 6s and 30m (the brokers' default group session bounds), got %v", k.SessionTimeout)
	}
	if k.Embedded() {
		if k.EmbeddedBroker.Listen == "" {
			v.errorf("kafka.embedded.listen", "required when kafka.brokers is empty (the embedded broker needs an address); use 127.0.0.1:0 for a random port, or list external brokers in kafka.brokers")
		} else {
			v.listenAddr("kafka.embedded.listen", k.EmbeddedBroker.Listen, "")
		}
		if k.TLS.Enabled {
			v.errorf("kafka.tls.enabled", "TLS is only used with external brokers, but kafka.brokers is empty (embedded broker); list the brokers or disable TLS")
		}
		if k.SASL.Mechanism != "" {
			v.errorf("kafka.sasl.mechanism", "SASL is only used with external brokers, but kafka.brokers is empty (embedded broker); list the brokers or remove kafka.sasl")
		}
	} else if k.EmbeddedBroker.Listen != "" {
		v.listenAddr("kafka.embedded.listen", k.EmbeddedBroker.Listen, "")
	}
	v.tls("kafka.tls", k.TLS)

	mech := SASLMechanism(strings.ToUpper(string(k.SASL.Mechanism)))
	switch {
	case mech == SASLNone:
		if k.SASL.Username != "" || k.SASL.Password != "" {
			v.errorf("kafka.sasl.mechanism", "kafka.sasl.username/password are set but no mechanism is; set mechanism to one of %s", listOf(saslMechanisms))
		}
	case !slices.Contains(saslMechanisms, mech):
		v.errorf("kafka.sasl.mechanism", "unsupported SASL mechanism %q%s; use one of %s, or remove it to disable SASL", k.SASL.Mechanism, didYouMean(string(mech), strs(saslMechanisms)), listOf(saslMechanisms))
	default:
		if k.SASL.Username == "" {
			v.errorf("kafka.sasl.username", "required when kafka.sasl.mechanism is %s", mech)
		}
		if k.SASL.Password == "" {
			v.errorf("kafka.sasl.password", "required when kafka.sasl.mechanism is %s", mech)
		}
	}
}

func (v *validator) registry(r *Registry, embeddedKafka bool) {
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		switch {
		case err != nil:
			// The URL may hold credentials: do not echo it.
			v.errorf("registry.url", "is not a valid URL; use http://host:port or https://host:port")
		case u.Scheme != "http" && u.Scheme != "https":
			v.errorf("registry.url", "must start with http:// or https://, got scheme %q", u.Scheme)
		case u.Host == "":
			v.errorf("registry.url", "has no host; use http://host:port or https://host:port")
		case u.Scheme == "http" && r.TLS.Enabled:
			v.errorf("registry.tls.enabled", "TLS is enabled but registry.url uses http://; use an https:// URL or disable TLS")
		}
	} else {
		if r.TLS.Enabled {
			v.errorf("registry.tls.enabled", "TLS is only used with an external registry, but registry.url is empty (embedded registry); set registry.url to an https:// URL or disable TLS")
		}
		if !embeddedKafka && r.Listen == "" {
			v.errorf("registry.listen", "required when kafka.brokers is set and registry.url is empty (the embedded registry needs an address); set registry.listen, or set registry.url to use an external registry")
		}
	}
	if r.Listen != "" {
		v.listenAddr("registry.listen", r.Listen, "")
	}
	if (r.Username == "") != (r.Password == "") {
		missing := "registry.password"
		if r.Username == "" {
			missing = "registry.username"
		}
		v.errorf(missing, "required when the other of registry.username/registry.password is set (HTTP basic auth needs both)")
	}
	v.tls("registry.tls", r.TLS)
}

func (v *validator) tls(path string, t TLS) {
	if !t.Enabled {
		for _, f := range []struct {
			key string
			set bool
		}{
			{"ca_file", t.CAFile != ""},
			{"cert_file", t.CertFile != ""},
			{"key_file", t.KeyFile != ""},
			{"insecure_skip_verify", t.InsecureSkipVerify},
			{"server_name", t.ServerName != ""},
		} {
			if f.set {
				v.errorf(path+"."+f.key, "is set but %s.enabled is false; set enabled: true or remove %s", path, f.key)
			}
		}
		return
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		missing := path + ".key_file"
		if t.CertFile == "" {
			missing = path + ".cert_file"
		}
		v.errorf(missing, "required: a client certificate needs both cert_file and key_file")
	}
	for _, f := range []struct{ key, file string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if f.file == "" {
			continue
		}
		if _, err := os.Stat(f.file); err != nil {
			v.errorf(path+"."+f.key, "%v (relative paths are resolved against the configuration file's directory)", err)
		}
	}
}

func (v *validator) sources(sources []Source) {
	if len(sources) == 0 {
		v.errorf("sources", "at least one source is required, for example:\n  sources:\n    - name: app\n      type: postgres\n      dsn: ${APP_DSN}\n      tables: [public.customers]")
		return
	}
	names := map[string]int{}
	for i, s := range sources {
		p := fmt.Sprintf("sources[%d]", i)
		switch {
		case s.Name == "":
			v.errorf(p+".name", "required; name the source with lowercase letters, digits and '_'")
		case !sourceNameRE.MatchString(s.Name):
			v.errorf(p+".name", "%q is not a valid source name; use only lowercase letters, digits and '_'%s", s.Name, suggestName(s.Name, sourceNameRE))
		default:
			if j, dup := names[s.Name]; dup {
				v.errorf(p+".name", "duplicate source name %q (also sources[%d]); names must be unique", s.Name, j)
			} else {
				names[s.Name] = i
			}
		}
		switch {
		case s.Type == "":
			v.errorf(p+".type", "required; supported source types: %s", listOf(SourceTypes))
		case !slices.Contains(SourceTypes, s.Type):
			v.errorf(p+".type", "unsupported source type %q; supported source types: %s", s.Type, listOf(SourceTypes))
		}
		if v.httpSource(p, s) {
			continue
		}
		if v.saasProfiles(p, s) {
			continue
		}
		if s.Type == SourceHubSpot {
			v.hubspot(p, s)
			continue
		}
		if s.HubSpot.IsSet() {
			v.errorf(p+".hubspot", "only allowed for sources of type hubspot")
		}
		v.dsn(p+".dsn", s.DSN)

		if len(s.Tables) == 0 {
			v.errorf(p+".tables", "at least one table is required, as schema.table or table (meaning public.table), for example tables: [public.customers]")
		}
		tables := map[TableName]int{}
		for j, t := range s.Tables {
			tp := fmt.Sprintf("%s.tables[%d]", p, j)
			tn, err := ParseTableName(t)
			if err != nil {
				v.errorf(tp, "invalid table name %s: %v", describeScalar(t), err)
				continue
			}
			if k, dup := tables[tn]; dup {
				v.errorf(tp, "duplicate table %s (also tables[%d]); list each table once", tn, k)
				continue
			}
			tables[tn] = j
		}

		if s.Slot != "" && (!slotNameRE.MatchString(s.Slot) || len(s.Slot) > maxIdentLen) {
			v.errorf(p+".slot", "%q is not a valid replication slot name; use at most %d lowercase letters, digits and '_'", s.Slot, maxIdentLen)
		}
		if s.Publication != "" && (!publicationRE.MatchString(s.Publication) || len(s.Publication) > maxIdentLen) {
			v.errorf(p+".publication", "%q is not a valid publication name; use at most %d lowercase letters, digits and '_', not starting with a digit", s.Publication, maxIdentLen)
		}
		enum(v, p+".snapshot", s.Snapshot, []SnapshotMode{SnapshotInitial, SnapshotNever})
		v.positive(p+".status_interval", s.StatusInterval)
		v.atLeast(p+".batch_max_records", s.BatchMaxRecords, 1)
		v.positive(p+".batch_max_wait", s.BatchMaxWait)
		if s.HeartbeatInterval < 0 {
			v.errorf(p+".heartbeat_interval", "must not be negative; 0 turns heartbeats off")
		}
		for j, m := range s.Messages {
			if m == "" {
				v.errorf(fmt.Sprintf("%s.messages[%d]", p, j), "empty message prefix; name a prefix or use \"*\" for all")
			}
		}
		if s.SignalTable != "" {
			if tn, err := ParseTableName(s.SignalTable); err != nil {
				v.errorf(p+".signal_table", "invalid table name %s: %v", describeScalar(s.SignalTable), err)
			} else if slices.Contains(s.QualifiedTables(), tn) {
				v.errorf(p+".signal_table", "the signal table %s must not be one of the captured tables", tn)
			}
		}
		if s.MaxBackfills < 0 {
			v.errorf(p+".max_backfills", "must not be negative (0 means the default, 2)")
		}
		keyed := map[TableName]bool{}
		for j, k := range s.Keys {
			kp := fmt.Sprintf("%s.keys[%d]", p, j)
			tn, err := ParseTableName(k.Table)
			switch {
			case err != nil:
				v.errorf(kp+".table", "invalid table name %s: %v", describeScalar(k.Table), err)
			case !slices.Contains(s.QualifiedTables(), tn):
				v.errorf(kp+".table", "table %s is not in this source's tables", tn)
			case keyed[tn]:
				v.errorf(kp+".table", "table %s has two key entries", tn)
			}
			keyed[tn] = true
			if len(k.Columns) == 0 {
				v.errorf(kp+".columns", "at least one key column is required")
			}
		}
	}
}

func (v *validator) sinks(sinks []Sink) {
	names := map[string]int{}
	var sourceNames []string
	for _, s := range v.c.Sources {
		if s.Name != "" && !slices.Contains(sourceNames, s.Name) {
			sourceNames = append(sourceNames, s.Name)
		}
	}
	for i, s := range sinks {
		p := fmt.Sprintf("sinks[%d]", i)
		switch {
		case s.Name == "":
			v.errorf(p+".name", "required; name the sink with lowercase letters, digits and '_'")
		case !sinkNameRE.MatchString(s.Name):
			v.errorf(p+".name", "%q is not a valid sink name; use only lowercase letters, digits and '_'%s", s.Name, suggestName(s.Name, sinkNameRE))
		default:
			if j, dup := names[s.Name]; dup {
				v.errorf(p+".name", "duplicate sink name %q (also sinks[%d]); names must be unique", s.Name, j)
			} else {
				names[s.Name] = i
			}
		}
		switch {
		case s.Type == "":
			v.errorf(p+".type", "required; supported sink types: %s", listOf(SinkTypes))
		case !slices.Contains(SinkTypes, s.Type):
			v.errorf(p+".type", "unsupported sink type %q; supported sink types: %s", s.Type, listOf(SinkTypes))
		}
		if s.Type != SinkWebhook && s.Webhook.IsSet() {
			v.errorf(p+".webhook", "only for a sink of type webhook")
		}
		if s.Type != SinkREST && s.REST.IsSet() {
			v.errorf(p+".rest", "only for a sink of type rest")
		}
		v.saasSinkBlocks(p, s)
		v.sinkRetry(p, s)
		v.writeBack(p, s)
		switch s.Type {
		case SinkHubSpot:
			v.hubspotSink(p, s)
		case SinkWebhook:
			if s.HubSpot.IsSet() {
				v.errorf(p+".hubspot", "only for a sink of type hubspot")
			}
			v.webhookSink(p, s)
		case SinkREST:
			if s.HubSpot.IsSet() {
				v.errorf(p+".hubspot", "only for a sink of type hubspot")
			}
			v.restSink(p, s)
		case SinkStripe, SinkSalesforce, SinkMailchimp:
			v.saasSink(p, s)
		default:
			if s.HubSpot.IsSet() {
				v.errorf(p+".hubspot", "only for a sink of type hubspot")
			}
			v.dsn(p+".dsn", s.DSN)
		}
		if s.Schema == "" {
			v.errorf(p+".schema", "must not be empty; remove it to use the default %q", defaultSinkSchema)
		} else if _, err := parseIdent(s.Schema); err != nil {
			v.errorf(p+".schema", "invalid schema name %s: %v", describeScalar(s.Schema), err)
		}

		if len(s.From) == 0 {
			v.errorf(p+".from", "at least one entry is required, as <source>.<schema>.<table> or <source>.* (for example from: [app.public.customers])")
		}
		seen := map[fromRef]int{}
		for j, entry := range s.From {
			fp := fmt.Sprintf("%s.from[%d]", p, j)
			if name, ok := strings.CutPrefix(entry, EntityFromPrefix); ok {
				v.entityFrom(fp, name)
				ref := fromRef{source: EntityFromPrefix, table: TableName{Name: name}}
				if k, dup := seen[ref]; dup {
					v.errorf(fp, "duplicate entry %s (also from[%d])", describeScalar(entry), k)
				}
				seen[ref] = j
				continue
			}
			ref, err := parseFromEntry(entry)
			if err != nil {
				v.errorf(fp, "invalid entry %s: %v", describeScalar(entry), err)
				continue
			}
			if k, dup := seen[ref]; dup {
				v.errorf(fp, "duplicate entry %s (also from[%d]); list each table once", describeScalar(entry), k)
				continue
			}
			seen[ref] = j
			src, ok := v.c.source(ref.source)
			if !ok {
				if len(sourceNames) == 0 {
					v.errorf(fp, "unknown source %q; no sources are configured", ref.source)
				} else {
					v.errorf(fp, "unknown source %q%s; configured sources: %s", ref.source, didYouMean(ref.source, sourceNames), strings.Join(sourceNames, ", "))
				}
				continue
			}
			if ref.all {
				continue
			}
			tables := src.QualifiedTables()
			if !slices.Contains(tables, ref.table) {
				var names []string
				for _, t := range tables {
					if n := (SourceTable{Source: src.Name, Table: t}).String(); !slices.Contains(names, n) {
						names = append(names, n)
					}
				}
				want := SourceTable{Source: src.Name, Table: ref.table}.String()
				v.errorf(fp, "source %q has no table %s%s; its tables: %s (add the table to the source's tables, or use %s.* for all of them)",
					src.Name, ref.table, didYouMean(want, names), strings.Join(names, ", "), src.Name)
			}
		}

		// Target tables are named after the source table alone: two
		// source tables with one name would write into one table.
		targets := map[string]SourceTable{}
		for _, st := range v.c.SinkTables(s) {
			if prev, dup := targets[st.Table.Name]; dup {
				v.errorf(p+".from", "%s and %s would both be written to table %q of schema %s; send one of them through another sink with its own schema",
					prev, st, st.Table.Name, s.Schema)
				continue
			}
			targets[st.Table.Name] = st
		}

		v.atLeast(p+".batch_size", s.BatchSize, 1)
		v.positive(p+".batch_timeout", s.BatchTimeout)
		enum(v, p+".delete_mode", s.DeleteMode, []DeleteMode{DeleteHard, DeleteSoft})
		enum(v, p+".truncate", s.Truncate, []TruncateMode{TruncateApply, TruncateIgnore})
		if s.Reconcile.Interval < 0 {
			v.errorf(p+".reconcile.interval", "must not be negative, got %s; use 0 (or leave it out) to turn scheduled reconciliation off", s.Reconcile.Interval)
		}
		if s.Reconcile.Settle < 0 {
			v.errorf(p+".reconcile.settle", "must not be negative, got %s", s.Reconcile.Settle)
		}
		if s.Audit.Retention < 0 {
			v.errorf(p+".audit.retention", "must be 0 (keep audit rows forever) or a positive duration such as \"720h\", got %s", s.Audit.Retention)
		}
	}
}

// dsn checks a connection string without ever printing it.
func (v *validator) dsn(path string, dsn Secret) {
	s := strings.TrimSpace(dsn.Value())
	switch {
	case s == "":
		v.errorf(path, "required; set a postgres:// URL or a key=value connection string, for example dsn: ${APP_DSN} with APP_DSN=postgres://user:pass@host:5432/db")
	case strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			var ue *url.Error
			reason := ""
			if errors.As(err, &ue) {
				// url.Error includes the URL, which holds the password:
				// report only the underlying reason.
				reason = ": " + ue.Err.Error()
			}
			v.errorf(path, "is not a valid postgres:// URL%s (special characters in the password must be percent-encoded)", reason)
		}
	case strings.Contains(s, "://"):
		v.errorf(path, "must be a postgres:// or postgresql:// URL, or a key=value connection string")
	case !strings.Contains(s, "="):
		v.errorf(path, "is neither a postgres:// URL nor a key=value connection string (such as \"host=db user=app dbname=app\")")
	}
}

func (v *validator) atLeast(path string, n, lo int) {
	if n < lo {
		v.errorf(path, "must be at least %d, got %d", lo, n)
	}
}

func (v *validator) positive(path string, d time.Duration) {
	if d <= 0 {
		v.errorf(path, "must be a positive duration such as \"500ms\" or \"10s\", got %s", d)
	}
}

// listenAddr checks a host:port to listen on (port 0 allowed, host may be
// empty for all interfaces).
func (v *validator) listenAddr(path, addr, alt string) {
	v.hostPort(path, addr, false, alt)
}

func (v *validator) hostPort(path, addr string, dial bool, alt string) {
	host, port, err := net.SplitHostPort(addr)
	example := "host:port, such as 127.0.0.1:9092"
	if err != nil {
		v.errorf(path, "%s is not a host:port address; use %s%s", describeScalar(addr), example, alt)
		return
	}
	n, err := strconv.Atoi(port)
	lo := 0
	if dial {
		lo = 1
	}
	if err != nil || n < lo || n > 65535 {
		v.errorf(path, "invalid port %q in %s; use a number between %d and 65535", port, describeScalar(addr), lo)
		return
	}
	if dial && host == "" {
		v.errorf(path, "%s has no host; use %s", describeScalar(addr), example)
	}
}

// enum checks that value is one of allowed.
func enum[T ~string](v *validator, path string, value T, allowed []T) {
	if slices.Contains(allowed, value) {
		return
	}
	if value == "" {
		v.errorf(path, "must not be empty; use one of %s", listOf(allowed))
		return
	}
	v.errorf(path, "invalid value %s%s; use one of %s", describeScalar(string(value)), didYouMean(string(value), strs(allowed)), listOf(allowed))
}

func strs[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// listOf formats values as "a, b, c".
func listOf[T ~string](values []T) string { return strings.Join(strs(values), ", ") }

// suggestName returns ` (for example "x")` with name turned into a valid one,
// or "" when that does not work.
func suggestName(name string, re *regexp.Regexp) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_':
			b.WriteRune(r)
		case r == '-' && re == pipelineNameRE:
			b.WriteRune(r)
		default:
			if out := b.String(); out != "" && !strings.HasSuffix(out, "_") && !strings.HasSuffix(out, "-") {
				b.WriteByte('_')
			}
		}
	}
	if s := strings.Trim(b.String(), "_"); s != "" && re.MatchString(s) {
		return fmt.Sprintf(" (for example %q)", s)
	}
	return ""
}

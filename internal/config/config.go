// Package config is the typed form of syncline's pipeline.yaml.
//
// A pipeline file is decoded strictly: unknown keys, values of the wrong type
// and malformed durations are errors that name the key path and the file
// line. After decoding, defaults are applied, a few values are normalized
// (table names, SASL mechanism, relative paths) and the whole configuration is
// checked by [Config.Validate], which reports every problem at once.
//
// # Variables and secrets
//
// Scalar values (never keys) may reference environment variables and files:
//
//	${VAR}              value of VAR; an error if VAR is unset
//	${VAR:-default}     value of VAR, or default when VAR is unset or empty
//	${VAR-default}      value of VAR, or default when VAR is unset
//	${file:/run/x}      contents of the file, one trailing newline removed
//	$$                  a literal $
//
// A $ that is not followed by { or $ is kept as is. Defaults and file paths
// may themselves contain references. Expansion happens after the YAML has been
// parsed, so a value containing ": ", "#" or newlines is taken literally and
// can never change the structure of the document. Relative ${file:...} paths
// are resolved against the directory of the configuration file.
//
// A key whose value is empty or null (for example "partitions:" or
// "listen: ~") is treated as if it were absent, so its default applies; write
// "" to set an empty string explicitly.
//
// Passwords, tokens and DSNs have type [Secret], which never prints its value
// through fmt, encoding/json, encoding (text), YAML or log/slog.
package config

import (
	"encoding/hex"
	"log/slog"
	"strings"
	"syncline/transform/entities"
	"time"
)

// Config is a whole pipeline.yaml.
//
// Build one with [Load] or [Parse]. A Config built by hand should start from
// [Default] so that fields whose zero value is meaningful (such as
// [HTTP.Listen]) get their defaults, and then be checked with
// [Config.Validate].
type Config struct {
	// Name identifies the pipeline (used in consumer group and transactional
	// ids). Required; lowercase letters, digits, '_' and '-'.
	Name string `yaml:"name"`

	// DataDir holds local state (offsets, the embedded broker's log, ...).
	// Default "./.syncline". A relative path is resolved against the
	// directory of the configuration file, so after Load or Parse it is
	// absolute.
	DataDir string `yaml:"data_dir"`

	// Log configures logging.
	Log Log `yaml:"log"`

	// Kafka configures the Kafka cluster, external or embedded.
	Kafka Kafka `yaml:"kafka"`

	// Registry configures the schema registry, external or embedded.
	Registry Registry `yaml:"registry"`

	// HTTP configures the admin/metrics HTTP server.
	HTTP HTTP `yaml:"http"`

	// Transform configures the built-in transforms.
	Transform Transform `yaml:"transform"`

	// Sources are the databases changes are captured from. At least one is
	// required; names are unique.
	Sources []Source `yaml:"sources"`

	// Sinks are the destinations changes are written to. Optional; names
	// are unique.
	Sinks []Sink `yaml:"sinks"`

	// Entities are the entity types golden records are built for from
	// several sources. Optional; names are unique.
	Entities []entities.Spec `yaml:"entities"`

	// meta records where the configuration came from, for error messages.
	meta *meta
}

// meta is the provenance of a parsed Config: file name and the line of every
// key path that appeared in the document.
type meta struct {
	file  string
	lines map[string]int
}

// LogLevel is the minimum level of log records that are written.
type LogLevel string

// Log levels.
const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// LogFormat is the encoding of log records.
type LogFormat string

// Log formats.
const (
	// LogAuto writes text to a terminal and JSON otherwise.
	LogAuto LogFormat = "auto"
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// Log configures logging.
type Log struct {
	// Level is one of debug, info, warn, error. Default "info".
	Level LogLevel `yaml:"level"`
	// Format is one of auto, text, json. Default "auto" (text on a
	// terminal, JSON otherwise).
	Format LogFormat `yaml:"format"`
}

// SlogLevel returns Level as a slog.Level; unknown levels map to info.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case LogDebug:
		return slog.LevelDebug
	case LogWarn:
		return slog.LevelWarn
	case LogError:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Kafka configures the Kafka cluster changes flow through.
type Kafka struct {
	// Brokers are the bootstrap brokers as host:port. Empty (the default)
	// runs an embedded single-node broker instead; see [Kafka.Embedded].
	// Entries containing commas are split, so
	// brokers: ["${KAFKA_BROKERS:-}"] takes a comma-separated list from the
	// environment and falls back to the embedded broker when it is unset;
	// empty entries are dropped.
	Brokers []string `yaml:"brokers"`

	// TopicPrefix is prepended to every topic syncline creates. Default
	// "syncline"; letters, digits, '.', '_' and '-'.
	TopicPrefix string `yaml:"topic_prefix"`

	// Partitions is the partition count of topics syncline creates.
	// Default 4; 1..10000.
	Partitions int `yaml:"partitions"`

	// ReplicationFactor of topics syncline creates. Default -1, meaning the
	// broker's default.replication.factor; otherwise 1..32767.
	ReplicationFactor int `yaml:"replication_factor"`

	// TransactionTimeout is the producer transaction timeout. Default 60s.
	// It must not exceed the brokers' transaction.max.timeout.ms (15m by
	// default).
	TransactionTimeout time.Duration `yaml:"transaction_timeout"`

	// SessionTimeout is the consumer-group session timeout of the changes
	// stage and the sinks: how long a process that died without leaving
	// (kill -9, a lost node) keeps its partitions before the group gives
	// them to the others. Restarted processes with an instance id take
	// theirs back at once regardless. Default 45s; 6s..30m (the brokers'
	// group.min/max.session.timeout.ms must allow it).
	SessionTimeout time.Duration `yaml:"session_timeout"`

	// EmbeddedBroker configures the embedded broker, used when Brokers is
	// empty.
	EmbeddedBroker EmbeddedBroker `yaml:"embedded"`

	// TLS configures TLS to external brokers. It may not be enabled when
	// the embedded broker is used (so that a missing broker list never
	// silently drops TLS).
	TLS TLS `yaml:"tls"`

	// SASL configures SASL authentication to external brokers. Like TLS, it
	// may not be set when the embedded broker is used.
	SASL SASL `yaml:"sasl"`
}

// Embedded reports whether syncline runs its own broker, that is whether no
// external brokers are configured.
func (k Kafka) Embedded() bool { return len(k.Brokers) == 0 }

// EmbeddedBroker configures the in-process Kafka broker.
type EmbeddedBroker struct {
	// Listen is the address the embedded broker listens on. Default
	// "127.0.0.1:9092"; use port 0 for a random free port. Required when
	// the embedded broker is used.
	Listen string `yaml:"listen"`
	// SyncWrites makes the embedded broker fsync every write. Default false.
	SyncWrites bool `yaml:"sync_writes"`
}

// TLS configures a TLS client connection. Relative file paths are resolved against the configuration file's
// directory.
type TLS struct {
	// Enabled turns TLS on. Default false. The other fields may only be set
	// when it is true.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of CAs to trust instead of the system pool.
	// Default "" (system pool).
	CAFile string `yaml:"ca_file"`
	// CertFile is a PEM client certificate. Default "". Set together with
	// KeyFile.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile. Default "".
	KeyFile string `yaml:"key_file"`
	// InsecureSkipVerify disables server certificate verification. Default
	// false. For testing only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName overrides the name the server certificate is verified
	// against. Default "" (the host being dialed).
	ServerName string `yaml:"server_name"`
}

// SASLMechanism is a Kafka SASL mechanism, upper case.
type SASLMechanism string

// SASL mechanisms. The empty mechanism disables SASL.
const (
	SASLNone        SASLMechanism = ""
	SASLPlain       SASLMechanism = "PLAIN"
	SASLScramSHA256 SASLMechanism = "SCRAM-SHA-256"
	SASLScramSHA512 SASLMechanism = "SCRAM-SHA-512"
)

// SASL configures Kafka SASL authentication.
type SASL struct {
	// Mechanism is "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, matched
	// case-insensitively and normalized to upper case. Default "" (no SASL).
	Mechanism SASLMechanism `yaml:"mechanism"`
	// Username is required when Mechanism is set. Default "".
	Username string `yaml:"username"`
	// Password is required when Mechanism is set. Default "".
	Password Secret `yaml:"password"`
}

// Registry configures the schema registry.
type Registry struct {
	// URL of an external schema registry (http:// or https://). Default ""
	// runs an embedded registry, stored in Kafka, on Listen.
	URL string `yaml:"url"`
	// Listen is the address the embedded registry listens on. Default
	// "127.0.0.1:8081". When Kafka brokers are configured and URL is empty
	// it must not be empty.
	Listen string `yaml:"listen"`
	// Username for HTTP basic auth. Default "". Set together with Password.
	Username string `yaml:"username"`
	// Password for HTTP basic auth. Default "".
	Password Secret `yaml:"password"`
	// TLS configures TLS to an external registry; URL must then be
	// https://. It may not be enabled for the embedded registry.
	TLS TLS `yaml:"tls"`
}

// HTTP configures the admin HTTP server (health, metrics, status).
type HTTP struct {
	// Listen is the address to listen on. Default "127.0.0.1:8080"; ""
	// disables the server.
	Listen string `yaml:"listen"`
	// Token, when set, is required as a bearer token on the admin API
	// (/api/v1, which the console uses). /metrics, /healthz and /readyz
	// stay open for scrapers and probes. Default "" (no authentication;
	// a warning is logged when Listen is not a loopback address).
	Token Secret `yaml:"token"`
	// TLS serves HTTPS instead of HTTP when a certificate is set.
	TLS ServerTLS `yaml:"tls"`
}

// ServerTLS is the certificate of a server syncline runs.
type ServerTLS struct {
	// CertFile and KeyFile are PEM files; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, requires clients to present a certificate
	// signed by one of its CAs (mutual TLS).
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether a certificate is configured.
func (t ServerTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Transform configures the built-in transforms.
type Transform struct {
	// Changes configures the change-event transform.
	Changes ChangesTransform `yaml:"changes"`
	// State configures the stateful stages' local stores.
	State StateStore `yaml:"state"`
}

// StateStore configures the Badger stores of the stateful stages (a cache
// of their changelog topics, under data_dir/state).
type StateStore struct {
	// EncryptionKey, when set, encrypts the stores at rest (AES, Badger's
	// encryption): 32, 48 or 64 hex digits (a 128, 192 or 256-bit key).
	// Take it from a file or the environment (${file:...}, ${VAR}).
	EncryptionKey Secret `yaml:"encryption_key"`
}

// Key returns the decoded encryption key, nil when none is set. Validate
// has checked it.
func (s StateStore) Key() []byte {
	if !s.EncryptionKey.IsSet() {
		return nil
	}
	k, _ := hex.DecodeString(strings.TrimSpace(s.EncryptionKey.Value()))
	return k
}

// ChangesTransform configures the change-event transform.
type ChangesTransform struct {
	// BatchSize is the maximum number of records per transaction. Default
	// 1000; at least 1.
	BatchSize int `yaml:"batch_size"`
}

// SourceType is the kind of database a source captures from.
type SourceType string

// Source types.
const (
	SourcePostgres SourceType = "postgres"
	// SourceHubSpot polls HubSpot CRM objects (capture/saas); its settings
	// are in the source's hubspot block.
	SourceHubSpot SourceType = "hubspot"
	// SourceSalesforce, SourceStripe, SourceZendesk and SourceMailchimp
	// poll those APIs (capture/saas profiles); their settings are in the
	// source's block of the same name (saas_profiles.go).
	SourceSalesforce SourceType = "salesforce"
	SourceStripe     SourceType = "stripe"
	SourceZendesk    SourceType = "zendesk"
	SourceMailchimp  SourceType = "mailchimp"
	// SourceHTTP polls any HTTP API with the generic declarative adapter
	// (capture/saas); its settings are in the source's http block
	// (http_source.go).
	SourceHTTP SourceType = "http"
)

// SourceTypes lists the supported source types.
var SourceTypes = []SourceType{SourcePostgres, SourceHubSpot, SourceSalesforce, SourceStripe, SourceZendesk, SourceMailchimp, SourceHTTP}

// SnapshotMode says whether existing rows are copied before streaming.
type SnapshotMode string

// Snapshot modes.
const (
	// SnapshotInitial copies the tables' current rows when the slot is
	// first created, then streams changes.
	SnapshotInitial SnapshotMode = "initial"
	// SnapshotNever streams changes only.
	SnapshotNever SnapshotMode = "never"
)

// Source is one database changes are captured from.
type Source struct {
	// Name identifies the source in topic names and in sink "from"
	// entries. Required, unique; lowercase letters, digits and '_'.
	Name string `yaml:"name"`
	// Type is the database kind. Required; only "postgres" is supported.
	Type SourceType `yaml:"type"`
	// DSN is the connection string, a postgres:// URL or key=value pairs.
	// Required.
	DSN Secret `yaml:"dsn"`
	// Tables to capture, as "schema.table" or "table" (meaning
	// "public.table"). Required, non-empty, no duplicates. Identifiers follow
	// PostgreSQL rules: unquoted ones are folded to lower case, double-quoted
	// ones are taken as written ("" inside quotes is a quote). After Load or
	// Parse every entry is normalized to schema.table as produced by
	// [TableName.String].
	Tables []string `yaml:"tables"`
	// Slot is the logical replication slot. Default "syncline_<name>".
	Slot string `yaml:"slot"`
	// Publication is the publication covering Tables. Default
	// "syncline_<name>".
	Publication string `yaml:"publication"`
	// Snapshot is "initial" (default) or "never".
	Snapshot SnapshotMode `yaml:"snapshot"`
	// StatusInterval is how often the standby status is sent to the
	// server. Default 10s; positive.
	StatusInterval time.Duration `yaml:"status_interval"`
	// BatchMaxRecords is the maximum number of records per Kafka
	// transaction. Default 10000; at least 1.
	BatchMaxRecords int `yaml:"batch_max_records"`
	// BatchMaxWait is how long a batch may wait to fill up before it is
	// committed. Default 100ms; positive.
	BatchMaxWait time.Duration `yaml:"batch_max_wait"`
	// HeartbeatInterval is how often a heartbeat (a logical decoding
	// message) is written to the source database, so the slot advances
	// while the captured tables are idle but the database is busy. Default
	// 10s; 0 turns heartbeats off.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// Messages lists the prefixes of logical decoding messages
	// (pg_logical_emit_message) to forward to the topic
	// <prefix>.messages.<source>; "*" forwards every prefix. Empty (the
	// default) forwards none.
	Messages []string `yaml:"messages"`
	// SignalTable, when set, is a table (schema.table) whose inserted rows
	// start and steer backfills, for operators with only database access:
	// INSERT INTO syncline_signals (id, type, data) VALUES ('b1',
	// 'backfill', '{"tables": ["public.customers"]}'). syncline creates it
	// when missing and adds it to the publication. Default none.
	SignalTable string `yaml:"signal_table"`
	// MaxBackfills bounds the backfills of this source that read chunks at
	// the same time. Default 2.
	MaxBackfills int `yaml:"max_backfills"`
	// Keys sets the key columns of tables, overriding the primary key; a
	// table without a primary key is otherwise keyed by its whole row.
	// Columns outside the table's replica identity need REPLICA IDENTITY
	// FULL.
	Keys []TableKey `yaml:"keys"`
	// HubSpot configures a source of type hubspot (required for it, not
	// allowed for others). Its objects are the source's tables, as
	// hubspot.<object type>.
	HubSpot HubSpotSource `yaml:"hubspot"`
	// Salesforce, Stripe, Zendesk and Mailchimp configure sources of
	// those types (required for them, not allowed for others); their
	// objects (lists for Mailchimp) are the source's tables, as
	// <type>.<object>.
	Salesforce SalesforceSource `yaml:"salesforce"`
	Stripe     StripeSource     `yaml:"stripe"`
	Zendesk    ZendeskSource    `yaml:"zendesk"`
	Mailchimp  MailchimpSource  `yaml:"mailchimp"`
	// HTTP configures a source of type http (required for it, not allowed
	// for others); its objects are the source's tables, as
	// <http.system>.<name>.
	HTTP HTTPSource `yaml:"http"`
}

// HubSpotSource is the hubspot block of a source of type hubspot.
type HubSpotSource struct {
	// Token is a private app access token. Required.
	Token Secret `yaml:"token"`
	// BaseURL default https://api.hubapi.com.
	BaseURL string `yaml:"base_url"`
	// Objects are the CRM object types to poll. Required.
	Objects []HubSpotObject `yaml:"objects"`
	// PollInterval default 1m; Lookback default 5m (the search index lags
	// behind writes); Settle default 10s (the window's end behind now).
	PollInterval time.Duration `yaml:"poll_interval"`
	Lookback     time.Duration `yaml:"lookback"`
	Settle       time.Duration `yaml:"settle"`
	// RequestsPerSecond default 4 (HubSpot's search limit is 5/s).
	RequestsPerSecond int `yaml:"requests_per_second"`
}

// HubSpotObject is one CRM object type of a hubspot source.
type HubSpotObject struct {
	// Type is the object type (contacts, companies, deals, tickets, or a
	// custom object's type id). Required, unique.
	Type string `yaml:"type"`
	// Properties are the HubSpot properties kept as columns (the whole
	// object is kept as JSON in _raw too), each "name" or "name:type" with
	// type string (default), int64, float64, bool, timestamp or json.
	Properties []string `yaml:"properties"`
}

// IsSet reports whether the hubspot block is present.
func (h HubSpotSource) IsSet() bool {
	return h.Token.IsSet() || h.BaseURL != "" || len(h.Objects) > 0 || h.PollInterval != 0 || h.Lookback != 0 || h.Settle != 0 || h.RequestsPerSecond != 0
}

// Property splits a properties entry into its name and type.
func (o HubSpotObject) Property(i int) (name, typ string) {
	name, typ, _ = strings.Cut(o.Properties[i], ":")
	return name, typ
}

// TableKey names the key columns of one captured table.
type TableKey struct {
	// Table is one of the source's tables, written as in tables.
	Table string `yaml:"table"`
	// Columns are the key columns, as the database names them.
	Columns []string `yaml:"columns"`
}

// QualifiedTables returns Tables parsed into schema-qualified names, in
// order. Entries that do not parse are left out; [Config.Validate] reports
// them.
func (s Source) QualifiedTables() []TableName {
	if out, ok := s.SaaSTables(); ok {
		return out
	}
	if s.Type == SourceHTTP {
		var out []TableName
		for _, o := range s.HTTP.Objects {
			out = append(out, TableName{Schema: s.HTTP.SystemName(), Name: o.Name})
		}
		return out
	}
	if s.Type == SourceHubSpot {
		var out []TableName
		for _, o := range s.HubSpot.Objects {
			out = append(out, TableName{Schema: "hubspot", Name: o.Type})
		}
		return out
	}
	out := make([]TableName, 0, len(s.Tables))
	for _, t := range s.Tables {
		if tn, err := ParseTableName(t); err == nil {
			out = append(out, tn)
		}
	}
	return out
}

// SinkType is the kind of destination a sink writes to.
type SinkType string

// Sink types.
const (
	SinkPostgres SinkType = "postgres"
	// SinkHubSpot upserts into HubSpot CRM objects (sink/hubspot); its
	// settings are in the sink's hubspot block.
	SinkHubSpot SinkType = "hubspot"
	// SinkWebhook POSTs signed batches of change events to a URL
	// (sink/webhook); its settings are in the sink's webhook block.
	SinkWebhook SinkType = "webhook"
	// SinkREST upserts into a generic REST API (sink/rest); its settings
	// are in the sink's rest block.
	SinkREST SinkType = "rest"
)

// SinkTypes lists the supported sink types.
var SinkTypes = []SinkType{SinkPostgres, SinkHubSpot, SinkWebhook, SinkREST, SinkStripe, SinkSalesforce, SinkMailchimp}

// DeleteMode says how deletes are applied to a sink.
type DeleteMode string

// Delete modes.
const (
	// DeleteHard deletes the row.
	DeleteHard DeleteMode = "hard"
	// DeleteSoft keeps the row and sets _syncline_deleted = true.
	DeleteSoft DeleteMode = "soft"
)

// TruncateMode says how TRUNCATE on a source table is applied to a sink.
type TruncateMode string

// Truncate modes.
const (
	// TruncateApply truncates the sink table too.
	TruncateApply TruncateMode = "apply"
	// TruncateIgnore ignores truncates.
	TruncateIgnore TruncateMode = "ignore"
)

// Sink is one destination changes are written to.
type Sink struct {
	// Name identifies the sink. Required, unique among sinks; lowercase
	// letters, digits and '_'.
	Name string `yaml:"name"`
	// Type is the destination kind. Required; only "postgres" is
	// supported.
	Type SinkType `yaml:"type"`
	// DSN is the connection string, a postgres:// URL or key=value pairs.
	// Required.
	DSN Secret `yaml:"dsn"`
	// Schema is the destination schema. Default "public". It is one
	// identifier following the same rules as table names (unquoted is
	// folded to lower case, "Quoted" is taken as written); after Load or
	// Parse it is normalized to the form [TableName.String] uses, quoted
	// only when needed. [Sink.SchemaName] returns the bare identifier.
	Schema string `yaml:"schema"`
	// From lists what to copy: "<source>.<schema>.<table>" naming a
	// configured source and one of its tables, or "<source>.*" for all of
	// the source's tables. Required, non-empty. See [Config.SinkTables].
	From []string `yaml:"from"`

	// System names the source that reads the system a SaaS sink writes
	// (two-way sync): values of golden records that came from it are not
	// sent back to it. Optional; SaaS sinks, and required for a postgres
	// sink with write_back (the entity source whose rows the table holds).
	System string `yaml:"system"`
	// BatchSize is the maximum number of rows per write. Default 1000; at
	// least 1.
	BatchSize int `yaml:"batch_size"`
	// BatchTimeout is how long a batch may wait to fill up. Default 500ms;
	// positive.
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// DeleteMode is "hard" (default) or "soft".
	DeleteMode DeleteMode `yaml:"delete_mode"`
	// Truncate is "apply" (default) or "ignore".
	Truncate TruncateMode `yaml:"truncate"`
	// Audit configures the sink's audit log.
	Audit SinkAudit `yaml:"audit"`
	// Reconcile schedules comparisons of the sink's tables with their
	// sources inside `syncline run` (see `syncline diff`).
	Reconcile SinkReconcile `yaml:"reconcile"`
	// HubSpot configures a sink of type hubspot (required for it, not
	// allowed for others). batch_size is capped at 100 inputs per call
	// for it; dsn, schema, delete_mode, truncate, audit and reconcile do
	// not apply.
	HubSpot HubSpotSink `yaml:"hubspot"`
	// Webhook configures a sink of type webhook (required for it, not
	// allowed for others). batch_size is the most events per POST and
	// batch_timeout how long a batch collects;
	// dsn, schema, delete_mode, truncate, audit and reconcile do not
	// apply.
	Webhook WebhookSink `yaml:"webhook"`
	// REST configures a sink of type rest (required for it, not allowed
	// for others). batch_size is the most records per batch request
	// (capped at 100); dsn, schema, delete_mode, truncate, audit and
	// reconcile do not apply.
	REST RESTSink `yaml:"rest"`
	// Stripe configures a sink of type stripe (required for it, not
	// allowed for others); batch_size, dsn, schema, delete_mode,
	// truncate, audit and reconcile do not apply (saas_sinks.go).
	Stripe StripeSink `yaml:"stripe"`
	// Salesforce configures a sink of type salesforce (required for it,
	// not allowed for others); batch_size is the most records per call
	// (capped at 200); dsn, schema, delete_mode, truncate, audit and
	// reconcile do not apply (saas_sinks.go).
	Salesforce SalesforceSink `yaml:"salesforce"`
	// Mailchimp configures a sink of type mailchimp (required for it,
	// not allowed for others); batch_size 1 writes one member per PUT,
	// more (capped at 500) batch subscribes; dsn, schema, delete_mode,
	// truncate, audit and reconcile do not apply (saas_sinks.go).
	Mailchimp MailchimpSink `yaml:"mailchimp"`
	// WriteBack makes a sink of type postgres write an entity's golden
	// records back into one of its source tables (two-way sync with a
	// database); see SinkWriteBack. schema is then where the sink keeps
	// its offsets and ledger tables.
	WriteBack SinkWriteBack `yaml:"write_back"`
	// Retry configures the retry queue of a SaaS sink (hubspot, rest, stripe)
	// (rows the provider refused for a transient reason); see SinkRetry.
	Retry SinkRetry `yaml:"retry"`
}

// HubSpotSink is the hubspot block of a sink of type hubspot.
type HubSpotSink struct {
	// Token is a private app access token. Required.
	Token Secret `yaml:"token"`
	// BaseURL default https://api.hubapi.com.
	BaseURL string `yaml:"base_url"`
	// ObjectType is the CRM object type written (contacts, companies,
	// deals, tickets or a custom object's type id). Required.
	ObjectType string `yaml:"object_type"`
	// IDProperty is the unique property upserts match on, for example
	// email for contacts. Required; it must be one of Properties.
	IDProperty string `yaml:"id_property"`
	// Properties map HubSpot properties to columns or constants.
	// Required.
	Properties []HubSpotSinkProperty `yaml:"properties"`
	// DeleteMode is archive (default: a deleted row archives its object)
	// or ignore.
	DeleteMode string `yaml:"delete_mode"`
	// RequestsPerSecond paces API calls; default 9 (private apps allow
	// 100 per 10 s).
	RequestsPerSecond int `yaml:"requests_per_second"`
}

// HubSpotSinkProperty maps one HubSpot property.
type HubSpotSinkProperty struct {
	// Name is the HubSpot property. Required, unique.
	Name string `yaml:"name"`
	// From is the source column; Transform an optional normalizer
	// (email, phone, country, company_name, trim, lowercase, uppercase);
	// Region the default region for phone.
	From      string `yaml:"from"`
	Transform string `yaml:"transform"`
	Region    string `yaml:"region"`
	// Value is a constant, or the default when the column is NULL.
	Value string `yaml:"value"`
	// Required makes a row without a value invalid (parked in the DLQ).
	Required bool `yaml:"required"`
}

// IsSet reports whether the hubspot block is present.
func (h HubSpotSink) IsSet() bool {
	return h.Token.IsSet() || h.BaseURL != "" || h.ObjectType != "" || h.IDProperty != "" || len(h.Properties) > 0 || h.DeleteMode != "" || h.RequestsPerSecond != 0
}

// SinkReconcile configures a sink's scheduled reconciliation: every
// Interval, the sink role compares each of the sink's tables with its
// source, sets syncline_drift_rows{sink,table} and, with Repair, re-delivers
// the rows that differ.
type SinkReconcile struct {
	// Interval between runs. Default 0: off.
	Interval time.Duration `yaml:"interval"`
	// Repair re-delivers missing and different rows and deletes extra
	// ones through the sink (as `syncline diff --repair`). Default false.
	Repair bool `yaml:"repair"`
	// Settle is how long differing rows get to catch up before they are
	// checked again and counted. Default 5s.
	Settle time.Duration `yaml:"settle"`
}

// SinkAudit configures a sink's audit log: every row the sink writes is
// recorded, in the same transaction, in <schema>._syncline_audit with the
// change that caused it.
type SinkAudit struct {
	// Enabled records the audit log. Default true.
	Enabled bool `yaml:"enabled"`
	// Retention is how long audit rows are kept; older ones are pruned in
	// the background. Default 720h (30 days); 0 keeps them forever.
	Retention time.Duration `yaml:"retention"`
}

// SchemaName returns Schema as a bare identifier, without quotes (for
// example `My Schema` for `"My Schema"`), or "" when it does not parse.
func (s Sink) SchemaName() string {
	name, err := parseIdent(s.Schema)
	if err != nil {
		return ""
	}
	return name
}

// SourceTable is a table of a named source.
type SourceTable struct {
	Source string
	Table  TableName
}

// String returns "source.schema.table".
func (st SourceTable) String() string { return st.Source + "." + st.Table.String() }

// SinkTables resolves sink.From against c's sources: "<source>.*" expands to
// all of the source's tables in order, and each table appears once. Entries
// naming unknown sources or tables are left out; [Config.Validate] reports
// them.
func (c *Config) SinkTables(sink Sink) []SourceTable {
	var out []SourceTable
	seen := map[SourceTable]bool{}
	add := func(st SourceTable) {
		if !seen[st] {
			seen[st] = true
			out = append(out, st)
		}
	}
	for _, entry := range sink.From {
		ref, err := parseFromEntry(entry)
		if err != nil {
			continue
		}
		src, ok := c.source(ref.source)
		if !ok {
			continue
		}
		for _, t := range src.QualifiedTables() {
			if ref.all || t == ref.table {
				add(SourceTable{Source: src.Name, Table: t})
			}
		}
	}
	return out
}

// source returns the source called name.
func (c *Config) source(name string) (Source, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}

// Defaults.
const (
	defaultDataDir            = "./.syncline"
	defaultTopicPrefix        = "syncline"
	defaultPartitions         = 4
	defaultReplicationFactor  = -1
	defaultTransactionTimeout = 60 * time.Second
	defaultSessionTimeout     = 45 * time.Second
	defaultEmbeddedListen     = "127.0.0.1:9092"
	defaultRegistryListen     = "127.0.0.1:8081"
	defaultHTTPListen         = "127.0.0.1:8080"
	defaultChangesBatchSize   = 1000
	defaultStatusInterval     = 10 * time.Second
	defaultBatchMaxRecords    = 10000
	defaultBatchMaxWait       = 100 * time.Millisecond
	defaultHeartbeatInterval  = 10 * time.Second
	defaultSinkSchema         = "public"
	defaultSinkBatchSize      = 1000
	defaultSinkBatchTimeout   = 500 * time.Millisecond
	defaultSinkAuditRetention = 720 * time.Hour
	defaultReconcileSettle    = 5 * time.Second
	slotPrefix                = "syncline_"
)

// Default returns a Config with every default applied and no name, sources
// or sinks.
func Default() *Config {
	return &Config{
		DataDir: defaultDataDir,
		Log:     Log{Level: LogInfo, Format: LogAuto},
		Kafka: Kafka{
			TopicPrefix:        defaultTopicPrefix,
			Partitions:         defaultPartitions,
			ReplicationFactor:  defaultReplicationFactor,
			TransactionTimeout: defaultTransactionTimeout,
			SessionTimeout:     defaultSessionTimeout,
			EmbeddedBroker:     EmbeddedBroker{Listen: defaultEmbeddedListen},
		},
		Registry: Registry{Listen: defaultRegistryListen},
		HTTP:     HTTP{Listen: defaultHTTPListen},
		Transform: Transform{Changes: ChangesTransform{
			BatchSize: defaultChangesBatchSize,
		}},
	}
}

// defaulter is implemented by list elements that have defaults; the decoder
// calls setDefaults on each new element before decoding into it.
type defaulter interface{ setDefaults() }

func (s *Source) setDefaults() {
	*s = Source{
		Snapshot:        SnapshotInitial,
		StatusInterval:  defaultStatusInterval,
		BatchMaxRecords: defaultBatchMaxRecords,
		BatchMaxWait:    defaultBatchMaxWait,

		HeartbeatInterval: defaultHeartbeatInterval,
		MaxBackfills:      2,
	}
}

func (s *Sink) setDefaults() {
	*s = Sink{
		Schema:       defaultSinkSchema,
		BatchSize:    defaultSinkBatchSize,
		BatchTimeout: defaultSinkBatchTimeout,
		DeleteMode:   DeleteHard,
		Truncate:     TruncateApply,
		Audit:        SinkAudit{Enabled: true, Retention: defaultSinkAuditRetention},
		Reconcile:    SinkReconcile{Settle: defaultReconcileSettle},
	}
}

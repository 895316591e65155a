package warehouse

import (
	"fmt"
	"time"
)

// TableRef names one captured table: source name, SQL schema and table name.
type TableRef struct {
	Source, Schema, Table string
}

// String returns "source.schema.table".
func (r TableRef) String() string { return r.Source + "." + r.Schema + "." + r.Table }

// Config configures one warehouse sink. The caller maps the pipeline
// configuration into it.
type Config struct {
	// Name is the sink's configured name; it keys the rows of
	// <Schema>._syncline_offsets and labels metrics.
	Name string
	// DSN is the warehouse connection string. It is never logged.
	DSN string
	// Schema is the target schema; default "public".
	Schema string
	// Tables are the source tables to deliver; each lands in
	// <Schema>.<Table.Table>.
	Tables []TableRef
	// Topics are the change topics to consume, in the same order as Tables.
	Topics []string
	// BatchSize bounds the records applied in one transaction; default 1000.
	BatchSize int
	// BatchTimeout bounds how long a batch collects records after its first
	// one; default 500ms.
	BatchTimeout time.Duration
	// SoftDelete keeps deleted rows with _syncline_deleted = true instead of
	// deleting them.
	SoftDelete bool
	// IgnoreTruncate skips truncate changes instead of truncating the target.
	IgnoreTruncate bool
	// GroupID is the Kafka consumer group; default "syncline-sink-<Name>".
	GroupID string
	// InstanceID, when set, makes the sink a static member of its group
	// (the process's stable id within its role).
	InstanceID string
	// AuditOff disables the audit log: by default every row the sink
	// writes is recorded in <Schema>._syncline_audit, in the same
	// transaction (see audit.go).
	AuditOff bool
	// AuditRetention is how long audit rows are kept; older ones are
	// pruned in the background. 0 keeps them forever.
	AuditRetention time.Duration
	// AuditPruneEvery is how often pruning runs; default 10 minutes.
	AuditPruneEvery time.Duration
	// WriteBack, when set, writes the golden records of the one entity in
	// Tables into the rows of an existing table instead of keeping a
	// table of them (see WriteBack). Schema then holds only the sink's
	// offsets and ledger; there is no audit log.
	WriteBack *WriteBack
}

// Defaults used when the Config leaves a field zero.
const (
	DefaultSchema       = "public"
	DefaultBatchSize    = 1000
	DefaultBatchTimeout = 500 * time.Millisecond

	DefaultAuditPruneEvery = 10 * time.Minute
)

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		return c, fmt.Errorf("warehouse sink: name is empty")
	}
	if c.DSN == "" {
		return c, fmt.Errorf("warehouse sink %q: dsn is empty", c.Name)
	}
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = DefaultBatchTimeout
	}
	if c.GroupID == "" {
		c.GroupID = "syncline-sink-" + c.Name
	}
	if c.AuditRetention < 0 {
		return c, fmt.Errorf("warehouse sink %q: audit retention %s is negative", c.Name, c.AuditRetention)
	}
	if c.AuditPruneEvery <= 0 {
		c.AuditPruneEvery = DefaultAuditPruneEvery
	}
	if len(c.Tables) == 0 {
		return c, fmt.Errorf("warehouse sink %q: no tables", c.Name)
	}
	if len(c.Tables) != len(c.Topics) {
		return c, fmt.Errorf("warehouse sink %q: %d tables but %d topics", c.Name, len(c.Tables), len(c.Topics))
	}
	if c.WriteBack != nil {
		if err := c.WriteBack.check(c.Name); err != nil {
			return c, err
		}
		if len(c.Tables) != 1 || c.Tables[0].Source != "entity" {
			return c, fmt.Errorf("warehouse sink %q: write-back reads exactly one entity", c.Name)
		}
		c.AuditOff = true
	}
	byName := map[string]TableRef{}
	byTopic := map[string]TableRef{}
	for i, t := range c.Tables {
		if t.Table == "" {
			return c, fmt.Errorf("warehouse sink %q: table %d has no name", c.Name, i)
		}
		if c.Topics[i] == "" {
			return c, fmt.Errorf("warehouse sink %q: table %s has no topic", c.Name, t)
		}
		if prev, ok := byName[t.Table]; ok {
			return c, fmt.Errorf("warehouse sink %q: tables %s and %s both map to %s.%s",
				c.Name, prev, t, c.Schema, t.Table)
		}
		if prev, ok := byTopic[c.Topics[i]]; ok {
			return c, fmt.Errorf("warehouse sink %q: tables %s and %s both read topic %s",
				c.Name, prev, t, c.Topics[i])
		}
		byName[t.Table] = t
		byTopic[c.Topics[i]] = t
	}
	return c, nil
}

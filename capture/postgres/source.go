package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/topics"
	"syncline/schemas"
)

// Config configures one Postgres source.
type Config struct {
	Name            string      // source name; part of topic names
	DSN             string      // connection string of the source database
	Tables          []TableName // tables to capture
	Slot            string      // replication slot; default syncline_<name>
	Publication     string      // publication; default syncline_<name>
	NoSnapshot      bool        // skip the initial snapshot when the slot is created
	StatusInterval  time.Duration
	BatchMaxRecords int           // records per Kafka transaction (soft cap, checked at commits)
	BatchMaxWait    time.Duration // max time a Kafka transaction stays open waiting for more commits
	TopicPrefix     string
	Partitions      int32
	RF              int16
	TxnTimeout      time.Duration
	// HeartbeatInterval is how often a heartbeat message is written to the
	// source so the slot advances while the captured tables are idle; 0
	// turns heartbeats off.
	HeartbeatInterval time.Duration
	// Messages lists the logical decoding message prefixes forwarded to
	// the messages topic ("*" for all).
	Messages []string
	// Keys overrides the key columns of tables.
	Keys map[TableName][]string
	// MaxBackfills bounds the backfills reading chunks at the same time;
	// default 2.
	MaxBackfills int
	// SignalTable, when set, is a table whose inserted rows are signals.
	SignalTable *TableName
}

func (c *Config) defaults() {
	if c.Slot == "" {
		c.Slot = "syncline_" + c.Name
	}
	if c.Publication == "" {
		c.Publication = "syncline_" + c.Name
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = 10 * time.Second
	}
	if c.BatchMaxRecords <= 0 {
		c.BatchMaxRecords = 10000
	}
	if c.BatchMaxWait <= 0 {
		c.BatchMaxWait = 100 * time.Millisecond
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = "syncline"
	}
	if c.Partitions <= 0 {
		c.Partitions = 4
	}
	if c.TxnTimeout <= 0 {
		c.TxnTimeout = 60 * time.Second
	}
	if c.MaxBackfills <= 0 {
		c.MaxBackfills = defaultMaxBackfills
	}
}

// Source captures one Postgres database.
type Source struct {
	cfg       Config
	kafkaOpts []kgo.Opt
	serde     *schemas.Serde
	m         *metrics.Metrics
	log       *slog.Logger
	ready     atomic.Bool

	mu        sync.Mutex
	backfills []Backfill // as last committed
}

// New returns a source. kafkaOpts carry the brokers, TLS and SASL; the
// source adds its own transactional id.
func New(cfg Config, kafkaOpts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) *Source {
	cfg.defaults()
	return &Source{cfg: cfg, kafkaOpts: kafkaOpts, serde: serde, m: m, log: log.With("source", cfg.Name)}
}

// Ready reports whether the source is streaming.
func (s *Source) Ready() bool { return s.ready.Load() }

// ErrPermanent marks errors a retry cannot fix (configuration, missing
// privileges); Run returns them instead of retrying.
var ErrPermanent = errors.New("permanent")

// Run captures until ctx is done. Transient failures (connection loss,
// Kafka errors) restart the capture from the stored position with backoff;
// permanent ones are returned. On cancellation the open Kafka transaction is
// aborted (its Postgres transactions will be resent) and Run returns nil.
func (s *Source) Run(ctx context.Context) error {
	backoff := 500 * time.Millisecond
	for {
		err := s.runOnce(ctx)
		s.ready.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrPermanent) {
			return err
		}
		s.log.Warn("capture stopped; restarting from the stored position", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

type run struct {
	*Source
	conn     *pgx.Conn // regular connection: catalog, lag
	repl     *pgconn.PgConn
	w        *txWriter
	db       string
	tn       typeNames
	rels     map[uint32]*relState // by relation id
	tables   map[TableName]*relInfo
	byOID    map[uint32]*relInfo
	pos      Position
	acked    pglogrepl.LSN // flushed to the slot
	pending  map[[2]string]int
	lastLSN  pglogrepl.LSN // end LSN of the last Postgres transaction in the open Kafka transaction
	inTx     bool
	skipTx   bool
	txCommit pglogrepl.LSN
	txXid    uint32
	txTime   time.Time
	txSeq    uint64
	skipSeq  uint64 // changes of this transaction up to skipSeq are in Kafka

	resumeTx  string // TxLSN of the stored position (a partly written transaction)
	resumeSeq uint64

	serverVersion int // server_version_num
	beatFailed    bool

	signalOID  uint32            // the signal table's OID, 0 when none
	chunks     map[string]*chunk // backfill chunks in flight, by watermark nonce
	bfRels     map[TableName]*relState
	stateDirty bool // signals or backfill progress wait for a Kafka commit
}

type relState struct {
	table      *schemas.Table
	cols       []column
	enc        *schemas.Encoder
	topic      string
	parts      int32
	skipped    bool     // not a configured table
	signalCols []string // the signal table's columns: its inserts are signals
	stopped    error    // set when the table's schema could not be registered: its changes go to the DLQ
}

func (s *Source) runOnce(ctx context.Context) (err error) {
	r := &run{Source: s, rels: map[uint32]*relState{}, tables: map[TableName]*relInfo{}, byOID: map[uint32]*relInfo{}, pending: map[[2]string]int{},
		chunks: map[string]*chunk{}, bfRels: map[TableName]*relState{}}
	r.conn, err = Connect(ctx, s.cfg.DSN)
	if err != nil {
		return fmt.Errorf("connect to source %s: %w", s.cfg.Name, err)
	}
	defer r.conn.Close(context.Background())
	if err := r.setup(ctx); err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(slices.Clip(s.kafkaOpts),
		kgo.TransactionalID("syncline-capture-"+s.cfg.Name),
		kgo.TransactionTimeout(s.cfg.TxnTimeout),
		kgo.RecordPartitioner(kafka.KeyPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(50000),
	)...)
	if err != nil {
		return permanent(fmt.Errorf("kafka client: %w", err))
	}
	defer cl.Close()
	specs := []kafka.TopicSpec{{Name: topics.Offsets(s.cfg.TopicPrefix), Partitions: 1, RF: s.cfg.RF, Compact: true},
		{Name: topics.DLQ(s.cfg.TopicPrefix), Partitions: 1, RF: s.cfg.RF}}
	if len(s.cfg.Messages) > 0 {
		specs = append(specs, kafka.TopicSpec{Name: topics.Messages(s.cfg.TopicPrefix, s.cfg.Name), Partitions: s.cfg.Partitions, RF: s.cfg.RF})
	}
	if err := kafka.EnsureTopics(ctx, kadm.NewClient(cl), specs...); err != nil {
		return err
	}
	r.w = newTxWriter(cl, topics.Offsets(s.cfg.TopicPrefix), "postgres/"+s.cfg.Name)
	if err := r.w.fence(ctx); err != nil {
		return err
	}
	defer r.w.abort()
	raw, err := kafka.ReadLatest(ctx, s.kafkaOpts, topics.Offsets(s.cfg.TopicPrefix), "postgres/"+s.cfg.Name)
	if err != nil {
		return fmt.Errorf("read stored position: %w", err)
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &r.pos); err != nil {
			return permanent(fmt.Errorf("stored position of %s is not valid JSON: %w", s.cfg.Name, err))
		}
	}
	r.publishBackfills()
	r.repl, err = connectReplication(ctx, s.cfg.DSN)
	if err != nil {
		return fmt.Errorf("replication connection: %w", err)
	}
	defer r.repl.Close(context.Background())

	start, err := r.prepareSlot(ctx)
	if err != nil {
		return err
	}
	r.backfillAddedTables()
	return r.stream(ctx, start)
}

// setup checks the server and creates the publication.
func (r *run) setup(ctx context.Context) error {
	var wal string
	if err := r.conn.QueryRow(ctx, "SHOW wal_level").Scan(&wal); err != nil {
		return fmt.Errorf("SHOW wal_level: %w", err)
	}
	if wal != "logical" {
		return permanent(fmt.Errorf("source %s: wal_level is %q; set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and restart Postgres", r.cfg.Name, wal))
	}
	if err := r.conn.QueryRow(ctx, "SELECT current_database(), current_setting('server_version_num')::int").Scan(&r.db, &r.serverVersion); err != nil {
		return err
	}
	if len(r.cfg.Messages) > 0 && r.serverVersion < 140000 {
		return permanent(fmt.Errorf("source %s: forwarding logical decoding messages needs Postgres 14 or later (server is %d)", r.cfg.Name, r.serverVersion))
	}
	for _, t := range r.cfg.Tables {
		ri, err := lookupTable(ctx, r.conn, t, r.cfg.Keys[t])
		if err != nil {
			return permanent(err)
		}
		switch {
		case ri.Identity == 'n' || (len(ri.Keys) == 0 && ri.Identity != 'f'):
			r.log.Warn("table has no replica identity: while it is published, Postgres rejects its UPDATEs and DELETEs, so they can be neither made nor captured; add a primary key or run ALTER TABLE ... REPLICA IDENTITY FULL",
				"table", t.String(), "replica_identity", string(ri.Identity))
		case len(ri.Keys) == 0:
			r.log.Info("table has no primary key: its records are keyed by the whole row (set sources[].keys to choose key columns)", "table", t.String())
		}
		r.tables[t] = ri
		r.byOID[ri.OID] = ri
	}
	published := append([]TableName(nil), r.cfg.Tables...)
	if st := r.cfg.SignalTable; st != nil {
		if err := r.setupSignalTable(ctx, *st); err != nil {
			return err
		}
		published = append(published, *st)
	}
	var exists bool
	if err := r.conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", r.cfg.Publication).Scan(&exists); err != nil {
		return err
	}
	pub := pgx.Identifier{r.cfg.Publication}.Sanitize()
	if !exists {
		var names []string
		for _, t := range published {
			names = append(names, t.Quoted())
		}
		sql := fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s WITH (publish_via_partition_root = true)", pub, strings.Join(names, ", "))
		if _, err := r.conn.Exec(ctx, sql); err != nil {
			return permanent(fmt.Errorf("create publication %s (needs ownership of the tables or superuser; or create it yourself: %s): %w", r.cfg.Publication, sql, err))
		}
		r.log.Info("created publication", "publication", r.cfg.Publication)
	} else {
		rows, err := r.conn.Query(ctx, "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1", r.cfg.Publication)
		if err != nil {
			return err
		}
		have := map[TableName]bool{}
		for rows.Next() {
			var t TableName
			if err := rows.Scan(&t.Schema, &t.Name); err != nil {
				return err
			}
			have[t] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, t := range published {
			if have[t] {
				continue
			}
			sql := fmt.Sprintf("ALTER PUBLICATION %s ADD TABLE %s", pub, t.Quoted())
			if _, err := r.conn.Exec(ctx, sql); err != nil {
				return permanent(fmt.Errorf("add %s to publication %s: %w", t, r.cfg.Publication, err))
			}
			r.log.Info("added table to publication", "table", t.String(), "publication", r.cfg.Publication)
		}
	}
	return nil
}

// prepareSlot makes sure the slot exists and the snapshot is in Kafka, and
// returns the LSN to stream from.
func (r *run) prepareSlot(ctx context.Context) (pglogrepl.LSN, error) {
	var slotExists bool
	var confirmed, walStatus *string
	err := r.conn.QueryRow(ctx, `SELECT true, confirmed_flush_lsn::text, to_jsonb(s)->>'wal_status' FROM pg_replication_slots s WHERE slot_name = $1`, r.cfg.Slot).Scan(&slotExists, &confirmed, &walStatus)
	if err != nil && err != pgx.ErrNoRows {
		return 0, fmt.Errorf("look up slot %s: %w", r.cfg.Slot, err)
	}
	if walStatus != nil && *walStatus == "lost" && r.pos.LSN != "" {
		return 0, permanent(r.slotLostError("wal_status is lost: the WAL it needed was removed, max_slot_wal_keep_size was exceeded"))
	}
	done := r.pos.Snapshot == "done" || (r.pos.LSN != "" && r.cfg.NoSnapshot)
	if done && slotExists {
		lsn, err := pglogrepl.ParseLSN(r.pos.LSN)
		if err != nil {
			return 0, permanent(fmt.Errorf("stored position %q: %w", r.pos.LSN, err))
		}
		r.acked = lsn
		r.log.Info("resuming from stored position", "lsn", r.pos.LSN, "slot", r.cfg.Slot)
		return lsn, nil
	}
	if done && !slotExists {
		return 0, permanent(r.slotLostError(fmt.Sprintf("the slot is missing but Kafka holds position %s: it was dropped", r.pos.LSN)))
	}
	if slotExists && r.cfg.NoSnapshot {
		// No snapshot wanted and no position in Kafka: the slot was never
		// acknowledged past what Kafka holds, so streaming from its
		// confirmed position loses nothing.
		var lsn pglogrepl.LSN
		if confirmed != nil {
			lsn, _ = pglogrepl.ParseLSN(*confirmed)
		}
		r.acked = lsn
		r.log.Warn("slot exists but Kafka holds no position for this source; streaming from the slot's confirmed position", "slot", r.cfg.Slot, "lsn", lsn.String())
		return lsn, nil
	}
	if slotExists {
		// A slot without a position in Kafka: a previous run died between
		// creating the slot and recording it. Start over.
		r.log.Warn("slot exists but Kafka holds no position for this source; recreating it", "slot", r.cfg.Slot)
		if err := pglogrepl.DropReplicationSlot(ctx, r.repl, r.cfg.Slot, pglogrepl.DropReplicationSlotOptions{Wait: true}); err != nil {
			return 0, fmt.Errorf("drop slot %s: %w", r.cfg.Slot, err)
		}
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, r.repl, r.cfg.Slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{SnapshotAction: "NOEXPORT_SNAPSHOT", Mode: pglogrepl.LogicalReplication})
	if err != nil {
		return 0, permanent(fmt.Errorf("create replication slot %s (the role needs REPLICATION and a free slot, max_replication_slots): %w", r.cfg.Slot, err))
	}
	cp, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return 0, err
	}
	r.log.Info("created replication slot", "slot", r.cfg.Slot, "lsn", res.ConsistentPoint)
	r.pos = Position{System: "postgres", Slot: r.cfg.Slot, LSN: cp.String(), Snapshot: "skipped"}
	if !r.cfg.NoSnapshot {
		// The initial snapshot is a backfill of every table: chunks
		// between watermarks, interleaved with the stream, resumable, and
		// without a long transaction holding WAL back.
		r.pos.Snapshot = "done"
		raw, _ := json.Marshal(Signal{ID: initialBackfill, Type: "backfill"})
		r.signal(raw)
		for _, t := range r.cfg.Tables {
			r.pos.SnapshotTables = append(r.pos.SnapshotTables, t.String())
		}
	}
	if err := r.w.commit(ctx, r.pos); err != nil {
		return 0, err
	}
	r.stateDirty = false
	r.publishBackfills()
	r.acked = cp
	return cp, nil
}

// position formats a change position (see the package doc).
func position(commit pglogrepl.LSN, seq uint64) string {
	return fmt.Sprintf("%016X/%016X", uint64(commit), seq)
}

func (r *run) relFor(ctx context.Context, ri *relInfo, cols []column) (*relState, error) {
	t, err := buildTable(ctx, r.conn, &r.tn, r.cfg.Name, r.db, ri, cols)
	if err != nil {
		return nil, err
	}
	topic := topics.Raw(r.cfg.TopicPrefix, r.cfg.Name, t.Schema, t.Name)
	adm := kadm.NewClient(r.w.cl)
	if err := kafka.EnsureTopics(ctx, adm, kafka.TopicSpec{Name: topic, Partitions: r.cfg.Partitions, RF: r.cfg.RF}); err != nil {
		return nil, err
	}
	n, err := kafka.Partitions(ctx, adm, topic)
	if err != nil {
		return nil, err
	}
	enc, err := r.serde.Encoder(ctx, topic, t)
	var re *sr.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusConflict {
		// The table changed in a way its consumers cannot follow. Stop
		// this table only: its changes are parked in the DLQ (nothing is
		// lost) and the other tables keep flowing.
		stop := fmt.Errorf("the new schema of %s is incompatible with the one registered for %s (%s); its changes are parked in %s until this is resolved: make the change compatible (add a column instead of changing a type; widen, don't narrow), or relax the subject's compatibility (PUT /config/%s-value {\"compatibility\": \"NONE\"}) after checking its consumers, then restart and backfill the table",
			t.ID(), topic, re.Message, topics.DLQ(r.cfg.TopicPrefix), topic)
		r.log.Error("table stopped: incompatible schema change", "table", t.ID(), "err", stop)
		return &relState{table: t, cols: cols, topic: topic, parts: int32(n), stopped: stop}, nil
	}
	if err != nil {
		return nil, permanent(err)
	}
	return &relState{table: t, cols: cols, enc: enc, topic: topic, parts: int32(n)}, nil
}

// emit encodes ch and adds it to the open Kafka transaction.
func (r *run) emit(ctx context.Context, rs *relState, ch *schemas.Change) error {
	ch.Table = rs.table
	ch.TsMs = time.Now().UnixMilli()
	key, val, err := rs.enc.Encode(ch)
	if err != nil {
		return permanent(fmt.Errorf("encode change of %s at %s: %w", rs.table.ID(), ch.Source.Position, err))
	}
	r.pending[[2]string{rs.table.Schema + "." + rs.table.Name, string(ch.Op)}]++
	if ch.Op != schemas.OpRead {
		r.noteWindow(rs, ch)
	}
	if ch.Op == schemas.OpTruncate {
		for p := int32(0); p < rs.parts; p++ {
			if err := r.w.produce(ctx, &kgo.Record{Topic: rs.topic, Partition: p, Value: val}); err != nil {
				return err
			}
		}
		return nil
	}
	return r.w.produce(ctx, &kgo.Record{Topic: rs.topic, Key: key, Value: val})
}

// committed records metrics for what the last Kafka commit made visible.
func (r *run) committed() {
	for k, n := range r.pending {
		r.m.SourceEvents.WithLabelValues(r.cfg.Name, k[0], k[1]).Add(float64(n))
	}
	clear(r.pending)
}

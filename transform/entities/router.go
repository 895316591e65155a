package entities

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/topics"
	"syncline/schemas"
	"syncline/transform/entities/merge"
	"syncline/transform/stage"
	"syncline/transform/state"
)

// RouteStage names the routing stage (consumer group, metrics, DLQ).
const RouteStage = "entities-route"

// Record headers of the entity input topics.
const (
	hdrKind  = "syncline.kind"  // change or decision
	hdrXrefs = "syncline.xrefs" // external id cross references, "\n"-separated
	hdrScore = "syncline.quality_score"

	kindChange   = "change"
	kindDecision = "decision"
)

// Config configures the entities stages.
type Config struct {
	TopicPrefix string
	Partitions  int32 // changelog partitions
	RF          int16
	InstanceID  string
	StateDir    string
	StateKey    []byte
	BatchSize   int
	TxnTimeout  time.Duration
	// Entities are the compiled entity types, their sources' Topic set.
	Entities []*Entity
	// Now is the clock of quality freshness; default time.Now.
	Now func() time.Time
}

// InputTopic is an entity's input topic: its sources' changes, routed by
// match key, and the review decisions.
func InputTopic(prefix, entity string) string {
	return "_" + prefix + ".entity." + topics.Part(entity) + ".in"
}

// Topic is an entity's output topic: its golden records.
func Topic(prefix, entity string) string { return prefix + ".entity." + topics.Part(entity) }

// ReviewTopic is the compacted topic of review items, by id.
func ReviewTopic(prefix string) string { return "_" + prefix + ".review" }

// Router is the routing stage: it reads the entities' source change
// topics, maps each record to the entity's fields, cleans and checks it
// (transform/quality; invalid records go to the DLQ with the reason),
// gives the values the fields' types, and forwards the result to the
// entity's input topic, on the shard of its match key.
type Router struct {
	cfg       Config
	kafkaOpts []kgo.Opt
	serde     *schemas.Serde
	m         *metrics.Metrics
	runner    *stage.Runner
	byTopic   map[string][]route
}

type route struct {
	ent *Entity
	src *Source
}

// NewRouter returns the routing stage.
func NewRouter(cfg Config, kafkaOpts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*Router, error) {
	r := &Router{cfg: cfg, kafkaOpts: kafkaOpts, serde: serde, m: m, byTopic: map[string][]route{}}
	sc := stage.Config{Name: RouteStage, TopicPrefix: cfg.TopicPrefix, RF: cfg.RF, InstanceID: cfg.InstanceID,
		Stateless: true, BatchSize: cfg.BatchSize, TxnTimeout: cfg.TxnTimeout}
	seen := map[string]bool{}
	for _, e := range cfg.Entities {
		sc.Ensure = append(sc.Ensure, kafka.TopicSpec{Name: InputTopic(cfg.TopicPrefix, e.Spec.Name), Partitions: e.Shards(), RF: cfg.RF})
		for i := range e.Sources {
			s := &e.Sources[i]
			if s.Topic == "" {
				return nil, fmt.Errorf("entity %s: source %s has no topic", e.Spec.Name, s.From)
			}
			r.byTopic[s.Topic] = append(r.byTopic[s.Topic], route{ent: e, src: s})
			if !seen[s.Topic] {
				seen[s.Topic] = true
				sc.Topics = append(sc.Topics, s.Topic)
				// The change topic may not exist yet (no change captured).
				sc.Ensure = append(sc.Ensure, kafka.TopicSpec{Name: s.Topic, Partitions: cfg.Partitions, RF: cfg.RF})
			}
		}
	}
	if len(sc.Topics) == 0 {
		return nil, errors.New("entities: no entity has a source")
	}
	runner, err := stage.New(sc, kafkaOpts, m, log)
	if err != nil {
		return nil, err
	}
	r.runner = runner
	return r, nil
}

// Ready reports whether the stage is consuming.
func (r *Router) Ready() bool { return r.runner.Ready() }

// Run routes until ctx is done.
func (r *Router) Run(ctx context.Context) error {
	if err := checkShards(ctx, r.kafkaOpts, r.cfg); err != nil {
		_ = r.runner.Close()
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	return r.runner.Run(ctx, r)
}

// checkShards refuses to run when an entity's input topic exists with
// another partition count than its shards: records routed before would be
// on the wrong shard.
func checkShards(ctx context.Context, opts []kgo.Opt, cfg Config) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, e := range cfg.Entities {
		in := InputTopic(cfg.TopicPrefix, e.Spec.Name)
		if err := kafka.EnsureTopics(ctx, adm, kafka.TopicSpec{Name: in, Partitions: e.Shards(), RF: cfg.RF}); err != nil {
			return err
		}
		n, err := kafka.Partitions(ctx, adm, in)
		if err != nil {
			return err
		}
		if int32(n) != e.Shards() {
			return fmt.Errorf("entity %s: its input topic %s has %d partitions but shards is %d: the shards of an entity cannot change once records were routed (records would be matched on the wrong shard); set shards back to %d, or start the entity afresh (delete the topic and the entities state)", e.Spec.Name, in, n, e.Shards(), n)
		}
	}
	return nil
}

// Batch implements stage.Handler.
func (r *Router) Batch(tx *stage.Txn) stage.Batch { return &routeBatch{r: r, tx: tx} }

type routeBatch struct {
	r      *Router
	tx     *stage.Txn
	scores []score
}

type score struct {
	entity, source string
	score          int
}

func (b *routeBatch) Committed() {
	for _, s := range b.scores {
		b.r.m.QualityScore.WithLabelValues(s.entity, s.source).Observe(float64(s.score))
	}
}

func (b *routeBatch) Record(ctx context.Context, _ state.Unit, rec *kgo.Record) error {
	ch, err := b.r.serde.Decode(ctx, rec.Key, rec.Value)
	if err != nil {
		b.tx.Park(ctx, "undecodable", err, rec)
		return nil
	}
	if ch.Op == schemas.OpTruncate {
		b.tx.Park(ctx, "truncate_unsupported", fmt.Errorf("a truncate of %s cannot be applied to entities record by record; run a backfill of the table after it", ch.Table.ID()), rec)
		return nil
	}
	key := ch.Key
	if key == nil {
		key = ch.After
		if key == nil {
			key = ch.Before
		}
	}
	for _, rt := range b.r.byTopic[rec.Topic] {
		if err := b.route(ctx, rt, ch, keyText(ch.Table, key), rec); err != nil {
			return err
		}
	}
	return nil
}

// route forwards ch to entity rt.ent.
func (b *routeBatch) route(ctx context.Context, rt route, ch *schemas.Change, key string, rec *kgo.Record) error {
	e, src := rt.ent, rt.src
	out := merge.Change{Entity: e.Spec.Name, Source: src.Name, Key: key, Op: ch.Op, CommitMs: ch.Source.CommitMs, Position: ch.Source.Position}
	var hdrs []kgo.RecordHeader
	if ch.Op != schemas.OpDelete {
		fields, xrefs, sc, err := b.clean(e, src, ch.Table, ch.After, ch.Source.CommitMs)
		if err != nil {
			var inv *invalidError
			if errors.As(err, &inv) {
				b.tx.Park(ctx, inv.reason, err, rec)
				return nil
			}
			return err
		}
		out.Fields = fields
		b.scores = append(b.scores, score{e.Spec.Name, src.Name, sc})
		hdrs = append(hdrs, kgo.RecordHeader{Key: hdrXrefs, Value: []byte(strings.Join(xrefs, "\n"))},
			kgo.RecordHeader{Key: hdrScore, Value: []byte(strconv.Itoa(sc))})
	}
	if ch.Op == schemas.OpDelete && e.Shards() > 1 {
		// A delete goes where the record's upserts went: by its before
		// image's match key, or, without one, to every shard (a shard
		// that does not hold the record ignores it).
		if ch.Before != nil {
			if before, _, _, err := b.clean(e, src, ch.Table, ch.Before, ch.Source.CommitMs); err == nil && hasMatchKey(e, before) {
				return b.produce(ctx, e, b.shard(e, src, key, before), out, hdrs)
			}
		}
		for sh := range e.Shards() {
			if err := b.produce(ctx, e, sh, out, hdrs); err != nil {
				return err
			}
		}
		return nil
	}
	shard := b.shard(e, src, key, out.Fields)
	if ch.Op == schemas.OpUpdate && ch.Before != nil && e.Shards() > 1 {
		// A record whose match key changed moves to another shard: it
		// leaves its entity on the old one.
		if before, _, _, err := b.clean(e, src, ch.Table, ch.Before, ch.Source.CommitMs); err == nil {
			if old := b.shard(e, src, key, before); old != shard {
				del := out
				del.Op, del.Fields = schemas.OpDelete, nil
				if err := b.produce(ctx, e, old, del, nil); err != nil {
					return err
				}
			}
		}
	}
	return b.produce(ctx, e, shard, out, hdrs)
}

func (b *routeBatch) produce(ctx context.Context, e *Entity, shard int32, ch merge.Change, hdrs []kgo.RecordHeader) error {
	v, err := merge.EncodeChange(ch)
	if err != nil {
		return err
	}
	hdrs = append([]kgo.RecordHeader{{Key: hdrKind, Value: []byte(kindChange)}}, hdrs...)
	b.tx.Produce(kafka.Manual(ctx), &kgo.Record{Topic: InputTopic(b.r.cfg.TopicPrefix, e.Spec.Name), Partition: shard,
		Key: []byte(merge.Ref(ch.Source, ch.Key)), Value: v, Headers: hdrs}, nil)
	return nil
}

// invalidError is a record that can never join: parked with reason.
type invalidError struct {
	reason string
	err    error
}

func (e *invalidError) Error() string { return e.err.Error() }
func (e *invalidError) Unwrap() error { return e.err }

// clean maps a source row to the entity's fields, applies the quality
// pipeline and the fields' types, and collects the external ids.
func (b *routeBatch) clean(e *Entity, src *Source, t *schemas.Table, row schemas.Row, commitMs int64) (map[string]any, []string, int, error) {
	byName := make(map[string]any, len(row))
	for _, c := range t.Columns {
		if v, ok := row[c.Field]; ok {
			byName[c.Name] = v
		}
	}
	rec := make(map[string]any, len(src.columns))
	for f, col := range src.columns {
		if v, ok := byName[col]; ok {
			rec[f] = v
		}
	}
	now := time.Now()
	if b.r.cfg.Now != nil {
		now = b.r.cfg.Now()
	}
	if commitMs > 0 {
		// The commit time, not the processing time: a replay scores the
		// same as the first pass.
		now = time.UnixMilli(commitMs)
	}
	res := e.quality.For(src.Name).ApplyAt(rec, now)
	if res.Invalid {
		return nil, nil, 0, &invalidError{reason: "invalid_record", err: fmt.Errorf("%s record %s of %s: %s", e.Spec.Name, t.ID(), src.Name, res.Reason)}
	}
	fields := make(map[string]any, len(e.Fields))
	for _, f := range e.Fields {
		v, ok := res.Record[f]
		if !ok {
			if _, mapped := src.columns[f]; !mapped {
				continue // the source does not have the field: it does not vote
			}
		}
		cv, err := convert(e.kinds[f], v)
		if err != nil {
			return nil, nil, 0, &invalidError{reason: "invalid_type", err: fmt.Errorf("%s field %s from %s: %w", e.Spec.Name, f, t.ID(), err)}
		}
		fields[f] = cv
	}
	var xrefs []string
	for ns, col := range src.xrefs {
		if v := byName[col]; v != nil && valueText(v) != "" {
			xrefs = append(xrefs, ns+":"+valueText(v))
		}
	}
	return fields, xrefs, res.Score, nil
}

// hasMatchKey reports whether fields hold the email or phone a record is
// sharded by (a before image of key columns only does not).
func hasMatchKey(e *Entity, fields map[string]any) bool {
	for _, role := range []string{e.roles.Email, e.roles.Phone} {
		if role == "" {
			continue
		}
		if s, _ := fields[role].(string); strings.TrimSpace(s) != "" {
			return true
		}
	}
	return false
}

// shard is the partition of the entity input topic a record goes to: by
// normalized email, else phone, else the record itself.
func (b *routeBatch) shard(e *Entity, src *Source, key string, fields map[string]any) int32 {
	n := e.Shards()
	if n == 1 {
		return 0
	}
	rk := "ref:" + src.Name + ":" + key
	if s, _ := fields[e.roles.Email].(string); e.roles.Email != "" && strings.TrimSpace(s) != "" {
		rk = "email:" + strings.ToLower(strings.TrimSpace(s))
	} else if s, _ := fields[e.roles.Phone].(string); e.roles.Phone != "" && s != "" {
		var digits strings.Builder
		for _, r := range s {
			if r >= '0' && r <= '9' {
				digits.WriteRune(r)
			}
		}
		if digits.Len() >= 7 {
			rk = "phone:" + digits.String()
		}
	}
	h := fnv.New32a()
	h.Write([]byte(rk))
	return int32(h.Sum32() % uint32(n))
}

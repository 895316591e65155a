package entities

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/schemas"
	"syncline/transform/entities/match"
	"syncline/transform/entities/merge"
	"syncline/transform/stage"
	"syncline/transform/state"
)

// Stage names the identity and merge stage.
const Stage = "entities"

// State keys, per unit (input topic partition = shard of one entity).
const (
	pMember   = "m" // + ref → member JSON: entity id, match record
	pEntity   = "e" // + id → uvarint(seq) merge state
	pAlias    = "a" // + id → the id it was merged into
	pProposal = "p" // + review id → duplicate Review JSON
	pRejected = "x" // + pair key → a rejected duplicate pair
	keyQueue  = "q" // pending reviews of the unit, uvarint
)

// Processor is the identity and merge stage: per shard it keeps the
// match index and the entities' merge states, joins each source record
// to its entity (external ids, deterministic keys, fuzzy score), merges
// its fields by the entity's policies, and writes the golden record, the
// review items and its state in one Kafka transaction.
type Processor struct {
	cfg       Config
	kafkaOpts []kgo.Opt
	serde     *schemas.Serde
	m         *metrics.Metrics
	log       *slog.Logger
	runner    *stage.Runner
	byIn      map[string]*Entity

	mu      sync.Mutex
	indexes map[state.Unit]*match.Index
	queue   map[state.Unit]int64
}

// New returns the identity and merge stage.
func New(cfg Config, kafkaOpts []kgo.Opt, serde *schemas.Serde, m *metrics.Metrics, log *slog.Logger) (*Processor, error) {
	p := &Processor{cfg: cfg, kafkaOpts: kafkaOpts, serde: serde, m: m, byIn: map[string]*Entity{}, indexes: map[state.Unit]*match.Index{}, queue: map[state.Unit]int64{}}
	sc := stage.Config{Name: Stage, TopicPrefix: cfg.TopicPrefix, Partitions: cfg.Partitions, RF: cfg.RF, InstanceID: cfg.InstanceID,
		StateDir: cfg.StateDir, StateKey: cfg.StateKey, BatchSize: cfg.BatchSize, TxnTimeout: cfg.TxnTimeout,
		Ensure: []kafka.TopicSpec{{Name: ReviewTopic(cfg.TopicPrefix), Partitions: 1, RF: cfg.RF, Compact: true}}}
	for _, e := range cfg.Entities {
		in := InputTopic(cfg.TopicPrefix, e.Spec.Name)
		p.byIn[in] = e
		sc.Topics = append(sc.Topics, in)
		sc.Ensure = append(sc.Ensure,
			kafka.TopicSpec{Name: in, Partitions: e.Shards(), RF: cfg.RF},
			kafka.TopicSpec{Name: Topic(cfg.TopicPrefix, e.Spec.Name), Partitions: cfg.Partitions, RF: cfg.RF})
	}
	if len(sc.Topics) == 0 {
		return nil, errors.New("entities: no entity configured")
	}
	runner, err := stage.New(sc, kafkaOpts, m, log)
	if err != nil {
		return nil, err
	}
	p.runner, p.log = runner, runner.Log()
	m.ReviewQueueDepth.Set(0)
	return p, nil
}

// Ready reports whether the stage is consuming.
func (p *Processor) Ready() bool { return p.runner.Ready() }

// Run processes until ctx is done.
func (p *Processor) Run(ctx context.Context) error {
	if err := checkShards(ctx, p.kafkaOpts, p.cfg); err != nil {
		_ = p.runner.Close()
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	return p.runner.Run(ctx, p)
}

// Fresh implements stage.UnitHandler: it rebuilds the unit's match index
// from its member records and reads its review count.
func (p *Processor) Fresh(_ context.Context, st *state.Store, u state.Unit) error {
	e := p.byIn[u.Topic]
	if e == nil {
		return nil
	}
	ix, err := match.NewIndex(e.match)
	if err != nil {
		return err
	}
	var q int64
	err = st.Scan(u, func(k, v []byte) error {
		switch {
		case len(k) > 0 && string(k[:1]) == pMember:
			var mem member
			if err := json.Unmarshal(v, &mem); err != nil {
				return fmt.Errorf("member %q: %w", k[1:], err)
			}
			if mem.Rec != nil {
				return ix.Insert(*mem.Rec)
			}
		case string(k) == keyQueue:
			n, _ := binary.Uvarint(v)
			q = int64(n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.indexes[u] = ix
	p.queue[u] = q
	p.setQueueLocked()
	p.mu.Unlock()
	return nil
}

// Forget implements stage.UnitHandler.
func (p *Processor) Forget(u state.Unit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.indexes, u)
	delete(p.queue, u)
	p.setQueueLocked()
}

func (p *Processor) setQueueLocked() {
	var n int64
	for _, q := range p.queue {
		n += q
	}
	p.m.ReviewQueueDepth.Set(float64(n))
}

// Batch implements stage.Handler.
func (p *Processor) Batch(tx *stage.Txn) stage.Batch {
	return &batch{p: p, tx: tx, queue: map[state.Unit]int64{}, merged: map[string]int{}}
}

// member is a source record's entry: the entity it belongs to and what
// the matcher knows of it.
type member struct {
	Entity string        `json:"e"`
	Rec    *match.Record `json:"r,omitempty"`
}

type batch struct {
	p      *Processor
	tx     *stage.Txn
	queue  map[state.Unit]int64 // pending review count changes
	events []merge.Event
	merged map[string]int // source record changes merged, by entity
	now    int64
}

func (b *batch) Committed() {
	for _, ev := range b.events {
		b.p.m.Conflicts.WithLabelValues(ev.Entity, ev.Field, ev.Resolution).Inc()
	}
	for e, n := range b.merged {
		b.p.m.EntityChanges.WithLabelValues(e).Add(float64(n))
	}
	b.p.mu.Lock()
	defer b.p.mu.Unlock()
	for u, d := range b.queue {
		if _, ok := b.p.queue[u]; ok {
			b.p.queue[u] += d
		}
	}
	b.p.setQueueLocked()
}

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func (b *batch) Record(ctx context.Context, u state.Unit, r *kgo.Record) error {
	e := b.p.byIn[r.Topic]
	if e == nil {
		b.tx.Park(ctx, "unknown_entity", fmt.Errorf("topic %s is no configured entity's input", r.Topic), r)
		return nil
	}
	b.now = time.Now().UnixMilli()
	kind, _ := header(r, hdrKind)
	switch kind {
	case kindChange:
		ch, err := merge.DecodeChange(r.Value)
		if err != nil {
			b.tx.Park(ctx, "undecodable", err, r)
			return nil
		}
		var xrefs []string
		if x, _ := header(r, hdrXrefs); x != "" {
			xrefs = strings.Split(x, "\n")
		}
		return b.change(ctx, e, u, r, ch, xrefs)
	case kindDecision:
		var d Decision
		if err := json.Unmarshal(r.Value, &d); err != nil {
			b.tx.Park(ctx, "undecodable", fmt.Errorf("decision record: %w", err), r)
			return nil
		}
		if err := d.Validate(); err != nil {
			b.tx.Park(ctx, "invalid_decision", err, r)
			return nil
		}
		return b.decision(ctx, e, u, r, d)
	}
	b.tx.Park(ctx, "undecodable", fmt.Errorf("record without a known %s header (%q)", hdrKind, kind), r)
	return nil
}

// get and put are the unit's state under a prefix.
func (b *batch) get(u state.Unit, prefix, key string) ([]byte, error) {
	return b.tx.Get(u, []byte(prefix+key))
}

func (b *batch) put(ctx context.Context, u state.Unit, prefix, key string, v []byte) {
	b.tx.Put(ctx, u, []byte(prefix+key), v)
}

func (b *batch) member(u state.Unit, ref string) (*member, error) {
	v, err := b.get(u, pMember, ref)
	if err != nil || v == nil {
		return nil, err
	}
	var m member
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, fmt.Errorf("member %q: %w", ref, err)
	}
	return &m, nil
}

// resolve follows merges from id to the entity that holds it now; a
// chain of more than one hop is shortened to point at the end.
func (b *batch) resolve(ctx context.Context, u state.Unit, id string) (string, error) {
	var path []string
	for range 1024 {
		v, err := b.get(u, pAlias, id)
		if err != nil {
			return "", err
		}
		if v == nil {
			if len(path) > 1 {
				for _, p := range path[:len(path)-1] {
					b.put(ctx, u, pAlias, p, []byte(id))
				}
			}
			return id, nil
		}
		path = append(path, id)
		id = string(v)
	}
	return "", fmt.Errorf("entity %s: merge chain longer than 1024", id)
}

// entity is an entity's state with its golden record sequence.
type entity struct {
	seq uint64
	st  *merge.State
	new bool
}

func (b *batch) load(u state.Unit, e *Entity, id string) (*entity, error) {
	v, err := b.get(u, pEntity, id)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return &entity{st: merge.NewState(e.Spec.Name, id), new: true}, nil
	}
	seq, w := binary.Uvarint(v)
	if w <= 0 {
		return nil, fmt.Errorf("entity %s: bad state entry", id)
	}
	st, err := merge.Decode(v[w:])
	if err != nil {
		return nil, fmt.Errorf("entity %s: %w", id, err)
	}
	return &entity{seq: seq, st: st}, nil
}

func (b *batch) store(ctx context.Context, u state.Unit, en *entity) error {
	enc, err := merge.AppendEncode(binary.AppendUvarint(nil, en.seq), en.st)
	if err != nil {
		return err
	}
	b.put(ctx, u, pEntity, en.st.ID, enc)
	return nil
}

// anchorLess orders entity ids (each the ref of its best member, as
// "source:key"): source rank first, then the text. An entity's id is its
// least member's, so the id does not depend on the order records arrive.
func anchorLess(e *Entity, a, b string) bool {
	ra, rb := e.rank(a), e.rank(b)
	if ra != rb {
		return ra < rb
	}
	return a < b
}

func (e *Entity) rank(id string) int {
	src, _, _ := strings.Cut(id, ":")
	for i, s := range e.Sources {
		if s.Name == src {
			return i
		}
	}
	return len(e.Sources)
}

func (e *Entity) matchRecord(id string, fields map[string]any, xrefs []string, prev *match.Record) *match.Record {
	r := &match.Record{ID: id, ExternalIDs: append([]string{id}, xrefs...)}
	slices.Sort(r.ExternalIDs[1:])
	get := func(role string, into *string, old string) {
		if role == "" {
			return
		}
		v, ok := fields[role]
		if !ok {
			*into = old // the source does not have the field
			return
		}
		if v != nil {
			*into = valueText(v)
		}
	}
	var old match.Record
	if prev != nil {
		old = *prev
	}
	get(e.roles.FirstName, &r.FirstName, old.FirstName)
	get(e.roles.LastName, &r.LastName, old.LastName)
	get(e.roles.Name, &r.Name, old.Name)
	get(e.roles.Email, &r.Email, old.Email)
	get(e.roles.Phone, &r.Phone, old.Phone)
	get(e.roles.Company, &r.Company, old.Company)
	get(e.roles.City, &r.City, old.City)
	get(e.roles.PostalCode, &r.PostalCode, old.PostalCode)
	get(e.roles.Country, &r.Country, old.Country)
	return r
}

func sameRecord(a, b *match.Record) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ID == b.ID && slices.Equal(a.ExternalIDs, b.ExternalIDs) && a.FirstName == b.FirstName && a.LastName == b.LastName &&
		a.Name == b.Name && a.Email == b.Email && a.Phone == b.Phone && a.Company == b.Company && a.City == b.City &&
		a.PostalCode == b.PostalCode && a.Country == b.Country
}

func (p *Processor) index(u state.Unit) (*match.Index, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ix := p.indexes[u]
	if ix == nil {
		return nil, fmt.Errorf("no match index for %s/%d", u.Topic, u.Partition)
	}
	return ix, nil
}

// change joins a source record's change to its entity and merges it.
func (b *batch) change(ctx context.Context, e *Entity, u state.Unit, r *kgo.Record, ch merge.Change, xrefs []string) error {
	ch.Entity = e.Spec.Name
	if err := e.merger.Check(ch); err != nil {
		// Before anything else happens: a change the merge refuses
		// must not half-apply (combine entities, move the index).
		b.tx.Park(ctx, "unmergeable", err, r)
		return nil
	}
	ref := ch.Source + ":" + ch.Key
	if e.Shards() > 1 {
		// Ids carry the shard: a record that moved shard leaves an
		// entity behind on the old one, which must not share its id.
		ref += "@" + strconv.Itoa(int(u.Partition))
	}
	mem, err := b.member(u, ref)
	if err != nil {
		return err
	}
	if mem == nil && ch.Op == schemas.OpDelete {
		return nil // a record the entity never had
	}
	ix, err := b.p.index(u)
	if err != nil {
		return err
	}
	var ids []string // entities the record is found to be one with
	var proposals []match.Candidate
	memberChanged := mem == nil
	if ch.Op != schemas.OpDelete {
		var prev *match.Record
		if mem != nil {
			prev = mem.Rec
		}
		rec := e.matchRecord(ref, ch.Fields, xrefs, prev)
		if !sameRecord(rec, prev) {
			memberChanged = true
			ix.Remove(ref)
			cands, err := ix.Add(*rec)
			if err != nil {
				return err
			}
			for _, c := range cands {
				switch c.Decision {
				case match.Merge:
					om, err := b.member(u, c.ID)
					if err != nil {
						return err
					}
					if om != nil {
						ids = append(ids, om.Entity)
					}
				case match.Review:
					proposals = append(proposals, c)
				}
			}
			if mem == nil {
				mem = &member{}
			}
			mem.Rec = rec
		}
	}
	if mem.Entity != "" {
		ids = append(ids, mem.Entity)
	}
	for i, id := range ids {
		if ids[i], err = b.resolve(ctx, u, id); err != nil {
			return err
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	target := ref
	if mem.Entity != "" || len(ids) > 0 {
		target = ""
	}
	for _, id := range ids {
		if target == "" || anchorLess(e, id, target) {
			target = id
		}
	}
	if mem.Entity == "" && anchorLess(e, ref, target) {
		target = ref // a new member with the best anchor names the entity
	}
	en, err := b.unite(ctx, e, u, target, ids, ch.CommitMs)
	if err != nil {
		return err
	}
	joined := mem.Entity != en.st.ID // new member, or its entity was combined into another
	if mem.Entity != en.st.ID {
		mem.Entity, memberChanged = en.st.ID, true
	}
	mc := ch
	if ch.Op == schemas.OpRead {
		// A snapshot or backfill row has no known modification time (its
		// commit time is when it was read): it ranks below every change
		// with a commit time, and among snapshot rows the source rank
		// decides, not which table happened to be read first.
		mc.CommitMs = 0
	}
	out, err := e.merger.ApplyInPlace(en.st, mc)
	if err != nil {
		return fmt.Errorf("merge a change Check accepted: %w", err)
	}
	b.merged[e.Spec.Name]++
	if memberChanged {
		v, _ := json.Marshal(mem)
		b.put(ctx, u, pMember, ref, v)
	}
	b.events = append(b.events, out.Events...)
	for _, it := range out.Reviews {
		b.raise(ctx, u, fieldReview(e, &it, u))
	}
	for _, c := range proposals {
		if err := b.propose(ctx, e, u, ref, en.st.ID, mem.Rec, c); err != nil {
			return err
		}
	}
	if out.Delta != nil || out.Diverged || en.new || joined || len(ids) > 1 {
		if err := b.emit(ctx, e, u, en, ch.CommitMs); err != nil && !b.parkUnencodable(ctx, err, r) {
			return err
		}
		return nil
	}
	return b.store(ctx, u, en)
}

// unite returns entity target with the entities ids combined into it;
// each combined entity's golden record is deleted (naming target) and
// its id becomes an alias of target.
func (b *batch) unite(ctx context.Context, e *Entity, u state.Unit, target string, ids []string, commitMs int64) (*entity, error) {
	en, err := b.load(u, e, target)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if id == target {
			continue
		}
		from, err := b.load(u, e, id)
		if err != nil {
			return nil, err
		}
		if from.new {
			continue
		}
		st, out, err := e.merger.Combine(en.st, from.st)
		if err != nil {
			return nil, err
		}
		en.st = st
		b.events = append(b.events, out.Events...)
		// The combined entity's golden record goes, naming the survivor.
		from.seq++
		if err := b.produceGolden(ctx, e, id, from.seq, nil, target, commitMs); err != nil {
			return nil, err
		}
		b.put(ctx, u, pEntity, id, nil)
		b.put(ctx, u, pAlias, id, []byte(target))
	}
	return en, nil
}

// emit writes the entity's state and its golden record.
func (b *batch) emit(ctx context.Context, e *Entity, u state.Unit, en *entity, commitMs int64) error {
	en.seq++
	if err := b.store(ctx, u, en); err != nil {
		return err
	}
	return b.produceGolden(ctx, e, en.st.ID, en.seq, en.st, "", commitMs)
}

// unencodable is a golden record that cannot be written (a value its
// field's type cannot carry): the change that caused it is parked, the
// state keeps it, and the record is written with the entity's next change.
type unencodable struct{ err error }

func (e *unencodable) Error() string { return e.err.Error() }
func (e *unencodable) Unwrap() error { return e.err }

// parkUnencodable parks r for an unencodable golden record and reports
// whether err was one.
func (b *batch) parkUnencodable(ctx context.Context, err error, r *kgo.Record) bool {
	var ue *unencodable
	if errors.As(err, &ue) {
		b.tx.Park(ctx, "unencodable", err, r)
		return true
	}
	return false
}

// goldenValue is a golden value in the Go type its field's kind is
// written with (a policy's result may differ: a set is a list, a sum
// may overflow into a decimal).
func goldenValue(kind schemas.Kind, v any) (any, error) {
	v, err := convert(kind, v)
	if err != nil {
		return nil, err
	}
	if r, ok := v.(*big.Rat); ok {
		return ratText(r), nil
	}
	return v, nil
}

// provenance is one field's provenance on the entity topic.
type provenance struct {
	Source   string `json:"source"`
	Key      string `json:"key"`
	Position string `json:"position"`
	CommitMs int64  `json:"commit_ms"`
	Policy   string `json:"policy"`
	Reason   string `json:"reason"`
}

// produceGolden writes one version of a golden record: st's values, or a
// delete (st nil or deleted; mergedInto names the entity it became).
func (b *batch) produceGolden(ctx context.Context, e *Entity, id string, seq uint64, st *merge.State, mergedInto string, commitMs int64) error {
	t := e.table
	ch := &schemas.Change{Table: t, Key: schemas.Row{ColID: id}, TsMs: b.now,
		Source: schemas.Source{System: "syncline", Name: "entity", Schema: "entity", Table: e.Spec.Name,
			Position: fmt.Sprintf("%020d", seq), CommitMs: commitMs}}
	if st == nil || st.Deleted {
		ch.Op = schemas.OpDelete
		ch.Before = schemas.Row{ColID: id}
		if mergedInto != "" {
			ch.Before[t.Columns[len(t.Columns)-1].Field] = mergedInto
		}
	} else {
		ch.Op = schemas.OpUpdate
		if seq == 1 {
			ch.Op = schemas.OpCreate
		}
		row := schemas.Row{ColID: id}
		prov := map[string]provenance{}
		golden := map[string]any{}
		for i, f := range e.Fields {
			fs := st.Fields[f]
			if fs == nil {
				row[t.Columns[i+1].Field] = nil
				continue
			}
			v, err := goldenValue(e.kinds[f], fs.Value)
			if err != nil {
				return &unencodable{fmt.Errorf("golden record %s %s: field %s: %w", e.Spec.Name, id, f, err)}
			}
			row[t.Columns[i+1].Field] = v
			golden[f] = fs.Value
			if fs.Prov.Source != "" {
				prov[f] = provenance{Source: fs.Prov.Source, Key: fs.Prov.Key, Position: fs.Prov.Position, CommitMs: fs.Prov.CommitMs,
					Policy: string(fs.Prov.Policy), Reason: fs.Prov.Reason}
			}
		}
		srcs := []string{}
		for _, rec := range st.Records {
			if rec.UpdPos > rec.DelPos {
				srcs = append(srcs, rec.Source+":"+rec.Key)
			}
		}
		slices.Sort(srcs)
		sj, _ := json.Marshal(srcs)
		pj, _ := json.Marshal(prov)
		n := len(e.Fields)
		row[t.Columns[n+1].Field] = string(sj)
		row[t.Columns[n+2].Field] = string(pj)
		row[t.Columns[n+3].Field] = int32(e.quality.For("").Apply(golden).Score)
		row[t.Columns[n+4].Field] = nil
		ch.After = row
	}
	topic := Topic(b.p.cfg.TopicPrefix, e.Spec.Name)
	enc, err := b.p.serde.Encoder(ctx, topic, t)
	if err != nil {
		return fmt.Errorf("register the schema of %s: %w", topic, err)
	}
	k, v, err := enc.Encode(ch)
	if err != nil {
		return &unencodable{fmt.Errorf("encode golden record %s %s: %w", e.Spec.Name, id, err)}
	}
	b.tx.Produce(ctx, &kgo.Record{Topic: topic, Key: k, Value: v}, nil)
	return nil
}

func fieldReview(e *Entity, it *merge.ReviewItem, u state.Unit) *Review {
	return &Review{ID: it.ID, Entity: e.Spec.Name, EntityID: it.Entity, Kind: string(it.Kind), Field: it.Field,
		Source: it.Source, Key: it.Key, Position: it.Position, CommitMs: it.CommitMs,
		Value: textPtr(it.Value), Current: textPtr(it.Current), Proposed: textPtr(it.Proposed),
		Reason: it.Reason, Status: StatusPending, Topic: u.Topic, Partition: u.Partition}
}

// raise writes a new pending review item.
func (b *batch) raise(ctx context.Context, u state.Unit, rv *Review) {
	rv.CreatedMs = b.now
	b.writeReview(ctx, rv)
	b.queue[u]++
	b.addQueue(ctx, u, 1)
}

func (b *batch) writeReview(ctx context.Context, rv *Review) {
	b.tx.Produce(ctx, &kgo.Record{Topic: ReviewTopic(b.p.cfg.TopicPrefix), Key: []byte(rv.ID), Value: encodeReview(rv)}, nil)
}

// addQueue keeps the unit's pending review count in state.
func (b *batch) addQueue(ctx context.Context, u state.Unit, d int64) {
	v, _ := b.tx.Get(u, []byte(keyQueue))
	n, _ := binary.Uvarint(v)
	nn := int64(n) + d
	if nn < 0 {
		nn = 0
	}
	b.tx.Put(ctx, u, []byte(keyQueue), binary.AppendUvarint(nil, uint64(nn)))
}

// propose raises a duplicate review for record ref (in entity id) and
// candidate c, unless the pair is one entity already, was rejected, or
// is pending.
func (b *batch) propose(ctx context.Context, e *Entity, u state.Unit, ref, id string, rec *match.Record, c match.Candidate) error {
	om, err := b.member(u, c.ID)
	if err != nil || om == nil {
		return err
	}
	other, err := b.resolve(ctx, u, om.Entity)
	if err != nil || other == id {
		return err
	}
	pk := pairKey(ref, c.ID)
	if v, err := b.get(u, pRejected, pk); err != nil || v != nil {
		return err
	}
	rid := duplicateID(e.Spec.Name, pk)
	if v, err := b.get(u, pProposal, rid); err != nil || v != nil {
		return err
	}
	pair := &Pair{A: ref, B: c.ID, EntityA: id, EntityB: other, Score: c.Score, Notes: c.Notes,
		RecordA: recordFields(rec), RecordB: recordFields(om.Rec)}
	for _, rs := range c.Reasons {
		pair.Reasons = append(pair.Reasons, fmt.Sprintf("%v", rs))
	}
	rv := &Review{ID: rid, Entity: e.Spec.Name, EntityID: id, Kind: KindDuplicate, Pair: pair,
		Reason: fmt.Sprintf("%s and %s may be one %s (score %.2f, below auto-merge %.2f)", ref, c.ID, e.Spec.Name, c.Score, e.match.AutoMerge),
		Status: StatusPending, Topic: u.Topic, Partition: u.Partition}
	b.raise(ctx, u, rv)
	b.put(ctx, u, pProposal, rid, encodeReview(rv))
	return nil
}

func recordFields(r *match.Record) Fields {
	if r == nil {
		return nil
	}
	f := Fields{}
	for k, v := range map[string]string{"first_name": r.FirstName, "last_name": r.LastName, "name": r.Name, "email": r.Email,
		"phone": r.Phone, "company": r.Company, "city": r.City, "postal_code": r.PostalCode, "country": r.Country} {
		if v != "" {
			f[k] = v
		}
	}
	return f
}

// decision applies a person's decision exactly once: the decision record
// is consumed in the transaction that writes its effects.
func (b *batch) decision(ctx context.Context, e *Entity, u state.Unit, r *kgo.Record, d Decision) error {
	decided := func(rv *Review, status, outcome string) {
		rv.Status, rv.Outcome, rv.DecidedBy, rv.Note, rv.DecidedMs = status, outcome, d.By, d.Note, b.now
		b.writeReview(ctx, rv)
		b.queue[u]--
		b.addQueue(ctx, u, -1)
	}
	if v, err := b.get(u, pProposal, d.ID); err != nil {
		return err
	} else if v != nil {
		rv, err := DecodeReview(v)
		if err != nil {
			return err
		}
		if rv.Status != StatusPending || rv.Pair == nil {
			b.p.log.Info("review already decided; decision ignored", "review", d.ID, "status", rv.Status)
			return nil
		}
		pk := pairKey(rv.Pair.A, rv.Pair.B)
		if d.Decision == "reject" {
			b.put(ctx, u, pRejected, pk, []byte{1})
			decided(rv, StatusRejected, "dropped")
			b.put(ctx, u, pProposal, d.ID, encodeReview(rv))
			b.events = append(b.events, merge.Event{Entity: e.Spec.Name, Field: "_identity", Resolution: merge.ResolutionRejected})
			return nil
		}
		ea, err := b.resolve(ctx, u, rv.Pair.EntityA)
		if err != nil {
			return err
		}
		eb, err := b.resolve(ctx, u, rv.Pair.EntityB)
		if err != nil {
			return err
		}
		outcome := "applied"
		if ea != eb {
			target := ea
			if anchorLess(e, eb, ea) {
				target = eb
			}
			en, err := b.unite(ctx, e, u, target, []string{ea, eb}, b.now)
			if err != nil {
				return err
			}
			if err := b.emit(ctx, e, u, en, b.now); err != nil && !b.parkUnencodable(ctx, err, r) {
				return err
			}
		} else {
			outcome = "already_one_entity"
		}
		decided(rv, StatusApproved, outcome)
		b.put(ctx, u, pProposal, d.ID, encodeReview(rv))
		b.events = append(b.events, merge.Event{Entity: e.Spec.Name, Field: "_identity", Resolution: merge.ResolutionApproved})
		return nil
	}
	if d.EntityID == "" {
		b.tx.Park(ctx, "unknown_review", fmt.Errorf("decision on review %s names no entity", d.ID), r)
		return nil
	}
	id, err := b.resolve(ctx, u, d.EntityID)
	if err != nil {
		return err
	}
	en, err := b.load(u, e, id)
	if err != nil {
		return err
	}
	if en.new {
		b.tx.Park(ctx, "unknown_review", fmt.Errorf("decision on review %s: entity %s %s is not in this shard", d.ID, e.Spec.Name, d.EntityID), r)
		return nil
	}
	it := en.st.Pending[d.ID]
	st, out, err := e.merger.ApplyDecision(en.st, d.ID, merge.Decision(d.Decision))
	if errors.Is(err, merge.ErrUnknownReview) {
		b.tx.Park(ctx, "unknown_review", err, r)
		return nil
	}
	if err != nil {
		return err
	}
	if out.Outcome == merge.OutcomeAlreadyDecided {
		b.p.log.Info("review already decided; decision ignored", "review", d.ID, "decision", out.Previous)
		return nil
	}
	en.st = st
	b.events = append(b.events, out.Events...)
	rv := fieldReview(e, it, u)
	status := StatusApproved
	switch out.Outcome {
	case merge.OutcomeDropped:
		status = StatusRejected
	case merge.OutcomeSuperseded:
		status = StatusSuperseded
	}
	decided(rv, status, string(out.Outcome))
	if out.Delta != nil {
		if err := b.emit(ctx, e, u, en, b.now); err != nil && !b.parkUnencodable(ctx, err, r) {
			return err
		}
		return nil
	}
	return b.store(ctx, u, en)
}

// seqText is a golden record position as a number, for people.
func seqText(pos string) string {
	n, err := strconv.ParseUint(pos, 10, 64)
	if err != nil {
		return pos
	}
	return strconv.FormatUint(n, 10)
}

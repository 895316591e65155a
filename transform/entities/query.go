package entities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/schemas"
)

// ErrNoReview is returned for a review id the queue does not hold.
var ErrNoReview = errors.New("no such review")

// ErrDecided is returned for a decision on an item decided before.
var ErrDecided = errors.New("review already decided")

// ReviewFilter selects review items; zero values select all.
type ReviewFilter struct {
	Entity string
	Status string
	Kind   string
}

// ListReviews returns the review items (the latest state of each), oldest
// first.
func ListReviews(ctx context.Context, opts []kgo.Opt, prefix string, f ReviewFilter) ([]*Review, error) {
	byID := map[string]*Review{}
	var bad error
	err := kafka.ReadAll(ctx, opts, ReviewTopic(prefix), func(r *kgo.Record) {
		if r.Value == nil {
			delete(byID, string(r.Key))
			return
		}
		rv, err := DecodeReview(r.Value)
		if err != nil {
			bad = fmt.Errorf("%s offset %d: %w", r.Topic, r.Offset, err)
			return
		}
		byID[rv.ID] = rv
	})
	if err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, bad
	}
	var out []*Review
	for _, rv := range byID {
		if (f.Entity == "" || rv.Entity == f.Entity) && (f.Status == "" || rv.Status == f.Status) && (f.Kind == "" || rv.Kind == f.Kind) {
			out = append(out, rv)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedMs != out[j].CreatedMs {
			return out[i].CreatedMs < out[j].CreatedMs
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// GetReview returns one review item by id (or a unique id prefix of at
// least 6 characters).
func GetReview(ctx context.Context, opts []kgo.Opt, prefix, id string) (*Review, error) {
	all, err := ListReviews(ctx, opts, prefix, ReviewFilter{})
	if err != nil {
		return nil, err
	}
	var found []*Review
	for _, rv := range all {
		if rv.ID == id {
			return rv, nil
		}
		if len(id) >= 6 && len(rv.ID) > len(id) && rv.ID[:len(id)] == id {
			found = append(found, rv)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("review %s: %w", id, ErrNoReview)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("review id prefix %s is ambiguous (%d items); give more of it", id, len(found))
}

// Decide sends a decision on review id: a decision record on the entity's
// input topic, which the entities stage applies exactly once. It returns
// the item as it was; the item's new status follows on the review topic
// once the stage has applied it.
func Decide(ctx context.Context, opts []kgo.Opt, prefix, id, decision, by, note string) (*Review, error) {
	rv, err := GetReview(ctx, opts, prefix, id)
	if err != nil {
		return nil, err
	}
	if rv.Status != StatusPending {
		return rv, fmt.Errorf("review %s is %s (by %s): %w", rv.ID, rv.Status, orDash(rv.DecidedBy), ErrDecided)
	}
	d := Decision{ID: rv.ID, EntityID: rv.EntityID, Decision: decision, By: by, Note: note, AtMs: time.Now().UnixMilli()}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	v, _ := json.Marshal(d)
	cl, err := kgo.NewClient(append(slices.Clip(opts), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: rv.Topic, Partition: rv.Partition, Key: []byte(rv.ID), Value: v,
		Headers: []kgo.RecordHeader{{Key: hdrKind, Value: []byte(kindDecision)}}})
	if err := res.FirstErr(); err != nil {
		return nil, fmt.Errorf("send the decision: %w", err)
	}
	return rv, nil
}

// WaitDecided waits until review id is no longer pending and returns it.
func WaitDecided(ctx context.Context, opts []kgo.Opt, prefix, id string) (*Review, error) {
	for {
		rv, err := GetReview(ctx, opts, prefix, id)
		if err != nil {
			return nil, err
		}
		if rv.Status != StatusPending {
			return rv, nil
		}
		select {
		case <-ctx.Done():
			return rv, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Version is one version of a golden record.
type Version struct {
	ID         string                `json:"id"`
	Seq        string                `json:"seq"`
	Op         string                `json:"op"`
	CommitMs   int64                 `json:"commit_ms"`
	TsMs       int64                 `json:"ts_ms"`
	Values     map[string]*string    `json:"values,omitempty"`
	Provenance map[string]provenance `json:"provenance,omitempty"`
	Sources    []string              `json:"sources,omitempty"`
	MergedInto string                `json:"merged_into,omitempty"`
}

// FieldStep is one value a field had.
type FieldStep struct {
	Value    *string `json:"value"`
	Entity   string  `json:"entity"` // the entity id that carried it
	Seq      string  `json:"seq"`
	CommitMs int64   `json:"commit_ms"`
	Source   string  `json:"source"`
	Key      string  `json:"key"`
	Position string  `json:"position"`
	Policy   string  `json:"policy"`
	Reason   string  `json:"reason"`
}

// History is an entity's lineage: its versions, those of the entities
// merged into it, and per field every value it had.
type History struct {
	Entity   string                 `json:"entity"`
	ID       string                 `json:"id"`
	Merged   []string               `json:"merged,omitempty"`
	Versions []Version              `json:"versions"`
	Fields   map[string][]FieldStep `json:"fields"`
}

// ReadHistory reads entity id's history from the entity topic.
func ReadHistory(ctx context.Context, opts []kgo.Opt, serde *schemas.Serde, prefix, entity, id string) (*History, error) {
	byKey := map[string][]Version{}
	mergedInto := map[string][]string{}
	var derr error
	err := kafka.ReadAll(ctx, opts, Topic(prefix, entity), func(r *kgo.Record) {
		ch, err := serde.Decode(ctx, r.Key, r.Value)
		if err != nil {
			derr = fmt.Errorf("%s offset %d: %w", r.Topic, r.Offset, err)
			return
		}
		v := versionOf(ch)
		byKey[v.ID] = append(byKey[v.ID], v)
		if v.MergedInto != "" {
			mergedInto[v.MergedInto] = append(mergedInto[v.MergedInto], v.ID)
		}
	})
	if err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	h := &History{Entity: entity, ID: id, Fields: map[string][]FieldStep{}}
	ids := []string{id}
	for i := 0; i < len(ids); i++ {
		for _, m := range mergedInto[ids[i]] {
			if !slices.Contains(ids, m) {
				ids = append(ids, m)
				h.Merged = append(h.Merged, m)
			}
		}
	}
	for _, k := range ids {
		h.Versions = append(h.Versions, byKey[k]...)
	}
	if len(h.Versions) == 0 {
		return nil, fmt.Errorf("entity %s %s: no golden record on %s", entity, id, Topic(prefix, entity))
	}
	sort.SliceStable(h.Versions, func(i, j int) bool { return h.Versions[i].TsMs < h.Versions[j].TsMs })
	for _, v := range h.Versions {
		for f, val := range v.Values {
			steps := h.Fields[f]
			if n := len(steps); n > 0 && steps[n-1].Entity == v.ID && eqText(steps[n-1].Value, val) {
				continue
			}
			p := v.Provenance[f]
			if val == nil && p.Source == "" && len(steps) == 0 {
				continue // not set yet
			}
			h.Fields[f] = append(steps, FieldStep{Value: val, Entity: v.ID, Seq: v.Seq, CommitMs: p.CommitMs,
				Source: p.Source, Key: p.Key, Position: p.Position, Policy: p.Policy, Reason: p.Reason})
		}
	}
	return h, nil
}

func eqText(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func versionOf(ch *schemas.Change) Version {
	v := Version{Op: string(ch.Op), Seq: seqText(ch.Source.Position), CommitMs: ch.Source.CommitMs, TsMs: ch.TsMs}
	row := ch.After
	if row == nil {
		row = ch.Before
	}
	if row == nil {
		row = ch.Key
	}
	for _, c := range ch.Table.Columns {
		val, ok := row[c.Field]
		switch c.Name {
		case ColID:
			v.ID = valueText(val)
			continue
		case ColSources:
			if s, _ := val.(string); s != "" {
				_ = json.Unmarshal([]byte(s), &v.Sources)
			}
			continue
		case ColProvenance:
			if s, _ := val.(string); s != "" {
				_ = json.Unmarshal([]byte(s), &v.Provenance)
			}
			continue
		case ColMergedInto:
			v.MergedInto = valueText(val)
			continue
		case ColScore:
			continue
		}
		if ch.After == nil || !ok {
			continue
		}
		if v.Values == nil {
			v.Values = map[string]*string{}
		}
		v.Values[c.Name] = textPtr(val)
	}
	return v
}

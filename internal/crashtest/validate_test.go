package crashtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"syncline/schemas"
)

// memRegistry is an in-memory schema registry for the validator's own test.
type memRegistry struct {
	mu   sync.Mutex
	byID map[int]string
	ids  map[string]int
}

func (r *memRegistry) CreateSchema(_ context.Context, subject string, s sr.Schema) (sr.SubjectSchema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.ids[s.Schema]
	if !ok {
		id = len(r.byID) + 1
		r.byID[id], r.ids[s.Schema] = s.Schema, id
	}
	return sr.SubjectSchema{Subject: subject, Version: 1, ID: id, Schema: s}, nil
}

func (r *memRegistry) SchemaByID(_ context.Context, id int) (sr.Schema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.byID[id]
	if !ok {
		return sr.Schema{}, fmt.Errorf("schema %d not found", id)
	}
	return sr.Schema{Schema: s, Type: sr.TypeAvro}, nil
}

// TestCheckTopicFindsEveryKindOfProblem makes sure the validator is not
// vacuous: each kind of violation it must catch is caught and named.
func TestCheckTopicFindsEveryKindOfProblem(t *testing.T) {
	ctx := context.Background()
	serde := schemas.NewSerde(&memRegistry{byID: map[int]string{}, ids: map[string]int{}})
	table := &schemas.Table{System: "postgres", Source: "app", DB: "app", Schema: "public", Name: "items", Columns: []schemas.Column{
		{Name: "tenant", Field: "tenant", PGType: "integer", Kind: schemas.KindInt32, Key: true},
		{Name: "sku", Field: "sku", PGType: "text", Kind: schemas.KindString, Key: true},
		{Name: "ver", Field: "ver", PGType: "integer", Kind: schemas.KindInt32},
		{Name: "qty", Field: "qty", PGType: "integer", Kind: schemas.KindInt32},
	}}
	enc, err := serde.Encoder(ctx, "t", table)
	if err != nil {
		t.Fatal(err)
	}
	var offset int64
	mk := func(sku string, op schemas.Op, ver int32, before int32, pos string) *kgo.Record {
		ch := &schemas.Change{Table: table, Op: op, Source: schemas.Source{System: "postgres", Name: "app", DB: "app", Schema: "public", Table: "items", Position: pos}}
		key := schemas.Row{"tenant": int32(1), "sku": sku}
		if op == schemas.OpDelete {
			ch.Key = key
			ch.Before = schemas.Row{"tenant": int32(1), "sku": sku, "ver": before, "qty": int32(0)}
		} else {
			ch.After = schemas.Row{"tenant": int32(1), "sku": sku, "ver": ver, "qty": int32(0)}
			if before > 0 {
				ch.Before = schemas.Row{"tenant": int32(1), "sku": sku, "ver": before, "qty": int32(0)}
			}
		}
		k, v, err := enc.Encode(ch)
		if err != nil {
			t.Fatal(err)
		}
		offset++
		return &kgo.Record{Key: k, Value: v, Offset: offset}
	}
	spec := TableSpec{Name: "items", Key: []string{"tenant", "sku"}}
	want := map[string][]string{
		"items|1|ok":       {"c1", "u2", "d", "c3"},
		"items|1|missing":  {"c1", "u2", "u3"},
		"items|1|dup":      {"c1", "u2"},
		"items|1|order":    {"c1", "u2"},
		"items|1|backward": {"c1", "u2"},
		"items|1|before":   {"c1", "u2"},
		"items|1|absent":   {"c1"},
	}
	recs := []*kgo.Record{
		mk("ok", schemas.OpCreate, 1, 0, "A/1"), mk("ok", schemas.OpUpdate, 2, 1, "A/2"), mk("ok", schemas.OpDelete, 0, 2, "B/1"), mk("ok", schemas.OpCreate, 3, 0, "C/1"),
		mk("missing", schemas.OpCreate, 1, 0, "A/1"), mk("missing", schemas.OpUpdate, 3, 2, "C/1"),
		mk("dup", schemas.OpCreate, 1, 0, "A/1"), mk("dup", schemas.OpUpdate, 2, 1, "B/1"), mk("dup", schemas.OpUpdate, 2, 1, "B/1"),
		mk("order", schemas.OpUpdate, 2, 1, "A/1"), mk("order", schemas.OpCreate, 1, 0, "B/1"),
		mk("backward", schemas.OpCreate, 1, 0, "B/1"), mk("backward", schemas.OpUpdate, 2, 1, "A/1"),
		mk("before", schemas.OpCreate, 1, 0, "A/1"), mk("before", schemas.OpUpdate, 2, 7, "B/1"),
		mk("stranger", schemas.OpCreate, 1, 0, "A/1"),
	}
	rep, err := CheckTopic(ctx, serde, recs, "t", spec, want, true)
	if err != nil {
		t.Fatal(err)
	}
	text := rep.String()
	for _, w := range []string{
		"items|1|missing: MISSING u2×1",
		"items|1|dup: DUPLICATED u2×1",
		"items|1|dup: position goes backwards or repeats",
		"items|1|order: REORDERED",
		"items|1|backward: position goes backwards",
		`items|1|before: u2@B/1(p0/o15) has before.ver "7", want "1"`,
		"items|1|absent: no record at all",
		"items|1|stranger: records for a key never written",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("report lacks %q:\n%s", w, text)
		}
	}
	if strings.Contains(text, "items|1|ok:") {
		t.Errorf("report flags the correct key:\n%s", text)
	}
	if rep.Count != 10 {
		t.Errorf("%d problems, want 10 (dup and missing also break the before chain):\n%s", rep.Count, text)
	}
}

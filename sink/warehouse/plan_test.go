package warehouse

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/schemas"
)

// summarize renders a plan as "truncate" and "<op>:<id>=<name>@<lsn>" items.
func summarize(p *plan) []string {
	var out []string
	for _, tp := range p.targets {
		if tp.truncate {
			out = append(out, "truncate")
		}
		for _, o := range tp.ops {
			kind := "upsert"
			if o.del {
				kind = "delete"
			} else if o.soft {
				kind = "softdelete"
			}
			var vals []string
			for _, v := range o.vals {
				vals = append(vals, v.String)
			}
			out = append(out, fmt.Sprintf("%s:%s@%s", kind, strings.Join(vals, "="), strings.TrimLeft(o.pos[:16], "0")))
		}
	}
	return out
}

func TestBuildPlanCollapsesABatch(t *testing.T) {
	tbl := people()
	cases := []struct {
		name    string
		soft    bool
		ignoreT bool
		changes []*schemas.Change
		want    []string
	}{
		{
			name:    "several changes to one key collapse to the last",
			changes: []*schemas.Change{ins(tbl, 1, person(1, "a")), upd(tbl, 2, person(1, "a"), person(1, "b")), upd(tbl, 3, person(1, "b"), person(1, "c"))},
			want:    []string{"upsert:1=c@3"},
		},
		{
			name:    "a delete followed by an insert of the same key ends with the row present",
			changes: []*schemas.Change{del(tbl, 1, person(1, "a")), ins(tbl, 2, person(1, "again"))},
			want:    []string{"upsert:1=again@2"},
		},
		{
			name:    "an insert followed by a delete ends with a delete",
			changes: []*schemas.Change{ins(tbl, 1, person(1, "a")), del(tbl, 2, person(1, "a"))},
			want:    []string{"delete:1@2"},
		},
		{
			name:    "with soft deletes a delete is an upsert of the before image marked deleted",
			soft:    true,
			changes: []*schemas.Change{ins(tbl, 1, person(1, "a")), del(tbl, 2, person(1, "a"))},
			want:    []string{"softdelete:1=a@2"},
		},
		{
			name:    "a truncate drops the changes before it and keeps the ones after",
			changes: []*schemas.Change{ins(tbl, 1, person(1, "a")), ins(tbl, 2, person(2, "b")), trunc(tbl, 3), ins(tbl, 4, person(3, "c"))},
			want:    []string{"truncate", "upsert:3=c@4"},
		},
		{
			name:    "changes are ordered by position, so a truncate wipes older changes that arrived after it",
			changes: []*schemas.Change{ins(tbl, 30, person(2, "b")), trunc(tbl, 20), ins(tbl, 10, person(1, "a"))},
			want:    []string{"truncate", "upsert:2=b@1E"},
		},
		{
			name:    "an ignored truncate changes nothing",
			ignoreT: true,
			changes: []*schemas.Change{ins(tbl, 1, person(1, "a")), trunc(tbl, 2), ins(tbl, 3, person(2, "b"))},
			want:    []string{"upsert:1=a@1", "upsert:2=b@3"},
		},
		{
			name:    "an update that changes the key deletes the old key and upserts the new one",
			changes: []*schemas.Change{upd(tbl, 5, person(1, "a"), person(7, "a"))},
			want:    []string{"delete:1@5", "upsert:7=a@5"},
		},
		{
			name:    "NULL values stay NULL",
			changes: []*schemas.Change{ins(tbl, 1, person(1, ""))},
			want:    []string{"upsert:1=@1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			serde := schemas.NewSerde(newFakeRegistry())
			s, err := New(Config{Name: "w", DSN: "postgres://x@127.0.0.1/x", Tables: []TableRef{{"app", "public", "people"}},
				Topics: []string{topicOf(tbl)}, SoftDelete: tc.soft, IgnoreTruncate: tc.ignoreT}, nil, serde, dlqStub(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var recs []*kgo.Record
			for i, ch := range tc.changes {
				enc, err := serde.Encoder(context.Background(), topicOf(tbl), tbl)
				if err != nil {
					t.Fatal(err)
				}
				k, v, err := enc.Encode(ch)
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, &kgo.Record{Topic: topicOf(tbl), Key: k, Value: v, Offset: int64(i)})
			}
			p, err := s.buildPlan(context.Background(), recs)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.parked) != 0 {
				t.Fatalf("parked %v", p.parked[0].err)
			}
			got := summarize(p)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("plan = %q, want %q", got, tc.want)
			}
			if n := p.next[partKey{topicOf(tbl), 0}]; n != int64(len(recs)) {
				t.Errorf("next offset = %d, want %d", n, len(recs))
			}
		})
	}
}

func TestNewRejectsBadConfigs(t *testing.T) {
	base := func() Config {
		return Config{Name: "w", DSN: "postgres://x@127.0.0.1/x",
			Tables: []TableRef{{"app", "public", "customers"}, {"crm", "sales", "orders"}},
			Topics: []string{"syncline.app.public.customers", "syncline.crm.sales.orders"}}
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings of the error
	}{
		{"two tables with the same name are an error naming both", func(c *Config) { c.Tables[1].Table = "customers" },
			[]string{"app.public.customers", "crm.sales.customers", "analytics"}},
		{"a missing name is an error", func(c *Config) { c.Name = "" }, []string{"name"}},
		{"a missing dsn is an error", func(c *Config) { c.DSN = "" }, []string{"dsn"}},
		{"tables and topics of different lengths are an error", func(c *Config) { c.Topics = c.Topics[:1] }, []string{"2 tables but 1 topics"}},
		{"an unparseable dsn is an error that does not leak the password", func(c *Config) { c.DSN = "postgres://u:s3cret@host:notaport/db" }, []string{"dsn"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			c.Schema = "analytics"
			tc.mutate(&c)
			_, err := New(c, nil, schemas.NewSerde(newFakeRegistry()), dlqStub(), nil, nil)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
	t.Run("defaults are filled in", func(t *testing.T) {
		s, err := New(base(), nil, schemas.NewSerde(newFakeRegistry()), dlqStub(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := s.cfg
		if c.Schema != "public" || c.BatchSize != 1000 || c.BatchTimeout != DefaultBatchTimeout || c.GroupID != "syncline-sink-w" {
			t.Errorf("defaults: %+v", c)
		}
	})
}

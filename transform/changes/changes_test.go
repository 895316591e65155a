package changes_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
	"syncline/internal/metrics"
	"syncline/internal/testenv"
	"syncline/schemas"
	"syncline/transform/changes"
)

const (
	rawTopic    = "syncline.raw.app.public.docs"
	changeTopic = "syncline.app.public.docs"
)

func docsTable() *schemas.Table {
	cols := []schemas.Column{
		{Name: "id", PGType: "integer", Kind: schemas.KindInt32, Key: true},
		{Name: "title", PGType: "text", Kind: schemas.KindString},
		{Name: "body", PGType: "text", Kind: schemas.KindString},
	}
	schemas.SanitizeFields(cols)
	return &schemas.Table{System: "postgres", Source: "app", DB: "app", Schema: "public", Name: "docs", Columns: cols}
}

type stage struct {
	t        *testing.T
	k        *testenv.Kafka
	serde    *schemas.Serde
	enc      *schemas.Encoder
	stateDir string
	m        *metrics.Metrics
	stop     func()
	seen     int
}

func newStage(t *testing.T) *stage {
	k := testenv.StartKafka(t)
	s := &stage{t: t, k: k, serde: schemas.NewSerde(k.RegistryClient(t)), stateDir: t.TempDir()}
	err := kafka.EnsureTopics(context.Background(), kadm.NewClient(k.Client(t)),
		kafka.TopicSpec{Name: rawTopic, Partitions: 2}, kafka.TopicSpec{Name: changeTopic, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s.enc, err = s.serde.Encoder(context.Background(), rawTopic, docsTable()); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *stage) start() {
	s.t.Helper()
	s.m = metrics.New(prometheus.NewRegistry())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := changes.New(changes.Config{TopicPrefix: "syncline", Partitions: 2, StateDir: s.stateDir, Topics: []string{rawTopic}}, s.k.Opts(), s.serde, s.m, log)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	s.stop = func() {
		cancel()
		if err := <-done; err != nil {
			s.t.Errorf("stage: %v", err)
		}
	}
	s.t.Cleanup(func() {
		if s.stop != nil {
			s.halt()
		}
	})
}

func (s *stage) halt() { s.stop(); s.stop = nil }

var seq int

// raw produces a raw change with a fresh, increasing position (or pos).
func (s *stage) raw(op schemas.Op, id int32, title, body any, unavailable []string, pos ...string) {
	s.t.Helper()
	seq++
	p := "0000000000000100/" + strings.Repeat("0", 10) + string(rune('0'+seq/100%10)) + string(rune('0'+seq/10%10)) + string(rune('0'+seq%10)) + "000"
	if len(pos) > 0 {
		p = pos[0]
	}
	row := schemas.Row{"id": id, "title": title, "body": body}
	ch := &schemas.Change{Op: op, Key: schemas.Row{"id": id}, After: row, Unavailable: unavailable,
		Source: schemas.Source{System: "postgres", Name: "app", DB: "app", Schema: "public", Table: "docs", Position: p}}
	if op == schemas.OpDelete {
		ch.Before, ch.After = schemas.Row{"id": id}, nil
	}
	k, v, err := s.enc.Encode(ch)
	if err != nil {
		s.t.Fatal(err)
	}
	cl := s.k.Client(s.t, kgo.RecordPartitioner(kafka.KeyPartitioner()))
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: rawTopic, Key: k, Value: v}).FirstErr(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stage) garbage() {
	cl := s.k.Client(s.t)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: rawTopic, Key: []byte("k"), Value: []byte("not avro")}).FirstErr(); err != nil {
		s.t.Fatal(err)
	}
}

// next waits for the next n change records after those already seen.
func (s *stage) next(n int) []*schemas.Change {
	s.t.Helper()
	all := s.read(changeTopic, s.seen+n)
	s.seen += n
	var out []*schemas.Change
	for _, r := range all[len(all)-n:] {
		ch, err := s.serde.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			s.t.Fatal(err)
		}
		out = append(out, ch)
	}
	return out
}

func (s *stage) read(topic string, n int) []*kgo.Record {
	s.t.Helper()
	cl := s.k.Client(s.t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			s.t.Fatalf("%s: %d records, want %d", topic, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	if len(out) > n {
		s.t.Fatalf("%s: %d records, want exactly %d", topic, len(out), n)
	}
	return out
}

func TestChangesStage(t *testing.T) {
	s := newStage(t)
	s.start()
	big := strings.Repeat("x", 5000)

	t.Run("an insert passes with every field changed", func(t *testing.T) {
		s.raw(schemas.OpCreate, 1, "first", big, nil)
		ch := s.next(1)[0]
		if ch.Op != schemas.OpCreate || ch.Before != nil || len(ch.Changed) != 3 {
			t.Errorf("got op %s before %v changed %v", ch.Op, ch.Before, ch.Changed)
		}
	})

	t.Run("an update with an unchanged TOAST column is completed from state", func(t *testing.T) {
		s.raw(schemas.OpUpdate, 1, "second", nil, []string{"body"})
		ch := s.next(1)[0]
		if ch.After["body"] != big || ch.Unavailable != nil {
			t.Errorf("body not filled: %.20v unavailable %v", ch.After["body"], ch.Unavailable)
		}
		if ch.Before["title"] != "first" || strings.Join(ch.Changed, ",") != "title" {
			t.Errorf("before %v changed %v, want the previous row and [title]", ch.Before["title"], ch.Changed)
		}
	})

	t.Run("a no-op update and a replayed position produce nothing", func(t *testing.T) {
		s.raw(schemas.OpUpdate, 1, "second", big, nil)                                     // same values
		s.raw(schemas.OpUpdate, 1, "old", "old", nil, "0000000000000001/0000000000000001") // older position
		s.raw(schemas.OpUpdate, 1, "third", nil, []string{"body"})
		ch := s.next(1)[0]
		if ch.After["title"] != "third" || ch.Before["title"] != "second" {
			t.Errorf("got %v <- %v", ch.After["title"], ch.Before["title"])
		}
		testenv.WaitFor(t, 5*time.Second, "metrics", func() bool {
			return testutil.ToFloat64(s.m.NoopUpdatesDropped) == 1 && testutil.ToFloat64(s.m.DuplicatesDropped.WithLabelValues("changes")) == 1
		})
	})

	t.Run("state survives the loss of the local store through the changelog", func(t *testing.T) {
		s.halt()
		if err := os.RemoveAll(s.stateDir); err != nil {
			t.Fatal(err)
		}
		s.start()
		s.raw(schemas.OpUpdate, 1, "fourth", nil, []string{"body"})
		ch := s.next(1)[0]
		if ch.After["body"] != big || ch.Before["title"] != "third" {
			t.Errorf("after restore: body %.10v before %v", ch.After["body"], ch.Before["title"])
		}
	})

	t.Run("a delete carries the complete before image", func(t *testing.T) {
		s.raw(schemas.OpDelete, 1, nil, nil, nil)
		ch := s.next(1)[0]
		if ch.Op != schemas.OpDelete || ch.Before["body"] != big || ch.After != nil {
			t.Errorf("delete: op %s before %.10v", ch.Op, ch.Before)
		}
	})

	t.Run("unfillable TOAST columns and garbage go to the DLQ and the stream goes on", func(t *testing.T) {
		s.raw(schemas.OpUpdate, 9, "never seen", nil, []string{"body"})
		s.garbage()
		s.raw(schemas.OpCreate, 2, "after", "ok", nil)
		if ch := s.next(1)[0]; ch.After["id"] != int32(2) {
			t.Errorf("next record: %v", ch.After)
		}
		dlq := s.read("_syncline.dlq", 2)
		reasons := map[string]bool{}
		for _, r := range dlq {
			for _, h := range r.Headers {
				if h.Key == "syncline.reason" {
					reasons[string(h.Value)] = true
				}
			}
		}
		if !reasons["toast_unavailable"] || !reasons["undecodable"] {
			t.Errorf("DLQ reasons %v, want toast_unavailable and undecodable", reasons)
		}
	})
}

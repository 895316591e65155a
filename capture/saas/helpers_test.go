package saas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/emulator/hubspot"
	"syncline/internal/metrics"
	"syncline/internal/testenv"
	"syncline/schemas"
)

type env struct {
	t     *testing.T
	k     *testenv.Kafka
	serde *schemas.Serde
	emu   *hubspot.Server
	srv   *httptest.Server
	logs  *syncBuffer
}

const token = "pat-emulator-token"

func newEnv(t *testing.T, o hubspot.Options) *env {
	t.Helper()
	k := testenv.StartKafka(t)
	if o.Token == "" {
		o.Token = token
	}
	emu := hubspot.New(o)
	srv := emu.Start()
	t.Cleanup(srv.Close)
	return &env{t: t, k: k, serde: schemas.NewSerde(k.RegistryClient(t)), emu: emu, srv: srv, logs: &syncBuffer{}}
}

// profile is the HubSpot profile against the emulator, fast: small
// backoffs, no settle delay (the emulator's index has no lag).
func (e *env) profile(name string, objects ...HubSpotObject) HubSpot {
	return HubSpot{
		Name: name, BaseURL: e.srv.URL, Token: token, Objects: objects,
		Lookback: time.Second, Settle: time.Millisecond, RequestsPerSecond: 200, Burst: 10, MaxConcurrent: 2,
		PollInterval: 50 * time.Millisecond,
		Retry:        Retry{MaxAttempts: 10, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
	}
}

func (e *env) source(cfg Config) *Source {
	e.t.Helper()
	cfg.Partitions, cfg.TxnTimeout = 3, 20*time.Second
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := New(cfg, e.k.Opts(), e.serde, metrics.New(prometheus.NewRegistry()), log)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// running is a source running in the background.
type running struct {
	s      *Source
	cancel context.CancelFunc
	done   chan error
}

func (e *env) start(s *Source) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

func (r *running) stop(t *testing.T) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil && !errors.Is(err, errCrashed) {
			t.Errorf("source stopped with %v", err)
		}
		r.done <- nil
	case <-time.After(60 * time.Second):
		t.Errorf("source did not stop")
	}
}

// settle waits until the source completed two polls after now, so every
// change made before the call is read and a re-read had its chance to
// duplicate.
func (r *running) settle(t *testing.T) {
	t.Helper()
	n := r.s.polls.Load()
	testenv.WaitFor(t, 3*time.Minute, "two more polls", func() bool {
		select {
		case err := <-r.done:
			t.Fatalf("source stopped: %v", err)
		default:
		}
		return r.s.polls.Load() >= n+2
	})
}

// capped is the HubSpot profile with pages of page records and a search
// cap of max results.
func (e *env) capped(name string, page, max int) Config {
	p := e.profile(name, contacts)
	p.PageSize = page
	c := p.Config()
	c.Objects[0].Pagination.MaxResults = max
	return c
}

// syncOnce runs cfg until it has polled twice more than the sync needed,
// stops it, and checks its contacts topic: want distinct contacts, each
// live contact's current version and each archived one's delete, no
// version twice.
func (e *env) syncOnce(cfg Config, want int) map[string][]version {
	e.t.Helper()
	r := e.start(e.source(cfg))
	r.settle(e.t)
	r.stop(e.t)
	versions := exactlyOnce(e.t, e.read(contactsTopic(cfg.Name)))
	if len(versions) != want {
		e.t.Errorf("%d distinct contacts on the raw topic, want %d", len(versions), want)
	}
	checkCurrent(e.t, e.emu, "contacts", versions)
	return versions
}

// crashAt runs cfg until its commit number at, which it abandons with
// the page's records in an open transaction, as a killed process would.
func (e *env) crashAt(cfg Config, at int) {
	e.t.Helper()
	s := e.source(cfg)
	commits := 0
	s.crash = func() bool { commits++; return commits == at }
	r := e.start(s)
	select {
	case err := <-r.done:
		r.done <- nil
		if !errors.Is(err, errCrashed) {
			e.t.Fatalf("source stopped with %v before commit %d", err, at)
		}
	case <-time.After(2 * time.Minute):
		e.t.Fatalf("no crash at commit %d", at)
	}
}

// read returns the committed records of topic (read_committed), decoded.
func (e *env) read(topic string) []*schemas.Change {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(e.k.Client(e.t))
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	var out []*schemas.Change
	if len(want) == 0 {
		return nil
	}
	cl := e.k.Client(e.t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			e.t.Fatalf("read %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			ch, err := e.serde.Decode(ctx, r.Key, r.Value)
			if err != nil {
				e.t.Fatalf("decode %s/%d@%d: %v", topic, r.Partition, r.Offset, err)
			}
			out = append(out, ch)
		})
	}
	return out
}

// version identifies one version of one object on a raw topic.
type version struct {
	id string
	op schemas.Op
	at int64 // µs
}

func versionOf(ch *schemas.Change) version {
	id := fmt.Sprint(ch.Key["id"])
	v, err := strconv.ParseUint(ch.Source.Position, 16, 64)
	if err != nil {
		panic(err)
	}
	return version{id: id, op: ch.Op, at: int64(v)}
}

// exactlyOnce checks that no (key, version) appears twice and returns the
// versions by id.
func exactlyOnce(t *testing.T, chs []*schemas.Change) map[string][]version {
	t.Helper()
	seen := map[[2]string]int{}
	out := map[string][]version{}
	for _, ch := range chs {
		v := versionOf(ch)
		k := [2]string{v.id, ch.Source.Position}
		seen[k]++
		if seen[k] == 2 {
			t.Errorf("duplicate: object %s version %s (op %s)", v.id, ch.Source.Position, ch.Op)
		}
		if ch.Op != schemas.OpDelete {
			if got := ch.After["updated_at"].(time.Time).UnixMicro(); got != v.at {
				t.Errorf("object %s: position %s but updated_at %d", v.id, ch.Source.Position, got)
			}
		}
		out[v.id] = append(out[v.id], v)
	}
	return out
}

// checkCurrent checks every live object of typ has its current version in
// versions, and every archived one a delete.
func checkCurrent(t *testing.T, emu *hubspot.Server, typ string, versions map[string][]version) {
	t.Helper()
	missing := 0
	for _, o := range emu.Objects(typ) {
		id := strconv.FormatInt(o.ID, 10)
		want := version{id: id, at: o.UpdatedAt.UnixMicro()}
		found := false
		for _, v := range versions[id] {
			if o.Archived && v.op == schemas.OpDelete && v.at == o.ArchivedAt.UnixMicro() {
				found = true
			}
			if !o.Archived && v.op != schemas.OpDelete && v.at == want.at {
				found = true
			}
		}
		if !found {
			if missing++; missing <= 5 {
				t.Errorf("object %s (archived %v, updated %s): its current version is missing; have %v", id, o.Archived, o.UpdatedAt.Format(time.RFC3339Nano), versions[id])
			}
		}
	}
	if missing > 5 {
		t.Errorf("… %d objects missing in all", missing)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

package embedded

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// readyCapture is a slog handler that picks the service addresses out of
// RunStandalone's "ready" log line.
type readyCapture struct {
	mu    sync.Mutex
	ready chan struct{}
	kafka []string
	url   string
}

func (h *readyCapture) Enabled(context.Context, slog.Level) bool { return true }
func (h *readyCapture) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *readyCapture) WithGroup(string) slog.Handler            { return h }
func (h *readyCapture) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "syncline standalone services ready" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "kafka_bootstrap":
			h.kafka, _ = a.Value.Any().([]string)
		case "schema_registry_url":
			h.url = a.Value.String()
		}
		return true
	})
	close(h.ready)
	return nil
}

// runStandalone starts RunStandalone and returns its addresses and a
// function that stops it and returns its error.
func runStandalone(t *testing.T, dir, registryListen string) (kafka []string, url string, stop func() error) {
	t.Helper()
	capture := &readyCapture{ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runErr = RunStandalone(ctx, BrokerConfig{DataDir: dir, Listen: "127.0.0.1:0", CompactInterval: -1}, registryListen, slog.New(capture))
	}()
	select {
	case <-capture.ready:
	case <-done:
		cancel()
		t.Fatalf("RunStandalone returned before it was ready: %v", runErr)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("RunStandalone not ready within 30s")
	}
	stop = func() error {
		cancel()
		select {
		case <-done:
			return runErr
		case <-time.After(30 * time.Second):
			t.Fatal("RunStandalone did not stop within 30s")
			return nil
		}
	}
	t.Cleanup(func() { cancel(); <-done })
	capture.mu.Lock()
	defer capture.mu.Unlock()
	return capture.kafka, capture.url, stop
}

func TestRunStandalone(t *testing.T) {
	t.Parallel()

	t.Run("standalone services keep topics and schemas across a restart", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		dir := t.TempDir()

		kafka, url, stop := runStandalone(t, dir, "127.0.0.1:0")
		cl, err := sr.NewClient(sr.URLs(url))
		if err != nil {
			t.Fatal(err)
		}
		ss := register(t, cl, "events-value", orderV1)
		prod := newTestClient(t, kafka, kgo.AllowAutoTopicCreation())
		produceSync(t, prod, "events", "k", "v")
		prod.Close()
		if err := stop(); err != nil {
			t.Fatalf("RunStandalone returned %v after cancel, want nil", err)
		}

		kafka, url, stop = runStandalone(t, dir, "127.0.0.1:0")
		cl, err = sr.NewClient(sr.URLs(url))
		if err != nil {
			t.Fatal(err)
		}
		got, err := cl.SchemaByID(ctx, ss.ID)
		if err != nil || got.Schema != orderV1 {
			t.Fatalf("schema %d after restart = %+v, %v", ss.ID, got, err)
		}
		if recs := consumeAll(t, kafka, "events", true); len(recs) != 1 || recs[0].Value != "v" {
			t.Fatalf("records after restart = %v", recs)
		}
		topics, err := kadm.NewClient(newTestClient(t, kafka)).ListTopics(ctx)
		if err != nil || !topics.Has(DefaultRegistryTopic) {
			t.Fatalf("topics = %v, %v; want the registry topic", topics.Names(), err)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a busy registry address fails startup", func(t *testing.T) {
		t.Parallel()
		_, url, _ := runStandalone(t, "", "127.0.0.1:0")
		addr := url[len("http://"):]
		err := RunStandalone(testContext(t), BrokerConfig{Listen: "127.0.0.1:0", Logger: discardLogger}, addr, discardLogger)
		if err == nil {
			t.Fatal("RunStandalone on a busy registry address succeeded")
		}
	})
}

func TestRunStandaloneWithoutRegistry(t *testing.T) {
	t.Parallel()
	t.Run("an empty registry address runs the broker alone", func(t *testing.T) {
		kafka, url, stop := runStandalone(t, "", "")
		if url != "" {
			t.Fatalf("a registry was started at %s", url)
		}
		topics, err := kadm.NewClient(newTestClient(t, kafka)).ListTopics(testContext(t))
		if err != nil || topics.Has(DefaultRegistryTopic) {
			t.Fatalf("topics = %v, %v; want no registry topic", topics.Names(), err)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBrokerCompactsPeriodically(t *testing.T) {
	t.Parallel()
	t.Run("the broker compacts compacted topics on its own schedule", func(t *testing.T) {
		b := startTestBroker(t, BrokerConfig{CompactInterval: 50 * time.Millisecond})
		const topic = "periodic"
		createTopic(t, b.Addrs(), topic, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
		cl := newTestClient(t, b.Addrs())
		for _, v := range []string{"1", "2", "3"} {
			produceSync(t, cl, topic, "a", v)
		}
		produceSync(t, cl, topic, "b", "1")
		waitFor(t, func() bool { return len(consumeAll(t, b.Addrs(), topic, false)) == 2 })
	})
}

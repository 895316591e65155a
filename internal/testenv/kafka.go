package testenv

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"syncline/internal/embedded"
)

// Kafka is an in-process Kafka-protocol broker and schema registry for one
// test: the same embedded components `syncline run` starts when no brokers
// are configured.
type Kafka struct {
	Broker      *embedded.Broker
	Registry    *embedded.Registry
	RegistryURL string
}

// StartKafka starts the embedded broker (persisted in a temp dir) and the
// embedded registry on free ports; both stop when the test ends.
func StartKafka(tb testing.TB) *Kafka {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(testLogWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := embedded.StartBroker(ctx, embedded.BrokerConfig{DataDir: tb.TempDir(), Listen: "127.0.0.1:0", Partitions: 3, Logger: log})
	if err != nil {
		tb.Fatalf("start embedded broker: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	r, err := embedded.NewRegistry(ctx, embedded.RegistryConfig{Brokers: b.Addrs(), Topic: "_syncline.schemas", Logger: log})
	if err != nil {
		tb.Fatalf("start embedded registry: %v", err)
	}
	tb.Cleanup(r.Close)
	url, err := r.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("serve embedded registry: %v", err)
	}
	return &Kafka{Broker: b, Registry: r, RegistryURL: url}
}

// Brokers returns the broker addresses.
func (k *Kafka) Brokers() []string { return k.Broker.Addrs() }

// Opts returns client options for the broker plus extra.
func (k *Kafka) Opts(extra ...kgo.Opt) []kgo.Opt {
	return append([]kgo.Opt{kgo.SeedBrokers(k.Brokers()...)}, extra...)
}

// Client returns a client for the broker, closed when the test ends.
func (k *Kafka) Client(tb testing.TB, extra ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(k.Opts(extra...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// RegistryClient returns a Confluent registry client for the registry.
func (k *Kafka) RegistryClient(tb testing.TB) *sr.Client {
	tb.Helper()
	cl, err := sr.NewClient(sr.URLs(k.RegistryURL))
	if err != nil {
		tb.Fatal(err)
	}
	return cl
}

// WaitFor polls cond every 50ms until it returns true or timeout passes.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type testLogWriter struct{ tb testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p))
	return len(p), nil
}

package pipeline_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"syncline/internal/config"
	"syncline/internal/pipeline"
	"syncline/internal/testenv"
)

// startSecureBroker starts a Kafka-protocol broker that only speaks TLS
// (certificate from a private CA) and only admits SCRAM-SHA-512 users;
// it returns the broker address and the CA file.
func startSecureBroker(t *testing.T, user, pass string) (addr, caFile string) {
	t.Helper()
	ca, err := testenv.NewTestCA("syncline kafka test CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if caFile, err = ca.WriteCA(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3), kfake.AllowAutoTopicCreation(),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", user, pass))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0], caFile
}

// The whole pipeline against a broker that requires TLS and SCRAM: the
// rows reach the warehouse, the password never appears in the logs, and a
// wrong password is an error that names the broker and the mechanism.
func TestPipelineOverKafkaTLSAndSCRAM(t *testing.T) {
	const user, pass = "syncline", "s3cret-Kafka-pass"
	addr, caFile := startSecureBroker(t, user, pass)
	h := newHarness(t)
	t.Setenv("KAFKA_PASSWORD", pass)
	secure := fmt.Sprintf(`kafka:
  brokers: [%q]
  partitions: 3
  tls: {enabled: true, ca_file: %q}
  sasl:
    mechanism: SCRAM-SHA-512
    username: %s
    password: ${KAFKA_PASSWORD}
`, addr, caFile, user)
	h.cfgText = strings.Replace(h.cfgText, "kafka:\n  partitions: 3\n  embedded: {listen: 127.0.0.1:0}\n", secure, 1)
	if !strings.Contains(h.cfgText, "SCRAM-SHA-512") {
		t.Fatal("config template changed: kafka block not replaced")
	}
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email) SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 50) g`)
	h.start()
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'over tls' WHERE id <= 10; DELETE FROM customers WHERE id = 50`)
	h.waitInSync(90 * time.Second)
	h.stop()
	if strings.Contains(h.logs.String(), pass) {
		t.Error("the Kafka password appears in the logs")
	}

	t.Run("a wrong password is refused with a clear error", func(t *testing.T) {
		bad := strings.Replace(h.cfgText, "${KAFKA_PASSWORD}", "wrong-password", 1)
		path := filepath.Join(t.TempDir(), "pipeline.yaml")
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		var logs lockedBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		log := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, &logs), nil))
		err = pipeline.Run(ctx, cfg, pipeline.Options{Logger: log, Registry: prometheus.NewRegistry()})
		if err == nil || ctx.Err() != nil {
			t.Fatalf("the pipeline did not stop with an error on a wrong Kafka password (err %v)", err)
		}
		if strings.Contains(logs.String(), "wrong-password") {
			t.Error("the logs show the password")
		}
		if msg := err.Error(); !strings.Contains(msg, "SASL SCRAM-SHA-512 as user \"syncline\"") || !strings.Contains(msg, "kafka.sasl") {
			t.Errorf("error does not say authentication failed: %v", err)
		}
		if strings.Contains(err.Error(), "wrong-password") {
			t.Errorf("error shows the password: %v", err)
		}
	})
}

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/topics"
)

func batchLine(batchMax int) string {
	if batchMax <= 0 {
		return ""
	}
	return fmt.Sprintf("    batch_max_records: %d\n", batchMax)
}

// captureConfig is the config of `syncline run --role capture` against the
// separate broker on ports[0] with its registry on ports[1]; /metrics on
// ports[2].
func captureConfig(dir string, ports []int, dsn, table, slot string, batchMax int) string {
	return fmt.Sprintf(`# Written by bench/cdcbench (capture-only).
name: bench
data_dir: %q
log: {level: info, format: json}
kafka:
  brokers: ["127.0.0.1:%d"]
  partitions: %d
registry: {url: "http://127.0.0.1:%d"}
http: {listen: "127.0.0.1:%d"}
%s`, filepath.Join(dir, "state"), ports[0], partitions, ports[1], ports[2], sourceBlock(dsn, table, slot, batchMax))
}

// sourceBlock is the sources: section both configs share: one table,
// an existing slot, no snapshot.
func sourceBlock(dsn, table, slot string, batchMax int) string {
	return fmt.Sprintf(`sources:
  - name: %s
    type: postgres
    dsn: %q
    tables: [public.%s]
    slot: %s
    snapshot: never
%s`, sourceName, dsn, table, slot, batchLine(batchMax))
}

// allInOneConfig is the config of `syncline run` with the embedded broker
// and registry and the warehouse sink.
func allInOneConfig(dir string, ports []int, dsn, whDSN, table, slot string, batchMax int) string {
	return fmt.Sprintf(`# Written by bench/cdcbench (all-in-one).
name: bench
data_dir: %q
log: {level: info, format: json}
kafka:
  brokers: []
  partitions: %d
  embedded: {listen: "127.0.0.1:%d"}
registry: {listen: "127.0.0.1:%d"}
http: {listen: "127.0.0.1:%d"}
%ssinks:
  - name: %s
    type: postgres
    dsn: %q
    schema: analytics
    from: [%s.*]
`, filepath.Join(dir, "state"), partitions, ports[0], ports[1], ports[2], sourceBlock(dsn, table, slot, batchMax), sinkName, whDSN, sourceName)
}

func rawTopic(table string) string { return topics.Raw("syncline", sourceName, "public", table) }

// stableOffsetsSum sums the last stable offsets of topic's partitions:
// committed records plus one transaction marker per partition per Kafka
// transaction.
func stableOffsetsSum(ctx context.Context, broker, topic string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).ListCommittedOffsets(cctx, topic)
	if err != nil {
		return 0, err
	}
	if err := offs.Error(); err != nil {
		return 0, err
	}
	var n int64
	offs.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n, nil
}

// newHTTPClient polls /metrics without asking for gzip, so the process
// under test does not spend its CPU compressing the harness's scrapes.
func newHTTPClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 2}}
}

func httpOK(c *http.Client, url string) (bool, error) {
	resp, err := c.Get(url)
	if err != nil {
		return false, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

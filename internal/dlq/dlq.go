// Package dlq parks records a stage cannot process in the dead-letter topic,
// with the reason, so nothing is lost and the pipeline keeps running.
//
// A parked record keeps its key and value bytes unchanged; headers carry
// where it came from and why: syncline.stage, syncline.reason (a short
// machine-readable kind used as the metric label), syncline.error (the full
// message), syncline.topic, syncline.partition, syncline.offset.
package dlq

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/metrics"
)

// Producer is the part of *kgo.Client the DLQ needs.
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

// DLQ writes to one dead-letter topic.
type DLQ struct {
	topic string
	p     Producer
	m     *metrics.Metrics
}

// New returns a DLQ writing to topic through p. p may be a transactional
// client inside an open transaction: then the parked record commits or
// aborts with the rest of the transaction.
func New(topic string, p Producer, m *metrics.Metrics) *DLQ { return &DLQ{topic: topic, p: p, m: m} }

// Record builds the DLQ record for rec without producing it (for callers
// that produce inside their own transaction).
func (d *DLQ) Record(stage, reason string, cause error, rec *kgo.Record) *kgo.Record {
	out := &kgo.Record{Topic: d.topic, Key: rec.Key, Value: rec.Value}
	out.Headers = append(out.Headers,
		kgo.RecordHeader{Key: "syncline.stage", Value: []byte(stage)},
		kgo.RecordHeader{Key: "syncline.reason", Value: []byte(reason)},
		kgo.RecordHeader{Key: "syncline.error", Value: []byte(cause.Error())},
		kgo.RecordHeader{Key: "syncline.topic", Value: []byte(rec.Topic)},
		kgo.RecordHeader{Key: "syncline.partition", Value: []byte(strconv.Itoa(int(rec.Partition)))},
		kgo.RecordHeader{Key: "syncline.offset", Value: []byte(strconv.FormatInt(rec.Offset, 10))},
	)
	out.Headers = append(out.Headers, rec.Headers...)
	d.m.DLQRecords.WithLabelValues(stage, reason).Inc()
	return out
}

// Park produces the DLQ record for rec and waits until it is acknowledged.
func (d *DLQ) Park(ctx context.Context, stage, reason string, cause error, rec *kgo.Record) error {
	if err := d.p.ProduceSync(ctx, d.Record(stage, reason, cause, rec)).FirstErr(); err != nil {
		return fmt.Errorf("park record %s/%d@%d in %s: %w", rec.Topic, rec.Partition, rec.Offset, d.topic, err)
	}
	return nil
}

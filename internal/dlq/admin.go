package dlq

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/kafka"
)

// Entry is one parked record as the admin API and `syncline dlq list` show
// it.
type Entry struct {
	Offset    int64     `json:"offset"` // in the DLQ topic: the entry's id
	Time      time.Time `json:"time"`
	Stage     string    `json:"stage"`
	Reason    string    `json:"reason"`
	Error     string    `json:"error"`
	Topic     string    `json:"topic"`               // where the record came from (or was going)
	Partition *int32    `json:"partition,omitempty"` // of Topic, when known
	Offset0   *int64    `json:"source_offset,omitempty"`
	Position  string    `json:"position,omitempty"`
	Key       string    `json:"key"`        // printable form of the key
	ValueSize int       `json:"value_size"` // bytes
	// Replayable says whether Replay can re-deliver it; when not, Hint
	// says what to do instead.
	Replayable bool      `json:"replayable"`
	Hint       string    `json:"hint,omitempty"`
	Replayed   *Replayed `json:"replayed,omitempty"`
}

// Replayed records that an entry was re-delivered.
type Replayed struct {
	At        time.Time `json:"at"`
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
}

// Filter narrows List.
type Filter struct {
	Stage, Reason string
	// Limit is the most entries returned, newest last; 0 means 100.
	Limit int
	// IncludeReplayed keeps entries that were replayed already.
	IncludeReplayed bool
}

// Admin lists and replays the dead-letter topic.
type Admin struct {
	opts    []kgo.Opt
	topic   string // the DLQ
	replays string // compacted: DLQ offset -> Replayed
	txnID   string

	mu sync.Mutex // one replay at a time in this process
}

// NewAdmin returns an Admin over the DLQ topic; replays are recorded in
// replaysTopic (created when missing) and produced with transactional id
// txnID, so a replay and its record commit together and replays from two
// processes fence each other.
func NewAdmin(opts []kgo.Opt, topic, replaysTopic, txnID string) *Admin {
	return &Admin{opts: opts, topic: topic, replays: replaysTopic, txnID: txnID}
}

// headers of a DLQ record that describe the parking, not the record.
var dlqHeaders = []string{"syncline.stage", "syncline.reason", "syncline.error", "syncline.topic", "syncline.partition", "syncline.offset", "syncline.position"}

// List returns the parked records that match f, oldest first (the last
// f.Limit of them).
func (a *Admin) List(ctx context.Context, f Filter) ([]Entry, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	replayed, err := a.replayed(ctx)
	if err != nil {
		return nil, err
	}
	var out []Entry
	err = kafka.ReadAll(ctx, a.opts, a.topic, func(r *kgo.Record) {
		e := entryOf(r)
		if rp, ok := replayed[r.Offset]; ok {
			e.Replayed = &rp
		}
		if (f.Stage != "" && e.Stage != f.Stage) || (f.Reason != "" && e.Reason != f.Reason) || (e.Replayed != nil && !f.IncludeReplayed) {
			return
		}
		out = append(out, e)
		if len(out) > f.Limit {
			out = out[1:]
		}
	})
	return out, err
}

func entryOf(r *kgo.Record) Entry {
	e := Entry{Offset: r.Offset, Time: r.Timestamp, ValueSize: len(r.Value), Key: printable(r.Key)}
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case "syncline.stage":
			e.Stage = v
		case "syncline.reason":
			e.Reason = v
		case "syncline.error":
			e.Error = v
		case "syncline.topic":
			e.Topic = v
		case "syncline.position":
			e.Position = v
		case "syncline.partition":
			if p, err := strconv.ParseInt(v, 10, 32); err == nil {
				p32 := int32(p)
				e.Partition = &p32
			}
		case "syncline.offset":
			if o, err := strconv.ParseInt(v, 10, 64); err == nil {
				e.Offset0 = &o
			}
		}
	}
	switch {
	case e.Stage == "capture":
		// Parked before it was encoded: there is no record to re-deliver,
		// only the row's values as text.
		e.Hint = "parked by capture before encoding (the value is JSON text, not a record): fix the cause, then re-read the row with `syncline backfill` (--where on its key)"
	case e.Topic == "" || e.Partition == nil:
		e.Hint = "the entry does not say where it came from"
	default:
		e.Replayable = true
	}
	return e
}

// printable renders a key for display: text when it is text, else hex of
// at most 64 bytes (Avro keys are binary).
func printable(b []byte) string {
	if b == nil {
		return ""
	}
	ok := true
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			ok = false
			break
		}
	}
	if ok {
		return string(b)
	}
	s := fmt.Sprintf("%x", b[:min(len(b), 64)])
	if len(b) > 64 {
		s += "…"
	}
	return "0x" + s
}

// ReplayResult is what Replay did with each requested entry.
type ReplayResult struct {
	Offset int64  `json:"offset"`
	Topic  string `json:"topic,omitempty"`
	Error  string `json:"error,omitempty"` // why it was not replayed
}

// Replay re-delivers the entries at offsets (all replayable entries not
// replayed yet when offsets is empty) to the partition of the topic they
// came from, with their original key, value and headers, and records each
// replay, in one Kafka transaction. The stage that parked a record then
// processes it again: a record that still fails is parked again as a new
// entry. An entry already replayed is refused unless force is set.
func (a *Admin) Replay(ctx context.Context, offsets []int64, force bool) ([]ReplayResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	replayed, err := a.replayed(ctx)
	if err != nil {
		return nil, err
	}
	all := len(offsets) == 0
	want := map[int64]bool{}
	for _, o := range offsets {
		want[o] = true
	}
	var recs []*kgo.Record
	var res []ReplayResult
	found := map[int64]bool{}
	now := time.Now().UTC()
	err = kafka.ReadAll(ctx, a.opts, a.topic, func(r *kgo.Record) {
		if !all && !want[r.Offset] {
			return
		}
		found[r.Offset] = true
		e := entryOf(r)
		_, done := replayed[r.Offset]
		switch {
		case !e.Replayable:
			if !all {
				res = append(res, ReplayResult{Offset: r.Offset, Error: "not replayable: " + e.Hint})
			}
			return
		case done && (all || !force):
			if !all {
				res = append(res, ReplayResult{Offset: r.Offset, Error: "replayed already (force to replay again)"})
			}
			return
		}
		out := &kgo.Record{Topic: e.Topic, Partition: *e.Partition, Key: r.Key, Value: r.Value, Context: kafka.Manual(ctx)}
		for _, h := range r.Headers {
			if !slices.Contains(dlqHeaders, h.Key) {
				out.Headers = append(out.Headers, h)
			}
		}
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: "syncline.replayed_from", Value: []byte(a.topic + "@" + strconv.FormatInt(r.Offset, 10))})
		mark, _ := json.Marshal(Replayed{At: now, Topic: e.Topic, Partition: *e.Partition})
		recs = append(recs, out, &kgo.Record{Topic: a.replays, Key: []byte(strconv.FormatInt(r.Offset, 10)), Value: mark, Context: kafka.Manual(ctx)})
		res = append(res, ReplayResult{Offset: r.Offset, Topic: e.Topic})
	})
	if err != nil {
		return nil, err
	}
	for _, o := range offsets {
		if !found[o] {
			res = append(res, ReplayResult{Offset: o, Error: "no such entry in " + a.topic})
		}
	}
	slices.SortFunc(res, func(x, y ReplayResult) int { return int(x.Offset - y.Offset) })
	if len(recs) == 0 {
		return res, nil
	}
	cl, err := kgo.NewClient(append(slices.Clip(a.opts), kgo.TransactionalID(a.txnID), kgo.RecordPartitioner(kafka.KeyPartitioner()))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		return nil, err
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		_ = cl.EndTransaction(context.WithoutCancel(ctx), kgo.TryAbort)
		return nil, fmt.Errorf("replay: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return nil, fmt.Errorf("replay: commit: %w", err)
	}
	return res, nil
}

// replayed reads the replay records: DLQ offset -> last replay.
func (a *Admin) replayed(ctx context.Context) (map[int64]Replayed, error) {
	cl, err := kgo.NewClient(a.opts...)
	if err != nil {
		return nil, err
	}
	err = kafka.EnsureTopics(ctx, kadm.NewClient(cl), kafka.TopicSpec{Name: a.replays, Partitions: 1, RF: -1, Compact: true})
	cl.Close()
	if err != nil {
		return nil, err
	}
	out := map[int64]Replayed{}
	err = kafka.ReadAll(ctx, a.opts, a.replays, func(r *kgo.Record) {
		o, err := strconv.ParseInt(string(r.Key), 10, 64)
		var rp Replayed
		if err == nil && json.Unmarshal(r.Value, &rp) == nil {
			out[o] = rp
		}
	})
	return out, err
}

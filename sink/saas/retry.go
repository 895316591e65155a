package saas

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/transform/state"
)

// retryEntry is a row waiting in the retry queue: the change record as it
// was consumed, and its attempts.
type retryEntry struct {
	Offset    int64              `json:"offset"`
	Key       []byte             `json:"k"`
	Value     []byte             `json:"v"`
	Headers   []kgo.RecordHeader `json:"h,omitempty"`
	Timestamp int64              `json:"ts"`
	Pos       string             `json:"pos"`
	// Attempt is the number of attempts made so far.
	Attempt int `json:"attempt"`
	// NotBefore (Unix ms) is when the next attempt is due.
	NotBefore int64  `json:"not_before"`
	Error     string `json:"error"`

	u   state.Unit
	key []byte // ledger key
}

func (re *retryEntry) record() *kgo.Record {
	return &kgo.Record{Topic: re.u.Topic, Partition: re.u.Partition, Offset: re.Offset, Key: re.Key, Value: re.Value,
		Headers: re.Headers, Timestamp: time.UnixMilli(re.Timestamp)}
}

func (re *retryEntry) due() time.Time { return time.UnixMilli(re.NotBefore) }

// retryChange puts (value set) or removes (nil) a retry entry.
type retryChange struct {
	u       state.Unit
	key     []byte
	value   []byte
	headers []kgo.RecordHeader
	entry   *retryEntry
}

// retryUnit is the state unit of u's retry queue in the store: ':' cannot
// occur in a Kafka topic name, so it is apart from every ledger unit.
func retryUnit(u state.Unit) state.Unit {
	return state.Unit{Topic: "retry:" + u.Topic, Partition: u.Partition}
}

// Backoff is the pause before retry n (n from 1): InitialBackoff doubling
// up to MaxBackoff, of which a random part up to half is taken off
// (jitter).
func (p RetryPolicy) Backoff(n int) time.Duration {
	d := p.InitialBackoff << min(n-1, 30)
	if d <= 0 || d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	half := d / 2
	return d - half + time.Duration(rand.Int64N(int64(half)+1))
}

// requeue sends p to the retry queue, or to the DLQ when its attempts are
// used up.
func (w *work) requeue(p *pendingRec, cause error) {
	attempts := p.attempt + 1
	pol := w.e.cfg.Retry
	if attempts >= pol.MaxAttempts {
		w.e.m.SinkErrors.WithLabelValues(w.e.cfg.Name, "permanent").Inc()
		w.park("retries_exhausted", fmt.Errorf("refused %d times, the last: %w", attempts, cause), p.rec)
		w.dropRetry(p.u, p.key)
		return
	}
	r := p.rec
	re := &retryEntry{Offset: r.Offset, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp.UnixMilli(),
		Pos: p.pos, Attempt: attempts, NotBefore: time.Now().Add(pol.Backoff(attempts)).UnixMilli(), Error: cause.Error(), u: p.u, key: p.key}
	b, _ := json.Marshal(re)
	w.queued++
	w.retries = append(w.retries, retryChange{u: p.u, key: p.key, value: b, entry: re, headers: []kgo.RecordHeader{
		{Key: "syncline.retry.attempt", Value: []byte(strconv.Itoa(attempts))},
		{Key: "syncline.retry.not_before", Value: []byte(time.UnixMilli(re.NotBefore).UTC().Format(time.RFC3339Nano))},
		{Key: "syncline.retry.error", Value: []byte(re.Error)},
	}})
}

// dropRetry removes the retry entry of a key, if it has one.
func (w *work) dropRetry(u state.Unit, key []byte) {
	if w.e.q.get(u, key) == nil {
		return
	}
	w.retries = append(w.retries, retryChange{u: u, key: key})
}

// queue is the in-memory view of the retry queues of the held units. It
// is safe for concurrent use (the group's callbacks and the loop share
// it).
type queue struct {
	mu      sync.Mutex
	held    map[state.Unit]bool // true: loaded
	entries map[state.Unit]map[string]*retryEntry
}

func newQueue() *queue {
	return &queue{held: map[state.Unit]bool{}, entries: map[state.Unit]map[string]*retryEntry{}}
}

func (q *queue) assign(as map[string][]int32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for t, ps := range as {
		for _, p := range ps {
			q.held[state.Unit{Topic: t, Partition: p}] = false
		}
	}
}

func (q *queue) forget(rs map[string][]int32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for t, ps := range rs {
		for _, p := range ps {
			u := state.Unit{Topic: t, Partition: p}
			delete(q.held, u)
			delete(q.entries, u)
		}
	}
}

func (q *queue) markAllStale() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for u := range q.held {
		q.held[u] = false
	}
}

// stale returns the held units whose queue must be (re)loaded.
func (q *queue) stale() []state.Unit {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []state.Unit
	for u, ok := range q.held {
		if !ok {
			out = append(out, u)
		}
	}
	return out
}

func (q *queue) loaded(u state.Unit, entries []*retryEntry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.held[u]; !ok {
		return // revoked meanwhile
	}
	q.held[u] = true
	m := map[string]*retryEntry{}
	for _, re := range entries {
		m[string(re.key)] = re
	}
	q.entries[u] = m
}

func (q *queue) get(u state.Unit, key []byte) *retryEntry {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.entries[u][string(key)]
}

// next returns when the earliest entry is due.
func (q *queue) next() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var t time.Time
	for _, m := range q.entries {
		for _, re := range m {
			if t.IsZero() || re.due().Before(t) {
				t = re.due()
			}
		}
	}
	return t, !t.IsZero()
}

// due returns up to n entries due at now, the earliest first.
func (q *queue) due(now time.Time, n int) []*retryEntry {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*retryEntry
	for _, m := range q.entries {
		for _, re := range m {
			if !re.due().After(now) {
				out = append(out, re)
			}
		}
	}
	slices.SortFunc(out, func(a, b *retryEntry) int { return int(a.NotBefore - b.NotBefore) })
	return out[:min(n, len(out))]
}

// apply applies a committed batch's changes.
func (q *queue) apply(cs []retryChange) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, c := range cs {
		if !q.held[c.u] {
			continue // not loaded: the next load reads the topic
		}
		if c.value == nil {
			delete(q.entries[c.u], string(c.key))
			continue
		}
		q.entries[c.u][string(c.key)] = c.entry
	}
}

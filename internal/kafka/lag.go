package kafka

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Lag tracks how many records a consumer has yet to read, per partition,
// from what its fetches say: a partition's last stable offset (the end
// that read_committed consumers can reach) minus the offset after its last
// fetched record. Partitions absent from a fetch keep their last figure.
// It is safe for concurrent use.
type Lag struct {
	mu sync.Mutex
	by map[string]map[int32]int64
}

// NewLag returns an empty tracker.
func NewLag() *Lag { return &Lag{by: map[string]map[int32]int64{}} }

// Observe updates the tracker from a fetch and returns the total lag.
func (l *Lag) Observe(fs kgo.Fetches) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err != nil {
			return
		}
		if l.by[p.Topic] == nil {
			l.by[p.Topic] = map[int32]int64{}
		}
		if len(p.Records) == 0 {
			// Nothing fetchable (or only transaction markers, which the
			// client steps over): the consumer is at the end.
			l.by[p.Topic][p.Partition] = 0
			return
		}
		end := p.LastStableOffset
		if end <= 0 {
			end = p.HighWatermark
		}
		last := p.Records[len(p.Records)-1]
		lag := end - (last.Offset + 1)
		if last.Attrs.IsTransactional() && lag > 0 {
			// The commit marker of the last record's transaction follows
			// it and is no record to read.
			lag--
		}
		l.by[p.Topic][p.Partition] = max(0, lag)
	})
	return l.total()
}

// Forget drops partitions this consumer no longer owns (revoked or lost)
// and returns the total lag.
func (l *Lag) Forget(parts map[string][]int32) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for t, ps := range parts {
		for _, p := range ps {
			delete(l.by[t], p)
		}
	}
	return l.total()
}

func (l *Lag) total() int64 {
	var n int64
	for _, ps := range l.by {
		for _, v := range ps {
			n += v
		}
	}
	return n
}

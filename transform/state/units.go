package state

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Units tracks the units a process holds (its assigned input partitions)
// and whether each one's Badger copy may be behind the changelog: a newly
// assigned unit, or every unit after a transaction whose outcome is
// unknown. It is safe for concurrent use (the group's callbacks and the
// processing loop share it).
type Units struct {
	mu    sync.Mutex
	stale map[Unit]bool
}

// NewUnits returns an empty tracker.
func NewUnits() *Units { return &Units{stale: map[Unit]bool{}} }

// Assign records newly assigned partitions; their units may be behind.
// Its signature fits kgo.OnPartitionsAssigned.
func (us *Units) Assign(_ context.Context, _ *kgo.Client, as map[string][]int32) {
	us.mu.Lock()
	defer us.mu.Unlock()
	for t, ps := range as {
		for _, p := range ps {
			us.stale[Unit{Topic: t, Partition: p}] = true
		}
	}
}

// Forget drops revoked or lost partitions.
func (us *Units) Forget(rs map[string][]int32) {
	us.mu.Lock()
	defer us.mu.Unlock()
	for t, ps := range rs {
		for _, p := range ps {
			delete(us.stale, Unit{Topic: t, Partition: p})
		}
	}
}

// MarkAllStale marks every held unit as possibly behind.
func (us *Units) MarkAllStale() {
	us.mu.Lock()
	defer us.mu.Unlock()
	for u := range us.stale {
		us.stale[u] = true
	}
}

// EnsureFresh restores u from the changelog (see Store.Restore) unless it
// is held and known to be current, and returns the records applied.
func (us *Units) EnsureFresh(ctx context.Context, s *Store, opts []kgo.Opt, changelog string, partitions int, u Unit) (int, error) {
	us.mu.Lock()
	stale, ok := us.stale[u]
	us.mu.Unlock()
	if ok && !stale {
		return 0, nil
	}
	n, err := s.Restore(ctx, opts, changelog, partitions, u)
	if err != nil {
		return n, err
	}
	us.mu.Lock()
	us.stale[u] = false
	us.mu.Unlock()
	return n, nil
}

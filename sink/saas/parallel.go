package saas

import (
	"context"
	"sync"
)

// Parallel calls fn for each op (or id, see ReadEach) with at most n calls
// at a time, for APIs that take one record per call. It returns the first
// error of fn (the calls not started by then are not made) or ctx's error.
func Parallel[T any](ctx context.Context, ops []T, n int, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan T)
	for range max(n, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for op := range next {
				if err := fn(ctx, op); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
				}
			}
		}()
	}
feed:
	for _, op := range ops {
		select {
		case next <- op:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

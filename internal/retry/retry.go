// Package retry holds the pause between failed attempts that the stages
// share.
package retry

import (
	"context"
	"time"
)

// Delay is the pause after the n-th consecutive failure (n from 0):
// 0.5 s doubling to 30 s.
func Delay(n int) time.Duration {
	d := 500 * time.Millisecond
	for i := 0; i < n && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// Sleep waits d or until ctx ends; it reports whether the full d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

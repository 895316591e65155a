package retry

import (
	"context"
	"testing"
	"time"
)

func TestDelayDoublesToThirtySeconds(t *testing.T) {
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for n, w := range want {
		if got := Delay(n); got != w {
			t.Errorf("Delay(%d) = %v, want %v", n, got, w)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep with a cancelled context reported a full sleep")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep(1ms) did not report a full sleep")
	}
}

package saas

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestBackoffDoublesWithJitterUpToTheMax(t *testing.T) {
	p := RetryPolicy{InitialBackoff: time.Second, MaxBackoff: 10 * time.Second}
	for n, ceil := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 40: 10 * time.Second} {
		for range 100 {
			if d := p.Backoff(n); d < ceil/2 || d > ceil {
				t.Fatalf("Backoff(%d) = %v, want in [%v, %v]", n, d, ceil/2, ceil)
			}
		}
	}
}

func TestIdempotencyKeyNamesOneChange(t *testing.T) {
	k := IdempotencyKey("t", []byte("k"), "0/1")
	if k != IdempotencyKey("t", []byte("k"), "0/1") {
		t.Error("the key of one change differs between calls")
	}
	for _, other := range []string{IdempotencyKey("t", []byte("k"), "0/2"), IdempotencyKey("t", []byte("k2"), "0/1"), IdempotencyKey("t2", []byte("k"), "0/1"), IdempotencyKey("t", []byte("k\x000/1"), "")} {
		if other == k {
			t.Errorf("another change has the same key %s", k)
		}
	}
}

func TestBisectRejectsOnlyTheRefusedOps(t *testing.T) {
	errRefused := errors.New("HTTP 422")
	var ops []*Op
	for i := range 50 {
		ops = append(ops, &Op{Key: fmt.Sprint(i)})
	}
	bad := []string{"3", "37"}
	calls := 0
	send := func(b []*Op) error {
		calls++
		for _, op := range b {
			if slices.Contains(bad, op.Key) {
				return errRefused
			}
		}
		for _, op := range b {
			op.Wrote(op.Key)
		}
		return nil
	}
	err := Bisect(ops, 25, send, func(err error) bool { return errors.Is(err, errRefused) }, func(op *Op) string { return "op " + op.Key })
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		want := Written
		if slices.Contains(bad, op.Key) {
			want = Rejected
		}
		if op.Outcome != want {
			t.Errorf("op %s outcome %v, want %v", op.Key, op.Outcome, want)
		}
	}
	if calls >= 50 {
		t.Errorf("%d calls, want fewer than one per op", calls)
	}
	// An error that is not a refusal is returned.
	if err := Bisect(ops[:1], 5, func([]*Op) error { return errors.New("503") }, func(error) bool { return false }, nil); err == nil {
		t.Error("a 503 was not returned")
	}
}

func TestRefusedStatus(t *testing.T) {
	for code, want := range map[int]bool{400: true, 409: true, 413: true, 422: true, 401: false, 403: false, 404: false, 408: false, 429: false, 500: false, 503: false, 200: false} {
		if got := RefusedStatus(code); got != want {
			t.Errorf("RefusedStatus(%d) = %v, want %v", code, got, want)
		}
	}
}

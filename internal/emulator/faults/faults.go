// Package faults is the fault injection and rate-limit window the SaaS
// emulators (salesforce, stripe, zendesk, mailchimp) share: injected 5xx,
// rate-limit answers, slow, garbage and truncated responses, each
// provider answering them in its own shapes.
package faults

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Kind is a kind of injected failure.
type Kind string

// The faults.
const (
	Server5xx Kind = "5xx"       // the provider's 503 (or 500) answer
	Limit     Kind = "limit"     // the provider's rate-limit answer (429, or Salesforce's 403)
	Garbage   Kind = "garbage"   // 200 with a body that is not JSON
	Truncated Kind = "truncated" // 200 with the first half of the real body
	Slow      Kind = "slow"      // the real answer after the slow delay
)

// Injector hands out the faults of the next requests. It is safe for
// concurrent use.
type Injector struct {
	mu     sync.Mutex
	queue  []Kind
	every  int
	evKind Kind
	n      int
	count  int
}

// Inject makes the next requests fail, one fault each, in order.
func (i *Injector) Inject(kinds ...Kind) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.queue = append(i.queue, kinds...)
}

// FailEvery makes every nth request fail with kind; n = 0 stops it.
func (i *Injector) FailEvery(n int, kind Kind) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.every, i.evKind = n, kind
}

// Next returns the fault of the next request ("" for none).
func (i *Injector) Next() Kind {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.n++
	f := Kind("")
	if len(i.queue) > 0 {
		f, i.queue = i.queue[0], i.queue[1:]
	} else if i.every > 0 && i.n%i.every == 0 {
		f = i.evKind
	}
	if f != "" {
		i.count++
	}
	return f
}

// Count returns the number of faults handed out.
func (i *Injector) Count() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.count
}

// Serve answers r with fault f: reject writes the provider's answer for
// Server5xx and Limit; the other faults wrap h, which serves the real
// answer.
func Serve(w http.ResponseWriter, r *http.Request, f Kind, slow time.Duration, reject func(http.ResponseWriter, Kind), h http.HandlerFunc) {
	switch f {
	case Server5xx, Limit:
		reject(w, f)
		return
	case Garbage:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
		return
	case Slow:
		select {
		case <-time.After(slow):
		case <-r.Context().Done():
			return
		}
	}
	rec := httptest.NewRecorder()
	h(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	body := rec.Body.Bytes()
	if f == Truncated {
		body = body[:len(body)/2]
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// Window is a fixed-window request counter: Max requests per Interval.
// Its zero Max admits everything. Not safe for concurrent use; the
// emulators call it under their lock.
type Window struct {
	Max      int
	Interval time.Duration
	start    time.Time
	used     int
}

// Admit counts a request; ok is false past the limit. It returns the
// requests used and left in the window and the time until it resets.
func (w *Window) Admit() (ok bool, used, left int, reset time.Duration) {
	if w.Max <= 0 {
		return true, 0, 0, 0
	}
	now := time.Now()
	if now.Sub(w.start) >= w.Interval {
		w.start, w.used = now, 0
	}
	reset = w.Interval - now.Sub(w.start)
	if w.used >= w.Max {
		return false, w.used, 0, reset
	}
	w.used++
	return true, w.used, w.Max - w.used, reset
}

// WriteJSON writes v as a JSON response with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(v)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

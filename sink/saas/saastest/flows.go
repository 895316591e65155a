package saastest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/schemas"
	sinksaas "syncline/sink/saas"
)

// Creates are creates of persons 0..n-1 named name, with the emails
// P<i>@Example.com (p<i>@example.com once normalized).
func (e *Env) Creates(n int, name string) []*schemas.Change {
	var chs []*schemas.Change
	for i := range n {
		chs = append(chs, e.Change(schemas.OpCreate, int32(i), fmt.Sprintf("P%d@Example.com", i), name))
	}
	return chs
}

// Renames are updates of persons from..to-1 to name, emails normalized.
func (e *Env) Renames(from, to int, name string) []*schemas.Change {
	var chs []*schemas.Change
	for i := from; i < to; i++ {
		chs = append(chs, e.Change(schemas.OpUpdate, int32(i), fmt.Sprintf("p%d@example.com", i), name))
	}
	return chs
}

// Harness is how the flows below run one sink against its emulator.
type Harness struct {
	// Group is the sink's consumer group, syncline-sink-<name>.
	Group string
	// Start runs the sink with its ledger store in dir and BeforeCommit
	// hook (nil: none).
	Start func(dir string, hook func() error) *Running
	// Calls counts the emulator's write calls; Created the objects it
	// created.
	Calls, Created func() int
}

// NewHarness is the harness of the sink name that newSink builds with
// its ledger store in dir; calls and created read the emulator.
func (e *Env) NewHarness(name string, newSink func(dir string) (*sinksaas.Engine, error), calls, created func() int) Harness {
	return Harness{
		Group: "syncline-sink-" + name,
		Start: func(dir string, hook func() error) *Running {
			eng, err := newSink(dir)
			return e.Start(func() *sinksaas.Engine { return eng }, err, hook)
		},
		Calls: calls, Created: created,
	}
}

// RunOnce runs the sink on e.Dir until it caught up.
func (e *Env) RunOnce(h Harness) {
	e.T.Helper()
	r := h.Start(e.Dir, nil)
	e.CaughtUp(h.Group)
	r.Stop()
}

// Written produces n creates (name "n"), renames of persons 0..9, then,
// each in a batch of its own once the sink caught up, deletes of persons
// n-5 and n-4 and of person 999 (never written), and a rename of person
// 20 to "changed". The sink runs on e.Dir. It returns the records of
// the creates and renames, for ReplayAndRerun.
func (e *Env) Written(h Harness, n int) []*kgo.Record {
	e.T.Helper()
	recs := e.Produce(append(e.Creates(n, "n"), e.Renames(0, 10, "renamed")...)...)
	r := h.Start(e.Dir, nil)
	e.CaughtUp(h.Group)
	e.Produce(e.Change(schemas.OpDelete, int32(n-5), "", ""), e.Change(schemas.OpDelete, int32(n-4), "", ""), e.Change(schemas.OpDelete, 999, "", ""))
	e.CaughtUp(h.Group)
	e.Produce(e.Change(schemas.OpUpdate, 20, "p20@example.com", "changed"))
	e.CaughtUp(h.Group)
	r.Stop()
	if got := Counter(e.T, e.M.SinkWrites.WithLabelValues(h.Group[len("syncline-sink-"):], "not_found")); got != 1 {
		e.T.Errorf("syncline_sink_writes_total{result=not_found} = %v, want 1 (the delete of a record never written)", got)
	}
	return recs
}

// WrittenName is the name Written left person i with.
func WrittenName(i int) string {
	switch {
	case i < 10:
		return "renamed"
	case i == 20:
		return "changed"
	}
	return "n"
}

// ReplayAndRerun, after Written, produces the records Written returned
// again (older than the ledger's positions) and the values the persons not deleted
// have as new changes (emails in other case, the same once normalized),
// runs the sink again, and fails the test unless it made no write call.
func (e *Env) ReplayAndRerun(h Harness, n int, written []*kgo.Record) {
	e.T.Helper()
	before := h.Calls()
	var replay []*kgo.Record
	for _, r := range written {
		replay = append(replay, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
	}
	if err := e.Prod.ProduceSync(e.Ctx, replay...).FirstErr(); err != nil {
		e.T.Fatal(err)
	}
	var again []*schemas.Change
	for i := range n - 5 {
		again = append(again, e.Change(schemas.OpUpdate, int32(i), fmt.Sprintf("p%d@EXAMPLE.com", i), WrittenName(i)))
	}
	e.Produce(again...)
	r := h.Start(e.Dir, nil)
	e.CaughtUp(h.Group)
	r.Stop()
	if calls := h.Calls(); calls != before {
		e.T.Errorf("replaying and re-running unchanged data made %d write calls, want 0", calls-before)
	}
}

// CrashThenResume produces n creates and runs the sink failing every
// commit after its API calls (a process killed before its commit) until
// it is stopped; then produces renames of persons 0..n/2-1 to "newer"
// and runs a new process with an empty store until it caught up. It
// fails the test when the crashed run created nothing, or when the
// emulator did not create exactly n objects.
func (e *Env) CrashThenResume(h Harness, n int) {
	e.T.Helper()
	e.Produce(e.Creates(n, "x")...)
	hook, crashed := CrashBeforeCommit()
	r := h.Start(e.Dir, hook)
	<-crashed
	r.Stop()
	if h.Created() == 0 {
		e.T.Fatal("the crashed batch created nothing; the test proves nothing")
	}
	e.Produce(e.Renames(0, n/2, "newer")...)
	r2 := h.Start(e.T.TempDir(), nil)
	e.CaughtUp(h.Group)
	r2.Stop()
	if got := h.Created(); got != n {
		e.T.Errorf("%d objects created for %d records", got, n)
	}
}

// Stopped runs a sink expected to stop by itself (refused credentials)
// and returns Run's error; the test fails when it runs for a minute.
func (e *Env) Stopped(s *sinksaas.Engine, err error) error {
	e.T.Helper()
	if err != nil {
		e.T.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
	defer cancel()
	err = s.Run(ctx)
	if ctx.Err() != nil {
		e.T.Fatal("the sink did not stop within a minute")
	}
	return err
}

// Timed produces n creates (emails b<i>@example.com) and, once the sink
// caught up with them, n updates of the same persons, and returns how
// long each phase took and the write calls of the first, for the sinks'
// benchmarks against their emulators.
func (e *Env) Timed(h Harness, n int) (creates, updates time.Duration, createCalls int) {
	e.T.Helper()
	var chs []*schemas.Change
	for _, name := range []string{"x", "y"} {
		for i := range n {
			chs = append(chs, e.Change(schemas.OpUpdate, int32(i), fmt.Sprintf("b%d@example.com", i), name))
		}
	}
	start := time.Now()
	e.Produce(chs[:n]...)
	r := h.Start(e.Dir, nil)
	defer r.Stop()
	e.CaughtUp(h.Group)
	creates, createCalls = time.Since(start), h.Calls()
	e.Produce(chs[n:]...)
	e.CaughtUp(h.Group)
	return creates, time.Since(start) - creates, createCalls
}

// Emulated is a test's Env and a provider's emulator served on a local
// port until the test ends.
type Emulated[S http.Handler] struct {
	*Env
	Emu S
	// URL is the emulator's base URL.
	URL string
}

// WithEmulator starts kfake (New) and serves emu.
func WithEmulator[S http.Handler](t testing.TB, emu S) *Emulated[S] {
	t.Helper()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &Emulated[S]{Env: New(t), Emu: emu, URL: srv.URL}
}

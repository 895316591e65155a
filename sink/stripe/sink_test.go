package stripe

import (
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
	"syncline/internal/emulator/stripe"
	"syncline/schemas"
	sinksaas "syncline/sink/saas"
	"syncline/sink/saas/saastest"
)

type env struct {
	*saastest.Emulated[*stripe.Server]
}

func newEnv(t testing.TB, o stripe.Options) *env {
	t.Helper()
	o.APIKey = "sk_test_sink"
	emu := stripe.New(o)
	return &env{saastest.WithEmulator(t, emu)}
}

func (e *env) config() Config {
	return Config{
		Name: "billing", BaseURL: e.URL, APIKey: "sk_test_sink", KeyField: "id",
		Fields: map[string]sinksaas.Property{
			"id":    {From: "id"},
			"email": {From: "email", Transform: "email", Required: true},
			"name":  {From: "first_name"},
			"plan":  {Value: "free"},
		},
		RequestsPerSecond: 1000, Burst: 10, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		Stream: e.Stream(),
	}
}

func (e *env) harness(cfg Config) saastest.Harness {
	stats := e.Emu.WriteStats
	return e.NewHarness("billing", func(dir string) (*sinksaas.Engine, error) {
		cfg.StateDir = dir
		s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
		if err != nil {
			return nil, err
		}
		return s.Engine, nil
	}, func() int { return stats().Calls }, func() int { return stats().Creates })
}

// byKey returns the live customers by their metadata id, failing on two
// customers of one record.
func (e *env) byKey() map[string]stripe.Object {
	e.T.Helper()
	out := map[string]stripe.Object{}
	for _, c := range e.Emu.Customers() {
		md, _ := c.Fields["metadata"].(map[string]any)
		k, _ := md["id"].(string)
		if _, dup := out[k]; dup {
			e.T.Errorf("two customers of record %q", k)
		}
		out[k] = c
	}
	return out
}

func (e *env) checkApplied() {
	e.T.Helper()
	for k, n := range e.Emu.Applies() {
		if n != 1 {
			e.T.Errorf("request %s applied %d times", k, n)
		}
	}
}

// Records become customers (created once each), updates send only the
// changed fields, deletes delete the customer (one never written counts
// as not_found), and replaying or re-running unchanged data makes no
// call.
func TestCustomersChangedFieldsAndReplaySendsNothing(t *testing.T) {
	e := newEnv(t, stripe.Options{})
	h := e.harness(e.config())
	written := e.Written(h, 50)
	cs := e.byKey()
	if len(cs) != 48 {
		t.Fatalf("%d customers, want 48", len(cs))
	}
	c3 := cs["3"]
	if md := c3.Fields["metadata"].(map[string]any); c3.Fields["name"] != "renamed" || c3.Fields["email"] != "p3@example.com" || md["plan"] != "free" {
		t.Errorf("customer 3 = %v, want renamed, the normalized email and metadata plan free", c3.Fields)
	}
	if got := e.Emu.LastParams(cs["20"].ID); len(got) != 1 || got.Get("name") != "changed" {
		t.Errorf("the update of record 20 sent %v, want only name", got)
	}
	if ws := e.Emu.WriteStats(); ws.Creates != 50 || ws.Deletes != 2 {
		t.Errorf("write stats %+v, want 50 creates and 2 deletes", ws)
	}
	e.checkApplied()
	e.ReplayAndRerun(h, 50, written)
}

// A crash between the calls and the Kafka commit, then a new process
// with an empty store that also sees newer changes of the same records,
// creates no second customer: the create's idempotency key is the
// record's, and Stripe answers it from its store. Answers lost after
// Stripe applied the write (a 500) are healed the same way.
func TestCrashCreatesNoDuplicate(t *testing.T) {
	e := newEnv(t, stripe.Options{})
	e.Emu.FailAfterApply(3)
	e.CrashThenResume(e.harness(e.config()), 60)
	if cs := e.byKey(); len(cs) != 60 || cs["7"].Fields["name"] != "newer" {
		t.Errorf("%d customers, customer 7 %v; want 60, named newer", len(cs), cs["7"].Fields)
	}
	if ws := e.Emu.WriteStats(); ws.Replays < 3 {
		t.Errorf("%d calls answered from the idempotency store, want at least the creates of the crashed batch", ws.Replays)
	}
	e.checkApplied()
}

// 429s and 5xx storms lose nothing and create nothing twice.
func TestStormLosesNothing(t *testing.T) {
	e := newEnv(t, stripe.Options{RatePerSecond: 25})
	cfg := e.config()
	cfg.RequestsPerSecond, cfg.Burst = 40, 5
	e.Emu.FailEvery(5, faults.Server5xx)
	e.Emu.Inject(faults.Limit, faults.Limit, faults.Server5xx, faults.Limit)
	e.Emu.FailAfterApply(5)
	e.Produce(e.Creates(120, "s")...)
	e.RunOnce(e.harness(cfg))
	ws := e.Emu.WriteStats()
	if ws.Creates != 120 || len(e.byKey()) != 120 {
		t.Errorf("write stats %+v, want 120 creates", ws)
	}
	if st := e.Emu.Stats(); st.Faults < 5 || st.Limited == 0 {
		t.Errorf("no storm happened: %+v", st)
	}
	e.checkApplied()
}

// A record Stripe refuses (an invalid email) is parked in the DLQ with
// reason rejected and Stripe's message; the rest is written.
func TestRejectedRowsParked(t *testing.T) {
	e := newEnv(t, stripe.Options{})
	cfg := e.config()
	cfg.Fields["email"] = sinksaas.Property{From: "email"}
	chs := e.Creates(20, "r")
	chs[4] = e.Change(schemas.OpCreate, 4, "not-an-email", "r")
	chs[11] = e.Change(schemas.OpCreate, 11, "also@bad", "r")
	e.Produce(chs...)
	e.RunOnce(e.harness(cfg))
	es := e.DLQEntries("sink.billing")
	if len(es) != 2 {
		t.Fatalf("DLQ entries %+v, want 2", es)
	}
	for _, en := range es {
		if en.Reason != "rejected" || !strings.Contains(en.Error, "email_invalid") || !strings.Contains(en.Error, "Invalid email address") {
			t.Errorf("DLQ entry %+v, want rejected with Stripe's message", en)
		}
	}
	if n := len(e.byKey()); n != 18 || len(e.Emu.Customers()) != 18 {
		t.Errorf("%d customers (%d with an id), want the 18 valid ones and no empty one", len(e.Emu.Customers()), n)
	}
}

// A key Stripe refuses stops the sink, without the key in the error.
func TestRefusedKeyStops(t *testing.T) {
	e := newEnv(t, stripe.Options{})
	e.Produce(e.Creates(1, "a")...)
	cfg := e.config()
	cfg.APIKey = "sk_test_revoked"
	s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
	if err = e.Stopped(s.Engine, err); err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "sinks[].stripe.api_key") || strings.Contains(err.Error(), "sk_test_revoked") {
		t.Fatalf("Run with a refused key: %v; want the 401 and what to check, without the key", err)
	}
}

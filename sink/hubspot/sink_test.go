package hubspot

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/emulator/hubspot"
	"syncline/internal/topics"
	"syncline/schemas"
	sinksaas "syncline/sink/saas"
	"syncline/sink/saas/saastest"
)

type env struct {
	*saastest.Env
	emu *hubspot.Server
	srv *httptest.Server
}

func newEnv(t testing.TB, o hubspot.Options) *env {
	t.Helper()
	o.Token = "pat-test"
	emu := hubspot.New(o)
	srv := emu.Start()
	t.Cleanup(srv.Close)
	return &env{Env: saastest.New(t), emu: emu, srv: srv}
}

func (e *env) config() Config {
	return Config{
		Name: "crm", BaseURL: e.srv.URL, Token: "pat-test", ObjectType: "contacts", IDProperty: "email",
		Properties: map[string]Property{
			"email":          {From: "email", Transform: "email", Required: true},
			"firstname":      {From: "first_name"},
			"phone":          {From: "phone", Transform: "phone", Region: "US"},
			"lifecyclestage": {Value: "lead"},
		},
		RequestsPerSecond: 1000, Burst: 10, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		Stream: e.Stream(),
	}
}

func (e *env) start(cfg Config, hook func() error) *saastest.Running {
	e.T.Helper()
	s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
	return e.Start(func() *sinksaas.Engine { return s.Engine }, err, hook)
}

// caughtUp waits until the sink's group committed the end of its topic.
func (e *env) caughtUp() { e.T.Helper(); e.CaughtUp("syncline-sink-crm") }

func (e *env) live() map[string]hubspot.Object {
	out := map[string]hubspot.Object{}
	for _, o := range e.emu.Objects("contacts") {
		if !o.Archived {
			if _, dup := out[o.Properties["email"]]; dup {
				e.T.Errorf("two live contacts with email %s", o.Properties["email"])
			}
			out[o.Properties["email"]] = o
		}
	}
	return out
}

func counter(t *testing.T, c prometheus.Counter) float64 { return saastest.Counter(t, c) }

// Inserts, updates and deletes reach HubSpot with one create per key and an
// update only for a real change; replaying every record, and restarting
// with a new process whose ledger is restored from the changelog, sends
// nothing.
func TestUpsertsExactlyOnceAndReplaySendsNothing(t *testing.T) {
	e := newEnv(t, hubspot.Options{})
	var chs []*schemas.Change
	for i := range 250 {
		chs = append(chs, e.Change(schemas.OpCreate, int32(i), fmt.Sprintf(" User%d@Example.com ", i), fmt.Sprintf("n%d", i)))
	}
	for i := range 50 {
		chs = append(chs, e.Change(schemas.OpUpdate, int32(i), fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("renamed%d", i)))
	}
	// An update that changes nothing HubSpot sees (the email normalizes
	// to the same value).
	chs = append(chs, e.Change(schemas.OpUpdate, 60, "USER60@example.com", "n60"))
	e.Produce(chs...)
	r := e.start(e.config(), nil)
	e.caughtUp()
	// Deletes archive the objects.
	for i := 240; i < 250; i++ {
		chs = append(chs, e.Change(schemas.OpDelete, int32(i), "", ""))
	}
	e.Produce(chs[len(chs)-10:]...)
	e.caughtUp()
	r.Stop()
	if ws := e.emu.WriteStats(); ws.Archives != 10 {
		t.Errorf("%d archived, want 10", ws.Archives)
	}

	live := e.live()
	if len(live) != 240 {
		t.Fatalf("%d live contacts, want 240", len(live))
	}
	if got := live["user7@example.com"].Properties["firstname"]; got != "renamed7" {
		t.Errorf("user7 firstname %q, want renamed7", got)
	}
	if got := live["user100@example.com"].Properties["lifecyclestage"]; got != "lead" {
		t.Errorf("lifecyclestage %q, want the default lead", got)
	}
	ws := e.emu.WriteStats()
	// Each key's changes of a batch collapse to its last, so the 50
	// renames may be folded into the creates; what must hold: every key
	// created once, at most one update per real change.
	if ws.Creates != 250 {
		t.Errorf("%d creates, want 250 (one per key)", ws.Creates)
	}
	if ws.Updates > 50 {
		t.Errorf("%d updates, want at most 50 (the real changes)", ws.Updates)
	}
	for id, w := range e.emu.ObjectWrites("contacts") {
		if w.Creates != 1 {
			t.Errorf("object %d created %d times", id, w.Creates)
		}
	}
	before := ws

	// Replay every record: the ledger answers, nothing is sent.
	e.Produce(chs...)
	r2 := e.start(e.config(), nil)
	e.caughtUp()
	r2.Stop()
	if ws := e.emu.WriteStats(); ws.Calls() != before.Calls() {
		t.Errorf("replay made write calls: %+v, before %+v", ws, before)
	}

	// A new process (empty Badger) restores the ledger from the changelog.
	cfg := e.config()
	cfg.StateDir = t.TempDir()
	e.Produce(chs[:100]...)
	r3 := e.start(cfg, nil)
	e.caughtUp()
	r3.Stop()
	if ws := e.emu.WriteStats(); ws.Calls() != before.Calls() {
		t.Errorf("after restore, a replay made %d calls", ws.Calls()-before.Calls())
	}
	if got := counter(t, e.M.SinkWrites.WithLabelValues("crm", "ok")); got < 250 {
		t.Errorf("syncline_sink_writes_total{result=ok} = %v, want >= 250", got)
	}
}

// A crash between the API call and the commit re-sends the same upserts on
// restart; they update the objects the first attempt created.
func TestCrashBeforeCommitCreatesNoDuplicate(t *testing.T) {
	e := newEnv(t, hubspot.Options{})
	var chs []*schemas.Change
	for i := range 120 {
		chs = append(chs, e.Change(schemas.OpCreate, int32(i), fmt.Sprintf("c%d@example.com", i), "x"))
	}
	e.Produce(chs...)
	hook, crashed := saastest.CrashBeforeCommit()
	r := e.start(e.config(), hook)
	<-crashed
	r.Stop()
	first := e.emu.WriteStats()
	if first.Creates == 0 {
		t.Fatal("the crashed batch wrote nothing; the test proves nothing")
	}
	r2 := e.start(e.config(), nil)
	e.caughtUp()
	r2.Stop()
	if n := len(e.live()); n != 120 {
		t.Errorf("%d live contacts, want 120", n)
	}
	if ws := e.emu.WriteStats(); ws.Creates != 120 {
		t.Errorf("%d creates, want 120", ws.Creates)
	}
	for id, w := range e.emu.ObjectWrites("contacts") {
		if w.Creates != 1 {
			t.Errorf("object %d created %d times", id, w.Creates)
		}
	}
}

// 429 and 5xx storms and the rate limit lose nothing.
func TestStormLosesNothing(t *testing.T) {
	e := newEnv(t, hubspot.Options{RateLimitMax: 5, RateLimitInterval: 200 * time.Millisecond})
	e.emu.FailEvery(3, hubspot.Fault5xx)
	e.emu.Inject(hubspot.Fault429, hubspot.Fault429, hubspot.Fault5xx, hubspot.FaultTruncated, hubspot.Fault429)
	var chs []*schemas.Change
	for i := range 400 {
		chs = append(chs, e.Change(schemas.OpCreate, int32(i), fmt.Sprintf("s%d@example.com", i), "x"))
	}
	e.Produce(chs...)
	cfg := e.config()
	cfg.BatchSize = 20
	r := e.start(cfg, nil)
	e.caughtUp()
	r.Stop()
	if n := len(e.live()); n != 400 {
		t.Errorf("%d live contacts, want 400", n)
	}
	st := e.emu.Stats()
	if st.Faults < 5 {
		t.Errorf("no storm happened: %+v", st)
	}
	for id, w := range e.emu.ObjectWrites("contacts") {
		if w.Creates != 1 {
			t.Errorf("object %d created %d times", id, w.Creates)
		}
	}
}

// Invalid rows go to the DLQ with the reason, the rest is written: rows the
// mapping refuses, and inputs HubSpot refuses with 400 (the batch is
// bisected) or in a 207 Multi-Status.
func TestInvalidRowsParked(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run(fmt.Sprintf("partial=%v", partial), func(t *testing.T) {
			e := newEnv(t, hubspot.Options{})
			e.emu.SetPartialFailures(partial)
			e.emu.DefineProperty("contacts", "firstname", hubspot.PropertyDef{Type: "enumeration", Options: []string{"ok"}})
			var chs []*schemas.Change
			for i := range 30 {
				name := "ok"
				if i%10 == 3 {
					name = "bad" // HubSpot refuses it
				}
				chs = append(chs, e.Change(schemas.OpCreate, int32(i), fmt.Sprintf("v%d@example.com", i), name))
			}
			chs = append(chs, e.Change(schemas.OpCreate, 100, "not an email", "ok")) // the mapping refuses it
			e.Produce(chs...)
			r := e.start(e.config(), nil)
			e.caughtUp()
			r.Stop()
			if n := len(e.live()); n != 27 {
				t.Errorf("%d live contacts, want 27", n)
			}
			cl, err := kgo.NewClient(append(e.Opts(), kgo.ConsumeTopics(topics.DLQ("syncline")), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			reasons := map[string]int{}
			ctx, cancel := context.WithTimeout(e.Ctx, 20*time.Second)
			defer cancel()
			for n := 0; n < 4 && ctx.Err() == nil; {
				cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
					n++
					for _, h := range r.Headers {
						if h.Key == "syncline.reason" {
							reasons[string(h.Value)]++
						}
					}
				})
			}
			if reasons["rejected"] != 3 || reasons["invalid_row"] != 1 {
				t.Errorf("DLQ reasons %v, want 3 rejected and 1 invalid_row", reasons)
			}
		})
	}
}

// A changed id_property value moves the object (the upsert matches on the
// old value); delete_mode ignore leaves objects alone.
func TestIDPropertyChangeAndIgnoredDeletes(t *testing.T) {
	e := newEnv(t, hubspot.Options{})
	e.Produce(e.Change(schemas.OpCreate, 1, "old@example.com", "a"), e.Change(schemas.OpCreate, 2, "two@example.com", "b"))
	cfg := e.config()
	cfg.DeleteMode = DeleteIgnore
	r := e.start(cfg, nil)
	e.caughtUp()
	e.Produce(e.Change(schemas.OpUpdate, 1, "new@example.com", "a"), e.Change(schemas.OpDelete, 2, "", ""))
	e.caughtUp()
	r.Stop()
	live := e.live()
	if len(live) != 2 {
		t.Fatalf("%d live contacts (%v), want 2", len(live), live)
	}
	if _, ok := live["new@example.com"]; !ok {
		t.Errorf("no contact with the new email: %v", live)
	}
	if ws := e.emu.WriteStats(); ws.Creates != 2 || ws.Updates != 1 || ws.ArchiveCalls != 0 {
		t.Errorf("write stats %+v, want 2 creates, 1 update, no archive", ws)
	}
}

// A token HubSpot refuses does not heal by retrying: Run stops with an
// error that says what to check, and the offsets do not move.
func TestRefusedTokenStopsTheSink(t *testing.T) {
	e := newEnv(t, hubspot.Options{})
	e.Produce(e.Change(schemas.OpCreate, 1, "a@example.com", "A"))
	cfg := e.config()
	cfg.Token = "pat-revoked"
	s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
	defer cancel()
	err = s.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "sinks[].hubspot.token") {
		t.Fatalf("Run with a refused token: %v; want an error naming the 401 and the token to check", err)
	}
	if n := len(e.live()); n != 0 {
		t.Errorf("%d objects written with a refused token", n)
	}
}

package salesforce

import (
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
	"syncline/internal/emulator/salesforce"
	"syncline/schemas"
	sinksaas "syncline/sink/saas"
	"syncline/sink/saas/saastest"
)

type env struct {
	*saastest.Emulated[*salesforce.Server]
}

func newEnv(t testing.TB, o salesforce.Options) *env {
	t.Helper()
	o.Token = "00Dtoken"
	emu := salesforce.New(o)
	emu.Require("Contact", "LastName")
	return &env{saastest.WithEmulator(t, emu)}
}

func (e *env) config() Config {
	st := e.Stream()
	st.Retry = sinksaas.RetryPolicy{InitialBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	return Config{
		Name: "crm", InstanceURL: e.URL, AccessToken: "00Dtoken", SObject: "Contact", ExternalIDField: "Ext__c",
		Fields: map[string]sinksaas.Property{
			"Ext__c":     {From: "id"},
			"Email":      {From: "email", Transform: "email", Required: true},
			"LastName":   {From: "first_name"},
			"LeadSource": {Value: "Web"},
		},
		RequestsPerSecond: 1000, Burst: 10, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		Stream: st,
	}
}

func (e *env) harness(cfg Config) saastest.Harness {
	stats := e.Emu.WriteStats
	return e.NewHarness("crm", func(dir string) (*sinksaas.Engine, error) {
		cfg.StateDir = dir
		s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
		if err != nil {
			return nil, err
		}
		return s.Engine, nil
	}, func() int { return stats().Calls }, func() int { return stats().Creates })
}

// run runs the sink until it caught up and, when n >= 0, the emulator
// holds n live contacts (rows in the retry queue written meanwhile).
func (e *env) run(cfg Config, n int) {
	e.T.Helper()
	h := e.harness(cfg)
	r := h.Start(e.Dir, nil)
	defer r.Stop()
	e.CaughtUp(h.Group)
	deadline := time.Now().Add(60 * time.Second)
	for n >= 0 && len(e.Emu.Live("Contact")) != n {
		if time.Now().After(deadline) {
			e.T.Fatalf("%d contacts after 60s, want %d", len(e.Emu.Live("Contact")), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// byKey returns the live contacts by external id, failing on two of one.
func (e *env) byKey() map[string]salesforce.Record {
	e.T.Helper()
	out := map[string]salesforce.Record{}
	for _, r := range e.Emu.Live("Contact") {
		k, _ := r.Fields["Ext__c"].(string)
		if _, dup := out[k]; dup {
			e.T.Errorf("two contacts of record %q", k)
		}
		out[k] = r
	}
	return out
}

// Records are upserted by external id in collections calls (created once
// each), updates send only the changed fields, deletes delete the
// ledger's id (one never written counts as not_found), and replaying or
// re-running unchanged data makes no call.
func TestUpsertsChangedFieldsAndReplaySendsNothing(t *testing.T) {
	e := newEnv(t, salesforce.Options{})
	h := e.harness(e.config())
	written := e.Written(h, 250)
	cs := e.byKey()
	if len(cs) != 248 {
		t.Fatalf("%d contacts, want 248", len(cs))
	}
	if c := cs["3"]; c.Fields["LastName"] != "renamed" || c.Fields["Email"] != "p3@example.com" || c.Fields["LeadSource"] != "Web" {
		t.Errorf("contact 3 = %v", c.Fields)
	}
	if got := e.Emu.LastWrite(cs["20"].ID); len(got) != 2 || got["LastName"] != "changed" || got["Ext__c"] != "20" {
		t.Errorf("the update of record 20 sent %v, want only LastName and the external id", got)
	}
	ws := e.Emu.WriteStats()
	if ws.Creates != 250 || ws.Deletes != 2 || ws.Calls > 8 {
		t.Errorf("write stats %+v, want 250 creates and 2 deletes in a handful of calls (batches of 200)", ws)
	}
	e.ReplayAndRerun(h, 250, written)
}

// A crash between the calls and the Kafka commit, then a new process
// with an empty store that also sees newer changes, creates no second
// contact: the upserts match by external id.
func TestCrashCreatesNoDuplicate(t *testing.T) {
	e := newEnv(t, salesforce.Options{})
	e.CrashThenResume(e.harness(e.config()), 60)
	if cs := e.byKey(); len(cs) != 60 || cs["7"].Fields["LastName"] != "newer" {
		t.Errorf("%d contacts, contact 7 %v; want 60, named newer", len(cs), cs["7"].Fields)
	}
}

// 403 REQUEST_LIMIT_EXCEEDED, 503 storms and locked rows lose nothing
// and create nothing twice; locked rows go through the retry queue.
func TestStormLosesNothing(t *testing.T) {
	e := newEnv(t, salesforce.Options{RequestLimit: 3, LimitInterval: 300 * time.Millisecond})
	e.Emu.FailEvery(3, faults.Server5xx)
	e.Emu.Inject(faults.Limit, faults.Server5xx, faults.Limit)
	e.Emu.LockRows(7)
	cfg := e.config()
	cfg.BatchSize = 25
	e.Produce(e.Creates(150, "s")...)
	e.run(cfg, 150)
	ws := e.Emu.WriteStats()
	if ws.Creates != 150 || len(e.byKey()) != 150 {
		t.Errorf("write stats %+v, want 150 creates", ws)
	}
	if st := e.Emu.Stats(); st.Faults < 5 || st.Limited == 0 || ws.RecordErrors["UNABLE_TO_LOCK_ROW"] != 7 {
		t.Errorf("no storm happened: %+v %+v", st, ws)
	}
}

// Records Salesforce refuses (DUPLICATE_VALUE, REQUIRED_FIELD_MISSING) are
// parked in the DLQ with reason rejected and Salesforce's error; the rest
// of their batch is written.
func TestRejectedRowsParked(t *testing.T) {
	e := newEnv(t, salesforce.Options{})
	e.Emu.Unique("Contact", "Email")
	chs := e.Creates(20, "r")
	chs[4] = e.Change(schemas.OpCreate, 4, "p3@example.com", "r") // the email of record 3
	chs[11] = e.Change(schemas.OpCreate, 11, "p11@example.com", "")
	e.Produce(chs...)
	e.run(e.config(), -1)
	es := e.DLQEntries("sink.crm")
	codes := map[string]int{}
	for _, en := range es {
		if en.Reason != "rejected" {
			t.Errorf("DLQ entry %+v, want rejected", en)
		}
		for _, c := range []string{"DUPLICATE_VALUE", "REQUIRED_FIELD_MISSING"} {
			if strings.Contains(en.Error, c) && strings.Contains(en.Error, "fields: ") {
				codes[c]++
			}
		}
	}
	if len(es) != 2 || codes["DUPLICATE_VALUE"] != 1 || codes["REQUIRED_FIELD_MISSING"] != 1 {
		t.Errorf("DLQ entries %+v, want one DUPLICATE_VALUE and one REQUIRED_FIELD_MISSING with their fields", es)
	}
	if n := len(e.byKey()); n != 18 {
		t.Errorf("%d contacts, want 18", n)
	}
	if n := e.Emu.WriteStats().Calls; n != 1 {
		t.Errorf("%d calls, want 1 (allOrNone false: one call, per-record results)", n)
	}
}

// Locked rows (UNABLE_TO_LOCK_ROW) go to the retry queue and are written
// by a later attempt.
func TestLockedRowsRetried(t *testing.T) {
	e := newEnv(t, salesforce.Options{})
	e.Emu.LockRows(3)
	e.Produce(e.Creates(20, "l")...)
	e.run(e.config(), 20)
	if got := saastest.Counter(t, e.M.SinkWrites.WithLabelValues("crm", "retry")); got != 3 {
		t.Errorf("syncline_sink_writes_total{result=retry} = %v, want the 3 locked rows", got)
	}
	if n := len(e.DLQEntries("sink.crm")); n != 0 {
		t.Errorf("%d DLQ entries, want none", n)
	}
}

// A token Salesforce refuses stops the sink, without the token.
func TestRefusedTokenStops(t *testing.T) {
	e := newEnv(t, salesforce.Options{})
	e.Produce(e.Creates(1, "a")...)
	cfg := e.config()
	cfg.AccessToken = "00Drevoked"
	s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
	if err = e.Stopped(s.Engine, err); err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "sinks[].salesforce.access_token") || strings.Contains(err.Error(), "00Drevoked") {
		t.Fatalf("Run with a refused token: %v", err)
	}
}

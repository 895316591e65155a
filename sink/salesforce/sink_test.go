package salesforce

import (
	"context"
	"fmt"
	"net/http/httptest"
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
	*saastest.Env
	emu *salesforce.Server
	srv *httptest.Server
}

func newEnv(t testing.TB, o salesforce.Options) *env {
	t.Helper()
	o.Token = "00Dtoken"
	emu := salesforce.New(o)
	emu.Require("Contact", "LastName")
	srv := emu.Start()
	t.Cleanup(srv.Close)
	return &env{Env: saastest.New(t), emu: emu, srv: srv}
}

func (e *env) config() Config {
	st := e.Stream()
	st.Retry = sinksaas.RetryPolicy{InitialBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	return Config{
		Name: "crm", InstanceURL: e.srv.URL, AccessToken: "00Dtoken", SObject: "Contact", ExternalIDField: "Ext__c",
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

func (e *env) start(cfg Config, hook func() error) *saastest.Running {
	e.T.Helper()
	s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
	return e.Start(func() *sinksaas.Engine { return s.Engine }, err, hook)
}

func (e *env) caughtUp() { e.T.Helper(); e.CaughtUp("syncline-sink-crm") }

func (e *env) creates(n int, name string) []*schemas.Change {
	var chs []*schemas.Change
	for i := range n {
		chs = append(chs, e.Change(schemas.OpCreate, int32(i), fmt.Sprintf("P%d@Example.com", i), name))
	}
	return chs
}

// byKey returns the live contacts by external id, failing on two of one.
func (e *env) byKey() map[string]salesforce.Record {
	e.T.Helper()
	out := map[string]salesforce.Record{}
	for _, r := range e.emu.Live("Contact") {
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
	chs := e.creates(250, "n")
	for i := range 10 {
		chs = append(chs, e.Change(schemas.OpUpdate, int32(i), fmt.Sprintf("p%d@example.com", i), "renamed"))
	}
	e.Produce(chs...)
	r := e.start(e.config(), nil)
	e.caughtUp()
	e.Produce(e.Change(schemas.OpDelete, 245, "", ""), e.Change(schemas.OpDelete, 246, "", ""), e.Change(schemas.OpDelete, 999, "", ""))
	e.caughtUp()
	e.Produce(e.Change(schemas.OpUpdate, 20, "p20@example.com", "changed"))
	e.caughtUp()
	r.Stop()

	cs := e.byKey()
	if len(cs) != 248 {
		t.Fatalf("%d contacts, want 248", len(cs))
	}
	if c := cs["3"]; c.Fields["LastName"] != "renamed" || c.Fields["Email"] != "p3@example.com" || c.Fields["LeadSource"] != "Web" {
		t.Errorf("contact 3 = %v", c.Fields)
	}
	if got := e.emu.LastWrite(cs["20"].ID); len(got) != 2 || got["LastName"] != "changed" || got["Ext__c"] != "20" {
		t.Errorf("the update of record 20 sent %v, want only LastName and the external id", got)
	}
	ws := e.emu.WriteStats()
	if ws.Creates != 250 || ws.Deletes != 2 {
		t.Errorf("write stats %+v, want 250 creates and 2 deletes", ws)
	}
	if ws.Calls > 8 {
		t.Errorf("%d calls for 260 changes in batches of 200, 2 deletes and an update", ws.Calls)
	}
	if got := saastest.Counter(t, e.M.SinkWrites.WithLabelValues("crm", "not_found")); got != 1 {
		t.Errorf("syncline_sink_writes_total{result=not_found} = %v, want 1", got)
	}
	before := e.emu.WriteStats()
	e.Produce(chs...)
	var again []*schemas.Change
	for i := range 245 {
		name := "n"
		switch {
		case i < 10:
			name = "renamed"
		case i == 20:
			name = "changed"
		}
		again = append(again, e.Change(schemas.OpUpdate, int32(i), fmt.Sprintf("p%d@EXAMPLE.com", i), name))
	}
	e.Produce(again...)
	r2 := e.start(e.config(), nil)
	e.caughtUp()
	r2.Stop()
	if ws := e.emu.WriteStats(); ws.Calls != before.Calls {
		t.Errorf("replay and re-run made %d calls", ws.Calls-before.Calls)
	}
}

// A crash between the calls and the Kafka commit, then a new process
// with an empty store that also sees newer changes, creates no second
// contact: the upserts match by external id.
func TestCrashCreatesNoDuplicate(t *testing.T) {
	e := newEnv(t, salesforce.Options{})
	e.Produce(e.creates(60, "x")...)
	hook, crashed := saastest.CrashBeforeCommit()
	r := e.start(e.config(), hook)
	<-crashed
	r.Stop()
	if e.emu.WriteStats().Creates == 0 {
		t.Fatal("the crashed batch created nothing; the test proves nothing")
	}
	var newer []*schemas.Change
	for i := range 30 {
		newer = append(newer, e.Change(schemas.OpUpdate, int32(i), fmt.Sprintf("p%d@example.com", i), "newer"))
	}
	e.Produce(newer...)
	cfg := e.config()
	cfg.StateDir = t.TempDir()
	r2 := e.start(cfg, nil)
	e.caughtUp()
	r2.Stop()
	cs := e.byKey()
	if ws := e.emu.WriteStats(); ws.Creates != 60 || len(cs) != 60 {
		t.Errorf("%d creates, %d contacts, want 60 each", ws.Creates, len(cs))
	}
	if got := cs["7"].Fields["LastName"]; got != "newer" {
		t.Errorf("contact 7 LastName %v, want newer", got)
	}
}

// 403 REQUEST_LIMIT_EXCEEDED, 503 storms and locked rows lose nothing
// and create nothing twice; locked rows go through the retry queue.
func TestStormLosesNothing(t *testing.T) {
	e := newEnv(t, salesforce.Options{RequestLimit: 3, LimitInterval: 300 * time.Millisecond})
	e.emu.FailEvery(3, faults.Server5xx)
	e.emu.Inject(faults.Limit, faults.Server5xx, faults.Limit)
	e.emu.LockRows(7)
	cfg := e.config()
	cfg.BatchSize = 25
	e.Produce(e.creates(150, "s")...)
	r := e.start(cfg, nil)
	e.caughtUp()
	testWait(t, func() bool { return len(e.emu.Live("Contact")) == 150 })
	r.Stop()
	ws := e.emu.WriteStats()
	if ws.Creates != 150 || len(e.byKey()) != 150 {
		t.Errorf("write stats %+v, want 150 creates", ws)
	}
	if st := e.emu.Stats(); st.Faults < 5 || st.Limited == 0 || ws.RecordErrors["UNABLE_TO_LOCK_ROW"] != 7 {
		t.Errorf("no storm happened: %+v %+v", st, ws)
	}
}

func testWait(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Records Salesforce refuses (DUPLICATE_VALUE, REQUIRED_FIELD_MISSING) are
// parked in the DLQ with reason rejected and Salesforce's error; the rest
// of their batch is written.
func TestRejectedRowsParked(t *testing.T) {
	e := newEnv(t, salesforce.Options{})
	e.emu.Unique("Contact", "Email")
	chs := e.creates(20, "r")
	chs[4] = e.Change(schemas.OpCreate, 4, "p3@example.com", "r") // the email of record 3
	chs[11] = e.Change(schemas.OpCreate, 11, "p11@example.com", "")
	e.Produce(chs...)
	r := e.start(e.config(), nil)
	e.caughtUp()
	r.Stop()
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
	if n := e.emu.WriteStats().Calls; n != 1 {
		t.Errorf("%d calls, want 1 (allOrNone false: one call, per-record results)", n)
	}
}

// Locked rows (UNABLE_TO_LOCK_ROW) go to the retry queue and are written
// by a later attempt.
func TestLockedRowsRetried(t *testing.T) {
	e := newEnv(t, salesforce.Options{})
	e.emu.LockRows(3)
	e.Produce(e.creates(20, "l")...)
	r := e.start(e.config(), nil)
	e.caughtUp()
	testWait(t, func() bool { return len(e.emu.Live("Contact")) == 20 })
	r.Stop()
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
	e.Produce(e.creates(1, "a")...)
	cfg := e.config()
	cfg.AccessToken = "00Drevoked"
	s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
	defer cancel()
	err = s.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "sinks[].salesforce.access_token") || strings.Contains(err.Error(), "00Drevoked") {
		t.Fatalf("Run with a refused token: %v", err)
	}
}

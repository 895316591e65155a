package rest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/rest"
	"syncline/schemas"
	sinksaas "syncline/sink/saas"
	"syncline/sink/saas/saastest"
)

type env struct {
	*saastest.Env
	emu *rest.Server
	srv *httptest.Server
}

func newEnv(t testing.TB, o rest.Options) *env {
	t.Helper()
	if o.BearerToken == "" && o.BasicUser == "" && o.APIKey == "" {
		o.BearerToken = "tok-test"
	}
	emu := rest.New(o)
	srv := emu.Start()
	t.Cleanup(srv.Close)
	return &env{Env: saastest.New(t), emu: emu, srv: srv}
}

func (e *env) config() Config {
	return Config{
		Name: "api", BaseURL: e.srv.URL, Auth: Auth{Type: "bearer", Token: "tok-test"}, IDField: "id",
		Fields: map[string]sinksaas.Property{
			"id":    {From: "id"},
			"email": {From: "email", Transform: "email", Required: true},
			"name":  {From: "first_name"},
			"plan":  {Value: "free"},
		},
		Upsert:            Request{Method: http.MethodPut, Path: "/v1/customers/{id}"},
		Delete:            Request{Method: http.MethodDelete, Path: "/v1/customers/{id}"},
		RequestsPerSecond: 1000, Burst: 10, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		Stream: e.Stream(),
	}
}

func (e *env) start(cfg Config, hook func() error) *saastest.Running {
	e.T.Helper()
	s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
	return e.Start(func() *sinksaas.Engine { return s.Engine }, err, hook)
}

func (e *env) caughtUp() { e.T.Helper(); e.CaughtUp("syncline-sink-api") }

func (e *env) creates(n int, name string) []*schemas.Change {
	var chs []*schemas.Change
	for i := range n {
		chs = append(chs, e.Change(schemas.OpCreate, int32(i), fmt.Sprintf("P%d@Example.com", i), name))
	}
	return chs
}

// checkApplied fails unless every idempotency key was applied once.
func (e *env) checkApplied() {
	e.T.Helper()
	for k, n := range e.emu.Applies() {
		if n != 1 {
			e.T.Errorf("request %s applied %d times", k, n)
		}
	}
}

// Creates, updates and deletes reach the API as PUTs of the changed fields
// and DELETEs; a delete of a record the API lacks counts as not_found;
// replaying every record, and re-running unchanged data, make no request.
func TestUpsertsChangedFieldsAndReplaySendsNothing(t *testing.T) {
	e := newEnv(t, rest.Options{})
	chs := e.creates(50, "n")
	for i := range 10 {
		chs = append(chs, e.Change(schemas.OpUpdate, int32(i), fmt.Sprintf("p%d@example.com", i), "renamed"))
	}
	e.Produce(chs...)
	r := e.start(e.config(), nil)
	e.caughtUp()
	dels := []*schemas.Change{e.Change(schemas.OpDelete, 45, "", ""), e.Change(schemas.OpDelete, 46, "", ""), e.Change(schemas.OpDelete, 999, "", "")}
	e.Produce(dels...)
	e.caughtUp()
	// A rename of a record written in an earlier batch sends only the
	// changed field (and the id).
	e.Produce(e.Change(schemas.OpUpdate, 20, "p20@example.com", "changed"))
	e.caughtUp()
	r.Stop()

	recs := e.emu.Records("customers")
	if len(recs) != 48 {
		t.Fatalf("%d records, want 48", len(recs))
	}
	if got := recs["3"]; got["name"] != "renamed" || got["email"] != "p3@example.com" || got["plan"] != "free" {
		t.Errorf("record 3 = %v, want renamed, the normalized email and the default plan", got)
	}
	if got := e.emu.LastWrite("customers", "20"); len(got) != 2 || got["name"] != "changed" || got["id"] != "20" {
		t.Errorf("the update of record 20 sent %v, want only name and id", got)
	}
	ws := e.emu.WriteStats()
	if ws.Creates != 50 || ws.Deletes != 2 || ws.Updates > 11 {
		t.Errorf("write stats %+v, want 50 creates, 2 deletes, at most 11 updates", ws)
	}
	if got := saastest.Counter(t, e.M.SinkWrites.WithLabelValues("api", "not_found")); got != 1 {
		t.Errorf("syncline_sink_writes_total{result=not_found} = %v, want 1", got)
	}
	e.checkApplied()

	// Replay every record, then re-run the unchanged data as new changes:
	// the ledger answers, nothing is sent.
	before := e.emu.WriteStats()
	e.Produce(chs...)
	again := e.creates(45, "")
	for i := range again {
		again[i] = e.Change(schemas.OpUpdate, int32(i), fmt.Sprintf("p%d@example.com", i), recName(i))
	}
	e.Produce(again...)
	r2 := e.start(e.config(), nil)
	e.caughtUp()
	r2.Stop()
	if ws := e.emu.WriteStats(); ws.Calls != before.Calls || ws.Replays != before.Replays {
		t.Errorf("replay and re-run made requests: %+v, before %+v", ws, before)
	}
}

func recName(i int) string {
	switch {
	case i < 10:
		return "renamed"
	case i == 20:
		return "changed"
	}
	return "n"
}

// A crash between the API calls and the Kafka commit (the sink keeps
// failing before the commit until it is stopped; a new process with an
// empty store takes over) re-sends the same requests with the same
// idempotency keys: the API answers them from its idempotency store, and
// no request is applied twice. Answers lost after the API applied the
// write (a 503 after the commit) are healed the same way.
func TestCrashRestartAppliesNothingTwice(t *testing.T) {
	e := newEnv(t, rest.Options{})
	e.emu.InjectWrite(rest.FaultAppliedThen5xx, rest.FaultAppliedThen5xx)
	e.Produce(e.creates(60, "x")...)
	hook, crashed := saastest.CrashBeforeCommit()
	r := e.start(e.config(), hook)
	<-crashed
	r.Stop()
	first := e.emu.WriteStats()
	if first.Creates == 0 {
		t.Fatal("the crashed batch wrote nothing; the test proves nothing")
	}
	cfg := e.config()
	cfg.StateDir = t.TempDir()
	r2 := e.start(cfg, nil)
	e.caughtUp()
	r2.Stop()
	ws := e.emu.WriteStats()
	if ws.Creates != 60 || len(e.emu.Records("customers")) != 60 {
		t.Errorf("write stats %+v, want 60 creates", ws)
	}
	if ws.Replays < first.Creates {
		t.Errorf("%d requests answered from the idempotency store, want at least the %d the crashed batch applied", ws.Replays, first.Creates)
	}
	e.checkApplied()

	// Re-running the unchanged data makes no request.
	before := ws
	var again []*schemas.Change
	for i := range 60 {
		again = append(again, e.Change(schemas.OpUpdate, int32(i), fmt.Sprintf("P%d@example.COM", i), "x"))
	}
	e.Produce(again...)
	r3 := e.start(cfg, nil)
	e.caughtUp()
	r3.Stop()
	if ws := e.emu.WriteStats(); ws.Calls != before.Calls || ws.Replays != before.Replays {
		t.Errorf("re-running unchanged data made requests: %+v, before %+v", ws, before)
	}
}

// 429s (with Retry-After) and 5xx storms lose nothing and apply nothing
// twice.
func TestStormLosesNothing(t *testing.T) {
	e := newEnv(t, rest.Options{RateLimitMax: 20, RateLimitInterval: 200 * time.Millisecond})
	e.emu.FailEveryWrite(4, rest.Fault503)
	e.emu.InjectWrite(rest.Fault429, rest.Fault429, rest.Fault500, rest.Fault429)
	e.Produce(e.creates(150, "s")...)
	r := e.start(e.config(), nil)
	e.caughtUp()
	r.Stop()
	ws := e.emu.WriteStats()
	if ws.Creates != 150 || len(e.emu.Records("customers")) != 150 {
		t.Errorf("write stats %+v, want 150 creates", ws)
	}
	if ws.Faults < 5 || ws.RateLimited == 0 {
		t.Errorf("no storm happened: %+v", ws)
	}
	e.checkApplied()
}

// A 4xx for a record (422, 409) parks it in the DLQ with reason rejected
// and the API's answer, single or batched (the batch is bisected), and the
// rest is written.
func TestRejectedRowsParked(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			e := newEnv(t, rest.Options{})
			e.emu.Refuse(http.StatusUnprocessableEntity, "3", "17")
			e.emu.Refuse(http.StatusConflict, "9")
			cfg := e.config()
			if batch {
				cfg.Upsert = Request{Method: http.MethodPost, Path: "/v1/customers/batch", BatchField: "items"}
				cfg.BatchSize = 10
			}
			e.Produce(e.creates(30, "r")...)
			r := e.start(cfg, nil)
			e.caughtUp()
			r.Stop()
			if n := len(e.emu.Records("customers")); n != 27 {
				t.Errorf("%d records, want 27", n)
			}
			es := e.DLQEntries("sink.api")
			codes := map[string]int{}
			for _, en := range es {
				if en.Reason != "rejected" || !en.Replayable {
					t.Errorf("DLQ entry %+v, want a replayable rejected entry", en)
				}
				for _, c := range []int{409, 422} {
					if strings.Contains(en.Error, "HTTP "+strconv.Itoa(c)) && strings.Contains(en.Error, "refused") {
						codes[strconv.Itoa(c)]++
					}
				}
			}
			if len(es) != 3 || codes["422"] != 2 || codes["409"] != 1 {
				t.Errorf("DLQ entries %+v, want 2 with the 422 and 1 with the 409", es)
			}
			if n := e.emu.WriteStats().Calls; batch && n >= 30 {
				t.Errorf("%d calls for 30 records in batches of 10, want fewer than one per record", n)
			}
		})
	}
}

// Basic and API key authentication work; credentials the API refuses stop
// the sink with what to check.
func TestAuth(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts rest.Options
		auth Auth
	}{
		{"basic", rest.Options{BasicUser: "u", BasicPassword: "p"}, Auth{Type: "basic", Username: "u", Password: "p"}},
		{"api key", rest.Options{APIKey: "k-1"}, Auth{Type: "api_key", Header: "X-API-Key", Key: "k-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			e.Produce(e.creates(3, "a")...)
			cfg := e.config()
			cfg.Auth = tc.auth
			r := e.start(cfg, nil)
			e.caughtUp()
			r.Stop()
			if n := len(e.emu.Records("customers")); n != 3 {
				t.Errorf("%d records, want 3", n)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		e := newEnv(t, rest.Options{})
		e.Produce(e.creates(1, "a")...)
		cfg := e.config()
		cfg.Auth.Token = "revoked"
		s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
		defer cancel()
		err = s.Run(ctx)
		if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "sinks[].rest.auth") || strings.Contains(err.Error(), "revoked") {
			t.Fatalf("Run with a refused token: %v; want the 401 and what to check, without the token", err)
		}
	})
}

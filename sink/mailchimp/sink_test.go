package mailchimp

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
	"syncline/internal/emulator/mailchimp"
	"syncline/schemas"
	sinksaas "syncline/sink/saas"
	"syncline/sink/saas/saastest"
)

const list = "a1b2c3"

type env struct {
	*saastest.Env
	emu *mailchimp.Server
	srv *httptest.Server
}

func newEnv(t testing.TB, o mailchimp.Options) *env {
	t.Helper()
	o.APIKey = "0123abcd-us9"
	emu := mailchimp.New(o)
	emu.AddList(list)
	srv := emu.Start()
	t.Cleanup(srv.Close)
	return &env{Env: saastest.New(t), emu: emu, srv: srv}
}

func (e *env) config(batch int) Config {
	return Config{
		Name: "news", APIKey: "0123abcd-us9", BaseURL: e.srv.URL, ListID: list, BatchSize: batch,
		Fields: map[string]sinksaas.Property{
			"email_address": {From: "email", Transform: "email", Required: true},
			"FNAME":         {From: "first_name"},
			"SOURCE":        {Value: "syncline"},
		},
		RequestsPerSecond: 1000, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		Stream: e.Stream(),
	}
}

func (e *env) start(cfg Config, hook func() error) *saastest.Running {
	e.T.Helper()
	s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
	return e.Start(func() *sinksaas.Engine { return s.Engine }, err, hook)
}

func (e *env) caughtUp() { e.T.Helper(); e.CaughtUp("syncline-sink-news") }

func (e *env) creates(n int, name string) []*schemas.Change {
	var chs []*schemas.Change
	for i := range n {
		chs = append(chs, e.Change(schemas.OpCreate, int32(i), fmt.Sprintf("P%d@Example.com", i), name))
	}
	return chs
}

// live returns the members that are not archived, by address.
func (e *env) live() map[string]mailchimp.Member {
	out := map[string]mailchimp.Member{}
	for _, m := range e.emu.Members(list) {
		if m.Status != "archived" {
			out[m.Email] = m
		}
	}
	return out
}

// Records become members (created once each), updates send only the
// changed merge fields, deletes archive (one never written counts as
// not_found), and replaying or re-running unchanged data makes no call;
// one PUT per member, or batch subscribe calls.
func TestMembersChangedFieldsAndReplaySendsNothing(t *testing.T) {
	for _, batch := range []int{1, 100} {
		t.Run(fmt.Sprintf("batch_size=%d", batch), func(t *testing.T) {
			e := newEnv(t, mailchimp.Options{})
			chs := e.creates(150, "n")
			for i := range 10 {
				chs = append(chs, e.Change(schemas.OpUpdate, int32(i), fmt.Sprintf("p%d@example.com", i), "renamed"))
			}
			e.Produce(chs...)
			r := e.start(e.config(batch), nil)
			e.caughtUp()
			e.Produce(e.Change(schemas.OpDelete, 145, "", ""), e.Change(schemas.OpDelete, 146, "", ""), e.Change(schemas.OpDelete, 999, "", ""))
			e.caughtUp()
			e.Produce(e.Change(schemas.OpUpdate, 20, "p20@example.com", "changed"))
			e.caughtUp()
			r.Stop()
			ms := e.live()
			if len(ms) != 148 {
				t.Fatalf("%d live members, want 148", len(ms))
			}
			if m := ms["p3@example.com"]; m.Status != "subscribed" || m.MergeFields["FNAME"] != "renamed" || m.MergeFields["SOURCE"] != "syncline" {
				t.Errorf("member 3 = %+v", m)
			}
			last := e.emu.LastWrite(list, mailchimp.SubscriberHash("p20@example.com"))
			if mf, _ := last["merge_fields"].(map[string]any); len(mf) != 1 || mf["FNAME"] != "changed" {
				t.Errorf("the update of record 20 sent %v, want only FNAME", last)
			}
			ws := e.emu.WriteStats()
			if ws.Creates != 150 || ws.Archives != 2 {
				t.Errorf("write stats %+v, want 150 creates and 2 archives", ws)
			}
			if batch > 1 && ws.Batches == 0 || batch > 1 && ws.Calls > 10 {
				t.Errorf("write stats %+v, want a few batch calls", ws)
			}
			if got := saastest.Counter(t, e.M.SinkWrites.WithLabelValues("news", "not_found")); got != 1 {
				t.Errorf("syncline_sink_writes_total{result=not_found} = %v, want 1", got)
			}
			before := e.emu.WriteStats()
			e.Produce(chs...)
			var again []*schemas.Change
			for i := range 145 {
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
			r2 := e.start(e.config(batch), nil)
			e.caughtUp()
			r2.Stop()
			if ws := e.emu.WriteStats(); ws != before {
				t.Errorf("replay and re-run made calls: %+v, before %+v", ws, before)
			}
		})
	}
}

// A changed address moves the member (PUT at the ledger's hash): no
// second member.
func TestChangedAddressMovesMember(t *testing.T) {
	e := newEnv(t, mailchimp.Options{})
	e.Produce(e.creates(3, "a")...)
	e.Produce(e.Change(schemas.OpUpdate, 1, "new1@example.com", "a"))
	r := e.start(e.config(100), nil)
	e.caughtUp()
	e.Produce(e.Change(schemas.OpUpdate, 2, "new2@example.com", "a"))
	e.caughtUp()
	r.Stop()
	ms := e.live()
	if _, ok := ms["new2@example.com"]; len(ms) != 3 || !ok {
		t.Errorf("members %v, want 3 with new2@example.com", ms)
	}
}

// A crash between the calls and the Kafka commit, then a new process
// with an empty store that also sees newer changes, creates no second
// member: the writes go by subscriber hash and address.
func TestCrashCreatesNoDuplicate(t *testing.T) {
	for _, batch := range []int{1, 50} {
		t.Run(fmt.Sprintf("batch_size=%d", batch), func(t *testing.T) {
			e := newEnv(t, mailchimp.Options{})
			e.Produce(e.creates(60, "x")...)
			hook, crashed := saastest.CrashBeforeCommit()
			r := e.start(e.config(batch), hook)
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
			cfg := e.config(batch)
			cfg.StateDir = t.TempDir()
			r2 := e.start(cfg, nil)
			e.caughtUp()
			r2.Stop()
			ms := e.live()
			if ws := e.emu.WriteStats(); ws.Creates != 60 || len(ms) != 60 {
				t.Errorf("%d creates, %d members, want 60 each", ws.Creates, len(ms))
			}
			if got := ms["p7@example.com"].MergeFields["FNAME"]; got != "newer" {
				t.Errorf("member 7 FNAME %v, want newer", got)
			}
		})
	}
}

// 429s (injected, and past 2 simultaneous connections) and 5xx storms
// lose nothing.
func TestStormLosesNothing(t *testing.T) {
	e := newEnv(t, mailchimp.Options{MaxConnections: 2})
	e.emu.FailEvery(4, faults.Server5xx)
	e.emu.Inject(faults.Limit, faults.Limit, faults.Server5xx)
	cfg := e.config(1)
	cfg.MaxConcurrent = 6
	e.Produce(e.creates(120, "s")...)
	r := e.start(cfg, nil)
	e.caughtUp()
	r.Stop()
	if ws := e.emu.WriteStats(); ws.Creates != 120 || len(e.live()) != 120 {
		t.Errorf("write stats %+v, want 120 creates", ws)
	}
	if st := e.emu.Stats(); st.Faults < 5 {
		t.Errorf("no storm happened: %+v", st)
	}
}

// Members Mailchimp refuses (a forgotten address, a missing required
// merge field) are parked in the DLQ with reason rejected and Mailchimp's
// message, single or batched; the rest is written.
func TestRejectedRowsParked(t *testing.T) {
	for _, batch := range []int{1, 10} {
		t.Run(fmt.Sprintf("batch_size=%d", batch), func(t *testing.T) {
			e := newEnv(t, mailchimp.Options{})
			e.emu.Require(list, "FNAME")
			e.emu.Forget("p4@example.com")
			chs := e.creates(20, "r")
			chs[11] = e.Change(schemas.OpCreate, 11, "p11@example.com", "")
			e.Produce(chs...)
			r := e.start(e.config(batch), nil)
			e.caughtUp()
			r.Stop()
			es := e.DLQEntries("sink.news")
			var forgotten, merge int
			for _, en := range es {
				if en.Reason != "rejected" {
					t.Errorf("DLQ entry %+v, want rejected", en)
				}
				if strings.Contains(en.Error, "was permanently deleted and cannot be re-imported") {
					forgotten++
				}
				if strings.Contains(en.Error, "FNAME: Please enter a value") {
					merge++
				}
			}
			if len(es) != 2 || forgotten != 1 || merge != 1 {
				t.Errorf("DLQ entries %+v, want the forgotten address and the missing FNAME", es)
			}
			if n := len(e.live()); n != 18 {
				t.Errorf("%d members, want 18", n)
			}
		})
	}
}

// A key Mailchimp refuses stops the sink, without the key.
func TestRefusedKeyStops(t *testing.T) {
	e := newEnv(t, mailchimp.Options{})
	e.Produce(e.creates(1, "a")...)
	cfg := e.config(1)
	cfg.APIKey = "revoked99-us9"
	s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
	defer cancel()
	err = s.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "sinks[].mailchimp.api_key") || strings.Contains(err.Error(), "revoked99") {
		t.Fatalf("Run with a refused key: %v", err)
	}
}

package mailchimp

import (
	"fmt"
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
	*saastest.Emulated[*mailchimp.Server]
}

func newEnv(t testing.TB, o mailchimp.Options) *env {
	t.Helper()
	o.APIKey = "0123abcd-us9"
	emu := mailchimp.New(o)
	emu.AddList(list)
	return &env{saastest.WithEmulator(t, emu)}
}

func (e *env) config(batch int) Config {
	return Config{
		Name: "news", APIKey: "0123abcd-us9", BaseURL: e.URL, ListID: list, BatchSize: batch,
		Fields: map[string]sinksaas.Property{
			"email_address": {From: "email", Transform: "email", Required: true},
			"FNAME":         {From: "first_name"},
			"SOURCE":        {Value: "syncline"},
		},
		RequestsPerSecond: 1000, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		Stream: e.Stream(),
	}
}

func (e *env) harness(cfg Config) saastest.Harness {
	stats := e.Emu.WriteStats
	return e.NewHarness("news", func(dir string) (*sinksaas.Engine, error) {
		cfg.StateDir = dir
		s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
		if err != nil {
			return nil, err
		}
		return s.Engine, nil
	}, func() int { return stats().Calls }, func() int { return stats().Creates })
}

// live returns the members that are not archived, by address.
func (e *env) live() map[string]mailchimp.Member {
	out := map[string]mailchimp.Member{}
	for _, m := range e.Emu.Members(list) {
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
			h := e.harness(e.config(batch))
			written := e.Written(h, 150)
			ms := e.live()
			if len(ms) != 148 {
				t.Fatalf("%d live members, want 148", len(ms))
			}
			if m := ms["p3@example.com"]; m.Status != "subscribed" || m.MergeFields["FNAME"] != "renamed" || m.MergeFields["SOURCE"] != "syncline" {
				t.Errorf("member 3 = %+v", m)
			}
			last := e.Emu.LastWrite(list, mailchimp.SubscriberHash("p20@example.com"))
			if mf, _ := last["merge_fields"].(map[string]any); len(mf) != 1 || mf["FNAME"] != "changed" {
				t.Errorf("the update of record 20 sent %v, want only FNAME", last)
			}
			ws := e.Emu.WriteStats()
			if ws.Creates != 150 || ws.Archives != 2 {
				t.Errorf("write stats %+v, want 150 creates and 2 archives", ws)
			}
			if batch > 1 && (ws.Batches == 0 || ws.Calls > 10) {
				t.Errorf("write stats %+v, want a few batch calls", ws)
			}
			e.ReplayAndRerun(h, 150, written)
		})
	}
}

// A changed address moves the member (PUT at the ledger's hash): no
// second member.
func TestChangedAddressMovesMember(t *testing.T) {
	e := newEnv(t, mailchimp.Options{})
	e.Produce(e.Creates(3, "a")...)
	e.Produce(e.Change(schemas.OpUpdate, 1, "new1@example.com", "a"))
	e.RunOnce(e.harness(e.config(100)))
	e.Produce(e.Change(schemas.OpUpdate, 2, "new2@example.com", "a"))
	e.RunOnce(e.harness(e.config(100)))
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
			e.CrashThenResume(e.harness(e.config(batch)), 60)
			if ms := e.live(); len(ms) != 60 || ms["p7@example.com"].MergeFields["FNAME"] != "newer" {
				t.Errorf("%d members, member 7 %v; want 60, named newer", len(ms), ms["p7@example.com"].MergeFields)
			}
		})
	}
}

// 429s (injected, and past 2 simultaneous connections) and 5xx storms
// lose nothing.
func TestStormLosesNothing(t *testing.T) {
	e := newEnv(t, mailchimp.Options{MaxConnections: 2})
	e.Emu.FailEvery(4, faults.Server5xx)
	e.Emu.Inject(faults.Limit, faults.Limit, faults.Server5xx)
	cfg := e.config(1)
	cfg.MaxConcurrent = 6
	e.Produce(e.Creates(120, "s")...)
	e.RunOnce(e.harness(cfg))
	if ws := e.Emu.WriteStats(); ws.Creates != 120 || len(e.live()) != 120 {
		t.Errorf("write stats %+v, want 120 creates", ws)
	}
	if st := e.Emu.Stats(); st.Faults < 5 {
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
			e.Emu.Require(list, "FNAME")
			e.Emu.Forget("p4@example.com")
			chs := e.Creates(20, "r")
			chs[11] = e.Change(schemas.OpCreate, 11, "p11@example.com", "")
			e.Produce(chs...)
			e.RunOnce(e.harness(e.config(batch)))
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
	e.Produce(e.Creates(1, "a")...)
	cfg := e.config(1)
	cfg.APIKey = "revoked99-us9"
	s, err := New(cfg, e.Opts(), e.Serde, e.M, e.Logger())
	if err = e.Stopped(s.Engine, err); err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "sinks[].mailchimp.api_key") || strings.Contains(err.Error(), "revoked99") {
		t.Fatalf("Run with a refused key: %v", err)
	}
}

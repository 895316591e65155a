package hubspot

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/dlq"
	"syncline/internal/emulator/hubspot"
	"syncline/internal/testenv"
	"syncline/internal/topics"
	"syncline/schemas"
	sinksaas "syncline/sink/saas"
	"syncline/sink/saas/saastest"
)

func (e *env) dlqEntries() []dlq.Entry { e.T.Helper(); return e.DLQEntries("sink.crm") }

func (e *env) dlqAdmin() *dlq.Admin { return e.DLQAdmin() }

func (e *env) waitLive(n int) {
	e.T.Helper()
	testenv.WaitFor(e.T, 60*time.Second, fmt.Sprintf("%d live contacts", n), func() bool {
		live := 0
		for _, o := range e.emu.Objects("contacts") {
			if !o.Archived {
				live++
			}
		}
		return live == n
	})
}

func (e *env) creates(n int, format string) []*schemas.Change {
	var chs []*schemas.Change
	for i := range n {
		chs = append(chs, e.Change(schemas.OpCreate, int32(i), fmt.Sprintf(format, i), "x"))
	}
	return chs
}

// A batch HubSpot refuses whole with a 409, 413 or 422 (for one of its
// inputs) is bisected down to the refused inputs, which are parked with
// reason rejected and HubSpot's message; the rest is written.
func TestRefusedBatchesAreBisected(t *testing.T) {
	for _, status := range []int{http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity} {
		t.Run(fmt.Sprintf("status %d", status), func(t *testing.T) {
			e := newEnv(t, hubspot.Options{})
			e.emu.RefuseInputs(status, "r3@example.com", "r11@example.com")
			e.Produce(e.creates(20, "r%d@example.com")...)
			r := e.start(e.config(), nil)
			e.caughtUp()
			r.Stop()
			if n := len(e.live()); n != 18 {
				t.Errorf("%d live contacts, want 18", n)
			}
			if ws := e.emu.WriteStats(); ws.Creates != 18 || ws.Refused < 2 {
				t.Errorf("write stats %+v, want 18 creates and the refused batches", ws)
			}
			es := e.dlqEntries()
			if len(es) != 2 {
				t.Fatalf("%d DLQ entries (%+v), want 2", len(es), es)
			}
			for _, en := range es {
				if en.Reason != "rejected" || !strings.Contains(en.Error, fmt.Sprintf("HTTP %d", status)) || !strings.Contains(en.Error, "refused") || !en.Replayable {
					t.Errorf("DLQ entry %+v, want a replayable rejected entry with HubSpot's %d and message", en, status)
				}
			}
		})
	}
}

// Inputs HubSpot refuses for a transient reason (a 207 entry with category
// RATE_LIMITS) go to the retry queue and are written after a backoff; the
// queue survives a restart with an empty store (it is restored from its
// topic); a row refused every time goes to the DLQ as retries_exhausted
// after the configured attempts, and `dlq replay` re-delivers it.
func TestTransientRowsAreRetried(t *testing.T) {
	e := newEnv(t, hubspot.Options{})
	e.emu.TransientInputErrors(2, "RATE_LIMITS", "t1@example.com", "t7@example.com")
	e.emu.TransientInputErrors(1000, "RATE_LIMITS", "t9@example.com")
	e.Produce(e.creates(10, "t%d@example.com")...)
	cfg := e.config()
	cfg.Retry = sinksaas.RetryPolicy{MaxAttempts: 4, InitialBackoff: 2 * time.Second, MaxBackoff: 4 * time.Second}
	r := e.start(cfg, nil)
	e.caughtUp()
	// The first attempt committed: 7 written, 3 waiting. Stop before the
	// backoff ends; a new process with an empty store takes over.
	r.Stop()
	if n := len(e.live()); n != 7 {
		t.Fatalf("%d live contacts after the first attempt, want 7", n)
	}
	cfg.StateDir = t.TempDir()
	r2 := e.start(cfg, nil)
	e.waitLive(9)
	testenv.WaitFor(t, 60*time.Second, "the DLQ entry of t9", func() bool { return len(e.dlqEntries()) == 1 })
	r2.Stop()
	ws := e.emu.WriteStats()
	if ws.Creates != 9 || ws.Transient != 2+2+4 {
		t.Errorf("write stats %+v, want 9 creates and 8 transient refusals (2 + 2 + 4 attempts of t9)", ws)
	}
	for id, w := range e.emu.ObjectWrites("contacts") {
		if w.Creates != 1 {
			t.Errorf("object %d created %d times", id, w.Creates)
		}
	}
	en := e.dlqEntries()[0]
	if en.Reason != "retries_exhausted" || !strings.Contains(en.Error, "refused 4 times") || !strings.Contains(en.Error, "RATE_LIMITS") ||
		en.Topic != topics.Change("syncline", "app", "public", "people") || !en.Replayable {
		t.Errorf("DLQ entry %+v, want retries_exhausted after 4 attempts naming the change topic", en)
	}
	// The retry queue's records carry the attempt and the last error.
	attempts := map[string]bool{}
	cl, err := kgo.NewClient(append(e.Opts(), kgo.ConsumeTopics(sinksaas.RetryTopic("syncline", "crm")), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	testenv.WaitFor(t, 20*time.Second, "retry queue records with attempts 1 to 3", func() bool {
		cl.PollFetches(e.Ctx).EachRecord(func(r *kgo.Record) {
			var a, msg string
			for _, h := range r.Headers {
				switch h.Key {
				case "syncline.retry.attempt":
					a = string(h.Value)
				case "syncline.retry.error":
					msg = string(h.Value)
				}
			}
			if r.Value != nil && strings.Contains(msg, "RATE_LIMITS") {
				attempts[a] = true
			}
		})
		return attempts["1"] && attempts["2"] && attempts["3"]
	})

	// Replay the parked row once HubSpot accepts it.
	e.emu.TransientInputErrors(0, "RATE_LIMITS", "t9@example.com")
	res, err := e.dlqAdmin().Replay(e.Ctx, []int64{en.Offset}, false)
	if err != nil || len(res) != 1 || res[0].Error != "" {
		t.Fatalf("replay: %v %+v", err, res)
	}
	r3 := e.start(cfg, nil)
	e.waitLive(10)
	r3.Stop()
	if ws := e.emu.WriteStats(); ws.Creates != 10 {
		t.Errorf("%d creates after the replay, want 10", ws.Creates)
	}
}

// A change of id_property's value updates the object by the id the ledger
// holds: a crash after the update and before the commit re-sends the same
// update, and no second object is created. An object deleted in HubSpot
// meanwhile is created anew.
func TestRenameRetriedBeforeCommitUpdatesTheSameObject(t *testing.T) {
	e := newEnv(t, hubspot.Options{})
	e.Produce(e.Change(schemas.OpCreate, 1, "old@example.com", "a"), e.Change(schemas.OpCreate, 2, "two@example.com", "b"))
	r := e.start(e.config(), nil)
	e.caughtUp()
	r.Stop()
	e.Produce(e.Change(schemas.OpUpdate, 1, "new@example.com", "a"))
	hook, crashed := saastest.CrashBeforeCommit()
	r2 := e.start(e.config(), hook)
	<-crashed
	r2.Stop()
	if ws := e.emu.WriteStats(); ws.UpdateCalls == 0 {
		t.Fatal("the crashed batch made no update; the test proves nothing")
	}
	r3 := e.start(e.config(), nil)
	e.caughtUp()
	r3.Stop()
	live := e.live()
	if _, ok := live["new@example.com"]; !ok || len(live) != 2 {
		t.Errorf("live contacts %v, want new@example.com and two@example.com", live)
	}
	if ws := e.emu.WriteStats(); ws.Creates != 2 || ws.Updates < 2 {
		t.Errorf("write stats %+v, want 2 creates (no duplicate) and the update sent twice", ws)
	}

	// Object 2 is deleted in HubSpot; its next change creates it again.
	id := live["two@example.com"].ID
	if err := e.emu.Archive("contacts", id, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.Produce(e.Change(schemas.OpUpdate, 2, "two@example.com", "b2"))
	r4 := e.start(e.config(), nil)
	e.caughtUp()
	r4.Stop()
	live = e.live()
	if o := live["two@example.com"]; o.ID == id || o.Properties["firstname"] != "b2" || o.Properties["lifecyclestage"] != "lead" {
		t.Errorf("two@example.com is %+v, want a new object with every property", o)
	}
}

// A delete of a record the ledger has no entry for (written before the
// sink existed, or by someone else) looks the object up by id_property and
// archives it; one HubSpot does not hold, or whose before image lacks the
// property, is counted as not_found.
func TestDeleteWithoutLedgerEntry(t *testing.T) {
	e := newEnv(t, hubspot.Options{})
	pre := e.emu.Create("contacts", map[string]string{"email": "pre@example.com"}, time.Now())
	other := e.emu.Create("contacts", map[string]string{"email": "other@example.com"}, time.Now())
	del := func(id int32, email any) *schemas.Change {
		ch := e.Change(schemas.OpDelete, id, "", "")
		ch.Before["email"] = email
		return ch
	}
	e.Produce(del(1, "PRE@example.com"), del(2, "absent@example.com"), del(3, nil))
	r := e.start(e.config(), nil)
	e.caughtUp()
	r.Stop()
	for _, o := range e.emu.Objects("contacts") {
		if want := o.ID == pre; o.Archived != want {
			t.Errorf("contact %d (%s) archived=%v, want %v", o.ID, o.Properties["email"], o.Archived, want)
		}
	}
	_ = other
	if ws := e.emu.WriteStats(); ws.ReadCalls != 1 || ws.ArchiveCalls != 1 || ws.Archives != 1 {
		t.Errorf("write stats %+v, want 1 lookup and 1 archive", ws)
	}
	if got := counter(t, e.M.SinkWrites.WithLabelValues("crm", "not_found")); got != 2 {
		t.Errorf("syncline_sink_writes_total{result=not_found} = %v, want 2", got)
	}
	// A replay of the deletes makes no call.
	before := e.emu.WriteStats()
	r2 := e.start(e.config(), nil)
	e.Produce(del(1, "pre@example.com"))
	e.caughtUp()
	r2.Stop()
	if ws := e.emu.WriteStats(); ws.Calls() != before.Calls() {
		t.Errorf("a delete after the archive made %d calls", ws.Calls()-before.Calls())
	}
}

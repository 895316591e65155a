package saas

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
	"syncline/internal/emulator/mailchimp"
	"syncline/internal/emulator/salesforce"
	"syncline/internal/testenv"
	"syncline/schemas"
)

// reconciling is the Mailchimp profile reconciling keys every interval.
func (e *mcEnv) reconciling(name string, interval time.Duration) Config {
	c := e.profile(name, 500)
	c.Objects[0].Deletes.Reconcile.Interval = interval
	c.Objects[0].Deletes.Reconcile.Pagination.Limit = 500
	return c
}

// reconciledAfter waits until a reconciliation that started after at
// is committed (the first one's deferral, which also stores Reconciled,
// does not count).
func (r *running) reconciledAfter(t *testing.T, object string, at time.Time) {
	t.Helper()
	n := r.s.reconciles.Load()
	testenv.WaitFor(t, 3*time.Minute, "a reconciliation after "+at.String(), func() bool {
		select {
		case err := <-r.done:
			t.Fatalf("source stopped: %v", err)
		default:
		}
		r.s.mu.Lock()
		defer r.s.mu.Unlock()
		return r.s.reconciles.Load() > n && r.s.status[object].Reconciled > at.UnixMicro()
	})
}

// gone is the delete a reconciliation emits for a record whose last
// version was at last.
func gone(id string, last time.Time) version {
	return version{id: id, op: schemas.OpDelete, at: last.UnixMicro() + 1}
}

// isKeysPage reports whether r asks for a page of the keys listing at
// offset.
func isKeysPage(r *http.Request, offset string) bool {
	q := r.URL.Query()
	return strings.HasPrefix(q.Get("fields"), "members.id") && q.Get("offset") == offset
}

func TestMailchimpPermanentDeletesAreFoundByKeyReconciliationWithoutFalseDeletes(t *testing.T) {
	e := newMCEnv(t, mailchimp.Options{})
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	e.seed(2500, 500, base)
	cfg := e.reconciling("rc", 200*time.Millisecond)
	r := e.start(e.source(cfg))
	r.settle(t)
	members := e.mc.Members("a1b2c3")
	want := e.want()
	// Permanently deleted between polls: 30 members, and 10 archived
	// ones (deleted already, their op=d is not repeated).
	archived := time.Now().Add(-10 * time.Second).Truncate(time.Second)
	for _, m := range members[1200:1210] {
		if err := e.mc.Update("a1b2c3", m.ID, "archived", nil, archived); err != nil {
			t.Fatal(err)
		}
	}
	r.settle(t)
	for _, m := range append(members[100:120], members[2000:2010]...) {
		want[m.ID] = gone(m.ID, m.LastChanged)
	}
	for _, m := range members[1200:1210] {
		want[m.ID] = version{id: m.ID, op: schemas.OpDelete, at: archived.UnixMicro()}
	}
	// While the keys are listed, as the second page is asked for: five
	// members of the first page are deleted for good (the pages after
	// shift: five members move to the first page's offsets, already
	// read), and members join.
	var during sync.Once
	var mu sync.Mutex
	var joined []string
	e.mc.OnRequest(func(req *http.Request) faults.Kind {
		if isKeysPage(req, "500") {
			during.Do(func() {
				for _, m := range members[10:15] {
					if err := e.mc.DeletePermanent("a1b2c3", m.ID); err != nil {
						t.Error(err)
					}
				}
				mu.Lock()
				defer mu.Unlock()
				for i := range 10 {
					joined = append(joined, e.mc.Add("a1b2c3", fmt.Sprintf("joined%d@example.com", i), "subscribed", nil, time.Now()))
				}
			})
		}
		return ""
	})
	marked := time.Now()
	for _, m := range append(members[100:120], members[2000:2010]...) {
		if err := e.mc.DeletePermanent("a1b2c3", m.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range members[1200:1205] {
		if err := e.mc.DeletePermanent("a1b2c3", m.ID); err != nil {
			t.Fatal(err)
		}
	}
	r.reconciledAfter(t, "newsletter", marked)
	// The members deleted during the listing were listed before they
	// went: the next reconciliation finds them.
	r.reconciledAfter(t, "newsletter", time.Now())
	pastSecond(time.Now())
	r.settle(t)
	r.stop(t)
	for _, m := range members[10:15] {
		want[m.ID] = gone(m.ID, m.LastChanged)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(joined) != 10 {
		t.Fatalf("%d members joined during the listing, want 10", len(joined))
	}
	for _, id := range joined {
		m := e.memberNamed(id)
		want[id] = version{id: id, op: schemas.OpCreate, at: m.LastChanged.UnixMicro()}
	}
	_, versions := e.verify(mcTopic("rc"), want, map[schemas.Op]int{schemas.OpRead: 2500, schemas.OpDelete: 45, schemas.OpCreate: 10})
	for _, id := range joined {
		if vs := versions[id]; len(vs) != 1 || vs[0].op != schemas.OpCreate {
			t.Errorf("member %s joined during the listing: %v", id, vs)
		}
	}
	if !strings.Contains(e.logs.String(), "key reconciliation") {
		t.Error("no reconciliation was logged")
	}
}

func (e *mcEnv) memberNamed(id string) mailchimp.Member {
	for _, m := range e.mc.Members("a1b2c3") {
		if m.ID == id {
			return m
		}
	}
	e.t.Fatalf("no member %s", id)
	return mailchimp.Member{}
}

func TestKeyListingThatFailsMidwayEmitsNoDeletesAndTheNextRunDoes(t *testing.T) {
	for _, fault := range []faults.Kind{faults.Server5xx, faults.Truncated} {
		t.Run(string(fault), func(t *testing.T) {
			e := newMCEnv(t, mailchimp.Options{})
			e.seed(1500, 500, time.Now().Add(-time.Hour).Truncate(time.Second))
			name := "fail" + string(fault[:3])
			r := e.start(e.source(e.reconciling(name, 100*time.Millisecond)))
			r.settle(t)
			want := e.want()
			for _, m := range e.mc.Members("a1b2c3")[200:240] {
				if err := e.mc.DeletePermanent("a1b2c3", m.ID); err != nil {
					t.Fatal(err)
				}
				want[m.ID] = gone(m.ID, m.LastChanged)
			}
			// The listing's last page fails past the retries (12
			// attempts) until the test lets it through.
			var failing atomic.Bool
			var hits atomic.Int64
			failing.Store(true)
			e.mc.OnRequest(func(req *http.Request) faults.Kind {
				if isKeysPage(req, "1000") && failing.Load() {
					hits.Add(1)
					return fault
				}
				return ""
			})
			testenv.WaitFor(t, 3*time.Minute, "two failed listings", func() bool { return hits.Load() >= 24 })
			for _, ch := range e.read(mcTopic(name)) {
				if ch.Op == schemas.OpDelete {
					t.Fatalf("a failed listing emitted a delete of %v", ch.Key)
				}
			}
			if !strings.Contains(e.logs.String(), "no deletes emitted") {
				t.Errorf("the failed listing was not logged: %s", tail(e.logs.String()))
			}
			failing.Store(false)
			r.reconciledAfter(t, "newsletter", time.Now())
			r.stop(t)
			e.verify(mcTopic(name), want, map[schemas.Op]int{schemas.OpRead: 1500, schemas.OpDelete: 40})
		})
	}
}

// Salesforce.

func (e *sfEnv) reconciling(name string, interval time.Duration) Config {
	c := Salesforce{Name: name, InstanceURL: e.url, Token: sfToken, Objects: []ProfileObject{sfAccount}, Polling: fastPolling(), ReconcileInterval: interval}.Config()
	c.Objects[0].Pagination.Limit = 500
	return c
}

func TestKilledSalesforceReconciliationDeletesEachPurgedRecordOnce(t *testing.T) {
	e := newSFEnv(t, salesforce.Options{BatchSize: 500})
	e.seedAccounts(3000, 300, time.Now().Add(-time.Hour).Truncate(time.Second))
	cfg := e.reconciling("purge", 50*time.Millisecond)
	r := e.start(e.source(cfg))
	r.settle(t)
	recs := e.sf.Records("Account")
	// 20 deleted and seen in the recycle bin (op=d) before they are
	// purged: purging them emits nothing more.
	for _, rec := range recs[:20] {
		if err := e.sf.Delete("Account", rec.ID, time.Now().Add(-5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	r.settle(t)
	want := e.want()
	r.stop(t)
	for _, rec := range recs[:20] {
		if err := e.sf.Purge("Account", rec.ID); err != nil {
			t.Fatal(err)
		}
	}
	// 230 purged without being seen deleted: hard deletes, or the
	// recycle bin emptied between polls.
	for _, rec := range recs[500:730] {
		if err := e.sf.Delete("Account", rec.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := e.sf.Purge("Account", rec.ID); err != nil {
			t.Fatal(err)
		}
		want[rec.ID] = gone(rec.ID, rec.SystemModstamp)
	}
	// Killed twice mid-reconciliation, deletes going out 100 a
	// transaction: after the first transaction, and in the first.
	e.crashReconcile(cfg, 2)
	e.crashReconcile(cfg, 1)
	r = e.start(e.source(cfg))
	r.reconciledAfter(t, "account", time.Now())
	r.stop(t)
	e.verify(sfTopic("purge"), want, map[schemas.Op]int{schemas.OpRead: 3000, schemas.OpDelete: 250})
}

// crashReconcile runs cfg until the reconciliation's transaction number
// chunk (of 100 deletes), which it abandons as a killed process would.
func (e *env) crashReconcile(cfg Config, chunk int) {
	e.t.Helper()
	s := e.source(cfg)
	s.reconcileBatch = 100
	s.crash = func() bool { return s.reconcileChunks.Load() == int64(chunk) }
	r := e.start(s)
	select {
	case err := <-r.done:
		r.done <- nil
		if !errors.Is(err, errCrashed) {
			e.t.Fatalf("source stopped with %v before reconciliation transaction %d", err, chunk)
		}
	case <-time.After(2 * time.Minute):
		e.t.Fatalf("no crash at reconciliation transaction %d", chunk)
	}
}

func TestReconciliationAddedToARunningSourceFillsTheKeySetFromTheRawTopic(t *testing.T) {
	e := newMCEnv(t, mailchimp.Options{})
	e.seed(1200, 400, time.Now().Add(-time.Hour).Truncate(time.Second))
	members := e.mc.Members("a1b2c3")
	// Archived before the first sync: an op=d the key set must not hold.
	if err := e.mc.Update("a1b2c3", members[0].ID, "archived", nil, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	want := e.want()
	plain := e.profile("late", 500)
	plain.Objects[0].Deletes.Reconcile = nil
	r := e.start(e.source(plain))
	r.settle(t)
	r.stop(t)
	for _, m := range members[:30] {
		if err := e.mc.DeletePermanent("a1b2c3", m.ID); err != nil {
			t.Fatal(err)
		}
		if m.ID != members[0].ID {
			want[m.ID] = gone(m.ID, m.LastChanged)
		}
	}
	r = e.start(e.source(e.reconciling("late", 100*time.Millisecond)))
	r.reconciledAfter(t, "newsletter", time.Now())
	r.stop(t)
	e.verify(mcTopic("late"), want, map[schemas.Op]int{schemas.OpRead: 1199, schemas.OpDelete: 30})
	if !strings.Contains(e.logs.String(), "filling the key set from the raw topic") {
		t.Error("the key set was not filled from the raw topic")
	}
}

// A listing that lacks more than max_delete_fraction of the keys is taken
// for a short one (a cap, a fault that still parses) and emits nothing;
// a key changed within the grace is not taken for deleted (the listing
// may lag behind the updates). Raising the fraction and the grace's end
// lets both deletes through, each once.
func TestShortListingsAndRecentKeysAreNotTakenForDeletes(t *testing.T) {
	e := newMCEnv(t, mailchimp.Options{})
	e.seed(1000, 500, time.Now().Add(-time.Hour).Truncate(time.Second))
	cfg := e.reconciling("short", 100*time.Millisecond)
	r := e.start(e.source(cfg))
	r.settle(t)
	members := e.mc.Members("a1b2c3")
	// One member changed just now, then deleted for good.
	if err := e.mc.Update("a1b2c3", members[0].ID, "unsubscribed", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	r.settle(t)
	pastSecond(time.Now())
	r.settle(t)
	recent := e.memberNamed(members[0].ID)
	want := e.want()
	for _, m := range members[:600] {
		if err := e.mc.DeletePermanent("a1b2c3", m.ID); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, 2*time.Minute, "a listing taken for a short one", func() bool {
		return strings.Contains(e.logs.String(), "taken for a short listing")
	})
	r.stop(t)
	for _, ch := range e.read(mcTopic("short")) {
		if ch.Op == schemas.OpDelete {
			t.Fatalf("a short listing emitted a delete of %v", ch.Key)
		}
	}
	// 600 of 1000 really went: with max_delete_fraction 1 they are
	// deleted, but the member changed within the grace (a minute) is not.
	cfg.Objects[0].Deletes.Reconcile.MaxDeleteFraction = 1
	r = e.start(e.source(cfg))
	r.reconciledAfter(t, "newsletter", time.Now())
	r.stop(t)
	for _, m := range members[1:600] {
		want[m.ID] = gone(m.ID, m.LastChanged)
	}
	want[recent.ID] = version{id: recent.ID, op: schemas.OpUpdate, at: recent.LastChanged.UnixMicro()}
	e.verify(mcTopic("short"), want, map[schemas.Op]int{schemas.OpRead: 1000, schemas.OpUpdate: 1, schemas.OpDelete: 599})
	// Past the grace it is deleted too.
	cfg.Objects[0].Deletes.Reconcile.Grace = time.Millisecond
	r = e.start(e.source(cfg))
	r.reconciledAfter(t, "newsletter", time.Now())
	r.stop(t)
	want[recent.ID] = gone(recent.ID, recent.LastChanged)
	e.verify(mcTopic("short"), want, map[schemas.Op]int{schemas.OpRead: 1000, schemas.OpUpdate: 1, schemas.OpDelete: 600})
}

package saas

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
	"syncline/internal/emulator/hubspot"
	"syncline/internal/emulator/stripe"
	"syncline/internal/topics"
	"syncline/schemas"
)

const stripeKey = "sk_test_emulator"

type stripeEnv struct {
	*env
	st  *stripe.Server
	url string
}

func newStripeEnv(t *testing.T, o stripe.Options) *stripeEnv {
	e := newEnv(t, hubspot.Options{})
	o.APIKey = stripeKey
	st := stripe.New(o)
	return &stripeEnv{env: e, st: st, url: e.serve(st)}
}

func (e *stripeEnv) profile(name string) Config {
	return Stripe{Name: name, BaseURL: e.url, APIKey: stripeKey, Polling: fastPolling(), Objects: []ProfileObject{
		{Type: "customer", Properties: []string{"email", "balance", "metadata.plan"}, Types: map[string]string{"balance": "int64"}},
	}}.Config()
}

func stripeTopic(source string) string { return topics.Raw("syncline", source, "stripe", "customer") }

// seedCustomers creates n customers, groups of tie created in one second.
func (e *stripeEnv) seedCustomers(n, tie int, base time.Time) []string {
	var ids []string
	for i := range n {
		ids = append(ids, e.st.Create("customer", map[string]any{"email": fmt.Sprintf("c%d@example.com", i), "balance": i, "metadata": map[string]any{"plan": "free"}},
			base.Add(time.Duration(i/tie)*time.Second)))
	}
	return ids
}

// want is what the raw topic must end with: each customer's last
// version, bf being the backfill's position (that of its op=r records):
// a customer not changed since is at bf; one deleted before it is not
// there at all.
func (e *stripeEnv) want(bf int64) map[string]version {
	out := map[string]version{}
	for _, o := range e.st.Objects("customer") {
		v := version{id: o.ID, op: schemas.OpUpdate, at: max(o.Changed.UnixMicro(), bf)}
		if o.Deleted {
			if o.Changed.UnixMicro() <= bf {
				continue
			}
			v.op = schemas.OpDelete
		}
		out[o.ID] = v
	}
	return out
}

// backfillPosition is the position of the backfill's records on chs.
func backfillPosition(t *testing.T, chs []*schemas.Change) int64 {
	t.Helper()
	bf := int64(-1)
	for _, ch := range chs {
		if ch.Op != schemas.OpRead {
			continue
		}
		v := versionOf(ch)
		if bf >= 0 && v.at != bf {
			t.Fatalf("backfilled records at positions %d and %d", bf, v.at)
		}
		bf = v.at
	}
	if bf < 0 {
		t.Fatal("no backfilled records")
	}
	return bf
}

// check reads the customers topic of source and verifies it: each
// customer's last version as want says, none twice, ops counted.
func (e *stripeEnv) check(source string, ops map[schemas.Op]int) ([]*schemas.Change, map[string][]version) {
	e.t.Helper()
	chs := e.read(stripeTopic(source))
	bf := backfillPosition(e.t, chs)
	versions := exactlyOnce(e.t, chs)
	checkLatest(e.t, versions, e.want(bf))
	got := map[schemas.Op]int{}
	for _, ch := range chs {
		got[ch.Op]++
	}
	if !maps.Equal(got, ops) {
		e.t.Errorf("ops %v, want %v", got, ops)
	}
	return chs, versions
}

func TestStripeBackfillKilledTwiceAcross429StormsGivesEachCustomerOnce(t *testing.T) {
	e := newStripeEnv(t, stripe.Options{RatePerSecond: 40})
	// Created 60 days ago: their events are gone, only the list endpoint
	// has them.
	base := time.Now().Add(-60 * 24 * time.Hour).Truncate(time.Second)
	ids := e.seedCustomers(3000, 200, base)
	for i, id := range ids[:100] {
		if err := e.st.Update(id, map[string]any{"email": "same-second@example.com"}, base.Add(time.Duration(i/200)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids[2900:2950] {
		if err := e.st.Delete(id, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	e.st.FailEvery(6, faults.Server5xx)
	e.st.Inject(faults.Limit, faults.Limit, faults.Limit, faults.Limit, faults.Limit, faults.Garbage, faults.Truncated, faults.Server5xx)
	e.crashAt(e.profile("pay"), 5)
	e.crashAt(e.profile("pay"), 11)
	before := e.st.Stats().Listed
	r := e.start(e.source(e.profile("pay")))
	r.settle(t)
	r.stop(t)
	chs, _ := e.check("pay", map[schemas.Op]int{schemas.OpRead: 2950})
	for _, ch := range chs {
		if !strings.HasSuffix(ch.After["email"].(string), "@example.com") || ch.After["metadata_plan"] != "free" || !strings.Contains(ch.After["_raw"].(string), `"object":"customer"`) {
			t.Fatalf("after image %v", ch.After)
		}
		if ch.After["balance"] == int64(5) && ch.After["email"] != "same-second@example.com" {
			t.Errorf("customer 5: the update made in its creation second was lost: %v", ch.After)
		}
	}
	st := e.st.Stats()
	t.Logf("emulator: %+v", st)
	if n := st.Listed - before; n >= 2900 {
		t.Errorf("the last run listed %d customers: the backfill restarted instead of resuming", n)
	}
	if st.Faults < 8 || !strings.Contains(e.logs.String(), "rate_limit") {
		t.Errorf("faults %d: the test did not exercise retries", st.Faults)
	}
}

func TestStripeChangesDuringTheBackfillAreNotLostAndEventsAreReadForwardAfterIt(t *testing.T) {
	e := newStripeEnv(t, stripe.Options{})
	ids := e.seedCustomers(1000, 100, time.Now().Add(-40*24*time.Hour).Truncate(time.Second))
	// Killed on its third page: changes made while it is down are made
	// after the backfill started, to customers it listed already
	// (ids are listed newest first) and to customers it has yet to list.
	e.crashAt(e.profile("mid"), 3)
	now := time.Now()
	listed, unlisted := ids[len(ids)-150:], ids[:300]
	for _, id := range append(slices.Clone(listed[:50]), unlisted[:50]...) {
		if err := e.st.Update(id, map[string]any{"email": "during@example.com"}, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range append(slices.Clone(listed[50:60]), unlisted[50:60]...) {
		if err := e.st.Delete(id, now); err != nil {
			t.Fatal(err)
		}
	}
	during := e.st.Create("customer", map[string]any{"email": "new-during@example.com"}, now)
	r := e.start(e.source(e.profile("mid")))
	pastSecond(now)
	r.settle(t)
	// After the backfill: events read forward.
	later := time.Now()
	for _, id := range unlisted[100:130] {
		if err := e.st.Update(id, map[string]any{"email": "after@example.com"}, later); err != nil {
			t.Fatal(err)
		}
	}
	after := e.st.Create("customer", map[string]any{"email": "new-after@example.com"}, later)
	if err := e.st.Delete(unlisted[200], later); err != nil {
		t.Fatal(err)
	}
	pastSecond(later)
	r.settle(t)
	r.stop(t)
	// Read: the 1000 customers but the 10 deleted before their page.
	// Updates: the 100 made during the backfill (their events come after
	// the backfill's position, also for customers it listed after them)
	// and the 30 after; creates: both new customers; deletes: the 20
	// during and the one after.
	chs, versions := e.check("mid", map[schemas.Op]int{schemas.OpRead: 990, schemas.OpUpdate: 130, schemas.OpCreate: 2, schemas.OpDelete: 21})
	for _, ch := range chs {
		if ch.Op == schemas.OpUpdate && ch.After["email"] != "during@example.com" && ch.After["email"] != "after@example.com" {
			t.Errorf("update %v: %v", ch.Key, ch.After["email"])
		}
	}
	for _, id := range []string{during, after} {
		if vs := versions[id]; len(vs) != 1 || vs[0].op != schemas.OpCreate {
			t.Errorf("customer %s created during or after the backfill: %v", id, vs)
		}
	}
}

// pastSecond waits until the second after at's is over: the events API
// windows end at whole seconds, so events created at at are read by the
// polls after.
func pastSecond(at time.Time) {
	time.Sleep(time.Until(at.Truncate(time.Second).Add(2 * time.Second)))
}

// Types that events name under their parent are listed at the top level.
func TestStripeListPath(t *testing.T) {
	for typ, want := range map[string]string{
		"customer": "/v1/customers", "checkout.session": "/v1/checkout/sessions",
		"customer.subscription": "/v1/subscriptions", "customer.tax_id": "/v1/tax_ids", "payment_intent": "/v1/payment_intents",
	} {
		if got := StripeListPath(typ); got != want {
			t.Errorf("StripeListPath(%q) = %q, want %q", typ, got, want)
		}
	}
	c := Stripe{Name: "s", APIKey: "k", Objects: []ProfileObject{{Type: "customer.subscription"}}}.Config()
	if q := c.Objects[0].Backfill.Request.Query; q["status"] != "all" {
		t.Errorf("subscriptions backfill query %v lacks status=all (canceled ones are listed only so)", q)
	}
}

package saas

import (
	"fmt"
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

func (e *stripeEnv) want() map[string]version {
	out := map[string]version{}
	for _, o := range e.st.Objects("customer") {
		v := version{id: o.ID, op: schemas.OpUpdate, at: o.Changed.UnixMicro()}
		if o.Deleted {
			v.op = schemas.OpDelete
		}
		out[o.ID] = v
	}
	return out
}

func TestStripeSyncAcross429StormsAndKillsLosesAndRepeatsNothing(t *testing.T) {
	e := newStripeEnv(t, stripe.Options{RatePerSecond: 40})
	base := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	ids := e.seedCustomers(3000, 200, base)
	// Before the sync: 100 customers updated in the second they were
	// created (two events of one object sharing a created time), 50
	// deleted.
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
	before := e.st.Stats().Events
	chs := e.synced(e.profile("pay"), stripeTopic("pay"), e.want(), map[schemas.Op]int{schemas.OpRead: 2950, schemas.OpDelete: 50})
	for _, ch := range chs {
		if ch.Op == schemas.OpDelete {
			continue
		}
		if !strings.HasSuffix(ch.After["email"].(string), "@example.com") || ch.After["metadata_plan"] != "free" || !strings.Contains(ch.After["_raw"].(string), `"object":"customer"`) {
			t.Fatalf("after image %v", ch.After)
		}
		if ch.After["balance"] == int64(5) && ch.After["email"] != "same-second@example.com" {
			t.Errorf("customer 5: the update made in its creation second was lost: %v", ch.After)
		}
	}
	st := e.st.Stats()
	t.Logf("emulator: %+v", st)
	if n := st.Events - before; n >= 2900 {
		t.Errorf("the last run read %d events: it restarted instead of resuming", n)
	}
	if st.Faults < 8 || !strings.Contains(e.logs.String(), "rate_limit") {
		t.Errorf("faults %d: the test did not exercise retries", st.Faults)
	}
}

func TestStripeEventsAreReadForwardAsCreatesUpdatesAndDeletes(t *testing.T) {
	e := newStripeEnv(t, stripe.Options{})
	ids := e.seedCustomers(500, 100, time.Now().Add(-time.Hour).Truncate(time.Second))
	r := e.start(e.source(e.profile("inc")))
	r.settle(t)
	at := time.Now().Add(-30 * time.Second)
	for _, id := range ids[:150] {
		if err := e.st.Update(id, map[string]any{"email": "updated@example.com"}, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids[400:430] {
		if err := e.st.Delete(id, at); err != nil {
			t.Fatal(err)
		}
	}
	newID := e.st.Create("customer", map[string]any{"email": "new@example.com"}, at)
	// A product event is not a customer's.
	e.st.Create("product", map[string]any{"name": "Pro"}, at)
	r.settle(t)
	r.stop(t)
	chs, versions := e.verify(stripeTopic("inc"), e.want(), map[schemas.Op]int{schemas.OpRead: 500, schemas.OpUpdate: 150, schemas.OpDelete: 30, schemas.OpCreate: 1})
	for _, ch := range chs {
		if ch.Op == schemas.OpUpdate && ch.After["email"] != "updated@example.com" {
			t.Errorf("update %v: %v", ch.Key, ch.After["email"])
		}
	}
	if vs := versions[newID]; len(vs) != 1 || vs[0].op != schemas.OpCreate {
		t.Errorf("new customer: %v", vs)
	}
}

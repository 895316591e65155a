package saas

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
	"syncline/internal/emulator/hubspot"
	"syncline/internal/emulator/salesforce"
	"syncline/internal/topics"
	"syncline/schemas"
)

// The helpers below are shared by the Salesforce, Stripe, Zendesk and
// Mailchimp profile tests.

// fastPolling is a profile's settings against an emulator: small
// backoffs, no settle delay.
func fastPolling() Polling {
	return Polling{
		Lookback: time.Second, Settle: time.Millisecond, RequestsPerSecond: 500, Burst: 10, MaxConcurrent: 2,
		PollInterval: 50 * time.Millisecond,
		Retry:        Retry{MaxAttempts: 12, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
	}
}

// serve serves h on a local port until the test ends and returns its
// URL.
func (e *env) serve(h http.Handler) string {
	srv := httptest.NewServer(h)
	e.t.Cleanup(srv.Close)
	return srv.URL
}

// synced runs cfg until it polled twice more than needed, stops it and
// verifies topic.
func (e *env) synced(cfg Config, topic string, want map[string]version, ops map[schemas.Op]int) []*schemas.Change {
	e.t.Helper()
	r := e.start(e.source(cfg))
	r.settle(e.t)
	r.stop(e.t)
	chs, _ := e.verify(topic, want, ops)
	return chs
}

// verify reads topic and checks that it holds no (key, version) twice,
// each object's latest version as want says, and the changes ops counts
// by op.
func (e *env) verify(topic string, want map[string]version, ops map[schemas.Op]int) ([]*schemas.Change, map[string][]version) {
	e.t.Helper()
	chs := e.read(topic)
	versions := exactlyOnce(e.t, chs)
	checkLatest(e.t, versions, want)
	got := map[schemas.Op]int{}
	for _, ch := range chs {
		got[ch.Op]++
	}
	if !maps.Equal(got, ops) {
		e.t.Errorf("%s: ops %v, want %v", topic, got, ops)
	}
	return chs, versions
}

// checkLatest checks that versions hold each object's want version as
// its latest: a delete for deleted ones, an upsert at its updated-at for
// the others.
func checkLatest(t *testing.T, versions map[string][]version, want map[string]version) {
	t.Helper()
	if len(versions) != len(want) {
		t.Errorf("%d distinct objects on the raw topic, want %d", len(versions), len(want))
	}
	missing := 0
	for id, w := range want {
		vs := versions[id]
		ok := len(vs) > 0
		if ok {
			last := vs[len(vs)-1]
			ok = last.at == w.at && (last.op == schemas.OpDelete) == (w.op == schemas.OpDelete)
		}
		if !ok {
			if missing++; missing <= 5 {
				t.Errorf("object %s: want latest %v, have %v", id, w, vs)
			}
		}
	}
	if missing > 5 {
		t.Errorf("… %d objects wrong in all", missing)
	}
}

// Salesforce.

const sfToken = "00Dxx0000001gPL!emulator"

type sfEnv struct {
	*env
	sf  *salesforce.Server
	url string
}

func newSFEnv(t *testing.T, o salesforce.Options) *sfEnv {
	e := newEnv(t, hubspot.Options{})
	o.Token = sfToken
	sf := salesforce.New(o)
	return &sfEnv{env: e, sf: sf, url: e.serve(sf)}
}

var sfAccount = ProfileObject{Type: "Account", Properties: []string{"Name", "AnnualRevenue"}, Types: map[string]string{"AnnualRevenue": "float64"}}

func (e *sfEnv) profile(name string) Config {
	return Salesforce{Name: name, InstanceURL: e.url, Token: sfToken, Objects: []ProfileObject{sfAccount}, Polling: fastPolling()}.Config()
}

func sfTopic(source string) string { return topics.Raw("syncline", source, "salesforce", "account") }

// seedAccounts creates n accounts, groups of tie sharing one
// SystemModstamp a second apart.
func (e *sfEnv) seedAccounts(n, tie int, base time.Time) {
	for i := range n {
		e.sf.Create("Account", map[string]any{"Name": fmt.Sprintf("Acme %d", i), "AnnualRevenue": float64(i) * 1000}, base.Add(time.Duration(i/tie)*time.Second))
	}
}

// want is what the raw topic must end with: each account's last state.
func (e *sfEnv) want() map[string]version {
	out := map[string]version{}
	for _, r := range e.sf.Records("Account") {
		v := version{id: r.ID, op: schemas.OpUpdate, at: r.SystemModstamp.UnixMicro()}
		if r.IsDeleted {
			v.op = schemas.OpDelete
		}
		out[r.ID] = v
	}
	return out
}

func TestSalesforceSyncAcrossLimitStormsAndKillsLosesAndRepeatsNothing(t *testing.T) {
	// Batches of 200 over groups of 300 accounts sharing a
	// SystemModstamp; the API limit answers 403 REQUEST_LIMIT_EXCEEDED.
	e := newSFEnv(t, salesforce.Options{BatchSize: 200, RequestLimit: 25, LimitInterval: 300 * time.Millisecond})
	e.seedAccounts(5000, 300, time.Now().Add(-24*time.Hour).Truncate(time.Second))
	e.sf.FailEvery(7, faults.Server5xx)
	e.sf.Inject(faults.Limit, faults.Limit, faults.Limit, faults.Limit, faults.Garbage, faults.Truncated, faults.Server5xx, faults.Slow)
	// Killed twice mid-pagination: the restarts resume from the
	// checkpoint with a new query at the last SystemModstamp read (the
	// stored query locator may have expired).
	e.crashAt(e.profile("sf"), 4)
	e.sf.ExpireLocators()
	e.crashAt(e.profile("sf"), 9)
	e.sf.ExpireLocators()
	before := e.sf.Stats().Rows
	chs := e.synced(e.profile("sf"), sfTopic("sf"), e.want(), map[schemas.Op]int{schemas.OpRead: 5000})
	for _, ch := range chs {
		if ch.Source.System != "salesforce" || ch.Source.Table != "account" {
			t.Fatalf("record op %s source %+v, want r from salesforce Account", ch.Op, ch.Source)
		}
		if !strings.HasPrefix(ch.After["Name"].(string), "Acme ") || !strings.Contains(ch.After["_raw"].(string), `"attributes"`) {
			t.Fatalf("after image %v", ch.After)
		}
	}
	st := e.sf.Stats()
	t.Logf("emulator: %+v", st)
	if n := st.Rows - before; n >= 4700 {
		t.Errorf("the last run read %d rows: it restarted instead of resuming", n)
	}
	if st.Faults < 8 {
		t.Errorf("faults %d: the test did not exercise retries", st.Faults)
	}
	if st.ExpiredLocators != 0 {
		t.Errorf("%d batches were asked of expired query locators: a resumed window used its stored nextRecordsUrl", st.ExpiredLocators)
	}
	if !strings.Contains(e.logs.String(), "REQUEST_LIMIT_EXCEEDED") {
		t.Error("no REQUEST_LIMIT_EXCEEDED retry was logged")
	}
}

func TestSalesforceUpdatesTiesAndDeletesAreReadIncrementally(t *testing.T) {
	e := newSFEnv(t, salesforce.Options{BatchSize: 200})
	e.seedAccounts(1000, 250, time.Now().Add(-time.Hour).Truncate(time.Second))
	r := e.start(e.source(e.profile("inc")))
	r.settle(t)
	recs := e.sf.Records("Account")
	t1 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for i, rec := range recs[:150] {
		at := t1
		if i >= 100 {
			at = t1.Add(time.Millisecond)
		}
		if err := e.sf.Update("Account", rec.ID, map[string]any{"Name": "renamed"}, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, rec := range recs[900:930] {
		if err := e.sf.Delete("Account", rec.ID, t1.Add(2*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	newID := e.sf.Create("Account", map[string]any{"Name": "New Co"}, t1.Add(3*time.Millisecond))
	r.settle(t)
	r.stop(t)
	chs, versions := e.verify(sfTopic("inc"), e.want(), map[schemas.Op]int{schemas.OpRead: 1000, schemas.OpUpdate: 150, schemas.OpDelete: 30, schemas.OpCreate: 1})
	for _, ch := range chs {
		if ch.Op == schemas.OpUpdate && ch.After["Name"] != "renamed" {
			t.Errorf("update %v: Name %v", ch.Key, ch.After["Name"])
		}
	}
	if vs := versions[newID]; len(vs) != 1 || vs[0].op != schemas.OpCreate {
		t.Errorf("new account: %v", vs)
	}
}

package saas

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/hubspot"
	"syncline/internal/testenv"
	"syncline/internal/topics"
	"syncline/schemas"
)

var contacts = HubSpotObject{Type: "contacts", Properties: []string{"email", "firstname", "score"}, Types: map[string]string{"score": "int64"}}

func contactsTopic(source string) string {
	return topics.Raw("syncline", source, "hubspot", "contacts")
}

// seed creates n contacts; groups of tie records share one modification
// time, the groups a second apart, starting at base.
func seed(emu *hubspot.Server, n, tie int, base time.Time) {
	for i := range n {
		ts := base.Add(time.Duration(i/tie) * time.Second)
		emu.Create("contacts", map[string]string{"email": fmt.Sprintf("c%d@example.com", i), "firstname": "F" + strconv.Itoa(i), "score": strconv.Itoa(i)}, ts)
	}
}

func TestFullSyncPastTheSearchCapUnder429sAnd5xxLosesAndRepeatsNothing(t *testing.T) {
	e := newEnv(t, hubspot.Options{RateLimitMax: 30, RateLimitInterval: 200 * time.Millisecond})
	// 25,000 contacts, 300 to a timestamp: page and cap boundaries fall
	// inside groups of records sharing one lastmodifieddate.
	seed(e.emu, 25000, 300, time.Now().Add(-48*time.Hour).Truncate(time.Second))
	e.emu.FailEvery(9, hubspot.Fault5xx)
	e.emu.Inject(hubspot.Fault429, hubspot.Fault429, hubspot.Fault429, hubspot.FaultGarbage, hubspot.FaultTruncated, hubspot.Fault5xx, hubspot.Fault5xx)
	e.syncOnce(e.profile("crm", contacts).Config(), 25000)
	for _, ch := range e.read(contactsTopic("crm")) {
		if ch.Op != schemas.OpRead {
			t.Fatalf("initial sync record op %q, want r", ch.Op)
		}
		if ch.Source.System != "hubspot" || ch.Source.Name != "crm" || ch.Source.Table != "contacts" {
			t.Fatalf("source block %+v", ch.Source)
		}
		if ch.After["email"] != fmt.Sprintf("c%d@example.com", ch.After["score"].(int64)) {
			t.Fatalf("after image %v", ch.After)
		}
		if !strings.Contains(ch.After["_raw"].(string), `"hs_object_id"`) {
			t.Fatalf("_raw %q does not hold the object", ch.After["_raw"])
		}
	}
	st := e.emu.Stats()
	t.Logf("emulator: %+v", st)
	if st.CapRejected != 0 {
		t.Errorf("%d searches were rejected at the 10,000 cap; the window should have been narrowed first", st.CapRejected)
	}
	if st.Faults < 7 || st.Faults+st.RateLimited < 10 {
		t.Errorf("faults injected %d, rate limited %d: the test did not exercise retries", st.Faults, st.RateLimited)
	}
	if !strings.Contains(e.logs.String(), "response body is not JSON") {
		t.Errorf("the garbage body was not reported clearly; logs:\n%s", tail(e.logs.String()))
	}
}

func TestRecordsSharingTimestampsAcrossPagesAndNarrowedWindowsAreNotLost(t *testing.T) {
	// A cap of 500 results per query and pages of 100 over groups of 150
	// records sharing a timestamp: every narrowing restarts inside a group.
	e := newEnv(t, hubspot.Options{SearchCap: 500})
	seed(e.emu, 2000, 150, time.Now().Add(-time.Hour).Truncate(time.Second))
	e.syncOnce(e.capped("ties", 100, 500), 2000)
	if n := e.emu.Stats().CapRejected; n != 0 {
		t.Errorf("%d searches hit the cap", n)
	}
}

func TestMoreRecordsAtOneTimestampThanTheCapAreDrainedInIDOrder(t *testing.T) {
	// 700 contacts modified in one millisecond (a bulk import) under a
	// cap of 300, then 300 more a second apart; the sync is killed twice
	// during the drain.
	e := newEnv(t, hubspot.Options{SearchCap: 300})
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	seed(e.emu, 700, 700, base)
	for i := range 300 {
		e.emu.Create("contacts", map[string]string{"email": fmt.Sprintf("late%d@example.com", i)}, base.Add(time.Duration(i+1)*time.Second))
	}
	for _, at := range []int{5, 3} {
		e.crashAt(e.capped("drain", 100, 300), at)
	}
	e.syncOnce(e.capped("drain", 100, 300), 1000)
	if n := e.emu.Stats().CapRejected; n != 0 {
		t.Errorf("%d searches hit the cap", n)
	}
	if !strings.Contains(e.logs.String(), "draining records that share one updated-at") {
		t.Error("no tie drain was logged")
	}
}

func TestMoreRecordsAtOneTimestampThanTheCapWithoutTieBreakIsAClearError(t *testing.T) {
	e := newEnv(t, hubspot.Options{SearchCap: 300})
	seed(e.emu, 400, 400, time.Now().Add(-time.Hour).Truncate(time.Second))
	c := e.capped("tooMany", 100, 300)
	c.Objects[0].Pagination.TieBreak = false
	r := e.start(e.source(c))
	var err error
	select {
	case err = <-r.done:
		r.done <- nil
	case <-time.After(time.Minute):
		t.Fatal("the source kept running")
	}
	if err == nil || !strings.Contains(err.Error(), "more than 300 records share updated-at") {
		t.Fatalf("got %v, want an error naming the shared timestamp", err)
	}
}

func TestUpdatesAreReadIncrementallyAndArchivedObjectsAreDeletes(t *testing.T) {
	e := newEnv(t, hubspot.Options{RateLimitMax: 50, RateLimitInterval: 100 * time.Millisecond})
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	seed(e.emu, 1000, 250, base)
	r := e.start(e.source(e.profile("inc", contacts).Config()))
	r.settle(t)

	// Updates: 100 contacts at one new timestamp, 50 more a millisecond
	// later; 30 archived.
	objs := e.emu.Objects("contacts")
	t1 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for i, o := range objs[:150] {
		at := t1
		if i >= 100 {
			at = t1.Add(time.Millisecond)
		}
		if err := e.emu.Update("contacts", o.ID, map[string]string{"firstname": "updated"}, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range objs[900:930] {
		if err := e.emu.Archive("contacts", o.ID, t1.Add(2*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	// A contact created after the initial sync.
	newID := e.emu.Create("contacts", map[string]string{"email": "new@example.com", "score": "7"}, t1.Add(3*time.Millisecond))
	r.settle(t)
	r.stop(t)

	chs := e.read(contactsTopic("inc"))
	versions := exactlyOnce(t, chs)
	checkCurrent(t, e.emu, "contacts", versions)
	ops := map[schemas.Op]int{}
	for _, ch := range chs {
		ops[ch.Op]++
		if ch.Op == schemas.OpUpdate && ch.After["firstname"] != "updated" {
			t.Errorf("update of %v: firstname %v", ch.Key["id"], ch.After["firstname"])
		}
	}
	if ops[schemas.OpRead] != 1000 || ops[schemas.OpUpdate] != 150 || ops[schemas.OpDelete] != 30 || ops[schemas.OpCreate] != 1 {
		t.Errorf("ops %v, want 1000 r, 150 u, 30 d, 1 c", ops)
	}
	if vs := versions[strconv.FormatInt(newID, 10)]; len(vs) != 1 || vs[0].op != schemas.OpCreate {
		t.Errorf("new contact: %v", vs)
	}
}

func TestKilledSyncResumesWithoutLosingOrRepeating(t *testing.T) {
	e := newEnv(t, hubspot.Options{})
	seed(e.emu, 5000, 120, time.Now().Add(-time.Hour).Truncate(time.Second))
	cfg := e.profile("kill", contacts)
	cfg.PageSize = 100
	for _, at := range []int{7, 13, 4} {
		e.crashAt(cfg.Config(), at)
	}
	before := e.emu.Stats().Searches
	e.syncOnce(cfg.Config(), 5000)
	// 50 pages in all; three killed runs committed 6+12+3 of them, so a
	// resumed sync needs about 29 searches for the rest plus the polls of
	// settle, a restarted one 50 or more.
	if n := e.emu.Stats().Searches - before; n >= 45 {
		t.Errorf("the last run made %d searches: the sync restarted instead of resuming", n)
	}
}

func TestCancelledMidSyncResumes(t *testing.T) {
	e := newEnv(t, hubspot.Options{})
	seed(e.emu, 3000, 50, time.Now().Add(-time.Hour).Truncate(time.Second))
	cfg := e.profile("cancel", contacts)
	cfg.PageSize = 100
	for range 3 {
		r := e.start(e.source(cfg.Config()))
		n := e.emu.Stats().Searches
		testenv.WaitFor(t, 2*time.Minute, "five searches", func() bool { return e.emu.Stats().Searches >= n+5 })
		r.stop(t)
	}
	e.syncOnce(cfg.Config(), 3000)
}

func TestOAuth2TokenIsRefreshedAfter401(t *testing.T) {
	e := newEnv(t, hubspot.Options{ClientID: "app", ClientSecret: "s3cret", TokenTTL: time.Hour})
	seed(e.emu, 300, 10, time.Now().Add(-time.Hour).Truncate(time.Second))
	cfg := e.profile("oauth", contacts)
	cfg.Auth = Auth{Type: "oauth2", TokenURL: e.srv.URL + "/oauth/v1/token", ClientID: "app", ClientSecret: "s3cret"}
	r := e.start(e.source(cfg.Config()))
	r.settle(t)
	e.emu.ExpireTokens()
	o := e.emu.Objects("contacts")[0]
	if err := e.emu.Update("contacts", o.ID, map[string]string{"firstname": "after-rotation"}, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	r.settle(t)
	r.stop(t)
	versions := exactlyOnce(t, e.read(contactsTopic("oauth")))
	checkCurrent(t, e.emu, "contacts", versions)
	if n := e.emu.Stats().Unauthorized; n == 0 {
		t.Errorf("no request was refused: the token was not rotated")
	}
	if strings.Contains(e.logs.String(), "s3cret") {
		t.Errorf("the client secret was logged")
	}
}

func TestWrongTokenIsAClearErrorAndNoRecords(t *testing.T) {
	e := newEnv(t, hubspot.Options{})
	seed(e.emu, 10, 1, time.Now().Add(-time.Hour))
	cfg := e.profile("badtoken", contacts)
	cfg.Token = "wrong-token"
	r := e.start(e.source(cfg.Config()))
	testenv.WaitFor(t, 2*time.Minute, "a 401 in the logs", func() bool { return strings.Contains(e.logs.String(), "HTTP 401") })
	r.stop(t)
	if strings.Contains(e.logs.String(), "wrong-token") {
		t.Errorf("the token was logged")
	}
	if chs := e.read(contactsTopic("badtoken")); len(chs) != 0 {
		t.Errorf("%d records without authentication", len(chs))
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}

func TestLateIndexedWritesAreReadThroughTheLookback(t *testing.T) {
	// Search sees a write 300 ms after it was made; a contact modified
	// (by its own clock) before the cursor shows up only after it.
	e := newEnv(t, hubspot.Options{IndexLag: 300 * time.Millisecond})
	seed(e.emu, 200, 10, time.Now().Add(-time.Hour).Truncate(time.Second))
	cfg := e.profile("late", contacts)
	cfg.Lookback = time.Minute
	r := e.start(e.source(cfg.Config()))
	onTopic := func(id int64) bool {
		for _, ch := range e.read(contactsTopic("late")) {
			if ch.Key["id"] == strconv.FormatInt(id, 10) {
				return true
			}
		}
		return false
	}
	b := e.emu.Create("contacts", map[string]string{"email": "b@example.com"}, time.Now().Add(-10*time.Second))
	testenv.WaitFor(t, time.Minute, "contact b on the raw topic", func() bool { return onTopic(b) })
	a := e.emu.Objects("contacts")[0]
	if err := e.emu.Update("contacts", a.ID, map[string]string{"firstname": "late"}, time.Now().Add(-20*time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the index lag
	r.settle(t)
	r.stop(t)
	versions := exactlyOnce(t, e.read(contactsTopic("late")))
	checkCurrent(t, e.emu, "contacts", versions)
	if n := len(versions[strconv.FormatInt(a.ID, 10)]); n != 2 {
		t.Errorf("contact a has %d versions, want 2 (the read and the late update)", n)
	}
}

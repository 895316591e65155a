package saas

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
	"syncline/internal/emulator/hubspot"
	"syncline/internal/emulator/zendesk"
	"syncline/internal/topics"
	"syncline/schemas"
)

type zdEnv struct {
	*env
	zd  *zendesk.Server
	url string
}

func newZDEnv(t *testing.T, o zendesk.Options) *zdEnv {
	e := newEnv(t, hubspot.Options{})
	o.Email, o.APIToken = "ops@example.com", "zd-token"
	zd := zendesk.New(o)
	return &zdEnv{env: e, zd: zd, url: e.serve(zd)}
}

func (e *zdEnv) profile(name string, perPage int) Config {
	c := Zendesk{Name: name, BaseURL: e.url, Email: "ops@example.com", APIToken: "zd-token", Polling: fastPolling(), Objects: []ProfileObject{
		{Type: "tickets", Properties: []string{"subject", "status", "requester_id"}, Types: map[string]string{"requester_id": "int64"}},
		{Type: "users", Properties: []string{"email"}},
	}}.Config()
	for i := range c.Objects {
		c.Objects[i].Pagination.Limit = perPage
	}
	return c
}

func zdTopic(source, typ string) string { return topics.Raw("syncline", source, "zendesk", typ) }

func (e *zdEnv) seed(typ string, n, tie int, base time.Time) {
	for i := range n {
		e.zd.Create(typ, map[string]any{"subject": fmt.Sprintf("help %d", i), "email": fmt.Sprintf("u%d@example.com", i), "requester_id": i}, base.Add(time.Duration(i/tie)*time.Second))
	}
}

func (e *zdEnv) want(typ string) map[string]version {
	out := map[string]version{}
	for _, r := range e.zd.Records(typ) {
		id := strconv.FormatInt(r.ID, 10)
		v := version{id: id, op: schemas.OpUpdate, at: r.UpdatedAt.UnixMicro()}
		if r.Deleted {
			v.op = schemas.OpDelete
		}
		out[id] = v
	}
	return out
}

func TestZendeskSyncAcross429StormsAndKillsLosesAndRepeatsNothing(t *testing.T) {
	// The export's own limit (10 a minute, here 5 per 200 ms) answers
	// 429 with Retry-After.
	e := newZDEnv(t, zendesk.Options{ExportsPerMinute: 5, RateInterval: 200 * time.Millisecond})
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	e.seed("tickets", 4000, 250, base)
	e.seed("users", 300, 300, base)
	for _, r := range e.zd.Records("tickets")[:40] {
		if err := e.zd.Delete("tickets", r.ID, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	e.zd.FailEvery(5, faults.Server5xx)
	e.zd.Inject(faults.Limit, faults.Limit, faults.Limit, faults.Garbage, faults.Truncated, faults.Server5xx, faults.Limit)
	e.crashAt(e.profile("desk", 150), 6)
	e.crashAt(e.profile("desk", 150), 12)
	before := e.zd.Stats().Rows
	chs := e.synced(e.profile("desk", 150), zdTopic("desk", "tickets"), e.want("tickets"), map[schemas.Op]int{schemas.OpRead: 3960, schemas.OpDelete: 40})
	for _, ch := range chs {
		if ch.Op == schemas.OpRead && (!strings.HasPrefix(ch.After["subject"].(string), "help ") || ch.After["status"] != "open") {
			t.Fatalf("after image %v", ch.After)
		}
	}
	e.verify(zdTopic("desk", "users"), e.want("users"), map[schemas.Op]int{schemas.OpRead: 300})
	st := e.zd.Stats()
	t.Logf("emulator: %+v", st)
	if n := st.Rows - before; n >= 4000 {
		t.Errorf("the last run read %d rows: it restarted instead of resuming", n)
	}
	if st.Faults < 7 || !strings.Contains(e.logs.String(), "APIRateLimitExceeded") {
		t.Errorf("faults %d: the test did not exercise retries", st.Faults)
	}
}

func TestZendeskIncrementalExportTiesAndDeletes(t *testing.T) {
	e := newZDEnv(t, zendesk.Options{})
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	e.seed("tickets", 600, 200, base)
	e.seed("users", 50, 50, base)
	r := e.start(e.source(e.profile("inc", 100)))
	r.settle(t)
	at := time.Now().Add(-20 * time.Second)
	tickets := e.zd.Records("tickets")
	// 150 tickets updated in one second: page boundaries fall inside it.
	for _, rec := range tickets[:150] {
		if err := e.zd.Update("tickets", rec.ID, map[string]any{"status": "solved"}, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, rec := range tickets[500:520] {
		if err := e.zd.Delete("tickets", rec.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	u := e.zd.Records("users")[0]
	if err := e.zd.Delete("users", u.ID, at); err != nil {
		t.Fatal(err)
	}
	newID := e.zd.Create("tickets", map[string]any{"subject": "new"}, at)
	r.settle(t)
	r.stop(t)
	_, versions := e.verify(zdTopic("inc", "tickets"), e.want("tickets"), map[schemas.Op]int{schemas.OpRead: 600, schemas.OpUpdate: 150, schemas.OpDelete: 20, schemas.OpCreate: 1})
	if vs := versions[strconv.FormatInt(newID, 10)]; len(vs) != 1 || vs[0].op != schemas.OpCreate {
		t.Errorf("new ticket: %v", vs)
	}
	_, users := e.verify(zdTopic("inc", "users"), e.want("users"), map[schemas.Op]int{schemas.OpRead: 50, schemas.OpDelete: 1})
	if vs := users[strconv.FormatInt(u.ID, 10)]; len(vs) != 2 || vs[1].op != schemas.OpDelete {
		t.Errorf("deleted user: %v", vs)
	}
}

package saas

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
	"syncline/internal/emulator/hubspot"
	"syncline/internal/emulator/mailchimp"
	"syncline/internal/topics"
	"syncline/schemas"
)

const mcKey = "0123456789abcdef0123456789abcdef-us6"

type mcEnv struct {
	*env
	mc  *mailchimp.Server
	url string
}

func newMCEnv(t *testing.T, o mailchimp.Options) *mcEnv {
	e := newEnv(t, hubspot.Options{})
	o.APIKey = mcKey
	mc := mailchimp.New(o)
	return &mcEnv{env: e, mc: mc, url: e.serve(mc)}
}

func (e *mcEnv) profile(name string, page int) Config {
	c := Mailchimp{Name: name, BaseURL: e.url, APIKey: mcKey, Polling: fastPolling(), Lists: []MailchimpList{
		{ID: "a1b2c3", Name: "newsletter", Properties: []string{"email_address", "status", "merge_fields.FNAME"}},
	}}.Config()
	c.Objects[0].Pagination.Limit = page
	return c
}

func mcTopic(source string) string { return topics.Raw("syncline", source, "mailchimp", "newsletter") }

func (e *mcEnv) seed(n, tie int, base time.Time) {
	for i := range n {
		e.mc.Add("a1b2c3", fmt.Sprintf("m%d@example.com", i), "subscribed", map[string]any{"FNAME": fmt.Sprintf("F%d", i)}, base.Add(time.Duration(i/tie)*time.Second))
	}
}

func (e *mcEnv) want() map[string]version {
	out := map[string]version{}
	for _, m := range e.mc.Members("a1b2c3") {
		v := version{id: m.ID, op: schemas.OpUpdate, at: m.LastChanged.UnixMicro()}
		if m.Status == "archived" {
			v.op = schemas.OpDelete
		}
		out[m.ID] = v
	}
	return out
}

func TestMailchimpSyncAcross429StormsAndKillsLosesAndRepeatsNothing(t *testing.T) {
	e := newMCEnv(t, mailchimp.Options{MaxConnections: 1})
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	e.seed(4000, 400, base)
	for i, m := range e.mc.Members("a1b2c3")[:60] {
		status := []string{"archived", "unsubscribed", "cleaned"}[i%3]
		if err := e.mc.Update("a1b2c3", m.ID, status, nil, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	e.mc.FailEvery(6, faults.Server5xx)
	e.mc.Inject(faults.Limit, faults.Limit, faults.Limit, faults.Limit, faults.Garbage, faults.Truncated, faults.Server5xx)
	e.crashAt(e.profile("mc", 200), 5)
	e.crashAt(e.profile("mc", 200), 10)
	before := e.mc.Stats().Rows
	chs := e.synced(e.profile("mc", 200), mcTopic("mc"), e.want(), map[schemas.Op]int{schemas.OpRead: 3980, schemas.OpDelete: 20})
	statuses := map[any]int{}
	for _, ch := range chs {
		if ch.Op == schemas.OpRead {
			statuses[ch.After["status"]]++
			if !strings.HasPrefix(ch.After["merge_fields_FNAME"].(string), "F") {
				t.Fatalf("after image %v", ch.After)
			}
		}
	}
	if statuses["unsubscribed"] != 20 || statuses["cleaned"] != 20 || statuses["subscribed"] != 3940 {
		t.Errorf("statuses %v", statuses)
	}
	st := e.mc.Stats()
	t.Logf("emulator: %+v", st)
	if n := st.Rows - before; n >= 4000 {
		t.Errorf("the last run read %d members: it restarted instead of resuming", n)
	}
	if st.Faults < 7 || !strings.Contains(e.logs.String(), "simultaneous connections") {
		t.Errorf("faults %d: the test did not exercise retries", st.Faults)
	}
}

func TestMailchimpMembersChangedSinceTheCursorAndArchivesAreDeletes(t *testing.T) {
	e := newMCEnv(t, mailchimp.Options{})
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	e.seed(700, 350, base)
	r := e.start(e.source(e.profile("inc", 100)))
	r.settle(t)
	// since_last_changed is exclusive: members changed in the second the
	// cursor stands at are found through the lookback.
	at := time.Now().Add(-20 * time.Second)
	members := e.mc.Members("a1b2c3")
	for _, m := range members[:150] {
		if err := e.mc.Update("a1b2c3", m.ID, "", map[string]any{"FNAME": "Renamed"}, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range members[600:625] {
		if err := e.mc.Update("a1b2c3", m.ID, "archived", nil, at); err != nil {
			t.Fatal(err)
		}
	}
	e.mc.Add("a1b2c3", "new@example.com", "subscribed", map[string]any{"FNAME": "New"}, at)
	r.settle(t)
	r.stop(t)
	_, versions := e.verify(mcTopic("inc"), e.want(), map[schemas.Op]int{schemas.OpRead: 700, schemas.OpUpdate: 150, schemas.OpDelete: 25, schemas.OpCreate: 1})
	if vs := versions[mailchimp.SubscriberHash("new@example.com")]; len(vs) != 1 || vs[0].op != schemas.OpCreate {
		t.Errorf("new member: %v", vs)
	}
}

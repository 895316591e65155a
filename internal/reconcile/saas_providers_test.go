package reconcile

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/emulator/faults"
	hsemu "syncline/internal/emulator/hubspot"
	mcemu "syncline/internal/emulator/mailchimp"
	restemu "syncline/internal/emulator/rest"
	sfemu "syncline/internal/emulator/salesforce"
	stemu "syncline/internal/emulator/stripe"
	"syncline/internal/metrics"
	"syncline/schemas"
	"syncline/sink/hubspot"
	"syncline/sink/mailchimp"
	"syncline/sink/rest"
	sinksaas "syncline/sink/saas"
	"syncline/sink/saas/saastest"
	"syncline/sink/salesforce"
	"syncline/sink/stripe"
)

// writes are the writes an emulator applied.
type writes struct{ creates, updates, deletes int }

func (w writes) minus(b writes) writes {
	return writes{w.creates - b.creates, w.updates - b.updates, w.deletes - b.deletes}
}

// provider is one SaaS sink and its emulator, for the drift tests: the
// people's email is the key field, first_name goes to nameField.
type provider struct {
	*saastest.Env
	name      string // the sink's name
	nameField string
	// storm makes the next reads answer the provider's rate-limit (and
	// a server error) answers.
	storm    func()
	start    func(sinksaas.Stream) *saastest.Running
	reader   sinksaas.Reader
	keyField string
	// At the emulator, by email: edit sets the name, remove deletes (or
	// archives) the object, restore brings back the object the sink
	// deleted (nil: the provider cannot), live lists the live objects'
	// names.
	edit    func(email, name string)
	remove  func(email string)
	restore func(email string)
	live    func() map[string]string
	writes  func() writes
}

// wire sets the provider's reader (newReader of cfg) and how its sink
// starts (newSink of cfg with the stream set by stream).
func wire[C any, R sinksaas.Reader, S interface{ Run(context.Context) error }](p *provider, cfg C, stream func(*C) *sinksaas.Stream,
	newReader func(C, *slog.Logger) (R, error), newSink func(C, []kgo.Opt, *schemas.Serde, *metrics.Metrics, *slog.Logger) (S, error)) {
	rd, err := newReader(cfg, p.Logger())
	p.fatal(err)
	p.reader = rd
	p.start = func(st sinksaas.Stream) *saastest.Running {
		c := cfg
		*stream(&c) = st
		s, err := newSink(c, p.Opts(), p.Serde, p.M, p.Logger())
		p.fatal(err)
		return p.Go(s.Run)
	}
}

func (p *provider) fatal(err error) {
	p.T.Helper()
	if err != nil {
		p.T.Fatal(err)
	}
}

func newHubSpot(t *testing.T) *provider {
	emu := hsemu.New(hsemu.Options{Token: "pat-test"})
	e := saastest.WithEmulator(t, emu)
	cfg := hubspotConfig(e.URL)
	p := &provider{Env: e.Env, name: "crm", nameField: "firstname", keyField: "email"}
	p.storm = func() { emu.Inject(hsemu.Fault429, hsemu.Fault5xx) }
	wire(p, cfg, func(c *hubspot.Config) *sinksaas.Stream { return &c.Stream },
		func(c hubspot.Config, log *slog.Logger) (*hubspot.Reader, error) {
			return hubspot.NewReader(c, nil, log)
		}, hubspot.New)
	idOf := func(email string, archived bool) int64 {
		for _, o := range emu.Objects("contacts") {
			if o.Properties["email"] == email && o.Archived == archived {
				return o.ID
			}
		}
		t.Fatalf("no HubSpot contact %s (archived %v)", email, archived)
		return 0
	}
	p.edit = func(email, name string) {
		p.fatal(emu.Update("contacts", idOf(email, false), map[string]string{"firstname": name}, time.Now()))
	}
	p.remove = func(email string) { p.fatal(emu.Archive("contacts", idOf(email, false), time.Now())) }
	p.restore = func(email string) { p.fatal(emu.Restore("contacts", idOf(email, true), time.Now())) }
	p.live = func() map[string]string {
		out := map[string]string{}
		for email, o := range emu.Live("contacts", "email") {
			out[email] = o.Properties["firstname"]
		}
		return out
	}
	p.writes = func() writes { ws := emu.WriteStats(); return writes{ws.Creates, ws.Updates, ws.Archives} }
	return p
}

func newStripe(t *testing.T) *provider {
	emu := stemu.New(stemu.Options{APIKey: "sk_test_diff"})
	e := saastest.WithEmulator(t, emu)
	cfg := stripe.Config{
		Name: "billing", BaseURL: e.URL, APIKey: "sk_test_diff", KeyField: "email",
		Fields: map[string]sinksaas.Property{
			"email":         {From: "email", Transform: "email", Required: true},
			"name":          {From: "first_name"},
			"metadata.plan": {Value: "free"},
		},
		RequestsPerSecond: 1000, Burst: 10, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
	}
	p := &provider{Env: e.Env, name: "billing", nameField: "name", keyField: "email"}
	p.storm = func() { emu.Inject(faults.Limit, faults.Limit, faults.Server5xx) }
	wire(p, cfg, func(c *stripe.Config) *sinksaas.Stream { return &c.Stream }, stripe.NewReader, stripe.New)
	idOf := func(email string) string {
		for _, c := range emu.Customers() {
			if c.Fields["email"] == email {
				return c.ID
			}
		}
		t.Fatalf("no Stripe customer %s", email)
		return ""
	}
	p.edit = func(email, name string) { p.fatal(emu.Update(idOf(email), map[string]any{"name": name}, time.Now())) }
	p.remove = func(email string) { p.fatal(emu.Delete(idOf(email), time.Now())) }
	p.live = func() map[string]string {
		out := map[string]string{}
		for _, c := range emu.Customers() {
			email, _ := c.Fields["email"].(string)
			out[email], _ = c.Fields["name"].(string)
		}
		return out
	}
	p.writes = func() writes { ws := emu.WriteStats(); return writes{ws.Creates, ws.Updates, ws.Deletes} }
	return p
}

func newSalesforce(t *testing.T) *provider {
	emu := sfemu.New(sfemu.Options{Token: "sf-diff"})
	e := saastest.WithEmulator(t, emu)
	cfg := salesforce.Config{
		Name: "sf", InstanceURL: e.URL, AccessToken: "sf-diff", SObject: "Contact", ExternalIDField: "Email",
		Fields: map[string]sinksaas.Property{
			"Email":     {From: "email", Transform: "email", Required: true},
			"FirstName": {From: "first_name"},
		},
		RequestsPerSecond: 1000, Burst: 10, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
	}
	p := &provider{Env: e.Env, name: "sf", nameField: "FirstName", keyField: "Email"}
	p.storm = func() { emu.Inject(faults.Limit, faults.Limit, faults.Server5xx) }
	wire(p, cfg, func(c *salesforce.Config) *sinksaas.Stream { return &c.Stream }, salesforce.NewReader, salesforce.New)
	idOf := func(email string, deleted bool) string {
		for _, r := range emu.Records("Contact") {
			if r.Fields["Email"] == email && r.IsDeleted == deleted {
				return r.ID
			}
		}
		t.Fatalf("no Salesforce Contact %s (deleted %v)", email, deleted)
		return ""
	}
	p.edit = func(email, name string) {
		p.fatal(emu.Update("Contact", idOf(email, false), map[string]any{"FirstName": name}, time.Now()))
	}
	p.remove = func(email string) { p.fatal(emu.Delete("Contact", idOf(email, false), time.Now())) }
	p.restore = func(email string) { p.fatal(emu.Undelete("Contact", idOf(email, true), time.Now())) }
	p.live = func() map[string]string {
		out := map[string]string{}
		for _, r := range emu.Live("Contact") {
			email, _ := r.Fields["Email"].(string)
			out[email], _ = r.Fields["FirstName"].(string)
		}
		return out
	}
	p.writes = func() writes { ws := emu.WriteStats(); return writes{ws.Creates, ws.Updates, ws.Deletes} }
	return p
}

func newMailchimp(t *testing.T) *provider {
	const list = "a1b2c3d4e5"
	emu := mcemu.New(mcemu.Options{APIKey: "mc-diff-us1"})
	emu.AddList(list)
	e := saastest.WithEmulator(t, emu)
	cfg := mailchimp.Config{
		Name: "news", BaseURL: e.URL, APIKey: "mc-diff-us1", ListID: list,
		Fields: map[string]sinksaas.Property{
			"email_address": {From: "email", Transform: "email", Required: true},
			"FNAME":         {From: "first_name"},
		},
		RequestsPerSecond: 1000, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
	}
	p := &provider{Env: e.Env, name: "news", nameField: "FNAME", keyField: "email_address"}
	p.storm = func() { emu.Inject(faults.Limit, faults.Limit, faults.Server5xx) }
	wire(p, cfg, func(c *mailchimp.Config) *sinksaas.Stream { return &c.Stream }, mailchimp.NewReader, mailchimp.New)
	status := func(email, st string) {
		p.fatal(emu.Update(list, mcemu.SubscriberHash(email), st, nil, time.Now()))
	}
	p.edit = func(email, name string) {
		p.fatal(emu.Update(list, mcemu.SubscriberHash(email), "", map[string]any{"FNAME": name}, time.Now()))
	}
	p.remove = func(email string) { status(email, "archived") }
	p.restore = func(email string) { status(email, "subscribed") }
	p.live = func() map[string]string {
		out := map[string]string{}
		for _, m := range emu.Members(list) {
			if m.Status != "archived" {
				out[m.Email], _ = m.MergeFields["FNAME"].(string)
			}
		}
		return out
	}
	p.writes = func() writes { ws := emu.WriteStats(); return writes{ws.Creates, ws.Updates, ws.Archives} }
	return p
}

// An object deleted at the provider, one edited there and (where the
// provider can restore deleted objects) one restored there after the sink
// deleted it are reported, through rate-limit answers and a 5xx; the
// repair goes through the running sink and makes exactly the writes
// needed (counted at the emulator: none for the unchanged record); a
// second diff is in sync, and the same repair records sent again write
// nothing.
func TestSaaSDiffReportsAndRepairsProviderDrift(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func(*testing.T) *provider
		// want are the writes of the repair: re-creating (Stripe,
		// Salesforce) or un-archiving (Mailchimp: an update) the object
		// deleted there, the edited object's update, the restored
		// object's delete.
		want writes
	}{
		{"stripe", newStripe, writes{creates: 1, updates: 1}},
		{"salesforce", newSalesforce, writes{creates: 1, updates: 1, deletes: 1}},
		{"mailchimp", newMailchimp, writes{updates: 2, deletes: 1}},
		{"rest", newREST, writes{creates: 1, updates: 1, deletes: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) { providerDrift(t, tc.new(t), tc.want) })
	}
}

func providerDrift(t *testing.T, p *provider, want writes) {
	st := p.Stream()
	st.RepairTopic = RepairTopic("syncline", p.name)
	group := "syncline-sink-" + p.name
	p.Produce(
		p.Change(schemas.OpCreate, 1, "same@example.com", "Sam"),
		p.Change(schemas.OpCreate, 2, "gone@example.com", "Gina"),
		p.Change(schemas.OpCreate, 3, "edited@example.com", "Eddie"),
		p.Change(schemas.OpCreate, 4, "restored@example.com", "Rita"),
	)
	r := p.start(st)
	p.CaughtUp(group)
	p.Produce(p.Change(schemas.OpDelete, 4, "", ""))
	p.CaughtUp(group)

	d := &SaaSDiff{Sink: p.name, Object: p.name, KeyField: p.keyField, TopicPrefix: "syncline", Kafka: p.Opts(), Reader: p.reader}
	res, err := d.Compare(p.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Drift() != 0 || res.SourceRows != 3 || res.SinkRows != 3 {
		t.Fatalf("before any edit at the provider: drift %d (missing %v, different %v, extra %v), %d ledger records, %d objects; want 0, 3, 3",
			res.Drift(), res.Missing, res.Different, res.Extra, res.SourceRows, res.SinkRows)
	}

	p.edit("edited@example.com", "Edward")
	p.remove("gone@example.com")
	wantExtra := []string(nil)
	if p.restore != nil {
		p.restore("restored@example.com")
		wantExtra = []string{"restored@example.com"}
	}
	p.storm()
	res, err = d.Compare(p.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(res.Missing); len(got) != 1 || got[0] != "gone@example.com" {
		t.Errorf("missing %v, want [gone@example.com]", got)
	}
	if got := keysOf(res.Different); len(got) != 1 || got[0] != "edited@example.com" {
		t.Errorf("different %v, want [edited@example.com]", got)
	}
	if got := keysOf(res.Extra); len(got) != len(wantExtra) || (len(got) == 1 && got[0] != wantExtra[0]) {
		t.Errorf("extra %v, want %v", got, wantExtra)
	}
	if len(res.Properties) != 1 || res.Properties[0].Property != p.nameField || res.Properties[0].Ledger != "Eddie" || res.Properties[0].Provider != "Edward" {
		t.Errorf("properties %+v, want %s: Eddie at the ledger, Edward at the provider", res.Properties, p.nameField)
	}

	drifted := res
	before := p.writes()
	rep, err := d.Repair(p.Ctx, p.Prod, res)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Upserts != 2 || rep.Deletes != len(wantExtra) {
		t.Errorf("repair sent %+v, want 2 upserts and %d deletes", rep, len(wantExtra))
	}
	p.CaughtUpWith(group, st.RepairTopic)
	if got := p.writes().minus(before); got != want {
		t.Errorf("the repair wrote %+v, want %+v", got, want)
	}
	live := p.live()
	if len(live) != 3 || live["same@example.com"] != "Sam" || live["gone@example.com"] != "Gina" || live["edited@example.com"] != "Eddie" {
		t.Errorf("live objects after the repair %v, want same Sam, gone Gina, edited Eddie", live)
	}

	res, err = d.Compare(p.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Drift() != 0 {
		t.Errorf("second diff: drift %d (missing %v, different %v, extra %v), want in sync", res.Drift(), res.Missing, res.Different, res.Extra)
	}

	// The corrected ledger is what the next change is compared with: a
	// rename of the re-created object is one update.
	before = p.writes()
	p.Produce(p.Change(schemas.OpUpdate, 2, "gone@example.com", "Regina"))
	p.CaughtUp(group)
	if got := p.writes().minus(before); got != (writes{updates: 1}) {
		t.Errorf("rename after the repair wrote %+v, want 1 update", got)
	}

	// The same repair records again are stale: nothing is written.
	before = p.writes()
	if _, err := d.Repair(p.Ctx, p.Prod, drifted); err != nil {
		t.Fatal(err)
	}
	p.CaughtUpWith(group, st.RepairTopic)
	r.Stop()
	if got := p.writes().minus(before); got != (writes{}) {
		t.Errorf("stale repair records wrote %+v", got)
	}
	if got := p.live()["gone@example.com"]; got != "Regina" {
		t.Errorf("name %q after a stale repair, want Regina", got)
	}
}

func newREST(t *testing.T) *provider {
	emu := restemu.New(restemu.Options{APIKey: "rest-diff"})
	e := saastest.WithEmulator(t, emu)
	cfg := rest.Config{
		Name: "api", BaseURL: e.URL, Auth: rest.Auth{Type: "api_key", Key: "rest-diff"}, IDField: "email",
		Fields: map[string]sinksaas.Property{
			"email": {From: "email", Transform: "email", Required: true},
			"name":  {From: "first_name"},
		},
		Upsert: rest.Request{Path: "/v1/people/{id}"}, Delete: rest.Request{Path: "/v1/people/{id}"}, Read: rest.Request{Path: "/v1/people/{id}"},
		RequestsPerSecond: 1000, Burst: 10, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
	}
	p := &provider{Env: e.Env, name: "api", nameField: "name", keyField: "email"}
	p.storm = func() { emu.Throttle(1) }
	wire(p, cfg, func(c *rest.Config) *sinksaas.Stream { return &c.Stream }, rest.NewReader, rest.New)
	p.edit = func(email, name string) { emu.SetRecord("people", email, restemu.Record{"name": name}) }
	p.remove = func(email string) { emu.DropRecord("people", email) }
	p.restore = func(email string) { emu.SetRecord("people", email, restemu.Record{"email": email, "name": "Rita"}) }
	p.live = func() map[string]string {
		out := map[string]string{}
		for id, r := range emu.Records("people") {
			out[id], _ = r["name"].(string)
		}
		return out
	}
	p.writes = func() writes { ws := emu.WriteStats(); return writes{ws.Creates, ws.Updates, ws.Deletes} }
	return p
}

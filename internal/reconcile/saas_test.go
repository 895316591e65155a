package reconcile

import (
	"fmt"
	"testing"
	"time"

	emu "syncline/internal/emulator/hubspot"
	"syncline/schemas"
	"syncline/sink/hubspot"
	"syncline/sink/saas/saastest"
)

type saasEnv struct {
	*saastest.Env
	emu *emu.Server
	cfg hubspot.Config
}

func newSaaSEnv(t *testing.T) *saasEnv {
	e := saastest.New(t)
	server := emu.New(emu.Options{Token: "pat-test"})
	srv := server.Start()
	t.Cleanup(srv.Close)
	st := e.Stream()
	st.RepairTopic = RepairTopic("syncline", "crm")
	cfg := hubspot.Config{
		Name: "crm", BaseURL: srv.URL, Token: "pat-test", ObjectType: "contacts", IDProperty: "email",
		Properties: map[string]hubspot.Property{
			"email":     {From: "email", Transform: "email", Required: true},
			"firstname": {From: "first_name"},
		},
		RequestsPerSecond: 1000, Burst: 10, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		Stream: st,
	}
	return &saasEnv{Env: e, emu: server, cfg: cfg}
}

func (e *saasEnv) run() *saastest.Running {
	e.T.Helper()
	s, err := hubspot.New(e.cfg, e.Opts(), e.Serde, e.M, e.Logger())
	if err != nil {
		e.T.Fatal(err)
	}
	return e.Go(s.Run)
}

func (e *saasEnv) diff() *SaaSDiff {
	e.T.Helper()
	rd, err := hubspot.NewReader(e.cfg, nil, e.Logger())
	if err != nil {
		e.T.Fatal(err)
	}
	return &SaaSDiff{Sink: "crm", Object: "hubspot contacts", KeyField: "email", TopicPrefix: "syncline", Kafka: e.Opts(), Reader: rd}
}

// byEmail returns the live contacts by email.
func (e *saasEnv) byEmail() map[string]emu.Object { return e.emu.Live("contacts", "email") }

// repaired waits until the sink's group committed the end of the repair
// topic.
func (e *saasEnv) repaired() { e.T.Helper(); e.CaughtUpWith("syncline-sink-crm", e.cfg.RepairTopic) }

func keysOf(ks [][]string) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k[0])
	}
	return out
}

// A contact deleted at HubSpot, one edited there and one restored there
// after the sink archived it are reported; the repair goes through the
// running sink, re-creates the first, writes back the edited property of
// the second, archives the third and sends nothing for the unchanged one;
// a second diff is in sync.
func TestSaaSDiffReportsAndRepairsHubSpotDrift(t *testing.T) {
	e := newSaaSEnv(t)
	e.Produce(
		e.Change(schemas.OpCreate, 1, "same@example.com", "Sam"),
		e.Change(schemas.OpCreate, 2, "gone@example.com", "Gina"),
		e.Change(schemas.OpCreate, 3, "edited@example.com", "Eddie"),
		e.Change(schemas.OpCreate, 4, "restored@example.com", "Rita"),
	)
	r := e.run()
	e.CaughtUp("syncline-sink-crm")
	e.Produce(e.Change(schemas.OpDelete, 4, "", ""))
	e.CaughtUp("syncline-sink-crm")

	d := e.diff()
	res, err := d.Compare(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Drift() != 0 {
		t.Fatalf("drift %d before any edit at HubSpot: %+v", res.Drift(), res.Result)
	}
	if res.SourceRows != 3 || res.SinkRows != 3 {
		t.Errorf("%d ledger records, %d objects; want 3 and 3", res.SourceRows, res.SinkRows)
	}

	var restoredID int64
	for _, o := range e.emu.Objects("contacts") {
		if o.Properties["email"] == "restored@example.com" {
			restoredID = o.ID
		}
	}
	live := e.byEmail()
	now := time.Now()
	if err := e.emu.Archive("contacts", live["gone@example.com"].ID, now); err != nil {
		t.Fatal(err)
	}
	if err := e.emu.Update("contacts", live["edited@example.com"].ID, map[string]string{"firstname": "Edward"}, now); err != nil {
		t.Fatal(err)
	}
	if err := e.emu.Restore("contacts", restoredID, now); err != nil {
		t.Fatal(err)
	}
	sameID := live["same@example.com"].ID

	res, err = d.Compare(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(res.Missing); len(got) != 1 || got[0] != "gone@example.com" {
		t.Errorf("missing %v, want [gone@example.com]", got)
	}
	if got := keysOf(res.Different); len(got) != 1 || got[0] != "edited@example.com" {
		t.Errorf("different %v, want [edited@example.com]", got)
	}
	if got := keysOf(res.Extra); len(got) != 1 || got[0] != "restored@example.com" {
		t.Errorf("extra %v, want [restored@example.com]", got)
	}
	if len(res.Properties) != 1 || res.Properties[0].Property != "firstname" || res.Properties[0].Ledger != "Eddie" || res.Properties[0].Provider != "Edward" {
		t.Errorf("properties %+v, want firstname Eddie at the ledger, Edward at HubSpot", res.Properties)
	}

	drifted := res
	before := e.emu.WriteStats()
	sameBefore := e.emu.ObjectWrites("contacts")[sameID]
	rep, err := d.Repair(e.Ctx, e.Prod, res)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Upserts != 2 || rep.Deletes != 1 {
		t.Errorf("repair sent %+v, want 2 upserts and 1 delete", rep)
	}
	e.repaired()

	after := e.emu.WriteStats()
	if c := after.Creates - before.Creates; c != 1 {
		t.Errorf("%d creates by the repair, want 1 (the contact deleted at HubSpot)", c)
	}
	if u := after.Updates - before.Updates; u != 1 {
		t.Errorf("%d updates by the repair, want 1 (the edited contact)", u)
	}
	if a := after.Archives - before.Archives; a != 1 {
		t.Errorf("%d archives by the repair, want 1 (the restored contact)", a)
	}
	if w := e.emu.ObjectWrites("contacts")[sameID]; w != sameBefore {
		t.Errorf("the unchanged contact was written by the repair: %+v, before %+v", w, sameBefore)
	}
	live = e.byEmail()
	if len(live) != 3 {
		t.Errorf("%d live contacts after the repair, want 3", len(live))
	}
	if got := live["gone@example.com"].Properties["firstname"]; got != "Gina" {
		t.Errorf("re-created contact firstname %q, want Gina", got)
	}
	if got := live["edited@example.com"].Properties["firstname"]; got != "Eddie" {
		t.Errorf("edited contact firstname %q, want Eddie (the source's) back", got)
	}
	if _, ok := live["restored@example.com"]; ok {
		t.Error("the restored contact of a deleted record is live after the repair")
	}

	res, err = d.Compare(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Drift() != 0 {
		t.Errorf("second diff: drift %d (missing %v, different %v, extra %v), want in sync", res.Drift(), res.Missing, res.Different, res.Extra)
	}

	// The corrected ledger is what the next change is compared with: a
	// rename of the re-created contact is one update, by its new id.
	before = e.emu.WriteStats()
	e.Produce(e.Change(schemas.OpUpdate, 2, "gone@example.com", "Regina"))
	e.CaughtUp("syncline-sink-crm")
	after = e.emu.WriteStats()
	if after.Updates-before.Updates != 1 || after.Creates != before.Creates {
		t.Errorf("rename after the repair: %d updates, %d creates; want 1 and 0", after.Updates-before.Updates, after.Creates-before.Creates)
	}
	if got := e.byEmail()["gone@example.com"].Properties["firstname"]; got != "Regina" {
		t.Errorf("firstname %q after the rename, want Regina", got)
	}

	// The same repair records sent again are stale (the ledger moved on
	// since that diff): nothing is written.
	before = e.emu.WriteStats()
	if _, err := d.Repair(e.Ctx, e.Prod, drifted); err != nil {
		t.Fatal(err)
	}
	e.repaired()
	r.Stop()
	if after := e.emu.WriteStats(); after.Creates+after.Updates+after.Archives != before.Creates+before.Updates+before.Archives {
		t.Errorf("stale repair records wrote: %+v, before %+v", after, before)
	}
	if got := e.byEmail()["gone@example.com"].Properties["firstname"]; got != "Regina" {
		t.Errorf("firstname %q after a stale repair, want Regina", got)
	}
}

// A repair HubSpot refuses for now (a per-input rate limit) leaves the
// ledger as it was: the next diff reports the record again, and repairing
// again heals it.
func TestSaaSRepairRefusedForNowIsReportedAgain(t *testing.T) {
	e := newSaaSEnv(t)
	e.Produce(e.Change(schemas.OpCreate, 1, "edited@example.com", "Eddie"))
	r := e.run()
	defer r.Stop()
	e.CaughtUp("syncline-sink-crm")
	o := e.byEmail()["edited@example.com"]
	if err := e.emu.Update("contacts", o.ID, map[string]string{"firstname": "Edward"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	d := e.diff()
	res, err := d.Compare(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Different) != 1 {
		t.Fatalf("different %v, want the edited contact", res.Different)
	}
	e.emu.TransientInputErrors(1, "RATE_LIMITS", fmt.Sprint(o.ID))
	if _, err := d.Repair(e.Ctx, e.Prod, res); err != nil {
		t.Fatal(err)
	}
	e.repaired()
	if ws := e.emu.WriteStats(); ws.Transient != 1 {
		t.Fatalf("%d inputs refused for now, want 1", ws.Transient)
	}
	res, err = d.Compare(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Different) != 1 {
		t.Fatalf("after a refused repair: different %v, want the edited contact again", res.Different)
	}
	if _, err := d.Repair(e.Ctx, e.Prod, res); err != nil {
		t.Fatal(err)
	}
	e.repaired()
	if res, err = d.Compare(e.Ctx); err != nil || res.Drift() != 0 {
		t.Fatalf("after the second repair: %v, drift %+v", err, res)
	}
	if got := e.byEmail()["edited@example.com"].Properties["firstname"]; got != "Eddie" {
		t.Errorf("firstname %q, want Eddie", got)
	}
}

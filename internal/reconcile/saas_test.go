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
	cfg := hubspotConfig(srv.URL)
	cfg.Stream = st
	return &saasEnv{Env: e, emu: server, cfg: cfg}
}

// hubspotConfig is the tests' HubSpot sink "crm" of contacts by email
// (first_name to firstname), at the emulator at url.
func hubspotConfig(url string) hubspot.Config {
	return hubspot.Config{
		Name: "crm", BaseURL: url, Token: "pat-test", ObjectType: "contacts", IDProperty: "email",
		Properties: map[string]hubspot.Property{
			"email":     {From: "email", Transform: "email", Required: true},
			"firstname": {From: "first_name"},
		},
		RequestsPerSecond: 1000, Burst: 10, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
	}
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
// a second diff is in sync (providerDrift, as for the other providers).
func TestSaaSDiffReportsAndRepairsHubSpotDrift(t *testing.T) {
	providerDrift(t, newHubSpot(t), writes{creates: 1, updates: 1, deletes: 1})
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

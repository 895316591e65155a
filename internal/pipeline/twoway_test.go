package pipeline_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/hubspot"
)

const twoWayConfig = `
name: twoway
data_dir: %s
kafka:
  partitions: 3
  embedded: {listen: 127.0.0.1:0}
registry: {listen: 127.0.0.1:0}
http: {listen: 127.0.0.1:0}
sources:
  - name: app
    type: postgres
    dsn: ${APP_DSN}
    tables: [public.customers]
    batch_max_wait: 20ms
  - name: crm
    type: hubspot
    hubspot:
      token: ${HUBSPOT_TOKEN}
      base_url: %s
      objects:
        - {type: contacts, properties: [email, firstname]}
      poll_interval: 100ms
      settle: 1ms
      lookback: 2s
      requests_per_second: 100
entities:
  - name: contact
    sources:
      - from: app.public.customers
        fields: {email: email, name: name}
      - from: crm.hubspot.contacts
        fields: {email: email, name: firstname}
    fields:
      email: {}
      name: {}
    quality:
      fields:
        email: {normalize: email}
sinks:
  - name: crm_out
    type: hubspot
    from: [entity.contact]
    system: crm                         # what came from HubSpot is not written back to it
    batch_size: 100
    batch_timeout: 50ms
    hubspot:
      token: ${HUBSPOT_TOKEN}
      base_url: %s
      object_type: contacts
      id_property: email
      requests_per_second: 50
      properties:
        - {name: email, from: email, required: true}
        - {name: firstname, from: name}
  - name: wh
    type: postgres
    dsn: ${WH_DSN}
    schema: analytics
    from: [entity.contact]
    batch_timeout: 50ms
`

// Two-way sync between Postgres and the HubSpot emulator through one
// golden contact: edits on both sides for a while (TWOWAY_EDITS, default
// 300, one every 50 ms), then the CRM, the golden record and the
// warehouse hold the later edit of every contact, the sink made at most
// one write call per Postgres edit and none for HubSpot's own edits (a
// change read back from HubSpot carries the values syncline wrote and
// changes nothing; a value that came from HubSpot is not sent back), and
// once the edits stop the calls stop: no loop.
func TestTwoWaySyncWithHubSpotConvergesWithoutLooping(t *testing.T) {
	edits := 300
	if v := os.Getenv("TWOWAY_EDITS"); v != "" {
		fmt.Sscan(v, &edits)
	}
	h := newHarness(t)
	emu := hubspot.New(hubspot.Options{Token: "pat-2way", RateLimitMax: 100, RateLimitInterval: time.Second})
	srv := emu.Start()
	t.Cleanup(srv.Close)
	t.Setenv("HUBSPOT_TOKEN", "pat-2way")
	h.cfgText = fmt.Sprintf(twoWayConfig, h.dataDir, srv.URL, srv.URL)
	const n = 40
	h.pg.Exec(t, "app", fmt.Sprintf(`INSERT INTO customers (id, email, name) SELECT i, 'p' || i || '@example.com', 'first ' || i FROM generate_series(1, %d) i`, n))
	h.start()

	want := map[string]string{} // email → the latest name
	for i := 1; i <= n; i++ {
		want[fmt.Sprintf("p%d@example.com", i)] = fmt.Sprintf("first %d", i)
	}
	converged := func() (bool, string) {
		crm := map[string]string{}
		for _, o := range emu.Objects("contacts") {
			if !o.Archived {
				crm[o.Properties["email"]] = o.Properties["firstname"]
			}
		}
		wh := map[string]string{}
		if len(rows(t, h.whDSN, `SELECT 1 FROM pg_tables WHERE schemaname = 'analytics' AND tablename = 'contact'`)) > 0 {
			for _, r := range rows(t, h.whDSN, `SELECT email || '|' || coalesce(name, '') FROM analytics.contact`) {
				e, nm, _ := strings.Cut(strings.Trim(r, `()"`), "|")
				wh[e] = nm
			}
		}
		for e, nm := range want {
			if crm[e] != nm || wh[e] != nm {
				return false, fmt.Sprintf("%s: want %q, crm %q, warehouse %q (crm holds %d, warehouse %d)", e, nm, crm[e], wh[e], len(crm), len(wh))
			}
		}
		if len(crm) != n || len(wh) != n {
			return false, fmt.Sprintf("crm holds %d contacts, warehouse %d; want %d", len(crm), len(wh), n)
		}
		return true, ""
	}
	waitConverged := func(what string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			ok, why := converged()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not converged in 90s: %s", what, why)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitConverged("initial sync")
	if ws := emu.WriteStats(); ws.Creates != n {
		t.Fatalf("initial sync: %d creates, want %d", ws.Creates, n)
	}
	base := emu.WriteStats().Calls()

	ids := map[string]int64{}
	for _, o := range emu.Objects("contacts") {
		ids[o.Properties["email"]] = o.ID
	}
	for i := range edits {
		k := i%n + 1
		email := fmt.Sprintf("p%d@example.com", k)
		name := fmt.Sprintf("edit %d", i)
		if i%2 == 0 {
			h.pg.Exec(t, "app", fmt.Sprintf(`UPDATE customers SET name = '%s' WHERE id = %d`, name+" in app", k))
			want[email] = name + " in app"
		} else {
			if err := emu.Update("contacts", ids[email], map[string]string{"firstname": name + " in crm"}, time.Now()); err != nil {
				t.Fatal(err)
			}
			want[email] = name + " in crm"
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitConverged("after the edits")
	calls := emu.WriteStats().Calls() - base
	t.Logf("%d edits (%d in Postgres, %d in HubSpot): %d write calls to HubSpot", edits, (edits+1)/2, edits/2, calls)
	if pg := (edits + 1) / 2; calls > pg {
		t.Errorf("%d write calls for %d Postgres edits (and %d in HubSpot): HubSpot's own values are written back to it", calls, pg, edits/2)
	}
	if calls == 0 {
		t.Error("no write call: the Postgres edits did not reach HubSpot")
	}
	quiet := emu.WriteStats().Calls()
	time.Sleep(5 * time.Second)
	if after := emu.WriteStats().Calls(); after != quiet {
		t.Errorf("%d write calls in 5 s without edits: the sync loops", after-quiet)
	}
	if ok, why := converged(); !ok {
		t.Errorf("diverged after the quiet period: %s", why)
	}
	if ws := emu.WriteStats(); ws.Creates != n {
		t.Errorf("%d creates, want %d: an echo created a duplicate contact", ws.Creates, n)
	}
}

package pipeline_test

import (
	"fmt"
	"math/rand/v2"
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
  - name: app_back
    type: postgres
    dsn: ${APP_DSN}
    schema: syncline
    from: [entity.contact]
    system: app                         # what came from the app is not written back to it
    batch_timeout: 50ms
    write_back:
      table: public.customers
      columns:
        - {name: name, from: name}
  - name: wh
    type: postgres
    dsn: ${WH_DSN}
    schema: analytics
    from: [entity.contact]
    batch_timeout: 50ms
`

// Two-way sync between Postgres and the HubSpot emulator through one
// golden contact, under continuous edits on both sides for TWOWAY_DURATION
// (default 2m): every 60 ms a contact not edited in the last 1.5 s is
// edited in the app, in HubSpot, or (one time in eight) in both at once,
// HubSpot first and the app a moment later, so that last_writer_wins must
// pick the app's edit. Then the app's table, HubSpot, the golden record
// and the warehouse all hold each contact's latest edit; the HubSpot sink
// made at most one write call per app edit and the write-back sink at
// most one row update per HubSpot edit (a change read back from either
// side carries the values syncline wrote and changes nothing; a value
// that came from a system is not sent back to it); and once the edits
// stop, the writes stop: no loop.
func TestTwoWaySyncPostgresAndHubSpotConvergeWithoutLooping(t *testing.T) {
	dur := 2 * time.Minute
	if v := os.Getenv("TWOWAY_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("TWOWAY_DURATION: %v", err)
		}
		dur = d
	}
	h := newHarness(t)
	emu := hubspot.New(hubspot.Options{Token: "pat-2way", RateLimitMax: 100, RateLimitInterval: time.Second})
	srv := emu.Start()
	t.Cleanup(srv.Close)
	t.Setenv("HUBSPOT_TOKEN", "pat-2way")
	h.cfgText = fmt.Sprintf(twoWayConfig, h.dataDir, srv.URL, srv.URL)
	const n = 40
	// Count the updates of the app's table by who made them.
	h.pg.Exec(t, "app", `CREATE TABLE update_log (app text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION log_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO update_log (app) VALUES (current_setting('application_name')); RETURN NEW; END $$;
CREATE TRIGGER customers_updates AFTER UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION log_update();`)
	h.pg.Exec(t, "app", fmt.Sprintf(`INSERT INTO customers (id, email, name) SELECT i, 'p' || i || '@example.com', 'first ' || i FROM generate_series(1, %d) i`, n))
	h.start()
	sinkUpdates := func() int {
		r := rows(t, h.srcDSN, `SELECT count(*) FROM update_log WHERE app = 'syncline-sink-app_back'`)
		var c int
		if _, err := fmt.Sscan(strings.Trim(r[0], "()"), &c); err != nil {
			t.Fatalf("count the write-back updates: %v (%q)", err, r[0])
		}
		return c
	}

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
		split := func(dsn, q string) map[string]string {
			out := map[string]string{}
			for _, r := range rows(t, dsn, q) {
				e, nm, _ := strings.Cut(strings.Trim(r, `()"`), "|")
				out[e] = nm
			}
			return out
		}
		app := split(h.srcDSN, `SELECT email || '|' || coalesce(name, '') FROM customers`)
		wh := map[string]string{}
		if len(rows(t, h.whDSN, `SELECT 1 FROM pg_tables WHERE schemaname = 'analytics' AND tablename = 'contact'`)) > 0 {
			wh = split(h.whDSN, `SELECT email || '|' || coalesce(name, '') FROM analytics.contact`)
		}
		for e, nm := range want {
			if crm[e] != nm || wh[e] != nm || app[e] != nm {
				return false, fmt.Sprintf("%s: want %q; app %q, crm %q, warehouse %q", e, nm, app[e], crm[e], wh[e])
			}
		}
		if len(crm) != n || len(wh) != n || len(app) != n {
			return false, fmt.Sprintf("app holds %d contacts, crm %d, warehouse %d; want %d", len(app), len(crm), len(wh), n)
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
	if u := sinkUpdates(); u != 0 {
		t.Fatalf("initial sync: the write-back sink updated %d rows of the app, want 0 (the golden records came from it)", u)
	}
	base := emu.WriteStats().Calls()

	ids := map[string]int64{}
	for _, o := range emu.Objects("contacts") {
		ids[o.Properties["email"]] = o.ID
	}
	rng := rand.New(rand.NewPCG(7, 11))
	last := map[int]time.Time{}
	var appEdits, crmEdits, conflicts int
	editApp := func(k int, name string) {
		h.pg.Exec(t, "app", fmt.Sprintf(`UPDATE customers SET name = '%s' WHERE id = %d`, name, k))
		appEdits++
	}
	editCRM := func(k int, name string) {
		if err := emu.Update("contacts", ids[fmt.Sprintf("p%d@example.com", k)], map[string]string{"firstname": name}, time.Now()); err != nil {
			t.Fatal(err)
		}
		crmEdits++
	}
	end := time.Now().Add(dur)
	for i := 0; time.Now().Before(end); i++ {
		time.Sleep(60 * time.Millisecond)
		k := 1 + rng.IntN(n)
		if time.Since(last[k]) < 1500*time.Millisecond {
			continue
		}
		last[k] = time.Now()
		email := fmt.Sprintf("p%d@example.com", k)
		switch r := rng.IntN(8); {
		case r == 0:
			// Both sides at once: the app's edit is the later one.
			editCRM(k, fmt.Sprintf("edit %d lost in crm", i))
			time.Sleep(5 * time.Millisecond)
			name := fmt.Sprintf("edit %d won in app", i)
			editApp(k, name)
			want[email] = name
			conflicts++
		case r%2 == 1:
			name := fmt.Sprintf("edit %d in app", i)
			editApp(k, name)
			want[email] = name
		default:
			name := fmt.Sprintf("edit %d in crm", i)
			editCRM(k, name)
			want[email] = name
		}
	}
	waitConverged("after the edits")
	calls := emu.WriteStats().Calls() - base
	updates := sinkUpdates()
	t.Logf("%s of edits: %d in the app, %d in HubSpot (%d of them conflicting pairs); %d write calls to HubSpot, %d rows written back to the app",
		dur, appEdits, crmEdits, conflicts, calls, updates)
	if calls > appEdits {
		t.Errorf("%d write calls to HubSpot for %d app edits: HubSpot's own values are written back to it, or echoes are", calls, appEdits)
	}
	if calls == 0 || updates == 0 {
		t.Error("an edit of one side did not reach the other")
	}
	if updates > crmEdits {
		t.Errorf("%d rows written back to the app for %d HubSpot edits: the app's own values are written back to it, or echoes are", updates, crmEdits)
	}
	quiet, quietUpdates := emu.WriteStats().Calls(), sinkUpdates()
	time.Sleep(5 * time.Second)
	if after := emu.WriteStats().Calls(); after != quiet {
		t.Errorf("%d write calls to HubSpot in 5 s without edits: the sync loops", after-quiet)
	}
	if after := sinkUpdates(); after != quietUpdates {
		t.Errorf("%d rows written back to the app in 5 s without edits: the sync loops", after-quietUpdates)
	}
	if ok, why := converged(); !ok {
		t.Errorf("diverged after the quiet period: %s", why)
	}
	if ws := emu.WriteStats(); ws.Creates != n {
		t.Errorf("%d creates, want %d: an echo created a duplicate contact", ws.Creates, n)
	}
	if got := rows(t, h.srcDSN, `SELECT count(*) FROM customers`); got[0] != fmt.Sprintf("(%d)", n) {
		t.Errorf("the app holds %s customers, want %d", got[0], n)
	}
}

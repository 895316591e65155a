package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"syncline/capture/postgres"
	"syncline/internal/emulator/hubspot"
	"syncline/internal/testenv"
)

// Postgres → changes → HubSpot emulator through `syncline run`'s wiring:
// each customer created once, an update only per real change, deletes
// archive, and neither a restart nor a full backfill of unchanged data
// makes a write call.
func TestPostgresToHubSpotSink(t *testing.T) {
	h := newHarness(t)
	emu := hubspot.New(hubspot.Options{Token: "pat-sink", RateLimitMax: 100, RateLimitInterval: time.Second})
	srv := emu.Start()
	t.Cleanup(srv.Close)
	t.Setenv("HUBSPOT_TOKEN", "pat-sink")
	h.cfgText += fmt.Sprintf(`  - name: crm
    type: hubspot
    from: [app.public.customers]
    batch_size: 100
    batch_timeout: 50ms
    hubspot:
      token: ${HUBSPOT_TOKEN}
      base_url: %s
      object_type: contacts
      id_property: email
      requests_per_second: 50
      properties:
        - {name: email, from: email, transform: email, required: true}
        - {name: firstname, from: name}
        - {name: lifecyclestage, value: lead}
`, srv.URL)
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email, name) SELECT i, 'Cust' || i || '@Example.com', 'n' || i FROM generate_series(1, 300) i`)
	// A storm of 429s and 5xx (neither writes anything) while the
	// snapshot is written: nothing is lost, nothing doubled.
	emu.Inject(hubspot.Fault429, hubspot.Fault5xx, hubspot.Fault429)
	emu.FailEvery(2, hubspot.Fault5xx)
	h.start()
	testenv.WaitFor(t, 60*time.Second, "faults", func() bool { return emu.Stats().Faults >= 5 })
	emu.FailEvery(0, "")
	waitContacts(t, emu, 300, "")

	h.pg.Exec(t, "app", `UPDATE customers SET name = 'renamed' WHERE id <= 20`)
	h.pg.Exec(t, "app", `UPDATE customers SET email = lower(email) WHERE id > 280`) // the same once normalized
	h.pg.Exec(t, "app", `DELETE FROM customers WHERE id > 290`)
	waitContacts(t, emu, 290, "renamed")
	ws := emu.WriteStats()
	if ws.Creates != 300 {
		t.Errorf("%d creates, want 300", ws.Creates)
	}
	if ws.Updates != 20 {
		t.Errorf("%d updates, want 20 (the renames)", ws.Updates)
	}
	if ws.Archives != 10 {
		t.Errorf("%d archived, want 10", ws.Archives)
	}
	for id, w := range emu.ObjectWrites("contacts") {
		if w.Creates != 1 {
			t.Errorf("object %d created %d times", id, w.Creates)
		}
	}

	// A restart (the ledger is in Badger) and a full backfill of the
	// unchanged table send nothing; a marker update afterwards is the one
	// call, and proves the backfill's records went through.
	h.stop()
	h.start()
	before := emu.WriteStats()
	if _, err := postgres.SendSignal(context.Background(), h.srcDSN, postgres.Signal{ID: "again", Type: "backfill", Tables: []string{"public.customers"}, ChunkSize: 100}); err != nil {
		t.Fatal(err)
	}
	h.waitBackfillDone("again")
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'marker' WHERE id = 1`)
	waitContacts(t, emu, 290, "marker")
	after := emu.WriteStats()
	if calls := after.Calls() - before.Calls(); calls != 1 {
		t.Errorf("restart + backfill + marker made %d write calls, want 1 (the marker)", calls)
	}
	if after.Creates != 300 {
		t.Errorf("%d creates after the backfill, want 300", after.Creates)
	}
	if m := h.metrics(); !strings.Contains(m, `syncline_sink_api_calls_total{endpoint="update",result="ok",sink="crm"}`) {
		t.Errorf("metrics lack syncline_sink_api_calls_total for crm:\n%s", grep(m, "syncline_sink_api"))
	}
}

// waitContacts waits until the emulator holds n live contacts, the one of
// cust1@example.com named name1 (when set).
func waitContacts(t *testing.T, emu *hubspot.Server, n int, name1 string) {
	t.Helper()
	testenv.WaitFor(t, 90*time.Second, fmt.Sprintf("%d live contacts", n), func() bool {
		live, ok := 0, name1 == ""
		for _, o := range emu.Objects("contacts") {
			if o.Archived {
				continue
			}
			live++
			if o.Properties["email"] == "cust1@example.com" && o.Properties["firstname"] == name1 {
				ok = true
			}
		}
		return live == n && ok
	})
}

package pipeline_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
	"syncline/internal/emulator/mailchimp"
	"syncline/internal/emulator/salesforce"
	"syncline/internal/emulator/stripe"
	"syncline/internal/testenv"
)

// Postgres → changes → Stripe emulator through `syncline run`'s wiring:
// each customer created once, updates only per real change, deletes
// delete, a 5xx storm loses nothing, and a restart sends nothing again.
func TestPostgresToStripeSink(t *testing.T) {
	h := newHarness(t)
	emu := stripe.New(stripe.Options{APIKey: "sk_test_pipe", RatePerSecond: 100})
	srv := emu.Start()
	t.Cleanup(srv.Close)
	t.Setenv("STRIPE_SECRET", "sk_test_pipe")
	h.cfgText += fmt.Sprintf(`  - name: billing
    type: stripe
    from: [app.public.customers]
    batch_timeout: 50ms
    stripe:
      api_key: ${STRIPE_SECRET}
      base_url: %s
      key_field: id
      fields:
        - {name: id, from: id}
        - {name: email, from: email, transform: email, required: true}
        - {name: name, from: name}
`, srv.URL)
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email, name) SELECT i, 'Cust' || i || '@Example.com', 'n' || i FROM generate_series(1, 60) i`)
	emu.FailEvery(4, faults.Server5xx)
	h.start()
	waitCustomers(t, emu, 60, "n1")
	emu.FailEvery(0, "")
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'renamed' WHERE id <= 10`)
	h.pg.Exec(t, "app", `UPDATE customers SET email = lower(email) WHERE id > 50`) // the same once normalized
	h.pg.Exec(t, "app", `DELETE FROM customers WHERE id > 55`)
	waitCustomers(t, emu, 55, "renamed")
	ws := emu.WriteStats()
	// A create is an empty customer and the update of its fields.
	if ws.Creates != 60 || ws.Updates != 70 || ws.Deletes != 5 {
		t.Errorf("write stats %+v, want 60 creates, 70 updates, 5 deletes", ws)
	}
	for k, n := range emu.Applies() {
		if n != 1 {
			t.Errorf("request %s applied %d times", k, n)
		}
	}
	h.stop()
	h.start()
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'marker' WHERE id = 1`)
	waitCustomers(t, emu, 55, "marker")
	if after := emu.WriteStats(); after.Calls != ws.Calls+1 {
		t.Errorf("restart + marker made %d calls, want 1", after.Calls-ws.Calls)
	}
	if m := h.metrics(); !strings.Contains(m, `syncline_sink_api_calls_total{endpoint="update",result="ok",sink="billing"}`) {
		t.Errorf("metrics lack syncline_sink_api_calls_total for billing:\n%s", grep(m, "syncline_sink_api"))
	}
}

// waitCustomers waits until the emulator holds n live customers, the one
// of record 1 named name1.
func waitCustomers(t *testing.T, emu *stripe.Server, n int, name1 string) {
	t.Helper()
	testenv.WaitFor(t, 90*time.Second, fmt.Sprintf("%d customers", n), func() bool {
		cs := emu.Customers()
		if len(cs) != n {
			return false
		}
		for _, c := range cs {
			if md, _ := c.Fields["metadata"].(map[string]any); md["id"] == "1" {
				return c.Fields["name"] == name1
			}
		}
		return false
	})
}

// Postgres → changes → Salesforce emulator through `syncline run`'s
// wiring: 300 customers upserted by external id in two collections
// calls, then one call for ten renames and one for five deletes; a
// restart sends nothing again.
func TestPostgresToSalesforceSink(t *testing.T) {
	h := newHarness(t)
	emu := salesforce.New(salesforce.Options{Token: "00Dpipe", RequestLimit: 100000})
	srv := emu.Start()
	t.Cleanup(srv.Close)
	t.Setenv("SF_TOKEN", "00Dpipe")
	h.cfgText += fmt.Sprintf(`  - name: crm
    type: salesforce
    from: [app.public.customers]
    batch_timeout: 200ms
    salesforce:
      instance_url: %s
      access_token: ${SF_TOKEN}
      sobject: Contact
      external_id_field: Ext__c
      requests_per_second: 100
      fields:
        - {name: Ext__c, from: id}
        - {name: Email, from: email, transform: email, required: true}
        - {name: LastName, from: name}
`, srv.URL)
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email, name) SELECT i, 'Cust' || i || '@Example.com', 'n' || i FROM generate_series(1, 300) i`)
	emu.Inject(faults.Limit, faults.Server5xx)
	h.start()
	contact := func(n int, name1 string) func() bool {
		return func() bool {
			live := emu.Live("Contact")
			for _, c := range live {
				if c.Fields["Ext__c"] == "1" {
					return len(live) == n && c.Fields["LastName"] == name1
				}
			}
			return false
		}
	}
	testenv.WaitFor(t, 90*time.Second, "300 contacts", contact(300, "n1"))
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'renamed' WHERE id <= 10`)
	h.pg.Exec(t, "app", `DELETE FROM customers WHERE id > 295`)
	testenv.WaitFor(t, 90*time.Second, "295 contacts", contact(295, "renamed"))
	ws := emu.WriteStats()
	if ws.Creates != 300 || ws.Updates != 10 || ws.Deletes != 5 {
		t.Errorf("write stats %+v, want 300 creates, 10 updates, 5 deletes", ws)
	}
	if ws.Calls > 8 {
		t.Errorf("%d calls for 315 changes, want a handful of batches", ws.Calls)
	}
	h.stop()
	h.start()
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'marker' WHERE id = 1`)
	testenv.WaitFor(t, 90*time.Second, "the marker", contact(295, "marker"))
	if after := emu.WriteStats(); after.Calls != ws.Calls+1 {
		t.Errorf("restart + marker made %d calls, want 1", after.Calls-ws.Calls)
	}
}

// Postgres → changes → Mailchimp emulator through `syncline run`'s
// wiring, with the default batch_size (batch subscribe of up to 500):
// 300 members in a few calls, renames and archives; a restart sends
// nothing again.
func TestPostgresToMailchimpSink(t *testing.T) {
	h := newHarness(t)
	emu := mailchimp.New(mailchimp.Options{APIKey: "k0-us5", MaxConnections: 10})
	emu.AddList("aud1")
	srv := emu.Start()
	t.Cleanup(srv.Close)
	t.Setenv("MC_KEY", "k0-us5")
	h.cfgText += fmt.Sprintf(`  - name: news
    type: mailchimp
    from: [app.public.customers]
    batch_timeout: 200ms
    mailchimp:
      api_key: ${MC_KEY}
      base_url: %s
      list_id: aud1
      fields:
        - {name: email_address, from: email, transform: email, required: true}
        - {name: FNAME, from: name}
`, srv.URL)
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email, name) SELECT i, 'Cust' || i || '@Example.com', 'n' || i FROM generate_series(1, 300) i`)
	emu.Inject(faults.Limit, faults.Server5xx)
	h.start()
	members := func(n int, name1 string) func() bool {
		return func() bool {
			live, first := 0, ""
			for _, m := range emu.Members("aud1") {
				if m.Status != "archived" {
					live++
				}
				if m.Email == "cust1@example.com" {
					first, _ = m.MergeFields["FNAME"].(string)
				}
			}
			return live == n && first == name1
		}
	}
	testenv.WaitFor(t, 90*time.Second, "300 members", members(300, "n1"))
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'renamed' WHERE id <= 10`)
	h.pg.Exec(t, "app", `DELETE FROM customers WHERE id > 295`)
	testenv.WaitFor(t, 90*time.Second, "295 members", members(295, "renamed"))
	ws := emu.WriteStats()
	if ws.Creates != 300 || ws.Updates != 10 || ws.Archives != 5 {
		t.Errorf("write stats %+v, want 300 creates, 10 updates, 5 archives", ws)
	}
	if ws.Batches == 0 || ws.Calls > 20 {
		t.Errorf("write stats %+v, want batch subscribe calls", ws)
	}
	h.stop()
	h.start()
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'marker' WHERE id = 1`)
	testenv.WaitFor(t, 90*time.Second, "the marker", members(295, "marker"))
	if after := emu.WriteStats(); after.Calls != ws.Calls+1 {
		t.Errorf("restart + marker made %d calls, want 1", after.Calls-ws.Calls)
	}
}

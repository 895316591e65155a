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

// saasFlow is one SaaS sink under `syncline run`'s wiring.
type saasFlow struct {
	// sink is the sink's YAML entry (sinks list item, name first).
	sink string
	// names returns the names of the live records the provider holds,
	// by customer id.
	names func() map[string]any
	// calls counts the provider's write calls.
	calls func() int
}

// run inserts 300 customers and waits for them, renames ten, rewrites
// ten emails to what they are once normalized (no call), deletes five
// and waits; check then sees the provider. A restart and one rename
// must then make exactly one call.
func (f saasFlow) run(t *testing.T, h *harness, check func()) {
	t.Helper()
	h.cfgText += f.sink
	// wait waits for n live records, customers 1..upTo named name.
	wait := func(n int, name string, upTo int) {
		t.Helper()
		testenv.WaitFor(t, 90*time.Second, fmt.Sprintf("%d records, customers 1 to %d named %s", n, upTo, name), func() bool {
			ns := f.names()
			for i := 1; i <= upTo; i++ {
				if ns[fmt.Sprint(i)] != name {
					return false
				}
			}
			return len(ns) == n
		})
	}
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email, name) SELECT i, 'Cust' || i || '@Example.com', 'n' || i FROM generate_series(1, 300) i`)
	h.start()
	wait(300, "n1", 1)
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'renamed' WHERE id <= 10`)
	h.pg.Exec(t, "app", `UPDATE customers SET email = lower(email) WHERE id BETWEEN 280 AND 289`)
	h.pg.Exec(t, "app", `DELETE FROM customers WHERE id > 295`)
	wait(295, "renamed", 10)
	check()
	before := f.calls()
	h.stop()
	h.start()
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'marker' WHERE id = 1`)
	wait(295, "marker", 1)
	if n := f.calls() - before; n != 1 {
		t.Errorf("restart + marker made %d calls, want 1", n)
	}
}

// Postgres → changes → Stripe emulator, its rate limit and a 5xx storm:
// each customer created once, updates only per real change, deletes
// delete.
func TestPostgresToStripeSink(t *testing.T) {
	h := newHarness(t)
	emu := stripe.New(stripe.Options{APIKey: "sk_test_pipe", RatePerSecond: 100})
	srv := emu.Start()
	t.Cleanup(srv.Close)
	t.Setenv("STRIPE_SECRET", "sk_test_pipe")
	emu.FailEvery(4, faults.Server5xx)
	saasFlow{
		sink: fmt.Sprintf(`  - name: billing
    type: stripe
    from: [app.public.customers]
    batch_timeout: 50ms
    stripe:
      api_key: ${STRIPE_SECRET}
      base_url: %s
      key_field: id
      requests_per_second: 90
      fields:
        - {name: id, from: id}
        - {name: email, from: email, transform: email, required: true}
        - {name: name, from: name}
`, srv.URL),
		names: func() map[string]any {
			out := map[string]any{}
			for _, c := range emu.Customers() {
				md, _ := c.Fields["metadata"].(map[string]any)
				out[fmt.Sprint(md["id"])] = c.Fields["name"]
			}
			return out
		},
		calls: func() int { return emu.WriteStats().Calls },
	}.run(t, h, func() {
		// A create is an empty customer and the update of its fields.
		if ws := emu.WriteStats(); ws.Creates != 300 || ws.Updates != 310 || ws.Deletes != 5 {
			t.Errorf("write stats %+v, want 300 creates, 310 updates, 5 deletes", ws)
		}
		for k, n := range emu.Applies() {
			if n != 1 {
				t.Errorf("request %s applied %d times", k, n)
			}
		}
		if m := h.metrics(); !strings.Contains(m, `syncline_sink_api_calls_total{endpoint="update",result="ok",sink="billing"}`) {
			t.Errorf("metrics lack syncline_sink_api_calls_total for billing:\n%s", grep(m, "syncline_sink_api"))
		}
	})
}

// Postgres → changes → Salesforce emulator: 300 customers upserted by
// external id in two collections calls, renames and deletes in a few.
func TestPostgresToSalesforceSink(t *testing.T) {
	h := newHarness(t)
	emu := salesforce.New(salesforce.Options{Token: "00Dpipe", RequestLimit: 100000})
	srv := emu.Start()
	t.Cleanup(srv.Close)
	t.Setenv("SF_TOKEN", "00Dpipe")
	emu.Inject(faults.Limit, faults.Server5xx)
	saasFlow{
		sink: fmt.Sprintf(`  - name: crm
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
`, srv.URL),
		names: func() map[string]any {
			out := map[string]any{}
			for _, c := range emu.Live("Contact") {
				out[fmt.Sprint(c.Fields["Ext__c"])] = c.Fields["LastName"]
			}
			return out
		},
		calls: func() int { return emu.WriteStats().Calls },
	}.run(t, h, func() {
		if ws := emu.WriteStats(); ws.Creates != 300 || ws.Updates != 10 || ws.Deletes != 5 || ws.Calls > 8 {
			t.Errorf("write stats %+v, want 300 creates, 10 updates, 5 deletes in a handful of calls", ws)
		}
	})
}

// Postgres → changes → Mailchimp emulator with the default batch_size
// (batch subscribe of up to 500): 300 members in a few calls, renames and
// archives.
func TestPostgresToMailchimpSink(t *testing.T) {
	h := newHarness(t)
	emu := mailchimp.New(mailchimp.Options{APIKey: "k0-us5", MaxConnections: 10})
	emu.AddList("aud1")
	srv := emu.Start()
	t.Cleanup(srv.Close)
	t.Setenv("MC_KEY", "k0-us5")
	emu.Inject(faults.Limit, faults.Server5xx)
	saasFlow{
		sink: fmt.Sprintf(`  - name: news
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
`, srv.URL),
		names: func() map[string]any {
			out := map[string]any{}
			for _, m := range emu.Members("aud1") {
				if m.Status != "archived" {
					out[strings.TrimSuffix(strings.TrimPrefix(m.Email, "cust"), "@example.com")] = m.MergeFields["FNAME"]
				}
			}
			return out
		},
		calls: func() int { return emu.WriteStats().Calls },
	}.run(t, h, func() {
		if ws := emu.WriteStats(); ws.Creates != 300 || ws.Updates != 10 || ws.Archives != 5 || ws.Batches == 0 || ws.Calls > 20 {
			t.Errorf("write stats %+v, want 300 creates, 10 updates, 5 archives in a few batch calls", ws)
		}
	})
}

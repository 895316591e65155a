package pipeline_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
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

package pipeline_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/rest"
	"syncline/internal/testenv"
)

// Postgres → changes → REST emulator through `syncline run`'s wiring:
// each customer PUT once with an idempotency key, an update only per real
// change, deletes DELETE, a 5xx storm loses nothing, and a restart sends
// nothing again.
func TestPostgresToRESTSink(t *testing.T) {
	h := newHarness(t)
	emu := rest.New(rest.Options{BasicUser: "syncline", BasicPassword: "pw-rest", RateLimitMax: 200, RateLimitInterval: time.Second})
	srv := emu.Start()
	t.Cleanup(srv.Close)
	t.Setenv("REST_PASSWORD", "pw-rest")
	h.cfgText += fmt.Sprintf(`  - name: api
    type: rest
    from: [app.public.customers]
    batch_timeout: 50ms
    retry: {max_attempts: 3, initial_backoff: 100ms, max_backoff: 1s}
    rest:
      base_url: %s
      auth:
        type: basic
        username: syncline
        password: ${REST_PASSWORD}
      id_field: id
      upsert: {method: PUT, path: "/v1/customers/{id}"}
      delete: {path: "/v1/customers/{id}"}
      requests_per_second: 500
      fields:
        - {name: id, from: id}
        - {name: email, from: email, transform: email, required: true}
        - {name: name, from: name}
`, srv.URL)
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email, name) SELECT i, 'Cust' || i || '@Example.com', 'n' || i FROM generate_series(1, 100) i`)
	emu.FailEveryWrite(3, rest.Fault503)
	h.start()
	waitRecords(t, emu, 100, "n1")
	emu.FailEveryWrite(0, 0)
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'renamed' WHERE id <= 10`)
	h.pg.Exec(t, "app", `UPDATE customers SET email = lower(email) WHERE id > 90`) // the same once normalized
	h.pg.Exec(t, "app", `DELETE FROM customers WHERE id > 95`)
	waitRecords(t, emu, 95, "renamed")
	ws := emu.WriteStats()
	if ws.Creates != 100 || ws.Updates != 10 || ws.Deletes != 5 {
		t.Errorf("write stats %+v, want 100 creates, 10 updates, 5 deletes", ws)
	}
	for k, n := range emu.Applies() {
		if n != 1 {
			t.Errorf("request %s applied %d times", k, n)
		}
	}
	h.stop()
	h.start()
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'marker' WHERE id = 1`)
	waitRecords(t, emu, 95, "marker")
	if after := emu.WriteStats(); after.Calls != ws.Calls+1 {
		t.Errorf("restart + marker made %d calls, want 1", after.Calls-ws.Calls)
	}
	if m := h.metrics(); !strings.Contains(m, `syncline_sink_api_calls_total{endpoint="upsert",result="ok",sink="api"}`) {
		t.Errorf("metrics lack syncline_sink_api_calls_total for api:\n%s", grep(m, "syncline_sink_api"))
	}
}

// waitRecords waits until the emulator holds n customers, record 1 named
// name1.
func waitRecords(t *testing.T, emu *rest.Server, n int, name1 string) {
	t.Helper()
	testenv.WaitFor(t, 90*time.Second, fmt.Sprintf("%d records", n), func() bool {
		recs := emu.Records("customers")
		return len(recs) == n && recs["1"]["name"] == name1
	})
}

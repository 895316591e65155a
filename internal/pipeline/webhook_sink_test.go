package pipeline_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"syncline/internal/testenv"
	"syncline/sink/webhook"
)

// Postgres → changes → a webhook through `syncline run`'s wiring: every
// change arrives signed, once per id, with each key's changes in order,
// and after a restart the sink goes on where it was.
func TestPostgresToWebhookSink(t *testing.T) {
	h := newHarness(t)
	type ev struct {
		ID    string                     `json:"id"`
		Op    string                     `json:"op"`
		Table string                     `json:"table"`
		Key   map[string]json.RawMessage `json:"key"`
		After map[string]json.RawMessage `json:"after"`
	}
	var (
		mu   sync.Mutex
		byID = map[string]ev{}
		dups int
		bad  []string
		keys = map[string][]ev{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if !webhook.Verify("s3cret-hook", r.Header.Get("X-Syncline-Timestamp"), body, r.Header.Get("X-Syncline-Signature")) || r.Header.Get("X-Tenant") != "acme" {
			bad = append(bad, "signature or header")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var b struct {
			Events []ev `json:"events"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			bad = append(bad, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, e := range b.Events {
			if _, ok := byID[e.ID]; ok {
				dups++
				continue
			}
			byID[e.ID] = e
			if e.Table == "app.public.customers" {
				k := string(e.Key["id"])
				keys[k] = append(keys[k], e)
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("WEBHOOK_SECRET", "s3cret-hook")
	h.cfgText += fmt.Sprintf(`  - name: hook
    type: webhook
    from: [app.public.customers]
    batch_size: 50
    batch_timeout: 50ms
    webhook:
      url: %s/in
      secret: ${WEBHOOK_SECRET}
      headers: [{name: X-Tenant, value: acme}]
      timeout: 5s
`, srv.URL)
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email, name) SELECT i, 'c' || i || '@example.com', 'n' || i FROM generate_series(1, 100) i`)
	h.start()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(byID)
	}
	testenv.WaitFor(t, 90*time.Second, "100 events", func() bool { return count() >= 100 })
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'renamed' WHERE id <= 10`)
	h.pg.Exec(t, "app", `DELETE FROM customers WHERE id > 95`)
	testenv.WaitFor(t, 90*time.Second, "115 events", func() bool { return count() >= 115 })
	h.stop()
	h.start()
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'marker' WHERE id = 1`)
	testenv.WaitFor(t, 90*time.Second, "the marker", func() bool { return count() >= 116 })
	if m := h.metrics(); !strings.Contains(m, `syncline_sink_writes_total{result="ok",sink="hook"}`) {
		t.Errorf("metrics lack syncline_sink_writes_total for hook:\n%s", grep(m, "syncline_sink_writes"))
	}
	h.stop()

	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("receiver refused requests: %v", bad)
	}
	if len(byID) != 116 {
		t.Errorf("%d distinct events, want 116", len(byID))
	}
	if len(keys) != 100 {
		t.Errorf("%d keys, want 100", len(keys))
	}
	last := func(k string) ev { l := keys[k]; return l[len(l)-1] }
	if e := last("1"); e.Op != "u" || string(e.After["name"]) != `"marker"` {
		t.Errorf("key 1 ends with %+v, want the marker update", e)
	}
	if e := last("5"); e.Op != "u" || string(e.After["name"]) != `"renamed"` {
		t.Errorf("key 5 ends with %+v, want the rename", e)
	}
	if e := last("99"); e.Op != "d" || e.After != nil {
		t.Errorf("key 99 ends with %+v, want the delete", e)
	}
	if e := keys["50"][0]; e.Op != "r" && e.Op != "c" {
		t.Errorf("key 50 starts with op %s", e.Op)
	}
}

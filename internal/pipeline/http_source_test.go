package pipeline_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/rest"
	"syncline/internal/topics"
	"syncline/schemas"
)

// A `type: http` source configured in pipeline.yaml against the generic
// REST emulator → raw topic → changes stage → warehouse, through `syncline
// run`'s wiring: offset paging over records that share timestamps across
// page boundaries, 429s with Retry-After, a restart in the middle of the
// initial sync, then updates, status deletes and deletes from the archived
// endpoint. Every version is on the raw and change topics once and the
// warehouse ends equal to the API.
func TestHTTPSourceToWarehouse(t *testing.T) {
	h := newHarness(t)
	api := rest.New(rest.Options{APIKey: "k-e2e", Paging: rest.PagingOffset, RateLimitMax: 8, RateLimitInterval: 100 * time.Millisecond})
	srv := api.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(api.Release)
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	for i := range 1000 {
		// 40 items a second: every page of 25 ends inside a run of ties.
		api.Put(rest.Item{Name: fmt.Sprintf("item %d", i), Amount: float64(i) / 4, UpdatedAt: base.Add(time.Duration(i/40) * time.Second)})
	}
	t.Setenv("SHOP_KEY", "k-e2e")
	h.cfgText = strings.Replace(h.cfgText, "sinks:", fmt.Sprintf(`  - name: shop
    type: http
    http:
      base_url: %s
      system: shop
      auth: {type: api_key, header: X-API-Key, key: "${SHOP_KEY}"}
      objects:
        - name: items
          request:
            path: /v1/items
            query: {updated_since: "{{.Since}}", limit: "{{.Limit}}", offset: "{{.Offset}}"}
          records_path: data
          properties: [name, "amount:float64", status]
          cursor: {field: updated_at, lookback: 1s}
          pagination: {type: offset, limit: 25}
          deletes:
            status_field: status
            status_values: [deleted, purged]
            request: {path: /v1/deleted-items, query: {limit: "{{.Limit}}", offset: "{{.Offset}}"}}
            records_path: data
            deleted_at_field: deleted_at
            pagination: {type: offset, limit: 25}
      rate_limit: {requests_per_second: 1000, burst: 20, max_concurrent: 2}
      retry: {max_attempts: 20, initial_backoff: 10ms, max_backoff: 2s}
      poll_interval: 100ms
      settle: 1ms
sinks:`, srv.URL), 1)
	h.cfgText = strings.Replace(h.cfgText, "from: [app.*]", "from: [app.*, shop.shop.items]", 1)

	// The initial sync stops after 15 pages (375 items): the restart
	// resumes it at the 16th page.
	api.HoldAfter(15)
	api.Throttle(3)
	h.start()
	waitCount(t, h, 375)
	h.stop()
	api.Release()
	h.start()
	waitItems(t, h, api)

	h.stop()
	items := api.Items()
	at := time.Now().Add(-time.Minute) // 50 changes at one timestamp: ties across two pages
	for i, it := range items[:50] {
		it.UpdatedAt = at
		switch {
		case i < 30:
			it.Name = "renamed " + it.Name
		case i < 35:
			it.Status = "deleted"
		case i < 40:
			it.Status = "purged"
		}
		if i < 40 {
			api.Put(it)
		} else if err := api.Delete(it.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	api.Throttle(2)
	h.start()
	waitItems(t, h, api)
	if n := len(api.Items()); n != 990 {
		t.Fatalf("%d items in the API, want 990", n)
	}

	s := h.serde()
	for _, topic := range []string{topics.Raw("syncline", "shop", "shop", "items"), topics.Change("syncline", "shop", "shop", "items")} {
		seen := map[string]bool{}
		ops := map[schemas.Op]int{}
		for _, r := range h.topicRecords(topic) {
			ch, err := s.Decode(context.Background(), r.Key, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			k := fmt.Sprint(ch.Key["id"]) + "@" + ch.Source.Position
			if seen[k] {
				t.Errorf("%s holds %s twice", topic, k)
			}
			seen[k] = true
			ops[ch.Op]++
		}
		if ops[schemas.OpRead] != 1000 || ops[schemas.OpUpdate] != 30 || ops[schemas.OpDelete] != 20 || len(seen) != 1050 {
			t.Errorf("%s: %d versions, ops %v; want 1000 r, 30 u, 20 d", topic, len(seen), ops)
		}
	}
	if n := api.Throttled(); n < 5 {
		t.Errorf("the emulator answered %d 429s, want at least the 5 injected", n)
	}
}

// waitCount waits until analytics.items holds n rows.
func waitCount(t *testing.T, h *harness, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := rows(t, h.whDSN, "SELECT count(*) FROM analytics.items")
		if len(got) == 1 && got[0] == "("+strconv.Itoa(n)+")" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("analytics.items: %v rows, want %d", got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitItems waits until analytics.items holds the API's live items with
// their current name and amount.
func waitItems(t *testing.T, h *harness, api *rest.Server) {
	t.Helper()
	var want []string
	for _, it := range api.Items() {
		if it.Status != "deleted" && it.Status != "purged" {
			want = append(want, fmt.Sprintf("(%d,%q,%s)", it.ID, it.Name, strconv.FormatFloat(it.Amount, 'f', -1, 64)))
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := rows(t, h.whDSN, "SELECT id::bigint, name, amount FROM analytics.items ORDER BY id::bigint")
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("warehouse items: %d rows (first %v), want %d (first %v)", len(got), first(got), len(want), first(want))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

package pipeline_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/hubspot"
	"syncline/internal/topics"
)

// HubSpot emulator → raw topic → changes stage → warehouse, through
// `syncline run`'s wiring: the warehouse ends equal to the CRM (updates
// applied, archived contacts deleted) across a restart, and every version
// is on the change topic once.
func TestHubSpotSourceToWarehouse(t *testing.T) {
	h := newHarness(t)
	emu := hubspot.New(hubspot.Options{Token: "pat-e2e", RateLimitMax: 50, RateLimitInterval: 100 * time.Millisecond})
	srv := emu.Start()
	t.Cleanup(srv.Close)
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	for i := range 1000 {
		emu.Create("contacts", map[string]string{"email": fmt.Sprintf("c%d@example.com", i), "score": strconv.Itoa(i)}, base.Add(time.Duration(i/100)*time.Second))
	}
	t.Setenv("HUBSPOT_TOKEN", "pat-e2e")
	h.cfgText = strings.Replace(h.cfgText, "sinks:", fmt.Sprintf(`  - name: crm
    type: hubspot
    hubspot:
      token: ${HUBSPOT_TOKEN}
      base_url: %s
      objects:
        - {type: contacts, properties: [email, "score:int64"]}
      poll_interval: 100ms
      settle: 1ms
      requests_per_second: 100
sinks:`, srv.URL), 1)
	h.cfgText = strings.Replace(h.cfgText, "from: [app.*]", "from: [app.*, crm.*]", 1)
	h.start()
	waitCRM(t, h, emu)

	h.stop()
	objs := emu.Objects("contacts")
	at := time.Now().Add(-time.Minute)
	for _, o := range objs[:20] {
		if err := emu.Update("contacts", o.ID, map[string]string{"email": "new-" + o.Properties["email"]}, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range objs[990:] {
		if err := emu.Archive("contacts", o.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	waitCRM(t, h, emu)

	s := h.serde()
	seen := map[string]bool{}
	for _, r := range h.topicRecords(topics.Change("syncline", "crm", "hubspot", "contacts")) {
		ch, err := s.Decode(context.Background(), r.Key, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprint(ch.Key["id"]) + "@" + ch.Source.Position
		if seen[k] {
			t.Errorf("change topic holds %s twice", k)
		}
		seen[k] = true
	}
	if len(seen) != 1000+20+10 {
		t.Errorf("%d changes, want 1030 (1000 reads, 20 updates, 10 deletes)", len(seen))
	}
}

// waitCRM waits until analytics.contacts holds the emulator's live
// contacts with their current email and score.
func waitCRM(t *testing.T, h *harness, emu *hubspot.Server) {
	t.Helper()
	var want []string
	for _, o := range emu.Objects("contacts") {
		if !o.Archived {
			want = append(want, fmt.Sprintf("(%d,%s,%s)", o.ID, o.Properties["email"], o.Properties["score"]))
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := rows(t, h.whDSN, "SELECT id::bigint, email, score FROM analytics.contacts ORDER BY id::bigint")
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("warehouse contacts: %d rows (first %v), want %d (first %v)", len(got), first(got), len(want), first(want))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

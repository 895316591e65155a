package pipeline_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/mailchimp"
	"syncline/internal/emulator/salesforce"
	"syncline/internal/emulator/stripe"
	"syncline/internal/emulator/zendesk"
)

// Salesforce, Stripe, Zendesk and Mailchimp emulators → raw topics →
// changes stage → warehouse, through `syncline run`'s wiring of
// `type: salesforce|stripe|zendesk|mailchimp` sources: the warehouse ends
// with each provider's live objects, deletes applied, across a restart.
func TestSaaSProfileSourcesToWarehouse(t *testing.T) {
	h := newHarness(t)
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)

	sf := salesforce.New(salesforce.Options{Token: "sf-token", BatchSize: 200})
	st := stripe.New(stripe.Options{APIKey: "sk_test_e2e"})
	zd := zendesk.New(zendesk.Options{Email: "ops@example.com", APIToken: "zd-token"})
	mc := mailchimp.New(mailchimp.Options{APIKey: "key-us6"})
	urls := map[string]string{}
	for name, start := range map[string]func() string{
		"sf": func() string { s := sf.Start(); t.Cleanup(s.Close); return s.URL },
		"st": func() string { s := st.Start(); t.Cleanup(s.Close); return s.URL },
		"zd": func() string { s := zd.Start(); t.Cleanup(s.Close); return s.URL },
		"mc": func() string { s := mc.Start(); t.Cleanup(s.Close); return s.URL },
	} {
		urls[name] = start()
	}
	for i := range 300 {
		at := base.Add(time.Duration(i/50) * time.Second)
		sf.Create("Account", map[string]any{"Name": fmt.Sprintf("Acme %d", i)}, at)
		st.Create("customer", map[string]any{"email": fmt.Sprintf("c%d@example.com", i)}, at)
		zd.Create("tickets", map[string]any{"subject": fmt.Sprintf("help %d", i)}, at)
		mc.Add("a1b2c3", fmt.Sprintf("m%d@example.com", i), "subscribed", map[string]any{"FNAME": "M"}, at)
	}
	t.Setenv("SF_TOKEN", "sf-token")
	t.Setenv("STRIPE_KEY", "sk_test_e2e")
	t.Setenv("ZD_TOKEN", "zd-token")
	t.Setenv("MC_KEY", "key-us6")
	fast := "poll_interval: 100ms\n      lookback: 2s\n      settle: 1ms\n      requests_per_second: 200"
	h.cfgText = strings.Replace(h.cfgText, "sinks:", fmt.Sprintf(`  - name: sfdc
    type: salesforce
    salesforce:
      instance_url: %s
      token: ${SF_TOKEN}
      objects: [{type: Account, properties: [Name]}]
      %s
  - name: pay
    type: stripe
    stripe:
      base_url: %s
      api_key: ${STRIPE_KEY}
      objects: [{type: customer, properties: [email]}]
      %s
  - name: desk
    type: zendesk
    zendesk:
      base_url: %s
      email: ops@example.com
      api_token: ${ZD_TOKEN}
      objects: [{type: tickets, properties: [subject, status]}]
      %s
  - name: mc
    type: mailchimp
    mailchimp:
      base_url: %s
      api_key: ${MC_KEY}
      lists: [{id: a1b2c3, name: newsletter, properties: [email_address, status]}]
      %s
sinks:`, urls["sf"], fast, urls["st"], fast, urls["zd"], fast, urls["mc"], fast), 1)
	h.cfgText = strings.Replace(h.cfgText, "from: [app.*]", "from: [app.*, sfdc.*, pay.*, desk.*, mc.*]", 1)

	live := func() map[string][]string {
		out := map[string][]string{}
		for _, r := range sf.Records("Account") {
			if !r.IsDeleted {
				out["account"] = append(out["account"], r.ID)
			}
		}
		for _, o := range st.Objects("customer") {
			if !o.Deleted {
				out["customer"] = append(out["customer"], o.ID)
			}
		}
		for _, r := range zd.Records("tickets") {
			if !r.Deleted {
				out["tickets"] = append(out["tickets"], strconv.FormatInt(r.ID, 10))
			}
		}
		for _, m := range mc.Members("a1b2c3") {
			if m.Status != "archived" {
				out["newsletter"] = append(out["newsletter"], m.ID)
			}
		}
		return out
	}
	h.start()
	waitTables(t, h, live())

	h.stop()
	at := time.Now().Add(-time.Minute)
	for _, r := range sf.Records("Account")[:10] {
		if err := sf.Delete("Account", r.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range st.Objects("customer")[:10] {
		if err := st.Delete(o.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range zd.Records("tickets")[:10] {
		if err := zd.Delete("tickets", r.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range mc.Members("a1b2c3")[:10] {
		if err := mc.Update("a1b2c3", m.ID, "archived", nil, at); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	want := live()
	for table, ids := range want {
		if len(ids) != 290 {
			t.Fatalf("%s: %d live objects in the emulator, want 290", table, len(ids))
		}
	}
	waitTables(t, h, want)
}

// waitTables waits until each analytics table holds exactly the ids want
// lists for it.
func waitTables(t *testing.T, h *harness, want map[string][]string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for table, ids := range want {
		ids = slices.Sorted(slices.Values(ids))
		for {
			got := rows(t, h.whDSN, "SELECT id FROM analytics."+table)
			for i, g := range got {
				got[i] = strings.Trim(g, "()")
			}
			slices.Sort(got)
			if slices.Equal(got, ids) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("analytics.%s: %d rows (first %v), want %d (first %v)", table, len(got), first(got), len(ids), first(ids))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

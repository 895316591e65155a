package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/salesforce"
	"syncline/internal/testenv"
)

// TestDiffAndRepairSalesforceSinkThroughRun: `syncline run` delivers
// people to the Salesforce emulator (and deletes one); a Contact deleted,
// one edited and the deleted person's Contact undeleted in Salesforce are
// reported by `syncline diff` (text and json, exit 1); --repair heals them
// through the running sink with exactly one create, one update and one
// delete, and diff is in sync again (exit 0).
func TestDiffAndRepairSalesforceSinkThroughRun(t *testing.T) {
	emu := salesforce.New(salesforce.Options{Token: "sf-diff"})
	srv := emu.Start()
	t.Cleanup(srv.Close)
	bin, path, env, pg := peopleRun(t, `(1, 'same@example.com', 'Sam'), (2, 'gone@example.com', 'Gina'), (3, 'edited@example.com', 'Eddie'), (4, 'restored@example.com', 'Rita')`,
		fmt.Sprintf(`  - name: sf
    type: salesforce
    from: [app.public.people]
    batch_timeout: 50ms
    salesforce:
      instance_url: %s
      access_token: ${SF_TOKEN}
      sobject: Contact
      external_id_field: Email
      requests_per_second: 100
      fields:
        - {name: Email, from: email, transform: email, required: true}
        - {name: FirstName, from: name}
`, srv.URL), "SF_TOKEN=sf-diff")
	byEmail := func(deleted bool) map[string]salesforce.Record {
		out := map[string]salesforce.Record{}
		for _, r := range emu.Records("Contact") {
			if r.IsDeleted == deleted {
				out[fmt.Sprint(r.Fields["Email"])] = r
			}
		}
		return out
	}
	testenv.WaitFor(t, 90*time.Second, "4 Contacts in Salesforce", func() bool { return len(byEmail(false)) == 4 })
	pg.Exec(t, "app", `DELETE FROM people WHERE id = 4`)
	testenv.WaitFor(t, 60*time.Second, "the deleted person's Contact deleted", func() bool { return len(byEmail(false)) == 3 })
	if out, stderr, code := diffRun(t, bin, env, "--config", path, "--sink", "sf", "--settle", "0"); code != 0 || !strings.Contains(out, "salesforce Contact: in sync (3 rows") {
		t.Fatalf("diff of a delivered sink: exit %d\n%s%s", code, out, stderr)
	}

	l := byEmail(false)
	now := time.Now()
	if err := emu.Delete("Contact", l["gone@example.com"].ID, now); err != nil {
		t.Fatal(err)
	}
	if err := emu.Update("Contact", l["edited@example.com"].ID, map[string]any{"FirstName": "Edward"}, now); err != nil {
		t.Fatal(err)
	}
	if err := emu.Undelete("Contact", byEmail(true)["restored@example.com"].ID, now); err != nil {
		t.Fatal(err)
	}

	out, stderr, code := diffRun(t, bin, env, "--config", path, "--sink", "sf", "--settle", "200ms")
	if code != 1 || !strings.Contains(out, "3 rows differ (1 missing, 1 extra, 1 different)") ||
		!strings.Contains(out, "missing   Email=gone@example.com") || !strings.Contains(out, "extra     Email=restored@example.com") ||
		!strings.Contains(out, `Email=edited@example.com FirstName: ledger "Eddie", Salesforce "Edward"`) {
		t.Errorf("text report: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("syncline diff:\n%s", out)
	out, stderr, code = diffRun(t, bin, env, "--config", path, "--sink", "sf", "--output", "json", "--settle", "0")
	var rep struct {
		InSync bool `json:"in_sync"`
		Drift  int  `json:"drift_rows"`
		Tables []struct {
			Missing, Extra, Different [][]string
			Properties                []struct{ Property, Ledger, Provider string }
		} `json:"tables"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 {
		t.Fatalf("json output: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	if rep.InSync || rep.Drift != 3 || len(rep.Tables) != 1 || fmt.Sprint(rep.Tables[0].Missing) != "[[gone@example.com]]" ||
		fmt.Sprint(rep.Tables[0].Extra) != "[[restored@example.com]]" || fmt.Sprint(rep.Tables[0].Different) != "[[edited@example.com]]" ||
		len(rep.Tables[0].Properties) != 1 || rep.Tables[0].Properties[0].Provider != "Edward" {
		t.Errorf("json report %+v", rep)
	}

	before := emu.WriteStats()
	sameWrite := fmt.Sprint(emu.LastWrite(l["same@example.com"].ID))
	out, stderr, code = diffRun(t, bin, env, "--config", path, "--sink", "sf", "--repair", "--settle", "0")
	if code != 1 || !strings.Contains(out, "repair sent: 2 upserts, 1 deletes") {
		t.Fatalf("diff --repair: exit %d\n%s%s", code, out, stderr)
	}
	testenv.WaitFor(t, 60*time.Second, "diff in sync after the repair", func() bool {
		_, _, code := diffRun(t, bin, env, "--config", path, "--sink", "sf", "--settle", "0")
		return code == 0
	})
	after := emu.WriteStats()
	if c, u, d := after.Creates-before.Creates, after.Updates-before.Updates, after.Deletes-before.Deletes; c != 1 || u != 1 || d != 1 {
		t.Errorf("the repair made %d creates, %d updates and %d deletes, want 1, 1 and 1", c, u, d)
	}
	if w := fmt.Sprint(emu.LastWrite(l["same@example.com"].ID)); w != sameWrite {
		t.Errorf("the unchanged Contact was written: %s, before %s", w, sameWrite)
	}
	l = byEmail(false)
	if len(l) != 3 || l["gone@example.com"].Fields["FirstName"] != "Gina" || l["edited@example.com"].Fields["FirstName"] != "Eddie" {
		t.Errorf("after the repair: %+v", l)
	}

	if _, stderr, code := diffRun(t, bin, env, "--config", path, "--sink", "sf", "people"); code != 2 || !strings.Contains(stderr, "without TABLE arguments") {
		t.Errorf("diff of a salesforce sink with a table: exit %d, stderr %q; want 2", code, stderr)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/hubspot"
	"syncline/internal/testenv"
)

// TestDiffAndRepairHubSpotSinkThroughRun: `syncline run` delivers people
// to the HubSpot emulator; a contact deleted and one edited in HubSpot are
// reported by `syncline diff` (text and json, exit 1), --repair heals them
// through the running sink without writing the unchanged contact, and diff
// is in sync again (exit 0).
func TestDiffAndRepairHubSpotSinkThroughRun(t *testing.T) {
	bin := buildBinary(t)
	pg := testenv.StartPostgres(t)
	src := pg.CreateDatabase(t, "app")
	pg.Exec(t, "app", `CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL, name text);
INSERT INTO people VALUES (1, 'same@example.com', 'Sam'), (2, 'gone@example.com', 'Gina'), (3, 'edited@example.com', 'Eddie')`)
	emu := hubspot.New(hubspot.Options{Token: "pat-diff"})
	srv := emu.Start()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	httpPort, kafkaPort, regPort := freePort(t), freePort(t), freePort(t)
	cfg := fmt.Sprintf(`name: diff
data_dir: %s
kafka: {embedded: {listen: "127.0.0.1:%d"}}
registry: {listen: "127.0.0.1:%d"}
http: {listen: "127.0.0.1:%d"}
sources: [{name: app, type: postgres, dsn: "${SRC}", tables: [people]}]
sinks:
  - name: crm
    type: hubspot
    from: [app.public.people]
    batch_timeout: 50ms
    hubspot:
      token: ${HUBSPOT_TOKEN}
      base_url: %s
      object_type: contacts
      id_property: email
      properties:
        - {name: email, from: email, transform: email, required: true}
        - {name: firstname, from: name}
`, dir, kafkaPort, regPort, httpPort, srv.URL)
	path := filepath.Join(dir, "p.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	env := append(os.Environ(), "SRC="+src, "HUBSPOT_TOKEN=pat-diff")
	startRun(t, bin, path, env)
	live := func() map[string]hubspot.Object { return emu.Live("contacts", "email") }
	testenv.WaitFor(t, 90*time.Second, "3 contacts in HubSpot", func() bool { return len(live()) == 3 })
	if out, stderr, code := diffRun(t, bin, env, "--config", path, "--sink", "crm", "--settle", "0"); code != 0 || !strings.Contains(out, "hubspot contacts: in sync (3 rows") {
		t.Fatalf("diff of a delivered sink: exit %d\n%s%s", code, out, stderr)
	}

	l := live()
	now := time.Now()
	if err := emu.Archive("contacts", l["gone@example.com"].ID, now); err != nil {
		t.Fatal(err)
	}
	if err := emu.Update("contacts", l["edited@example.com"].ID, map[string]string{"firstname": "Edward"}, now); err != nil {
		t.Fatal(err)
	}
	sameID := l["same@example.com"].ID

	out, stderr, code := diffRun(t, bin, env, "--config", path, "--sink", "crm", "--settle", "200ms")
	if code != 1 || !strings.Contains(out, "2 rows differ (1 missing, 0 extra, 1 different)") ||
		!strings.Contains(out, "missing   email=gone@example.com") || !strings.Contains(out, `email=edited@example.com firstname: ledger "Eddie", HubSpot "Edward"`) {
		t.Errorf("text report: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("syncline diff:\n%s", out)
	out, stderr, code = diffRun(t, bin, env, "--config", path, "--sink", "crm", "--output", "json", "--settle", "0")
	var rep struct {
		InSync bool `json:"in_sync"`
		Drift  int  `json:"drift_rows"`
		Tables []struct {
			Table              string
			Missing, Different [][]string
			Properties         []struct{ Property, Ledger, Provider string }
		} `json:"tables"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 {
		t.Fatalf("json output: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	if rep.InSync || rep.Drift != 2 || len(rep.Tables) != 1 || fmt.Sprint(rep.Tables[0].Missing) != "[[gone@example.com]]" ||
		fmt.Sprint(rep.Tables[0].Different) != "[[edited@example.com]]" || len(rep.Tables[0].Properties) != 1 || rep.Tables[0].Properties[0].Provider != "Edward" {
		t.Errorf("json report %+v", rep)
	}

	before := emu.WriteStats()
	sameBefore := emu.ObjectWrites("contacts")[sameID]
	out, stderr, code = diffRun(t, bin, env, "--config", path, "--sink", "crm", "--repair", "--settle", "0")
	if code != 1 || !strings.Contains(out, "repair sent: 2 upserts, 0 deletes") {
		t.Fatalf("diff --repair: exit %d\n%s%s", code, out, stderr)
	}
	testenv.WaitFor(t, 60*time.Second, "diff in sync after the repair", func() bool {
		_, _, code := diffRun(t, bin, env, "--config", path, "--sink", "crm", "--settle", "0")
		return code == 0
	})
	after := emu.WriteStats()
	if after.Creates-before.Creates != 1 || after.Updates-before.Updates != 1 {
		t.Errorf("the repair made %d creates and %d updates, want 1 and 1", after.Creates-before.Creates, after.Updates-before.Updates)
	}
	if w := emu.ObjectWrites("contacts")[sameID]; w != sameBefore {
		t.Errorf("the unchanged contact was written: %+v, before %+v", w, sameBefore)
	}
	l = live()
	if l["gone@example.com"].Properties["firstname"] != "Gina" || l["edited@example.com"].Properties["firstname"] != "Eddie" {
		t.Errorf("after the repair: %+v", l)
	}

	if _, stderr, code := diffRun(t, bin, env, "--config", path, "--sink", "crm", "people"); code != 2 || !strings.Contains(stderr, "without TABLE arguments") {
		t.Errorf("diff of a hubspot sink with a table: exit %d, stderr %q; want 2", code, stderr)
	}
}

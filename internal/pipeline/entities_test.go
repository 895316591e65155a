package pipeline_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const entitiesConfig = `
name: ent
data_dir: %s
kafka:
  partitions: 3
  embedded: {listen: 127.0.0.1:0}
registry: {listen: 127.0.0.1:0}
http: {listen: 127.0.0.1:0, token: "${HTTP_TOKEN}"}
sources:
  - name: app
    type: postgres
    dsn: ${APP_DSN}
    tables: [public.customers]
    batch_max_wait: 20ms
  - name: crm
    type: postgres
    dsn: ${CRM_DSN}
    tables: [public.contacts]
    batch_max_wait: 20ms
entities:
  - name: contact
    sources:
      - from: app.public.customers
        fields: {email: email, name: name, balance: balance}
      - from: crm.public.contacts
        fields: {email: email, name: full_name, phone: phone, lifecycle: stage}
        external_ids: {app: app_id}
    fields:
      email: {}
      name: {}
      phone: {}
      lifecycle: {}
      balance: {type: numeric, anomaly: {factor: 10}}
    quality:
      fields:
        email: {normalize: email}
        phone: {normalize: phone, region: US}
        lifecycle: {normalize: lifecycle_stage}
sinks:
  - name: wh
    type: postgres
    dsn: ${WH_DSN}
    schema: analytics
    from: [entity.contact]
    batch_timeout: 50ms
`

// apiJSON calls the admin API with the token and decodes the answer.
func apiJSON(t *testing.T, method, url, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// Postgres and a second database (a CRM's) into one golden contact table
// in the warehouse: duplicates with formatting differences and external
// id cross references merged, values cleaned; a $100 → $1 balance held
// for review, then approved in the web console in a real browser; the
// history API names each value's source.
func TestEntitiesFromTwoDatabasesIntoTheWarehouse(t *testing.T) {
	h := newHarness(t)
	crmDSN := h.pg.CreateDatabase(t, "crm")
	h.pg.Exec(t, "crm", `CREATE TABLE contacts (id bigint PRIMARY KEY, email text, full_name text, phone text, stage text, app_id bigint)`)
	t.Setenv("CRM_DSN", crmDSN)
	t.Setenv("HTTP_TOKEN", "review-s3cret")
	h.cfgText = fmt.Sprintf(entitiesConfig, h.dataDir)
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email, name, balance) VALUES
		(1, 'Jane.Doe@Example.com', 'Jane Doe', 100.00),
		(2, 'bob@example.com', 'Bob Stone', 20.00),
		(3, 'carol@king.org', 'Carol King', 30.00)`)
	h.pg.Exec(t, "crm", `INSERT INTO contacts VALUES
		(501, ' JANE.DOE@example.com ', 'Jane Doe', '(415) 555-0101', 'MQL', NULL),
		(503, 'ck@work.example', 'C. King', NULL, 'customer', 3),
		(504, 'dan@example.com', 'Dan Brown', '415 555 0104', 'lead', NULL)`)
	h.start()

	golden := func() string {
		return strings.Join(rows(t, h.whDSN, `SELECT id, email, name, coalesce(phone, '-'), coalesce(lifecycle, '-'), coalesce(balance::text, '-'), _sources::text FROM analytics.contact ORDER BY id`), "\n")
	}
	waitGolden := func(what string, want string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			got := ""
			if len(rows(t, h.whDSN, `SELECT 1 FROM pg_tables WHERE schemaname = 'analytics' AND tablename = 'contact'`)) > 0 {
				got = golden()
			}
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: warehouse golden records\n%s\nwant\n%s", what, got, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitGolden("initial merge", strings.Join([]string{
		`(app:1,jane.doe@example.com,"Jane Doe",+14155550101,marketing_qualified_lead,100,"[""app:1"", ""crm:501""]")`,
		`(app:2,bob@example.com,"Bob Stone",-,-,20,"[""app:2""]")`,
		`(app:3,carol@king.org,"Carol King",-,customer,30,"[""app:3"", ""crm:503""]")`,
		`(crm:504,dan@example.com,"Dan Brown",+14155550104,lead,-,"[""crm:504""]")`,
	}, "\n"))

	h.pg.Exec(t, "app", `UPDATE customers SET balance = 1.00 WHERE id = 1`)
	base := h.addrs.HTTP
	var list struct {
		Reviews []struct {
			ID, Kind, Field, EntityID, Status string
			Value                             *string
		} `json:"reviews"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(list.Reviews) == 0 {
		if code := apiJSON(t, "GET", base+"/api/v1/reviews", "review-s3cret", nil, &list); code != 200 {
			t.Fatalf("GET /api/v1/reviews: %d", code)
		}
		if time.Now().After(deadline) {
			t.Fatal("no review item for the $100 → $1 change")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rv := list.Reviews[0]; len(list.Reviews) != 1 || rv.Kind != "anomaly" || rv.Field != "balance" || rv.Status != "pending" {
		t.Fatalf("reviews %+v; want one pending anomaly on balance", list.Reviews)
	}
	if g := golden(); !strings.Contains(g, `Jane Doe",+14155550101,marketing_qualified_lead,100,`) {
		t.Fatalf("the held balance reached the warehouse before review:\n%s", g)
	}

	t.Run("the console approves the held change", func(t *testing.T) {
		ctx := browser(t)
		page := `document.body.innerText.slice(0, 3000)`
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "the sign-in form", `!document.getElementById("login").hidden`, page, 30*time.Second)
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#token"), "review-s3cret"), chromedp.Click(chromedp.CSS("#login-form button"))); err != nil {
			t.Fatal(err)
		}
		sel := `document.querySelector('#review-table tr[data-review="` + list.Reviews[0].ID + `"]')`
		waitJS(t, ctx, "the review row", sel+` && `+sel+`.dataset.status === "pending" && `+sel+`.innerText.includes("balance")`, page, 30*time.Second)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#review-table tr[data-review="`+list.Reviews[0].ID+`"] button[data-action="approve"]`))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "the approval", `document.getElementById("review-result").textContent.includes("approved")`, page, 60*time.Second)
		waitGolden("approved balance", strings.Join([]string{
			`(app:1,jane.doe@example.com,"Jane Doe",+14155550101,marketing_qualified_lead,1,"[""app:1"", ""crm:501""]")`,
			`(app:2,bob@example.com,"Bob Stone",-,-,20,"[""app:2""]")`,
			`(app:3,carol@king.org,"Carol King",-,customer,30,"[""app:3"", ""crm:503""]")`,
			`(crm:504,dan@example.com,"Dan Brown",+14155550104,lead,-,"[""crm:504""]")`,
		}, "\n"))
		var again map[string]any
		if code := apiJSON(t, "POST", base+"/api/v1/reviews/"+list.Reviews[0].ID+"/reject", "review-s3cret", map[string]any{}, &again); code != http.StatusConflict {
			t.Errorf("a second decision: %d, want 409", code)
		}
	})

	t.Run("history names each value's source and why it won", func(t *testing.T) {
		var hist struct {
			Merged []string `json:"merged"`
			Fields map[string][]struct {
				Value  *string `json:"value"`
				Source string  `json:"source"`
				Reason string  `json:"reason"`
			} `json:"fields"`
		}
		if code := apiJSON(t, "GET", base+"/api/v1/entities/contact/app:1/history", "review-s3cret", nil, &hist); code != 200 {
			t.Fatalf("history: %d", code)
		}
		var bal []string // the values the balance had, nulls left out
		steps := hist.Fields["balance"]
		for _, s := range steps {
			if s.Value != nil {
				bal = append(bal, *s.Value)
			}
		}
		if strings.Join(bal, ",") != "100,1" || !strings.Contains(steps[len(steps)-1].Reason, "review") {
			t.Errorf("balance history %+v; want 100 then 1 (approved in review)", steps)
		}
		if ph := hist.Fields["phone"]; len(ph) == 0 || ph[0].Source != "crm" {
			t.Errorf("phone history %+v; want it from crm", ph)
		}
		if code := apiJSON(t, "GET", base+"/api/v1/entities/contact/app:99/history", "review-s3cret", nil, nil); code != http.StatusNotFound {
			t.Errorf("history of an unknown entity: %d, want 404", code)
		}
	})

	t.Run("a restart keeps the golden records and merges what comes next", func(t *testing.T) {
		h.stop()
		h.pg.Exec(t, "crm", `INSERT INTO contacts VALUES (502, 'BOB@EXAMPLE.COM', 'Bob Stone', '415-555-0102', 'SQL', NULL)`)
		h.start()
		waitGolden("bob merged after restart", strings.Join([]string{
			`(app:1,jane.doe@example.com,"Jane Doe",+14155550101,marketing_qualified_lead,1,"[""app:1"", ""crm:501""]")`,
			`(app:2,bob@example.com,"Bob Stone",+14155550102,sales_qualified_lead,20,"[""app:2"", ""crm:502""]")`,
			`(app:3,carol@king.org,"Carol King",-,customer,30,"[""app:3"", ""crm:503""]")`,
			`(crm:504,dan@example.com,"Dan Brown",+14155550104,lead,-,"[""crm:504""]")`,
		}, "\n"))
	})
}

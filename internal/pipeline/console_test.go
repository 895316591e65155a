package pipeline_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds the browser the console tests drive: $CHROMIUM, or
// Debian's chromium (scripts/install-deps.sh installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, b := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if b == "" {
			continue
		}
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found (tried $CHROMIUM, chromium, chromium-browser, google-chrome): run scripts/install-deps.sh (apt-get install chromium)")
	return ""
}

// browser starts headless Chromium for the test; the flags keep it from
// reaching for the network (this machine's is closed) and from needing a
// sandbox when run as root.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 1000),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// waitJS evaluates a JavaScript boolean expression in the page until it is
// true; on timeout it fails with describe's value (a JS expression too).
func waitJS(t *testing.T, ctx context.Context, what, expr, describe string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("Boolean("+expr+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			desc, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("String("+describe+")"))
			t.Fatalf("waiting for %s: not after %v (err %v); page: %s", what, timeout, err, desc)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func text(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("String("+expr+")"))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// The web console in a real browser, over a running pipeline with a token:
// it asks for the token, shows every component ready with throughput and
// latency charts, starts a backfill that runs to done, and shows a row the
// warehouse rejected in the DLQ; once the cause is fixed, Replay delivers
// it to the warehouse.
func TestConsoleInABrowser(t *testing.T) {
	h := newHarness(t)
	h.cfgText = strings.Replace(h.cfgText, "http: {listen: 127.0.0.1:0}", `http: {listen: 127.0.0.1:0, token: "${HTTP_TOKEN}"}`, 1)
	t.Setenv("HTTP_TOKEN", "console-s3cret")
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email, balance) SELECT g, 'c'||g||'@example.com', g FROM generate_series(1, 200) g;
INSERT INTO orders (tenant, id, customer_id, amount) SELECT g % 3, g, g % 200 + 1, g FROM generate_series(1, 3000) g;`)
	h.start()
	h.waitInSync(60 * time.Second)

	t.Run("the API needs the token and the probes do not", func(t *testing.T) {
		for path, want := range map[string]int{"/api/v1/status": 401, "/api/v1/dlq": 401, "/metrics": 200, "/readyz": 200, "/console/": 200} {
			resp, err := http.Get(h.addrs.HTTP + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s without a token: %d, want %d", path, resp.StatusCode, want)
			}
		}
	})

	ctx := browser(t)
	page := `document.body.innerText.slice(0, 2000)`
	if err := chromedp.Do(ctx, chromedp.Navigate(h.addrs.HTTP+"/")); err != nil {
		t.Fatal(err)
	}
	t.Run("it asks for the token and refuses a wrong one", func(t *testing.T) {
		waitJS(t, ctx, "the sign-in form", `!document.getElementById("login").hidden`, page, 30*time.Second)
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#token"), "wrong"), chromedp.Click(chromedp.CSS("#login-form button"))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "the wrong-token message", `document.getElementById("login-error").textContent.includes("wrong token")`, page, 30*time.Second)
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#token"), "console-s3cret"), chromedp.Click(chromedp.CSS("#login-form button"))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "the console", `!document.getElementById("app").hidden`, page, 30*time.Second)
	})

	t.Run("status, throughput and latency render", func(t *testing.T) {
		waitJS(t, ctx, "every component ready", `document.querySelectorAll("#components tbody tr").length >= 3 && document.getElementById("overall").textContent === "all ready"`,
			`document.getElementById("components").innerText`, 60*time.Second)
		comps := text(t, ctx, `document.getElementById("components").innerText`)
		for _, c := range []string{"source app", "changes stage", "sink wh"} {
			if !strings.Contains(comps, c) {
				t.Errorf("components table lacks %q:\n%s", c, comps)
			}
		}
		// Changes flowing give the charts points.
		h.pg.Exec(t, "app", `UPDATE customers SET name = 'n' || id WHERE id <= 100`)
		waitJS(t, ctx, "the sink in the sinks table", `document.getElementById("sinks").innerText.includes("wh")`, `document.getElementById("sinks").innerText`, 30*time.Second)
		waitJS(t, ctx, "a throughput line for the source and the sink",
			`document.querySelector('#chart-throughput path[data-series="source app"]') && document.querySelector('#chart-throughput path[data-series="sink wh"]')`,
			`document.getElementById("legend-throughput").innerText`, 30*time.Second)
		waitJS(t, ctx, "a latency line for the sink", `document.querySelector('#chart-latency path[data-series="sink wh"]')`,
			`document.getElementById("legend-latency").innerText`, 30*time.Second)
		src := text(t, ctx, `document.getElementById("sources").innerText`)
		if !strings.Contains(src, "app") {
			t.Errorf("sources table: %q, want a row for app", src)
		}
	})

	t.Run("a backfill started from the console runs to done", func(t *testing.T) {
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS("#bf-tables"), "public.orders"),
			chromedp.SetValue(chromedp.CSS("#bf-chunk"), "500"),
			chromedp.Click(chromedp.CSS(`#backfill-form button[type="submit"]`))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "the backfill requested", `document.getElementById("bf-result").textContent.includes("requested")`, `document.getElementById("bf-result").textContent`, 30*time.Second)
		waitJS(t, ctx, "the orders backfill done at 100%",
			`[...document.querySelectorAll("#backfill-table tbody tr")].some(r => r.dataset.table === "public.orders" && r.dataset.state === "done" && r.innerText.includes("100%"))`,
			`document.getElementById("backfill-table").innerText`, 90*time.Second)
		row := text(t, ctx, `[...document.querySelectorAll("#backfill-table tbody tr")].find(r => r.dataset.table === "public.orders").innerText`)
		if !strings.Contains(row, "3,000") && !strings.Contains(row, "3000") {
			t.Errorf("backfill row %q: want 3000 rows read", row)
		}
		h.waitInSync(30 * time.Second)
	})

	t.Run("a rejected row shows in the DLQ and Replay delivers it once fixed", func(t *testing.T) {
		h.pg.Exec(t, "warehouse", `ALTER TABLE analytics.customers ADD CONSTRAINT balance_cap CHECK (balance < 1000)`)
		h.pg.Exec(t, "app", `UPDATE customers SET balance = 5000 WHERE id = 7`)
		dlqRow := `[...document.querySelectorAll("#dlq-table tbody tr")].find(r => r.innerText.includes("rejected"))`
		waitJS(t, ctx, "the rejected row in the DLQ table", dlqRow, `document.getElementById("dlq").innerText`, 60*time.Second)
		row := text(t, ctx, dlqRow+".innerText")
		for _, w := range []string{"sink", "rejected", "balance_cap", "syncline.app.public.customers"} {
			if !strings.Contains(row, w) {
				t.Errorf("DLQ row %q lacks %q", row, w)
			}
		}
		if got := rows(t, h.whDSN, "SELECT balance FROM analytics.customers WHERE id = 7"); len(got) != 1 || got[0] != "(7.00)" {
			t.Fatalf("warehouse balance of 7 before the replay: %v, want (7.00)", got)
		}
		h.pg.Exec(t, "warehouse", `ALTER TABLE analytics.customers DROP CONSTRAINT balance_cap`)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("("+dlqRow+`.querySelector("button").click(), true)`)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "the replay reported", `document.getElementById("dlq-result").textContent.startsWith("replayed 1")`, `document.getElementById("dlq-result").textContent`, 30*time.Second)
		h.waitInSync(30 * time.Second)
		if got := rows(t, h.whDSN, "SELECT balance FROM analytics.customers WHERE id = 7"); len(got) != 1 || got[0] != "(5000.00)" {
			t.Errorf("warehouse balance of 7 after the replay: %v, want (5000.00)", got)
		}
		// A replayed entry leaves the default list and shows as replayed.
		waitJS(t, ctx, "the entry gone from the list", `!(`+dlqRow+`)`, `document.getElementById("dlq").innerText`, 30*time.Second)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#dlq-show-replayed"))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "the entry shown as replayed", `[...document.querySelectorAll("#dlq-table tbody tr")].some(r => r.dataset.replayed === "true")`, `document.getElementById("dlq").innerText`, 30*time.Second)
	})

	t.Run("the record history shows the replayed write", func(t *testing.T) {
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS("#audit-sink"), "wh"),
			chromedp.SetValue(chromedp.CSS("#audit-table"), "customers"),
			chromedp.SetValue(chromedp.CSS("#audit-key"), `{"id": 7}`),
			chromedp.Click(chromedp.CSS(`#audit-form button[type="submit"]`))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "the history of customer 7", `document.querySelectorAll("#audit-table-out tbody tr").length >= 2`, `document.getElementById("audit").innerText`, 30*time.Second)
		first := text(t, ctx, `document.querySelector("#audit-table-out tbody tr").innerText`)
		if !strings.Contains(first, "id=7") || !strings.Contains(first, "update") {
			t.Errorf("newest write of customer 7: %q, want the replayed update", first)
		}
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#audit-key"), `{"id":`), chromedp.Click(chromedp.CSS(`#audit-form button[type="submit"]`))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "a bad key refused", `document.getElementById("audit-result").textContent.includes("JSON object")`, `document.getElementById("audit-result").textContent`, 30*time.Second)
	})

	// CONSOLE_SCREENSHOT_DIR keeps a picture of the page for a human.
	if dir := os.Getenv("CONSOLE_SCREENSHOT_DIR"); dir != "" {
		if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
			t.Errorf("screenshot: %v", err)
		} else if err := os.WriteFile(filepath.Join(dir, "console.png"), shot, 0o600); err != nil {
			t.Error(err)
		} else {
			t.Logf("screenshot: %s", filepath.Join(dir, "console.png"))
		}
	}
}

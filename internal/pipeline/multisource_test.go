package pipeline_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Two databases captured by one pipeline, each with its own slot, position
// and topics, land in one warehouse; a restart resumes both.
func TestSeveralSourcesInOnePipeline(t *testing.T) {
	h := newHarness(t)
	billingDSN := h.pg.CreateDatabase(t, "billing")
	h.pg.Exec(t, "billing", `CREATE TABLE invoices (id bigint PRIMARY KEY, total numeric(10,2));
		INSERT INTO invoices SELECT g, g * 1.5 FROM generate_series(1, 50) g`)
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email) SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 50) g`)
	t.Setenv("BILLING_DSN", billingDSN)
	h.cfgText = strings.Replace(h.cfgText, "sinks:", `  - name: billing
    type: postgres
    dsn: ${BILLING_DSN}
    tables: [invoices]
    batch_max_wait: 20ms
sinks:`, 1)
	h.cfgText = strings.Replace(h.cfgText, "from: [app.*]", "from: [app.*, billing.*]", 1)
	h.start()
	h.pg.Exec(t, "billing", `UPDATE invoices SET total = total + 1 WHERE id <= 10; DELETE FROM invoices WHERE id > 45`)
	h.pg.Exec(t, "app", `UPDATE customers SET name = 'n' WHERE id <= 10`)
	h.waitInSync(60 * time.Second)
	waitEqual(t, billingDSN, h.whDSN, "SELECT id, total FROM %s ORDER BY id", "public.invoices", "analytics.invoices", 60*time.Second)
	h.stop()
	h.pg.Exec(t, "billing", `INSERT INTO invoices VALUES (100, 1)`)
	h.pg.Exec(t, "app", `INSERT INTO customers (id, email) VALUES (100, 'x@example.com')`)
	h.start()
	h.waitInSync(60 * time.Second)
	waitEqual(t, billingDSN, h.whDSN, "SELECT id, total FROM %s ORDER BY id", "public.invoices", "analytics.invoices", 60*time.Second)
	slots := rows(t, h.srcDSN, "SELECT slot_name::text FROM pg_replication_slots ORDER BY 1")
	if strings.Join(slots, ",") != "(syncline_app),(syncline_billing)" {
		t.Errorf("slots %v, want one per source", slots)
	}
}

// waitEqual waits until query (a format with one %s for the table) returns
// the same rows on the source table and the warehouse table.
func waitEqual(t *testing.T, srcDSN, whDSN, query, srcTable, whTable string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		src := rows(t, srcDSN, fmt.Sprintf(query, srcTable))
		wh := rows(t, whDSN, fmt.Sprintf(query, whTable))
		if strings.Join(src, "\n") == strings.Join(wh, "\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not in sync with %s after %v: source %d rows, warehouse %d (first: %v)", whTable, srcTable, timeout, len(src), len(wh), first(wh))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

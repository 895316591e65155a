#!/usr/bin/env bash
# syncline quickstart: on a fresh machine, installs what it needs, starts a
# throwaway Postgres (source and warehouse databases), runs `syncline run` on
# the embedded default (in-process Kafka broker and schema registry), writes
# sample changes and shows them arriving in the warehouse, with the metrics.
#
#   make quickstart            # or: scripts/quickstart.sh [--keep]
#
# --keep leaves Postgres and syncline running afterwards (Ctrl-C stops both).
set -euo pipefail
cd "$(dirname "$0")/.."
keep=${1:-}
work=${QUICKSTART_DIR:-$PWD/.quickstart}
export PATH="/usr/local/go/bin:$PATH"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Installing dependencies (Postgres server binaries) if missing"
scripts/install-deps.sh

step "Building syncline"
go build -o bin/syncline ./cmd/syncline
go build -o bin/pgserver ./scripts/pgserver

rm -rf "$work"; mkdir -p "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

step "Starting a throwaway Postgres (wal_level=logical)"
bin/pgserver > "$work/pg.dsn" 2> "$work/pg.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/pg.dsn" ] && break; sleep 0.2; done
[ -s "$work/pg.dsn" ] || { cat "$work/pg.log"; echo "Postgres did not start"; exit 1; }
base=$(head -1 "$work/pg.dsn")
dsn() { echo "${base/\/postgres\?//$1?}"; }
psql -qX "$base" -c "CREATE DATABASE app" -c "CREATE DATABASE warehouse"
export APP_DSN=$(dsn app) WAREHOUSE_DSN=$(dsn warehouse)
echo "source:    $APP_DSN"
echo "warehouse: $WAREHOUSE_DSN"

psql -qX "$APP_DSN" <<'SQL'
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, name text, plan text, mrr numeric(10,2), updated_at timestamptz DEFAULT now());
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers, amount numeric(10,2), placed_at timestamptz DEFAULT now());
INSERT INTO customers (id, email, name, plan, mrr) VALUES
  (1, 'ada@example.com', 'Ada Lovelace', 'pro', 49.00),
  (2, 'grace@example.com', 'Grace Hopper', 'free', 0),
  (3, 'alan@example.com', 'Alan Turing', 'team', 199.00);
INSERT INTO orders (id, customer_id, amount) VALUES (100, 1, 49.00), (101, 3, 199.00);
-- Sign-ups from the marketing site: some are customers already, written differently.
CREATE TABLE leads (id bigint PRIMARY KEY, email text, full_name text, phone text, stage text);
INSERT INTO leads VALUES
  (10, ' ADA@Example.com ', 'Ada Lovelace', '(415) 555-0100', 'MQL'),
  (11, 'linus@example.com', 'Linus Torvalds', '415.555.0111', 'lead');
SQL

cat > "$work/pipeline.yaml" <<'YAML'
name: quickstart
data_dir: ./state
kafka:
  brokers: []                 # empty: embedded broker, persisted under data_dir
  embedded: {listen: 127.0.0.1:19092}
registry: {listen: 127.0.0.1:18081}
http: {listen: 127.0.0.1:18080}
sources:
  - name: app
    type: postgres
    dsn: ${APP_DSN}
    tables: [public.customers, public.orders, public.leads]
entities:                     # one golden contact per person, from customers and leads
  - name: contact
    sources:
      - {from: app.public.customers, name: customers, fields: {email: email, name: name, plan: plan, mrr: mrr}}
      - {from: app.public.leads, name: leads, fields: {email: email, name: full_name, phone: phone, stage: stage}}
    fields:
      email: {}
      name: {}
      phone: {}
      stage: {}
      plan: {system_of_record: customers}
      mrr: {type: numeric, system_of_record: customers, anomaly: {factor: 10}}
    delete_when_no_sources: true
    quality:
      fields:
        email: {normalize: email}
        phone: {normalize: phone, region: US}
        stage: {normalize: lifecycle_stage}
sinks:
  - name: warehouse
    type: postgres
    dsn: ${WAREHOUSE_DSN}
    schema: analytics
    from: [app.*, entity.contact]
YAML

step "Starting syncline run --config $work/pipeline.yaml"
bin/syncline run --config "$work/pipeline.yaml" > "$work/syncline.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 150); do
  curl -fsS http://127.0.0.1:18080/readyz >/dev/null 2>&1 && break
  kill -0 "${pids[1]}" 2>/dev/null || { cat "$work/syncline.log"; echo "syncline exited"; exit 1; }
  sleep 0.2
done
curl -fsS http://127.0.0.1:18080/readyz

wait_for() { # wait_for SQL EXPECTED
  for _ in $(seq 1 150); do
    got=$(psql -qtAX "$WAREHOUSE_DSN" -c "$1" 2>/dev/null || true)
    [ "$got" = "$2" ] && return 0
    sleep 0.2
  done
  echo "timed out waiting for: $1 = $2 (got: $got)"; tail -50 "$work/syncline.log"; exit 1
}

step "Initial snapshot arrived in the warehouse"
wait_for "SELECT count(*) FROM analytics.customers" 3
psql -X "$WAREHOUSE_DSN" -c "SELECT id, email, plan, mrr, _syncline_op, _syncline_position FROM analytics.customers ORDER BY id"

step "Writing changes to the source: an insert, an upgrade, a delete, in one transaction"
psql -qX "$APP_DSN" <<'SQL'
BEGIN;
INSERT INTO customers (id, email, name, plan, mrr) VALUES (4, 'katherine@example.com', 'Katherine Johnson', 'pro', 49.00);
UPDATE customers SET plan = 'pro', mrr = 49.00 WHERE id = 2;
DELETE FROM orders WHERE id = 101;
DELETE FROM customers WHERE id = 3;
COMMIT;
SQL
wait_for "SELECT string_agg(id || ':' || plan, ',' ORDER BY id) FROM analytics.customers" "1:pro,2:pro,4:pro"
psql -X "$WAREHOUSE_DSN" -c "SELECT id, email, plan, mrr, _syncline_op, _syncline_position, _syncline_synced_at FROM analytics.customers ORDER BY id" \
     -c "SELECT * FROM analytics._syncline_offsets ORDER BY topic, partition"

step "Golden records: customers and leads joined by normalized email, values cleaned (analytics.contact)"
wait_for "SELECT count(*) FROM analytics.contact WHERE id = 'customers:1' AND phone IS NOT NULL" 1
psql -X "$WAREHOUSE_DSN" -c "SELECT id, email, name, phone, stage, plan, mrr, _sources FROM analytics.contact ORDER BY id"

step "A change a rule must not decide alone: Ada's MRR 49 -> 4900 is held for review"
psql -qX "$APP_DSN" -c "UPDATE customers SET mrr = 4900 WHERE id = 1"
for _ in $(seq 1 150); do
  review=$(bin/syncline review list --config "$work/pipeline.yaml" --json | tr '{' '\n' | grep '"entity_id":"customers:1"' | grep '"field":"mrr"' | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' || true)
  [ -n "$review" ] && break
  sleep 0.2
done
[ -n "$review" ] || { echo "no review item"; tail -50 "$work/syncline.log"; exit 1; }
bin/syncline review list --config "$work/pipeline.yaml"
psql -X "$WAREHOUSE_DSN" -c "SELECT id, mrr FROM analytics.contact WHERE id = 'customers:1'"
bin/syncline review approve --config "$work/pipeline.yaml" --by quickstart --note "confirmed with billing" "$review"
wait_for "SELECT mrr FROM analytics.contact WHERE id = 'customers:1'" 4900
bin/syncline history --config "$work/pipeline.yaml" contact customers:1

step "Status (syncline status; the console is http://127.0.0.1:18080/console/)"
bin/syncline status --config "$work/pipeline.yaml"

step "Reconciliation (syncline diff: the warehouse against the source, by checksums)"
bin/syncline diff --config "$work/pipeline.yaml" --sink warehouse --settle 1s

step "Audit log: every write to customer 2 and the change that caused it"
bin/syncline audit --config "$work/pipeline.yaml" --sink warehouse customers id=2

step "Metrics (http://127.0.0.1:18080/metrics)"
curl -fsS http://127.0.0.1:18080/metrics | grep -E '^syncline_(source_events|sink_writes|duplicates|noop|end_to_end_latency_seconds_(count|sum))' || true

echo
echo "The quickstart worked: changes streamed from Postgres through Kafka into analytics.customers,"
echo "and customers and leads became one golden record per person in analytics.contact."
echo "Files: $work (pipeline.yaml, syncline.log)"
if [ "$keep" = "--keep" ]; then
  echo "Still running (--keep). Try: psql \"$APP_DSN\"  and  psql \"$WAREHOUSE_DSN\". Ctrl-C stops."
  wait
fi

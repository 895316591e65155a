#!/usr/bin/env bash
# syncline throughput bench (make bench): throwaway Postgres, N rows loaded
# into a fresh table, then pg_recvlogical (the physical limit) and syncline
# (capture -> Kafka, end-to-end -> warehouse) each decode the load's WAL.
# The work is done by bench/cdcbench; see its package doc.
#
#   make bench                         # 1,000,000 rows
#   BENCH_ROWS=100000 make bench       # quicker
#   BENCH_TXN_ROWS=1000000 make bench  # the whole load in one transaction
#   scripts/bench.sh -keep             # extra flags go to cdcbench (-h lists them)
#   BENCH_MICRO=1 make bench           # also the Go micro-benchmarks in bench/
#
# Prints a report and writes bench/out/report-<timestamp>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

scripts/install-deps.sh
go build -o bin/syncline ./cmd/syncline
go build -o bin/cdcbench ./bench/cdcbench

if [[ "${BENCH_MICRO:-}" == 1 ]]; then
  go test -run '^$' -bench . -benchmem ./bench/
fi
exec bin/cdcbench -syncline bin/syncline -out bench/out "$@"

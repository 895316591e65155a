#!/usr/bin/env bash
# syncline throughput bench (make bench): one throwaway Postgres; for each
# scenario a fresh database, a workload written while nothing reads the
# slots, then pg_recvlogical (the physical limit) and syncline each decode
# the same WAL. Capture-only scenarios run `syncline broker` and
# `syncline run --role capture` as separate processes and report capture's
# rows/s as a ratio to pg_recvlogical, plus capture's and the broker's peak
# RSS. The work is done by bench/cdcbench; see its package doc.
#
# Scenarios (all by default; BENCH_SCENARIOS=single,update runs a subset):
#   single  BENCH_ROWS single-row INSERT transactions            (1,000,000)
#   onetxn  BENCH_ROWS rows INSERTed in one transaction          (1,000,000)
#   bigtxn  BENCH_BIG_TXN_ROWS rows in one transaction, for the peak-RSS
#           figure of a transaction far larger than batch_max_records
#                                                                (5,000,000)
#   update  UPDATE of one int column of BENCH_ROWS rows of a 20-column,
#           ~600-byte table (rows loaded before the slots exist; only the
#           updates are measured), BENCH_TXN_ROWS rows per transaction
#   e2e     all-in-one `syncline run` (embedded broker, warehouse sink):
#           BENCH_ROWS rows in BENCH_TXN_ROWS-row transactions, capture and
#           end-to-end into the warehouse                        (1,000,000)
#
#   make bench                                   # everything, full sizes (~10 min on 2 cores)
#   BENCH_ROWS=100000 BENCH_BIG_TXN_ROWS=500000 make bench   # quicker
#   BENCH_SCENARIOS=bigtxn make bench            # the 5M-row transaction alone
#   BENCH_SCENARIOS=single,onetxn,update BENCH_CPUPROFILE=onetxn make bench
#                                                # + CPU profile of capture, and
#                                                #   go tool pprof -top of it, in bench/out
#   BENCH_BATCH_MAX_RECORDS=5000 make bench      # sources[].batch_max_records
#   scripts/bench.sh -keep                       # extra flags go to cdcbench (-h lists them)
#   BENCH_MICRO=1 make bench                     # also the Go micro-benchmarks in bench/
#
# Prints a table and writes bench/out/report-<timestamp>.json.
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

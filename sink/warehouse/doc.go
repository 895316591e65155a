// Package warehouse is the Postgres warehouse sink: it applies the change
// topics of configured source tables to tables in a warehouse schema,
// exactly once in effect.
//
// # Flow
//
// The sink consumes the change topics (read_committed) as a member of a
// Kafka consumer group, so several sink processes split the partitions. The
// group only decides who owns which partition; where a partition starts is
// decided by the warehouse: when partitions are assigned, the sink reads
// <schema>._syncline_offsets (sink, topic, partition, next_offset,
// updated_at) and starts each partition at its stored next offset, or at
// the beginning when there is no row. Kafka-side committed offsets are
// written after each batch only as a lag hint for tooling and are never
// read back.
//
// Records are collected into batches (BatchSize records or BatchTimeout
// after the first, whichever comes first; cut short when a rebalance is
// waiting). The consumer runs with BlockRebalanceOnPoll, so partitions are
// never revoked while a batch is in flight: a rebalance waits until the
// batch has committed or rolled back. For each batch:
//
//  1. Decode every record (Confluent wire format, the table comes from the
//     registry schema). A record that cannot be decoded (bad wire format,
//     unknown schema id, not a syncline record) is parked in the DLQ with
//     the reason and counted in syncline_sink_errors_total{kind="decode"};
//     its offset still counts as consumed. A registry that cannot be
//     reached is a transient failure instead, not a reason to park.
//  2. Collapse per target table: changes are ordered by source position
//     (stable, bytewise: positions of one source sort in commit order) and
//     reduced to the last change per primary key. A delete followed by an
//     insert of the same key leaves an upsert, so the row ends present. A
//     truncate drops every earlier change of its table and makes the table
//     be truncated first; changes after it are kept. An update that
//     changed the primary key becomes a delete of the old key plus an
//     upsert of the new one.
//  3. On first sight of a table schema version, create the target
//     (CREATE SCHEMA/TABLE IF NOT EXISTS) with the source's columns under
//     their original names, the source type (Column.PGType when the
//     warehouse knows the type, otherwise a type derived from the Kind),
//     the key columns as primary key, and _syncline_position,
//     _syncline_op, _syncline_synced_at (and _syncline_deleted with soft
//     deletes); or ALTER TABLE ADD COLUMN IF NOT EXISTS what a newer
//     schema version added. A column the source dropped stays, and later
//     changes leave it alone.
//  4. One transaction: first move the stored offsets of the batch's
//     partitions to their new values, fenced (see below); then per table
//     TRUNCATE if needed, one DELETE for hard deletes and one INSERT ...
//     ON CONFLICT DO UPDATE per column set for upserts and soft deletes.
//     Rows travel as one text[] parameter per column (values rendered by
//     schemas.FormatText, NULL stays NULL) and are cast to the column's
//     type in SQL; the type modifier is applied by the assignment, so a
//     value that does not fit is an error, never silently truncated.
//     (Arrays of text per column rather than a temp table filled by COPY:
//     one round trip per statement either way, without creating and
//     dropping a catalog entry twice a second.)
//     Records parked in the DLQ are produced before COMMIT.
//  5. After COMMIT: metrics (syncline_sink_writes_total{result="ok"} by
//     rows written, syncline_end_to_end_latency_seconds per change from
//     its source commit), the Kafka lag hint, then the next batch.
//
// # Exactly once
//
// The offsets a batch consumed are written in the same database
// transaction as its rows. Either both commit or neither does, and a
// partition always restarts (after a crash, a restart, a rebalance or a
// rolled-back batch) at the stored offset, so each change is applied once.
//
// The offsets update is also a fence. Each process remembers the stored
// offset of every partition it holds; the transaction's first statement
// updates a partition's row only WHERE next_offset is still that value (or
// inserts it only if still absent) and rolls back otherwise. A process
// that lost a partition without noticing (kicked from the group during a
// long stall) therefore cannot apply a stale batch over its successor's
// work: the two serialize on the offset row and the loser re-seeks. The
// same mechanism resolves a COMMIT whose outcome was lost with the
// connection.
//
// The position guard is the second line of defense: an upsert changes a
// row only if the row's _syncline_position is older (COLLATE "C") than the
// change's, and a delete removes it only if the row is not newer than the
// delete. So even a replay that bypasses the offsets (offsets table lost,
// records duplicated upstream) never moves a row backwards and writes
// nothing for changes already applied.
//
// Limitations the offsets protect against and the guard cannot: a
// hard-deleted row leaves no position behind, so an older insert or update
// of that key replayed after the delete would bring the row back; and a
// truncate replayed after newer changes would wipe them. Soft deletes keep
// the position and are fully guarded.
//
// Ordering between partitions: collapse orders by position only inside a
// batch. A truncate (keyless) arriving on one partition is ordered against
// keyed changes on other partitions only as far as they share a batch.
//
// # Errors
//
//   - Transient database errors (connection lost, serialization failure,
//     deadlock, admin shutdown, ...) and a fenced offsets update roll the
//     batch back; the sink reconnects with backoff, re-seeks every
//     partition it holds to the stored offsets and continues, so nothing is
//     lost or applied twice. While the warehouse is down, rebalances are
//     not held up.
//   - A value the database rejects permanently (class 22 data exception,
//     class 23 constraint violation) makes the batch run again with each
//     row in its own savepoint; rejected rows are parked in the DLQ with
//     the database's error (reason "rejected"), the rest commits.
//   - Access or definition errors (class 42, 0A, 28: missing privilege, a
//     pre-existing table whose key does not match) stop Run with an error.
//
// The DLQ is at-least-once: a batch that parked records and then failed
// to commit parks them again when it is retried.
package warehouse

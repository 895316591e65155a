// Package postgres captures changes from Postgres through logical
// replication (pgoutput) into syncline's raw topics, exactly once.
//
// The flow of one run:
//
//	setup:    check wal_level, resolve tables, create the publication and the
//	          topics, fence earlier instances of this source (transactional id)
//	position: read the last committed position of this source from
//	          _<prefix>.offsets (compacted, written in the same Kafka
//	          transactions as the records)
//	slot:     no position recorded → (re)create the slot and record the
//	          initial snapshot as one backfill per table (see backfill.go:
//	          key chunks between WAL watermarks, interleaved with the stream)
//	stream:   START_REPLICATION from the stored position; each Postgres
//	          transaction's changes are produced into an open Kafka
//	          transaction as they arrive, and after its COMMIT the Kafka
//	          transaction is committed together with the new position
//	          (batched by count and time). A Postgres transaction of more
//	          than batch_max_records changes is written in several Kafka
//	          transactions whose positions say how far into it they reach,
//	          so memory and Kafka transactions stay bounded
//	ack:      only after the Kafka commit succeeded is the slot's flush LSN
//	          moved to the commit's end LSN
//
// On restart Postgres resends everything after the slot's confirmed flush
// LSN; transactions whose end LSN is not past the stored position are
// already in Kafka and are dropped, and so are the changes of a partly
// written transaction up to the stored sequence number (decoding is
// deterministic: Postgres resends the same changes in the same order). A Kafka failure aborts the open Kafka
// transaction and the run starts over from the stored position, so a change
// is never lost and never written twice.
//
// Positions are "%016X/%016X": the commit LSN of the transaction and the
// change's sequence number inside it (0 for snapshot reads). They sort as
// strings in commit order, which is what the changes stage and the
// warehouse sink compare.
package postgres

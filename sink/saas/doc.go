// Package saas is what the SaaS upsert sinks (sink/hubspot, sink/rest,
// sink/stripe, sink/salesforce, sink/mailchimp) share: the field mapping (Property, MapRow) and the Engine that consumes
// change topics, keeps the ledger, the retry queue and the DLQ, and commits
// all of it with the consumed offsets in one Kafka transaction. A sink
// plugs in a Writer that makes the provider's API calls.
//
//	change topics ──► Engine: decode, last change per key, map, diff
//	                  with the ledger ──► ops ──► Writer (API calls)
//	retry queue (due) ─┘                            │ per-op outcome
//	                                                ▼
//	one Kafka transaction: ledger changes (_<prefix>.state.sink.<name>),
//	retry queue changes (_<prefix>.retry.<name>), DLQ records, offsets
//	                                                ▼
//	                                  Badger (cache of both topics)
//
// The ledger holds per record key the provider's object id, the last value
// written per field and the source position of the last change applied.
// Only fields whose value differs are sent; a change older than or equal
// to the ledger's position (a redelivery, a replay) and a change that
// leaves every mapped value as it was send nothing.
//
// The API calls of a batch happen before its transaction: a crash between
// them leaves offsets, ledger and retry queue where they were, and the
// same operations are sent again. Writers make that safe: HubSpot updates
// by the object id the ledger holds and upserts by a unique property, the
// REST and Stripe sinks send an idempotency key derived from (topic, key,
// position), Salesforce upserts by an external id and Mailchimp by the
// member's subscriber hash. Parallel runs per-record calls of APIs that
// take one record per call.
//
// Per-op outcomes (Op.Outcome):
//
//   - Written: the ledger records the values and the provider's id.
//   - Rejected: the provider refused the row for a reason retrying does not
//     cure (a 4xx for it); it is parked in the DLQ with reason rejected and
//     the provider's message.
//   - Retry: refused for a transient reason (a per-row rate limit or server
//     error); it goes to the retry queue with a backoff, and to the DLQ
//     with reason retries_exhausted after Retry.MaxAttempts attempts.
//   - NotFound: a delete of an object the provider does not hold; counted
//     as syncline_sink_writes_total{result="not_found"}.
//
// The retry queue is a compacted topic, _<prefix>.retry.<name>, keyed like
// the ledger by (input topic, partition, record key), restored into Badger
// with the ledger when a partition is assigned. Keeping it compacted and
// per input partition (rather than an ordinary topic re-consumed in the
// consumer group) means: a newer change of the key replaces a waiting
// retry instead of racing it; the queue moves with its partition to
// whichever process owns it; a due entry is taken in the same transaction
// as everything else (exactly once, no seek or pause of a retry partition
// while entries wait for their time); entries keep their attempt count,
// next attempt time and last error, also as record headers
// (syncline.retry.attempt, syncline.retry.not_before,
// syncline.retry.error) for anyone reading the topic. A DLQ entry of
// reason retries_exhausted names the original change topic, partition and
// offset, so `syncline dlq replay` re-delivers it there.
//
// Repairs (Stream.RepairTopic, see Repair): `syncline diff --repair`
// writes what the provider holds of records that drifted to the sink's
// repair topic; the engine corrects the ledger entry to it and sends what
// the record needs on top, committed like any batch.
package saas

// Package schemas owns syncline's record format: the Debezium-compatible
// change envelope, the mapping from Postgres types to Avro, and the Confluent
// wire format against a schema registry.
//
// A Table describes one captured table: its columns with their original SQL
// names, sanitized Avro field names, Postgres type and key membership. From a
// Table come two Avro schemas, the key (primary-key columns, non-null) and
// the envelope:
//
//	Envelope{ before: Value?, after: Value?, op, source: Source, ts_ms, changed: [string]?, unavailable: [string]? }
//
// Every Value field is a nullable union with default null, so that adding a
// column is a backward-compatible schema change. Column metadata that Avro
// itself has no place for (original name, Postgres type) travels as field
// properties ("syncline.column", "syncline.pg_type", "syncline.kind"), so a
// consumer that only has the registry schema can rebuild the Table
// (TableFromSchemas) and, for instance, create a warehouse table with the
// exact source types.
//
// `unavailable` is a syncline extension used only on raw topics: it names the
// after-image fields the source did not send (Postgres' unchanged TOAST
// values). The changes stage fills them from its state, so on change topics it
// is always null and before/after are complete rows.
//
// Values move through syncline as Row maps keyed by Avro field name holding Go
// values of the column's Kind (see Kind for the exact Go type of each).
// ParseText turns a Postgres text-format value into that form, FormatText
// renders it back, so a Postgres-to-Postgres path is lossless. Values Avro
// has no native form for have a documented encoding (README, "Postgres →
// Avro types"): numeric NaN in a string union member, date and timestamp
// ±infinity as the logical type's int/long extremes (Infinity in Go),
// arrays as Avro arrays or, for other shapes, their literal.
package schemas

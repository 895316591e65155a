// Package topics names syncline's Kafka topics. Names are part of the
// interface users touch (see the README's topic table), so they are built in
// one place.
package topics

import "strings"

// Part maps an identifier to a topic-name component: characters Kafka does
// not allow, and the dot that separates components, become '_'.
func Part(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Raw is the capture output topic of a table: <prefix>.raw.<source>.<schema>.<table>.
func Raw(prefix, source, schema, table string) string {
	return prefix + ".raw." + Part(source) + "." + Part(schema) + "." + Part(table)
}

// Change is the changes stage's output topic: <prefix>.<source>.<schema>.<table>.
func Change(prefix, source, schema, table string) string {
	return prefix + "." + Part(source) + "." + Part(schema) + "." + Part(table)
}

// RawPrefix is the prefix every raw topic starts with.
func RawPrefix(prefix string) string { return prefix + ".raw." }

// ChangeFromRaw maps a raw topic to its change topic.
func ChangeFromRaw(prefix, raw string) string {
	return prefix + "." + strings.TrimPrefix(raw, RawPrefix(prefix))
}

// Offsets holds source positions, written in the same transaction as the records.
func Offsets(prefix string) string { return "_" + prefix + ".offsets" }

// Schemas backs the embedded schema registry.
func Schemas(prefix string) string { return "_" + prefix + ".schemas" }

// State is a stage's compacted changelog.
func State(prefix, stage string) string { return "_" + prefix + ".state." + stage }

// DLQ holds records a stage could not process, with the reason in headers.
func DLQ(prefix string) string { return "_" + prefix + ".dlq" }

// DLQReplays is the compacted topic recording which DLQ entries were
// replayed (keyed by DLQ offset).
func DLQReplays(prefix string) string { return "_" + prefix + ".dlq.replays" }

// Messages is the topic logical decoding messages of a source are forwarded
// to.
func Messages(prefix, source string) string { return prefix + ".messages." + Part(source) }

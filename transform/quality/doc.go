// Package quality cleans and scores records before they join an entity.
//
// A [Spec] configures, for one entity (and optionally one source of it),
// which fields are normalized and how, which fields are required, custom
// rules and transforms written in CEL, and the field that dates the record.
// [Compile] checks a Spec and compiles its CEL expressions once; the
// resulting [Pipeline] is immutable and safe for concurrent use.
// [CompileEntity] does the same for an entity's base Spec merged with each
// source's overlay.
//
// [Pipeline.Apply] runs the steps below on a copy of a record (the input
// map is never modified) and returns a [Result]:
//
//	transforms (phase: before)      CEL, in order; result written to field
//	    │
//	field normalizers               email, phone, postal_code, company_name,
//	    │                           lead_score, lifecycle_stage,
//	    │                           company_size, country, trim, lower, upper
//	transforms (phase: after)       CEL, see the normalized values
//	    │
//	required fields                 fields[*].required
//	    │
//	rules                           when (CEL) → require [fields] / check (CEL)
//	    │
//	quality score                   100 − penalties (see Score)
//
// Every finding is an [Issue] naming the field, a stable code, a message
// and the original value. Nothing is dropped silently: a value a normalizer
// cannot clean is kept and flagged (on_invalid: flag), removed and flagged
// (drop), or makes the whole record invalid (reject), in which case
// [Result.Invalid] is set and [Result.Reason] says why; the caller sends
// such a record to the dead-letter queue with that reason. Invalid emails
// are rejected by default, as the seeds ask ("reject invalid formats
// immediately"); incomplete records are flagged and pass ("flag incomplete
// records, allow partial sync").
//
// The quality score follows the seeds' scoring criteria: a complete, valid
// record scores 100; each missing required field (including a field a
// rule's require list makes required) costs 20, an invalid email 25, a
// record older than 90 days 10 and one older than a year 20. The score
// never goes below 0.
//
// Apply measures record age against the pipeline's clock; [Pipeline.ApplyAt]
// takes the time instead (a change's commit time, say), so that replaying a
// topic gives the same scores. An [Observer] passed with [WithObserver] sees
// every result, for metrics.
//
// The normalizers are also exported as functions ([Email], [Phone],
// [PostalCode], [CompanyName], [LeadScore], [Country]) so that match keys
// elsewhere are computed exactly as here.
package quality

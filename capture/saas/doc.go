// Package saas captures objects from SaaS APIs by polling them into
// syncline's raw topics, exactly once. One declarative adapter (Config)
// covers the usual REST shapes; provider profiles (HubSpot) are Configs
// built on top of it.
//
// The flow of one object type:
//
//	window:   records updated in [cursor - lookback, now - settle), sorted by
//	          their updated-at, read page by page (token, offset, page
//	          number or Link header)
//	page:     each record not already emitted at its updated-at (the
//	          cursor's seen set) becomes an Avro record on
//	          <prefix>.raw.<source>.<system>.<object>; the page's records and
//	          the checkpoint (cursor, seen set, window and next page token)
//	          commit in one Kafka transaction: a killed sync resumes at the
//	          page after the last committed one
//	cap:      an API that pages over at most max_results per query (HubSpot
//	          search: 10,000) gets a new, narrower query starting at the
//	          last updated-at seen before the cap is reached; when more
//	          records share one updated-at than the cap, they are drained
//	          in id order (pagination.tie_break) and the next query starts
//	          after that timestamp
//	deletes:  an archived/deleted endpoint read through at every poll (each
//	          deletion not seen before is op=d), or a status field
//
// Exactly once: a record is emitted when its (id, updated-at) is newer
// than what the cursor's seen set holds for that id. The seen set keeps the
// records at or after cursor - lookback, which is exactly the range the
// next query re-reads, so records sharing a timestamp at a page, cap or
// poll boundary are neither lost (the next query starts at, not after, that
// timestamp) nor repeated. The checkpoint lives in _<prefix>.offsets under
// "saas/<source>/<object>" and is written in the same transaction as the records,
// so what Kafka holds and what the checkpoint says always agree; a
// restarted source fences the previous instance's open transaction first.
//
// Positions are the updated-at (deletion time for deletes) in µs since the
// epoch as 16 hex digits: they sort as strings in version order per key,
// which is what the changes stage compares. Intermediate versions an API
// never shows (two edits between polls) are not captured; every version a
// poll sees is, once.
package saas

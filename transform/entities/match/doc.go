// Package match finds records of the same person across sources: the
// identity step of an entity type (transform/entities/merge then decides
// the golden record's fields from the records found to be one entity).
//
// # Flow
//
//	Index.Add(rec)
//	    │ prepare: normalize once (transform/quality's Email, Phone to
//	    │ E.164, CompanyName with the legal suffix stripped, PostalCode;
//	    │ names folded to lowercase ASCII letters)
//	    │ keys: deterministic keys + blocking keys (keys.go)
//	    ▼
//	candidates = records sharing any key, newest first, at most
//	             Config.MaxBlockScan per key
//	    │ score each pair (score.go); deterministic keys decide Merge
//	    ▼
//	[]Candidate sorted best first: Decision, Score, Key, Reasons, Notes
//
// Add compares a record only with the records that share a key with it,
// so N adds cost about N × (keys × block size) comparisons instead of N²;
// a key too common to be useful (an office main line, "smith" + "j") is
// bounded by MaxBlockScan. The caller merges Merge candidates (union of
// entities), queues Review candidates with their reasons, and ignores
// Distinct ones; Add itself only reports.
//
// # Deterministic keys
//
// Records sharing an external id cross reference ("crm:0031"), a
// normalized email address, or an E.164 phone number are the same entity.
// Two guards keep the household and the office from being merged by a key:
// an email or phone key decides only when the given names agree (≥ 0.5 on
// the name similarity below, so nicknames and typos pass and Mary/Daniel
// do not), a phone key also only when the surnames agree. A vetoed pair is
// judged by its score. Role mailboxes (info@, sales@, ...) are no key and
// no evidence at all. Email keys are the normalized address, nothing more:
// plus-addressing and dots are provider rules, folded only when configured
// (Config.PlusAddressing, Config.DotInsensitiveDomains), because at most
// company servers "j.smith" and "jsmith" can be two people.
//
// # The score
//
// Each field present on both records gets a similarity s in [0,1]:
//
//	given name   1 equal; 0.95 nicknames (nicknames.go: Bob/Robert,
//	             Bill/William, Liz/Beth/Elizabeth, ...); 0.8 an initial;
//	             else Jaro-Winkler ramped from 0.75 (→0) to 0.95 (→1)
//	surname      1 equal; Jaro-Winkler ramped 0.75..0.95; 0.8 when one is
//	             the start or end of the other (double-barrelled names)
//	email        see localSimilarity: same mailbox up to +tag 1, up to
//	             dots 0.75, one typo 0.8; ×0.9 for a domain typo, ×0.3
//	             for an unrelated domain
//	phone        1 equal; 0.8 one digit off or swapped; 0.5 same last 7
//	company      1 equal after suffix stripping; 0.85 one starts the
//	             other; else Jaro-Winkler ramped 0.8..0.97
//	location     postal code equal (ZIP+4 = ZIP) 1, same city other code
//	             0.8; no postal codes: city Jaro-Winkler ramped
//
// and the score is a weighted mean over those fields only — a missing field
// is neither agreement nor disagreement:
//
//	score = Σ wᵢ' sᵢ / Σ wᵢ'    wᵢ' = wᵢ · (dᵢ + (1 − dᵢ) sᵢ)
//
// with weights wᵢ (DefaultWeights) and disagreement factors dᵢ: names
// count fully either way (d = 1); a different email, phone, employer or
// address counts only partly (d = 0.5, 0.5, 0.6, 0.6), since one person
// has several. For email d depends on the domains: two mailboxes at one
// company domain are likely two people (d = 1), a work against a personal
// address is normal (d = 0.2). With d ≥ 0.5 the score rises with every sᵢ.
//
// Caps then encode what a mean cannot:
//
//   - clearly different given names (no nickname, Jaro-Winkler ≤ 0.75):
//     score ≤ FirstNameConflictCap (0.6, distinct) — family members share
//     everything else;
//   - auto-merge needs corroboration beyond the name: Σ wᵢ sᵢ over email,
//     phone and company (location at half weight) of fields with s ≥ 0.7
//     must reach MinCorroboration (0.1), or the name must be rare — fewer
//     than RareName (0.01) namesakes expected from the index's own name
//     frequencies (count(given) × count(surname) / N, times the place's
//     share when both records are in one postal code or city; the
//     frequency adjustment of Fellegi–Sunter linkage). Otherwise the pair
//     goes to review at most;
//   - a pair agreeing on nothing but a common name (CommonName, 0.5 or
//     more namesakes expected) is distinct rather than review.
//
// Decision: score ≥ AutoMerge (0.85) merge, ≥ ReviewFrom (0.65) review,
// else distinct. Each Candidate carries the per-field contributions
// (Reasons) and the caps applied (Notes) for the review queue.
//
// # Quality
//
// [Evaluate] measures pairwise precision and recall on labeled records;
// package synth generates them; cmd/matcheval prints the figures the
// README reports.
package match

package match

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
)

// Decision is what a candidate pair should become.
type Decision int8

// Decisions, in increasing order of confidence.
const (
	// Distinct: different entities.
	Distinct Decision = iota
	// Review: possibly the same entity; a human decides.
	Review
	// Merge: the same entity, merged without review.
	Merge
)

func (d Decision) String() string {
	switch d {
	case Merge:
		return "merge"
	case Review:
		return "review"
	}
	return "distinct"
}

// Deterministic match keys, as reported in [Candidate.Key].
const (
	KeyExternalID = "external_id"
	KeyEmail      = "email"
	KeyPhone      = "phone"
)

// Candidate is an indexed record that may be the same entity as the one
// just added.
type Candidate struct {
	// ID is the indexed record's Record.ID.
	ID string
	// Score is the combined fuzzy score in [0,1] (after caps), also for a
	// pair that a deterministic key decided.
	Score float64
	// Decision is Merge for a shared deterministic key or Score >=
	// AutoMerge, Review for Score in the review band, Distinct below.
	Decision Decision
	// Key names the deterministic key the two records share (KeyEmail,
	// KeyPhone, KeyExternalID), "" when the decision is the score's.
	Key string
	// Reasons are the per-field contributions to Score.
	Reasons []Contribution
	// Notes explain caps and vetoes applied to the pair ("given names
	// differ: score capped at 0.60", "phone key shared but given names
	// differ").
	Notes []string
}

// Stats counts the work of an Index.
type Stats struct {
	// Records indexed.
	Records int
	// Comparisons is the number of pairs scored.
	Comparisons int64
	// TruncatedScans counts blocking-key lists of which only the newest
	// MaxBlockScan entries were compared.
	TruncatedScans int64
}

// Index finds duplicates among the records added to it. Adding a record
// compares it only with the records sharing a blocking key with it, so
// matching N records costs about N × (keys × block size) comparisons, not
// N²; see doc.go for the keys. An Index lives in memory; it is safe for
// concurrent use (Add calls are serialized).
type Index struct {
	mu     sync.Mutex
	cfg    Config
	scorer scorer
	rules  emailRules
	seed   maphash.Seed
	recs   []prepared
	ids    map[string]int32
	lists  map[uint64][]int32
	seen   []uint32
	stamp  uint32
	stats  Stats
	keyBuf []string
	hitBuf []scored
	hashes []uint64
	// firsts and lasts count indexed records by canonical given name and
	// by surname, for expectedNamesakes.
	firsts map[string]int32
	lasts  map[string]int32
	// postals and cities count indexed records by place, for the same.
	postals map[string]int32
	cities  map[string]int32
}

// ErrDuplicateID is returned by [Index.Add] for a Record.ID already
// indexed.
var ErrDuplicateID = errors.New("record id already indexed")

// NewIndex returns an empty Index. The error (wrapping [ErrConfig]) names
// the invalid key of cfg.
func NewIndex(cfg Config) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Index{
		cfg:     cfg,
		scorer:  scorer{cfg: cfg},
		rules:   newEmailRules(cfg),
		seed:    maphash.MakeSeed(),
		ids:     make(map[string]int32),
		lists:   make(map[uint64][]int32),
		firsts:  make(map[string]int32),
		lasts:   make(map[string]int32),
		postals: make(map[string]int32),
		cities:  make(map[string]int32),
	}, nil
}

// Len returns the number of indexed records.
func (ix *Index) Len() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.ids)
}

// Stats returns counters of the work done so far.
func (ix *Index) Stats() Stats {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	s := ix.stats
	s.Records = len(ix.ids)
	return s
}

type scored struct {
	idx      int32
	score    float64
	decision Decision
	key      string
	veto     string
}

// Add indexes rec and returns the already indexed records it may
// duplicate: every record sharing a deterministic key (external id, email,
// phone) and, from the other candidates of its blocks, the best
// Config.MaxCandidates by score, whatever their decision. The result is
// sorted by decision (merge first), then score (highest first), then
// insertion order. The caller merges the Merge candidates, queues the
// Review ones with their Reasons, and ignores the rest.
//
// An email or phone key does not decide alone when the given names differ
// (a household phone, a couple's shared mailbox), nor a phone key when the
// surnames do (an office main line): the pair is then judged by
// its score, with a note. External ids always decide.
//
// The error is ErrDuplicateID for an ID already indexed and names the
// problem for an empty ID; rec is not indexed then.
func (ix *Index) Add(rec Record) ([]Candidate, error) {
	if rec.ID == "" {
		return nil, errors.New("match: record has an empty ID")
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, dup := ix.ids[rec.ID]; dup {
		return nil, fmt.Errorf("match: add %q: %w", rec.ID, ErrDuplicateID)
	}
	p := prepare(rec, ix.rules, ix.cfg.DefaultRegion)
	keys := blockingKeys(&p, ix.keyBuf[:0])
	ix.keyBuf = keys

	ix.stamp++
	if ix.stamp == 0 { // wrapped: clear so old stamps cannot collide
		clear(ix.seen)
		ix.stamp = 1
	}
	namesakes := ix.expectedNamesakes
	hits := ix.hitBuf[:0]
	hashes := ix.hashes[:0]
	for _, k := range keys {
		h := maphash.String(ix.seed, k)
		hashes = append(hashes, h)
		list := ix.lists[h]
		lo := 0
		if len(list) > ix.cfg.MaxBlockScan {
			lo = len(list) - ix.cfg.MaxBlockScan
			ix.stats.TruncatedScans++
		}
		for j := len(list) - 1; j >= lo; j-- {
			c := list[j]
			if ix.seen[c] == ix.stamp || ix.recs[c].removed {
				continue
			}
			ix.seen[c] = ix.stamp
			hits = append(hits, ix.judge(&p, c, namesakes))
		}
	}
	ix.stats.Comparisons += int64(len(hits))
	ix.hitBuf, ix.hashes = hits, hashes

	slices.SortFunc(hits, func(a, b scored) int {
		if a.key != "" && b.key == "" {
			return -1
		}
		if a.key == "" && b.key != "" {
			return 1
		}
		if c := cmp.Compare(b.decision, a.decision); c != 0 {
			return c
		}
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	n := 0
	for n < len(hits) && (hits[n].key != "" || n < ix.cfg.MaxCandidates) {
		n++
	}
	out := make([]Candidate, 0, n)
	for _, h := range hits[:n] {
		q := &ix.recs[h.idx]
		var reasons []Contribution
		ps := ix.scorer.score(&p, q, namesakes, &reasons)
		notes := ps.notes
		if h.veto != "" {
			notes = append(notes, h.veto)
		}
		out = append(out, Candidate{ID: q.id, Score: h.score, Decision: h.decision, Key: h.key, Reasons: reasons, Notes: notes})
	}

	ix.insert(rec.ID, p, hashes)
	return out, nil
}

// Insert indexes rec without comparing it with the indexed records (to
// rebuild an index from records already matched).
func (ix *Index) Insert(rec Record) error {
	if rec.ID == "" {
		return errors.New("match: record has an empty ID")
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, dup := ix.ids[rec.ID]; dup {
		return fmt.Errorf("match: insert %q: %w", rec.ID, ErrDuplicateID)
	}
	p := prepare(rec, ix.rules, ix.cfg.DefaultRegion)
	keys := blockingKeys(&p, ix.keyBuf[:0])
	ix.keyBuf = keys
	hashes := ix.hashes[:0]
	for _, k := range keys {
		hashes = append(hashes, maphash.String(ix.seed, k))
	}
	ix.hashes = hashes
	ix.insert(rec.ID, p, hashes)
	return nil
}

func (ix *Index) insert(id string, p prepared, hashes []uint64) {
	idx := int32(len(ix.recs))
	ix.recs = append(ix.recs, p)
	ix.seen = append(ix.seen, 0)
	ix.ids[id] = idx
	for _, h := range hashes {
		ix.lists[h] = append(ix.lists[h], idx)
	}
	if p.first != "" && p.last != "" {
		ix.firsts[canonicalFirst(p.first)]++
		ix.lasts[p.last]++
	}
	if p.postal != "" {
		ix.postals[postalArea(p.postal)]++
	}
	if p.city != "" {
		ix.cities[p.city]++
	}
}

// Remove takes the record with id out of the index (so that a changed
// record can be added again with its new values); it reports whether the
// record was indexed. Its slot stays allocated, skipped by later scans.
func (ix *Index) Remove(id string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	idx, ok := ix.ids[id]
	if !ok {
		return false
	}
	delete(ix.ids, id)
	p := &ix.recs[idx]
	p.removed = true
	if p.first != "" && p.last != "" {
		ix.firsts[canonicalFirst(p.first)]--
		ix.lasts[p.last]--
	}
	if p.postal != "" {
		ix.postals[postalArea(p.postal)]--
	}
	if p.city != "" {
		ix.cities[p.city]--
	}
	return true
}

// expectedNamesakes estimates how many of the indexed records would carry
// the name of a and b by chance, if names (and places) were drawn
// independently: count(given) × count(surname) / records, taking for each
// part the more common of the two spellings (a typo makes a common name
// look rare) and counts of at least 1. When the two records also share a
// postal code (or, lacking one, a city), the estimate is multiplied by the
// share of records in that place: two Mary Smiths in one city are likely,
// in one postal code much less so. It is -1 when a name part is missing or
// the index is too small (under 1000 records) for frequencies to mean
// anything, and when a given name is only an initial.
func (ix *Index) expectedNamesakes(a, b *prepared) float64 {
	n := len(ix.recs) + 1
	if len(a.first) < 2 || len(b.first) < 2 || a.last == "" || b.last == "" || n < 1000 {
		return -1 // an initial says too little to be rare
	}
	f := max(ix.firsts[canonicalFirst(a.first)], ix.firsts[canonicalFirst(b.first)], 1)
	l := max(ix.lasts[a.last], ix.lasts[b.last], 1)
	e := float64(f) * float64(l) / float64(n)
	switch {
	case a.postal != "" && b.postal != "" && postalArea(a.postal) == postalArea(b.postal):
		e *= float64(max(ix.postals[postalArea(a.postal)], 1)) / float64(n)
	case a.postal == "" || b.postal == "":
		if a.city != "" && a.city == b.city {
			e *= float64(max(ix.cities[a.city], 1)) / float64(n)
		}
	}
	return e
}

// postalArea is the part of a folded postal code that the place counts
// use: the first five characters (a US ZIP without its +4; UK and Canadian
// codes are shorter or equal after folding).
func postalArea(p string) string {
	if len(p) > 5 {
		return p[:5]
	}
	return p
}

// keyNameAgreement is the given-name (and, for a phone, surname)
// similarity a shared email or phone key needs to decide a merge alone. A
// typo or a nickname keeps names above it; "mary" against "margaret" or
// "cruz" against "ruiz" does not.
const keyNameAgreement = 0.5

// judge scores the new record p against indexed record c.
func (ix *Index) judge(p *prepared, c int32, namesakes func(a, b *prepared) float64) scored {
	q := &ix.recs[c]
	ps := ix.scorer.score(p, q, namesakes, nil)
	s := scored{idx: c, score: ps.score, decision: ix.decide(ps.score)}
	key := sharedKey(p, q)
	switch {
	case key == KeyExternalID:
		s.key, s.decision = key, Merge
	case key != "" && ps.firstSim >= 0 && ps.firstSim < keyNameAgreement:
		s.veto = key + " key shared but given names differ: decided by score"
	case key == KeyPhone && ps.lastSim >= 0 && ps.lastSim < keyNameAgreement:
		s.veto = "phone key shared but surnames differ: decided by score"
	case key != "":
		s.key, s.decision = key, Merge
	}
	return s
}

func (ix *Index) decide(score float64) Decision {
	switch {
	case score >= ix.cfg.AutoMerge:
		return Merge
	case score >= ix.cfg.ReviewFrom:
		return Review
	}
	return Distinct
}

// sharedKey returns the strongest deterministic key p and q share.
func sharedKey(p, q *prepared) string {
	for _, x := range p.extIDs {
		if slices.Contains(q.extIDs, x) {
			return KeyExternalID
		}
	}
	if p.emailKey != "" && p.emailKey == q.emailKey {
		return KeyEmail
	}
	if p.phone != "" && p.phone == q.phone {
		return KeyPhone
	}
	return ""
}

// Compare scores two records against each other with cfg, as Add would
// (deterministic keys included), without indexing them. Without an index
// there are no name frequencies: every name counts as common (see
// Config.RareName).
func Compare(cfg Config, a, b Record) (Candidate, error) {
	if err := cfg.Validate(); err != nil {
		return Candidate{}, err
	}
	rules := newEmailRules(cfg)
	pa := prepare(a, rules, cfg.DefaultRegion)
	pb := prepare(b, rules, cfg.DefaultRegion)
	ix := &Index{cfg: cfg, scorer: scorer{cfg: cfg}, recs: []prepared{pb}}
	h := ix.judge(&pa, 0, nil)
	var reasons []Contribution
	ps := ix.scorer.score(&pa, &pb, nil, &reasons)
	notes := ps.notes
	if h.veto != "" {
		notes = append(notes, h.veto)
	}
	return Candidate{ID: b.ID, Score: h.score, Decision: h.decision, Key: h.key, Reasons: reasons, Notes: notes}, nil
}

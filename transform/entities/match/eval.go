package match

import (
	"fmt"
	"math"
)

// Report is the outcome of [Evaluate]: pairwise quality of the merges an
// Index decides on a labeled dataset.
//
// Predicted clusters are the connected components of the Merge decisions
// (every Merge candidate Add returned, deterministic keys included); true
// clusters are the labels. A pair of records is predicted when both sit in
// one predicted cluster and true when they share a label; precision is
// correct/predicted pairs, recall correct/true pairs. Review pairs are the
// Review candidates whose records did not end up in one predicted cluster:
// the review queue's volume.
type Report struct {
	Records        int
	TrueEntities   int
	TruePairs      int64
	PredictedPairs int64
	CorrectPairs   int64
	Precision      float64
	Recall         float64
	F1             float64
	// MergeDecisions counts Merge candidates (by Key: "" is fuzzy).
	MergeDecisions map[string]int
	// ReviewPairs is the review-queue volume; ReviewTrue how many of them
	// are true duplicates.
	ReviewPairs int
	ReviewTrue  int
	// FalseMerges are examples (up to 20) of Merge candidates joining two
	// different entities; Missed examples of true pairs never merged
	// directly, with the best score Add reported for them (-1: never a
	// candidate).
	FalseMerges []PairExample
	Missed      []PairExample
	Stats       Stats
}

// PairExample is a pair of records with how the Index judged it.
type PairExample struct {
	A, B      Record
	Candidate Candidate
}

func (r Report) String() string {
	return fmt.Sprintf("records=%d entities=%d true_pairs=%d predicted_pairs=%d correct=%d precision=%.4f recall=%.4f f1=%.4f review_pairs=%d (true dups %d) merges=%v comparisons=%d",
		r.Records, r.TrueEntities, r.TruePairs, r.PredictedPairs, r.CorrectPairs, r.Precision, r.Recall, r.F1,
		r.ReviewPairs, r.ReviewTrue, r.MergeDecisions, r.Stats.Comparisons)
}

// Evaluate adds records in order to a new Index with cfg and scores its
// decisions against entity, the true entity label of each record.
func Evaluate(cfg Config, records []Record, entity []int) (Report, error) {
	if len(records) != len(entity) {
		return Report{}, fmt.Errorf("match: evaluate: %d records but %d labels", len(records), len(entity))
	}
	ix, err := NewIndex(cfg)
	if err != nil {
		return Report{}, err
	}
	pos := make(map[string]int, len(records))
	uf := newUnionFind(len(records))
	type pair struct{ a, b int }
	review := map[pair]bool{}
	directTrue := map[pair]float64{}
	rep := Report{Records: len(records), MergeDecisions: map[string]int{}}
	for i, rec := range records {
		cands, err := ix.Add(rec)
		if err != nil {
			return Report{}, fmt.Errorf("match: evaluate: record %d: %w", i, err)
		}
		pos[rec.ID] = i
		for _, c := range cands {
			j := pos[c.ID]
			pr := pair{j, i}
			if entity[i] == entity[j] {
				if s, ok := directTrue[pr]; !ok || c.Score > s {
					directTrue[pr] = c.Score
				}
			}
			switch c.Decision {
			case Merge:
				uf.union(i, j)
				rep.MergeDecisions[c.Key]++
				if entity[i] != entity[j] && len(rep.FalseMerges) < 20 {
					rep.FalseMerges = append(rep.FalseMerges, PairExample{A: records[j], B: rec, Candidate: c})
				}
			case Review:
				review[pr] = true
			}
		}
	}
	for pr := range review {
		if uf.find(pr.a) != uf.find(pr.b) {
			rep.ReviewPairs++
			if entity[pr.a] == entity[pr.b] {
				rep.ReviewTrue++
			}
		}
	}
	// Pair counts.
	trueSize := map[int]int64{}
	predSize := map[int]int64{}
	both := map[[2]int]int64{}
	for i := range records {
		root := uf.find(i)
		trueSize[entity[i]]++
		predSize[root]++
		both[[2]int{root, entity[i]}]++
	}
	c2 := func(n int64) int64 { return n * (n - 1) / 2 }
	for _, n := range trueSize {
		rep.TruePairs += c2(n)
	}
	for _, n := range predSize {
		rep.PredictedPairs += c2(n)
	}
	for _, n := range both {
		rep.CorrectPairs += c2(n)
	}
	rep.TrueEntities = len(trueSize)
	if rep.PredictedPairs > 0 {
		rep.Precision = float64(rep.CorrectPairs) / float64(rep.PredictedPairs)
	} else {
		rep.Precision = 1
	}
	if rep.TruePairs > 0 {
		rep.Recall = float64(rep.CorrectPairs) / float64(rep.TruePairs)
	}
	if rep.Precision+rep.Recall > 0 {
		rep.F1 = 2 * rep.Precision * rep.Recall / (rep.Precision + rep.Recall)
	}
	// Examples of missed pairs: true pairs in different predicted clusters.
	byEntity := map[int][]int{}
	for i := range records {
		byEntity[entity[i]] = append(byEntity[entity[i]], i)
	}
	for i := range records {
		if len(rep.Missed) >= 20 {
			break
		}
		for _, j := range byEntity[entity[i]] {
			if j >= i || uf.find(i) == uf.find(j) {
				continue
			}
			c, _ := Compare(cfg, records[i], records[j])
			if _, seen := directTrue[pair{j, i}]; !seen {
				c.Notes = append(c.Notes, "never a candidate of Add (blocking)")
			}
			rep.Missed = append(rep.Missed, PairExample{A: records[j], B: records[i], Candidate: c})
			break
		}
	}
	rep.Stats = ix.Stats()
	if math.IsNaN(rep.F1) {
		rep.F1 = 0
	}
	return rep, nil
}

type unionFind struct{ parent []int32 }

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int32, n)}
	for i := range u.parent {
		u.parent[i] = int32(i)
	}
	return u
}

func (u *unionFind) find(x int) int {
	for int(u.parent[x]) != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = int(u.parent[x])
	}
	return x
}

func (u *unionFind) union(a, b int) {
	ra, rb := u.find(a), u.find(b)
	if ra != rb {
		u.parent[ra] = int32(rb)
	}
}

// Command matcheval measures duplicate detection on a generated labeled
// dataset: precision, recall and F1 at the configured thresholds, the
// review-queue volume, and examples of errors.
//
//	go run ./transform/entities/match/cmd/matcheval -n 20000 -seed 42
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"syncline/transform/entities/match"
	"syncline/transform/entities/match/synth"
)

func main() {
	n := flag.Int("n", 20000, "records to generate")
	seed := flag.Uint64("seed", 42, "generator seed")
	auto := flag.Float64("auto-merge", 0.85, "auto-merge threshold")
	review := flag.Float64("review-from", 0.65, "lower end of the review band")
	examples := flag.Bool("examples", false, "print examples of false merges and missed pairs")
	noExt := flag.Bool("no-external-ids", false, "drop the generated external-id cross references (fuzzy, email and phone only)")
	flag.Parse()

	ds := synth.Generate(*seed, *n)
	if *noExt {
		for i := range ds.Records {
			ds.Records[i].ExternalIDs = nil
		}
	}
	cfg := match.DefaultConfig()
	cfg.AutoMerge, cfg.ReviewFrom = *auto, *review
	start := time.Now()
	rep, err := match.Evaluate(cfg, ds.Records, ds.Entity)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	el := time.Since(start)
	keys := make([]string, 0, len(ds.Composition))
	for k := range ds.Composition {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%-70s %d\n", k, ds.Composition[k])
	}
	fmt.Println(rep)
	fmt.Printf("elapsed %v (%.0f adds/s, including normalization)\n", el, float64(*n)/el.Seconds())
	if *examples {
		for _, e := range rep.FalseMerges {
			fmt.Printf("FALSE MERGE %.3f key=%q\n  %+v\n  %+v\n  %v %v\n", e.Candidate.Score, e.Candidate.Key, e.A, e.B, e.Candidate.Reasons, e.Candidate.Notes)
		}
		for _, e := range rep.Missed {
			fmt.Printf("MISSED %.3f %s\n  %+v\n  %+v\n  %v %v\n", e.Candidate.Score, e.Candidate.Decision, e.A, e.B, e.Candidate.Reasons, e.Candidate.Notes)
		}
	}
}

package main

import (
	"strings"
	"testing"
	"time"

	"syncline/capture/postgres"
)

func TestBackfillLineShowsProgressRateAndTimeLeft(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bf := postgres.Backfill{ID: "b/public.t", Table: "public.t", State: postgres.BackfillRunning, Rows: 2500, Emitted: 2400, Estimate: 10000, StartedAt: start}
	got := backfillLine(bf, start.Add(10*time.Second))
	for _, want := range []string{"[#######-----------------------]", " 25%", "running", "2500 rows (2400 written)", "250 rows/s", "ETA 30s"} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
	bf.State, bf.UpdatedAt, bf.Rows = postgres.BackfillDone, start.Add(40*time.Second), 9800
	got = backfillLine(bf, start.Add(time.Hour))
	if !strings.Contains(got, "100%") || strings.Contains(got, "ETA") || !strings.Contains(got, "245 rows/s") {
		t.Errorf("done line %q: want 100%%, no ETA, the rate over the backfill's own duration", got)
	}
}

package reconcile

import (
	"context"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/internal/config"
	"syncline/internal/metrics"
	"syncline/schemas"
)

// Scheduler compares a sink's tables with their sources every Interval
// (the sink role's scheduled reconciliation), sets
// syncline_drift_rows{sink,table} and, when Repairer is set, re-delivers
// what differs. It is a pipeline component.
type Scheduler struct {
	Sink     string
	Tables   []Table
	Interval time.Duration
	Options  Options
	Repairer *Repairer // nil: report only
	Metrics  *metrics.Metrics
	Log      *slog.Logger
	// Done, when set, is called after every run (tests).
	Done func(results []*Result)
}

// Ready always holds: a failed comparison is logged, not a reason to
// take the process out of service.
func (s *Scheduler) Ready() bool { return true }

// Run compares every Interval until ctx ends; the first run is one
// Interval after the start, once the sink had time to deliver.
func (s *Scheduler) Run(ctx context.Context) error {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", s.Sink)
	o := s.Options
	o.Log = log
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		results := s.RunOnce(ctx, o, log)
		if ctx.Err() != nil {
			return nil
		}
		if s.Done != nil {
			s.Done(results)
		}
	}
}

// RunOnce compares (and repairs) every table once. With several sink
// processes, one runs at a time (an advisory lock in the warehouse); the
// others skip the run.
func (s *Scheduler) RunOnce(ctx context.Context, o Options, log *slog.Logger) []*Result {
	if len(s.Tables) == 0 {
		return nil
	}
	unlock, ok, err := s.lock(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("reconciliation: cannot reach the warehouse", "err", err)
		}
		return nil
	}
	if !ok {
		log.Info("reconciliation: another process of the sink is running it; skipped")
		return nil
	}
	defer unlock()
	start := time.Now()
	var results []*Result
	drift, repaired, failed := 0, 0, 0
	for _, tbl := range s.Tables {
		res, err := Compare(ctx, tbl, o)
		if err != nil {
			if ctx.Err() != nil {
				return results
			}
			failed++
			log.Warn("reconciliation: comparison failed", "table", tbl.Name(), "err", err)
			results = append(results, &Result{Table: tbl.Name(), Sink: s.Sink, Error: err.Error()})
			continue
		}
		res.Sink = s.Sink
		results = append(results, res)
		drift += res.Drift()
		if s.Metrics != nil {
			s.Metrics.DriftRows.WithLabelValues(s.Sink, tbl.Name()).Set(float64(res.Drift()))
			s.Metrics.ReconciledRows.WithLabelValues(s.Sink, tbl.Name()).Set(float64(res.SourceRows))
		}
		if res.Drift() > 0 {
			log.Warn("reconciliation: rows differ", "table", tbl.Name(), "missing", len(res.Missing), "extra", len(res.Extra), "different", len(res.Different))
		}
		if s.Repairer != nil && res.Drift() > 0 {
			rep, err := s.Repairer.Repair(ctx, tbl, res)
			if err != nil {
				failed++
				log.Warn("reconciliation: repair failed", "table", tbl.Name(), "err", err)
				continue
			}
			repaired += rep.Upserts + rep.Deletes
			log.Info("reconciliation: repair sent", "table", tbl.Name(), "upserts", rep.Upserts, "deletes", rep.Deletes, "position", rep.Position)
		}
	}
	log.Info("reconciliation finished", "tables", len(s.Tables), "drift_rows", drift, "repaired_rows", repaired, "failed", failed,
		"duration", time.Since(start).Round(time.Millisecond))
	return results
}

// NewScheduler is the scheduled reconciliation of sink as configured in
// its reconcile block; repairs (when on) go out through prod.
func NewScheduler(cfg *config.Config, sink config.Sink, prod *kgo.Client, serde *schemas.Serde, reg SchemaRegistry, m *metrics.Metrics, log *slog.Logger) (*Scheduler, error) {
	tables, err := Tables(cfg, sink, nil)
	if err != nil {
		return nil, err
	}
	s := &Scheduler{Sink: sink.Name, Tables: tables, Interval: sink.Reconcile.Interval,
		Options: Options{Settle: sink.Reconcile.Settle}, Metrics: m, Log: log}
	if sink.Reconcile.Repair {
		s.Repairer = &Repairer{Topic: RepairTopic(cfg.Kafka.TopicPrefix, sink.Name), TopicPrefix: cfg.Kafka.TopicPrefix,
			Producer: prod, Serde: serde, Registry: reg}
	}
	return s, nil
}

// lock takes the sink's reconciliation lock in the warehouse, held until
// unlock (a session lock on a connection of its own).
func (s *Scheduler) lock(ctx context.Context) (unlock func(), ok bool, err error) {
	conn, err := connect(ctx, s.Tables[0].SinkDSN, "syncline-reconcile")
	if err != nil {
		return nil, false, err
	}
	h := fnv.New64a()
	h.Write([]byte("syncline.reconcile\x00" + s.Sink))
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(h.Sum64())).Scan(&ok); err != nil || !ok {
		conn.Close(context.WithoutCancel(ctx))
		return nil, false, err
	}
	// Closing the session releases the lock.
	return func() { conn.Close(context.WithoutCancel(ctx)) }, true, nil
}

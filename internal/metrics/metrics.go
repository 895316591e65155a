// Package metrics defines syncline's Prometheus metrics. Their names and
// labels are part of the interface (README, dashboards, alert rules), so
// they are declared once here and registered on an injected registry.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics holds every metric syncline exports.
type Metrics struct {
	SourceEvents       *prometheus.CounterVec   // source, table, op
	SourceLagBytes     *prometheus.GaugeVec     // source
	EndToEndLatency    *prometheus.HistogramVec // sink
	SinkWrites         *prometheus.CounterVec   // sink, result
	SinkErrors         *prometheus.CounterVec   // sink, kind
	SinkAPICalls       *prometheus.CounterVec   // sink, endpoint, result
	DLQRecords         *prometheus.CounterVec   // stage, reason
	DuplicatesDropped  *prometheus.CounterVec   // stage
	NoopUpdatesDropped prometheus.Counter
	ConsumerLag        *prometheus.GaugeVec   // stage
	ToastRereads       *prometheus.CounterVec // source, result
	BackfillRows       *prometheus.CounterVec // table
	DriftRows          *prometheus.GaugeVec   // sink, table
	ReconciledRows     *prometheus.GaugeVec   // sink, table
	Conflicts          *prometheus.CounterVec // entity, field, resolution
	ReviewQueueDepth   prometheus.Gauge
	EntityChanges      *prometheus.CounterVec   // entity
	QualityScore       *prometheus.HistogramVec // entity, source
}

// New creates the metrics and registers them on reg (a fresh
// prometheus.NewRegistry() in tests; never the global registry).
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		SourceEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncline_source_events_total", Help: "Changes captured from sources and committed to Kafka, by source, table and op.",
		}, []string{"source", "table", "op"}),
		SourceLagBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncline_source_lag_bytes", Help: "WAL bytes between the server's current LSN and the slot's confirmed flush LSN.",
		}, []string{"source"}),
		EndToEndLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "syncline_end_to_end_latency_seconds", Help: "Time from source commit to sink acknowledgement.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"sink"}),
		SinkWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncline_sink_writes_total", Help: "Rows written by sinks, by result (ok, error).",
		}, []string{"sink", "result"}),
		SinkErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncline_sink_errors_total", Help: "Sink errors by kind (retryable, permanent, decode).",
		}, []string{"sink", "kind"}),
		SinkAPICalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncline_sink_api_calls_total", Help: "API calls of SaaS sinks, by endpoint (upsert, update, read, archive, delete, post) and result (ok, error); retried attempts count once.",
		}, []string{"sink", "endpoint", "result"}),
		DLQRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncline_dlq_records_total", Help: "Records parked in the dead-letter topic, by stage and reason.",
		}, []string{"stage", "reason"}),
		DuplicatesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncline_duplicates_dropped_total", Help: "Records dropped because their position was not newer than the state's.",
		}, []string{"stage"}),
		NoopUpdatesDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "syncline_noop_updates_dropped_total", Help: "Updates dropped because no field value changed.",
		}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncline_consumer_lag_records", Help: "Records between a stage's position and the end of its input topics.",
		}, []string{"stage"}),
		ToastRereads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncline_toast_rereads_total", Help: "Rows the changes stage re-read from the source because its state had no value for unchanged TOAST columns, by result (ok, row_deleted, failed, retry).",
		}, []string{"source", "result"}),
		BackfillRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncline_backfill_rows_total", Help: "Rows written by backfills (op=r), by table (schema.table).",
		}, []string{"table"}),
		DriftRows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncline_drift_rows", Help: "Rows that differ between a source table and a sink's table (missing + extra + different) at the last scheduled reconciliation, after its settle pass.",
		}, []string{"sink", "table"}),
		ReconciledRows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "syncline_reconciled_rows", Help: "Rows of the source table at the last scheduled reconciliation (the denominator of the drift rate).",
		}, []string{"sink", "table"}),
		Conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncline_conflicts_total", Help: "Fields of entities where sources disagreed, by entity, field and how it was resolved (the policy, review, approved, rejected).",
		}, []string{"entity", "field", "resolution"}),
		EntityChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncline_entity_changes_total", Help: "Source record changes merged into entities, by entity (the denominator of the conflict rate).",
		}, []string{"entity"}),
		QualityScore: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "syncline_quality_score", Help: "Quality score (0-100, the seeds' scoring) of the source records the entities stage accepted, by entity and source.",
			Buckets: []float64{0, 20, 40, 50, 60, 70, 80, 90, 100},
		}, []string{"entity", "source"}),
		ReviewQueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "syncline_review_queue_depth", Help: "Review items (held changes, possible duplicates) waiting for a decision, in the shards this process owns.",
		}),
	}
	reg.MustRegister(m.BackfillRows, m.DriftRows, m.ReconciledRows)
	reg.MustRegister(m.SinkAPICalls, m.Conflicts, m.ReviewQueueDepth, m.EntityChanges, m.QualityScore)
	reg.MustRegister(m.SourceEvents, m.SourceLagBytes, m.EndToEndLatency, m.SinkWrites, m.SinkErrors,
		m.DLQRecords, m.DuplicatesDropped, m.NoopUpdatesDropped, m.ConsumerLag, m.ToastRereads)
	return m
}

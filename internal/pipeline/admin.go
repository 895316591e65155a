package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"syncline/capture/postgres"
	"syncline/internal/admin"
	"syncline/internal/config"
	"syncline/internal/dlq"
	"syncline/internal/topics"
	"syncline/schemas"
	"syncline/sink/warehouse"
	"syncline/transform/entities"
)

// The console's charts: a point every 2 s over the last 10 minutes.
const (
	statsInterval = 2 * time.Second
	statsKeep     = 300
)

func adminOptions(cfg *config.Config, o Options, comps []named, reg *prometheus.Registry, sampler *admin.Sampler, kopts []kgo.Opt, serde *schemas.Serde, log *slog.Logger) admin.Options {
	ao := admin.Options{
		Token: cfg.HTTP.Token.Value(), Registry: reg, Sampler: sampler, Log: log.With("component", "admin"),
		DLQ: dlq.NewAdmin(kopts, topics.DLQ(cfg.Kafka.TopicPrefix), topics.DLQReplays(cfg.Kafka.TopicPrefix), "syncline-dlq-replay-"+cfg.Name),
	}
	for _, c := range comps {
		ac := admin.Component{Name: c.name, Ready: c.c.Ready}
		if d, ok := c.c.(interface{ Status() any }); ok {
			ac.Status = d.Status
		}
		if d, ok := c.c.(interface{ NotReadyDetail() string }); ok {
			ac.NotReadyDetail = d.NotReadyDetail
		}
		ao.Components = append(ao.Components, ac)
	}
	if o.Role == RoleAll || o.Role == RoleSink {
		ao.Audit = func(ctx context.Context, q admin.AuditQuery) (any, error) {
			for _, s := range cfg.Sinks {
				if s.Name != q.Sink {
					continue
				}
				if s.Type != config.SinkPostgres {
					return nil, admin.BadRequest(fmt.Errorf("sink %q is of type %s: only postgres sinks keep an audit log", q.Sink, s.Type))
				}
				es, err := warehouse.QueryAuditDSN(ctx, s.DSN.Value(), s.SchemaName(), warehouse.AuditFilter{Sink: q.Sink, Table: q.Table, Key: q.Key, Since: q.Since, Limit: q.Limit})
				if es == nil {
					es = []warehouse.AuditEntry{}
				}
				return es, err
			}
			return nil, admin.BadRequest(fmt.Errorf("no sink %q in this pipeline", q.Sink))
		}
	}
	if len(cfg.Entities) > 0 {
		ao.Reviews = &reviews{cfg: cfg, kopts: kopts, serde: serde}
	}
	if o.Role == RoleAll || o.Role == RoleCapture {
		ao.Signal = func(ctx context.Context, source string, sg postgres.Signal) (postgres.Signal, error) {
			return SendSignal(ctx, cfg, source, sg)
		}
	}
	return ao
}

// SendSignal checks a backfill signal against cfg (the source exists and
// captures the tables named) and writes it to that source's database. The
// CLI and the admin API both send signals this way. Errors that are the
// request's fault are admin.RequestErrors.
func SendSignal(ctx context.Context, cfg *config.Config, source string, sg postgres.Signal) (postgres.Signal, error) {
	var src *config.Source
	var names []string
	for i := range cfg.Sources {
		names = append(names, cfg.Sources[i].Name)
		if cfg.Sources[i].Name == source {
			src = &cfg.Sources[i]
		}
	}
	if src == nil {
		return sg, admin.BadRequest(fmt.Errorf("no source %q (sources: %s)", source, strings.Join(names, ", ")))
	}
	if src.Type != config.SourcePostgres {
		return sg, admin.BadRequest(fmt.Errorf("source %s is a %s source: a backfill re-reads Postgres tables and does not apply to it", src.Name, src.Type))
	}
	switch sg.Type {
	case "backfill", "pause", "resume", "cancel":
	default:
		return sg, admin.BadRequest(fmt.Errorf("unknown signal type %q", sg.Type))
	}
	for i, t := range sg.Tables {
		tn, err := config.ParseTableName(t)
		if err != nil {
			return sg, admin.BadRequest(fmt.Errorf("table %q: %v", t, err))
		}
		if sg.Type == "backfill" && !slices.Contains(src.QualifiedTables(), tn) {
			return sg, admin.BadRequest(fmt.Errorf("source %s does not capture table %q (its tables: %s)", src.Name, t, strings.Join(src.Tables, ", ")))
		}
		sg.Tables[i] = tn.Schema + "." + tn.Name
	}
	return postgres.SendSignal(ctx, src.DSN.Value(), sg)
}

// reviews serves the review queue and entity history from Kafka: any
// process of the pipeline can, whichever role it runs.
type reviews struct {
	cfg   *config.Config
	kopts []kgo.Opt
	serde *schemas.Serde
}

func (r *reviews) List(ctx context.Context, f entities.ReviewFilter) ([]*entities.Review, error) {
	return entities.ListReviews(ctx, r.kopts, r.cfg.Kafka.TopicPrefix, f)
}

func (r *reviews) Get(ctx context.Context, id string) (*entities.Review, error) {
	return entities.GetReview(ctx, r.kopts, r.cfg.Kafka.TopicPrefix, id)
}

func (r *reviews) Decide(ctx context.Context, id, decision, by, note string) (*entities.Review, error) {
	rv, err := entities.Decide(ctx, r.kopts, r.cfg.Kafka.TopicPrefix, id, decision, by, note)
	if err != nil {
		return rv, err
	}
	done, err := entities.WaitDecided(ctx, r.kopts, r.cfg.Kafka.TopicPrefix, rv.ID)
	if err == nil && (done.DecidedBy != by || done.Note != note) {
		// Another decision on the item was applied first; ours was
		// ignored by the stage.
		return done, fmt.Errorf("review %s was decided by %s first (%s): %w", done.ID, done.DecidedBy, done.Status, entities.ErrDecided)
	}
	return done, err
}

func (r *reviews) History(ctx context.Context, entity, id string) (*entities.History, error) {
	var names []string
	for _, e := range r.cfg.Entities {
		if e.Name == entity {
			h, err := entities.ReadHistory(ctx, r.kopts, r.serde, r.cfg.Kafka.TopicPrefix, entity, id)
			if err != nil && strings.Contains(err.Error(), "no golden record") {
				return nil, admin.BadRequest(err)
			}
			return h, err
		}
		names = append(names, e.Name)
	}
	return nil, admin.BadRequest(fmt.Errorf("no entity %q (entities: %s)", entity, strings.Join(names, ", ")))
}

// httpTLS is the HTTPS configuration of the admin server.
func httpTLS(t config.ServerTLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("http.tls: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("http.tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http.tls.client_ca_file %s: no PEM certificate in it", t.ClientCAFile)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

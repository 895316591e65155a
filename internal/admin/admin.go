// Package admin is syncline's HTTP surface: /metrics, /healthz, /readyz,
// the admin API under /api/v1 and the web console under /console/.
//
// The API (JSON; token auth with "Authorization: Bearer <http.token>" when
// a token is configured):
//
//	GET  /api/v1/status                      components, readiness, backfills, current stats
//	GET  /api/v1/stats                       throughput, lag, errors and latency history
//	GET  /api/v1/backfills                   every source's backfills
//	POST /api/v1/backfills                   {"source", "tables", "where", "chunk_size"} starts one
//	POST /api/v1/backfills/{id}/{action}     pause, resume or cancel ({"source"} optional)
//	GET  /api/v1/dlq?stage=&reason=&limit=&replayed=1
//	POST /api/v1/dlq/replay                  {"offsets": [..]} or {} for every replayable entry
//	GET  /api/v1/audit?sink=&table=&key=&since=&limit=  a record's sink writes, newest first
//
// /metrics, /healthz and /readyz stay open for scrapers and probes; they
// carry no data beyond what the metrics list documents. The console's
// files are static and hold no data: every number it shows comes from the
// API with the token the operator types in.
package admin

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"syncline/capture/postgres"
	"syncline/internal/dlq"
	"syncline/transform/entities"
)

// Component is one running part of the pipeline as the API shows it.
type Component struct {
	Name  string
	Ready func() bool
	// Status returns component-specific detail (a source's backfills);
	// nil when there is none.
	Status func() any
	// NotReadyDetail says why it is not ready; nil or "" when it cannot.
	NotReadyDetail func() string
}

// Options configures the handler.
type Options struct {
	// Token, when not empty, is required as a bearer token on /api.
	Token      string
	Components []Component
	Registry   *prometheus.Registry
	Sampler    *Sampler
	// Signal writes a backfill signal (start, pause, resume, cancel) to
	// the named source and returns it as sent. nil: backfills cannot be
	// steered from this process (it runs no capture role, say).
	Signal func(ctx context.Context, source string, sg postgres.Signal) (postgres.Signal, error)
	// DLQ lists and replays the dead-letter topic; nil disables those
	// endpoints.
	DLQ *dlq.Admin
	// Audit returns a sink's audit log rows for a query (see AuditQuery);
	// nil disables /api/v1/audit. Errors that are the request's fault are
	// RequestErrors.
	Audit func(ctx context.Context, q AuditQuery) (any, error)
	// Reviews serves the review queue and entity history; nil disables
	// those endpoints (no entities configured).
	Reviews Reviews
	Log     *slog.Logger
}

// Reviews is the review queue and the entities' lineage.
type Reviews interface {
	List(ctx context.Context, f entities.ReviewFilter) ([]*entities.Review, error)
	Get(ctx context.Context, id string) (*entities.Review, error)
	// Decide sends a decision and waits until the entities stage applied
	// it; the review returned has its new status.
	Decide(ctx context.Context, id, decision, by, note string) (*entities.Review, error)
	History(ctx context.Context, entity, id string) (*entities.History, error)
}

// Status is what /api/v1/status returns.
type Status struct {
	Components []ComponentStatus `json:"components"`
	// Stats is the newest sampling interval, absent until there is one.
	Stats *Point `json:"stats,omitempty"`
}

// ComponentStatus is one component's state; Detail is component-specific.
type ComponentStatus struct {
	Name     string `json:"name"`
	Ready    bool   `json:"ready"`
	NotReady string `json:"not_ready,omitempty"`
	Detail   any    `json:"detail,omitempty"`
}

//go:embed console
var consoleFiles embed.FS

// Handler returns the HTTP handler.
func Handler(o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	h := &handler{o: o}
	mux := http.NewServeMux()
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/status", h.status)
	api.HandleFunc("GET /api/v1/stats", h.stats)
	api.HandleFunc("GET /api/v1/backfills", h.backfills)
	api.HandleFunc("POST /api/v1/backfills", h.startBackfill)
	api.HandleFunc("POST /api/v1/backfills/{id}/{action}", h.steerBackfill)
	api.HandleFunc("GET /api/v1/dlq", h.dlqList)
	api.HandleFunc("POST /api/v1/dlq/replay", h.dlqReplay)
	api.HandleFunc("GET /api/v1/audit", h.audit)
	api.HandleFunc("GET /api/v1/reviews", h.reviewList)
	api.HandleFunc("GET /api/v1/reviews/{id}", h.reviewGet)
	api.HandleFunc("POST /api/v1/reviews/{id}/{action}", h.reviewDecide)
	api.HandleFunc("GET /api/v1/entities/{entity}/{id}/history", h.history)
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s (see the README's admin API)", r.Method, r.URL.Path))
	})
	mux.Handle("/api/", h.auth(api))
	if o.Registry != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", h.readyz)
	sub, _ := fs.Sub(consoleFiles, "console")
	files := http.StripPrefix("/console/", http.FileServerFS(sub))
	mux.Handle("/console/", securityHeaders(files))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusFound)
	})
	return mux
}

// securityHeaders keeps the console from being framed or running scripts
// from anywhere but itself.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

type handler struct {
	o       Options
	readyMu sync.Mutex
}

// auth guards /api: the bearer token when one is configured; and, against
// a web page the operator happens to open (cross-site requests, DNS
// rebinding), requests that change something must be JSON (a browser
// cannot send that cross-origin without a CORS preflight, which this
// server never grants), and without a token only requests addressed to an
// IP literal or localhost are served (a rebound host name is refused).
func (h *handler) auth(next http.Handler) http.Handler {
	want := []byte("Bearer " + h.o.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.o.Token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="syncline"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (http.token)")
			return
		}
		if h.o.Token == "" && !directHost(r.Host) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("the admin API has no token (http.token), so it only answers requests addressed to localhost or an IP address, not %q: set http.token to use it by name", r.Host))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, "send the request body as JSON (Content-Type: application/json)")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// directHost reports whether a Host header names localhost or an IP
// literal.
func directHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return strings.EqualFold(host, "localhost") || net.ParseIP(host) != nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// readBody decodes a JSON request body into v; an empty body leaves v.
func readBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

func (h *handler) status(w http.ResponseWriter, _ *http.Request) {
	st := Status{Components: []ComponentStatus{}}
	for _, c := range h.o.Components {
		cs := ComponentStatus{Name: c.Name, Ready: c.Ready()}
		if !cs.Ready && c.NotReadyDetail != nil {
			cs.NotReady = c.NotReadyDetail()
		}
		if c.Status != nil {
			cs.Detail = c.Status()
		}
		st.Components = append(st.Components, cs)
	}
	if h.o.Sampler != nil {
		if p, ok := h.o.Sampler.Current(); ok {
			st.Stats = &p
		}
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *handler) stats(w http.ResponseWriter, _ *http.Request) {
	var hist []Point
	if h.o.Sampler != nil {
		hist = h.o.Sampler.History()
	}
	if hist == nil {
		hist = []Point{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"points": hist})
}

func (h *handler) readyz(w http.ResponseWriter, _ *http.Request) {
	h.readyMu.Lock()
	defer h.readyMu.Unlock()
	var notReady []string
	for _, c := range h.o.Components {
		if !c.Ready() {
			name := c.Name
			if c.NotReadyDetail != nil {
				if d := c.NotReadyDetail(); d != "" {
					name += " (" + d + ")"
				}
			}
			notReady = append(notReady, name)
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	if len(notReady) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %s\n", strings.Join(notReady, ", "))
		return
	}
	fmt.Fprintln(w, "ready")
}

// sourceBackfills returns each source's status, by source name.
func (h *handler) sourceBackfills() []postgres.SourceStatus {
	var out []postgres.SourceStatus
	for _, c := range h.o.Components {
		if c.Status == nil {
			continue
		}
		if ss, ok := c.Status().(postgres.SourceStatus); ok {
			out = append(out, ss)
		}
	}
	return out
}

// BackfillView is one backfill with its source, as the API lists it.
type BackfillView struct {
	Source string `json:"source"`
	postgres.Backfill
}

func (h *handler) backfills(w http.ResponseWriter, _ *http.Request) {
	out := []BackfillView{}
	for _, ss := range h.sourceBackfills() {
		for _, bf := range ss.Backfills {
			out = append(out, BackfillView{Source: ss.Source, Backfill: bf})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"backfills": out})
}

// BackfillRequest starts a backfill.
type BackfillRequest struct {
	Source    string   `json:"source"`
	Tables    []string `json:"tables"`
	Where     string   `json:"where"`
	ChunkSize int      `json:"chunk_size"`
	ID        string   `json:"id"`
}

func (h *handler) startBackfill(w http.ResponseWriter, r *http.Request) {
	if h.o.Signal == nil {
		writeError(w, http.StatusNotImplemented, "this process runs no capture role: send the request to one that does")
		return
	}
	var req BackfillRequest
	if err := readBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Source == "" {
		writeError(w, http.StatusBadRequest, `"source" is required`)
		return
	}
	if req.ChunkSize < 0 {
		writeError(w, http.StatusBadRequest, `"chunk_size" must be positive`)
		return
	}
	sent, err := h.o.Signal(r.Context(), req.Source, postgres.Signal{ID: req.ID, Type: "backfill", Tables: req.Tables, Where: req.Where, ChunkSize: req.ChunkSize})
	if err != nil {
		writeError(w, signalErrorCode(err), err.Error())
		return
	}
	h.o.Log.Info("backfill requested over the admin API", "source", req.Source, "id", sent.ID, "tables", sent.Tables)
	writeJSON(w, http.StatusAccepted, map[string]any{"source": req.Source, "signal": sent})
}

func (h *handler) steerBackfill(w http.ResponseWriter, r *http.Request) {
	if h.o.Signal == nil {
		writeError(w, http.StatusNotImplemented, "this process runs no capture role: send the request to one that does")
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	if !slices.Contains([]string{"pause", "resume", "cancel"}, action) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown backfill action %q (pause, resume, cancel)", action))
		return
	}
	var req struct {
		Source string `json:"source"`
	}
	if err := readBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Source == "" {
		for _, ss := range h.sourceBackfills() {
			for _, bf := range ss.Backfills {
				if bf.ID == id {
					req.Source = ss.Source
				}
			}
		}
		if req.Source == "" {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no backfill %q in this process; name its \"source\"", id))
			return
		}
	}
	sent, err := h.o.Signal(r.Context(), req.Source, postgres.Signal{ID: id, Type: action})
	if err != nil {
		writeError(w, signalErrorCode(err), err.Error())
		return
	}
	h.o.Log.Info("backfill "+action+" requested over the admin API", "source", req.Source, "id", id)
	writeJSON(w, http.StatusAccepted, map[string]any{"source": req.Source, "signal": sent})
}

// RequestError marks a Signal error that is the request's fault (answered
// with 400); its message is the wrapped error's.
type RequestError struct{ Err error }

func (e RequestError) Error() string { return e.Err.Error() }
func (e RequestError) Unwrap() error { return e.Err }

// BadRequest wraps err as a RequestError.
func BadRequest(err error) error { return RequestError{err} }

func signalErrorCode(err error) int {
	var re RequestError
	if errors.As(err, &re) {
		return http.StatusBadRequest
	}
	return http.StatusBadGateway
}

func (h *handler) dlqList(w http.ResponseWriter, r *http.Request) {
	if h.o.DLQ == nil {
		writeError(w, http.StatusNotImplemented, "the DLQ is not available in this process")
		return
	}
	q := r.URL.Query()
	f := dlq.Filter{Stage: q.Get("stage"), Reason: q.Get("reason"), IncludeReplayed: q.Get("replayed") == "1" || q.Get("replayed") == "true"}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "limit must be a number between 1 and 10000")
			return
		}
		f.Limit = n
	}
	es, err := h.o.DLQ.List(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if es == nil {
		es = []dlq.Entry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es})
}

func (h *handler) dlqReplay(w http.ResponseWriter, r *http.Request) {
	if h.o.DLQ == nil {
		writeError(w, http.StatusNotImplemented, "the DLQ is not available in this process")
		return
	}
	var req struct {
		Offsets []int64 `json:"offsets"`
		Force   bool    `json:"force"`
	}
	if err := readBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := h.o.DLQ.Replay(r.Context(), req.Offsets, req.Force)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if res == nil {
		res = []dlq.ReplayResult{}
	}
	n := 0
	for _, x := range res {
		if x.Error == "" {
			n++
		}
	}
	h.o.Log.Info("DLQ replay over the admin API", "replayed", n, "requested", len(req.Offsets))
	writeJSON(w, http.StatusOK, map[string]any{"replayed": n, "results": res})
}

// AuditQuery selects audit log rows: the writes sink made to table, for the
// record whose key contains Key (a JSON object such as {"id": 42}), since
// Since, at most Limit.
type AuditQuery struct {
	Sink, Table string
	Key         map[string]any
	Since       time.Time
	Limit       int
}

func (h *handler) audit(w http.ResponseWriter, r *http.Request) {
	if h.o.Audit == nil {
		writeError(w, http.StatusNotImplemented, "no sink with an audit log runs in this process")
		return
	}
	q := r.URL.Query()
	aq := AuditQuery{Sink: q.Get("sink"), Table: q.Get("table")}
	if aq.Sink == "" {
		writeError(w, http.StatusBadRequest, "sink is required")
		return
	}
	if v := q.Get("key"); v != "" {
		if err := json.Unmarshal([]byte(v), &aq.Key); err != nil || aq.Key == nil {
			writeError(w, http.StatusBadRequest, `key must be a JSON object of key columns, e.g. {"id": 42}`)
			return
		}
	}
	if v := q.Get("since"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			aq.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, v); err == nil {
			aq.Since = t
		} else {
			writeError(w, http.StatusBadRequest, "since must be a duration (24h) or an RFC 3339 time")
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "limit must be a number between 1 and 10000")
			return
		}
		aq.Limit = n
	}
	res, err := h.o.Audit(r.Context(), aq)
	if err != nil {
		writeError(w, signalErrorCode(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": res})
}

package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	sinksaas "syncline/sink/saas"
)

// readConcurrency is how many reads a Reader has in flight; the token
// bucket (requests_per_second) paces them.
const readConcurrency = 4

// Reader reads the records a sink wrote, for syncline diff (a
// sinksaas.Reader), with the read request template: GET <read.path>,
// {id} the record's id as the ledger holds it (the id of the upsert's
// answer, else the id_field value), one record per request, paced and
// retried like the sink's requests (429 with Retry-After, 5xx). The
// answer is the record as a JSON object whose fields are named as the
// mapped fields; 404 and 410 mean the API does not hold it. It needs no
// state directory.
type Reader struct {
	cfg   Config
	c     *client
	names []string
}

// NewReader validates cfg (as New does, without the state) and returns a
// reader; cfg.Read.Path is required.
func NewReader(cfg Config, log *slog.Logger) (*Reader, error) {
	if cfg.Read.Path == "" {
		return nil, fmt.Errorf("rest sink %q: no read request: set read: {path: ...} (a GET of one record by {id}) so that diff can compare the sink", cfg.Name)
	}
	return sinksaas.BuildReader(cfg, Config.withDefaults, log, func(cfg Config, log *slog.Logger) *Reader {
		return &Reader{cfg: cfg, c: newClient(cfg, log.With("sink", cfg.Name)), names: sinksaas.SortedNames(cfg.Fields)}
	})
}

// Key is an id_field value as compared: as the API holds it.
func (r *Reader) Key(v string) string { return v }

// ReadIDs reads records by id.
func (r *Reader) ReadIDs(ctx context.Context, ids []string) (map[string]sinksaas.Object, error) {
	return sinksaas.ReadEach(ctx, ids, readConcurrency, r.get)
}

// ReadKeys reads records by id_field value: the same request, {id} the
// value.
func (r *Reader) ReadKeys(ctx context.Context, keys []string) (map[string]sinksaas.Object, error) {
	return r.ReadIDs(ctx, keys)
}

func (r *Reader) get(ctx context.Context, id string) (sinksaas.Object, bool, error) {
	path := placeholderRE.ReplaceAllLiteralString(r.cfg.Read.Path, url.PathEscape(id))
	_, body, err := r.c.do(ctx, r.cfg.Read.Method, path, nil, "")
	var se *StatusError
	if errors.As(err, &se) {
		switch se.Status {
		case http.StatusNotFound, http.StatusGone:
			return sinksaas.Object{}, false, nil
		case http.StatusUnauthorized, http.StatusForbidden:
			err = fmt.Errorf("%w (check sinks[].rest.auth and read.path)", err)
		}
	}
	if err != nil {
		return sinksaas.Object{}, false, fmt.Errorf("rest sink %q: read %s: %w", r.cfg.Name, id, err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return sinksaas.Object{}, false, fmt.Errorf("rest sink %q: read %s: the answer is not a JSON object: %w", r.cfg.Name, id, err)
	}
	return sinksaas.Object{ID: id, Props: sinksaas.ReadProps(r.names, func(f string) any { return m[f] })}, true, nil
}

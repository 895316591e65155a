package salesforce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"syncline/capture/saas"
	sinksaas "syncline/sink/saas"
)

// Reader reads the records a sink wrote, for syncline diff (a
// sinksaas.Reader): sObject collections retrieve, GET
// /services/data/vNN.N/composite/sobjects/{SObject}?ids=...&fields=...
// with batch_size (at most 200) ids per call, paced and retried like the
// sink's calls. Salesforce answers null for an id it does not hold (or
// holds in the recycle bin). Records without an id in the ledger are
// looked up by external id with SOQL. It needs no state directory.
type Reader struct {
	cfg   Config
	http  *saas.HTTPClient
	names []string
}

// NewReader validates cfg (as New does, without the state) and returns a
// reader of its sObject type.
func NewReader(cfg Config, log *slog.Logger) (*Reader, error) {
	return sinksaas.BuildReader(cfg, Config.withDefaults, log, func(cfg Config, log *slog.Logger) *Reader {
		return &Reader{cfg: cfg, http: httpClient(cfg, log.With("sink", cfg.Name)), names: sinksaas.SortedNames(cfg.Fields)}
	})
}

// Key is an external id value as compared: as Salesforce holds it.
func (r *Reader) Key(v string) string { return v }

// fields is the fields param: Id and the mapped fields.
func (r *Reader) fields() []string {
	return append([]string{"Id"}, slices.DeleteFunc(slices.Clone(r.names), func(f string) bool { return f == "Id" })...)
}

// ReadIDs reads records by Salesforce id.
func (r *Reader) ReadIDs(ctx context.Context, ids []string) (map[string]sinksaas.Object, error) {
	out := map[string]sinksaas.Object{}
	fields := strings.Join(r.fields(), ",")
	for chunk := range slices.Chunk(ids, r.cfg.BatchSize) {
		u := r.cfg.InstanceURL + "/services/data/v" + r.cfg.APIVersion + "/composite/sobjects/" + url.PathEscape(r.cfg.SObject) +
			"?ids=" + url.QueryEscape(strings.Join(chunk, ",")) + "&fields=" + url.QueryEscape(fields)
		v, err := r.get(ctx, "retrieve", u)
		if err != nil {
			return nil, err
		}
		recs, ok := v.([]any)
		if !ok || len(recs) != len(chunk) {
			return nil, fmt.Errorf("salesforce sink %q: retrieve %s: the answer is not a list of %d records", r.cfg.Name, r.cfg.SObject, len(chunk))
		}
		for _, x := range recs {
			if o, ok := r.object(x); ok {
				out[o.ID] = o
			}
		}
	}
	return out, nil
}

// ReadKeys reads records by external id, one SOQL query each.
func (r *Reader) ReadKeys(ctx context.Context, keys []string) (map[string]sinksaas.Object, error) {
	byID, err := sinksaas.ReadEach(ctx, keys, 1, func(ctx context.Context, key string) (sinksaas.Object, bool, error) {
		q := fmt.Sprintf("SELECT %s FROM %s WHERE %s = '%s'", strings.Join(r.fields(), ", "), r.cfg.SObject, r.cfg.ExternalIDField,
			strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(key))
		v, err := r.get(ctx, "query", r.cfg.InstanceURL+"/services/data/v"+r.cfg.APIVersion+"/query?q="+url.QueryEscape(q))
		if err != nil {
			return sinksaas.Object{}, false, err
		}
		m, _ := v.(map[string]any)
		recs, _ := m["records"].([]any)
		if len(recs) == 0 {
			return sinksaas.Object{}, false, nil
		}
		o, ok := r.object(recs[0])
		return o, ok, nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]sinksaas.Object, len(byID))
	for _, o := range byID {
		out[r.Key(o.Props[r.cfg.ExternalIDField])] = o
	}
	return out, nil
}

func (r *Reader) get(ctx context.Context, what, u string) (any, error) {
	_, v, err := r.http.Do(ctx, http.MethodGet, u, nil)
	var he *saas.HTTPError
	if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden || he.Status == http.StatusNotFound || he.Status == http.StatusBadRequest) {
		err = fmt.Errorf("%w (check sinks[].salesforce.access_token, instance_url, sobject, the mapped fields and the user's permission to read them)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("salesforce sink %q: %s %s: %w", r.cfg.Name, what, r.cfg.SObject, err)
	}
	return v, nil
}

// object is one record of an answer; false for null.
func (r *Reader) object(x any) (sinksaas.Object, bool) {
	m, ok := x.(map[string]any)
	if !ok {
		return sinksaas.Object{}, false
	}
	id, _ := m["Id"].(string)
	if id == "" {
		return sinksaas.Object{}, false
	}
	return sinksaas.Object{ID: id, Props: sinksaas.ReadProps(r.names, func(f string) any { return m[f] })}, true
}

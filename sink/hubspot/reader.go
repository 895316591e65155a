package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"syncline/internal/metrics"
	sinksaas "syncline/sink/saas"
)

// Object is what HubSpot holds of one object: its id and the values of
// the mapped properties (a property HubSpot has no value for is "").
type Object = sinksaas.Object

// Reader reads the objects a sink wrote, for syncline diff (a
// sinksaas.Reader): batch/read
// (at most batch_size ids per call) with the mapped properties, paced and
// retried like the sink's calls. It needs no state directory.
type Reader struct {
	w     *writer
	names []string
}

// NewReader validates cfg (as New does, without the state) and returns a
// reader of its object type.
func NewReader(cfg Config, m *metrics.Metrics, log *slog.Logger) (*Reader, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = metrics.New(prometheus.NewRegistry())
	}
	w := &writer{cfg: cfg, m: m, http: httpClient(cfg, log.With("sink", cfg.Name))}
	return &Reader{w: w, names: sinksaas.SortedNames(cfg.Properties)}, nil
}

// Properties are the mapped property names, in order.
func (r *Reader) Properties() []string { return r.names }

// Key is an id_property value as HubSpot compares it.
func (r *Reader) Key(v string) string { return r.w.norm(v) }

// ReadIDs reads objects by object id; the answer holds the live objects
// found, by id.
func (r *Reader) ReadIDs(ctx context.Context, ids []string) (map[string]Object, error) {
	return r.read(ctx, "", ids)
}

// ReadKeys reads objects by id_property value; the answer holds the live
// objects found, by the value as HubSpot compares it (emails in lower
// case).
func (r *Reader) ReadKeys(ctx context.Context, keys []string) (map[string]Object, error) {
	return r.read(ctx, r.w.cfg.IDProperty, keys)
}

func (r *Reader) read(ctx context.Context, idProperty string, ids []string) (map[string]Object, error) {
	out := map[string]Object{}
	for chunk := range slices.Chunk(ids, r.w.cfg.BatchSize) {
		req := struct {
			IDProperty string   `json:"idProperty,omitempty"`
			Properties []string `json:"properties"`
			Inputs     []jin    `json:"inputs"`
		}{IDProperty: idProperty, Properties: r.names}
		for _, id := range chunk {
			req.Inputs = append(req.Inputs, jin{ID: id})
		}
		body, _ := json.Marshal(req)
		resp, err := r.w.call(ctx, "read", body)
		if err != nil {
			return nil, fmt.Errorf("hubspot sink %q: read %s: %w", r.w.cfg.Name, r.w.cfg.ObjectType, err)
		}
		for _, be := range batchErrors(resp) {
			if be.category != "OBJECT_NOT_FOUND" {
				return nil, fmt.Errorf("hubspot sink %q: read %s: %s", r.w.cfg.Name, r.w.cfg.ObjectType, be.msg)
			}
		}
		results, _ := resp["results"].([]any)
		for _, x := range results {
			m, _ := x.(map[string]any)
			id, _ := m["id"].(string)
			if id == "" {
				continue
			}
			if archived, _ := m["archived"].(bool); archived {
				continue
			}
			props, _ := m["properties"].(map[string]any)
			o := Object{ID: id, Props: map[string]string{}}
			for _, name := range r.names {
				if v, ok := props[name]; ok && v != nil {
					o.Props[name] = fmt.Sprint(v)
				} else {
					o.Props[name] = ""
				}
			}
			key := id
			if idProperty != "" {
				key = r.w.norm(o.Props[idProperty])
			}
			out[key] = o
		}
	}
	return out, nil
}

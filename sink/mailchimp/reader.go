package mailchimp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"syncline/capture/saas"
	sinksaas "syncline/sink/saas"
)

// Reader reads the members a sink wrote, for syncline diff (a
// sinksaas.Reader): GET /3.0/lists/{list_id}/members/{subscriber_hash}
// with fields=id,email_address,status,merge_fields, max_concurrent at a
// time, paced and retried like the sink's calls. A member that is
// archived (status archived) or absent (404) is not found. It needs no
// state directory.
type Reader struct {
	cfg   Config
	http  *saas.HTTPClient
	names []string
	// listOK: the list was read (ReadIDs is not called concurrently).
	listOK bool
}

// NewReader validates cfg (as New does, without the state) and returns a
// reader of its list's members.
func NewReader(cfg Config, log *slog.Logger) (*Reader, error) {
	return sinksaas.BuildReader(cfg, Config.withDefaults, log, func(cfg Config, log *slog.Logger) *Reader {
		return &Reader{cfg: cfg, http: httpClient(cfg, log.With("sink", cfg.Name)), names: sinksaas.SortedNames(cfg.Fields)}
	})
}

// Key is an email address as Mailchimp compares it: in lower case.
func (r *Reader) Key(v string) string { return strings.ToLower(v) }

// ReadIDs reads members by id (their subscriber hash), once the list is
// known to exist (a 404 of a member then means the member is absent).
func (r *Reader) ReadIDs(ctx context.Context, ids []string) (map[string]sinksaas.Object, error) {
	if len(ids) == 0 {
		return map[string]sinksaas.Object{}, nil
	}
	if !r.listOK {
		_, _, err := r.http.Do(ctx, http.MethodGet, r.cfg.BaseURL+"/3.0/lists/"+r.cfg.ListID+"?fields=id", nil)
		if err != nil {
			return nil, fmt.Errorf("mailchimp sink %q: read list %s: %w (check sinks[].mailchimp.list_id, api_key and base_url)", r.cfg.Name, r.cfg.ListID, err)
		}
		r.listOK = true
	}
	return sinksaas.ReadEach(ctx, ids, r.cfg.MaxConcurrent, r.get)
}

// ReadKeys reads members by email address (at the hash of it).
func (r *Reader) ReadKeys(ctx context.Context, keys []string) (map[string]sinksaas.Object, error) {
	hashes := make([]string, len(keys))
	for i, k := range keys {
		hashes[i] = Hash(k)
	}
	byID, err := r.ReadIDs(ctx, hashes)
	if err != nil {
		return nil, err
	}
	out := make(map[string]sinksaas.Object, len(byID))
	for _, o := range byID {
		out[r.Key(o.Props[r.cfg.EmailField])] = o
	}
	return out, nil
}

func (r *Reader) get(ctx context.Context, id string) (sinksaas.Object, bool, error) {
	u := r.cfg.BaseURL + "/3.0/lists/" + r.cfg.ListID + "/members/" + id + "?fields=id,email_address,status,merge_fields"
	_, v, err := r.http.Do(ctx, http.MethodGet, u, nil)
	var he *saas.HTTPError
	if errors.As(err, &he) {
		switch he.Status {
		case http.StatusNotFound:
			return sinksaas.Object{}, false, nil
		case http.StatusUnauthorized, http.StatusForbidden:
			err = fmt.Errorf("%w (check sinks[].mailchimp.api_key and base_url)", err)
		}
	}
	if err != nil {
		return sinksaas.Object{}, false, fmt.Errorf("mailchimp sink %q: read member %s of list %s: %w", r.cfg.Name, id, r.cfg.ListID, err)
	}
	m, _ := v.(map[string]any)
	if st, _ := m["status"].(string); st == "archived" {
		return sinksaas.Object{}, false, nil
	}
	got, _ := m["id"].(string)
	mf, _ := m["merge_fields"].(map[string]any)
	return sinksaas.Object{ID: got, Props: sinksaas.ReadProps(r.names, func(f string) any {
		if f == r.cfg.EmailField {
			return m["email_address"]
		}
		return mf[f]
	})}, true, nil
}

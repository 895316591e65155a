package pipeline

import (
	"encoding/base64"
	"strings"

	"syncline/capture/saas"
	"syncline/internal/config"
)

// pollSourceConfig is the capture configuration of a source polled by
// capture/saas: of type http, or one of saasProfileConfig's; ok is false
// for other types.
func pollSourceConfig(cfg *config.Config, s config.Source) (saas.Config, bool) {
	if s.Type != config.SourceHTTP {
		return saasProfileConfig(cfg, s)
	}
	c := httpSourceConfig(s)
	k := cfg.Kafka
	c.TopicPrefix, c.Partitions, c.RF, c.TxnTimeout = k.TopicPrefix, int32(k.Partitions), int16(k.ReplicationFactor), k.TransactionTimeout
	return c, true
}

// httpSourceConfig is the generic adapter's configuration of a source of
// type http, without the Kafka settings.
func httpSourceConfig(s config.Source) saas.Config {
	h := s.HTTP
	c := saas.Config{
		Name: s.Name, System: h.SystemName(), BaseURL: h.BaseURL, Auth: httpAuth(h.Auth),
		RateLimit: h.RateLimit, Retry: h.Retry,
		PollInterval: h.PollInterval, MaxRuntime: h.MaxRuntime, RequestTimeout: h.RequestTimeout,
	}
	for _, o := range h.Objects {
		obj := saas.Object{
			Name: o.Name, Request: o.Request, RecordsPath: o.RecordsPath, IDField: o.IDField,
			CreatedField: o.CreatedField, RowPath: o.RowPath, Pagination: o.Pagination, Ops: o.Ops,
			Cursor: saas.Cursor{Field: o.Cursor.Field, Format: o.Cursor.Format, Start: o.Cursor.StartTime(), Lookback: o.Cursor.Lookback, Settle: h.Settle},
		}
		for _, p := range o.Properties {
			path, typ, _ := strings.Cut(p, ":")
			obj.Properties = append(obj.Properties, saas.Property{Path: path, Column: strings.ReplaceAll(path, ".", "_"), Type: typ})
		}
		if d := o.Deletes; d != nil {
			obj.Deletes = &saas.Deletes{
				StatusField: d.StatusField, StatusValues: d.StatusValues,
				Request: d.Request, RecordsPath: d.RecordsPath, IDField: d.IDField, DeletedAtField: d.DeletedAtField, Pagination: d.Pagination,
				Reconcile: d.Reconcile,
			}
		}
		if len(o.IDFields) > 0 {
			obj.IDField = strings.Join(o.IDFields, ",") // a composite key
		}
		c.Objects = append(c.Objects, obj)
	}
	return c
}

// httpAuth is the adapter's auth of an auth block; basic auth is an
// Authorization header.
func httpAuth(a config.HTTPAuth) saas.Auth {
	switch a.Type {
	case "bearer":
		return saas.Auth{Type: "bearer", Token: a.Token.Value()}
	case "api_key":
		return saas.Auth{Type: "api_key", Header: a.Header, Key: a.Key.Value()}
	case "basic":
		return saas.Auth{Type: "api_key", Header: "Authorization", Key: "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password.Value()))}
	case "oauth2":
		return saas.Auth{Type: "oauth2", TokenURL: a.TokenURL, ClientID: a.ClientID, ClientSecret: a.ClientSecret.Value(), Scopes: a.Scopes}
	}
	return saas.Auth{}
}

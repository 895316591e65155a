package rest

import (
	"strings"
	"testing"

	sinksaas "syncline/sink/saas"
)

// A reader needs a read request, and a read request is a GET of one
// record by {id}.
func TestReaderConfig(t *testing.T) {
	base := Config{Name: "api", BaseURL: "http://127.0.0.1:1", IDField: "id", Upsert: Request{Path: "/v1/c/{id}"},
		Fields: map[string]sinksaas.Property{"id": {From: "id"}}}
	for _, tc := range []struct {
		read Request
		want string
	}{
		{Request{}, "no read request: set read"},
		{Request{Method: "POST", Path: "/v1/c/{id}"}, "read: a GET of one record"},
		{Request{Path: "/v1/c/{id}", BatchField: "items"}, "read: a GET of one record"},
		{Request{Path: "/v1/c"}, `read.path "/v1/c" has no {id}`},
		{Request{Path: "/v1/c/{email}"}, "only {id} is known for a read"},
	} {
		c := base
		c.Read = tc.read
		if _, err := NewReader(c, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("read %+v: err %v, want %q", tc.read, err, tc.want)
		}
	}
	c := base
	c.Read = Request{Path: "/v1/c/{id}"}
	if _, err := NewReader(c, nil); err != nil {
		t.Errorf("a GET by {id}: %v", err)
	}
}

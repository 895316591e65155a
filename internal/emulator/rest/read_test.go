package rest

import (
	"net/http"
	"testing"
)

// A written record is read back by id; a dropped one is a 404, a
// throttled read a 429 with Retry-After; SetRecord and DropRecord count no
// writes.
func TestRecordReads(t *testing.T) {
	s := New(Options{BearerToken: "tok"})
	srv := s.Start()
	defer srv.Close()
	u := srv.URL + "/v1/customers/"
	if resp, _ := do(t, "PUT", u+"1", "k1", `{"email":"a@b.c"}`); resp.StatusCode != 201 {
		t.Fatalf("put: %d", resp.StatusCode)
	}
	s.SetRecord("customers", "1", Record{"email": "edited@b.c"})
	if resp, m := do(t, "GET", u+"1", "", ""); resp.StatusCode != 200 || m["id"] != "1" || m["email"] != "edited@b.c" {
		t.Errorf("read: %d %v", resp.StatusCode, m)
	}
	s.DropRecord("customers", "1")
	if resp, _ := do(t, "GET", u+"1", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("read of a dropped record: %d, want 404", resp.StatusCode)
	}
	s.Throttle(1)
	if resp, _ := do(t, "GET", u+"1", "", ""); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("throttled read: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, _ := do(t, "GET", u+"1", "", "", "Authorization", "Bearer nope"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("read with a wrong token: %d, want 401", resp.StatusCode)
	}
	if n, ws := s.Reads(), s.WriteStats(); n != 2 || ws.Creates != 1 || ws.Updates != 0 || ws.Deletes != 0 {
		t.Errorf("%d reads, write stats %+v; want 2 reads and the one create", n, ws)
	}
}

package rest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func do(t *testing.T, method, url, key, body string, hdr ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}

func TestWritesIdempotencyAndFaults(t *testing.T) {
	s := New(Options{BearerToken: "tok", RateLimitMax: 1000})
	srv := s.Start()
	defer srv.Close()
	u := srv.URL + "/v1/customers/"
	if resp, m := do(t, "PUT", u+"1", "k1", `{"id":"1","email":"a@b.c"}`); resp.StatusCode != 201 || m["email"] != "a@b.c" {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	// The same key and request: the stored answer, not applied again.
	if resp, _ := do(t, "PUT", u+"1", "k1", `{"id":"1","email":"a@b.c"}`); resp.StatusCode != 201 || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v", resp.StatusCode, resp.Header)
	}
	// The same key with another body: 422.
	if resp, _ := do(t, "PUT", u+"1", "k1", `{"id":"1","email":"x@b.c"}`); resp.StatusCode != 422 {
		t.Fatalf("reused key: %d", resp.StatusCode)
	}
	if resp, m := do(t, "PATCH", u+"1", "k2", `{"name":"n"}`); resp.StatusCode != 200 || m["email"] != "a@b.c" || m["name"] != "n" {
		t.Fatalf("update merges: %d %v", resp.StatusCode, m)
	}
	if ws := s.WriteStats(); ws.Creates != 1 || ws.Updates != 1 || ws.Replays != 1 || s.Applies()["k1"] != 1 {
		t.Errorf("stats %+v applies %v", ws, s.Applies())
	}
	// Batches and deletes.
	if resp, m := do(t, "POST", u+"batch", "k3", `{"items":[{"id":"2"},{"id":"1","plan":"p"}]}`); resp.StatusCode != 200 || len(m["results"].([]any)) != 2 {
		t.Fatalf("batch: %d %v", resp.StatusCode, m)
	}
	if resp, _ := do(t, "DELETE", u+"2", "k4", ""); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "DELETE", u+"2", "k5", ""); resp.StatusCode != 404 {
		t.Fatalf("delete of a missing record: %d", resp.StatusCode)
	}
	if got := s.Records("customers"); len(got) != 1 || got["1"]["plan"] != "p" {
		t.Errorf("records %v", got)
	}
	// Faults: 429 with Retry-After, a 5xx before applying, and a 503
	// after applying whose retry gets the stored answer.
	s.InjectWrite(Fault429, Fault503, FaultAppliedThen5xx)
	if resp, _ := do(t, "PUT", u+"3", "k6", `{}`); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("429: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := do(t, "PUT", u+"3", "k6", `{}`); resp.StatusCode != 503 || len(s.Records("customers")) != 1 {
		t.Errorf("503 before applying: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "PUT", u+"3", "k6", `{}`); resp.StatusCode != 503 || len(s.Records("customers")) != 2 {
		t.Errorf("503 after applying: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "PUT", u+"3", "k6", `{}`); resp.StatusCode != 201 || resp.Header.Get("Idempotent-Replayed") != "true" || s.Applies()["k6"] != 1 {
		t.Errorf("retry after the lost answer: %d %v applies %v", resp.StatusCode, resp.Header, s.Applies())
	}
	// Refused ids, credentials, the rate limit.
	s.Refuse(422, "9")
	if resp, _ := do(t, "PUT", u+"9", "", `{}`); resp.StatusCode != 422 {
		t.Errorf("refused id: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("PUT", u+"4", strings.NewReader(`{}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("no credentials: %v %v", resp, err)
	}
	lim := New(Options{BearerToken: "tok", RateLimitMax: 1})
	lsrv := lim.Start()
	defer lsrv.Close()
	do(t, "PUT", lsrv.URL+"/v1/c/1", "", `{}`)
	if resp, _ := do(t, "PUT", lsrv.URL+"/v1/c/2", "", `{}`); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the rate limit: %d %v", resp.StatusCode, resp.Header)
	}
}

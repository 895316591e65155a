package stripe

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func post(t *testing.T, method, u, key, idem string, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

func errOf(m map[string]any) map[string]any { e, _ := m["error"].(map[string]any); return e }

// Customers are created, updated (metadata merged) and deleted as Stripe
// does, with idempotency keys replayed or refused, bad params refused,
// and an answer lost after the write was applied.
func TestCustomerWritesLikeStripe(t *testing.T) {
	s := New(Options{APIKey: "sk_test_1"})
	srv := s.Start()
	defer srv.Close()
	base := srv.URL + "/v1/customers"
	form := url.Values{"email": {"a@example.com"}, "name": {"Ann"}, "metadata[plan]": {"pro"}, "metadata[id]": {"7"}}
	code, c, _ := post(t, http.MethodPost, base, "sk_test_1", "k1", form)
	id, _ := c["id"].(string)
	if code != 200 || !strings.HasPrefix(id, "cus_") || c["object"] != "customer" || c["metadata"].(map[string]any)["plan"] != "pro" {
		t.Fatalf("create: %d %v", code, c)
	}
	code, again, h := post(t, http.MethodPost, base, "sk_test_1", "k1", form)
	if code != 200 || again["id"] != id || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("same key, same params: %d %v %v", code, again, h)
	}
	code, m, _ := post(t, http.MethodPost, base, "sk_test_1", "k1", url.Values{"email": {"b@example.com"}})
	if code != 400 || errOf(m)["type"] != "idempotency_error" {
		t.Fatalf("same key, other params: %d %v", code, m)
	}
	code, m, _ = post(t, http.MethodPost, base+"/"+id, "sk_test_1", "k2", url.Values{"name": {""}, "metadata[plan]": {""}, "metadata[tier]": {"1"}})
	md := m["metadata"].(map[string]any)
	if code != 200 || m["name"] != nil || md["plan"] != nil || md["tier"] != "1" || md["id"] != "7" {
		t.Fatalf("update: %d %v", code, m)
	}
	code, m, _ = post(t, http.MethodPost, base, "sk_test_1", "k3", url.Values{"email": {"not-an-email"}})
	if e := errOf(m); code != 400 || e["code"] != "email_invalid" || e["param"] != "email" {
		t.Fatalf("bad email: %d %v", code, m)
	}
	code, m, _ = post(t, http.MethodPost, base, "sk_test_1", "k4", url.Values{"colour": {"red"}})
	if e := errOf(m); code != 400 || e["code"] != "parameter_unknown" {
		t.Fatalf("unknown param: %d %v", code, m)
	}
	s.FailAfterApply(1)
	code, _, _ = post(t, http.MethodPost, base, "sk_test_1", "k5", url.Values{"email": {"c@example.com"}})
	if code != 500 {
		t.Fatalf("lost answer: %d", code)
	}
	code, m, h = post(t, http.MethodPost, base, "sk_test_1", "k5", url.Values{"email": {"c@example.com"}})
	if code != 200 || h.Get("Idempotent-Replayed") != "true" || m["email"] != "c@example.com" {
		t.Fatalf("retry of the lost answer: %d %v", code, m)
	}
	code, m, _ = post(t, http.MethodDelete, base+"/"+id, "sk_test_1", "", nil)
	if code != 200 || m["deleted"] != true {
		t.Fatalf("delete: %d %v", code, m)
	}
	code, m, _ = post(t, http.MethodDelete, base+"/"+id, "sk_test_1", "", nil)
	if e := errOf(m); code != 404 || e["code"] != "resource_missing" {
		t.Fatalf("delete again: %d %v", code, m)
	}
	ws := s.WriteStats()
	if ws.Creates != 2 || ws.Updates != 1 || ws.Deletes != 1 || ws.Replays != 2 || ws.IdempotencyErrors != 1 || ws.Invalid != 2 || ws.LostAnswers != 1 {
		t.Errorf("write stats %+v", ws)
	}
	for k, n := range s.Applies() {
		if n != 1 {
			t.Errorf("key %s applied %d times", k, n)
		}
	}
	if n := len(s.Customers()); n != 1 {
		t.Errorf("%d customers, want 1", n)
	}
	// The writes are events too.
	_, ev, _ := list(t, srv.URL, "sk_test_1", "type=customer.*&limit=100")
	if n := len(ids(ev)); n != 4 {
		t.Errorf("%d customer events, want 4", n)
	}
}

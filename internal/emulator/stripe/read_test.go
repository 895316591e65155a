package stripe

import (
	"net/http"
	"testing"
	"time"
)

// GET /v1/customers/{id} answers the customer, a deleted one as
// {deleted: true}, an unknown id 404 resource_missing, a wrong key 401;
// reads are no writes.
func TestCustomerReadLikeStripe(t *testing.T) {
	s := New(Options{APIKey: "sk_test_1"})
	srv := s.Start()
	defer srv.Close()
	now := time.Now()
	id := s.Create("customer", map[string]any{"email": "a@example.com", "metadata": map[string]any{"plan": "pro"}}, now)
	gone := s.Create("customer", map[string]any{"email": "b@example.com"}, now)
	if err := s.Delete(gone, now); err != nil {
		t.Fatal(err)
	}
	base := srv.URL + "/v1/customers/"
	code, c, _ := post(t, http.MethodGet, base+id, "sk_test_1", "", nil)
	if md, _ := c["metadata"].(map[string]any); code != 200 || c["id"] != id || c["email"] != "a@example.com" || md["plan"] != "pro" || c["deleted"] != nil {
		t.Errorf("read: %d %v", code, c)
	}
	if code, c, _ := post(t, http.MethodGet, base+gone, "sk_test_1", "", nil); code != 200 || c["deleted"] != true || c["id"] != gone {
		t.Errorf("read of a deleted customer: %d %v", code, c)
	}
	if code, c, _ := post(t, http.MethodGet, base+"cus_nope", "sk_test_1", "", nil); code != 404 || errOf(c)["code"] != "resource_missing" {
		t.Errorf("read of an unknown customer: %d %v", code, c)
	}
	if code, _, _ := post(t, http.MethodGet, base+id, "sk_wrong", "", nil); code != 401 {
		t.Errorf("read with a wrong key: %d, want 401", code)
	}
	if rs, ws := s.ReadStats(), s.WriteStats(); rs.Retrieves != 3 || ws.Calls != 0 {
		t.Errorf("read stats %+v, write stats %+v; want 3 retrieves and no write calls", rs, ws)
	}
}

package stripe

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
)

func list(t *testing.T, base, key, query string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/events?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

func ids(m map[string]any) []string {
	var out []string
	for _, e := range m["data"].([]any) {
		out = append(out, e.(map[string]any)["id"].(string))
	}
	return out
}

func TestEventsPageLikeStripe(t *testing.T) {
	s := New(Options{APIKey: "sk_test_1"})
	srv := s.Start()
	defer srv.Close()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var cus []string
	for i := range 10 {
		cus = append(cus, s.Create("customer", map[string]any{"email": "x"}, base.Add(time.Duration(i)*time.Second)))
	}
	if err := s.Update(cus[0], map[string]any{"email": "y"}, base.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(cus[1], base.Add(21*time.Second)); err != nil {
		t.Fatal(err)
	}
	s.Create("product", nil, base.Add(22*time.Second))
	s.Create("customer", nil, base.Add(-31*24*time.Hour)) // past the retention

	code, m, _ := list(t, srv.URL, "sk_test_1", "limit=5&types[0]=customer.created&types[1]=customer.updated&types[2]=customer.deleted")
	first := ids(m)
	if code != 200 || len(first) != 5 || m["has_more"] != true || m["object"] != "list" {
		t.Fatalf("%d %v", code, m)
	}
	ev := m["data"].([]any)[0].(map[string]any)
	if ev["type"] != "customer.deleted" || ev["data"].(map[string]any)["object"].(map[string]any)["deleted"] != true {
		t.Fatalf("newest event %v", ev)
	}
	_, m, _ = list(t, srv.URL, "sk_test_1", "limit=5&type=customer.*&starting_after="+first[4])
	second := ids(m)
	if len(second) != 5 || m["has_more"] != true {
		t.Fatalf("second page %v has_more %v", second, m["has_more"])
	}
	_, m, _ = list(t, srv.URL, "sk_test_1", "limit=5&type=customer.*&starting_after="+second[4])
	if len(ids(m)) != 2 || m["has_more"] != false {
		t.Fatalf("last page %v", m)
	}
	// ending_before returns the events just newer than the cursor.
	_, m, _ = list(t, srv.URL, "sk_test_1", "limit=3&type=customer.*&ending_before="+second[0])
	if got := ids(m); strings.Join(got, ",") != strings.Join(first[2:], ",") || m["has_more"] != true {
		t.Fatalf("ending_before: %v has_more %v, want %v", got, m["has_more"], first[2:])
	}
	_, m, _ = list(t, srv.URL, "sk_test_1", "type=customer.*&created[gte]="+itoa(base.Add(20*time.Second).Unix()))
	if len(ids(m)) != 2 {
		t.Fatalf("created[gte]: %v", ids(m))
	}
	code, m, _ = list(t, srv.URL, "sk_test_1", "limit=500")
	if code != 400 || m["error"].(map[string]any)["param"] != "limit" {
		t.Fatalf("limit 500: %d %v", code, m)
	}
	code, m, _ = list(t, srv.URL, "sk_live_wrong", "")
	if code != 401 || strings.Contains(m["error"].(map[string]any)["message"].(string), "live_w") {
		t.Fatalf("wrong key: %d %v", code, m)
	}
	s.Inject(faults.Limit)
	code, m, h := list(t, srv.URL, "sk_test_1", "")
	if code != 429 || m["error"].(map[string]any)["code"] != "rate_limit" || h.Get("Stripe-Should-Retry") != "true" {
		t.Fatalf("429: %d %v", code, m)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

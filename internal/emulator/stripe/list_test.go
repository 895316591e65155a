package stripe

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"
)

func getList(t *testing.T, u, key string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestObjectListsPageLikeStripe(t *testing.T) {
	s := New(Options{APIKey: "sk_test_1"})
	srv := s.Start()
	defer srv.Close()
	base := time.Now().Add(-40 * 24 * time.Hour).Truncate(time.Second)
	var cus []string
	for i := range 250 {
		cus = append(cus, s.Create("customer", map[string]any{"email": "x@example.com"}, base.Add(time.Duration(i/50)*time.Second)))
	}
	s.Create("product", nil, base)
	if err := s.Delete(cus[10], base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	code, m := getList(t, srv.URL+"/v1/customers?limit=100", "sk_test_1")
	if code != 200 || m["object"] != "list" || m["url"] != "/v1/customers" || m["has_more"] != true || len(ids(m)) != 100 {
		t.Fatalf("%d %v", code, m)
	}
	// Newest first, ties newest first: the last created is first.
	if first := ids(m)[0]; first != cus[249] {
		t.Errorf("first %s, want the newest %s", first, cus[249])
	}
	var all []string
	after := ""
	for pages := 0; ; pages++ {
		u := srv.URL + "/v1/customers?limit=100"
		if after != "" {
			u += "&starting_after=" + after
		}
		code, m := getList(t, u, "sk_test_1")
		if code != 200 || pages > 5 {
			t.Fatalf("%d %v", code, m)
		}
		page := ids(m)
		all = append(all, page...)
		if m["has_more"] != true {
			break
		}
		after = page[len(page)-1]
	}
	want := slices.Clone(cus)
	want = slices.Delete(want, 10, 11)
	slices.Reverse(want)
	if !slices.Equal(all, want) {
		t.Errorf("paged %d customers, want the %d live ones newest first", len(all), len(want))
	}
	for _, o := range m["data"].([]any) {
		if c := o.(map[string]any); c["object"] != "customer" || c["email"] != "x@example.com" {
			t.Fatalf("customer %v", c)
		}
	}
	// ending_before: the objects just newer, newest first.
	if _, m := getList(t, srv.URL+"/v1/customers?limit=3&ending_before="+cus[100], "sk_test_1"); !slices.Equal(ids(m), []string{cus[103], cus[102], cus[101]}) || m["has_more"] != true {
		t.Errorf("ending_before: %v, want %v", ids(m), cus[101:104])
	}
	// A deleted cursor keeps its place.
	if _, m := getList(t, srv.URL+"/v1/customers?limit=2&starting_after="+cus[10], "sk_test_1"); !slices.Equal(ids(m), []string{cus[9], cus[8]}) {
		t.Errorf("after the deleted %s: %v, want %v", cus[10], ids(m), []string{cus[9], cus[8]})
	}
	for q, code := range map[string]int{"limit=101": 400, "limit=0": 400, "starting_after=cus_nope": 400, "starting_after=" + cus[1] + "&ending_before=" + cus[2]: 400} {
		if got, m := getList(t, srv.URL+"/v1/customers?"+q, "sk_test_1"); got != code || m["error"] == nil {
			t.Errorf("%s: %d %v, want %d with an error", q, got, m, code)
		}
	}
	if _, m := getList(t, srv.URL+"/v1/products", "sk_test_1"); len(ids(m)) != 1 || m["url"] != "/v1/products" {
		t.Errorf("products %v", m)
	}
	if st := s.Stats(); st.ObjectLists < 8 || st.Listed < 250 {
		t.Errorf("stats %+v", st)
	}
}

func TestObjectListsAreRateLimitedLikeStripe(t *testing.T) {
	s := New(Options{APIKey: "sk_test_1", RatePerSecond: 1})
	srv := s.Start()
	defer srv.Close()
	s.Create("customer", nil, time.Now())
	codes := map[int]int{}
	var limited map[string]any
	for range 3 {
		code, m := getList(t, srv.URL+"/v1/customers", "sk_test_1")
		codes[code]++
		if code == 429 {
			limited = m
		}
	}
	if codes[429] == 0 || limited["error"].(map[string]any)["code"] != "rate_limit" {
		t.Errorf("codes %v, body %v: want 429 rate_limit past one request a second", codes, limited)
	}
}

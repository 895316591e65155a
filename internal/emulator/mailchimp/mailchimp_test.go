package mailchimp

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
)

func members(t *testing.T, u, key string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.SetBasicAuth("anystring", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

func TestMembersAnswerLikeMailchimp(t *testing.T) {
	s := New(Options{APIKey: "k-us6"})
	srv := s.Start()
	defer srv.Close()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 30 {
		s.Add("l1", string(rune('a'+i%26))+"x"+string(rune('a'+i/26))+"@example.com", "subscribed", nil, base.Add(time.Duration(i/10)*time.Second))
	}
	id := s.Members("l1")[0].ID
	if err := s.Update("l1", id, "archived", nil, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	resp, m := members(t, srv.URL+"/3.0/lists/l1/members?count=20&offset=0", "k-us6")
	if resp.StatusCode != 200 || len(m["members"].([]any)) != 20 || m["total_items"].(float64) != 30 {
		t.Fatalf("%d %v", resp.StatusCode, m["total_items"])
	}
	first := m["members"].([]any)[0].(map[string]any)
	if first["status"] != "archived" || first["last_changed"] != "2024-01-01T01:00:00+00:00" {
		t.Fatalf("first member %v", first)
	}
	// since_last_changed is exclusive.
	_, m = members(t, srv.URL+"/3.0/lists/l1/members?since_last_changed="+url.QueryEscape("2024-01-01T00:00:01+00:00"), "k-us6")
	if n := m["total_items"].(float64); n != 11 {
		t.Fatalf("since_last_changed: %v members, want 11 (10 at 00:00:02 and the archived one)", n)
	}
	if resp, _ := members(t, srv.URL+"/3.0/lists/l1/members?count=1001", "k-us6"); resp.StatusCode != 400 {
		t.Fatalf("count 1001: %d", resp.StatusCode)
	}
	if resp, m := members(t, srv.URL+"/3.0/lists/l1/members", "wrong"); resp.StatusCode != 401 || m["title"] != "API Key Invalid" {
		t.Fatalf("wrong key: %d %v", resp.StatusCode, m)
	}
	s.Inject(faults.Limit)
	if resp, m := members(t, srv.URL+"/3.0/lists/l1/members", "k-us6"); resp.StatusCode != 429 || m["status"].(float64) != 429 {
		t.Fatalf("429: %d %v", resp.StatusCode, m)
	}
}

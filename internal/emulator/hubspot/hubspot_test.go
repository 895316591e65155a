package hubspot

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func call(t *testing.T, method, url, token, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b.Bytes(), &m)
	return resp, m
}

func TestSearchAnswersLikeHubSpot(t *testing.T) {
	s := New(Options{Token: "tok", SearchCap: 300, RateLimitMax: 1000})
	srv := s.Start()
	defer srv.Close()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 500 {
		s.Create("contacts", map[string]string{"email": "x"}, base.Add(time.Duration(i/100)*time.Second))
	}
	url := srv.URL + "/crm/v3/objects/contacts/search"
	filter := `{"filterGroups":[{"filters":[{"propertyName":"lastmodifieddate","operator":"GTE","value":"1704067201000"}]}],"sorts":[{"propertyName":"lastmodifieddate","direction":"ASCENDING"}],"properties":["email"],"limit":200`

	t.Run("a filtered, sorted page with a paging token", func(t *testing.T) {
		resp, m := call(t, "POST", url, "tok", filter+`}`)
		if resp.StatusCode != 200 || m["total"].(float64) != 400 {
			t.Fatalf("status %d body %v", resp.StatusCode, m["total"])
		}
		res := m["results"].([]any)
		first := res[0].(map[string]any)
		if len(res) != 200 || first["properties"].(map[string]any)["lastmodifieddate"] != "2024-01-01T00:00:01.000Z" || first["updatedAt"] != "2024-01-01T00:00:01.000Z" {
			t.Fatalf("results %d, first %v", len(res), first)
		}
		if m["paging"].(map[string]any)["next"].(map[string]any)["after"] != "200" {
			t.Fatalf("paging %v", m["paging"])
		}
		if resp.Header.Get("X-HubSpot-RateLimit-Remaining") == "" {
			t.Fatal("no rate-limit headers")
		}
	})
	t.Run("paging past the cap is a 400", func(t *testing.T) {
		resp, m := call(t, "POST", url, "tok", filter+`,"after":"300"}`)
		if resp.StatusCode != 400 || m["category"] != "VALIDATION_ERROR" {
			t.Fatalf("status %d body %v", resp.StatusCode, m)
		}
	})
	t.Run("a limit over 200 is a 400", func(t *testing.T) {
		resp, _ := call(t, "POST", url, "tok", `{"limit":201}`)
		if resp.StatusCode != 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("no token is a 401", func(t *testing.T) {
		resp, m := call(t, "POST", url, "", filter+`}`)
		if resp.StatusCode != 401 || m["category"] != "INVALID_AUTHENTICATION" {
			t.Fatalf("status %d body %v", resp.StatusCode, m)
		}
	})
	t.Run("archived objects are listed, not searched", func(t *testing.T) {
		id := s.Objects("contacts")[0].ID
		if err := s.Archive("contacts", id, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		_, m := call(t, "GET", srv.URL+"/crm/v3/objects/contacts?archived=true&limit=100", "tok", "")
		res := m["results"].([]any)
		if len(res) != 1 || res[0].(map[string]any)["archivedAt"] != "2024-01-01T01:00:00.000Z" {
			t.Fatalf("archived %v", res)
		}
		_, m = call(t, "POST", url, "tok", `{"limit":10}`)
		if m["total"].(float64) != 499 {
			t.Fatalf("search total %v, want 499", m["total"])
		}
	})
	t.Run("over the rate limit is a 429 with Retry-After", func(t *testing.T) {
		s := New(Options{Token: "tok", RateLimitMax: 2, RateLimitInterval: time.Minute})
		srv := s.Start()
		defer srv.Close()
		var resp *http.Response
		var m map[string]any
		for range 3 {
			resp, m = call(t, "POST", srv.URL+"/crm/v3/objects/contacts/search", "tok", `{}`)
		}
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-HubSpot-RateLimit-Remaining") != "0" || m["errorType"] != "RATE_LIMIT" {
			t.Fatalf("status %d headers %v body %v", resp.StatusCode, resp.Header, m)
		}
	})
}

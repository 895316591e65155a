package salesforce

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
)

func get(t *testing.T, u, token string) (*http.Response, any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp, v
}

func TestQueryAnswersLikeSalesforce(t *testing.T) {
	s := New(Options{Token: "tok", BatchSize: 200, RequestLimit: 100})
	srv := s.Start()
	defer srv.Close()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 500 {
		s.Create("Account", map[string]any{"Name": "A"}, base.Add(time.Duration(i/100)*time.Second))
	}
	ids := s.Records("Account")
	if err := s.Delete("Account", ids[0].ID, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	q := "SELECT Id, Name, SystemModstamp, IsDeleted FROM Account WHERE SystemModstamp >= 2024-01-01T00:00:01.000Z ORDER BY SystemModstamp, Id"
	resp, v := get(t, srv.URL+"/services/data/v61.0/query?q="+url.QueryEscape(q), "tok")
	m := v.(map[string]any)
	if resp.StatusCode != 200 || m["totalSize"].(float64) != 400 || m["done"] != false || !strings.HasPrefix(resp.Header.Get("Sforce-Limit-Info"), "api-usage=1/100") {
		t.Fatalf("status %d, body %v, limit info %q", resp.StatusCode, m["totalSize"], resp.Header.Get("Sforce-Limit-Info"))
	}
	first := m["records"].([]any)[0].(map[string]any)
	if first["SystemModstamp"] != "2024-01-01T00:00:01.000+0000" || first["attributes"].(map[string]any)["type"] != "Account" {
		t.Fatalf("first record %v", first)
	}
	next := m["nextRecordsUrl"].(string)
	if !strings.HasPrefix(next, "/services/data/v61.0/query/01g") || !strings.HasSuffix(next, "-200") {
		t.Fatalf("nextRecordsUrl %q", next)
	}
	_, v = get(t, srv.URL+next, "tok")
	if n := len(v.(map[string]any)["records"].([]any)); n != 200 {
		t.Fatalf("second batch %d records", n)
	}
	t.Run("queryAll returns deleted records, query does not", func(t *testing.T) {
		q := "SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true"
		_, v := get(t, srv.URL+"/services/data/v61.0/queryAll?q="+url.QueryEscape(q), "tok")
		if n := v.(map[string]any)["totalSize"].(float64); n != 1 {
			t.Fatalf("queryAll: %v deleted", n)
		}
		_, v = get(t, srv.URL+"/services/data/v61.0/query?q="+url.QueryEscape(q), "tok")
		if n := v.(map[string]any)["totalSize"].(float64); n != 0 {
			t.Fatalf("query: %v deleted", n)
		}
	})
	t.Run("an expired locator is INVALID_QUERY_LOCATOR", func(t *testing.T) {
		_, v := get(t, srv.URL+"/services/data/v61.0/query?q="+url.QueryEscape(q), "tok")
		next := v.(map[string]any)["nextRecordsUrl"].(string)
		s.ExpireLocators()
		resp, v := get(t, srv.URL+next, "tok")
		if resp.StatusCode != 400 || !strings.Contains(toJSON(v), "INVALID_QUERY_LOCATOR") {
			t.Fatalf("status %d body %v", resp.StatusCode, v)
		}
	})
	t.Run("errors are Salesforce's", func(t *testing.T) {
		resp, v := get(t, srv.URL+"/services/data/v61.0/query?q="+url.QueryEscape("SELECT Nope FROM Account"), "tok")
		if resp.StatusCode != 400 || !strings.Contains(toJSON(v), "INVALID_FIELD") {
			t.Fatalf("unknown field: %d %v", resp.StatusCode, v)
		}
		resp, v = get(t, srv.URL+"/services/data/v61.0/query?q=x", "wrong")
		if resp.StatusCode != 401 || !strings.Contains(toJSON(v), "INVALID_SESSION_ID") {
			t.Fatalf("wrong token: %d %v", resp.StatusCode, v)
		}
		s.Inject(faults.Limit)
		resp, v = get(t, srv.URL+"/services/data/v61.0/query?q="+url.QueryEscape(q), "tok")
		if resp.StatusCode != 403 || !strings.Contains(toJSON(v), "REQUEST_LIMIT_EXCEEDED") {
			t.Fatalf("limit: %d %v", resp.StatusCode, v)
		}
	})
	t.Run("getDeleted", func(t *testing.T) {
		_, v := get(t, srv.URL+"/services/data/v61.0/sobjects/Account/deleted/?start="+url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339))+"&end="+url.QueryEscape(time.Now().Format(time.RFC3339)), "tok")
		if _, ok := v.(map[string]any)["deletedRecords"]; !ok {
			t.Fatalf("getDeleted: %v", v)
		}
		resp, _ := get(t, srv.URL+"/services/data/v61.0/sobjects/Account/deleted/?start=2000-01-01T00:00:00Z&end=2000-01-02T00:00:00Z", "tok")
		if resp.StatusCode != 400 {
			t.Fatalf("start past retention: %d", resp.StatusCode)
		}
	})
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

package zendesk

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
)

func export(t *testing.T, u string, auth bool) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if auth {
		req.SetBasicAuth("ops@example.com/token", "tok")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

func TestCursorExportAnswersLikeZendesk(t *testing.T) {
	s := New(Options{Email: "ops@example.com", APIToken: "tok"})
	srv := s.Start()
	defer srv.Close()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 250 {
		s.Create("tickets", map[string]any{"subject": "x"}, base.Add(time.Duration(i/100)*time.Second))
	}
	if err := s.Delete("tickets", 1, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	u := srv.URL + "/api/v2/incremental/tickets/cursor.json?per_page=100&start_time=" + strconv.FormatInt(base.Unix(), 10)
	resp, m := export(t, u, true)
	if resp.StatusCode != 200 || len(m["tickets"].([]any)) != 100 || m["end_of_stream"] != false || m["after_cursor"] == "" {
		t.Fatalf("%d %v", resp.StatusCode, m["end_of_stream"])
	}
	seen := 100
	for m["end_of_stream"] == false {
		_, m = export(t, srv.URL+"/api/v2/incremental/tickets/cursor.json?per_page=100&cursor="+m["after_cursor"].(string), true)
		seen += len(m["tickets"].([]any))
	}
	tickets := m["tickets"].([]any)
	if last := tickets[len(tickets)-1].(map[string]any); seen != 250 || last["status"] != "deleted" || last["id"].(float64) != 1 {
		t.Fatalf("read %d, last %v", seen, last)
	}
	// The cursor at the end of the stream continues it later.
	s.Create("tickets", nil, time.Now())
	_, m2 := export(t, srv.URL+"/api/v2/incremental/tickets/cursor.json?cursor="+m["after_cursor"].(string), true)
	if n := len(m2["tickets"].([]any)); n != 1 || m2["end_of_stream"] != true {
		t.Fatalf("continued stream: %d tickets", n)
	}
	if resp, _ := export(t, u, false); resp.StatusCode != 401 {
		t.Fatalf("no auth: %d", resp.StatusCode)
	}
	s.Inject(faults.Limit)
	if resp, m := export(t, u, true); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || m["error"] != "APIRateLimitExceeded" {
		t.Fatalf("429: %d %v", resp.StatusCode, m)
	}
}

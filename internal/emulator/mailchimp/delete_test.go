package mailchimp

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"syncline/internal/emulator/faults"
)

func TestPermanentDeleteAndKeysOnlyListing(t *testing.T) {
	s := New(Options{APIKey: "k-us6"})
	srv := s.Start()
	defer srv.Close()
	for i := range 5 {
		s.Add("l1", fmt.Sprintf("m%d@example.com", i), "subscribed", map[string]any{"FNAME": "F"}, time.Now())
	}
	all := s.Members("l1")
	_, m := members(t, srv.URL+"/3.0/lists/l1/members?fields=members.id,total_items&count=2&offset=2", "k-us6")
	got := m["members"].([]any)
	if len(m) != 2 || m["total_items"].(float64) != 5 || len(got) != 2 || len(got[0].(map[string]any)) != 1 || got[0].(map[string]any)["id"] != all[2].ID {
		t.Fatalf("keys-only page %v", m)
	}
	if _, m := members(t, srv.URL+"/3.0/lists/l1/members?exclude_fields=members.merge_fields,_links", "k-us6"); m["_links"] != nil || m["members"].([]any)[0].(map[string]any)["merge_fields"] != nil || m["members"].([]any)[0].(map[string]any)["email_address"] == nil {
		t.Fatalf("exclude_fields %v", m)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/3.0/lists/l1/members/"+all[1].ID+"/actions/delete-permanent", nil)
	req.SetBasicAuth("x", "k-us6")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete-permanent: %d", resp.StatusCode)
	}
	// Gone from the list; the later members move one offset down.
	_, m = members(t, srv.URL+"/3.0/lists/l1/members?fields=members.id&count=2&offset=2", "k-us6")
	if got := m["members"].([]any); len(got) != 2 || got[0].(map[string]any)["id"] != all[3].ID {
		t.Errorf("after the delete, offset 2: %v, want %s first", m, all[3].ID)
	}
	if resp, _ := members(t, srv.URL+"/3.0/lists/l1/members/"+all[1].ID, "k-us6"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of the deleted member: %d, want 404", resp.StatusCode)
	}
	if err := s.DeletePermanent("l1", all[1].ID); err == nil {
		t.Error("a second permanent delete succeeded")
	}
	// OnRequest picks faults by request.
	s.OnRequest(func(r *http.Request) faults.Kind {
		if r.URL.Query().Get("offset") == "4" {
			return faults.Server5xx
		}
		return ""
	})
	if resp, _ := members(t, srv.URL+"/3.0/lists/l1/members?offset=4", "k-us6"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("hooked fault: %d, want 503", resp.StatusCode)
	}
	if resp, _ := members(t, srv.URL+"/3.0/lists/l1/members?offset=0", "k-us6"); resp.StatusCode != 200 {
		t.Errorf("unhooked: %d", resp.StatusCode)
	}
}

package mailchimp

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func send(t *testing.T, method, u, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.SetBasicAuth("any", "key-us1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// Members are upserted by subscriber hash, batch-subscribed with
// per-member errors, and archived, in Mailchimp's shapes.
func TestMemberWritesLikeMailchimp(t *testing.T) {
	s := New(Options{APIKey: "key-us1"})
	srv := s.Start()
	defer srv.Close()
	s.AddList("L1")
	s.Require("L1", "FNAME")
	s.Forget("gone@example.com")
	base := srv.URL + "/3.0/lists/L1"
	h := SubscriberHash("Ann@Example.com")
	code, m := send(t, http.MethodPut, base+"/members/"+h, `{"email_address": "Ann@Example.com", "status_if_new": "subscribed", "merge_fields": {"FNAME": "Ann"}}`)
	if code != 200 || m["id"] != h || m["status"] != "subscribed" {
		t.Fatalf("put: %d %v", code, m)
	}
	code, m = send(t, http.MethodPut, base+"/members/"+h, `{"email_address": "ann@example.com", "status_if_new": "subscribed", "merge_fields": {"LNAME": "B"}}`)
	if mf := m["merge_fields"].(map[string]any); code != 200 || mf["FNAME"] != "Ann" || mf["LNAME"] != "B" {
		t.Fatalf("update: %d %v", code, m)
	}
	code, m = send(t, http.MethodPut, base+"/members/"+SubscriberHash("x@example.com"), `{"email_address": "bob@example.com", "status_if_new": "subscribed", "merge_fields": {"FNAME": "B"}}`)
	if code != 400 || m["title"] != "Invalid Resource" {
		t.Fatalf("hash mismatch: %d %v", code, m)
	}
	code, m = send(t, http.MethodPost, base, `{"update_existing": true, "members": [
		{"email_address": "ann@example.com", "status_if_new": "subscribed", "merge_fields": {"LNAME": "C"}},
		{"email_address": "cy@example.com", "status_if_new": "subscribed", "merge_fields": {"FNAME": "Cy"}},
		{"email_address": "dee@example.com", "status_if_new": "subscribed"},
		{"email_address": "gone@example.com", "status_if_new": "subscribed", "merge_fields": {"FNAME": "G"}}]}`)
	if code != 200 || m["total_created"] != 1.0 || m["total_updated"] != 1.0 || m["error_count"] != 2.0 {
		t.Fatalf("batch: %d %v", code, m)
	}
	if e := m["errors"].([]any)[1].(map[string]any); e["email_address"] != "gone@example.com" || !strings.Contains(e["error"].(string), "Forgotten Email Not Subscribed") {
		t.Fatalf("batch error %v", e)
	}
	if code, _ = send(t, http.MethodDelete, base+"/members/"+h, ""); code != 204 {
		t.Fatalf("archive: %d", code)
	}
	if code, _ = send(t, http.MethodDelete, base+"/members/"+h, ""); code != 404 {
		t.Fatalf("archive again: %d", code)
	}
	ws := s.WriteStats()
	if ws.Creates != 2 || ws.Updates != 2 || ws.Archives != 1 || ws.Refused != 3 || ws.Batches != 1 {
		t.Errorf("write stats %+v", ws)
	}
	// The writes show in the members list, archived included.
	if ms := s.Members("L1"); len(ms) != 2 || ms[0].Status != "archived" {
		t.Errorf("members %+v", ms)
	}
}

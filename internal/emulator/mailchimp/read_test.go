package mailchimp

import (
	"net/http"
	"testing"
	"time"
)

// One member is read by subscriber hash (archived ones with status
// archived), fields keeps the fields asked for, an unknown member or list
// is a 404; the list itself can be read.
func TestMemberReadLikeMailchimp(t *testing.T) {
	s := New(Options{APIKey: "key-us1"})
	srv := s.Start()
	defer srv.Close()
	now := time.Now()
	h := s.Add("L1", "Ann@Example.com", "subscribed", map[string]any{"FNAME": "Ann"}, now)
	base := srv.URL + "/3.0/lists/L1"
	code, m := send(t, http.MethodGet, base+"/members/"+h+"?fields=id,email_address,status,merge_fields", "")
	if mf, _ := m["merge_fields"].(map[string]any); code != 200 || m["id"] != h || m["status"] != "subscribed" || mf["FNAME"] != "Ann" || m["list_id"] != nil {
		t.Errorf("read: %d %v", code, m)
	}
	if err := s.Update("L1", h, "archived", nil, now); err != nil {
		t.Fatal(err)
	}
	if code, m := send(t, http.MethodGet, base+"/members/"+h, ""); code != 200 || m["status"] != "archived" {
		t.Errorf("read of an archived member: %d %v", code, m)
	}
	if code, _ := send(t, http.MethodGet, base+"/members/"+SubscriberHash("nobody@example.com"), ""); code != 404 {
		t.Errorf("read of an unknown member: %d, want 404", code)
	}
	if code, _ := send(t, http.MethodGet, srv.URL+"/3.0/lists/L2/members/"+h, ""); code != 404 {
		t.Errorf("read in an unknown list: %d, want 404", code)
	}
	if code, m := send(t, http.MethodGet, base+"?fields=id", ""); code != 200 || m["id"] != "L1" || len(m) != 1 {
		t.Errorf("read of the list: %d %v", code, m)
	}
	if code, _ := send(t, http.MethodGet, srv.URL+"/3.0/lists/L2", ""); code != 404 {
		t.Errorf("read of an unknown list: %d, want 404", code)
	}
	if rs := s.ReadStats(); rs.Members != 4 || rs.Lists != 2 {
		t.Errorf("read stats %+v, want 4 member and 2 list reads", rs)
	}
}

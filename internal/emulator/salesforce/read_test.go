package salesforce

import (
	"net/http"
	"testing"
	"time"
)

// sObject collections retrieve answers one entry per id in order: the
// record with the fields asked for, null for an id unknown or in the
// recycle bin; an unknown field is a 400; an undeleted record is back.
func TestRetrieveLikeSalesforce(t *testing.T) {
	s := New(Options{Token: "tok"})
	srv := s.Start()
	defer srv.Close()
	now := time.Now()
	a := s.Create("Contact", map[string]any{"Email": "a@x.com", "FirstName": "Ann"}, now)
	b := s.Create("Contact", map[string]any{"Email": "b@x.com"}, now)
	if err := s.Delete("Contact", b, now); err != nil {
		t.Fatal(err)
	}
	base := srv.URL + "/services/data/v60.0/composite/sobjects/Contact"
	st, res := call(t, http.MethodGet, base+"?ids="+a+","+b+",003000000000999AAA&fields=Id,Email,FirstName", "")
	if st != 200 || len(res) != 3 || res[0]["Id"] != a || res[0]["FirstName"] != "Ann" || res[1] != nil || res[2] != nil {
		t.Fatalf("retrieve: %d %v", st, res)
	}
	if attrs, _ := res[0]["attributes"].(map[string]any); attrs["type"] != "Contact" {
		t.Errorf("attributes %v", res[0]["attributes"])
	}
	if st, res := call(t, http.MethodGet, base+"?ids="+a+"&fields=Id,Nope__c", ""); st != 400 || len(res) != 1 || res[0]["errorCode"] != "INVALID_FIELD" {
		t.Errorf("unknown field: %d %v", st, res)
	}
	if st, _ := call(t, http.MethodGet, base+"?fields=Id", ""); st != 400 {
		t.Errorf("no ids: %d, want 400", st)
	}
	if err := s.Undelete("Contact", b, now); err != nil {
		t.Fatal(err)
	}
	if st, res := call(t, http.MethodGet, base+"?ids="+b+"&fields=Id,FirstName", ""); st != 200 || len(res) != 1 || res[0]["Id"] != b || res[0]["FirstName"] != nil {
		t.Errorf("after undelete: %d %v", st, res)
	}
	if rs := s.ReadStats(); rs.Retrieves != 2 || rs.Records != 2 {
		t.Errorf("read stats %+v, want 2 retrieves returning 2 records", rs)
	}
}

package salesforce

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func call(t *testing.T, method, u, body string) (int, []map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func code(res map[string]any) string {
	errs, _ := res["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	return errs[0].(map[string]any)["statusCode"].(string)
}

// Collections upsert by external id (created, then updated), answer per
// record with Salesforce's error codes, and delete by ids.
func TestCollectionsLikeSalesforce(t *testing.T) {
	s := New(Options{Token: "tok"})
	srv := s.Start()
	defer srv.Close()
	s.Require("Contact", "LastName")
	s.Unique("Contact", "Email")
	up := srv.URL + "/services/data/v60.0/composite/sobjects/Contact/Ext__c"
	st, res := call(t, http.MethodPatch, up, `{"allOrNone": false, "records": [
		{"attributes": {"type": "Contact"}, "Ext__c": "1", "LastName": "A", "Email": "a@x.com"},
		{"attributes": {"type": "Contact"}, "Ext__c": "2", "Email": "b@x.com"},
		{"attributes": {"type": "Contact"}, "Ext__c": "3", "LastName": "C", "Email": "a@x.com"}]}`)
	if st != 200 || len(res) != 3 || res[0]["success"] != true || res[0]["created"] != true ||
		code(res[1]) != "REQUIRED_FIELD_MISSING" || code(res[2]) != "DUPLICATE_VALUE" {
		t.Fatalf("upsert: %d %v", st, res)
	}
	id := res[0]["id"].(string)
	s.LockRows(1)
	st, res = call(t, http.MethodPatch, up, `{"allOrNone": false, "records": [
		{"attributes": {"type": "Contact"}, "Ext__c": "1", "LastName": "Z"},
		{"attributes": {"type": "Contact"}, "Ext__c": "1", "LastName": "B", "Email": null}]}`)
	if st != 200 || code(res[0]) != "UNABLE_TO_LOCK_ROW" || res[1]["created"] != false || res[1]["id"] != id {
		t.Fatalf("update: %d %v", st, res)
	}
	if live := s.Live("Contact"); len(live) != 1 || live[0].Fields["LastName"] != "B" || live[0].Fields["Email"] != nil {
		t.Fatalf("live %+v", live)
	}
	st, res = call(t, http.MethodDelete, srv.URL+"/services/data/v60.0/composite/sobjects?allOrNone=false&ids="+id+",003000000000999AAA", "")
	if st != 200 || res[0]["success"] != true || code(res[1]) != "INVALID_CROSS_REFERENCE_KEY" {
		t.Fatalf("delete: %d %v", st, res)
	}
	_, res = call(t, http.MethodDelete, srv.URL+"/services/data/v60.0/composite/sobjects?allOrNone=false&ids="+id, "")
	if code(res[0]) != "ENTITY_IS_DELETED" {
		t.Fatalf("delete again: %v", res)
	}
	var many []string
	for range 201 {
		many = append(many, `{"attributes": {"type": "Contact"}, "Ext__c": "x"}`)
	}
	if st, _ := call(t, http.MethodPatch, up, `{"allOrNone": false, "records": [`+strings.Join(many, ",")+`]}`); st != 400 {
		t.Fatalf("201 records: %d", st)
	}
	ws := s.WriteStats()
	if ws.Creates != 1 || ws.Updates != 1 || ws.Deletes != 1 || ws.RecordErrors["DUPLICATE_VALUE"] != 1 {
		t.Errorf("write stats %+v", ws)
	}
}

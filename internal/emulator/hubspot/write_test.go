package hubspot

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBatchUpsertAndArchive(t *testing.T) {
	s := New(Options{Token: "tok", RateLimitMax: 1000})
	srv := s.Start()
	defer srv.Close()
	s.DefineProperty("contacts", "lifecyclestage", PropertyDef{Type: "enumeration", Options: []string{"lead", "customer"}})
	url := srv.URL + "/crm/v3/objects/contacts/batch/upsert"
	body := `{"inputs":[{"idProperty":"email","id":"A@B.com","properties":{"firstname":"a"}},{"idProperty":"email","id":"c@d.com","properties":{"firstname":"c","lifecyclestage":"lead"}}]}`
	resp, m := call(t, "POST", url, "tok", body)
	if resp.StatusCode != 200 || m["status"] != "COMPLETE" {
		t.Fatalf("upsert: %d %v", resp.StatusCode, m)
	}
	res := m["results"].([]any)
	if len(res) != 2 || res[0].(map[string]any)["new"] != true {
		t.Fatalf("results %v, want 2 new", res)
	}
	if got := res[0].(map[string]any)["properties"].(map[string]any)["email"]; got != "a@b.com" {
		t.Errorf("email stored as %v, want it lowercased", got)
	}
	// The same email in another case updates the object.
	resp, m = call(t, "POST", url, "tok", `{"inputs":[{"idProperty":"email","id":"a@b.COM","properties":{"firstname":"a2"}}]}`)
	if resp.StatusCode != 200 || m["results"].([]any)[0].(map[string]any)["new"] != false {
		t.Fatalf("second upsert: %d %v", resp.StatusCode, m)
	}
	if ws := s.WriteStats(); ws.Creates != 2 || ws.Updates != 1 || ws.UpsertCalls != 2 {
		t.Errorf("write stats %+v, want 2 creates, 1 update, 2 calls", ws)
	}
	// The written objects are visible to search and list.
	_, m = call(t, "POST", srv.URL+"/crm/v3/objects/contacts/search", "tok", `{"filterGroups":[{"filters":[{"propertyName":"firstname","operator":"EQ","value":"a2"}]}],"properties":["email"]}`)
	if m["total"] != float64(1) {
		t.Errorf("search total %v, want 1", m["total"])
	}

	// An invalid value fails the whole batch with 400, nothing written.
	resp, m = call(t, "POST", url, "tok", `{"inputs":[{"idProperty":"email","id":"e@f.com","properties":{}},{"idProperty":"email","id":"g@h.com","properties":{"lifecyclestage":"bogus"}}]}`)
	if resp.StatusCode != 400 || m["category"] != "VALIDATION_ERROR" || !strings.Contains(fmt.Sprint(m["message"]), "bogus") {
		t.Fatalf("invalid batch: %d %v", resp.StatusCode, m)
	}
	if n := len(s.Objects("contacts")); n != 2 {
		t.Errorf("%d objects after a refused batch, want 2", n)
	}
	// With partial failures, the valid input is written: 207.
	s.SetPartialFailures(true)
	resp, m = call(t, "POST", url, "tok", `{"inputs":[{"idProperty":"email","id":"e@f.com","properties":{}},{"idProperty":"email","id":"not-an-email","properties":{}}]}`)
	if resp.StatusCode != http.StatusMultiStatus || m["numErrors"] != float64(1) || len(m["results"].([]any)) != 1 {
		t.Fatalf("partial batch: %d %v", resp.StatusCode, m)
	}
	// More than 100 inputs: 400.
	var ins []string
	for i := range 101 {
		ins = append(ins, fmt.Sprintf(`{"idProperty":"email","id":"x%d@y.com","properties":{}}`, i))
	}
	if resp, _ = call(t, "POST", url, "tok", `{"inputs":[`+strings.Join(ins, ",")+`]}`); resp.StatusCode != 400 {
		t.Errorf("101 inputs: %d, want 400", resp.StatusCode)
	}

	// Archive: 204, unknown ids ignored, the object leaves search and
	// shows in the archived list; an upsert of its email creates anew.
	id := res[0].(map[string]any)["id"].(string)
	resp, _ = call(t, "POST", srv.URL+"/crm/v3/objects/contacts/batch/archive", "tok", `{"inputs":[{"id":"`+id+`"},{"id":"999999"}]}`)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("archive: %d", resp.StatusCode)
	}
	_, m = call(t, "GET", srv.URL+"/crm/v3/objects/contacts?archived=true", "tok", "")
	if len(m["results"].([]any)) != 1 {
		t.Errorf("archived list %v, want the archived contact", m["results"])
	}
	_, m = call(t, "POST", url, "tok", `{"inputs":[{"idProperty":"email","id":"a@b.com","properties":{}}]}`)
	if m["results"].([]any)[0].(map[string]any)["new"] != true {
		t.Errorf("upsert of an archived contact's email: %v, want a new object", m)
	}
	if ws := s.WriteStats(); ws.Archives != 1 || ws.ArchiveCalls != 1 {
		t.Errorf("write stats %+v, want 1 archive", ws)
	}

	// Faults and the rate limit apply to writes.
	s.Inject(Fault5xx)
	if resp, _ = call(t, "POST", url, "tok", `{"inputs":[]}`); resp.StatusCode != 503 {
		t.Errorf("injected fault on a write: %d, want 503", resp.StatusCode)
	}
	if resp, _ = call(t, "POST", url, "", `{"inputs":[]}`); resp.StatusCode != 401 {
		t.Errorf("write without a token: %d, want 401", resp.StatusCode)
	}
}

func TestWritesAreRateLimited(t *testing.T) {
	s := New(Options{Token: "tok", RateLimitMax: 2})
	srv := s.Start()
	defer srv.Close()
	url := srv.URL + "/crm/v3/objects/contacts/batch/upsert"
	codes := []int{}
	for range 3 {
		resp, _ := call(t, "POST", url, "tok", `{"inputs":[{"idProperty":"email","id":"a@b.com","properties":{}}]}`)
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if fmt.Sprint(codes) != "[200 200 429]" {
		t.Errorf("codes %v, want [200 200 429]", codes)
	}
	if ws := s.WriteStats(); ws.Creates != 1 || ws.Updates != 1 {
		t.Errorf("write stats %+v", ws)
	}
}

func TestBatchUpdateReadAndKnobs(t *testing.T) {
	s := New(Options{Token: "tok", RateLimitMax: 1000})
	srv := s.Start()
	defer srv.Close()
	base := srv.URL + "/crm/v3/objects/contacts/batch/"
	id := s.Create("contacts", map[string]string{"email": "a@b.com", "firstname": "a"}, time.Now())
	ids := fmt.Sprint(id)
	// Update by object id; an unknown id is an OBJECT_NOT_FOUND error of a
	// 207, the other input is written.
	resp, m := call(t, "POST", base+"update", "tok", `{"inputs":[{"id":"`+ids+`","properties":{"firstname":"a2"}},{"id":"999999","properties":{"firstname":"x"}}]}`)
	if resp.StatusCode != http.StatusMultiStatus || len(m["results"].([]any)) != 1 || m["errors"].([]any)[0].(map[string]any)["category"] != "OBJECT_NOT_FOUND" {
		t.Fatalf("update: %d %v", resp.StatusCode, m)
	}
	if got := m["results"].([]any)[0].(map[string]any); got["id"] != ids || got["properties"].(map[string]any)["firstname"] != "a2" {
		t.Errorf("update result %v", got)
	}
	// Read by idProperty: found and not found.
	resp, m = call(t, "POST", base+"read", "tok", `{"idProperty":"email","properties":["firstname"],"inputs":[{"id":"A@b.com"},{"id":"none@b.com"}]}`)
	if resp.StatusCode != http.StatusMultiStatus || len(m["results"].([]any)) != 1 {
		t.Fatalf("read: %d %v", resp.StatusCode, m)
	}
	if got := m["results"].([]any)[0].(map[string]any); got["id"] != ids || got["properties"].(map[string]any)["email"] != "a@b.com" {
		t.Errorf("read result %v", got)
	}
	if e := m["errors"].([]any)[0].(map[string]any); e["category"] != "OBJECT_NOT_FOUND" || fmt.Sprint(e["context"].(map[string]any)["ids"]) != "[none@b.com]" {
		t.Errorf("read error %v", e)
	}
	// RefuseInputs: the whole batch fails with the status.
	s.RefuseInputs(http.StatusConflict, "c@d.com")
	if resp, m = call(t, "POST", base+"upsert", "tok", `{"inputs":[{"idProperty":"email","id":"c@d.com","properties":{}},{"idProperty":"email","id":"e@f.com","properties":{}}]}`); resp.StatusCode != http.StatusConflict || m["category"] != "CONFLICT" {
		t.Fatalf("refused: %d %v", resp.StatusCode, m)
	}
	// TransientInputErrors: a retryable 207 error for the input, the rest
	// written; the next attempt succeeds.
	s.TransientInputErrors(1, "RATE_LIMITS", "g@h.com")
	body := `{"inputs":[{"idProperty":"email","id":"g@h.com","properties":{}},{"idProperty":"email","id":"e@f.com","properties":{}}]}`
	if resp, m = call(t, "POST", base+"upsert", "tok", body); resp.StatusCode != http.StatusMultiStatus || m["errors"].([]any)[0].(map[string]any)["category"] != "RATE_LIMITS" || len(m["results"].([]any)) != 1 {
		t.Fatalf("transient: %d %v", resp.StatusCode, m)
	}
	if resp, _ = call(t, "POST", base+"upsert", "tok", body); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the transient error: %d", resp.StatusCode)
	}
	if ws := s.WriteStats(); ws.UpdateCalls != 1 || ws.ReadCalls != 1 || ws.Refused != 1 || ws.Transient != 1 || ws.Creates != 2 {
		t.Errorf("write stats %+v", ws)
	}
}

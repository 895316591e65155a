package salesforce

import (
	"net/url"
	"testing"
	"time"
)

func TestPurgedRecordsLeaveQueryAllAndTheRecycleBin(t *testing.T) {
	s := New(Options{Token: "tok"})
	srv := s.Start()
	defer srv.Close()
	now := time.Now().Add(-time.Minute)
	live := s.Create("Account", map[string]any{"Name": "a"}, now)
	binned := s.Create("Account", map[string]any{"Name": "b"}, now)
	purged := s.Create("Account", map[string]any{"Name": "c"}, now)
	for _, id := range []string{binned, purged} {
		if err := s.Delete("Account", id, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Purge("Account", purged); err != nil {
		t.Fatal(err)
	}
	if err := s.Purge("Account", purged); err == nil {
		t.Error("a second purge succeeded")
	}
	_, body := get(t, srv.URL+"/services/data/v61.0/queryAll?q="+url.QueryEscape("SELECT Id FROM Account ORDER BY Id"), "tok")
	var got []string
	for _, r := range body.(map[string]any)["records"].([]any) {
		got = append(got, r.(map[string]any)["Id"].(string))
	}
	if len(got) != 2 || got[0] != live || got[1] != binned {
		t.Errorf("queryAll ids %v, want %s and %s", got, live, binned)
	}
	_, body = get(t, srv.URL+"/services/data/v61.0/sobjects/Account/deleted/?start="+url.QueryEscape(now.Add(-time.Hour).UTC().Format(time.RFC3339))+"&end="+url.QueryEscape(time.Now().UTC().Format(time.RFC3339)), "tok")
	if d := body.(map[string]any)["deletedRecords"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != binned {
		t.Errorf("getDeleted %v, want only %s", d, binned)
	}
}

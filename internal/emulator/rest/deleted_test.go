package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func get(t *testing.T, ctx context.Context, url string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestDeletedItemsHoldAndThrottle(t *testing.T) {
	s := New(Options{APIKey: "k", RateLimitMax: 4, RateLimitInterval: time.Hour})
	srv := s.Start()
	defer srv.Close()
	at := time.Now().Truncate(time.Second)
	a, b := s.Put(Item{Name: "a", UpdatedAt: at}), s.Put(Item{Name: "b", UpdatedAt: at})
	if err := s.Delete(b, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(b, at); err == nil {
		t.Error("deleting a deleted item succeeded")
	}
	ctx := context.Background()
	if code, m := get(t, ctx, srv.URL+"/v1/items?limit=10"); code != 200 || len(m["data"].([]any)) != 1 || m["data"].([]any)[0].(map[string]any)["id"] != float64(a) {
		t.Errorf("items: %d %v", code, m)
	}
	code, m := get(t, ctx, srv.URL+"/v1/deleted-items?limit=10")
	if code != 200 || len(m["data"].([]any)) != 1 {
		t.Fatalf("deleted items: %d %v", code, m)
	}
	if d := m["data"].([]any)[0].(map[string]any); d["id"] != float64(b) || d["deleted_at"] != at.Add(time.Second).UTC().Format(time.RFC3339) {
		t.Errorf("deleted item %v", d)
	}

	s.HoldAfter(0)
	held, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if code, _ := get(t, held, srv.URL+"/v1/items?limit=10"); code != 0 {
		t.Errorf("a held request was answered %d", code)
	}
	s.Release()
	if code, _ := get(t, ctx, srv.URL+"/v1/items?limit=10"); code != 200 {
		t.Errorf("after Release: %d", code)
	}
	// The held request may or may not have taken the fourth slot.
	for range 2 {
		if code, _ := get(t, ctx, srv.URL+"/v1/items?limit=10"); code == http.StatusTooManyRequests {
			break
		}
	}
	if n := s.Throttled(); n != 1 {
		t.Errorf("throttled %d, want 1", n)
	}
	open := New(Options{APIKey: "k"})
	osrv := open.Start()
	defer osrv.Close()
	open.Throttle(2)
	for i, want := range []int{http.StatusTooManyRequests, http.StatusTooManyRequests, http.StatusOK} {
		if code, _ := get(t, ctx, osrv.URL+"/v1/deleted-items?limit=1"); code != want {
			t.Errorf("request %d after Throttle(2): %d, want %d", i, code, want)
		}
	}
	if n := open.Throttled(); n != 2 {
		t.Errorf("throttled %d, want 2", n)
	}
}

package main

import (
	"net/url"
	"slices"
	"testing"
)

// TestGroupsEndToEnd sends group calls through `mosaic serve` and reads the account back:
// its traits by event time, its members, and a 404 for a group no call named.
func TestGroupsEndToEnd(t *testing.T) {
	inst := startServe(t, "--data", t.TempDir())
	sendBatch(t, inst.URL, inst.WriteKey, `{"batch":[
		{"type":"group","groupId":"acme","userId":"u1","traits":{"name":"Acme Inc","plan":"enterprise","employees":120},"timestamp":"2026-11-02T10:00:00Z"},
		{"type":"group","groupId":"acme","userId":"u2","timestamp":"2026-11-02T11:00:00Z"},
		{"type":"group","groupId":"Acme/EU","userId":"u2","traits":{"name":"Acme Europe"},"timestamp":"2026-11-02T11:00:00Z"}]}`)
	waitProcessed(t, inst.URL, inst.Token)
	// An older call arrives late: it adds a trait and overwrites none.
	sendBatch(t, inst.URL, inst.WriteKey, `{"batch":[
		{"type":"group","groupId":"acme","userId":"u2","traits":{"plan":"free","industry":"rockets"},"timestamp":"2026-11-01T10:00:00Z"}]}`)
	waitProcessed(t, inst.URL, inst.Token)

	st, g := apiCall(t, "GET", inst.URL+"/api/v1/groups/acme", inst.Token, nil)
	if st != 200 {
		t.Fatalf("group: %d %v", st, g)
	}
	tr, _ := g["traits"].(map[string]any)
	if g["id"] != "acme" || tr["name"] != "Acme Inc" || tr["plan"] != "enterprise" || tr["employees"] != 120.0 || tr["industry"] != "rockets" {
		t.Errorf("group traits: %v", g)
	}
	if src, _ := g["trait_sources"].(map[string]any)["plan"].(map[string]any); src == nil || src["event_time"] != "2026-11-02T10:00:00Z" {
		t.Errorf("plan's source: %v", g["trait_sources"])
	}
	var members []string
	for _, m := range g["members"].([]any) {
		members = append(members, m.(string))
	}
	var want []string
	for _, u := range []string{"u1", "u2"} {
		st, p := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=user_id&value="+u, inst.Token, nil)
		if st != 200 || !slices.Contains(p["groups"].([]any), any("acme")) {
			t.Errorf("%s's profile: %d %v", u, st, p)
		}
		want = append(want, p["id"].(string))
	}
	slices.Sort(want)
	if !slices.Equal(members, want) {
		t.Errorf("members=%v, want %v", members, want)
	}

	// A group id with a slash is one path segment when escaped.
	st, g = apiCall(t, "GET", inst.URL+"/api/v1/groups/"+url.PathEscape("Acme/EU"), inst.Token, nil)
	if st != 200 || g["id"] != "Acme/EU" || len(g["members"].([]any)) != 1 {
		t.Errorf("Acme/EU: %d %v", st, g)
	}
	st, out := apiCall(t, "GET", inst.URL+"/api/v1/groups/nope", inst.Token, nil)
	if st != 404 || out["error"].(map[string]any)["code"] != "not_found" {
		t.Errorf("unknown group: %d %v", st, out)
	}
	st, _ = apiCall(t, "GET", inst.URL+"/api/v1/groups/acme", "mt_wrong", nil)
	if st != 401 {
		t.Errorf("group without a valid token: %d", st)
	}
}

package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
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

// TestPlaceholderGroupIDNamesNoGroup: a group call whose groupId is a placeholder
// ("undefined", "NaN") makes no group and no membership, so accounts whose tracking code
// failed to set it are not one company (trial 13); the calls stay on the timelines, and a
// rebuild of every profile and group keeps it so.
func TestPlaceholderGroupIDNamesNoGroup(t *testing.T) {
	dir := t.TempDir()
	inst := startServe(t, "--data", dir)
	sendBatch(t, inst.URL, inst.WriteKey, `{"batch":[
		{"type":"group","groupId":"undefined","userId":"u-carol","traits":{"name":"Globex","plan":"enterprise"}},
		{"type":"group","groupId":" NaN ","userId":"u-bob","traits":{"name":"Acme Inc"}},
		{"type":"group","groupId":"acme","userId":"u-bob","traits":{"name":"Acme Inc"}}]}`)
	waitProcessed(t, inst.URL, inst.Token)
	check := func(when string) {
		t.Helper()
		for _, g := range []string{"undefined", "NaN", "%20NaN%20"} {
			if st, out := apiCall(t, "GET", inst.URL+"/api/v1/groups/"+g, inst.Token, nil); st != 404 {
				t.Errorf("%s: group %q: %d %v, want 404", when, g, st, out)
			}
		}
		_, bob := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=user_id&value=u-bob", inst.Token, nil)
		_, carol := apiCall(t, "GET", inst.URL+"/api/v1/profiles/lookup?type=user_id&value=u-carol", inst.Token, nil)
		if fmt.Sprint(bob["groups"]) != "[acme]" || len(carol["groups"].([]any)) != 0 {
			t.Errorf("%s: groups of bob %v and carol %v, want [acme] and none", when, bob["groups"], carol["groups"])
		}
		if evs := allEvents(t, inst.URL, inst.Token, "type=group"); len(evs) != 3 {
			t.Errorf("%s: %d group calls stored, want 3", when, len(evs))
		}
	}
	check("resolved")
	// A group id is trimmed on lookup as on the way in (trial 13).
	if st, out := apiCall(t, "GET", inst.URL+"/api/v1/groups/%20acme%20", inst.Token, nil); st != 200 || out["id"] != "acme" {
		t.Errorf("group \" acme \": %d %v", st, out)
	}
	if st, out := apiCall(t, "POST", inst.URL+"/api/v1/profiles/rebuild", inst.Token, map[string]any{"all": true}); st != 202 {
		t.Fatalf("rebuild: %d %v", st, out)
	}
	waitProcessed(t, inst.URL, inst.Token)
	check("rebuilt")
}

// TestGroupMembersPages: a group of more members than its answer shows says so and links
// the member list, which pages through every member once (trial 13: 105 members, 100 shown,
// no way to the others).
func TestGroupMembersPages(t *testing.T) {
	inst := startServe(t, "--data", t.TempDir())
	var calls []string
	for i := range 105 {
		calls = append(calls, fmt.Sprintf(`{"type":"group","groupId":"bigco","userId":"u%03d"}`, i))
	}
	sendBatch(t, inst.URL, inst.WriteKey, `{"batch":[`+strings.Join(calls, ",")+`]}`)
	waitProcessed(t, inst.URL, inst.Token)
	st, g := apiCall(t, "GET", inst.URL+"/api/v1/groups/bigco", inst.Token, nil)
	if st != 200 || len(g["members"].([]any)) != 100 || g["more_members"] != true || g["members_url"] != "/api/v1/groups/bigco/members" {
		t.Fatalf("group: %d members=%d more=%v url=%v", st, len(g["members"].([]any)), g["more_members"], g["members_url"])
	}
	seen := map[string]bool{}
	for path, pages := "/api/v1/groups/bigco/members?limit=40", 0; ; pages++ {
		st, page := apiCall(t, "GET", inst.URL+path, inst.Token, nil)
		if st != 200 || pages > 5 {
			t.Fatalf("members page %d: %d %v", pages, st, page)
		}
		for _, m := range page["members"].([]any) {
			if seen[m.(string)] {
				t.Fatalf("member %s listed twice", m)
			}
			seen[m.(string)] = true
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		path = "/api/v1/groups/bigco/members?limit=40&cursor=" + url.QueryEscape(next)
	}
	if len(seen) != 105 {
		t.Fatalf("%d members listed, want 105", len(seen))
	}
	if st, out := apiCall(t, "GET", inst.URL+"/api/v1/groups/nope/members", inst.Token, nil); st != 404 {
		t.Fatalf("members of an unknown group: %d %v", st, out)
	}
	if st, out := apiCall(t, "GET", inst.URL+"/api/v1/groups/bigco?limit=200", inst.Token, nil); st != 400 {
		t.Fatalf("group with a limit: %d %v, want 400 (the member list pages)", st, out)
	}
}

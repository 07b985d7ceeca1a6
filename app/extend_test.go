package app_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/spot"
)

// extendPolicy is pagePolicy with extend allowed.
const extendPolicy = `{"regions":["us-east-1"],"instanceTypes":["t3.micro"],"amis":["ami-0123456789abcdef0"],"maxCount":2,"maxRunning":4,"defaultTTL":"1h","maxTTL":"4h","tasks":["launch","terminate","status","extend"]}`

// tagOf is one tag of an emulator instance ("" if absent).
func (s *pageStack) tagOf(id, key string) string {
	for _, r := range s.sim.State().Regions {
		for _, in := range r.Instances {
			if in.InstanceID != id {
				continue
			}
			for _, tg := range in.Tags {
				if tg.Key == key {
					return tg.Value
				}
			}
		}
	}
	return ""
}

// launchTime is EC2's (the emulator's) launch time of id, to the second
// as an extension counts from it.
func (s *pageStack) launchTime(id string) time.Time {
	for _, r := range s.sim.State().Regions {
		for _, in := range r.Instances {
			if in.InstanceID == id {
				return in.LaunchTime.UTC().Truncate(time.Second)
			}
		}
	}
	return time.Time{}
}

// TestExtendTask extends a TTL through the API and the capability page,
// within maxTTL and the instance's own guard, against a real serve.
func TestExtendTask(t *testing.T) {
	s := startPageStack(t)
	v := s.createToken(t, `{"name":"extendable","credentials":`+keysJSON()+`,"policy":`+extendPolicy+`}`)
	urlX := v["url"].(string)
	urlP, _ := s.pageToken(t, "not extendable", "")

	code, res, raw := s.task(t, urlX, `{"task":"launch","count":1}`, nil)
	if code != 200 {
		t.Fatalf("launch = %d %s", code, raw)
	}
	id := ids(res)[0]
	launched := s.launchTime(id)
	if g := s.tagOf(id, spot.TagGuardTTL); g != "4h0m0s" {
		t.Errorf("guard TTL = %q; want maxTTL 4h0m0s: the policy allows extend", g)
	}

	tests := []struct {
		name      string
		url, body string
		wantCode  int
		wantError string
		wantTag   time.Duration // after launch, 0: unchanged
	}{
		{name: "to 2h", url: urlX, body: `{"task":"extend","instanceIds":["` + id + `"],"ttl":"2h"}`, wantCode: 200, wantTag: 2 * time.Hour},
		{name: "to maxTTL", url: urlX, body: `{"task":"extend","all":true,"ttl":"4h"}`, wantCode: 200, wantTag: 4 * time.Hour},
		{name: "past maxTTL", url: urlX, body: `{"task":"extend","all":true,"ttl":"4h1s"}`, wantCode: 403, wantError: "policy_denied"},
		{name: "without ttl", url: urlX, body: `{"task":"extend","all":true}`, wantCode: 400, wantError: "invalid_request"},
		{name: "without instances", url: urlX, body: `{"task":"extend","ttl":"2h"}`, wantCode: 400, wantError: "invalid_request"},
		{name: "a policy without extend", url: urlP, body: `{"task":"extend","all":true,"ttl":"2h"}`, wantCode: 403, wantError: "policy_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, v, raw := s.task(t, tt.url, tt.body, nil)
			if code != tt.wantCode || (tt.wantError != "" && v["error"] != tt.wantError) {
				t.Fatalf("%s = %d %s; want %d %s", tt.body, code, raw, tt.wantCode, tt.wantError)
			}
			if tt.wantTag != 0 {
				if got := s.tagOf(id, spot.TagExpiresAt); got != launched.Add(tt.wantTag).Format(time.RFC3339) {
					t.Errorf("expires-at = %s; want launch + %s", got, tt.wantTag)
				}
				if x, _ := v["extended"].([]any); len(x) != 1 {
					t.Errorf("reply extended = %v; want the one instance", v["extended"])
				}
			}
		})
	}

	t.Run("the page offers it only where the policy allows", func(t *testing.T) {
		c := s.browserClient(t)
		if r := get(t, c, urlP); strings.Contains(r.body, `value="extend"`) {
			t.Error("a page whose policy has no extend offers it")
		}
		// At maxTTL already: nothing left to offer.
		if r := get(t, c, urlX); strings.Contains(r.body, `value="extend"`) {
			t.Error("an instance at maxTTL is offered an extension")
		}
	})

	t.Run("extend from the page", func(t *testing.T) {
		code, res, raw := s.task(t, urlX, `{"task":"launch","count":1,"ttl":"30m","idempotencyKey":"second"}`, nil)
		if code != 200 {
			t.Fatalf("launch = %d %s", code, raw)
		}
		id2 := ids(res)[0]
		c := s.browserClient(t)
		page := get(t, c, urlX).body
		form := regexp.MustCompile(`(?s)<select id="x-` + id2 + `" name="ttl">(.*?)</select>`).FindStringSubmatch(page)
		if form == nil || !strings.Contains(form[1], `value="1h"`) || !strings.Contains(form[1], `value="4h"`) || strings.Contains(form[1], `value="30m"`) {
			t.Fatalf("extend choices for a 30m instance: %v", form)
		}
		csrf, _ := formValues(t, page)
		r := postForm(t, c, urlX+"/page", url.Values{"csrf": {csrf}, "task": {"extend"}, "id": {id2}, "ttl": {"2h"}})
		if r.status != 303 || !strings.Contains(r.header.Get("Location"), "did=extended&n=1") {
			t.Fatalf("extend form = %d %s %s", r.status, r.header.Get("Location"), r.body)
		}
		if got, want := s.tagOf(id2, spot.TagExpiresAt), s.launchTime(id2).Add(2*time.Hour).Format(time.RFC3339); got != want {
			t.Errorf("after the page's extend expires-at = %s; want launch + 2h, %s", got, want)
		}
		if r := postForm(t, c, urlX+"/page", url.Values{"task": {"extend"}, "id": {id2}, "ttl": {"4h"}}); r.status != 403 {
			t.Errorf("extend form without csrf = %d; want 403", r.status)
		}
	})
}

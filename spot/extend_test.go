package spot

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// TestExtend moves instances' expiry within their own guard, never past
// it, never shorter, only the token's own, and idempotently.
func TestExtend(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	launch := func(tok, key string, guard time.Duration) Instance {
		s := e.spec(tok, key, 1)
		s.GuardTTL = guard
		res := e.mustLaunch(t, s)
		if len(res.Instances) != 1 {
			t.Fatalf("launch %s: %d instances", key, len(res.Instances))
		}
		return res.Instances[0]
	}
	start := e.clock.Now().UTC().Truncate(time.Second)
	long := launch("tokA", "long", 4*time.Hour) // guard at 4 h: a policy that allows extend
	short := launch("tokA", "short", 0)         // guard at its TTL, 1 h
	other := launch("tokB", "other", 4*time.Hour)

	expiry := func(id string) time.Time {
		t.Helper()
		for _, in := range e.simInstances() {
			if in.InstanceID != id {
				continue
			}
			for _, tg := range in.Tags {
				if tg.Key == TagExpiresAt {
					at, err := time.Parse(time.RFC3339, tg.Value)
					if err != nil {
						t.Fatal(err)
					}
					return at
				}
			}
		}
		t.Fatalf("%s has no expiry tag", id)
		return time.Time{}
	}
	refusal := func(res ExtendResult, id string) string {
		for _, r := range res.Refused {
			if r.ID == id {
				return r.Reason
			}
		}
		return ""
	}

	tests := []struct {
		name        string
		ids         []string
		all         bool
		ttl         time.Duration
		wantExpiry  map[string]time.Duration // after start
		wantRefused map[string]string        // reason prefix
		wantTags    int                      // CreateTags calls
	}{
		{name: "to 2 h", ids: []string{long.ID}, ttl: 2 * time.Hour, wantExpiry: map[string]time.Duration{long.ID: 2 * time.Hour}, wantTags: 1},
		{name: "the same again changes nothing", ids: []string{long.ID}, ttl: 2 * time.Hour, wantExpiry: map[string]time.Duration{long.ID: 2 * time.Hour}},
		{name: "shorter changes nothing", ids: []string{long.ID}, ttl: 90 * time.Minute, wantExpiry: map[string]time.Duration{long.ID: 2 * time.Hour}},
		{name: "exactly at the guard", ids: []string{long.ID}, ttl: 4 * time.Hour, wantExpiry: map[string]time.Duration{long.ID: 4 * time.Hour}, wantTags: 1},
		{name: "past the guard", ids: []string{long.ID}, ttl: 4*time.Hour + time.Second,
			wantRefused: map[string]string{long.ID: RefusedGuard}, wantExpiry: map[string]time.Duration{long.ID: 4 * time.Hour}},
		{name: "a guard at the TTL allows none", ids: []string{short.ID}, ttl: 2 * time.Hour,
			wantRefused: map[string]string{short.ID: RefusedGuard}, wantExpiry: map[string]time.Duration{short.ID: time.Hour}},
		{name: "another token's, an unknown and a malformed id", ids: []string{other.ID, "i-0123456789abcdef0", "x<script>"}, ttl: 2 * time.Hour,
			wantRefused: map[string]string{other.ID: RefusedForeign, "i-0123456789abcdef0": RefusedNotFound, "x<script>": RefusedMalformed},
			wantExpiry:  map[string]time.Duration{other.ID: time.Hour}},
		{name: "all: each on its own", all: true, ttl: 3 * time.Hour,
			wantRefused: map[string]string{short.ID: RefusedGuard}, wantExpiry: map[string]time.Duration{long.ID: 4 * time.Hour, short.ID: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.resetCalls()
			res, err := e.client.Extend(ctx, e.creds, region, "tokA", tt.ids, tt.all, tt.ttl)
			if err != nil {
				t.Fatal(err)
			}
			for id, want := range tt.wantRefused {
				if got := refusal(res, id); !strings.HasPrefix(got, want) {
					t.Errorf("%s refused for %q; want %q", id, got, want)
				}
			}
			if len(res.Refused) != len(tt.wantRefused) {
				t.Errorf("refused %+v; want %d", res.Refused, len(tt.wantRefused))
			}
			for id, d := range tt.wantExpiry {
				if got := expiry(id); !got.Equal(start.Add(d)) {
					t.Errorf("%s expires %s after launch; want %s", id, got.Sub(start), d)
				}
			}
			for _, x := range res.Extended {
				if !x.ExpiresAt.Equal(expiry(x.ID)) {
					t.Errorf("reply says %s expires %s; its tag says %s", x.ID, x.ExpiresAt, expiry(x.ID))
				}
			}
			if n := e.callCount("CreateTags"); n != tt.wantTags {
				t.Errorf("CreateTags called %d times; want %d", n, tt.wantTags)
			}
		})
	}

	t.Run("a TTL already past, and an ended instance", func(t *testing.T) {
		e.clock.Add(150 * time.Minute)
		res, err := e.client.Extend(ctx, e.creds, region, "tokA", []string{long.ID}, false, 2*time.Hour)
		if err != nil || refusal(res, long.ID) != RefusedTTLGone {
			t.Errorf("extend to a TTL in the past = %+v, %v", res, err)
		}
		e.terminate(t, "tokA", long.ID)
		res, err = e.client.Extend(ctx, e.creds, region, "tokA", []string{long.ID}, false, 4*time.Hour)
		if err != nil || refusal(res, long.ID) != RefusedNotLive {
			t.Errorf("extend a terminated instance = %+v, %v", res, err)
		}
	})
}

// TestGuardTTL: the guard in the user data and the guard-ttl tag follow
// GuardTTL when it is longer than the TTL; otherwise the TTL, untagged.
func TestGuardTTL(t *testing.T) {
	for _, tt := range []struct {
		name        string
		guard       time.Duration
		wantMinutes string
		wantTag     string
	}{
		{"no guard TTL: the TTL", 0, "power off 60 minutes", ""},
		{"a longer one", 4 * time.Hour, "power off 240 minutes", "4h0m0s"},
		{"a shorter one is not taken", 30 * time.Minute, "power off 60 minutes", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t)
			s := e.spec("tokA", "g", 1)
			s.GuardTTL = tt.guard
			res := e.mustLaunch(t, s)
			var ud string
			for _, lt := range e.simRegion().Templates {
				if lt.Name == res.Template {
					b, _ := base64.StdEncoding.DecodeString(lt.Data.UserData)
					ud = string(b)
				}
			}
			if !strings.Contains(ud, tt.wantMinutes) {
				t.Errorf("user data has no %q:\n%s", tt.wantMinutes, ud)
			}
			got := ""
			for _, tg := range e.simInstances()[0].Tags {
				if tg.Key == TagGuardTTL {
					got = tg.Value
				}
			}
			if got != tt.wantTag {
				t.Errorf("%s = %q; want %q", TagGuardTTL, got, tt.wantTag)
			}
		})
	}
}

package spot

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestReplace(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	launched := e.mustLaunch(t, e.spec("tokA", "a", 1)).Instances
	victim := launched[0]
	if err := e.sim.Interrupt(victim.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(3 * time.Minute)

	tests := []struct {
		name    string
		token   string
		id      string
		advance time.Duration
		wantOK  bool
	}{
		{name: "another token's instance", token: "tokB", id: victim.ID},
		{name: "unknown instance", token: "tokA", id: "i-0123456789abcdef0"},
		{name: "replaced", token: "tokA", id: victim.ID, wantOK: true},
		{name: "replaced again by another replica: same instance", token: "tokA", id: victim.ID, wantOK: true},
		{name: "past the original expiry", token: "tokA", id: victim.ID, advance: 2 * time.Hour},
	}
	var first string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Add(tt.advance)
			in, ok, err := e.client.Replace(ctx, e.creds, region, tt.token, tt.id, []string{victim.Type}, Caps{})
			if err != nil || ok != tt.wantOK {
				t.Fatalf("Replace = %+v, %v, %v; want ok=%v", in, ok, err, tt.wantOK)
			}
			if !ok {
				return
			}
			if first == "" {
				first = in.ID
			}
			if in.ID != first || in.ID == victim.ID || !in.ExpiresAt.Equal(victim.ExpiresAt) {
				t.Errorf("replacement %+v; want one new instance (%s) keeping the original expiry %s", in, first, victim.ExpiresAt)
			}
		})
	}
	checkReplacement(t, e, victim, first)
}

// checkReplacement proves that only the replacement runs, tagged as the
// original was, and that its guard powers it off at the original's expiry.
func checkReplacement(t *testing.T, e *env, victim Instance, first string) {
	t.Helper()
	live := e.liveSimInstances()
	if len(live) != 1 || live[0].InstanceID != first {
		t.Fatalf("live instances %+v; want only the replacement %s", live, first)
	}
	tags := map[string]string{}
	for _, tg := range live[0].Tags {
		tags[tg.Key] = tg.Value
	}
	if tags[TagToken] != "tokA" || tags[TagReplaces] != victim.ID || tags[TagExpiresAt] == "" || tags[TagTemplate] == "" {
		t.Errorf("replacement tags %v; want the token, the template, the expiry and what it replaces", tags)
	}
	// Its guard powers off at the original's expiry, not a full TTL after
	// its own boot: it holds when spotter is gone.
	var guard string
	for _, lt := range e.simRegion().Templates {
		if lt.Name == tags[TagTemplate] {
			raw, err := base64.StdEncoding.DecodeString(lt.Data.UserData)
			if err != nil {
				t.Fatal(err)
			}
			_, bodies := mimeParts(t, raw)
			guard = bodies[0]
		}
	}
	if want := "power off at " + victim.ExpiresAt.UTC().Format(time.RFC3339); !strings.Contains(guard, want) {
		t.Errorf("replacement template %s guard:\n%s\nwant it to %s", tags[TagTemplate], guard, want)
	}
	if at := armGuard(t, guard); at != victim.ExpiresAt.Unix() {
		t.Errorf("replacement guard arms %d; want the original's expiry %d", at, victim.ExpiresAt.Unix())
	}
}

func TestLive(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	launched := e.mustLaunch(t, e.spec("tokA", "a", 3)).Instances
	e.mustLaunch(t, e.spec("tokB", "b", 1))
	if _, err := e.client.Terminate(ctx, e.creds, region, "tokA", []string{launched[0].ID}, false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		token      string
		withPrices bool
		want       int
	}{
		{name: "live only, own token", token: "tokA", want: 2},
		{name: "with prices", token: "tokA", withPrices: true, want: 2},
		{name: "other token", token: "tokB", want: 1},
		{name: "none", token: "tokC", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, api, err := e.client.ec2For(region)
			if err != nil {
				t.Fatal(err)
			}
			ins, err := e.client.live(ctx, api, e.client.ec2Opts(e.creds), e.client.odPrices(ctx, e.creds, region), tt.token, tt.withPrices)
			if err != nil || len(ins) != tt.want {
				t.Fatalf("Live(%s) = %d instances, %v; want %d", tt.token, len(ins), err, tt.want)
			}
			for _, in := range ins {
				if in.ID == launched[0].ID {
					t.Errorf("terminated instance %s listed as live", in.ID)
				}
				if tt.withPrices && in.Price <= 0 {
					t.Errorf("instance %s has no price", in.ID)
				}
			}
		})
	}
}

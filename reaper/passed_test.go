package reaper_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/reaper"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/token"
)

// TestRunTellsHowPassesEnd: Passed hears ok while every token's account is
// reaped, partial once EC2 stops answering for one, and Limits hears each
// live token's caps but never a revoked token's.
func TestRunTellsHowPassesEnd(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	sim := httptest.NewServer(awssim.New(awssim.Options{Seed: 3}))
	defer sim.Close()
	dead := httptest.NewServer(nil)
	dead.Close() // a port that refuses connections: EC2 unreachable
	st, err := secrets.OpenEmbedded(t.TempDir(), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter"})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := capability.New(capability.Config{Store: st, Authority: auth, CacheTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	creds := &api.CredentialsInput{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey}
	create := func(name string, p api.Policy) string {
		c, err := reg.Create(ctx, api.CreateTokenRequest{Name: name, Credentials: creds, Policy: &p})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	live := create("live", api.Policy{InstanceTypes: []string{"t3.micro"}, AMIs: []string{"ami-0123456789abcdef0"}, MaxRunning: 7, MaxHourlySpend: 2.5})
	gone := create("gone", api.Policy{InstanceTypes: []string{"t3.micro"}, AMIs: []string{"ami-0123456789abcdef0"}})
	if _, err := reg.Revoke(ctx, gone); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name     string
		endpoint string
		want     string
	}{
		{name: "EC2 answers", endpoint: sim.URL, want: reaper.PassOK},
		{name: "EC2 unreachable", endpoint: dead.URL, want: reaper.PassPartial},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sp, err := spot.New(spot.Config{EC2Endpoint: tt.endpoint, STSEndpoint: tt.endpoint, PricingEndpoint: tt.endpoint,
				DefaultRegion: "us-east-1", MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var results []string
			limits := map[string]api.Policy{}
			done := make(chan struct{}, 1)
			r := &reaper.Reaper{Tokens: reg, Spot: sp, Interval: time.Hour, Log: log,
				Limits: func(id string, p api.Policy) { mu.Lock(); limits[id] = p; mu.Unlock() },
				Passed: func(result string) {
					mu.Lock()
					results = append(results, result)
					mu.Unlock()
					done <- struct{}{}
				}}
			rctx, cancel := context.WithCancel(ctx)
			stopped := make(chan struct{})
			go func() { r.Run(rctx); close(stopped) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("no pass reported in 30 s")
			}
			cancel()
			<-stopped
			mu.Lock()
			defer mu.Unlock()
			if len(results) != 1 || results[0] != tt.want {
				t.Errorf("passes = %v; want [%s]", results, tt.want)
			}
			if p, ok := limits[live]; !ok || p.MaxRunning != 7 || p.MaxHourlySpend != 2.5 {
				t.Errorf("Limits for the live token = %+v, %v; want maxRunning 7, maxHourlySpend 2.5", p, ok)
			}
			if _, ok := limits[gone]; ok || len(limits) != 1 {
				t.Errorf("Limits heard %v; want the live token alone", limits)
			}
		})
	}
}

// TestRunReportsAFailedPass: a pass that cannot even list the tokens (here
// it panics, with no registry) is reported failed, every time.
func TestRunReportsAFailedPass(t *testing.T) {
	got := make(chan string, 10)
	r := &reaper.Reaper{Interval: time.Millisecond, Log: slog.New(slog.DiscardHandler), Passed: func(s string) {
		select {
		case got <- s:
		default:
		}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { r.Run(ctx); close(stopped) }()
	for range 2 {
		select {
		case s := <-got:
			if s != reaper.PassFailed {
				t.Errorf("pass = %s; want %s", s, reaper.PassFailed)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no pass reported")
		}
	}
	cancel()
	<-stopped
}

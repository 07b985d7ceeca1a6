package reaper_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
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

// TestPass launches for two tokens through the real SDK into awssim, then
// reaps at a time past one launch's TTL and after revoking the other token.
func TestPass(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	start := time.Now().UTC()
	now := start
	clock := func() time.Time { return now }

	sim := awssim.New(awssim.Options{Seed: 3, Now: clock})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	sp, err := spot.New(spot.Config{EC2Endpoint: srv.URL, STSEndpoint: srv.URL, PricingEndpoint: srv.URL, DefaultRegion: "us-east-1", Now: clock, TemplateGrace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	st, err := secrets.OpenEmbedded(t.TempDir(), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := capability.New(capability.Config{Store: st, Authority: auth, Now: clock, CacheTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	launch := func(name string, ttl time.Duration) (api.CreatedToken, string) {
		t.Helper()
		return launchOne(t, ctx, reg, sp, name, ttl)
	}
	shortTok, short := launch("short", time.Hour)
	long, longID := launch("long", 3*time.Hour)
	keepTok, keep := launch("keep", 3*time.Hour)

	var seen []spot.ReapAction
	usage := map[string]spot.Usage{}
	forgot := map[string]bool{}
	r := &reaper.Reaper{Tokens: reg, Spot: sp, Interval: time.Minute, Log: log, Now: clock,
		Observe: func(a spot.ReapAction) { seen = append(seen, a) },
		Usage:   func(id string, u spot.Usage) { usage[id] = u },
		Forget:  func(id string) { forgot[id] = true }}

	// Before any TTL passes, with nothing revoked, nothing is reaped.
	if acts, err := r.Pass(ctx); err != nil || len(terminated(acts)) != 0 {
		t.Fatalf("early pass = %+v, %v; want nothing terminated", acts, err)
	}
	for _, id := range []string{shortTok.ID, long.ID, keepTok.ID} {
		if u := usage[id]; u.Running != 1 || u.HourlySpend <= 0 {
			t.Errorf("early pass: usage of %s = %+v; want 1 running at a price", id, u)
		}
	}

	now = start.Add(90 * time.Minute)
	if _, err := reg.Revoke(ctx, long.ID); err != nil {
		t.Fatal(err)
	}
	acts, err := r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := terminated(acts)
	want := map[string]bool{short: true, longID: true}
	if len(got) != 2 || !want[got[0]] || !want[got[1]] {
		t.Fatalf("pass terminated %v; want the expired %s and the revoked token's %s, not %s", got, short, longID, keep)
	}
	if len(seen) < 2 {
		t.Errorf("Observe saw %d actions; want each reported", len(seen))
	}
	if usage[shortTok.ID].Running != 0 || usage[keepTok.ID].Running != 1 || !forgot[long.ID] || forgot[keepTok.ID] {
		t.Errorf("after the pass: usage %+v, forgotten %v; want short's token at 0, keep's at 1, the revoked token forgotten", usage, forgot)
	}
	states := map[string]string{}
	for _, rs := range sim.State().Regions {
		for _, in := range rs.Instances {
			states[in.InstanceID] = in.State
		}
	}
	if states[keep] != "running" && states[keep] != "pending" {
		t.Errorf("live instance %s is %s after the pass", keep, states[keep])
	}
	if acts, _ := r.Pass(ctx); len(terminated(acts)) != 0 {
		t.Errorf("second pass terminated %v again", terminated(acts))
	}

	// Status lists one token's instances, and only its own.
	st2, err := r.Status(ctx, keepTok.TokenInfo.TokenRecord)
	if err != nil || len(st2.Instances) != 1 || st2.Instances[0].ID != keep || st2.HourlyCost <= 0 {
		t.Errorf("Status(keep) = %+v, %v; want %s alone, at a price", st2, err, keep)
	}

	// Run tells Report of each pass as a whole.
	reports := make(chan reaper.PassReport, 1)
	r.Report = func(p reaper.PassReport) {
		select {
		case reports <- p:
		default:
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.Run(rctx); close(done) }()
	p := <-reports
	cancel()
	<-done
	// Three tokens share one account and region: one pair, reaped once.
	if p.Accounts != 1 || p.Failed != 0 || p.Err != nil || !p.Start.Equal(now) || !p.End.Equal(now) {
		t.Errorf("Report got %+v; want 1 account, none failed, at the clock's time", p)
	}
}

func terminated(acts []spot.ReapAction) []string {
	var ids []string
	for _, a := range acts {
		if a.Action == spot.ActionTerminate && a.InstanceID != "" {
			ids = append(ids, a.InstanceID)
		}
	}
	if len(ids) == 2 && ids[0] > ids[1] {
		ids[0], ids[1] = ids[1], ids[0]
	}
	return ids
}

// TestReplaceInterrupted: with replaceInterrupted, a pass relaunches an
// interrupted instance once; without it, nothing is relaunched.
func TestReplaceInterrupted(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	sim := awssim.New(awssim.Options{Seed: 5, Now: clock})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	sp, err := spot.New(spot.Config{EC2Endpoint: srv.URL, STSEndpoint: srv.URL, PricingEndpoint: srv.URL, DefaultRegion: "us-east-1", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	st, err := secrets.OpenEmbedded(t.TempDir(), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	auth, _ := token.NewAuthority(st, token.Config{Issuer: "spotter", Now: clock})
	reg, _ := capability.New(capability.Config{Store: st, Authority: auth, Now: clock})
	creds := &api.CredentialsInput{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey}
	static := spot.Static(spot.Credentials{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey})

	// The policy's t3.* reaches every t3 size the region offers; the
	// cheapest of them (t3.nano) bounds what a replacement can cost.
	quotes, err := sp.Price(ctx, static, "us-east-1", []string{"t3.nano", "t3.micro", "t3.small", "t3.medium", "t3.large", "t3.xlarge", "t3.2xlarge"})
	if err != nil || len(quotes.Quotes) == 0 {
		t.Fatalf("Price = %+v, %v", quotes, err)
	}
	cheapest := quotes.Quotes[0].Spot.Dollars()
	for _, q := range quotes.Quotes {
		cheapest = min(cheapest, q.Spot.Dollars())
	}

	tests := []struct {
		name        string
		replace     bool
		count       int     // launched; the first is interrupted
		maxPrice    float64 // the policy's
		spend       float64 // the policy's maxHourlySpend, in cheapest prices
		wantReplace bool
	}{
		{name: "replaceInterrupted", replace: true, count: 1, wantReplace: true},
		{name: "not asked", replace: false, count: 1, wantReplace: false},
		{name: "maxPrice under every pool", replace: true, count: 1, maxPrice: cheapest / 2, wantReplace: false},
		{name: "maxPrice over the pools", replace: true, count: 1, maxPrice: cheapest * 100, wantReplace: true},
		{name: "budget spent by the other instance", replace: true, count: 2, spend: 1.5, wantReplace: false},
		{name: "budget for both", replace: true, count: 2, spend: 100, wantReplace: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := &api.Policy{InstanceTypes: []string{"t3.*"}, AMIs: []string{"ami-0123456789abcdef0"}, ReplaceInterrupted: tt.replace,
				MaxCount: tt.count, MaxRunning: tt.count, MaxPrice: tt.maxPrice, MaxHourlySpend: tt.spend * cheapest}
			c, err := reg.Create(ctx, api.CreateTokenRequest{Name: tt.name, Credentials: creds, Policy: pol})
			if err != nil {
				t.Fatal(err)
			}
			res, err := sp.Launch(ctx, spot.LaunchSpec{Credentials: static, TokenID: c.ID, ClientToken: spot.ClientToken(c.ID, "x"),
				Launch: api.Launch{Region: "us-east-1", InstanceTypes: []string{"t3.micro"}, Count: tt.count,
					AMI: "ami-0123456789abcdef0", TTL: time.Hour}})
			if err != nil || len(res.Instances) != tt.count {
				t.Fatalf("Launch = %+v, %v", res, err)
			}
			if err := sim.Interrupt(res.Instances[0].ID); err != nil {
				t.Fatal(err)
			}
			now = now.Add(3 * time.Minute)
			r := &reaper.Reaper{Tokens: reg, Spot: sp, Interval: time.Minute, Log: log, Now: clock}
			for range 2 { // a second pass must not replace twice
				if _, err := r.Pass(ctx); err != nil {
					t.Fatal(err)
				}
			}
			status, err := sp.Status(ctx, static, "us-east-1", c.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			var replacements int
			for _, in := range status.Instances {
				if in.State == "pending" || in.State == "running" {
					if in.Tag(spot.TagReplaces) == res.Instances[0].ID {
						replacements++
						if tt.maxPrice > 0 && in.Price.Dollars() > tt.maxPrice {
							t.Errorf("replacement %s costs $%s/h, over maxPrice $%v", in.ID, in.Price, tt.maxPrice)
						}
					} else if in.ID != res.Instances[len(res.Instances)-1].ID {
						t.Errorf("live instance %s is neither launched nor a replacement of %s", in.ID, res.Instances[0].ID)
					}
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tt.wantReplace]; replacements != want {
				t.Errorf("replacements = %d; want %d", replacements, want)
			}
		})
	}
}

// launchOne makes a token named name on reg, with awssim's default keys
// and a t3.micro policy, and launches one instance of it with ttl.
func launchOne(t *testing.T, ctx context.Context, reg *capability.Registry, sp *spot.Client, name string, ttl time.Duration) (api.CreatedToken, string) {
	t.Helper()
	pol := &api.Policy{InstanceTypes: []string{"t3.micro"}, AMIs: []string{"ami-0123456789abcdef0"}, MaxTTL: api.Duration(4 * time.Hour)}
	creds := &api.CredentialsInput{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey}
	c, err := reg.Create(ctx, api.CreateTokenRequest{Name: name, Credentials: creds, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sp.Launch(ctx, spot.LaunchSpec{
		Credentials: spot.Static(spot.Credentials{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey}),
		TokenID:     c.ID, ClientToken: spot.ClientToken(c.ID, name),
		Launch: api.Launch{Region: "us-east-1", InstanceTypes: []string{"t3.micro"}, Count: 1, AMI: "ami-0123456789abcdef0", TTL: ttl},
	})
	if err != nil || len(res.Instances) != 1 {
		t.Fatalf("launch %s = %+v, %v", name, res, err)
	}
	return c, res.Instances[0].ID
}

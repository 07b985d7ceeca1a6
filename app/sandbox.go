package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/capability"
)

// sandboxAWS is the in-process EC2/STS emulator the sandbox launches into.
type sandboxAWS struct {
	sim  *awssim.Sim
	url  string
	srv  *http.Server
	done chan struct{} // closed when Serve has returned
}

// startSandboxAWS serves awssim on its own loopback port, so spotter reaches
// it through the real SDK and HTTP, exactly as it reaches AWS.
func startSandboxAWS(log *slog.Logger, now func() time.Time) (*sandboxAWS, error) {
	sim := awssim.New(awssim.Options{Seed: 1, PendingDelay: 5 * time.Second, Now: now, Logger: log.With("component", "awssim")})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox emulator: %w", err)
	}
	s := &sandboxAWS{sim: sim, url: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("sandbox emulator stopped", "error", err)
		}
	}()
	return s, nil
}

// Close shuts the emulator down and returns once its server goroutine has.
func (s *sandboxAWS) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		// Cut off what did not finish in time, so Serve returns.
		err = errors.Join(err, s.srv.Close())
	}
	<-s.done
	return err
}

// demoPolicy is small on purpose: what a newcomer can try without surprises.
func demoPolicy() *api.Policy {
	return &api.Policy{
		Regions:       []string{awssim.DefaultRegion},
		InstanceTypes: []string{"t3.micro", "t3.small", "m5.large"},
		AMIs:          []string{"ami-0123456789abcdef0"},
		MaxCount:      2, MaxRunning: 4,
		DefaultTTL: api.Duration(time.Hour), MaxTTL: api.Duration(4 * time.Hour),
		Tasks:            api.AllTasks(),
		OnDemandFallback: true,
		Tags:             map[string]string{"env": "sandbox"},
	}
}

// createDemoTokens registers the emulator's default credentials twice: once
// plainly, once behind the emulator's default AWS MFA device.
func createDemoTokens(ctx context.Context, reg *capability.Registry, aws *sandboxAWS) (plain, mfa api.CreatedToken, err error) {
	creds := &api.CredentialsInput{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey}
	plain, err = reg.Create(ctx, api.CreateTokenRequest{Name: "sandbox demo", Credentials: creds, Policy: demoPolicy()})
	if err != nil {
		return plain, mfa, fmt.Errorf("create the demo token: %w", err)
	}
	mfa, err = reg.Create(ctx, api.CreateTokenRequest{Name: "sandbox demo (MFA)", Credentials: creds,
		MFA: &api.MFAInput{SerialNumber: aws.sim.DefaultMFASerial()}, Policy: demoPolicy()})
	if err != nil {
		return plain, mfa, fmt.Errorf("create the demo MFA token: %w", err)
	}
	return plain, mfa, nil
}

// sandboxBanner is what the sandbox prints once it listens.
type sandboxBanner struct {
	base    string // http://127.0.0.1:8080
	dataDir string
	temp    bool   // dataDir is removed on exit
	admin   string // the generated admin token; "" when it came from the environment
	self    string // how to run spotter: "spotter", "./spotter" or "go run ."
	aws     *sandboxAWS
	plain   api.CreatedToken
	mfa     api.CreatedToken
	policy  *api.Policy
}

// policySummary says what the demo policy allows, from the policy itself.
func policySummary(p *api.Policy) string {
	var b strings.Builder
	fmt.Fprintf(&b, "region %s; types %s; AMI %s;\n", strings.Join(p.Regions, ", "), strings.Join(p.InstanceTypes, ", "), strings.Join(p.AMIs, ", "))
	fmt.Fprintf(&b, "  up to %d per launch and %d running; TTL %s by default, at most %s;", p.MaxCount, p.MaxRunning,
		shortDuration(time.Duration(p.DefaultTTL)), shortDuration(time.Duration(p.MaxTTL)))
	if p.OnDemandFallback {
		b.WriteString(" on-demand fallback allowed;")
	}
	fmt.Fprintf(&b, "\n  tasks %s", strings.Join(p.Tasks, ", "))
	return b.String()
}

// shortDuration writes 1h rather than time.Duration's 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

// printSandbox tells a newcomer everything needed to try spotter, as lines
// to paste.
func printSandbox(w io.Writer, sb sandboxBanner) {
	var b strings.Builder
	where := "data in " + sb.dataDir
	if sb.temp {
		where += ", removed on exit"
	}
	fmt.Fprintf(&b, "spotter sandbox at %s (plain HTTP, loopback only; %s)\n", sb.base, where)
	fmt.Fprintf(&b, "AWS emulator (awssim): %s  account %s  (no real AWS is called)\n\n", sb.aws.url, sb.aws.sim.AccountID())
	b.WriteString("Paste into another shell:\n")
	fmt.Fprintf(&b, "  export SPOTTER_SERVER=%s\n", sb.base)
	if sb.admin != "" {
		fmt.Fprintf(&b, "  export SPOTTER_ADMIN_TOKEN=%s\n", sb.admin)
	} else {
		fmt.Fprintf(&b, "  # the admin token is the %s this server was started with\n", EnvAdminToken)
	}
	fmt.Fprintf(&b, "  export URL=%s\n", sb.plain.URL)
	fmt.Fprintf(&b, "  export MFA_URL=%s\n", sb.mfa.URL)
	fmt.Fprintf(&b, "  export MFA_SECRET=%s\n\n", awssim.DefaultMFASecret)
	fmt.Fprintf(&b, "URL is a demo capability URL; its policy:\n  %s\n", policySummary(sb.policy))
	fmt.Fprintf(&b, "MFA_URL has the same policy behind the emulator's AWS MFA device %s (TOTP secret MFA_SECRET).\n\n", sb.aws.sim.DefaultMFASerial())
	fmt.Fprintf(&b, "Open URL in a browser for its capability page (instances, launch, terminate):\n  %s\n", sb.plain.URL)
	fmt.Fprintf(&b, "The operator console (sign in with SPOTTER_ADMIN_TOKEN):\n  %s/ui/\n\n", sb.base)
	b.WriteString("Then:\n")
	b.WriteString("  curl -s -X POST \"$URL\" -d '{\"task\":\"launch\"}'\n")
	b.WriteString("  curl -s -X POST \"$URL\" -d '{\"task\":\"status\"}'\n")
	fmt.Fprintf(&b, "  %s task launch --url \"$URL\" --count 2 --wait\n", sb.self)
	fmt.Fprintf(&b, "  %s task status --url \"$MFA_URL\" --mfa-code \"$(%s totp --secret \"$MFA_SECRET\")\"\n", sb.self, sb.self)
	fmt.Fprintf(&b, "  %s token list\n", sb.self)
	io.WriteString(w, b.String())
}

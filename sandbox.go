package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/policy"
)

// sandboxAWS is the in-process EC2/STS emulator the sandbox launches into.
type sandboxAWS struct {
	sim *awssim.Sim
	url string
	srv *http.Server
}

// startSandboxAWS serves awssim on its own loopback port, so spotter reaches
// it through the real SDK and HTTP, exactly as it reaches AWS.
func startSandboxAWS(log *slog.Logger) (*sandboxAWS, error) {
	sim := awssim.New(awssim.Options{Seed: 1, PendingDelay: 5 * time.Second, Logger: log.With("component", "awssim")})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox emulator: %w", err)
	}
	s := &sandboxAWS{sim: sim, url: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("sandbox emulator stopped", "error", err)
		}
	}()
	return s, nil
}

func (s *sandboxAWS) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// demoPolicy is small on purpose: what a newcomer can try without surprises.
func demoPolicy() *policy.Policy {
	return &policy.Policy{
		Regions:       []string{awssim.DefaultRegion},
		InstanceTypes: []string{"t3.micro", "t3.small", "m5.large"},
		AMIs:          []string{"ami-0123456789abcdef0"},
		MaxCount:      2, MaxRunning: 4,
		DefaultTTL: policy.Duration(time.Hour), MaxTTL: policy.Duration(4 * time.Hour),
		Tasks:            policy.AllTasks(),
		OnDemandFallback: true,
		Tags:             map[string]string{"env": "sandbox"},
	}
}

// createDemoTokens registers the emulator's default credentials twice: once
// plainly, once behind the emulator's default AWS MFA device.
func createDemoTokens(ctx context.Context, reg *capability.Registry, aws *sandboxAWS) (plain, mfa capability.Created, err error) {
	creds := &capability.CredentialsInput{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey}
	plain, err = reg.Create(ctx, capability.CreateInput{Name: "sandbox demo", Credentials: creds, Policy: demoPolicy()})
	if err != nil {
		return plain, mfa, fmt.Errorf("create the demo token: %w", err)
	}
	mfa, err = reg.Create(ctx, capability.CreateInput{Name: "sandbox demo (MFA)", Credentials: creds,
		MFA: &capability.MFAInput{SerialNumber: aws.sim.DefaultMFASerial()}, Policy: demoPolicy()})
	if err != nil {
		return plain, mfa, fmt.Errorf("create the demo MFA token: %w", err)
	}
	return plain, mfa, nil
}

// printSandbox tells a newcomer everything needed to try spotter.
func printSandbox(w io.Writer, base, dataDir, adminToken string, aws *sandboxAWS, plain, mfa capability.Created) {
	fmt.Fprintf(w, `spotter sandbox at %[1]s (plain HTTP, loopback only; data in %[2]s, removed on exit)
AWS emulator (awssim): %[3]s  account %[4]s  (no real AWS is called)

admin token:  %[5]s
  export SPOTTER_ADMIN_TOKEN=%[5]s SPOTTER_SERVER=%[1]s

demo capability URL (t3.micro, t3.small, m5.large; up to 2 per request; TTL 1h):
  %[6]s

launch a spot instance in the sandbox:
  curl -s -X POST %[6]s -H 'Content-Type: application/json' -d '{"task":"launch"}'
see it:
  curl -s -X POST %[6]s -H 'Content-Type: application/json' -d '{"task":"status"}'

demo URL behind AWS MFA (device %[7]s, TOTP secret %[8]s):
  %[9]s
  add "mfaCode":"<6 digits>" to the body; make a code with: oathtool --totp -b %[8]s
`, base, dataDir, aws.url, aws.sim.AccountID(), adminToken, plain.URL, aws.sim.DefaultMFASerial(), awssim.DefaultMFASecret, mfa.URL)
}

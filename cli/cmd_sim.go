package cli

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

	"github.com/spotter-dev/spotter/awssim"
)

// mfaFlags collects repeated --mfa-device ARN=BASE32SECRET values.
type mfaFlags []struct{ serial, secret string }

func (m *mfaFlags) String() string { return fmt.Sprint(len(*m)) }

func (m *mfaFlags) Set(v string) error {
	serial, secret, ok := strings.Cut(v, "=")
	if !ok || serial == "" || secret == "" {
		return fmt.Errorf("want ARN=BASE32SECRET, got %q", v)
	}
	*m = append(*m, struct{ serial, secret string }{serial, secret})
	return nil
}

// runSim is `spotter sim`: awssim alone on a port, like moto_server.
func runSim(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runSimReady(ctx, args, getenv, stdout, stderr, nil)
}

// runSimReady is runSim with ready called once the listener is bound, so
// tests can use --addr 127.0.0.1:0 and learn the port.
func runSimReady(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer, ready func(net.Addr)) error {
	fs := newFlagSet("sim", "sim [flags]",
		"Runs awssim, the EC2/STS emulator, alone (like moto_server): the real AWS Query wire\n"+
			"protocol on a loopback port, for the AWS CLI, the SDKs and spotter serve (AWS_ENDPOINT_URL_EC2/_STS).", stderr)
	addr := fs.String("addr", "127.0.0.1:4566", "listen address (keep it on loopback: the emulator has no authentication)")
	seed := fs.Int64("seed", 1, "seed for prices, capacity, ids and fault schedules")
	pending := fs.Duration("pending-delay", 5*time.Second, "how long instances stay pending (and shutting-down)")
	verbose := fs.Bool("v", false, "log every request on stderr")
	var devices mfaFlags
	fs.Var(&devices, "mfa-device", "register a virtual MFA device as ARN=BASE32SECRET (repeatable)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("sim: unexpected arguments %q", pos)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	sim := awssim.New(awssim.Options{Seed: *seed, PendingDelay: *pending, Logger: log})
	for _, d := range devices {
		if err := sim.RegisterMFA(d.serial, d.secret); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sim: listen on %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	printSimBanner(stdout, ln.Addr().String(), sim, devices)
	if ready != nil {
		ready(ln.Addr())
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("sim: serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("sim: shut down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sim: serve: %w", err)
	}
	log.Info("awssim stopped")
	return nil
}

func printSimBanner(w io.Writer, addr string, sim *awssim.Sim, devices mfaFlags) {
	url := "http://" + addr
	var b strings.Builder
	fmt.Fprintf(&b, "awssim (EC2 + STS emulator) listening on %s\n\n", url)
	fmt.Fprintf(&b, "account id:       %s\n", sim.AccountID())
	fmt.Fprintf(&b, "access key id:    %s\n", awssim.DefaultAccessKeyID)
	fmt.Fprintf(&b, "secret key:       %s\n", awssim.DefaultSecretAccessKey)
	fmt.Fprintf(&b, "MFA device:       %s\n", sim.DefaultMFASerial())
	fmt.Fprintf(&b, "MFA TOTP secret:  %s  (SHA1, 6 digits, 30 s)\n", awssim.DefaultMFASecret)
	for _, d := range devices {
		fmt.Fprintf(&b, "MFA device:       %s (from --mfa-device)\n", d.serial)
	}
	fmt.Fprintf(&b, "regions:          %d commercial regions, every current instance type (aws ec2 describe-regions)\n\n", len(sim.Regions()))
	fmt.Fprintf(&b, "AWS CLI:\n")
	fmt.Fprintf(&b, "  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n", awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey)
	fmt.Fprintf(&b, "  aws --endpoint-url %s ec2 describe-instances --region us-east-1\n", url)
	fmt.Fprintf(&b, "  aws --endpoint-url %s sts get-session-token --region us-east-1 --serial-number %s --token-code <code>\n\n", url, sim.DefaultMFASerial())
	fmt.Fprintf(&b, "Go SDK (aws-sdk-go-v2) and spotter:\n")
	fmt.Fprintf(&b, "  export AWS_ENDPOINT_URL_EC2=%s AWS_ENDPOINT_URL_STS=%s AWS_ENDPOINT_URL_PRICING=%s AWS_REGION=us-east-1\n", url, url, url)
	fmt.Fprintf(&b, "  or ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(%q) })\n\n", url)
	fmt.Fprintf(&b, "control API: GET %s/_sim/{state,pools,clock,events}; POST /_sim/{capacity,faults,latency,interrupt,shutdown,image,mfa,reset,clock,boot,interruptions}\n", url)
	io.WriteString(w, b.String())
}

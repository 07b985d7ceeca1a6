// Command bench measures spotter's launch path end to end on one machine:
// awssim on a loopback port, a real Vault dev server, and the real
// `spotter serve` binary over HTTPS, driven by a closed-loop load of launch
// tasks. It then makes the same Vault and AWS calls without spotter (the
// baseline) at the same concurrency, and prints both with their ratio as a
// Markdown table for the README.
//
// scripts/bench.sh starts Vault (VAULT_ADDR, VAULT_TOKEN) and builds the
// binaries; run by hand:
//
//	eval "$(scripts/vault-dev.sh start)"
//	go run ./scripts/bench -workers 8 -duration 10s -runs 3
//
// `bench chaos` (scripts/bench.sh chaos) runs three spotter replicas on a
// three-node Vault Raft cluster instead and prints what survives chaos:
// retried launches, one TOTP code sent at once, the Vault leader killed.
//
// `go run ./scripts/bench pools [-seed N | -seeds N] [-pick random|recent|oldest]
// [-svg day.svg [-svg-only spotter]]` runs issue 12's pools benchmark instead
// (internal/poolsim, spotter's row through package pool).
//
// Everything listens on 127.0.0.1, every phase is bounded in time, and the
// spotter process is stopped on exit (and killed with the bench, on Linux).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

type options struct {
	workers    int
	duration   time.Duration
	warmup     time.Duration
	runs       int
	perToken   int
	types      []string
	region     string
	spotterBin string
	logLevel   string
	vaultAddr  string
	vaultToken string
	markdown   string
	cpuProfile string
	// spotterProfile, when set, builds spotter with a pprof endpoint on
	// pprofAddr and writes a CPU profile of its first measured run here.
	spotterProfile string
	pprofAddr      string
	keep           bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "chaos" {
		return runChaos(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "pools" {
		return runPools(ctx, args[1:], stdout, stderr)
	}
	o, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	tmp, err := os.MkdirTemp("", "spotter-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(tmp)
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }

	if err := prepareSpotter(ctx, &o, tmp, logf, stderr); err != nil {
		return err
	}

	st, err := startStack(ctx, o, tmp, logf)
	if err != nil {
		return err
	}
	defer st.Close()

	calls, err := calibrate(ctx, st, o, logf)
	if err != nil {
		return err
	}

	var spot, base []result
	for i := range o.runs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		st.resetSim()
		logf("run %d/%d: spotter, %d workers × %s", i+1, o.runs, o.workers, o.duration)
		onStart := func() {}
		if i == 0 {
			onStart = profileHook(ctx, o, logf)
		}
		r, err := runLoad(ctx, o, st.spotterLauncher(o), st.procs(), onStart)
		if err != nil {
			return err
		}
		r.price = st.pricePaid(ctx, o)
		spot = append(spot, r)
		logf("  %s", r.line())

		st.resetSim()
		logf("run %d/%d: baseline, %d workers × %s", i+1, o.runs, o.workers, o.duration)
		r, err = runLoad(ctx, o, st.baselineLauncher(o), st.procs(), func() {})
		if err != nil {
			return err
		}
		base = append(base, r)
		logf("  %s", r.line())
	}
	report(stdout, o, calls, spot, base, args)
	return nil
}

// profileHook is what starts a spotter CPU profile beside the first run, if
// one is asked for.
func profileHook(ctx context.Context, o options, logf func(string, ...any)) func() {
	if o.spotterProfile == "" {
		return func() {}
	}
	return func() {
		go func() {
			if err := profileSpotter(ctx, o.pprofAddr, o.duration, o.spotterProfile); err != nil {
				logf("spotter CPU profile: %v", err)
			} else {
				logf("spotter CPU profile in %s", o.spotterProfile)
			}
		}()
	}
}

// prepareSpotter builds the spotter binary the bench measures into tmp,
// with a pprof endpoint when a spotter profile is asked for, unless -spotter
// names one.
func prepareSpotter(ctx context.Context, o *options, tmp string, logf func(string, ...any), stderr io.Writer) error {
	var err error
	if o.spotterProfile != "" {
		o.spotterBin = filepath.Join(tmp, "spotter-pprof")
		logf("building spotter with a pprof endpoint into %s", o.spotterBin)
		if err := buildProfiledSpotter(ctx, tmp, o.spotterBin, stderr); err != nil {
			return err
		}
		if o.pprofAddr, err = freeLoopbackAddr(); err != nil {
			return err
		}
	}
	if o.spotterBin == "" {
		// go run ./scripts/bench: build the binary we measure, as scripts/bench.sh does.
		o.spotterBin = filepath.Join(tmp, "spotter")
		logf("building spotter into %s", o.spotterBin)
		if err := buildSpotter(ctx, o.spotterBin, stderr); err != nil {
			return err
		}
	}
	return nil
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.workers, "workers", 8, "concurrent clients, each with one request in flight (closed loop)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per run and phase")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each measured run")
	fs.IntVar(&o.runs, "runs", 3, "runs of each phase; the report gives the median and the spread")
	fs.IntVar(&o.perToken, "per-token", 50, "launches per capability token before a fresh token is used (each token's instances are listed on its first launch; after that its count is kept)")
	types := fs.String("types", "t3.micro,t3.small,t3.medium", "instance types the benchmark token allows and launches over (an x86_64 AMI: arm64 types are left out of every launch)")
	fs.StringVar(&o.region, "region", "us-east-1", "awssim region")
	fs.StringVar(&o.spotterBin, "spotter", "", "spotter binary to run (default: go build . into a temporary dir)")
	fs.StringVar(&o.logLevel, "spotter-log-level", "info", "spotter's --log-level (its default is info)")
	fs.StringVar(&o.markdown, "markdown", "", "also write the Markdown table to this file")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (load generator, awssim, baseline)")
	fs.StringVar(&o.spotterProfile, "spotter-cpuprofile", "", "build spotter with a pprof endpoint (go build -overlay; the repository is not changed) and write a CPU profile of its first run here")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary dir (spotter's log and data) for inspection")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.types = strings.Split(*types, ",")
	o.vaultAddr, o.vaultToken = getenv("VAULT_ADDR"), getenv("VAULT_TOKEN")
	switch {
	case o.vaultAddr == "" || o.vaultToken == "":
		return o, errors.New(`VAULT_ADDR and VAULT_TOKEN are not set: run scripts/bench.sh, or eval "$(scripts/vault-dev.sh start)" first`)
	case !strings.HasPrefix(o.vaultAddr, "http://127.0.0.1:"):
		return o, fmt.Errorf("VAULT_ADDR %s is not a loopback dev server; the bench writes mounts and an audit device", o.vaultAddr)
	case o.workers < 1 || o.runs < 1 || o.perToken < 2 || o.duration <= 0 || o.duration > 10*time.Minute:
		return o, errors.New("need -workers ≥ 1, -runs ≥ 1, -per-token ≥ 2 and 0 < -duration ≤ 10m")
	}
	return o, nil
}

func machine() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s, %d CPUs (GOMAXPROCS %d), %s/%s, %s", host, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

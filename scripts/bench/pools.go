package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/internal/poolsim"
	"github.com/spotter-dev/spotter/pool"
)

// poolsOptions are `bench pools`' flags.
type poolsOptions struct {
	pick        poolsim.Pick
	maxCap      int
	idle        time.Duration
	ratio       float64
	svg, svgFor string
	peak        float64 // pushes per hour at peak (0: the default day)
}

// runPools is `bench pools`: issue 12's simulated CI day through spotter's
// pool decision (package pool) and each ancestor's controller against
// awssim in virtual time, as a Markdown table (and optionally an SVG of
// the day). No Vault, no spotter process.
func runPools(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench pools", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o poolsOptions
	seed := fs.Uint64("seed", 1, "trace and awssim seed")
	seeds := fs.Uint64("seeds", 0, "instead of one day's table, summarise seeds 1..N (× floor and p95 per controller)")
	pick := fs.String("pick", string(poolsim.PickRandom), "which idle agent takes the next job: random, recent (most recently idle) or oldest (longest idle)")
	fs.IntVar(&o.maxCap, "max", 200, "max capacity for every controller (instances)")
	fs.StringVar(&o.svg, "svg", "", "write a picture of pending/desired/running over the day here")
	fs.StringVar(&o.svgFor, "svg-only", "", "draw only the controllers whose name contains this (e.g. spotter)")
	fs.DurationVar(&o.idle, "idle", 0, "spotter's idleTimeout (0: the pool default)")
	fs.Float64Var(&o.ratio, "ratio", 0, "spotter's scalingRatio (0: the pool default)")
	fs.Float64Var(&o.peak, "peak", 0, "pushes per hour at peak (0: the default day's 12)")
	deliveries := fs.String("github-deliveries", "", "replay this JSONL of recorded GitHub workflow_job deliveries instead of generating the day")
	record := fs.String("write-deliveries", "", "write the seed's day as GitHub workflow_job deliveries (JSONL) to this file and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch o.pick = poolsim.Pick(*pick); o.pick {
	case poolsim.PickRandom, poolsim.PickRecent, poolsim.PickOldest:
	default:
		return fmt.Errorf("-pick %q: want random, recent or oldest", o.pick)
	}
	if (*record != "") && (*deliveries != "" || *seeds > 0) || (*deliveries != "" && *seeds > 0) {
		return fmt.Errorf("-write-deliveries, -github-deliveries and -seeds: pick one")
	}
	if *record != "" {
		return writeDeliveries(o, *seed, *record, stdout)
	}
	if *seeds > 0 {
		return poolsSeeds(ctx, o, *seeds, stdout)
	}
	var (
		cfg     poolsim.Config
		jobs    []poolsim.Job
		results []poolsim.Result
		err     error
	)
	if *deliveries != "" {
		cfg, jobs, results, err = poolsReplay(ctx, o, *seed, *deliveries, stdout)
	} else {
		cfg, jobs, results, err = poolsDay(ctx, o, *seed)
	}
	if err != nil {
		return err
	}
	rows := make([]poolsim.Row, len(results))
	for i, r := range results {
		rows[i] = r.Summarize()
	}
	fmt.Fprintf(stdout, "Seed %d, pick %s: %v; %s at $%.4f/h spot, %d%%/h interruptions at peak, boots %v–%v.\n\n",
		*seed, cfg.Pick, poolsim.Stats(jobs), cfg.InstanceType, results[0].Price, int(100*cfg.PeakInterruptionRate), cfg.Boot.Min, cfg.Boot.Max)
	poolsim.WriteTable(stdout, rows)
	if o.svg == "" {
		return nil
	}
	var drawn []poolsim.Result
	for _, r := range results {
		if strings.Contains(r.Controller, o.svgFor) {
			drawn = append(drawn, r)
		}
	}
	f, err := os.Create(o.svg)
	if err != nil {
		return err
	}
	if err := poolsim.WriteSVG(f, drawn); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// poolsConfig is one seed's benchmark configuration with the flags applied.
func poolsConfig(o poolsOptions, seed uint64) poolsim.Config {
	cfg := poolsim.DefaultConfig(seed)
	cfg.Pick = o.pick
	if o.peak > 0 {
		cfg.Trace.PeakPushesPerHour = o.peak
	}
	return cfg
}

// poolsDay plays one seed's day through every controller.
func poolsDay(ctx context.Context, o poolsOptions, seed uint64) (poolsim.Config, []poolsim.Job, []poolsim.Result, error) {
	cfg := poolsConfig(o, seed)
	jobs := poolsim.Generate(cfg.Trace)
	results, err := poolsRun(ctx, o, cfg, jobs)
	return cfg, jobs, results, err
}

// poolsRun plays jobs through every controller.
func poolsRun(ctx context.Context, o poolsOptions, cfg poolsim.Config, jobs []poolsim.Job) ([]poolsim.Result, error) {
	sp := poolsim.NewSpotter(o.maxCap)
	if o.idle > 0 {
		sp.Pool.IdleTimeout = pool.Duration(o.idle)
	}
	if o.ratio > 0 {
		sp.Pool.ScalingRatio = o.ratio
	}
	if err := sp.Pool.Validate(); err != nil {
		return nil, fmt.Errorf("-idle, -ratio: %w", err)
	}
	var results []poolsim.Result
	for _, c := range []poolsim.Controller{
		sp,
		poolsim.NewTaskclusterWM(o.maxCap),
		poolsim.NewBuildkiteElastic(o.maxCap, 1),
		poolsim.NewGitHubEphemeral(o.maxCap),
	} {
		r, err := poolsim.Run(ctx, cfg, jobs, c)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

// poolsSeeds prints one line per seed: each controller's × floor (to three
// places: spotter and the ephemeral runners differ by about 1 %) and p95.
func poolsSeeds(ctx context.Context, o poolsOptions, n uint64, w io.Writer) error {
	var names []string
	sums := map[string]float64{}
	for seed := uint64(1); seed <= n; seed++ {
		_, _, results, err := poolsDay(ctx, o, seed)
		if err != nil {
			return err
		}
		if seed == 1 {
			fmt.Fprint(w, "| seed |")
			for _, r := range results {
				names = append(names, r.Controller)
				fmt.Fprintf(w, " %s: × floor, p95 |", r.Controller)
			}
			fmt.Fprintln(w)
			fmt.Fprintln(w, "|---:|"+strings.Repeat("---:|", len(results)))
		}
		fmt.Fprintf(w, "| %d |", seed)
		for _, r := range results {
			row := r.Summarize()
			sums[r.Controller] += row.Dollars / row.Floor
			fmt.Fprintf(w, " %.3f×, %v |", row.Dollars/row.Floor, row.P95.Round(time.Second))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "| mean |")
	for _, name := range names {
		fmt.Fprintf(w, " %.3f× |", sums[name]/float64(n))
	}
	fmt.Fprintln(w)
	return nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/spotter-dev/spotter/internal/poolsim"
	"github.com/spotter-dev/spotter/pool"
)

// runPools is `bench pools`: issue 12's simulated CI day through each
// ancestor's controller against awssim in virtual time, as a Markdown
// table (and optionally an SVG of the day). No Vault, no spotter process.
func runPools(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench pools", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "trace and awssim seed")
	pick := fs.String("pick", string(poolsim.PickRandom), "which idle agent takes the next job: random, recent (most recently idle) or oldest (longest idle)")
	maxCap := fs.Int("max", 200, "max capacity for every controller (instances)")
	svg := fs.String("svg", "", "write a picture of pending/desired/running over the day here")
	idle := fs.Duration("idle", 0, "spotter's idleTimeout (0: the pool default)")
	ratio := fs.Float64("ratio", 0, "spotter's scalingRatio (0: the pool default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch p := poolsim.Pick(*pick); p {
	case poolsim.PickRandom, poolsim.PickRecent, poolsim.PickOldest:
	default:
		return fmt.Errorf("-pick %q: want random, recent or oldest", p)
	}
	cfg := poolsim.DefaultConfig(*seed)
	cfg.Pick = poolsim.Pick(*pick)
	jobs := poolsim.Generate(cfg.Trace)
	sp := poolsim.NewSpotter(*maxCap)
	if *idle > 0 || *ratio > 0 {
		if *idle > 0 {
			sp.Pool.IdleTimeout = pool.Duration(*idle)
		}
		if *ratio > 0 {
			sp.Pool.ScalingRatio = *ratio
		}
		if err := sp.Pool.Validate(); err != nil {
			return fmt.Errorf("-idle, -ratio: %w", err)
		}
	}
	ctrls := []poolsim.Controller{
		sp,
		poolsim.NewTaskclusterWM(*maxCap),
		poolsim.NewBuildkiteElastic(*maxCap, 1),
		poolsim.NewGitHubEphemeral(*maxCap),
	}
	var results []poolsim.Result
	var rows []poolsim.Row
	for _, c := range ctrls {
		r, err := poolsim.Run(ctx, cfg, jobs, c)
		if err != nil {
			return err
		}
		results = append(results, r)
		rows = append(rows, r.Summarize())
	}
	fmt.Fprintf(stdout, "Seed %d, pick %s: %v; %s at $%.4f/h spot, %d%%/h interruptions at peak, boots %v–%v.\n\n",
		*seed, cfg.Pick, poolsim.Stats(jobs), cfg.InstanceType, results[0].Price, int(100*cfg.PeakInterruptionRate), cfg.Boot.Min, cfg.Boot.Max)
	poolsim.WriteTable(stdout, rows)
	if *svg == "" {
		return nil
	}
	f, err := os.Create(*svg)
	if err != nil {
		return err
	}
	if err := poolsim.WriteSVG(f, results); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

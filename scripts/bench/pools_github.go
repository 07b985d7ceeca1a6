package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spotter-dev/spotter/internal/poolsim"
)

// writeDeliveries is `bench pools -write-deliveries FILE`: the seed's day
// as the GitHub workflow_job deliveries a repository webhook would log,
// one JSON object (headers, body) a line.
func writeDeliveries(o poolsOptions, seed uint64, path string, stdout io.Writer) error {
	cfg := poolsConfig(o, seed)
	jobs := poolsim.Generate(cfg.Trace)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := poolsim.Record(f, cfg.Start, jobs); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote seed %d's day (%v) to %s as workflow_job deliveries.\n", seed, poolsim.Stats(jobs), path)
	return nil
}

// poolsReplay is `bench pools -github-deliveries FILE`: the recorded
// deliveries become the day's arrivals for a pool labelled
// poolsim.PoolLabels (other jobs ignored, as spotter ignores them); awssim
// and the interruption profile come from -seed and -peak.
func poolsReplay(ctx context.Context, o poolsOptions, seed uint64, path string, stdout io.Writer) (poolsim.Config, []poolsim.Job, []poolsim.Result, error) {
	cfg := poolsConfig(o, seed)
	f, err := os.Open(path)
	if err != nil {
		return cfg, nil, nil, err
	}
	defer f.Close()
	start, jobs, st, err := poolsim.Replay(f, poolsim.PoolLabels, cfg.Start.Location())
	if err != nil {
		return cfg, nil, nil, fmt.Errorf("-github-deliveries %s: %w", path, err)
	}
	cfg.Start = start
	fmt.Fprintf(stdout, "Replayed %s: %d deliveries (%d redelivered, %d other events); %d jobs for labels %v, %d for other labels ignored, %d never completed.\n",
		path, st.Deliveries, st.Duplicates, st.OtherEvents, len(jobs), poolsim.PoolLabels, st.Foreign, st.Open)
	results, err := poolsRun(ctx, o, cfg, jobs)
	return cfg, jobs, results, err
}

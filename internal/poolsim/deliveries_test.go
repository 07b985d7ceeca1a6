package poolsim

import (
	"bytes"
	"context"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/deliveries.jsonl")

// smallDay is the recorded file's day: seed 1 at one push an hour at
// peak, matrices of up to 3, so the file stays small (about 140 deliveries, 45 jobs).
func smallDay() Config {
	c := DefaultConfig(1)
	c.Trace.PeakPushesPerHour, c.Trace.MaxMatrix = 1, 3
	return c
}

// TestRecordReplayDefaultDay: the benchmark's whole day survives a round
// trip through deliveries exactly (arrivals, run times, pushes, labels),
// with GitHub-hosted jobs and redeliveries dropped.
func TestRecordReplayDefaultDay(t *testing.T) {
	cfg := DefaultConfig(1)
	jobs := Generate(cfg.Trace)
	var buf bytes.Buffer
	if err := Record(&buf, cfg.Start, jobs); err != nil {
		t.Fatal(err)
	}
	start, got, st, err := Replay(&buf, PoolLabels, cfg.Start.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !start.Equal(cfg.Start) {
		t.Errorf("start %v, want %v", start, cfg.Start)
	}
	if !reflect.DeepEqual(got, jobs) {
		t.Fatalf("replayed %d jobs differ from the %d generated", len(got), len(jobs))
	}
	pushes := Stats(jobs).Pushes
	hosted := pushes / 5 // pushes are numbered 1..N; every fifth has one
	want := ReplayStats{Deliveries: 3*(len(jobs)+hosted) + len(jobs)/50, Duplicates: len(jobs) / 50, Foreign: hosted}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}

// TestReplayRecordedFile: the recorded file in testdata is what Record
// writes for smallDay (so it is reproducible), and replaying it gives
// every controller the same figures as running the trace directly.
func TestReplayRecordedFile(t *testing.T) {
	cfg := smallDay()
	jobs := Generate(cfg.Trace)
	var buf bytes.Buffer
	if err := Record(&buf, cfg.Start, jobs); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/deliveries.jsonl", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile("testdata/deliveries.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, buf.Bytes()) {
		t.Fatal("testdata/deliveries.jsonl is not what Record writes for smallDay; go test ./internal/poolsim -run TestReplayRecordedFile -update")
	}
	start, replayed, _, err := Replay(bytes.NewReader(file), PoolLabels, cfg.Start.Location())
	if err != nil {
		t.Fatal(err)
	}
	if len(replayed) < 20 {
		t.Fatalf("only %d jobs replayed: too small a day to compare", len(replayed))
	}
	rcfg := cfg
	rcfg.Start = start
	for _, mk := range []func() Controller{
		func() Controller { return NewSpotter(200) },
		func() Controller { return NewTaskclusterWM(200) },
		func() Controller { return NewBuildkiteElastic(200, 1) },
		func() Controller { return NewGitHubEphemeral(200) },
	} {
		direct, err := Run(context.Background(), cfg, jobs, mk())
		if err != nil {
			t.Fatal(err)
		}
		replay, err := Run(context.Background(), rcfg, replayed, mk())
		if err != nil {
			t.Fatal(err)
		}
		if d, r := direct.Summarize(), replay.Summarize(); d != r {
			t.Errorf("%s:\n direct %+v\n replay %+v", direct.Controller, d, r)
		}
		if direct.Launches == 0 || len(direct.Waits) != len(jobs) {
			t.Errorf("%s: %d launches, %d waits for %d jobs: the day did not run", direct.Controller, direct.Launches, len(direct.Waits), len(jobs))
		}
	}
}

func TestReplayFilters(t *testing.T) {
	start := DefaultConfig(1).Start
	jobs := []Job{
		{ID: 0, Push: 1, Arrive: time.Hour, Run: 5 * time.Minute, Labels: []string{"self-hosted", "linux"}},
		{ID: 1, Push: 2, Arrive: 2 * time.Hour, Run: time.Minute, Labels: []string{"self-hosted", "gpu"}},
		{ID: 2, Push: 3, Arrive: 3 * time.Hour, Run: time.Minute, Labels: []string{"Self-Hosted", "LINUX"}},
	}
	var buf bytes.Buffer
	if err := Record(&buf, start, jobs); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSpace(buf.String()), "\n")
	// The first line is job 0's queued; drop the last, job 2's completed:
	// job 2 never finished in this recording.
	ping := `{"headers":{"X-Github-Event":"ping","X-Github-Delivery":"p-1"},"body":{"zen":"Design for failure."}}` + "\n"
	file := ping + lines[0] + strings.Join(lines[:len(lines)-1], "")
	tests := map[string]struct {
		pool []string
		want []int // trace ids replayed
		st   ReplayStats
	}{
		"pool carries every label": {pool: []string{"self-hosted", "linux", "gpu"}, want: []int{0, 1},
			st: ReplayStats{Deliveries: 10, Duplicates: 1, OtherEvents: 1, Open: 1}},
		"job label missing from pool": {pool: []string{"self-hosted", "linux"}, want: []int{0},
			st: ReplayStats{Deliveries: 10, Duplicates: 1, OtherEvents: 1, Foreign: 1, Open: 1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, got, st, err := Replay(strings.NewReader(file), tc.pool, start.Location())
			if err != nil {
				t.Fatal(err)
			}
			if st != tc.st {
				t.Errorf("stats %+v, want %+v", st, tc.st)
			}
			var ids []int
			for _, j := range got {
				ids = append(ids, int(j.Arrive/time.Hour)-1)
				if want := jobs[int(j.Arrive/time.Hour)-1].Run; j.Run != want {
					t.Errorf("job at %v runs %v, want %v (completed − in_progress)", j.Arrive, j.Run, want)
				}
			}
			if !reflect.DeepEqual(ids, tc.want) {
				t.Errorf("replayed %v, want %v", ids, tc.want)
			}
		})
	}
}

func TestReplayRejects(t *testing.T) {
	tests := map[string]string{
		"not json":    "{\n",
		"no delivery": `{"headers":{"X-GitHub-Event":"workflow_job"},"body":{}}`,
		"bad body":    `{"headers":{"X-GitHub-Event":"workflow_job","X-GitHub-Delivery":"a"},"body":{"workflow_job":{"id":"x"}}}`,
		"no jobs":     `{"headers":{"X-GitHub-Event":"ping","X-GitHub-Delivery":"a"},"body":{}}`,
		"empty":       "",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := Replay(strings.NewReader(in), PoolLabels, time.UTC); err == nil {
				t.Error("replayed")
			}
		})
	}
}

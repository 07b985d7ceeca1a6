package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestPoolsGitHubDeliveries: a day written with -write-deliveries and
// replayed with -github-deliveries prints the same table as the day run
// directly (a small day: one push an hour at peak).
func TestPoolsGitHubDeliveries(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "day.jsonl")
	var out bytes.Buffer
	if err := runPools(ctx, []string{"-peak", "1", "-seed", "2", "-write-deliveries", file}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "as workflow_job deliveries") {
		t.Errorf("write: %q", out.String())
	}
	var direct, replay bytes.Buffer
	if err := runPools(ctx, []string{"-peak", "1", "-seed", "2"}, &direct, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := runPools(ctx, []string{"-peak", "1", "-seed", "2", "-github-deliveries", file}, &replay, io.Discard); err != nil {
		t.Fatal(err)
	}
	head, table, ok := strings.Cut(replay.String(), "\n")
	if !ok || !strings.HasPrefix(head, "Replayed ") || !strings.Contains(head, "0 never completed") {
		t.Errorf("replay header %q", head)
	}
	if table != direct.String() {
		t.Errorf("replay:\n%s\ndirect:\n%s", table, direct.String())
	}
	if !strings.Contains(table, "| spotter |") || !strings.Contains(table, "| github runners (ephemeral) |") {
		t.Errorf("no controller rows:\n%s", table)
	}
}

func TestPoolsGitHubFlags(t *testing.T) {
	tests := map[string][]string{
		"write and replay": {"-write-deliveries", "a", "-github-deliveries", "b"},
		"write and seeds":  {"-write-deliveries", "a", "-seeds", "2"},
		"replay and seeds": {"-github-deliveries", "b", "-seeds", "2"},
		"missing file":     {"-github-deliveries", filepath.Join("testdata", "no-such-file.jsonl")},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			if err := runPools(context.Background(), args, io.Discard, io.Discard); err == nil {
				t.Error("ran")
			}
		})
	}
}

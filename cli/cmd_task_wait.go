package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/client"
)

// --wait: polling a launch until its instances run, with a progress line.

// withProgress runs call while a line on stderr counts the seconds.
func withProgress(ctx context.Context, stderr io.Writer, what string, call func() (client.TaskReply, error)) (client.TaskReply, error) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			progressLine(stderr, fmt.Sprintf("%s… %s", what, time.Since(start).Round(time.Second)))
			select {
			case <-done:
				progressEnd(stderr)
				return
			case <-ctx.Done():
				progressEnd(stderr)
				return
			case <-tick.C:
			}
		}
	}()
	r, err := call()
	close(done)
	<-finished
	return r, err
}

// progressLine rewrites one line on a terminal; elsewhere it prints a line
// per change, so logs stay readable.
func progressLine(w io.Writer, s string) {
	if isTerminal(w) {
		fmt.Fprintf(w, "\r\033[K%s", s)
		return
	}
	fmt.Fprintln(w, s)
}

func progressEnd(w io.Writer) {
	if isTerminal(w) {
		fmt.Fprintln(w)
	}
}

// waitRunning polls status until every launched instance runs, one leaves
// (terminated, stopped…), or timeout passes. It returns the last status
// reply narrowed to the launched instances.
func waitRunning(ctx context.Context, c *client.Client, capab string, secret []byte, region string, launched []api.Instance, timeout time.Duration, stderr io.Writer) (client.TaskReply, error) {
	ids := make([]string, len(launched))
	for i, in := range launched {
		ids[i] = in.ID
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start, last := time.Now(), ""
	for {
		select {
		case <-ctx.Done():
			progressEnd(stderr)
			return client.TaskReply{}, fmt.Errorf("wait: instances not all running after %s; they keep starting: see spotter task status", timeout)
		case <-time.After(pollInterval):
		}
		st, err := c.Task(ctx, capab, api.TaskRequest{Task: api.TaskStatus, Region: region, InstanceIDs: ids}, secret, "")
		if err != nil {
			progressEnd(stderr)
			if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
				return client.TaskReply{}, fmt.Errorf("wait: instances not all running after %s; they keep starting: see spotter task status", timeout)
			}
			return client.TaskReply{}, fmt.Errorf("wait: poll status: %w", err)
		}
		st, err = onlyInstances(st, ids)
		if err != nil {
			progressEnd(stderr)
			return client.TaskReply{}, err
		}
		states := map[string]int{}
		for _, in := range st.Instances {
			states[cmp.Or(in.State, "unknown")]++
		}
		summary := fmt.Sprintf("waiting for %d instance(s): %s", len(ids), stateSummary(states, len(ids)-len(st.Instances)))
		// On a terminal the line is rewritten with the time; in a log, a
		// line is added only when the states change.
		if isTerminal(stderr) || summary != last {
			progressLine(stderr, fmt.Sprintf("%s (%s)", summary, time.Since(start).Round(time.Second)))
			last = summary
		}
		if states["running"] == len(ids) {
			progressEnd(stderr)
			return st, nil
		}
		for s, n := range states {
			if n > 0 && s != "running" && s != "pending" {
				progressEnd(stderr)
				return st, fmt.Errorf("wait: %d instance(s) %s instead of running", n, s)
			}
		}
	}
}

func stateSummary(states map[string]int, missing int) string {
	names := make([]string, 0, len(states))
	for s := range states {
		names = append(names, s)
	}
	sort.Strings(names)
	var parts []string
	for _, s := range names {
		parts = append(parts, fmt.Sprintf("%d %s", states[s], s))
	}
	if missing > 0 {
		parts = append(parts, fmt.Sprintf("%d not yet listed", missing))
	}
	return strings.Join(parts, ", ")
}

// onlyInstances narrows a status reply, typed and raw, to the given ids.
func onlyInstances(r client.TaskReply, ids []string) (client.TaskReply, error) {
	r.Instances = slices.DeleteFunc(r.Instances, func(in api.Instance) bool { return !slices.Contains(ids, in.ID) })
	var m map[string]any
	if err := json.Unmarshal(r.Raw, &m); err != nil {
		return r, fmt.Errorf("decode status reply: %w", err)
	}
	if list, ok := m["instances"].([]any); ok {
		m["instances"] = slices.DeleteFunc(list, func(v any) bool {
			o, _ := v.(map[string]any)
			id, _ := o["id"].(string)
			return !slices.Contains(ids, id)
		})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return r, err
	}
	r.Raw = raw
	return r, nil
}

// withStatusOf updates the instances of a launch reply with what a later
// status reply says of them (state, addresses, TTL left), keeping the rest
// of the launch reply. dropWarnings leaves out the warnings, already shown.
func withStatusOf(launch, status client.TaskReply, dropWarnings bool) (client.TaskReply, error) {
	var m, st map[string]any
	if err := json.Unmarshal(launch.Raw, &m); err != nil {
		return launch, fmt.Errorf("decode launch reply: %w", err)
	}
	if err := json.Unmarshal(status.Raw, &st); err != nil {
		return launch, fmt.Errorf("decode status reply: %w", err)
	}
	now := map[string]map[string]any{}
	if list, ok := st["instances"].([]any); ok {
		for _, v := range list {
			if o, ok := v.(map[string]any); ok {
				id, _ := o["id"].(string)
				now[id] = o
			}
		}
	}
	if list, ok := m["instances"].([]any); ok {
		for _, v := range list {
			o, _ := v.(map[string]any)
			id, _ := o["id"].(string)
			for k, val := range now[id] {
				o[k] = val
			}
		}
	}
	if dropWarnings {
		delete(m, "warnings")
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return launch, err
	}
	launch.Raw = raw
	for i, in := range launch.Instances {
		for _, s := range status.Instances {
			if s.ID == in.ID {
				launch.Instances[i] = s
			}
		}
	}
	return launch, nil
}

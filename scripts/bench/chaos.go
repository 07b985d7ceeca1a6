package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// chaosOptions are the flags of `bench chaos`.
type chaosOptions struct {
	launches   int
	retried    int // percent of launches sent twice
	workers    int
	totp       int
	killLoad   time.Duration
	noKill     bool
	region     string
	spotterBin string
	keep       bool
}

// runChaos is `bench chaos`: three spotter replicas on the Vault Raft
// cluster, one awssim, and the figures the README's Chaos section shows.
func runChaos(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var o chaosOptions
	fs := flag.NewFlagSet("bench chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.launches, "launches", 1000, "launches, each with its own Idempotency-Key, spread over the 3 replicas")
	fs.IntVar(&o.retried, "retried", 30, "percent of launches sent again with the same key (half racing the first on another replica, half after it answered)")
	fs.IntVar(&o.workers, "workers", 16, "requests in flight at once")
	fs.IntVar(&o.totp, "totp", 50, "times one right TOTP code is sent at once over the 3 replicas")
	fs.DurationVar(&o.killLoad, "kill-load", 15*time.Second, "load kept up after the Vault leader is killed")
	fs.BoolVar(&o.noKill, "no-kill", false, "skip killing the Vault leader")
	fs.StringVar(&o.region, "region", "us-east-1", "awssim region")
	fs.StringVar(&o.spotterBin, "spotter", "", "spotter binary to run (default: go build . into a temporary dir)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary dir (the replicas' logs and data)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.launches < 1 || o.launches > 1000 || o.retried < 0 || o.retried > 100 || o.workers < 1 || o.totp < 1 {
		return errors.New("need 1 ≤ -launches ≤ 1000 (one token's maxRunning), 0 ≤ -retried ≤ 100, -workers ≥ 1, -totp ≥ 1")
	}
	vc, err := openCluster(getenv)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "spotter-chaos-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(tmp)
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }
	if o.spotterBin == "" {
		o.spotterBin = filepath.Join(tmp, "spotter")
		logf("building spotter into %s", o.spotterBin)
		if err := buildSpotter(ctx, o.spotterBin, stderr); err != nil {
			return err
		}
	}
	st, err := startChaosStack(ctx, o, vc, tmp, logf)
	if err != nil {
		return err
	}
	defer st.Close()

	fmt.Fprintf(stdout, "Chaos: 3 `spotter serve` replicas, each through its own node of a 3-node Vault Raft cluster (TLS), one awssim; %s.\n\n", machine())
	fmt.Fprintln(stdout, "| Scenario | Figure |")
	fmt.Fprintln(stdout, "|---|---|")
	row := func(k, v string, a ...any) { fmt.Fprintf(stdout, "| %s | %s |\n", k, fmt.Sprintf(v, a...)) }

	logf("%d launches, %d %% retried, %d in flight", o.launches, o.retried, o.workers)
	if err := chaosRetries(ctx, st, o, row); err != nil {
		return err
	}
	logf("one TOTP code sent %d times at once", o.totp)
	if err := chaosTOTP(ctx, st, o, row); err != nil {
		return err
	}
	if !o.noKill {
		logf("killing the Vault leader under load")
		if err := chaosLeaderKill(ctx, st, o, row, logf); err != nil {
			return err
		}
	}
	logf("killing a replica between CreateFleet and its reply")
	if err := chaosReplicaCrash(ctx, st, o, row); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nPrinted by `%s`.\n", strings.TrimSpace("scripts/bench.sh chaos "+strings.Join(userArgs(args), " ")))
	return nil
}

// launchUntil sends a launch with key to replica i until it is answered
// with anything but a 503 or a dropped connection (each try on the next
// replica, as a load balancer would spread them), and returns the
// instance ids of a 200, or the refusal.
func (st *chaosStack) launchUntil(ctx context.Context, tok, key string, i int, onReply func(code int, retryAfter bool)) ([]string, error) {
	body := []byte(`{"task":"launch","idempotencyKey":"` + key + `"}`)
	for try := 0; ; try++ {
		code, hdr, v, err := st.call(ctx, i+try, http.MethodPost, "/v1/tasks", tok, nil, body)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if onReply != nil {
			onReply(code, hdr.Get("Retry-After") != "")
		}
		if err == nil && code == http.StatusOK {
			var ids []string
			list, _ := v["instances"].([]any)
			for _, in := range list {
				m, _ := in.(map[string]any)
				ids = append(ids, fmt.Sprint(m["id"]))
			}
			slices.Sort(ids)
			return ids, nil
		}
		if err == nil && code != http.StatusServiceUnavailable {
			return nil, fmt.Errorf("launch %s = %d %v", key, code, v)
		}
		if try > 300 {
			return nil, fmt.Errorf("launch %s still failing after %d tries: %v %d %v", key, try, err, code, v)
		}
		if err == nil {
			st.resent.Add(1)
			if hdr.Get("Retry-After") == "" {
				st.bare.Add(1)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// instancesOf counts awssim's instances tagged with token id, and how many
// carry no spotter:token tag at all.
func (st *chaosStack) instancesOf(id string) (mine, untagged int) {
	for _, r := range st.sim.State().Regions {
		for _, in := range r.Instances {
			tagged := ""
			for _, tg := range in.Tags {
				if tg.Key == "spotter:token" {
					tagged = tg.Value
				}
			}
			switch tagged {
			case id:
				mine++
			case "":
				untagged++
			}
		}
	}
	return mine, untagged
}

func chaosRetries(ctx context.Context, st *chaosStack, o chaosOptions, row func(string, string, ...any)) error {
	// One token for every launch, at maxRunning 1,000: a retry racing its
	// first launch joins that launch's reservation (one per ClientToken),
	// so even the last place is a replay for it, not a refusal.
	tok, id, _, err := st.token(ctx, o, nil)
	if err != nil {
		return err
	}
	retried := func(i int) bool { return i%100 < o.retried }
	racing := func(i int) bool { return i%2 == 0 }
	first := make([][]string, o.launches)
	again := make([][]string, o.launches)
	errs := make([]error, 2*o.launches)
	sem := make(chan struct{}, o.workers)
	send := func(replica, i int, dst *[]string, e *error) {
		sem <- struct{}{}
		defer func() { <-sem }()
		*dst, *e = st.launchUntil(ctx, tok, "dup-"+strconv.Itoa(i), replica, nil)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.launches {
		wg.Go(func() {
			switch {
			case !retried(i):
				send(i, i, &first[i], &errs[2*i])
			case racing(i):
				var in sync.WaitGroup
				in.Go(func() { send(i, i, &first[i], &errs[2*i]) })
				in.Go(func() { send(i+1, i, &again[i], &errs[2*i+1]) })
				in.Wait()
			default:
				send(i, i, &first[i], &errs[2*i])
				send(i+2, i, &again[i], &errs[2*i+1])
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var retries, same int
	for i := range o.launches {
		if retried(i) {
			retries++
			if slices.Equal(first[i], again[i]) && len(first[i]) == 1 {
				same++
			}
		}
	}
	mine, untagged := st.instancesOf(id)
	row("Retried launches", "%d launches over 3 replicas, %d sent twice with the same Idempotency-Key (half racing on another replica): %d requests in %.1f s",
		o.launches, retries, o.launches+retries, took.Seconds())
	row("→ duplicate instances", "**%d** (%d instances for %d keys; %d untagged)", mine-o.launches, mine, o.launches, untagged)
	row("→ retries answered with the first result", "**%d of %d** (same instance ids)", same, retries)
	return nil
}

func chaosTOTP(ctx context.Context, st *chaosStack, o chaosOptions, row func(string, string, ...any)) error {
	jwt, _, v, err := st.token(ctx, o, map[string]any{"mfa": map[string]any{"totp": true}})
	if err != nil {
		return err
	}
	m, _ := v["totp"].(map[string]any)
	secret, _ := m["secret"].(string)
	code, err := totpNow(secret)
	if err != nil {
		return err
	}
	got := make([]string, o.totp)
	var wg sync.WaitGroup
	for i := range o.totp {
		wg.Go(func() {
			status, _, v, err := st.call(ctx, i, http.MethodPost, "/hooks/"+jwt, "", nil, []byte(`{"task":"status","mfaCode":"`+code+`"}`))
			switch {
			case err != nil:
				got[i] = "transport error"
			case status == http.StatusOK:
				got[i] = "200"
			default:
				got[i] = fmt.Sprintf("%d %v", status, v["error"])
			}
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	var rest []string
	for k, n := range count {
		if k != "200" {
			rest = append(rest, fmt.Sprintf("%d × %s", n, k))
		}
	}
	slices.Sort(rest)
	row("One TOTP code, sent at once over 3 replicas", "%d times: accepted **%d** time(s); refused %s", o.totp, count["200"], strings.Join(rest, ", "))
	return nil
}

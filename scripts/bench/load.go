package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// launcher makes one launch of count 1 with a fresh idempotency key and
// returns how long the launch took and "" or a stable error code. The time
// excludes getting a token (creating one is the admin's business, not the
// launch's).
type launcher struct {
	name   string
	launch func(ctx context.Context, key string) (time.Duration, string)
}

// result is one measured run of one phase.
type result struct {
	name    string
	ok      int
	errs    map[string]int
	elapsed time.Duration
	lat     []time.Duration // sorted, successful launches only
	// perSecond counts launches finished in each second of the run, to show
	// whether the rate holds or decays as instances accumulate.
	perSecond []int
	price     priceResult
	// cpu is the CPU time each process used in the measured window.
	cpu map[string]time.Duration
}

// cpuPerLaunch renders the CPU each process spent per successful launch.
func (r result) cpuPerLaunch() string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(r.cpu)) {
		parts = append(parts, fmt.Sprintf("%s %.2f", name, float64(r.cpu[name])/float64(time.Millisecond)/float64(max(r.ok, 1))))
	}
	return strings.Join(parts, ", ")
}

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(r.lat)-1))
	return r.lat[i]
}

func (r result) errors() string {
	if len(r.errs) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.errs)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, r.errs[k]))
	}
	return strings.Join(parts, ", ")
}

func (r result) line() string {
	first, last := 0, 0
	if n := len(r.perSecond); n > 0 {
		first, last = r.perSecond[0], r.perSecond[n-1]
	}
	return fmt.Sprintf("%d launches in %.1fs = %.0f/s (first second %d, last %d); p50 %s p90 %s p99 %s; errors %s; CPU ms/launch: %s",
		r.ok, r.elapsed.Seconds(), r.rate(), first, last, ms(r.pct(50)), ms(r.pct(90)), ms(r.pct(99)), r.errors(), r.cpuPerLaunch())
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + " ms" }

// runLoad runs o.workers closed loops: each sends a launch, waits for the
// answer, and sends the next. A warm-up (unmeasured) fills connection
// pools and caches first; then only launches started inside the measured
// window count, and the run ends when the last of them has answered.
func runLoad(ctx context.Context, o options, l launcher, ps procs, onStart func()) (result, error) {
	var seq atomic.Int64
	keyPrefix := fmt.Sprintf("bench-%s-%d-", l.name, time.Now().UnixNano())
	loop := func(until time.Time, record func(start time.Time, d time.Duration, code string)) {
		var wg sync.WaitGroup
		for range o.workers {
			wg.Go(func() {
				for ctx.Err() == nil && time.Now().Before(until) {
					key := keyPrefix + strconv.FormatInt(seq.Add(1), 10)
					d, code := l.launch(ctx, key)
					record(time.Now().Add(-d), d, code)
				}
			})
		}
		wg.Wait()
	}
	if o.warmup > 0 {
		loop(time.Now().Add(o.warmup), func(time.Time, time.Duration, string) {})
	}
	var mu sync.Mutex
	r := result{name: l.name, errs: map[string]int{}}
	onStart()
	cpu0 := ps.sample()
	begin := time.Now()
	var end time.Time
	loop(begin.Add(o.duration), func(start time.Time, d time.Duration, code string) {
		mu.Lock()
		defer mu.Unlock()
		if done := start.Add(d); done.After(end) {
			end = done
		}
		if code != "" {
			r.errs[code]++
			return
		}
		r.ok++
		r.lat = append(r.lat, d)
		// Whole seconds of the window only: the stragglers after it would
		// make a last bucket that looks like a collapse.
		if sec := int(start.Add(d).Sub(begin) / time.Second); sec < int(o.duration/time.Second) {
			for len(r.perSecond) <= sec {
				r.perSecond = append(r.perSecond, 0)
			}
			r.perSecond[sec]++
		}
	})
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	r.cpu = map[string]time.Duration{}
	for name, t := range ps.sample() {
		r.cpu[name] = t - cpu0[name]
	}
	r.elapsed = end.Sub(begin)
	slices.Sort(r.lat)
	if r.ok == 0 {
		return r, fmt.Errorf("%s: no launch succeeded (errors %s)", l.name, r.errors())
	}
	return r, nil
}

// spotterLauncher POSTs launch tasks to /v1/tasks, as a webhook caller
// would, each with its own Idempotency-Key. A fresh token pool per run keeps
// runs independent.
func (st *stack) spotterLauncher(o options) launcher {
	pool := newPool(o, "spotter", func(ctx context.Context, name string) (capToken, error) {
		return st.createToken(ctx, o, name)
	})
	body := launchBody(o)
	return launcher{name: "spotter", launch: func(ctx context.Context, key string) (time.Duration, string) {
		tok, err := pool.next(ctx)
		if err != nil {
			return 0, "create_token"
		}
		start := time.Now()
		code := st.postLaunch(ctx, tok, key, body)
		return time.Since(start), code
	}}
}

func newPool[T any](o options, phase string, create func(ctx context.Context, name string) (T, error)) *tokenPool[T] {
	run := time.Now().UnixNano()
	return &tokenPool[T]{per: int64(o.perToken), create: func(ctx context.Context, i int) (T, error) {
		return create(ctx, fmt.Sprintf("bench %s %d-%d", phase, run, i))
	}}
}

func launchBody(o options) []byte {
	b, _ := json.Marshal(map[string]any{"task": "launch", "region": o.region, "instanceTypes": o.types, "count": 1})
	return b
}

func (st *stack) postLaunch(ctx context.Context, tok capToken, key string, body []byte) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.url+"/v1/tasks", bytes.NewReader(body))
	if err != nil {
		return "request"
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := st.client.Do(req)
	if err != nil {
		return "transport"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v struct {
		Error     string `json:"error"`
		Replayed  bool   `json:"replayed"`
		Instances []struct {
			ID string `json:"id"`
		} `json:"instances"`
	}
	_ = json.Unmarshal(b, &v)
	switch {
	case resp.StatusCode != http.StatusOK:
		return cmpOr(v.Error, "http_"+strconv.Itoa(resp.StatusCode))
	case v.Replayed:
		return "unexpected_replay" // every key is fresh; a replay would mean a collision
	case len(v.Instances) != 1:
		return "instances_" + strconv.Itoa(len(v.Instances))
	}
	return ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// calibrate counts the Vault and AWS calls of one launch through spotter
// and through the baseline, cold (a new token's first launch) and hot (the
// same token again at once, record cached), and checks that the baseline
// makes the same calls as spotter.
type calibration struct {
	spotterCold, spotterHot, baseCold, baseHot callCount
}

func calibrate(ctx context.Context, st *stack, o options, logf func(string, ...any)) (calibration, error) {
	var c calibration
	audit, err := enableAudit(st.vault, st.tmp+"/vault-audit.log")
	if err != nil {
		return c, err
	}
	defer audit.disable()
	st.resetSim()

	count := func(launch func() string) (callCount, error) {
		audit.mark()
		st.actions.start()
		code := launch()
		// awssim logs a request after writing its answer, and Vault audits
		// the response after sending it: give the last line time to land.
		time.Sleep(200 * time.Millisecond)
		aws := st.actions.stop()
		v, err := audit.since()
		if err != nil {
			return nil, err
		}
		if code != "" {
			return nil, fmt.Errorf("calibration launch failed: %s", code)
		}
		return merge(aws, v), nil
	}

	tok, err := st.createToken(ctx, o, "bench calibration spotter")
	if err != nil {
		return c, err
	}
	body := launchBody(o)
	if c.spotterCold, err = count(func() string { return st.postLaunch(ctx, tok, "cal-1", body) }); err != nil {
		return c, err
	}
	if c.spotterHot, err = count(func() string { return st.postLaunch(ctx, tok, "cal-2", body) }); err != nil {
		return c, err
	}

	b := st.newBaseline(o)
	btok, err := b.newToken(ctx, o, "bench calibration baseline")
	if err != nil {
		return c, err
	}
	if c.baseCold, err = count(func() string { return b.launch(ctx, btok, "cal-1") }); err != nil {
		return c, err
	}
	if c.baseHot, err = count(func() string { return b.launch(ctx, btok, "cal-2") }); err != nil {
		return c, err
	}
	logf("one launch, cold: spotter %s", c.spotterCold)
	logf("                  baseline %s", c.baseCold)
	logf("one launch, hot:  spotter %s", c.spotterHot)
	logf("                  baseline %s", c.baseHot)
	if c.spotterHot.String() != c.baseHot.String() || c.spotterCold.String() != c.baseCold.String() {
		logf("WARNING: the baseline's calls differ from spotter's; the ratio compares different work")
	}
	return c, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

func totpNow(secret string) (string, error) {
	return totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// reply is one answer the load saw while the leader was killed.
type reply struct {
	at         time.Time
	code       int // 0: the connection failed
	retryAfter bool
}

// chaosLeaderKill keeps launches going over the 3 replicas, SIGKILLs the
// Vault leader, and measures how long launches pause and when they resume;
// every key is retried until it succeeds, so at the end each must have
// exactly one instance.
func chaosLeaderKill(ctx context.Context, st *chaosStack, o chaosOptions, row func(string, string, ...any), logf func(string, ...any)) error {
	tok, id, _, err := st.token(ctx, o, nil)
	if err != nil {
		return err
	}
	var (
		mu      sync.Mutex
		replies []reply
		keys    atomic.Int64
		stop    atomic.Bool
		wg      sync.WaitGroup
		errs    = make([]error, o.workers)
		ids     = map[string][]string{}
	)
	onReply := func(code int, ra bool) {
		mu.Lock()
		replies = append(replies, reply{time.Now(), code, ra})
		mu.Unlock()
	}
	for w := range o.workers {
		wg.Go(func() {
			for !stop.Load() {
				n := keys.Add(1)
				key := "kill-" + strconv.FormatInt(n, 10)
				got, err := st.launchUntil(ctx, tok, key, int(n), onReply)
				if err != nil {
					errs[w] = err
					return
				}
				mu.Lock()
				ids[key] = got
				mu.Unlock()
			}
		})
	}
	time.Sleep(3 * time.Second)
	leader, err := st.vc.leader(ctx, -1, 10*time.Second)
	if err != nil {
		stop.Store(true)
		wg.Wait()
		return err
	}
	killed := time.Now()
	if err := st.vc.kill(leader); err != nil {
		stop.Store(true)
		wg.Wait()
		return fmt.Errorf("kill Vault node %d: %w", leader+1, err)
	}
	restarted := false
	defer func() {
		if !restarted { // an error below: leave the cluster whole anyway
			_ = st.vc.restart(context.Background(), leader)
		}
	}()
	next, err := st.vc.leader(ctx, leader, 30*time.Second)
	elected := time.Now()
	if err != nil {
		stop.Store(true)
		wg.Wait()
		return err
	}
	logf("Vault node %d killed; node %d leads %.1f s later", leader+1, next+1, elected.Sub(killed).Seconds())
	time.Sleep(o.killLoad)
	stop.Store(true)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	logf("restarting Vault node %d", leader+1)
	restarted = true
	if err := st.vc.restart(ctx, leader); err != nil {
		return err
	}

	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(replies, func(a, b reply) int { return a.at.Compare(b.at) })
	f := tallyFailover(replies, killed)
	mine, untagged := st.instancesOf(id)
	row("Vault leader killed (SIGKILL) under load", "%d launches in flight; new leader elected %.1f s after the kill", o.workers, elected.Sub(killed).Seconds())
	if f.first503.IsZero() {
		row("→ pause", "no 503 seen: every launch went through the failover")
	} else {
		row("→ pause", "first 503 `unavailable` %.1f s after the kill; %d × 503 (%d without Retry-After), %d dropped connections", f.first503.Sub(killed).Seconds(), f.unavailable, f.bare, f.dropped)
		row("→ resume", "first launch after the last 503 at %.1f s after the new leader (%.1f s after the kill)", f.resumed.Sub(elected).Seconds(), f.resumed.Sub(killed).Seconds())
	}
	row("→ lost or duplicated launches", "**%d** lost, **%d** duplicated (%d keys, each retried until 200; %d instances; %d untagged)",
		int(keys.Load())-len(ids), mine-len(ids), len(ids), mine, untagged)
	return nil
}

// failover is what the replies after the kill show.
type failover struct {
	first503, last503, resumed time.Time
	unavailable, bare, dropped int // 503s, of them without Retry-After, failed connections
}

// tallyFailover counts the replies (sorted by time) after killed, and finds
// when launches resumed: the first 200 after the last 503.
func tallyFailover(replies []reply, killed time.Time) failover {
	var f failover
	for _, r := range replies {
		if r.at.Before(killed) {
			continue
		}
		switch r.code {
		case http.StatusServiceUnavailable:
			f.unavailable++
			if !r.retryAfter {
				f.bare++
			}
			if f.first503.IsZero() {
				f.first503 = r.at
			}
			f.last503 = r.at
		case 0:
			f.dropped++
		}
	}
	for _, r := range replies {
		if r.code == http.StatusOK && r.at.After(f.last503) && r.at.After(killed) {
			f.resumed = r.at
			break
		}
	}
	return f
}

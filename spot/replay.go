package spot

import (
	"context"
	"fmt"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// replayBeforeLaunch answers a retried launch before anything is created.
// Given the token's live instances (listed for spec.Admit), a retry whose
// instances all still run is answered from them, and a new launch costs no
// lookup: if its ClientToken was used by a launch that has since ended,
// CreateFleet refuses it (IdempotentParameterMismatch) and
// replayAfterMismatch finds that launch. Only a retry of which some
// instances ended asks EC2, so the reply names every instance the first
// launch started. Without a list, EC2 is asked by tag.
func (l *launch) replayBeforeLaunch(ctx context.Context, live []Instance) (LaunchResult, bool, error) {
	spec := l.spec
	if spec.Admit == nil {
		return l.replay(ctx)
	}
	var mine []Instance
	for _, in := range live {
		if in.Tag(TagClientToken) == spec.ClientToken {
			mine = append(mine, in)
		}
	}
	switch {
	case len(mine) == 0:
		return LaunchResult{}, false, nil
	case len(mine) < spec.Count:
		return l.replay(ctx)
	}
	res, err := l.replayed(ctx, mine)
	return res, true, err
}

// replay looks for the instances of an earlier launch with this
// ClientToken. EC2 remembers the token too, but only for identical
// parameters, and a retry carries a new request id and expiry; the tag is
// what makes a retry find its launch, on any replica.
func (l *launch) replay(ctx context.Context) (LaunchResult, bool, error) {
	got, err := describe(ctx, l.api, l.opt,
		filter("tag:"+TagClientToken, l.spec.ClientToken),
		filter("tag:"+TagToken, l.spec.TokenID))
	if err != nil {
		return LaunchResult{}, false, mapErr(err, "EC2 DescribeInstances")
	}
	if len(got) == 0 {
		return LaunchResult{}, false, nil
	}
	res, err := l.replayed(ctx, got)
	return res, true, err
}

// replayed is the reply to a retry: the first launch's instances, priced,
// and with Wait, running.
func (l *launch) replayed(ctx context.Context, got []Instance) (LaunchResult, error) {
	c, spec := l.c, l.spec
	res := LaunchResult{Instances: got, Replayed: true, Template: got[0].Tags[TagTemplate]}
	if res.Template != l.tmpl.name {
		res.Warnings = append(res.Warnings, "this idempotency key was first used with other launch parameters; this is that launch")
	}
	if len(got) < spec.Count {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the original launch started %d of %d", len(got), spec.Count))
	}
	if !priced(res.Instances) {
		od := c.odPrices(ctx, spec.Credentials, spec.Region)
		c.priceInstances(ctx, l.api, l.opt, od, res.Instances)
		res.Warnings = append(res.Warnings, od.warnings()...)
	}
	if spec.Wait {
		if err := c.awaitRunning(ctx, l.api, l.opt, spec, &res); err != nil {
			return res, err
		}
	}
	for _, in := range res.Instances {
		res.HourlyCost += in.Price
	}
	return res, nil
}

// priced says every instance already carries its price (Live priced them
// for a spend cap), so a replay needs no price lookup.
func priced(ins []Instance) bool {
	for _, in := range ins {
		if in.Price <= 0 {
			return false
		}
	}
	return true
}

// replayAfterMismatch handles IdempotentParameterMismatch from CreateFleet:
// a launch with this ClientToken exists (made by another replica an
// instant ago, or earlier with other parameters). Its instances are looked
// up a few times, since DescribeInstances is eventually consistent.
func (l *launch) replayAfterMismatch(ctx context.Context, cause error) (LaunchResult, error) {
	for i := range 3 {
		res, ok, err := l.replay(ctx)
		if err != nil || ok {
			return res, err
		}
		t := time.NewTimer(time.Duration(i+1) * 200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return LaunchResult{}, ctx.Err()
		case <-t.C:
		}
	}
	return LaunchResult{}, apperr.Wrap(cause, apperr.Conflict, "idempotencyKey: EC2 already has a launch of this key (its ClientToken) and none of that launch's instances exist: it started nothing (no capacity, or an error), its instances have ended, or it asked for something else. This key cannot launch again; send a new Idempotency-Key (without one: change the body, e.g. a tag)")
}

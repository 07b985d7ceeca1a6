package poolsim

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func (h *harness) observe(now time.Time) Observation {
	o := Observation{Now: now, Pending: len(h.queue), Queued: h.queued}
	h.queued = nil
	for _, q := range h.queue {
		o.PendingSince = append(o.PendingSince, q.since)
	}
	for _, id := range h.ids() {
		in := h.live[id]
		v := InstanceView{ID: id, Launched: in.launched, Booting: in.booted.IsZero(), Capacity: len(in.slots), JobsDone: in.jobsDone, Warned: in.warned}
		var lastFree time.Time
		for _, s := range in.slots {
			if s.job != nil {
				v.Busy++
			} else if s.freeSince.After(lastFree) {
				lastFree = s.freeSince
			}
		}
		o.Running += v.Busy
		if !v.Booting {
			if v.Busy == 0 {
				v.IdleSince = lastFree
			}
			if !v.Warned {
				o.Idle += v.Capacity - v.Busy
			}
		}
		o.Instances = append(o.Instances, v)
	}
	return o
}

// apply carries out a decision through the SDK: TerminateInstances for the
// idle ones among Terminate (a busy one is left alone), then one
// RunInstances for Launch spot instances.
func (h *harness) apply(ctx context.Context, now time.Time, d Decision) error {
	var ids []string
	for _, id := range d.Terminate {
		in := h.live[id]
		if in == nil || in.booted.IsZero() {
			continue
		}
		busy := false
		for _, s := range in.slots {
			busy = busy || s.job != nil
		}
		if busy {
			continue
		}
		ids = append(ids, id)
		h.end(in, now)
		delete(h.live, id)
	}
	if len(ids) > 0 {
		if _, err := h.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
			return err
		}
	}
	if d.Launch <= 0 {
		return nil
	}
	out, err := h.ec2.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId:      aws.String("ami-0123456789abcdef0"),
		InstanceType: types.InstanceType(h.cfg.InstanceType),
		MinCount:     aws.Int32(1), MaxCount: aws.Int32(int32(d.Launch)),
		Placement:             &types.Placement{AvailabilityZone: aws.String(h.cfg.Zone)},
		InstanceMarketOptions: &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot},
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeInstance,
			Tags:         []types.Tag{{Key: aws.String("spotter:pool"), Value: aws.String("bench")}},
		}},
	})
	if err != nil {
		return err
	}
	for _, i := range out.Instances {
		id := aws.ToString(i.InstanceId)
		h.live[id] = &instance{id: id, launched: now, slots: make([]slot, h.cfg.Capacity)}
		h.res.Launches++
	}
	return nil
}

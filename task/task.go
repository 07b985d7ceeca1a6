package task

import (
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/policy"
	"github.com/spotter-dev/spotter/spot"
)

// Task is a request in spotter's native JSON (api.TaskRequest). Other
// formats (the wt-spotter body, chat commands) are decoded into it.
type Task struct {
	api.TaskRequest
	// Warnings collects what the decoder ignored or changed, for the reply.
	Warnings []string `json:"-"`
}

// Request maps the task onto the policy's view of it.
func (t *Task) Request() (policy.Request, error) {
	r := policy.Request{
		Task: t.Task, Region: t.Region, InstanceTypes: t.InstanceTypes,
		MaxPrice: float64(t.MaxPrice), AMI: t.AMI, KeyName: t.KeyName,
		SecurityGroups: t.SecurityGroups, Subnets: t.Subnets, UserData: t.UserData,
		DryRun: bool(t.DryRun), Tags: t.Tags, InstanceIDs: t.InstanceIDs, All: t.All,
	}
	if t.Count != nil {
		r.Count = *t.Count
	}
	if t.OnDemandFallback != nil {
		b := bool(*t.OnDemandFallback)
		r.OnDemandFallback = &b
	}
	if t.TTL != "" {
		d, err := time.ParseDuration(t.TTL)
		if err != nil {
			return r, apperr.New(apperr.Invalid, "ttl: %q is not a duration such as \"90m\"", t.TTL)
		}
		r.TTL = d
	}
	return r, nil
}

// Validate checks what does not depend on the policy.
func (t *Task) Validate() error {
	switch t.Task {
	case api.TaskLaunch, api.TaskTerminate, api.TaskStatus, api.TaskPrice, api.TaskCancel, api.TaskExtend:
	case "":
		return apperr.New(apperr.Invalid, "task: name one of launch, terminate, status, price, cancel, extend")
	default:
		return apperr.New(apperr.Invalid, "task: %q is not one of launch, terminate, status, price, cancel, extend", t.Task)
	}
	if (t.Task == api.TaskTerminate || t.Task == api.TaskExtend) && !t.All && len(t.InstanceIDs) == 0 {
		return apperr.New(apperr.Invalid, "instanceIds: name the instances to %s, or send \"all\": true", t.Task)
	}
	if t.Task == api.TaskExtend && t.TTL == "" {
		return apperr.New(apperr.Invalid, "ttl: name the new time to live, counted from launch, such as \"2h\"")
	}
	// policy.Request reads a zero count as "not given" (one instance), so
	// an explicit 0 or less is refused here, where it can still be seen.
	if t.Count != nil && *t.Count < 1 {
		return apperr.New(apperr.Invalid, "count: %d is not a number of instances; send 1 up to the token's maxCount, or leave count out for 1", *t.Count)
	}
	if len(t.InstanceIDs) > 100 {
		return apperr.New(apperr.Invalid, "instanceIds: at most 100 per request")
	}
	for _, id := range t.InstanceIDs {
		if !strings.HasPrefix(id, "i-") || len(id) > 32 {
			return apperr.New(apperr.Invalid, "instanceIds: %q is not an instance id like i-0abc123", id)
		}
	}
	if err := t.validatePage(); err != nil {
		return err
	}
	if len(t.Preset) > 32 {
		return apperr.New(apperr.Invalid, "preset: a preset name is at most 32 characters")
	}
	if len(t.IdempotencyKey) > 255 {
		return apperr.New(apperr.Invalid, "idempotencyKey: at most 255 characters")
	}
	if p := float64(t.MaxPrice); !(p >= 0 && p <= policy.MaxPriceCeiling) { // NaN and ±Inf fail too
		return apperr.New(apperr.Invalid, "maxPrice: must be a price above 0 and at most %g dollars per instance-hour", policy.MaxPriceCeiling)
	}
	return nil
}

// validatePage checks status's limit and cursor: EC2's page range, and
// only on a status of the token's whole list.
func (t *Task) validatePage() error {
	if t.Limit == nil && t.Cursor == "" {
		return nil
	}
	if t.Task != api.TaskStatus || len(t.InstanceIDs) > 0 {
		return apperr.New(apperr.Invalid, "limit, cursor: only a status without instanceIds is paged; leave them out")
	}
	if t.Limit != nil && (*t.Limit < spot.StatusMinPage || *t.Limit > spot.StatusMaxPage) {
		return apperr.New(apperr.Invalid, "limit: %d; send %d to %d (default %d)", *t.Limit, spot.StatusMinPage, spot.StatusMaxPage, spot.StatusDefaultPage)
	}
	if len(t.Cursor) > 4096 {
		return apperr.New(apperr.Invalid, "cursor: send back a reply's nextCursor as it came")
	}
	return nil
}

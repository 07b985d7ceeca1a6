package spot

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Retry policy. EC2 launches are idempotent (ClientToken), describes and
// terminates are safe to repeat, so a throttled or failed call is retried
// with the SDK's standard retryer: capped exponential back-off with full
// jitter (retry.ExponentialJitterBackoff, throttles from a 1 s base), up to
// MaxAttempts, and never past the caller's deadline less RetryMargin.
//
// Not the SDK's adaptive mode: its client-side token bucket, like the
// standard retry quota, is one per SDK client, and a client here serves
// every token's AWS account. EC2 throttles per account, so one throttled
// account would slow or fail every other. Hence no shared quota at all
// (ratelimit.None) and the caller's deadline as the real bound.
const (
	defaultMaxAttempts = 10
	defaultMaxBackoff  = 2 * time.Second
	defaultRetryMargin = time.Second
	// throttledRetryAfter is the Retry-After sent with aws_throttled once
	// the retries are spent: EC2's request buckets refill each second, so a
	// few seconds is enough for the account's bucket to have room again.
	throttledRetryAfter = 5 * time.Second
)

// newRetryer is the retryer of every SDK client spot builds.
func (c *Client) newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = c.cfg.MaxAttempts
		o.MaxBackoff = c.cfg.MaxBackoff
		o.RateLimiter = ratelimit.None
	})
}

// untilDeadline wraps one call's retryer so that it gives up, with the last
// AWS error, instead of sleeping into the caller's deadline: a webhook that
// gets aws_throttled with Retry-After can act on it; one that gets a timeout
// learns nothing. It is made fresh per call (see withDeadline) because it
// remembers that call's deadline; the SDK calls it from one goroutine.
type untilDeadline struct {
	aws.RetryerV2
	margin   time.Duration
	now      func() time.Time
	deadline time.Time // of the call's context; zero means none
}

// GetRetryToken runs before every retry's RetryDelay; it is the retryer
// hook that sees the call's context.
func (r *untilDeadline) GetRetryToken(ctx context.Context, opErr error) (func(error) error, error) {
	r.deadline, _ = ctx.Deadline()
	return r.RetryerV2.GetRetryToken(ctx, opErr)
}

// RetryDelay refuses a retry whose back-off would end within margin of the
// deadline. The error wraps opErr, so the call fails with the AWS error
// (throttled, unavailable) and not a timeout.
func (r *untilDeadline) RetryDelay(attempt int, opErr error) (time.Duration, error) {
	d, err := r.RetryerV2.RetryDelay(attempt, opErr)
	if err != nil {
		return d, err
	}
	if !r.deadline.IsZero() && r.now().Add(d+r.margin).After(r.deadline) {
		return 0, &deadlineError{attempt: attempt, err: opErr}
	}
	return d, nil
}

// deadlineError says the retries stopped for the deadline after attempt
// attempts; it unwraps to the last AWS error.
type deadlineError struct {
	attempt int
	err     error
}

func (e *deadlineError) Error() string {
	return fmt.Sprintf("gave up after attempt %d to stay within the request's deadline: %v", e.attempt, e.err)
}

func (e *deadlineError) Unwrap() error { return e.err }

// withDeadline is a per-call option: the call's retries stop before the
// deadline of its context.
func (c *Client) withDeadline(retryer aws.Retryer) aws.Retryer {
	return &untilDeadline{RetryerV2: asV2(retryer), margin: c.cfg.RetryMargin, now: time.Now}
}

// asV2 adapts a retryer without the context-taking attempt hook.
func asV2(r aws.Retryer) aws.RetryerV2 {
	if v2, ok := r.(aws.RetryerV2); ok {
		return v2
	}
	return v1Retryer{r}
}

type v1Retryer struct{ aws.Retryer }

func (r v1Retryer) GetAttemptToken(context.Context) (func(error) error, error) {
	return r.GetInitialToken(), nil
}

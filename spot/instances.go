package spot

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

// The tags spotter puts on what it launches (api declares them).
const (
	TagToken       = api.TagToken
	TagRequest     = api.TagRequest
	TagExpiresAt   = api.TagExpiresAt
	TagTemplate    = api.TagTemplate
	TagClientToken = api.TagClientToken
	TagReplaces    = api.TagReplaces
	TagGuardTTL    = api.TagGuardTTL
	tagPrefix      = "spotter:"
)

// Instance is one EC2 instance as spotter reports it; spot fills it from
// EC2's answers.
type Instance = api.Instance

// ClientToken derives the EC2 ClientToken of a launch from the capability
// token id and the request's idempotency key (or, without one, a digest of
// the signed request). It is deterministic, so a redelivered webhook or the
// same request on another replica gets the same token and EC2 launches
// once; it is 55 ASCII characters, under EC2's 64.
func ClientToken(tokenID, key string) string {
	sum := sha256.Sum256([]byte(tokenID + "\x00" + key))
	return "sp-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))
}

var instanceIDRE = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)

// liveStates are the states of an instance that is, or may soon be, billed.
var liveStates = []string{"pending", "running", "stopping", "stopped"}

func isLive(state string) bool {
	for _, s := range liveStates {
		if s == state {
			return true
		}
	}
	return false
}

// fromEC2 converts an SDK instance.
func fromEC2(in types.Instance) Instance {
	out := Instance{
		ID:        aws.ToString(in.InstanceId),
		Type:      string(in.InstanceType),
		Lifecycle: "on-demand",
		PrivateIP: aws.ToString(in.PrivateIpAddress),
		PublicIP:  aws.ToString(in.PublicIpAddress),
		Tags:      make(map[string]string, len(in.Tags)),
		AMI:       aws.ToString(in.ImageId),
	}
	if in.InstanceLifecycle == types.InstanceLifecycleTypeSpot {
		out.Lifecycle = "spot"
	}
	if in.Placement != nil {
		out.AZ = aws.ToString(in.Placement.AvailabilityZone)
	}
	if in.State != nil {
		out.State = string(in.State.Name)
	}
	if in.LaunchTime != nil {
		out.LaunchTime = in.LaunchTime.UTC()
	}
	for _, t := range in.Tags {
		out.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	if t, err := time.Parse(time.RFC3339, out.Tags[TagExpiresAt]); err == nil {
		out.ExpiresAt = t.UTC()
	}
	if r := aws.ToString(in.StateTransitionReason); strings.HasSuffix(r, " GMT)") {
		// "User initiated (2026-05-01 12:00:00 GMT)"
		if i := strings.LastIndexByte(r, '('); i >= 0 {
			if t, err := time.Parse("2006-01-02 15:04:05 MST", r[i+1:len(r)-1]); err == nil {
				out.EndedAt = t.UTC()
			}
		}
	}
	if in.StateReason != nil {
		out.StateReason = aws.ToString(in.StateReason.Message)
		out.Interrupted = isInterruption(aws.ToString(in.StateReason.Code), out.StateReason)
	}
	return out
}

// isInterruption reports whether a state reason is a spot interruption:
// EC2 uses the code Server.SpotInstanceTermination (and, for stopped spot
// instances, Server.SpotInstanceShutdown).
func isInterruption(code, msg string) bool {
	return strings.HasPrefix(code, "Server.SpotInstance") ||
		strings.Contains(strings.ToLower(msg), "spot instance termination") ||
		strings.Contains(strings.ToLower(msg), "interrupt")
}

// describe lists instances matching filters, following pages.
func describe(ctx context.Context, api ec2API, opt func(*ec2.Options), filters ...types.Filter) ([]Instance, error) {
	var out []Instance
	err := describePages(ctx, api, opt, func(page []Instance) error {
		out = append(out, page...)
		return nil
	}, filters...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// describeOnePage reads one DescribeInstances page of page.Limit from
// page.Cursor, which is EC2's NextToken: the token's filter is spotter's,
// so a cursor cannot reach past the token's own instances.
func describeOnePage(ctx context.Context, api ec2API, opt func(*ec2.Options), page StatusPage, filters []types.Filter) ([]Instance, string, error) {
	in := &ec2.DescribeInstancesInput{Filters: filters, MaxResults: aws.Int32(int32(page.Limit))}
	if page.Cursor != "" {
		in.NextToken = aws.String(page.Cursor)
	}
	out, err := api.DescribeInstances(ctx, in, opt)
	if awsCode(err) == "InvalidNextToken" {
		return nil, "", apperr.Wrap(err, apperr.Invalid, "cursor: not a nextCursor of a status reply (or too old); start again without one")
	}
	if err != nil {
		return nil, "", err
	}
	var ins []Instance
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			ins = append(ins, fromEC2(i))
		}
	}
	return ins, aws.ToString(out.NextToken), nil
}

// describePages hands fn the instances matching filters a page (up to
// 1,000) at a time, so a caller that keeps only what it needs of each page
// never holds them all.
func describePages(ctx context.Context, api ec2API, opt func(*ec2.Options), fn func(page []Instance) error, filters ...types.Filter) error {
	p := ec2.NewDescribeInstancesPaginator(api, &ec2.DescribeInstancesInput{Filters: filters, MaxResults: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, opt)
		if err != nil {
			return err
		}
		var ins []Instance
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				ins = append(ins, fromEC2(in))
			}
		}
		if err := fn(ins); err != nil {
			return err
		}
	}
	return nil
}

// describeIDs lists the given instances, by filter rather than InstanceIds:
// an id EC2 does not know (yet, or any more) is then simply absent instead
// of failing the whole call.
func describeIDs(ctx context.Context, api ec2API, opt func(*ec2.Options), ids []string) ([]Instance, error) {
	var out []Instance
	for chunk := range chunks(ids, 200) { // EC2 takes at most 200 values per filter
		got, err := describe(ctx, api, opt, filter("instance-id", chunk...))
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

// chunks yields s in pieces of at most n.
func chunks(s []string, n int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// ec2Tags turns a map into SDK tags, keys sorted for stable requests.
func ec2Tags(m map[string]string) []types.Tag {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]types.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

package spot

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/apperr"
)

// Reasons an extension is refused for one instance.
const (
	RefusedNotLive  = "not running"
	RefusedGuard    = "its own TTL guard powers it off sooner"
	RefusedTTLGone  = "that TTL has already passed"
	RefusedNoExpiry = "it has no readable expiry"
)

// Extended is one instance's expiry after an extend.
type Extended struct {
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expiresAt"`
	// Was is the expiry before; equal to ExpiresAt when the instance
	// already lived that long (an extend never shortens).
	Was time.Time `json:"was"`
}

// ExtendResult is what an extend did.
type ExtendResult struct {
	Extended []Extended  `json:"extended"`
	Refused  []RefusedID `json:"refused,omitempty"`
}

// Extend sets the TTL of the token's given instances (or, with all, its
// live ones) to ttl from their launch, moving spotter:expires-at, which
// the reaper reads. The caller has checked ttl against the policy's
// maxTTL. An extension never goes past the instance's own guard
// (spotter:guard-until, set at launch; an instance without it has its
// guard at its expiry) and never shortens a TTL; each instance it cannot
// extend is refused by name. Only instances tagged spotter:token=<tokenID>
// are touched. Extend is idempotent: the same ttl again changes nothing.
func (c *Client) Extend(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string, ids []string, all bool, ttl time.Duration) (ExtendResult, error) {
	region, api, err := c.ec2For(region)
	if err != nil {
		return ExtendResult{}, err
	}
	if !all && len(ids) == 0 {
		return ExtendResult{}, apperr.New(apperr.Invalid, "instanceIds: name the instances to extend, or set all")
	}
	if ttl <= 0 {
		return ExtendResult{}, apperr.New(apperr.Invalid, "ttl: the new time to live, counted from launch, such as \"2h\"")
	}
	opt := c.ec2Opts(creds)
	res := ExtendResult{Extended: []Extended{}}
	var found []Instance
	if all {
		found, err = describe(ctx, api, opt, filter("tag:"+TagToken, tokenID), filter("instance-state-name", "pending", "running"))
		if err != nil {
			return res, mapErr(err, "EC2 DescribeInstances in "+region)
		}
	} else {
		var valid []string
		for _, id := range dedupe(ids) {
			if instanceIDRE.MatchString(id) {
				valid = append(valid, id)
			} else {
				res.Refused = append(res.Refused, RefusedID{ID: truncate(id, 40), Reason: RefusedMalformed})
			}
		}
		if len(valid) > 0 {
			got, err := describeIDs(ctx, api, opt, valid)
			if err != nil {
				return res, mapErr(err, "EC2 DescribeInstances in "+region)
			}
			byID := map[string]Instance{}
			for _, in := range got {
				byID[in.ID] = in
			}
			for _, id := range valid {
				in, ok := byID[id]
				switch {
				case !ok:
					res.Refused = append(res.Refused, RefusedID{ID: id, Reason: RefusedNotFound})
				case in.Tags[TagToken] != tokenID:
					res.Refused = append(res.Refused, RefusedID{ID: id, Reason: RefusedForeign})
				default:
					found = append(found, in)
				}
			}
		}
	}
	now := c.now().UTC()
	for _, in := range found {
		until, reason := extension(in, ttl, now)
		if reason != "" {
			res.Refused = append(res.Refused, RefusedID{ID: in.ID, Reason: reason})
			continue
		}
		if !until.Equal(in.ExpiresAt) {
			_, err := api.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{in.ID},
				Tags: []types.Tag{{Key: aws.String(TagExpiresAt), Value: aws.String(until.Format(time.RFC3339))}}}, opt)
			if err != nil {
				return res, mapErr(err, "EC2 CreateTags in "+region)
			}
		}
		res.Extended = append(res.Extended, Extended{ID: in.ID, ExpiresAt: until, Was: in.ExpiresAt})
	}
	c.log.InfoContext(ctx, "extended", "token", tokenID, "region", region, "ttl", ttl, "extended", len(res.Extended), "refused", len(res.Refused))
	return res, nil
}

// extension is the expiry an instance gets with ttl, or why it gets none.
// A ttl that is not later than the instance's expiry changes nothing.
func extension(in Instance, ttl time.Duration, now time.Time) (time.Time, string) {
	if in.State != "pending" && in.State != "running" {
		return time.Time{}, RefusedNotLive
	}
	if in.ExpiresAt.IsZero() || in.LaunchTime.IsZero() {
		return time.Time{}, RefusedNoExpiry
	}
	until := in.LaunchTime.Add(ttl).Truncate(time.Second)
	if !until.After(now) {
		return time.Time{}, RefusedTTLGone
	}
	if !until.After(in.ExpiresAt) {
		return in.ExpiresAt, ""
	}
	guard, err := time.ParseDuration(in.Tags[TagGuardTTL])
	if err != nil {
		// Launched without a longer guard (or a replacement): it powers
		// itself off at its expiry.
		return time.Time{}, RefusedGuard + " (at its TTL: its token's policy did not allow extend when it launched)"
	}
	if ttl > guard {
		return time.Time{}, RefusedGuard + " (" + shortDuration(guard) + " after boot)"
	}
	return until, ""
}

// shortDuration writes 4h rather than 4h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

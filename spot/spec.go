package spot

import (
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

var (
	typeRE   = regexp.MustCompile(`^[a-z0-9-]+\.[a-z0-9-]+$`)
	subnetRE = regexp.MustCompile(`^subnet-[0-9a-f]{1,17}$`)
	azRE     = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}[a-z](-[a-z0-9-]+)?$`)
	amiRE    = regexp.MustCompile(`^ami-[0-9a-f]{1,17}$`)
)

// validate checks what EC2 would otherwise reject mid-launch, naming the
// field a caller can fix. Programming errors (no credentials, no client
// token) are plain errors: they are spotter's bug, not the caller's.
// guardTTL is how long after boot the instance's own guard powers it
// off: GuardTTL when longer than the TTL, else the TTL.
func (s LaunchSpec) guardTTL() time.Duration { return max(s.TTL, s.GuardTTL) }

func (s LaunchSpec) validate() error {
	for _, check := range []func() error{s.validateCaller, s.validateShape, s.validateNames, s.validateTags} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateCaller checks what spotter itself fills in.
func (s LaunchSpec) validateCaller() error {
	switch {
	case s.Credentials == nil:
		return errors.New("spot: LaunchSpec.Credentials is nil")
	case s.TokenID == "":
		return errors.New("spot: LaunchSpec.TokenID is empty")
	case s.ClientToken == "" || len(s.ClientToken) > 64 || !printableASCII(s.ClientToken):
		return errors.New("spot: LaunchSpec.ClientToken must be 1-64 printable ASCII characters; use ClientToken()")
	}
	return nil
}

// validateShape checks the required fields and the numbers.
func (s LaunchSpec) validateShape() error {
	switch {
	case len(s.InstanceTypes) == 0:
		return apperr.New(apperr.Invalid, "instanceTypes: name at least one instance type")
	case s.Count < 1:
		return apperr.New(apperr.Invalid, "count: must be at least 1")
	case s.AMI == "":
		return apperr.New(apperr.Invalid, "ami: required (an ami-… id)")
	case !amiRE.MatchString(s.AMI):
		return apperr.New(apperr.Invalid, "ami: %q is not an AMI id (ami-…)", s.AMI)
	case s.TTL <= 0:
		return apperr.New(apperr.Invalid, "ttl: must be positive; every instance has a time to live")
	case s.MaxPrice < 0 || s.MaxTotalPrice < 0:
		return apperr.New(apperr.Invalid, "maxPrice: must not be negative")
	case len(s.Subnets) > 0 && len(s.AvailabilityZones) > 0:
		return apperr.New(apperr.Invalid, "subnets: give subnets or availability zones, not both")
	}
	return nil
}

// validateNames checks the form of each type, subnet, zone and group.
func (s LaunchSpec) validateNames() error {
	for _, t := range s.InstanceTypes {
		if !typeRE.MatchString(t) {
			return apperr.New(apperr.Invalid, "instanceTypes: %q is not an instance type name", t)
		}
	}
	for _, n := range s.Subnets {
		if !subnetRE.MatchString(n) {
			return apperr.New(apperr.Invalid, "subnets: %q is not a subnet id", n)
		}
	}
	for _, z := range s.AvailabilityZones {
		if !azRE.MatchString(z) {
			return apperr.New(apperr.Invalid, "availabilityZones: %q is not a zone name", z)
		}
	}
	for _, g := range s.SecurityGroups {
		if strings.TrimSpace(g) == "" || len(g) > 255 {
			return apperr.New(apperr.Invalid, "securityGroups: empty or over-long group")
		}
	}
	return nil
}

// validateTags checks the caller's tags: few enough, none in spotter's or
// AWS's namespace, within EC2's lengths.
func (s LaunchSpec) validateTags() error {
	if len(s.Tags) > 40 { // EC2 allows 50 per resource; spotter uses up to 6
		return apperr.New(apperr.Invalid, "tags: at most 40")
	}
	for k, v := range s.Tags {
		lk := strings.ToLower(k)
		switch {
		case strings.HasPrefix(lk, tagPrefix), strings.HasPrefix(lk, "aws:"):
			return apperr.New(apperr.Invalid, "tags: %q uses a reserved prefix (spotter: or aws:)", k)
		case k == "" || len(k) > 128 || len(v) > 256:
			return apperr.New(apperr.Invalid, "tags: keys must be 1-128 characters and values at most 256")
		}
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

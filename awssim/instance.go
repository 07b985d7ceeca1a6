package awssim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

type stateReason struct{ Code, Message string }

// instance is one emulated EC2 instance. Its state is not stored but derived
// from the clock and the times at which things happened to it, so no
// background goroutine is needed to move it along.
type instance struct {
	seq           int // launch order within the region, for pagination
	id            string
	reservationID string
	imageID       string
	itype         string
	az            string
	subnetID      string
	keyName       string
	clientToken   string
	userData      string
	groups        []string
	iamProfile    string
	launchTime    time.Time
	tags          []tag

	lifecycle            string // "spot" or "" for on-demand
	spotRequestID        string
	spotPrice            float64 // hourly price when launched
	interruptionBehavior string
	shutdownBehavior     string // "stop" or "terminate"
	fleetID              string

	terminatedAt time.Time
	stoppedAt    time.Time
	bootDelay    time.Duration // pending → running, drawn at launch
	// A spot instance's interruption: the hazard it has left to spend from
	// hazardFrom at hazardRate (per hour) before its rebalance
	// recommendation; riskGen invalidates what was scheduled from it.
	hazard      float64
	hazardFrom  time.Time
	hazardRate  float64
	riskGen     uint32
	rebalanceAt time.Time // rebalance recommendation given
	noticeAt    time.Time // interruption notice given
	interruptAt time.Time // when the interruption notice runs out
	reason      stateReason
	purged      bool // forgotten after retention, still in region.order

	privateIP, publicIP string
}

func (in *instance) spot() bool { return in.lifecycle == "spot" }

// transitionReason is EC2's stateTransitionReason: who stopped or ended the
// instance, and when ("User initiated (2026-11-30 12:00:00 GMT)"), the only
// place EC2 gives the time an instance ended.
func (in *instance) transitionReason() string {
	at := in.terminatedAt
	if at.IsZero() {
		at = in.stoppedAt
	}
	if at.IsZero() || in.reason.Code == "" {
		return ""
	}
	who := "User"
	if strings.HasPrefix(in.reason.Code, "Server.") {
		who = "Service"
	}
	return who + " initiated (" + at.UTC().Format("2006-01-02 15:04:05") + " GMT)"
}

// state derives the lifecycle state from the clock at read time: pending
// for the instance's own boot delay, shutting-down and stopping for delay.
func (in *instance) state(now time.Time, delay time.Duration) string {
	switch {
	case !in.terminatedAt.IsZero():
		if now.Before(in.terminatedAt.Add(delay)) {
			return stateShuttingDown
		}
		return stateTerminated
	case !in.stoppedAt.IsZero():
		if now.Before(in.stoppedAt.Add(delay)) {
			return stateStopping
		}
		return stateStopped
	case now.Before(in.launchTime.Add(in.bootDelay)):
		return statePending
	}
	return stateRunning
}

func (r *region) privateDNS(ip string) string {
	name := "ip-" + strings.ReplaceAll(ip, ".", "-")
	if r.name == "us-east-1" {
		return name + ".ec2.internal"
	}
	return name + "." + r.name + ".compute.internal"
}

func (r *region) publicDNS(ip string) string {
	name := "ec2-" + strings.ReplaceAll(ip, ".", "-")
	if r.name == "us-east-1" {
		return name + ".compute-1.amazonaws.com"
	}
	return name + "." + r.name + ".compute.amazonaws.com"
}

// writeInstance writes one Instance item with the members the SDK and
// botocore read (ec2 deserializers.go, botocore's Instance shape).
func (r *region) writeInstance(x *xmlWriter, in *instance, now time.Time) {
	st := in.state(now, r.sim.opts.PendingDelay)
	x.open("item")
	x.leaf("instanceId", in.id)
	x.leaf("imageId", in.imageID)
	x.open("instanceState")
	x.int("code", stateCodes[st])
	x.leaf("name", st)
	x.close("instanceState")
	live := st == statePending || st == stateRunning
	if live {
		x.leaf("privateDnsName", r.privateDNS(in.privateIP))
	} else {
		x.leaf("privateDnsName", "")
	}
	if st == stateRunning {
		x.leaf("dnsName", r.publicDNS(in.publicIP))
	} else {
		x.leaf("dnsName", "")
	}
	if r := in.transitionReason(); r != "" {
		x.leaf("reason", r)
	}
	x.opt("keyName", in.keyName)
	x.int("amiLaunchIndex", 0)
	x.leaf("instanceType", in.itype)
	x.time("launchTime", in.launchTime)
	x.open("placement")
	x.leaf("availabilityZone", in.az)
	x.leaf("groupName", "")
	x.leaf("tenancy", "default")
	x.close("placement")
	x.open("monitoring")
	x.leaf("state", "disabled")
	x.close("monitoring")
	if st != stateTerminated {
		x.leaf("subnetId", in.subnetID)
		x.leaf("vpcId", r.vpcID)
		x.leaf("privateIpAddress", in.privateIP)
	}
	if st == stateRunning {
		x.leaf("ipAddress", in.publicIP)
	}
	x.bool("sourceDestCheck", true)
	x.open("groupSet")
	for _, g := range in.groups {
		x.open("item")
		x.leaf("groupId", g)
		x.leaf("groupName", g)
		x.close("item")
	}
	x.close("groupSet")
	if in.reason.Code != "" {
		x.open("stateReason")
		x.leaf("code", in.reason.Code)
		x.leaf("message", in.reason.Message)
		x.close("stateReason")
	}
	x.leaf("architecture", r.sim.catalog.types[in.itype].Arch[0])
	x.leaf("rootDeviceType", "ebs")
	x.leaf("rootDeviceName", "/dev/xvda")
	x.opt("instanceLifecycle", in.lifecycle)
	x.opt("spotInstanceRequestId", in.spotRequestID)
	x.opt("clientToken", in.clientToken)
	if len(in.tags) > 0 {
		x.tags("tagSet", in.tags)
	}
	if in.iamProfile != "" {
		x.open("iamInstanceProfile")
		x.leaf("arn", in.iamProfile)
		x.close("iamInstanceProfile")
	}
	x.leaf("virtualizationType", "hvm")
	x.leaf("hypervisor", "xen")
	x.bool("ebsOptimized", false)
	x.close("item")
}

// filterValues returns an instance's values for a DescribeInstances filter
// name, or ok=false for a filter this emulator does not know.
func (r *region) filterValues(in *instance, name string, now time.Time) (vals []string, ok bool) {
	one := func(v string) ([]string, bool) { return []string{v}, true }
	if k, isTag := strings.CutPrefix(name, "tag:"); isTag {
		for _, t := range in.tags {
			if t.Key == k {
				return one(t.Value)
			}
		}
		return nil, true
	}
	switch name {
	case "instance-id":
		return one(in.id)
	case "instance-state-name":
		return one(in.state(now, r.sim.opts.PendingDelay))
	case "instance-state-code":
		return one(strconv.Itoa(stateCodes[in.state(now, r.sim.opts.PendingDelay)]))
	case "instance-type":
		return one(in.itype)
	case "instance-lifecycle":
		return one(in.lifecycle)
	case "availability-zone", "placement.availability-zone":
		return one(in.az)
	case "image-id":
		return one(in.imageID)
	case "key-name":
		return one(in.keyName)
	case "reservation-id":
		return one(in.reservationID)
	case "subnet-id":
		return one(in.subnetID)
	case "vpc-id":
		return one(r.vpcID)
	case "client-token":
		return one(in.clientToken)
	case "spot-instance-request-id":
		return one(in.spotRequestID)
	case "private-ip-address":
		return one(in.privateIP)
	case "ip-address":
		return one(in.publicIP)
	case "tag-key":
		for _, t := range in.tags {
			vals = append(vals, t.Key)
		}
		return vals, true
	case "tag-value":
		for _, t := range in.tags {
			vals = append(vals, t.Value)
		}
		return vals, true
	case "instance.group-id", "group-id":
		return in.groups, true
	}
	return nil, false
}

// filter is one Filter.N: a name and the values any of which may match.
type filter struct {
	name   string
	values []string
}

func parseFilters(q query) ([]filter, *apiError) {
	var fs []filter
	for _, f := range q.structs("Filter") {
		name := f.str("Name")
		if name == "" {
			return nil, errMissing("Filter.Name")
		}
		fs = append(fs, filter{name: name, values: f.list("Value")})
	}
	return fs, nil
}

// matches reports whether any of have matches any of the filter's values,
// with EC2's * and ? wildcards.
func (f filter) matches(have []string) bool {
	for _, h := range have {
		for _, want := range f.values {
			if glob(want, h) {
				return true
			}
		}
	}
	return false
}

func errUnknownFilter(name string) *apiError {
	return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("The filter '%s' is invalid", name)}
}

// glob matches EC2 filter wildcards: * any run, ? one character, \ escapes.
func glob(pattern, s string) bool {
	if !strings.ContainsAny(pattern, `*?\`) {
		return pattern == s
	}
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if glob(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		case '\\':
			if len(pattern) > 1 {
				pattern = pattern[1:]
			}
			fallthrough
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		}
	}
	return s == ""
}

// validID checks the EC2 id shape: prefix, dash, 8 or 17 lowercase hex digits.
func validID(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"-")
	if !ok || (len(rest) != 8 && len(rest) != 17) {
		return false
	}
	for _, c := range rest {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

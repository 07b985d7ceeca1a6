package awssim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxUserData is EC2's limit on user data before base64 encoding.
const maxUserData = 16 * 1024

// launchSpec is what an instance is launched from: RunInstances parameters,
// launch template data and RequestSpotInstances' LaunchSpecification share
// these member names, so one reader serves all three.
type launchSpec struct {
	ImageID              string           `json:"imageId,omitempty"`
	InstanceType         string           `json:"instanceType,omitempty"`
	KeyName              string           `json:"keyName,omitempty"`
	SubnetID             string           `json:"subnetId,omitempty"`
	AvailabilityZone     string           `json:"availabilityZone,omitempty"`
	UserData             string           `json:"-"`
	IAMProfile           iamProfile       `json:"iamInstanceProfile,omitzero"`
	ShutdownBehavior     string           `json:"instanceInitiatedShutdownBehavior,omitempty"`
	GroupIDs             []string         `json:"securityGroupIds,omitempty"`
	GroupNames           []string         `json:"securityGroups,omitempty"`
	MarketType           string           `json:"marketType,omitempty"`
	SpotType             string           `json:"spotInstanceType,omitempty"`
	InterruptionBehavior string           `json:"instanceInterruptionBehavior,omitempty"`
	MaxPrice             float64          `json:"maxPrice,omitempty"`
	Metadata             metadataOptions  `json:"metadataOptions,omitzero"`
	Tags                 map[string][]tag `json:"tagSpecifications,omitempty"`
	// TagTypes are Tags' resource types in the order given, which the map
	// loses and DescribeLaunchTemplateVersions gives back.
	TagTypes []string `json:"-"`
}

// iamProfile keeps the ARN and the name apart, though a launch uses
// whichever is set, so that a template reads back as it was written.
type iamProfile struct {
	Arn  string `json:"arn,omitempty"`
	Name string `json:"name,omitempty"`
}

func (p iamProfile) ref() string {
	if p.Arn != "" {
		return p.Arn
	}
	return p.Name
}

// metadataOptions are only kept to be read back from a template: no
// instance here serves metadata, so none of them changes a launch.
type metadataOptions struct {
	HTTPTokens           string `json:"httpTokens,omitempty"`
	HTTPEndpoint         string `json:"httpEndpoint,omitempty"`
	HTTPProtocolIPv6     string `json:"httpProtocolIpv6,omitempty"`
	HopLimit             int    `json:"httpPutResponseHopLimit,omitempty"`
	InstanceMetadataTags string `json:"instanceMetadataTags,omitempty"`
}

// groups is what an instance shows in its groupSet: ids and names alike,
// in a slice of its own so that no instance shares a template's.
func (s launchSpec) groups() []string { return slices.Concat(s.GroupIDs, s.GroupNames) }

// readSpec reads launch members from q (already narrowed to the right
// prefix), validating each value it finds.
func readSpec(q query) (launchSpec, *apiError) {
	s := launchSpec{
		ImageID:              q.str("ImageId"),
		InstanceType:         q.str("InstanceType"),
		KeyName:              q.str("KeyName"),
		SubnetID:             q.str("SubnetId"),
		AvailabilityZone:     q.str("Placement.AvailabilityZone"),
		UserData:             q.str("UserData"),
		ShutdownBehavior:     q.str("InstanceInitiatedShutdownBehavior"),
		MarketType:           q.str("InstanceMarketOptions.MarketType"),
		SpotType:             q.str("InstanceMarketOptions.SpotOptions.SpotInstanceType"),
		InterruptionBehavior: q.str("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior"),
		IAMProfile:           iamProfile{Arn: q.str("IamInstanceProfile.Arn"), Name: q.str("IamInstanceProfile.Name")},
		GroupIDs:             q.list("SecurityGroupId"),
		GroupNames:           q.list("SecurityGroup"),
		Metadata: metadataOptions{
			HTTPTokens:           q.str("MetadataOptions.HttpTokens"),
			HTTPEndpoint:         q.str("MetadataOptions.HttpEndpoint"),
			HTTPProtocolIPv6:     q.str("MetadataOptions.HttpProtocolIpv6"),
			InstanceMetadataTags: q.str("MetadataOptions.InstanceMetadataTags"),
		},
	}
	mp, _, err := q.float("InstanceMarketOptions.SpotOptions.MaxPrice")
	if err != nil {
		return s, err
	}
	s.MaxPrice = mp
	hops, ok, err := q.integer("MetadataOptions.HttpPutResponseHopLimit")
	if err != nil {
		return s, err
	}
	if ok && (hops < 1 || hops > 64) {
		return s, errInvalidParameterValue("MetadataOptions.HttpPutResponseHopLimit", strconv.Itoa(hops))
	}
	s.Metadata.HopLimit = hops
	if s.Tags, err = tagSpecs(q, "TagSpecification"); err != nil {
		return s, err
	}
	for _, spec := range q.structs("TagSpecification") {
		if rt := spec.str("ResourceType"); !contains(s.TagTypes, rt) {
			s.TagTypes = append(s.TagTypes, rt)
		}
	}
	if s.UserData != "" {
		raw, e := base64.StdEncoding.DecodeString(s.UserData)
		if e != nil {
			return s, &apiError{Code: "InvalidParameterValue", Message: "Invalid BASE64 encoding of user data."}
		}
		if len(raw) > maxUserData {
			return s, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("User data is limited to %d bytes", maxUserData)}
		}
	}
	if s.ImageID != "" && !wellFormedAMI(s.ImageID) {
		return s, errMalformedAMI(s.ImageID)
	}
	for name, v := range map[string]struct {
		got     string
		allowed []string
	}{
		"InstanceInitiatedShutdownBehavior":                              {s.ShutdownBehavior, []string{"stop", "terminate"}},
		"InstanceMarketOptions.MarketType":                               {s.MarketType, []string{"spot", "capacity-block"}},
		"InstanceMarketOptions.SpotOptions.SpotInstanceType":             {s.SpotType, []string{"one-time", "persistent"}},
		"InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior": {s.InterruptionBehavior, []string{"hibernate", "stop", "terminate"}},
		"MetadataOptions.HttpTokens":                                     {s.Metadata.HTTPTokens, []string{"optional", "required"}},
		"MetadataOptions.HttpEndpoint":                                   {s.Metadata.HTTPEndpoint, []string{"enabled", "disabled"}},
		"MetadataOptions.HttpProtocolIpv6":                               {s.Metadata.HTTPProtocolIPv6, []string{"enabled", "disabled"}},
		"MetadataOptions.InstanceMetadataTags":                           {s.Metadata.InstanceMetadataTags, []string{"enabled", "disabled"}},
	} {
		if v.got != "" && !contains(v.allowed, v.got) {
			return s, errInvalidParameterValue(name, v.got)
		}
	}
	return s, nil
}

// merge lays the explicitly given members of over on top of s, the way
// RunInstances parameters override the launch template's.
func (s launchSpec) merge(over launchSpec) launchSpec {
	pick := func(a *string, b string) {
		if b != "" {
			*a = b
		}
	}
	pick(&s.ImageID, over.ImageID)
	pick(&s.InstanceType, over.InstanceType)
	pick(&s.KeyName, over.KeyName)
	pick(&s.SubnetID, over.SubnetID)
	pick(&s.AvailabilityZone, over.AvailabilityZone)
	pick(&s.UserData, over.UserData)
	pick(&s.ShutdownBehavior, over.ShutdownBehavior)
	pick(&s.MarketType, over.MarketType)
	pick(&s.SpotType, over.SpotType)
	pick(&s.InterruptionBehavior, over.InterruptionBehavior)
	pick(&s.Metadata.HTTPTokens, over.Metadata.HTTPTokens)
	pick(&s.Metadata.HTTPEndpoint, over.Metadata.HTTPEndpoint)
	pick(&s.Metadata.HTTPProtocolIPv6, over.Metadata.HTTPProtocolIPv6)
	pick(&s.Metadata.InstanceMetadataTags, over.Metadata.InstanceMetadataTags)
	if over.Metadata.HopLimit > 0 {
		s.Metadata.HopLimit = over.Metadata.HopLimit
	}
	if over.IAMProfile != (iamProfile{}) {
		s.IAMProfile = over.IAMProfile
	}
	if over.MaxPrice > 0 {
		s.MaxPrice = over.MaxPrice
	}
	// Groups given by id or by name replace the template's whole list.
	if len(over.GroupIDs)+len(over.GroupNames) > 0 {
		s.GroupIDs, s.GroupNames = over.GroupIDs, over.GroupNames
	}
	if len(over.Tags) > 0 {
		tags := map[string][]tag{}
		for k, v := range s.Tags {
			tags[k] = v
		}
		for k, v := range over.Tags {
			tags[k] = v
		}
		s.Tags = tags
		s.TagTypes = slices.Clone(s.TagTypes)
		for _, rt := range over.TagTypes {
			if !contains(s.TagTypes, rt) {
				s.TagTypes = append(s.TagTypes, rt)
			}
		}
	}
	return s
}

// resolve checks the members against the region and fills the zone implied
// by the subnet. It does not require an image, for templates may omit one.
func (r *region) resolve(s *launchSpec) *apiError {
	if s.InstanceType != "" {
		if _, ok := r.sim.catalog.types[s.InstanceType]; !ok {
			return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Invalid value '%s' for InstanceType.", s.InstanceType)}
		}
	}
	if s.AvailabilityZone != "" {
		if _, ok := r.zone(s.AvailabilityZone); !ok {
			return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Invalid availability zone: [%s]", s.AvailabilityZone)}
		}
	}
	if s.SubnetID != "" {
		az, ok := r.subnetZone[s.SubnetID]
		if !ok {
			return &apiError{Code: "InvalidSubnetID.NotFound", Message: fmt.Sprintf("The subnet ID '%s' does not exist", s.SubnetID)}
		}
		if s.AvailabilityZone != "" && s.AvailabilityZone != az {
			return &apiError{Code: "InvalidParameterCombination", Message: fmt.Sprintf("The subnet %s is in %s, not %s.", s.SubnetID, az, s.AvailabilityZone)}
		}
		s.AvailabilityZone = az
	}
	if s.MarketType == "spot" && s.SpotType != "persistent" && (s.InterruptionBehavior == "stop" || s.InterruptionBehavior == "hibernate") {
		return &apiError{Code: "InvalidParameterCombination", Message: "Interruption behavior stop or hibernate requires a persistent Spot request."}
	}
	return nil
}

// spotPriceCheck returns the hourly price a spot launch in az would pay, or
// SpotMaxPriceTooLow. Without a max price the cap is the on-demand price, as
// on AWS.
func (r *region) spotPriceCheck(itype, az string, maxPrice float64, now time.Time) (float64, *apiError) {
	p := r.sim.spotPrice(r.name, az, itype, now)
	limit := maxPrice
	if limit == 0 {
		od, _ := r.sim.catalog.price(r.name, itype)
		limit = od.OnDemand
	}
	if p > limit {
		return p, &apiError{Code: "SpotMaxPriceTooLow", Message: fmt.Sprintf("Your Spot request price of %s is lower than the minimum required Spot request fulfillment price of %s.", formatPrice(limit), formatPrice(p))}
	}
	return p, nil
}

func errInsufficientCapacity(itype, az string, others []string) *apiError {
	msg := fmt.Sprintf("We currently do not have sufficient %s capacity in the Availability Zone you requested (%s). Our system will be working on provisioning additional capacity.", itype, az)
	if len(others) > 0 {
		msg += fmt.Sprintf(" You can currently get %s capacity by not specifying an Availability Zone in your request or choosing %s.", itype, strings.Join(others, ", "))
	}
	// A server error, as the EC2 error reference lists it; the SDK retries it.
	return &apiError{Code: "InsufficientInstanceCapacity", Message: msg, Status: http.StatusInternalServerError}
}

// launchOpts are the per-call facts a launch records on each instance.
type launchOpts struct {
	az            string
	count         int
	reservationID string
	clientToken   string
	spotRequestID string
	fleetID       string
	spotPrice     float64
	extraTags     []tag
}

// launch creates instances from a resolved spec. The caller holds r.mu and
// has checked capacity and price.
func (r *region) launch(s launchSpec, o launchOpts, now time.Time) []*instance {
	spot := s.MarketType == "spot"
	r.pool(o.az, s.InstanceType).take(spot, o.count)
	zoneIdx := 0
	for i, z := range r.zones {
		if z.Name == o.az {
			zoneIdx = i
		}
	}
	out := make([]*instance, 0, o.count)
	for range o.count {
		n := r.sim.nextID()
		in := &instance{
			id:               fmt.Sprintf("i-0%016x", n),
			reservationID:    o.reservationID,
			imageID:          s.ImageID,
			itype:            s.InstanceType,
			az:               o.az,
			subnetID:         r.zoneSubnet[o.az],
			keyName:          s.KeyName,
			clientToken:      o.clientToken,
			userData:         s.UserData,
			groups:           s.groups(),
			iamProfile:       s.IAMProfile.ref(),
			launchTime:       now,
			shutdownBehavior: s.ShutdownBehavior,
			fleetID:          o.fleetID,
			spotRequestID:    o.spotRequestID,
			privateIP:        fmt.Sprintf("172.31.%d.%d", zoneIdx*16+int(n>>8%16), 4+int(n%250)),
			publicIP:         fmt.Sprintf("3.%d.%d.%d", 80+int(n>>16%100), int(n>>24%256), 1+int(n>>32%254)),
		}
		r.lastSeq++
		in.seq = r.lastSeq
		if in.shutdownBehavior == "" {
			in.shutdownBehavior = "stop"
		}
		in.bootDelay = r.boot.draw(r.sim.unit("boot1", in.id), r.sim.unit("boot2", in.id))
		r.booted(in, now)
		if spot {
			in.lifecycle = "spot"
			in.spotPrice = o.spotPrice
			in.interruptionBehavior = s.InterruptionBehavior
			if in.interruptionBehavior == "" {
				in.interruptionBehavior = "terminate"
			}
			r.armRisk(in, now)
		}
		in.tags = append(in.tags, s.Tags["instance"]...)
		for _, t := range o.extraTags {
			in.tags = setTag(in.tags, t.Key, t.Value)
		}
		r.instances[in.id] = in
		r.byTag.add(in)
		r.order = append(r.order, in)
		out = append(out, in)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

package awssim

import (
	"strconv"
)

// describeLaunchTemplateVersions reads a template's data back. A template
// has one version, so however many of "$Latest", "$Default" and "1" are
// asked for, it is listed once, as EC2 lists each version once.
func (s *Sim) describeLaunchTemplateVersions(c *call, x *xmlWriter) *apiError {
	q, r := c.q, c.region
	id, name := q.str("LaunchTemplateId"), q.str("LaunchTemplateName")
	if id == "" && name == "" {
		// EC2 would list the $Latest or $Default version of every
		// template; spotter always names its template, so that is left out.
		return errMissing("LaunchTemplateId or LaunchTemplateName")
	}
	filters, err := parseFilters(q)
	if err != nil {
		return err
	}
	for _, f := range filters {
		if _, ok := versionFilterValues(nil, f.name); !ok {
			return errUnknownFilter(f.name)
		}
	}
	minV, hasMin, err := q.integer("MinVersion")
	if err != nil {
		return err
	}
	maxV, hasMax, err := q.integer("MaxVersion")
	if err != nil {
		return err
	}
	// One page holds every answer, so MaxResults and NextToken change
	// nothing; a malformed MaxResults is still refused.
	if _, _, err := q.integer("MaxResults"); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t, _, err := r.findTemplate(id, name, "", false)
	if err != nil {
		return err
	}
	for _, v := range q.list("LaunchTemplateVersion") {
		if err := t.checkVersion(v); err != nil {
			return err
		}
	}
	if q.boolean("DryRun") {
		return errDryRun()
	}
	show := (!hasMin || minV <= 1) && (!hasMax || maxV >= 1)
	for _, f := range filters {
		vals, _ := versionFilterValues(t, f.name)
		show = show && f.matches(vals)
	}
	x.open("launchTemplateVersionSet")
	if show {
		writeTemplateVersion(x, t)
	}
	x.close("launchTemplateVersionSet")
	return nil
}

// versionFilterValues returns a version's values for one of EC2's filter
// names, or ok=false for a name EC2 does not know; t may be nil to ask only
// that. Members awssim never stores have no values, so filtering on them
// matches nothing, as EC2 does for a template that leaves them unset.
func versionFilterValues(t *launchTemplate, name string) (vals []string, ok bool) {
	if t == nil {
		t = &launchTemplate{}
	}
	d := &t.data
	some := func(vs ...string) []string {
		for _, v := range vs {
			if v != "" {
				vals = append(vals, v)
			}
		}
		return vals
	}
	switch name {
	case "create-time":
		return some(isoTime(t.CreateTime)), true
	case "is-default-version":
		return some("true"), true
	case "image-id":
		return some(d.ImageID), true
	case "instance-type":
		return some(d.InstanceType), true
	case "iam-instance-profile":
		return some(d.IAMProfile.Arn, d.IAMProfile.Name), true
	case "http-endpoint":
		return some(d.Metadata.HTTPEndpoint), true
	case "http-tokens":
		return some(d.Metadata.HTTPTokens), true
	case "ebs-optimized", "http-protocol-ipv4", "host-resource-group-arn", "kernel-id",
		"license-configuration-arn", "network-card-index", "ram-disk-id":
		return nil, true
	}
	return nil, false
}

func writeTemplateVersion(x *xmlWriter, t *launchTemplate) {
	x.open("item")
	x.leaf("launchTemplateId", t.ID)
	x.leaf("launchTemplateName", t.Name)
	x.int("versionNumber", 1)
	x.opt("versionDescription", t.Description)
	x.time("createTime", t.CreateTime)
	x.leaf("createdBy", t.CreatedBy)
	x.bool("defaultVersion", true)
	writeLaunchData(x, &t.data)
	x.close("item")
}

// writeLaunchData writes a template's data as EC2's ResponseLaunchTemplateData,
// only the members given at creation, as EC2 does.
func writeLaunchData(x *xmlWriter, d *launchSpec) {
	x.open("launchTemplateData")
	if p := d.IAMProfile; p != (iamProfile{}) {
		x.open("iamInstanceProfile")
		x.opt("arn", p.Arn)
		x.opt("name", p.Name)
		x.close("iamInstanceProfile")
	}
	x.opt("imageId", d.ImageID)
	x.opt("instanceInitiatedShutdownBehavior", d.ShutdownBehavior)
	writeMarketOptions(x, d)
	x.opt("instanceType", d.InstanceType)
	x.opt("keyName", d.KeyName)
	if m := d.Metadata; m != (metadataOptions{}) {
		x.open("metadataOptions")
		x.opt("httpTokens", m.HTTPTokens)
		if m.HopLimit > 0 {
			x.int("httpPutResponseHopLimit", m.HopLimit)
		}
		x.opt("httpEndpoint", m.HTTPEndpoint)
		x.opt("httpProtocolIpv6", m.HTTPProtocolIPv6)
		x.opt("instanceMetadataTags", m.InstanceMetadataTags)
		x.close("metadataOptions")
	}
	if d.AvailabilityZone != "" {
		x.open("placement")
		x.leaf("availabilityZone", d.AvailabilityZone)
		x.close("placement")
	}
	writeItems(x, "securityGroupIdSet", d.GroupIDs)
	writeItems(x, "securityGroupSet", d.GroupNames)
	if len(d.TagTypes) > 0 {
		x.open("tagSpecificationSet")
		for _, rt := range d.TagTypes {
			x.open("item")
			x.leaf("resourceType", rt)
			x.tags("tagSet", d.Tags[rt])
			x.close("item")
		}
		x.close("tagSpecificationSet")
	}
	x.opt("userData", d.UserData)
	x.close("launchTemplateData")
}

func writeMarketOptions(x *xmlWriter, d *launchSpec) {
	spot := d.SpotType != "" || d.InterruptionBehavior != "" || d.MaxPrice > 0
	if d.MarketType == "" && !spot {
		return
	}
	x.open("instanceMarketOptions")
	x.opt("marketType", d.MarketType)
	if spot {
		x.open("spotOptions")
		if d.MaxPrice > 0 {
			// The shortest form gives back "0.05" as it was sent, where
			// formatPrice's six decimals would not.
			x.leaf("maxPrice", strconv.FormatFloat(d.MaxPrice, 'f', -1, 64))
		}
		x.opt("spotInstanceType", d.SpotType)
		x.opt("instanceInterruptionBehavior", d.InterruptionBehavior)
		x.close("spotOptions")
	}
	x.close("instanceMarketOptions")
}

func writeItems(x *xmlWriter, name string, vals []string) {
	if len(vals) == 0 {
		return
	}
	x.open(name)
	for _, v := range vals {
		x.leaf("item", v)
	}
	x.close(name)
}
